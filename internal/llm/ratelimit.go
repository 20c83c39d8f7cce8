package llm

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarjama/tarjama/jobs"
)

// Client-side rate limiting.
//
// Every HTTP attempt (first tries, retries and fall-back re-sends alike)
// first takes its estimated tokens from a tokens bucket, then one request
// from a requests bucket, waiting as long as each asks. The buckets
// (tokenBucket) have the semantics of golang.org/x/time/rate's Limiter used
// through ReserveN: a reservation is taken at once, may drive the level
// below zero, and is told how long to wait until the refill has paid for it,
// so that callers are served in order; unlike rate.Limiter they also take
// tokens back (refund), and a reservation larger than the burst is not
// refused. (The module does not require golang.org/x/time, and what is
// needed here is small.)
//
// A bucket's limit is, per minute:
//
//   - Config.RPM or Config.TPM when set (explicit);
//   - otherwise (adaptive) the lowest of: HeaderSafety times the last
//     x-ratelimit-limit-* header (per minute, as OpenAI means it); the AIMD
//     limit after 429s (below); and, until the reset, the pace that spends
//     the remaining quota (x-ratelimit-remaining-*) evenly over the time to
//     its reset (x-ratelimit-reset-*), when that is slower: with OpenAI's
//     continuously refilled bucket that happens when less than about half
//     of it is left, i.e. when someone else uses the same key. With none of
//     these the bucket lets everything through: the concurrency is the
//     only bound.
//
// A limit that changes applies to the reservations made after it; a wait
// already granted is not shortened when a limit rises.
//
// Bursts. OpenAI enforces its per-minute limits continuously, and a burst of
// a minute's quota can trip them, so bursts are small and the refill rate is
// lowered by the burst, so that no minute ever holds more than the limit:
//
//   - requests: a burst of 1 (or 100 ms' worth above 600 RPM, so that fast
//     limits don't depend on timer precision) and a rate of (RPM-(burst-1))/60
//     per second. At most RPM requests start in any 60 s (half-open) window;
//     with a burst of 1 that is exactly RPM/60 per second, so a saturated run
//     reaches the limit.
//   - tokens: a burst of one second's worth (TPM/60) and a rate of
//     (TPM-burst)/60 per second, so burst + 60 s of refill = TPM: at most TPM
//     tokens in any minute, for requests up to the burst, at a 1/60 cost in
//     throughput. A request larger than the burst neither deadlocks nor is
//     under-charged: it drives the level below zero and waits until its
//     whole cost has accrued. The long-run rate stays within TPM; a minute
//     that starts with such a request may hold up to its size minus the
//     burst more, which a continuously refilled server-side bucket (OpenAI's,
//     fakeopenai's) does not hold against us. No request is charged more than
//     one minute's quota: a larger one cannot be sent within the limit at
//     all, and the server decides.
//
// Cost. A request is charged EstimatePrompt(req) + MaxTokens tokens, or twice
// the prompt estimate when MaxTokens is 0 (a translation is about as long as
// its source). After a reply, the charge is settled against what the server
// counts: usage.prompt_tokens plus max(MaxTokens, usage.completion_tokens).
// OpenAI and Azure charge max_tokens against TPM when the request arrives,
// whatever the completion's length, and never give it back, so only the
// completion of a request sent without MaxTokens is settled against its real
// length; refunding max_tokens' unused headroom would send faster than the
// server counts. An over-charge is refunded: the level goes up (never past
// the burst), so the next reservation waits less; reservations already
// queued keep their time. An under-charge is reserved at once, without
// waiting, so that later requests wait for it. An attempt that never reached
// the network gives its whole charge back; one that failed after reaching it
// keeps it (OpenAI counts unsuccessful requests against the limits).
//
// Pauses. A 429 or 503 whose Retry-After (or retry-after-ms) asks for a
// delay pauses every attempt that has not been let through yet until then:
// a server asking to wait means everyone waits. The request that got the
// reply already waits that long in the retry layer and is not held again.
//
// AIMD. A 429 rate-limit reply (not insufficient_quota, nor the flex tier's
// lack of capacity, nor a request too large for any minute) halves the
// adaptive limit of the kind it names (requests or tokens, by its error type
// or message; both when it names neither), starting from the lower of the
// limit in force and the rate actually sent over the last minute (so that
// an unlimited bucket gets a limit) -- unless its own x-ratelimit-remaining
// headers explain it (no request, or fewer tokens than the request's
// estimate, left: a startup burst, or another client on the same key),
// when the remaining/reset pace slows down instead. A 429 without the
// headers, or with headers that show quota left (a limit the headers do not
// describe, such as Groq's requests per minute beside its per-day header),
// cuts. Replies to requests sent before the last cut were in flight when it
// was made and do not cut again; nor do the 429s that come after a cut
// before any request sent since has succeeded (up to cutHold): the rate
// before the cut spent the server's quota, which the lower rate has not
// been able to show yet that it leaves alone. Every aimdRun successes afterwards add
// aimdIncrease of the rate before the cut, up to the header limit, where
// AIMD ends. Explicit limits are never cut; Retry-After pauses them.

