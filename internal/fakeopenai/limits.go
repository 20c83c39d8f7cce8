package fakeopenai

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The kinds of rate limit, as in the "type" of a 429's error body.
const (
	LimitRequests = "requests"
	LimitTokens   = "tokens"
)

// rateLimitCode is error.code of a 429 sent by the rate limits.
const rateLimitCode = "rate_limit_exceeded"

// bucket is one rate limit: a token bucket that holds one simulated minute's
// worth (limit) and refills continuously at limit per simulated minute. It
// starts full. Levels are fractional so that slow refills are exact.
type bucket struct {
	limit float64 // the per-minute limit, and the capacity
	// perRealMinute is the refill per real minute, limit*TimeScale. Rates
	// are kept per minute, not per nanosecond, so that round figures stay
	// exact in floating point.
	perRealMinute float64
	level         float64
	last          time.Time // when level was last brought up to date
}

func newBucket(limit int, scale float64, now time.Time) *bucket {
	return &bucket{
		limit:         float64(limit),
		perRealMinute: float64(limit) * scale,
		level:         float64(limit),
		last:          now,
	}
}

// refill brings the level up to date at now. A now before the last update
// (a request that arrived earlier but was decoded later) adds nothing.
func (b *bucket) refill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.level = math.Min(b.limit, b.level+float64(d)*b.perRealMinute/float64(time.Minute))
		b.last = now
	}
}

// until returns the real time until the level reaches n (0 if it has).
func (b *bucket) until(n float64) time.Duration {
	if b.level >= n {
		return 0
	}
	return time.Duration(math.Ceil((n - b.level) * float64(time.Minute) / b.perRealMinute))
}

// remaining is the whole units left, as the x-ratelimit-remaining headers
// give them.
func (b *bucket) remaining() int { return int(math.Floor(b.level)) }

// limiter enforces Options.RPM and Options.TPM. It is guarded by Server.mu.
type limiter struct {
	requests, tokens *bucket // nil: no limit of that kind
}

func newLimiter(opts Options, now time.Time) *limiter {
	l := &limiter{}
	scale := timeScale(opts.TimeScale)
	if opts.RPM > 0 {
		l.requests = newBucket(opts.RPM, scale, now)
	}
	if opts.TPM > 0 {
		l.tokens = newBucket(opts.TPM, scale, now)
	}
	return l
}

// timeScale returns the simulated seconds per real second of an
// Options.TimeScale: 0 means 1.
func timeScale(s float64) float64 {
	if s == 0 {
		return 1
	}
	return s
}

// verdict is what the limits decided about one request.
type verdict struct {
	// limited is "" when the request was admitted and charged, else
	// LimitRequests or LimitTokens.
	limited string
	// tooLarge reports a request whose tokens exceed the whole TPM: no
	// wait lets it through.
	tooLarge bool
	// retry is the real time until the request would be admitted (0 when
	// admitted or too large).
	retry time.Duration
	// header holds the x-ratelimit-* headers after the decision.
	header http.Header
}

// take decides a request that costs one request and tokens tokens, arriving
// at now, and charges it if it is admitted. The request limit is checked
// first; a refused request is not charged at all.
func (l *limiter) take(now time.Time, tokens int) verdict {
	var v verdict
	if l.requests != nil {
		l.requests.refill(now)
	}
	if l.tokens != nil {
		l.tokens.refill(now)
	}
	switch {
	case l.requests != nil && l.requests.level < 1:
		v.limited = LimitRequests
		v.retry = l.requests.until(1)
	case l.tokens != nil && float64(tokens) > l.tokens.limit:
		v.limited = LimitTokens
		v.tooLarge = true
	case l.tokens != nil && l.tokens.level < float64(tokens):
		v.limited = LimitTokens
		v.retry = l.tokens.until(float64(tokens))
	default:
		if l.requests != nil {
			l.requests.level--
		}
		if l.tokens != nil {
			l.tokens.level -= float64(tokens)
		}
	}
	v.header = l.header()
	return v
}

// Quota is the state of the rate limits at one moment.
type Quota struct {
	// At is the moment, by Options.Now.
	At time.Time
	// Requests and Tokens are what the buckets hold, fractions included;
	// -1 for a limit that is not set.
	Requests, Tokens float64
	// Charged and ChargedTokens are the counters of Stats at that moment.
	Charged, ChargedTokens int
}

