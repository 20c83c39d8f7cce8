package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

// near reports whether two durations differ by at most a microsecond (the
// limiter rounds its waits up to a nanosecond).
func near(got, want time.Duration) bool { return (got - want).Abs() <= time.Microsecond }

func nearAll(got, want []time.Duration) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !near(got[i], want[i]) {
			return false
		}
	}
	return true
}

// perSecond returns the wait for n units at perSecond.
func waitFor(n, perSecond float64) time.Duration {
	return time.Duration(math.Ceil(n / perSecond * float64(time.Second)))
}

// usageBody is a chat completion reply with the given usage.
func usageBody(prompt, completion int) string {
	return fmt.Sprintf(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-model",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`, prompt, completion, prompt+completion)
}

// sizedRequest is a request whose user message is its prompt size, read
// back by estimateFromContent and by sizedServer.
func sizedRequest(prompt, maxTokens int) jobs.Request {
	req := testRequest()
	req.Messages = []prompts.Message{{Role: "user", Content: strconv.Itoa(prompt)}}
	req.MaxTokens = maxTokens
	return req
}

func estimateFromContent(req jobs.Request) int {
	n, _ := strconv.Atoi(req.Messages[len(req.Messages)-1].Content)
	return n
}

// sizedServer replies with the usage that usage returns for a request's
// prompt size and max_tokens.
func sizedServer(t *testing.T, usage func(prompt, maxTokens int) (int, int)) string {
	t.Helper()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Messages []struct {
				Content string `json:"content"`
			} `json:"messages"`
			MaxTokens int `json:"max_tokens"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode request: %v", err)
		}
		prompt, _ := strconv.Atoi(body.Messages[len(body.Messages)-1].Content)
		p, c := usage(prompt, body.MaxTokens)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, usageBody(p, c))
	})
	return srv.URL
}

func complete(t *testing.T, c *Client, req jobs.Request) jobs.Reply {
	t.Helper()
	reply, err := c.Complete(context.Background(), req)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return reply
}

// arrivals records the fake time at which each request reached a server.
type arrivals struct {
	mu    sync.Mutex
	clock *fakeClock
	at    []time.Time
}

func (a *arrivals) record() {
	a.mu.Lock()
	a.at = append(a.at, a.clock.Now())
	a.mu.Unlock()
}

func (a *arrivals) times() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.at...)
}

func TestExplicitRPM(t *testing.T) {
	clk := newFakeClock()
	arr := &arrivals{clock: clk}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		arr.record()
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 60; cfg.Clock = clk })
	for range 61 {
		complete(t, c, testRequest())
	}
	at := arr.times()
	// A burst of one, then one a second: 60 requests in the first
	// minute, and the 61st waits until the bucket has refilled.
	for i, a := range at {
		if got, want := a.Sub(at[0]), time.Duration(i)*time.Second; !near(got, want) {
			t.Errorf("request %d sent at +%v, want +%v", i+1, got, want)
		}
	}
	if got := at[60].Sub(at[0]); got < time.Minute {
		t.Errorf("the 61st request was sent %v after the first, want a minute", got)
	}
	st := c.RateStats()
	if st.Waits != 60 || !near(st.Waited, time.Minute) || st.RPM != 60 || st.TPM != 0 {
		t.Errorf("RateStats()=%+v, want 60 waits of a minute in all at RPM 60, TPM unlimited", st)
	}
}

func TestExplicitTPM(t *testing.T) {
	// TPM 6000: a burst of 100 tokens, and (6000-100)/60 a second.
	const rate = (6000.0 - 100) / 60
	clk := newFakeClock()
	base := sizedServer(t, func(prompt, maxTokens int) (int, int) { return prompt, maxTokens })
	c, _ := newTestClient(t, base, func(cfg *Config) {
		cfg.TPM = 6000
		cfg.Clock = clk
		cfg.EstimatePrompt = estimateFromContent
	})
	complete(t, c, sizedRequest(30, 20)) // 50 of 100: no wait
	if got := clk.Sleeps(); len(got) != 0 {
		t.Fatalf("first request waited %v, want no wait", got)
	}
	// 60 tokens with 50 left: waits for 10.
	complete(t, c, sizedRequest(40, 20))
	// 300 tokens, three times the burst: waits for all of them rather
	// than deadlocking or passing at the burst.
	complete(t, c, sizedRequest(250, 50))
	want := []time.Duration{waitFor(10, rate), waitFor(300, rate)}
	if got := clk.Sleeps(); !nearAll(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	if st := c.RateStats(); st.TPM != 6000 || st.RPM != 0 {
		t.Errorf("RateStats() RPM=%v TPM=%v, want unlimited and 6000", st.RPM, st.TPM)
	}
}

func TestSettle(t *testing.T) {
	const rate = (6000.0 - 100) / 60 // TPM 6000, burst 100
	tests := []struct {
		name              string
		prompt, maxTokens int // the request: estimate and max_tokens
		usage             [2]int
		want              []time.Duration // waits of the second request
	}{
		{
			// 80 reserved (twice the estimate), 15 used: 65 back, so
			// the second 80 finds 85.
			name: "over-reservation without max_tokens is refunded", prompt: 40, usage: [2]int{10, 5},
		},
		{
			// 80 reserved, the server counts 10 + max_tokens 40: 30
			// back, and the second 80 finds 50.
			name: "max_tokens headroom is not refunded", prompt: 40, maxTokens: 40, usage: [2]int{10, 5},
			want: []time.Duration{waitFor(30, rate)},
		},
		{
			// 20 reserved, 90 used: 70 more are charged, and the second
			// 20 finds 10.
			name: "under-reservation is charged", prompt: 10, usage: [2]int{60, 30},
			want: []time.Duration{waitFor(10, rate)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			base := sizedServer(t, func(int, int) (int, int) { return tt.usage[0], tt.usage[1] })
			c, _ := newTestClient(t, base, func(cfg *Config) {
				cfg.TPM = 6000
				cfg.Clock = clk
				cfg.EstimatePrompt = estimateFromContent
			})
			complete(t, c, sizedRequest(tt.prompt, tt.maxTokens))
			complete(t, c, sizedRequest(tt.prompt, tt.maxTokens))
			if got := clk.Sleeps(); !nearAll(got, tt.want) {
				t.Errorf("waits %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetriesWaitForTheLimiter(t *testing.T) {
	clk := newFakeClock()
	arr := &arrivals{clock: clk}
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		arr.record()
		if requests.inc() == 1 {
			writeError(w, 500, apiError("boom", "server_error", "", nil))
			return
		}
		writeOK(w, "ok")
	})
	c, rec := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 60; cfg.Clock = clk })
	if reply := complete(t, c, testRequest()); reply.Attempts != 2 {
		t.Fatalf("Attempts=%d, want 2", reply.Attempts)
	}
	// The retry layer's backoff (recorded by rec, not on the clock) is
	// shorter than the bucket's refill: the retry waits for the limiter.
	if got := rec.Delays(); len(got) != 1 || got[0] >= time.Second {
		t.Errorf("backoff %v, want one wait under a second", got)
	}
	if got := clk.Sleeps(); !nearAll(got, []time.Duration{time.Second}) {
		t.Errorf("limiter waits %v, want [1s]", got)
	}
	if at := arr.times(); len(at) != 2 || !near(at[1].Sub(at[0]), time.Second) {
		t.Errorf("arrivals %v, want two a second apart", at)
	}
}

func TestFallbackResendWaitsForTheLimiter(t *testing.T) {
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.inc() == 1 {
			writeError(w, 400, apiError("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
				"invalid_request_error", "max_tokens", "unsupported_parameter"))
			return
		}
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 60; cfg.Clock = clk })
	req := testRequest()
	req.MaxTokens = 100
	if reply := complete(t, c, req); reply.Attempts != 2 {
		t.Fatalf("Attempts=%d, want 2", reply.Attempts)
	}
	if got := clk.Sleeps(); !nearAll(got, []time.Duration{time.Second}) {
		t.Errorf("limiter waits %v, want [1s] before the re-send", got)
	}
}

// rateHeaders sets x-ratelimit-* headers: limit, remaining, reset of
// requests, then of tokens ("" leaves one out).
func rateHeaders(w http.ResponseWriter, v ...string) {
	keys := []string{
		"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
		"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
	}
	for i, s := range v {
		if s != "" {
			w.Header().Set(keys[i], s)
		}
	}
}

func TestAdaptiveLimitsFromHeaders(t *testing.T) {
	clk := newFakeClock()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		rateHeaders(w, "120", "119", "500ms", "100000", "99990", "6ms")
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk })
	if st := c.RateStats(); st.RPM != 0 || st.TPM != 0 || st.HeaderRPM != 0 {
		t.Errorf("before any reply: RateStats()=%+v, want no limits", st)
	}
	complete(t, c, testRequest())
	st := c.RateStats()
	if st.HeaderRPM != 120 || st.HeaderTPM != 100000 || st.RPM != 114 || st.TPM != 95000 {
		t.Errorf("RateStats()=%+v, want headers 120 and 100000, in force 95%%: 114 and 95000", st)
	}
	for range 3 {
		complete(t, c, testRequest())
	}
	// The bucket starts full (a burst of one); then one every 60/114 s.
	want := []time.Duration{waitFor(1, 114.0/60), waitFor(1, 114.0/60)}
	if got := clk.Sleeps(); !nearAll(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestAdaptivePaceWhenLittleRemains(t *testing.T) {
	clk := newFakeClock()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		// 3 requests left, and 58.5 s until the bucket is full again
		// (OpenAI's meaning: 117 units come back at 120 a minute).
		rateHeaders(w, "120", "3", "58.5s")
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk })
	complete(t, c, testRequest())
	pace := 3 / (58.5 / 60)
	if st := c.RateStats(); math.Abs(st.RPM-pace) > 1e-9 || st.HeaderRPM != 120 {
		t.Errorf("RateStats() RPM=%v HeaderRPM=%d, want the 3 left spread over 58.5s: %v, and 120", st.RPM, st.HeaderRPM, pace)
	}
	complete(t, c, testRequest()) // the burst of one
	complete(t, c, testRequest())
	if got, want := clk.Sleeps(), []time.Duration{waitFor(1, pace/60)}; !nearAll(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	clk.advance(time.Minute)
	if st := c.RateStats(); st.RPM != 114 {
		t.Errorf("after the reset: RPM=%v, want the header's 114", st.RPM)
	}
}

func TestRateLimitExplainedByHeaders(t *testing.T) {
	// A 429 whose headers show nothing left (a startup burst, or another
	// client on the key) is explained by them: no AIMD cut, but a pace
	// (the floor of 1 a minute) until the reset.
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.inc() == 2 {
			rateHeaders(w, "60", "0", "1s")
			writeError(w, 429, apiError("Rate limit reached for requests", "requests", "", "rate_limit_exceeded"))
			return
		}
		rateHeaders(w, "60", "59", "1s")
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk; cfg.MaxRetries = -1 })
	complete(t, c, testRequest())
	if st := c.RateStats(); st.RPM != 57 {
		t.Errorf("RPM=%v, want 95%% of 60", st.RPM)
	}
	if _, err := c.Complete(context.Background(), testRequest()); err == nil {
		t.Fatal("Complete succeeded, want the 429")
	}
	if st := c.RateStats(); st.RPM != minAdaptiveRPM || st.Decreases != 0 || st.RateLimited != 1 {
		t.Errorf("RateStats()=%+v, want RPM %d until the reset, no decrease, one 429", st, minAdaptiveRPM)
	}
	clk.advance(time.Second)
	if st := c.RateStats(); st.RPM != 57 {
		t.Errorf("after the reset: RPM=%v, want 95%% of 60", st.RPM)
	}
}

func TestAIMD(t *testing.T) {
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch n := requests.inc(); {
		case n <= 3:
			rateHeaders(w, "120", "119", "500ms")
		case n == 4:
			// No rate-limit headers: the client halves its rate.
			writeError(w, 429, apiError("Rate limit reached for requests", "requests", "", "rate_limit_exceeded"))
			return
		}
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk; cfg.MaxRetries = -1 })
	for range 3 {
		complete(t, c, testRequest())
	}
	if st := c.RateStats(); st.RPM != 114 {
		t.Fatalf("RPM=%v, want 114 from the headers", st.RPM)
	}
	if _, err := c.Complete(context.Background(), testRequest()); err == nil {
		t.Fatal("Complete succeeded, want the 429")
	}
	st := c.RateStats()
	if st.RPM != 57 || st.Decreases != 1 || st.RateLimited != 1 || st.TPM != 0 {
		t.Fatalf("after the 429: RateStats()=%+v, want RPM halved to 57 (tokens untouched: the 429 named requests)", st)
	}
	for range aimdRun - 1 {
		complete(t, c, testRequest())
	}
	if st := c.RateStats(); st.RPM != 57 {
		t.Errorf("after %d successes: RPM=%v, want still 57", aimdRun-1, st.RPM)
	}
	complete(t, c, testRequest())
	if st := c.RateStats(); math.Abs(st.RPM-(57+0.05*114)) > 1e-9 {
		t.Errorf("after %d successes: RPM=%v, want 57 + 5%% of 114", aimdRun, st.RPM)
	}
	// Nine more runs bring it back to the header's limit, and no
	// further.
	for range 9 * aimdRun {
		complete(t, c, testRequest())
	}
	if st := c.RateStats(); st.RPM != 114 {
		t.Errorf("after 10 runs: RPM=%v, want the header's 114", st.RPM)
	}
}

func TestAIMDWithoutHeaders(t *testing.T) {
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.inc() == 4 {
			writeError(w, 429, apiError("Too many requests, slow down", "", "", nil))
			return
		}
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk; cfg.MaxRetries = -1 })
	for range 3 {
		complete(t, c, testRequest())
	}
	if st := c.RateStats(); st.RPM != 0 || st.TPM != 0 || len(clk.Sleeps()) != 0 {
		t.Fatalf("RateStats()=%+v waits=%v, want unlimited and no waits", st, clk.Sleeps())
	}
	if _, err := c.Complete(context.Background(), testRequest()); err == nil {
		t.Fatal("Complete succeeded, want the 429")
	}
	// 4 requests within the first second: 240 a minute sent, halved.
	// The reply names no kind, so tokens are cut as well: three replies
	// of 11+7 tokens and the refused request's estimate of 2*(31/4+1), 70
	// in the first second, are 4200 a minute, halved.
	if st := c.RateStats(); st.RPM != 120 || st.TPM != 2100 || st.Decreases != 1 {
		t.Errorf("RateStats()=%+v, want RPM 120, TPM 2100, one decrease", st)
	}
}

func TestInFlightRateLimitsCutOnce(t *testing.T) {
	clk := newFakeClock()
	l := newLimiter(0, 0, clk, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	var gs []grant
	for range 4 {
		g, err := l.acquire(ctx, 10, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		gs = append(gs, g)
	}
	clk.advance(time.Second)
	for _, g := range gs {
		l.limited(g, kindRequests, nil)
	}
	if st := l.stats(); st.Decreases != 1 || st.RateLimited != 4 || st.RPM != 120 {
		t.Errorf("stats()=%+v, want one cut (to half of 240), four 429s", st)
	}
	// A request sent after the cut, before any such request succeeded,
	// does not cut: the quota spent before the cut is still filling up.
	g, _ := l.acquire(ctx, 10, time.Time{})
	l.limited(g, kindRequests, nil)
	if st := l.stats(); st.Decreases != 1 {
		t.Errorf("a 429 before the lower rate was proved: Decreases=%d, want 1", st.Decreases)
	}
	// Once one has succeeded, a 429 cuts again.
	clk.advance(time.Second)
	ok, _ := l.acquire(ctx, 10, time.Time{})
	l.succeeded(ok)
	clk.advance(time.Second)
	g, _ = l.acquire(ctx, 10, time.Time{})
	l.limited(g, kindRequests, nil)
	if st := l.stats(); st.Decreases != 2 {
		t.Errorf("a 429 after a success at the lower rate: Decreases=%d, want 2", st.Decreases)
	}
	// Without a success, 429s cut again once cutHold has passed.
	g, _ = l.acquire(ctx, 10, time.Time{}) // may wait on the fake clock
	clk.advance(l.lastCut.Add(cutHold - time.Millisecond).Sub(clk.Now()))
	l.limited(g, kindRequests, nil)
	if st := l.stats(); st.Decreases != 2 {
		t.Errorf("a 429 within cutHold of the cut: Decreases=%d, want 2", st.Decreases)
	}
	g, _ = l.acquire(ctx, 10, time.Time{})
	clk.advance(l.lastCut.Add(cutHold).Sub(clk.Now()))
	l.limited(g, kindRequests, nil)
	if st := l.stats(); st.Decreases != 3 {
		t.Errorf("a 429 cutHold after the cut: Decreases=%d, want 3", st.Decreases)
	}
}

func TestRateLimitWithQuotaLeftCuts(t *testing.T) {
	// Groq-like: the requests header counts a day, and the 429 comes from
	// a per-minute limit that no header describes.
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		rateHeaders(w, "14400", "14390", "2m59.56s")
		if requests.inc() == 3 {
			writeError(w, 429, apiError("Rate limit reached on requests per minute (RPM)", "requests", "", "rate_limit_exceeded"))
			return
		}
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk; cfg.MaxRetries = -1 })
	complete(t, c, testRequest())
	complete(t, c, testRequest())
	c.Complete(context.Background(), testRequest())
	if st := c.RateStats(); st.Decreases != 1 || st.RPM != 90 {
		t.Errorf("RateStats()=%+v, want one cut to half of the 180 a minute sent", st)
	}
}

func TestExplicitLimitsAreNotCut(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, 429, apiError("Rate limit reached for requests", "requests", "", "rate_limit_exceeded"))
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 600; cfg.TPM = 100000; cfg.MaxRetries = 2 })
	c.Complete(context.Background(), testRequest())
	if st := c.RateStats(); st.RPM != 600 || st.TPM != 100000 || st.Decreases != 0 || st.RateLimited != 3 {
		t.Errorf("RateStats()=%+v, want the explicit limits kept and three 429s counted", st)
	}
}

func TestNotRateLimits(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"insufficient_quota", apiError("You exceeded your current quota", "insufficient_quota", "", "insufficient_quota")},
		{"flex capacity", apiError("Resource Unavailable", "invalid_request_error", "", "resource_unavailable")},
		{"too large", apiError("Request too large for tokens per min (TPM): Limit 100, Requested 200.", "tokens", "", "rate_limit_exceeded")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { writeError(w, 429, tt.body) })
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
			c.Complete(context.Background(), testRequest())
			if st := c.RateStats(); st.RateLimited != 0 || st.Decreases != 0 || st.RPM != 0 {
				t.Errorf("RateStats()=%+v, want no rate limit seen", st)
			}
		})
	}
}

func TestRetryAfterPausesEveryone(t *testing.T) {
	clk := newFakeClock()
	arr := map[string][]time.Time{}
	var mu sync.Mutex
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body := decodeBody(t, r)
		id := body["messages"].([]any)[1].(map[string]any)["content"].(string)
		mu.Lock()
		arr[id] = append(arr[id], clk.Now())
		first := len(arr[id]) == 1
		mu.Unlock()
		if id == "A" && first {
			w.Header().Set("Retry-After", "2")
			writeError(w, 429, apiError("Rate limit reached for requests", "requests", "", "rate_limit_exceeded"))
			return
		}
		writeOK(w, "ok")
	})
	inRetry, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.Clock = clk
		// A's wait in the retry layer, held until B is done.
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			if d != 2*time.Second {
				t.Errorf("retry wait %v, want the server's 2s", d)
			}
			once.Do(func() { close(inRetry) })
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	request := func(id string) jobs.Request {
		req := testRequest()
		req.Messages[1].Content = id
		return req
	}
	errA := make(chan error, 1)
	go func() {
		_, err := c.Complete(context.Background(), request("A"))
		errA <- err
	}()
	select {
	case <-inRetry:
	case err := <-errA:
		t.Fatalf("A ended before its retry: %v", err)
	}
	// B comes while A waits out its Retry-After: it waits as well.
	complete(t, c, request("B"))
	if got := clk.Sleeps(); len(got) == 0 || got[0] != 2*time.Second {
		t.Errorf("limiter waits %v, want B held 2s first", got)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("A: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(arr["A"]) != 2 || len(arr["B"]) != 1 {
		t.Fatalf("arrivals %v, want A twice and B once", arr)
	}
	if got := arr["B"][0].Sub(arr["A"][0]); got < 2*time.Second {
		t.Errorf("B sent %v after A's 429, want at least the 2s asked for", got)
	}
	if st := c.RateStats(); st.Pauses != 1 || st.RateLimited != 1 || st.Waits < 1 {
		t.Errorf("RateStats()=%+v, want one pause, one 429, B's wait", st)
	}
}

func TestNoLimitsNoWaits(t *testing.T) {
	clk := newFakeClock()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { writeOK(w, "ok") })
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Clock = clk })
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := c.Complete(context.Background(), testRequest()); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
	if got := clk.Sleeps(); len(got) != 0 {
		t.Errorf("waits %v, want none", got)
	}
	if st := c.RateStats(); st != (RateStats{}) {
		t.Errorf("RateStats()=%+v, want zero", st)
	}
}

func TestCancelledWaitGivesBack(t *testing.T) {
	clk := newFakeClock()
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 60; cfg.Clock = clk })
	complete(t, c, testRequest())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Complete(ctx, testRequest()); !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
	// The cancelled call gave its request back: the next one waits one
	// interval, not two.
	complete(t, c, testRequest())
	if got := clk.Sleeps(); !nearAll(got, []time.Duration{time.Second}) {
		t.Errorf("waits %v, want [1s]", got)
	}
	if requests.get() != 2 {
		t.Errorf("requests=%d, want 2", requests.get())
	}
}

func TestSleepIsForRetriesOnly(t *testing.T) {
	clk := newFakeClock()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { writeOK(w, "ok") })
	c, rec := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RPM = 6; cfg.Clock = clk })
	for range 3 {
		complete(t, c, testRequest())
	}
	if got := rec.Delays(); len(got) != 0 {
		t.Errorf("Sleep delays %v, want none: the limiter waits with the Clock", got)
	}
	if got := clk.Sleeps(); !nearAll(got, []time.Duration{10 * time.Second, 10 * time.Second}) {
		t.Errorf("Clock waits %v, want two of 10s", got)
	}
}

func TestNewRejectsNegativeLimits(t *testing.T) {
	for _, cfg := range []Config{{RPM: -1}, {TPM: -5}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(RPM %d, TPM %d) succeeded, want an error", cfg.RPM, cfg.TPM)
		}
	}
}

func TestReservation(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatal(err)
	}
	req := testRequest() // 21 + 10 bytes of content
	if got, want := c.reservation(req), 2*(31/4+1); got != want {
		t.Errorf("reservation without max_tokens=%d, want twice the estimate: %d", got, want)
	}
	req.MaxTokens = 100
	if got, want := c.reservation(req), 31/4+1+100; got != want {
		t.Errorf("reservation with max_tokens=%d, want %d", got, want)
	}
}

// windowMax returns the most that falls in any half-open window of length
// w starting at one of the times (sorted), each time weighing its weight.
func windowMax(times []time.Time, weights []float64, w time.Duration) float64 {
	best, sum, j := 0.0, 0.0, 0
	for i := range times {
		for j < len(times) && times[j].Before(times[i].Add(w)) {
			sum += weights[j]
			j++
		}
		best = max(best, sum)
		sum -= weights[i]
	}
	return best
}

func TestNeverAboveTheLimitInAnyMinute(t *testing.T) {
	ctx := context.Background()
	run := func(l *limiter, clk *fakeClock, sizes []int, d time.Duration) ([]time.Time, []float64) {
		t.Helper()
		start := clk.Now()
		var times []time.Time
		var weights []float64
		for i := 0; clk.Now().Sub(start) < d; i++ {
			n := sizes[i%len(sizes)]
			g, err := l.acquire(ctx, n, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			times = append(times, g.at)
			weights = append(weights, float64(n))
		}
		if !sort.SliceIsSorted(times, func(i, j int) bool { return times[i].Before(times[j]) }) {
			t.Fatal("grants out of order")
		}
		return times, weights
	}
	for _, rpm := range []int{1, 3, 60, 599, 601, 6000} {
		t.Run(fmt.Sprintf("RPM %d", rpm), func(t *testing.T) {
			clk := newFakeClock()
			l := newLimiter(rpm, 0, clk, slog.New(slog.DiscardHandler))
			times, _ := run(l, clk, []int{1}, 10*time.Minute)
			ones := make([]float64, len(times))
			for i := range ones {
				ones[i] = 1
			}
			if got := windowMax(times, ones, time.Minute); got > float64(rpm) {
				t.Errorf("%v requests in a minute, want at most %d", got, rpm)
			}
			// Saturated, the run reaches the limit.
			if got, want := len(times), 10*rpm; float64(got) < 0.99*float64(want) {
				t.Errorf("%d requests in 10 minutes, want about %d", got, want)
			}
		})
	}
	for _, tc := range []struct {
		tpm   int
		sizes []int
		over  float64 // allowed above TPM: a request larger than the burst
	}{
		{60000, []int{100, 700, 1000, 300}, 0},
		{6000, []int{1, 99, 50}, 0},
		{60000, []int{3000, 200}, 3000 - 1000},
	} {
		t.Run(fmt.Sprintf("TPM %d sizes %v", tc.tpm, tc.sizes), func(t *testing.T) {
			clk := newFakeClock()
			l := newLimiter(0, tc.tpm, clk, slog.New(slog.DiscardHandler))
			times, weights := run(l, clk, tc.sizes, 10*time.Minute)
			if got, limit := windowMax(times, weights, time.Minute), float64(tc.tpm)+tc.over; got > limit {
				t.Errorf("%v tokens in a minute, want at most %v", got, limit)
			}
			sum := 0.0
			for _, w := range weights {
				sum += w
			}
			if want := 10 * float64(tc.tpm); sum < 0.97*want {
				t.Errorf("%v tokens in 10 minutes, want about %v", sum, want)
			}
		})
	}
}

func TestTokenBucket(t *testing.T) {
	t0 := time.Now()
	var b tokenBucket
	if d := b.reserve(t0, 1e9); d != 0 {
		t.Errorf("unlimited reserve waited %v", d)
	}
	b.set(t0, 10, 5) // starts full
	if d := b.reserve(t0, 10); d != 0 {
		t.Errorf("reserve(10) of a full burst of 10 waited %v", d)
	}
	if d := b.reserve(t0, 5); d != time.Second {
		t.Errorf("reserve(5) on empty at 5/s waited %v, want 1s", d)
	}
	// Queued behind the first: 5 more wait 2s in all.
	if d := b.reserve(t0, 5); d != 2*time.Second {
		t.Errorf("second reserve(5) waited %v, want 2s", d)
	}
	b.refund(t0, 5)
	if d := b.reserve(t0, 5); d != 2*time.Second {
		t.Errorf("after a refund of 5, reserve(5) waited %v, want 2s", d)
	}
	// A time earlier than the last one seen counts as it.
	if d := b.reserve(t0.Add(-time.Hour), 0); d != 2*time.Second {
		t.Errorf("reserve at an earlier time waited %v, want 2s", d)
	}
	// Refunds never fill past the burst.
	b.refund(t0.Add(time.Hour), 100)
	if d := b.reserve(t0.Add(time.Hour), 15); d != time.Second {
		t.Errorf("reserve(15) after overfilling waited %v, want 1s (the burst is 10)", d)
	}
}

func TestResetDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true},
		{"6m0s", 6 * time.Minute, true},
		{"20ms", 20 * time.Millisecond, true},
		{"1m30.5s", 90*time.Second + 500*time.Millisecond, true},
		{"0s", 0, true},
		{"2.5", 2500 * time.Millisecond, true},
		{"", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := resetDuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("resetDuration(%q)=%v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRateLimitKind(t *testing.T) {
	tests := []struct {
		se   serverError
		kind string
		ok   bool
	}{
		{serverError{typ: "tokens", message: "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000"}, kindTokens, true},
		{serverError{typ: "requests", message: "Rate limit reached for requests"}, kindRequests, true},
		{serverError{message: "Rate limit reached on requests per min (RPM)"}, kindRequests, true},
		{serverError{message: "Too Many Requests"}, "", true},
		{serverError{code: "insufficient_quota"}, "", false},
		{serverError{code: "resource_unavailable"}, "", false},
		{serverError{typ: "tokens", message: "Request too large for tokens per min (TPM)"}, "", false},
	}
	for _, tt := range tests {
		kind, ok := rateLimitKind(tt.se)
		if kind != tt.kind || ok != tt.ok {
			t.Errorf("rateLimitKind(%+v)=%q, %v, want %q, %v", tt.se, kind, ok, tt.kind, tt.ok)
		}
	}
}