// Clock is the time source of a Client's rate limiter and, when
// Config.Sleep is nil, of its waits between retries.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done and then returns ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

type systemClock struct{}

func (systemClock) Now() time.Time                                   { return time.Now() }
func (systemClock) Sleep(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, d) }

// HeaderSafety scales the limits learned from the x-ratelimit-* headers.
const HeaderSafety = 0.95

const (
	aimdDecrease = 0.5  // a 429 without headers multiplies the limit by this
	aimdIncrease = 0.05 // of the rate before the cut, added after each run
	aimdRun      = 20   // successes per additive increase
	// cutHold is how long 429s do not cut again after a cut while no
	// request sent since has succeeded: about the window a provider's
	// quota refills over.
	cutHold = time.Minute

	// The adaptive limits never go below these (per minute).
	minAdaptiveRPM = 1
	minAdaptiveTPM = 1000

	// maxPace bounds how long a pace from the remaining/reset headers lasts.
	maxPace = time.Minute
)

// The kinds of limit, as in the x-ratelimit-*-<kind> headers.
const (
	kindRequests = "requests"
	kindTokens   = "tokens"
)

// RateStats describes the client-side rate limiting so far.
type RateStats struct {
	// Waits is the number of HTTP attempts that waited for the limiter (a
	// bucket or a server's pause); Waited is the time they waited in all.
	Waits  int64
	Waited time.Duration
	// RateLimited is the number of 429 rate-limit replies (not exhausted
	// quota or a flex tier without capacity).
	RateLimited int64
	// Pauses is the number of Retry-After delays that paused every request;
	// Decreases the number of AIMD cuts.
	Pauses    int64
	Decreases int64
	// RPM and TPM are the limits in force now, per minute; 0 means
	// unlimited.
	RPM, TPM float64
	// HeaderRPM and HeaderTPM are the x-ratelimit-limit-requests and
	// x-ratelimit-limit-tokens last seen; 0 when none was.
	HeaderRPM, HeaderTPM int
}

// RateStats returns the rate limiter's counters and the limits in force.
func (c *Client) RateStats() RateStats { return c.rl.stats() }

// defaultEstimatePrompt is the prompt estimate when Config.EstimatePrompt is
// nil: the bytes of the messages' content divided by 4, plus one (what
// fakeopenai charges; an overestimate for Arabic, which takes two bytes a
// letter).
func defaultEstimatePrompt(req jobs.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content)
	}
	return n/4 + 1
}

// reservation returns the tokens charged for req before it is sent.
func (c *Client) reservation(req jobs.Request) int {
	prompt := max(c.estimatePrompt(req), 0)
	if req.MaxTokens > 0 {
		return prompt + req.MaxTokens
	}
	return 2 * prompt
}

// usageCost returns what the server counts for req against its token limit,
// from the usage of its reply; ok is false when the reply reports none.
func usageCost(req jobs.Request, u jobs.Usage) (int, bool) {
	if u.PromptTokens+u.CompletionTokens <= 0 {
		return 0, false
	}
	return u.PromptTokens + max(req.MaxTokens, u.CompletionTokens), true
}

// limiter is a Client's rate limiter, shared by all its calls.
type limiter struct {
	clock Clock
	log   *slog.Logger

	mu          sync.Mutex
	requests    bucket
	tokens      bucket
	pausedUntil time.Time
	lastCut     time.Time // when AIMD last cut a limit
	proved      bool      // an attempt let through since lastCut succeeded
	successes   int       // since the last cut or increase
	learned     bool      // header limits were logged
	st          RateStats // counters only; the limits are read at stats()
}