// Quota returns what the rate limits hold now, with what was charged so far.
// Sampled over a run, it tells how much of what the server would have
// admitted a client used: between two samples the server admits at most the
// limit's refill plus what its bucket held at the first, less what it holds
// at the second.
func (s *Server) Quota() Quota {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := Quota{At: now, Requests: -1, Tokens: -1, Charged: s.stats.Charged, ChargedTokens: s.stats.ChargedTokens}
	if b := s.limits.requests; b != nil {
		b.refill(now)
		q.Requests = b.level
	}
	if b := s.limits.tokens; b != nil {
		b.refill(now)
		q.Tokens = b.level
	}
	return q
}

// header returns the x-ratelimit-* headers of the limits that are set, in
// OpenAI's form and in real time: the limit per real minute
// (limit*TimeScale), the whole units left, and the real time until the
// bucket is full again.
func (l *limiter) header() http.Header {
	h := http.Header{}
	for _, x := range []struct {
		kind string
		b    *bucket
	}{{LimitRequests, l.requests}, {LimitTokens, l.tokens}} {
		if x.b == nil {
			continue
		}
		h.Set("x-ratelimit-limit-"+x.kind, strconv.Itoa(max(1, int(math.Round(x.b.perRealMinute)))))
		h.Set("x-ratelimit-remaining-"+x.kind, strconv.Itoa(x.b.remaining()))
		h.Set("x-ratelimit-reset-"+x.kind, FormatReset(x.b.until(x.b.limit)))
	}
	return h
}

// FormatReset formats a duration as OpenAI's x-ratelimit-reset-* headers do:
// Go's time.Duration form of the duration rounded up to a whole millisecond,
// e.g. "0s", "120ms", "1s", "17.5s", "6m0s".
func FormatReset(d time.Duration) string {
	return ceilDuration(d, time.Millisecond).String()
}

// ceilDuration rounds d up to a multiple of unit (d >= 0).
func ceilDuration(d, unit time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + unit - 1) / unit * unit
}

// limitReply is the 429 sent for a request the limits refused; bare
// (Options.BareLimits) leaves out retry-after and retry-after-ms.
func limitReply(v verdict, tokens, tpm int, bare bool) reply {
	e := apiError{Message: "Rate limit reached for " + v.limited, Type: v.limited, Code: rateLimitCode}
	if v.tooLarge {
		e.Message = fmt.Sprintf("Request too large for tokens per min (TPM): Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully.", tpm, tokens)
	}
	rep := errorReply(http.StatusTooManyRequests, e)
	if !v.tooLarge && !bare {
		retry := max(v.retry, time.Millisecond)
		rep.header.Set("retry-after", strconv.FormatInt(int64(ceilDuration(retry, time.Second)/time.Second), 10))
		rep.header.Set("retry-after-ms", strconv.FormatInt(int64(ceilDuration(retry, time.Millisecond)/time.Millisecond), 10))
	}
	return rep
}

// PromptTokens is the server's count of the prompt tokens of a request, as
// given in the reply's usage and charged against Options.TPM: the bytes of
// the messages' content, divided by 4, plus 1.
func PromptTokens(messages []Message) int {
	n := 0
	for _, m := range messages {
		n += len(m.Content)
	}
	return n/4 + 1
}

// completionTokens is the server's count of the tokens of a reply's content.
func completionTokens(content string) int { return len(content)/4 + 1 }

// chargedTokens returns what a request costs against Options.TPM: its
// prompt tokens plus max_completion_tokens, or max_tokens, or when neither
// is set the tokens of the normal reply it would get.
func chargedTokens(opts *Options, in *incoming) int {
	n := PromptTokens(in.messages)
	switch {
	case in.req.MaxCompletionTokens > 0:
		return n + in.req.MaxCompletionTokens
	case in.req.MaxTokens > 0:
		return n + in.req.MaxTokens
	}
	if in.parsed.Step == "" {
		return n
	}
	content, _, _ := replyContent(opts, &in.parsed, &Fault{})
	return n + completionTokens(content)
}