func newLimiter(rpm, tpm int, clock Clock, log *slog.Logger) *limiter {
	l := &limiter{clock: clock, log: log}
	now := clock.Now()
	l.requests.init(kindRequests, float64(rpm), minAdaptiveRPM, now)
	l.tokens.init(kindTokens, float64(tpm), minAdaptiveTPM, now)
	return l
}

// grant is what acquire charged for one HTTP attempt.
type grant struct {
	at       time.Time // when the attempt was let through
	requests float64   // charged to the requests bucket (0: unlimited)
	tokens   float64   // charged to the tokens bucket (0: unlimited)
	estimate int       // the attempt's estimated tokens
}

// acquire waits until an attempt that costs tokens may be sent: until any
// pause that ends after skipPause is over, then for the tokens, then for one
// request. It returns ctx's error, having given its charges back, when ctx
// ends first.
func (l *limiter) acquire(ctx context.Context, tokens int, skipPause time.Time) (grant, error) {
	var (
		g      grant
		waited time.Duration
	)
	sleep := func(d time.Duration) error {
		if d <= 0 {
			return nil
		}
		start := l.clock.Now()
		if err := l.clock.Sleep(ctx, d); err != nil {
			waited += min(max(l.clock.Now().Sub(start), 0), d)
			return err
		}
		waited += d
		return nil
	}
	fail := func(err error) (grant, error) {
		l.mu.Lock()
		l.giveBack(l.clock.Now(), g)
		l.count(waited)
		l.mu.Unlock()
		return grant{}, err
	}
	// paused reports whether a pause not yet waited for is on; l.mu held.
	paused := func(now time.Time) bool {
		return l.pausedUntil.After(now) && l.pausedUntil.After(skipPause)
	}
	// Three steps: the tokens, one request, then the attempt goes. A
	// pause not yet waited for, found at any step, gives back what was
	// charged: the attempt waits for the pause and starts again.
	for {
		for step := 0; ; step++ {
			l.mu.Lock()
			now := l.clock.Now()
			if paused(now) {
				until := l.pausedUntil
				l.giveBack(now, g)
				g = grant{}
				l.mu.Unlock()
				if err := sleep(until.Sub(now)); err != nil {
					return fail(err)
				}
				// Only a later pause holds this attempt again,
				// whatever the clock says.
				skipPause = until
				break
			}
			if step == 2 {
				g.at, g.estimate = now, tokens
				l.requests.meter.add(now, 1)
				l.tokens.meter.add(now, float64(tokens))
				l.count(waited)
				l.mu.Unlock()
				return g, nil
			}
			l.refresh(now)
			var wait time.Duration
			if step == 0 {
				g.tokens, wait = l.tokens.take(now, float64(tokens))
			} else {
				g.requests, wait = l.requests.take(now, 1)
			}
			l.mu.Unlock()
			if err := sleep(wait); err != nil {
				return fail(err)
			}
		}
	}
}

// count records one attempt's wait; l.mu held.
func (l *limiter) count(waited time.Duration) {
	if waited > 0 {
		l.st.Waits++
		l.st.Waited += waited
	}
}

// giveBack returns g's charges to the buckets; l.mu held.
func (l *limiter) giveBack(now time.Time, g grant) {
	l.requests.refund(now, g.requests)
	l.tokens.refund(now, g.tokens)
}

// settle corrects the charge of an attempt once its outcome is known. An
// attempt that never reached the network gives everything back; otherwise,
// when the reply reported its usage, the tokens are settled against cost.
func (l *limiter) settle(g grant, sent bool, cost int, known bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if !sent {
		l.giveBack(now, g)
		l.requests.meter.add(now, -1)
		l.tokens.meter.add(now, -float64(g.estimate))
		return
	}
	if !known {
		return
	}
	l.tokens.meter.add(now, float64(cost-g.estimate))
	if g.tokens == 0 {
		return // let through unlimited
	}
	switch d := float64(cost) - g.tokens; {
	case d < 0:
		l.tokens.refund(now, -d)
	case d > 0:
		l.tokens.take(now, d) // later reservations wait for it
	}
}

// observe reads the x-ratelimit-* headers of a response.
func (l *limiter) observe(h http.Header) {
	if h == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	seen := l.requests.observe(now, h)
	if l.tokens.observe(now, h) {
		seen = true
	}
	if !seen {
		return
	}
	l.refresh(now)
	if !l.learned && (l.requests.header > 0 || l.tokens.header > 0) {
		l.learned = true
		l.log.Info("rate limits learned from the server", "rpm", l.requests.header, "tpm", l.tokens.header,
			"client_rpm", l.requests.perMin, "client_tpm", l.tokens.perMin)
		for _, b := range []*bucket{&l.requests, &l.tokens} {
			if b.fixed > 0 && b.header > 0 && b.fixed > float64(b.header) {
				l.log.Warn("the client-side limit is above the server's", "kind", b.kind, "limit", b.fixed, "server_limit", b.header)
			}
		}
	}
}

// pause holds every attempt not yet let through for d, and returns when
// the pause ends.
func (l *limiter) pause(d time.Duration) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	until := l.clock.Now().Add(d)
	if until.After(l.pausedUntil) {
		l.pausedUntil = until
		l.st.Pauses++
		l.log.Debug("server asked to wait: pausing all requests", "delay", d)
	}
	return until
}

// limited records a 429 rate-limit reply to the attempt g, with the reply's
// headers h: kind is the limit it names ("" for none).
func (l *limiter) limited(g grant, kind string, h http.Header) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st.RateLimited++
	now := l.clock.Now()
	if exhausted(h, kind, g.estimate) || g.at.Before(l.lastCut) ||
		(!l.lastCut.IsZero() && !l.proved && now.Sub(l.lastCut) < cutHold) {
		// The headers explain the reply (their pace slows down), the
		// request was in flight at the last cut, or no request has
		// passed at the rate set by the last cut yet: the server's
		// quota, spent by the rate before it, is still filling up.
		l.refresh(now)
		return
	}
	cut := false
	for _, b := range []*bucket{&l.requests, &l.tokens} {
		if b.fixed == 0 && (kind == "" || kind == b.kind) {
			b.cut(now)
			cut = true
		}
	}
	if cut {
		l.lastCut, l.successes, l.proved = now, 0, false
		l.st.Decreases++
	}
	l.refresh(now)
	if cut {
		l.log.Debug("rate limited beyond what the rate-limit headers say: halving the client-side rate",
			"kind", kind, "rpm", l.requests.perMin, "tpm", l.tokens.perMin)
	}
}

// exhausted reports whether the x-ratelimit-remaining headers in h show the
// quota of the kind named (any kind for "") spent: no request left, or
// fewer tokens than the request's estimate.
func exhausted(h http.Header, kind string, tokens int) bool {
	if kind != kindTokens {
		if n, ok := headerInt(h, "X-Ratelimit-Remaining-"+kindRequests); ok && n < 1 {
			return true
		}
	}
	if kind != kindRequests {
		if n, ok := headerInt(h, "X-Ratelimit-Remaining-"+kindTokens); ok && n < max(tokens, 1) {
			return true
		}
	}
	return false
}

// succeeded records a successful reply to the attempt g.
func (l *limiter) succeeded(g grant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if g.at.Before(l.lastCut) {
		return
	}
	l.proved = true
	if l.requests.aimd == 0 && l.tokens.aimd == 0 {
		return
	}
	if l.successes++; l.successes < aimdRun {
		return
	}
	l.successes = 0
	l.requests.recover()
	l.tokens.recover()
	l.refresh(l.clock.Now())
}

// refresh puts the limits in force at now into the buckets; l.mu held.
func (l *limiter) refresh(now time.Time) {
	l.requests.apply(now)
	l.tokens.apply(now)
}

func (l *limiter) stats() RateStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(l.clock.Now())
	s := l.st
	s.RPM, s.TPM = l.requests.perMin, l.tokens.perMin
	s.HeaderRPM, s.HeaderTPM = l.requests.header, l.tokens.header
	return s
}

// bucket is the limit of one kind. All its fields are guarded by limiter.mu.
type bucket struct {
	kind  string
	fixed float64 // Config.RPM or TPM; 0 = adaptive
	floor float64 // the least adaptive limit

	tb     tokenBucket
	perMin float64 // the limit in force, per minute; 0 = none

	meter meter // what was sent in the last minute

	// Adaptive state, per minute.
	header    int     // x-ratelimit-limit-<kind> last seen
	aimd      float64 // the limit after 429s; 0 = none
	lastGood  float64 // the rate before the last cut
	pace      float64 // remaining / time to reset, until paceUntil
	paceUntil time.Time
}

func (b *bucket) init(kind string, fixed, floor float64, now time.Time) {
	b.kind, b.fixed, b.floor = kind, fixed, floor
	b.apply(now)
}

// shape returns the burst and the refill per second of a bucket of the kind
// that lets at most perMin units through in any minute (see the comment at
// the top of this file).
func shape(kind string, perMin float64) (burst, perSecond float64) {
	if kind == kindRequests {
		burst = max(1, math.Floor(perMin/600))
		return burst, (perMin - (burst - 1)) / 60
	}
	burst = max(1, math.Floor(perMin/60))
	return burst, max(perMin-burst, perMin/2) / 60
}

// headerLimit returns the limit the headers give, per minute, safety
// applied; 0 when none came.
func (b *bucket) headerLimit() float64 {
	if b.header <= 0 {
		return 0
	}
	return max(HeaderSafety*float64(b.header), b.floor)
}

// base returns the limit in force without the pace, per minute; 0 for none.
func (b *bucket) base() float64 {
	if b.fixed > 0 {
		return b.fixed
	}
	t := b.aimd
	if h := b.headerLimit(); h > 0 && (t == 0 || h < t) {
		t = h
	}
	return t
}

// target returns the limit in force at now, per minute; 0 for none.
func (b *bucket) target(now time.Time) float64 {
	t := b.base()
	if b.fixed == 0 && now.Before(b.paceUntil) && (t == 0 || b.pace < t) {
		t = b.pace
	}
	return t
}

// apply puts the limit in force at now into the token bucket.
func (b *bucket) apply(now time.Time) {
	t := b.target(now)
	if t == b.perMin {
		return
	}
	b.perMin = t
	if t == 0 {
		b.tb.set(now, 0, 0)
		return
	}
	burst, perSecond := shape(b.kind, t)
	b.tb.set(now, burst, perSecond)
}

// take charges n units at now, capped at one minute's quota, and returns
// the units charged and how long to wait before acting; nothing when the
// bucket is unlimited.
func (b *bucket) take(now time.Time, n float64) (float64, time.Duration) {
	if b.perMin == 0 {
		return 0, 0
	}
	n = min(n, b.perMin)
	return n, b.tb.reserve(now, n)
}

// refund gives back n units charged earlier.
func (b *bucket) refund(now time.Time, n float64) {
	if n > 0 && b.perMin > 0 {
		b.tb.refund(now, n)
	}
}

// observe reads the bucket's x-ratelimit-* headers from h, and reports
// whether any was there.
func (b *bucket) observe(now time.Time, h http.Header) bool {
	limit, okLimit := headerInt(h, "X-Ratelimit-Limit-"+b.kind)
	if okLimit && limit > 0 {
		b.header = limit
	}
	remaining, okRemaining := headerInt(h, "X-Ratelimit-Remaining-"+b.kind)
	reset, okReset := resetDuration(h.Get("X-Ratelimit-Reset-" + b.kind))
	if !okRemaining || !okReset {
		return okLimit || okRemaining
	}
	remaining = max(remaining, 0)
	b.pace, b.paceUntil = 0, time.Time{}
	if reset > 0 {
		// Spend what remains evenly until the reset, when that is
		// slower than the limit without it.
		pace := max(float64(remaining)/reset.Minutes(), b.floor)
		if base := b.base(); base == 0 || pace < base {
			b.pace, b.paceUntil = pace, now.Add(min(reset, maxPace))
		}
	}
	return true
}

// cut halves the adaptive limit, starting from the lower of the limit in
// force and the rate sent over the last minute.
func (b *bucket) cut(now time.Time) {
	cur := b.perMin
	if sent := b.meter.perMinute(now); cur == 0 || sent < cur {
		cur = sent
	}
	cur = max(cur, b.floor)
	b.lastGood = cur
	b.aimd = max(cur*aimdDecrease, b.floor)
}

// recover raises the AIMD limit by a step; AIMD ends at the header limit.
func (b *bucket) recover() {
	if b.aimd == 0 {
		return
	}
	b.aimd += aimdIncrease * b.lastGood
	if h := b.headerLimit(); h > 0 && b.aimd >= h {
		b.aimd = 0
	}
}

// tokenBucket is a token bucket with reservations. Its level may go below
// zero: a reservation is taken at once and told how long to wait until the
// refill has paid for it, so callers are served in the order they came. A
// rate of 0 means unlimited. Times before the last one seen count as it.
type tokenBucket struct {
	rate  float64 // units per second
	burst float64
	level float64
	last  time.Time
}

func (t *tokenBucket) advance(now time.Time) {
	if now.After(t.last) {
		if !t.last.IsZero() {
			t.level = min(t.burst, t.level+t.rate*now.Sub(t.last).Seconds())
		}
		t.last = now
	}
}

// set changes the burst and the rate (units per second) at now. A bucket
// that was unlimited starts full.
func (t *tokenBucket) set(now time.Time, burst, rate float64) {
	t.advance(now)
	if t.rate == 0 {
		t.level = burst
	}
	t.rate, t.burst = rate, burst
	t.level = min(t.level, burst)
}

// reserve takes n units at now and returns how long to wait for them.
func (t *tokenBucket) reserve(now time.Time, n float64) time.Duration {
	if t.rate == 0 {
		return 0
	}
	t.advance(now)
	t.level -= n
	if t.level >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-t.level / t.rate * float64(time.Second)))
}

// refund gives back n units at now (never past the burst): later
// reservations wait less; those made already keep their time.
func (t *tokenBucket) refund(now time.Time, n float64) {
	if t.rate == 0 {
		return
	}
	t.advance(now)
	t.level = min(t.burst, t.level+n)
}

// meter counts what was sent over the last minute, in one-second slots.
type meter struct {
	start time.Time // the first count
	slots [60]struct {
		sec int64
		n   float64
	}
}

func (m *meter) add(now time.Time, n float64) {
	if m.start.IsZero() {
		m.start = now
	}
	sec := now.Unix()
	s := &m.slots[((sec%60)+60)%60]
	if s.sec != sec {
		s.sec, s.n = sec, 0
	}
	s.n += n
}

// perMinute returns the rate sent over the last minute, or since the first
// count when that is more recent (at least one second).
func (m *meter) perMinute(now time.Time) float64 {
	if m.start.IsZero() {
		return 0
	}
	sec := now.Unix()
	sum := 0.0
	for _, s := range m.slots {
		if s.sec <= sec && sec-s.sec < 60 {
			sum += s.n
		}
	}
	span := min(max(now.Sub(m.start), time.Second), time.Minute)
	return max(sum, 0) / span.Minutes()
}

func headerInt(h http.Header, key string) (int, bool) {
	v := strings.TrimSpace(h.Get(key))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, false
		}
		n = int(f)
	}
	return n, true
}

// resetDuration parses an x-ratelimit-reset-* value: a Go duration as OpenAI
// sends it ("1s", "6m0s", "20ms", "1m30.5s") or a number of seconds.
func resetDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if d, err := time.ParseDuration(v); err == nil {
		return max(d, 0), true
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
		return time.Duration(s * float64(time.Second)), true
	}
	return 0, false
}

// rateLimitKind returns the limit that a 429 rate-limit reply names:
// kindRequests, kindTokens, or "" when it names neither. ok is false when the
// reply is not a rate limit at all: exhausted quota, a flex tier without
// capacity, or a request too large for any minute.
func rateLimitKind(se serverError) (kind string, ok bool) {
	msg := strings.ToLower(se.message)
	switch {
	case se.code == ReasonInsufficientQuota, se.typ == ReasonInsufficientQuota,
		se.code == flexNoCapacityCode, strings.Contains(msg, "resource unavailable"),
		strings.Contains(msg, "request too large"):
		return "", false
	case se.typ == kindTokens, strings.Contains(msg, "tokens per min"), strings.Contains(msg, "(tpm)"):
		return kindTokens, true
	case se.typ == kindRequests, strings.Contains(msg, "requests per min"), strings.Contains(msg, "(rpm)"):
		return kindRequests, true
	}
	return "", true
}
