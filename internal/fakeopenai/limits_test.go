package fakeopenai_test

//lint:file-ignore SA1019 max_tokens is deprecated by OpenAI but is what the OpenAI-compatible servers read; the test server must take it

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

// clock is a clock the test moves by hand; tick, when set, moves it on
// every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	tick time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.tick)
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// answer is a reply as it came over the wire.
type answer struct {
	status int
	header http.Header
	body   string
}

// post sends req to srv's chat completions endpoint and returns the reply.
func post(tb testing.TB, srv *fakeopenai.Server, req openai.ChatCompletionRequest) answer {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := http.Post(srv.URL()+"/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// rateHeaders are the headers the limits set, in a fixed order.
var rateHeaders = []string{
	"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
	"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
	"retry-after", "retry-after-ms",
}

// headers returns the rate-limit headers of a reply that are present.
func (a answer) headers() map[string]string {
	m := map[string]string{}
	for _, k := range rateHeaders {
		if v := a.header.Get(k); v != "" {
			m[k] = v
		}
	}
	return m
}

const (
	requestsBody = `{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	tokensBody   = `{"error":{"message":"Rate limit reached for tokens","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`
)

func TestRateLimitRequests(t *testing.T) {
	// RPM 2: a request comes back every 30 simulated seconds.
	tests := []struct {
		name      string
		timeScale float64
		step      time.Duration // real time of one simulated 15 s
		want      [][2]string   // reset and retry-after-ms of the five replies
		retry     []string      // their retry-after
		limit     string        // x-ratelimit-limit-requests: per real minute
	}{
		{"real time", 0, 15 * time.Second,
			[][2]string{{"30s", ""}, {"1m0s", ""}, {"1m0s", "30000"}, {"45s", "15000"}, {"1m0s", ""}},
			[]string{"", "", "30", "15", ""}, "2"},
		{"a simulated minute per real second", 60, 250 * time.Millisecond,
			[][2]string{{"500ms", ""}, {"1s", ""}, {"1s", "500"}, {"750ms", "250"}, {"1s", ""}},
			[]string{"", "", "1", "1", ""}, "120"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			srv := newServer(t, fakeopenai.Options{RPM: 2, TimeScale: tt.timeScale, Now: clk.Now})
			req := translationRequest(arTitle, arBody)

			var got []answer
			got = append(got, post(t, srv, req), post(t, srv, req), post(t, srv, req))
			clk.Advance(tt.step)
			got = append(got, post(t, srv, req))
			clk.Advance(tt.step)
			got = append(got, post(t, srv, req))

			wantStatus := []int{200, 200, 429, 429, 200}
			wantRemaining := []string{"1", "0", "0", "0", "0"}
			for i, a := range got {
				want := map[string]string{
					"x-ratelimit-limit-requests":     tt.limit,
					"x-ratelimit-remaining-requests": wantRemaining[i],
					"x-ratelimit-reset-requests":     tt.want[i][0],
				}
				if tt.want[i][1] != "" {
					want["retry-after-ms"] = tt.want[i][1]
					want["retry-after"] = tt.retry[i]
				}
				if a.status != wantStatus[i] {
					t.Errorf("reply %d: status=%d, want %d (body %s)", i, a.status, wantStatus[i], a.body)
				}
				if diff := cmp.Diff(want, a.headers()); diff != "" {
					t.Errorf("reply %d: headers mismatch (-want +got):\n%s", i, diff)
				}
				if a.status == http.StatusTooManyRequests && a.body != requestsBody {
					t.Errorf("reply %d: body=%s, want %s", i, a.body, requestsBody)
				}
			}
			st := srv.Stats()
			if st.LimitedRequests != 2 || st.LimitedTokens != 0 || st.Charged != 3 || st.ByStatus[429] != 2 {
				t.Errorf("Stats()=%+v, want 2 limited by requests, 3 charged", st)
			}
		})
	}
}

// sized returns a translation request that costs exactly tokens against
// the token limit: its prompt tokens plus max_tokens.
func sized(tb testing.TB, body string, tokens int) openai.ChatCompletionRequest {
	tb.Helper()
	req := translationRequest(arTitle, body)
	req.MaxTokens = tokens - fakeopenai.PromptTokens(messagesOf(req))
	if req.MaxTokens <= 0 {
		tb.Fatalf("request of %d tokens: the prompt alone is larger", tokens)
	}
	return req
}

func messagesOf(req openai.ChatCompletionRequest) []fakeopenai.Message {
	var msgs []fakeopenai.Message
	for _, m := range req.Messages {
		msgs = append(msgs, fakeopenai.Message{Role: m.Role, Content: m.Content})
	}
	return msgs
}

func TestRateLimitTokens(t *testing.T) {
	// TPM 2500, requests of 1000 tokens: two pass, the third lacks 500
	// tokens, which take 12 s to come back.
	clk := newClock()
	srv := newServer(t, fakeopenai.Options{TPM: 2500, Now: clk.Now})
	req := sized(t, arBody, 1000)

	a1, a2, a3 := post(t, srv, req), post(t, srv, req), post(t, srv, req)
	clk.Advance(12 * time.Second)
	a4 := post(t, srv, req)

	tests := []struct {
		name   string
		got    answer
		status int
		want   map[string]string
	}{
		{"first", a1, 200, map[string]string{"x-ratelimit-remaining-tokens": "1500", "x-ratelimit-reset-tokens": "24s"}},
		{"second", a2, 200, map[string]string{"x-ratelimit-remaining-tokens": "500", "x-ratelimit-reset-tokens": "48s"}},
		{"third", a3, 429, map[string]string{"x-ratelimit-remaining-tokens": "500", "x-ratelimit-reset-tokens": "48s",
			"retry-after": "12", "retry-after-ms": "12000"}},
		{"12 s later", a4, 200, map[string]string{"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m0s"}},
	}
	for _, tt := range tests {
		tt.want["x-ratelimit-limit-tokens"] = "2500"
		if tt.got.status != tt.status {
			t.Errorf("%s: status=%d, want %d (body %s)", tt.name, tt.got.status, tt.status, tt.got.body)
		}
		if diff := cmp.Diff(tt.want, tt.got.headers()); diff != "" {
			t.Errorf("%s: headers mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	if a3.body != tokensBody {
		t.Errorf("429 body=%s, want %s", a3.body, tokensBody)
	}
	st := srv.Stats()
	if st.LimitedTokens != 1 || st.LimitedRequests != 0 || st.Charged != 3 || st.ChargedTokens != 3000 {
		t.Errorf("Stats()=%+v, want 1 limited by tokens, 3 charged for 3000 tokens", st)
	}
}

func TestRateLimitBothKinds(t *testing.T) {
	// The request limit is checked first; a request refused for tokens is
	// not charged a request either.
	clk := newClock()
	srv := newServer(t, fakeopenai.Options{RPM: 2, TPM: 1500, Now: clk.Now})
	req := sized(t, arBody, 1000)
	var statuses []int
	for range 2 {
		statuses = append(statuses, post(t, srv, req).status)
	}
	small := sized(t, "قصير", 400)
	a := post(t, srv, small) // 500 tokens left: passes, the last request
	statuses = append(statuses, a.status)
	b := post(t, srv, small)
	statuses = append(statuses, b.status)
	if diff := cmp.Diff([]int{200, 429, 200, 429}, statuses); diff != "" {
		t.Errorf("statuses mismatch (-want +got):\n%s", diff)
	}
	if got, want := a.header.Get("x-ratelimit-remaining-requests"), "0"; got != want {
		t.Errorf("remaining requests after a refusal for tokens=%q, want %q", got, want)
	}
	if b.body != requestsBody {
		t.Errorf("last body=%s, want the requests limit's %s", b.body, requestsBody)
	}
	st := srv.Stats()
	if st.LimitedTokens != 1 || st.LimitedRequests != 1 {
		t.Errorf("Stats() limited by requests %d, by tokens %d; want 1 and 1", st.LimitedRequests, st.LimitedTokens)
	}
}

func TestRateLimitCharge(t *testing.T) {
	const tpm = 1_000_000
	noMax := translationRequest(arTitle, arBody)
	noMax.MaxTokens = 0
	kp := keyPointsRequest("Title", "Some text.", 3) // max_completion_tokens 500
	tests := []struct {
		name string
		req  openai.ChatCompletionRequest
		want func(prompt int, usage openai.Usage) int
	}{
		{"max_tokens", translationRequest(arTitle, arBody), func(p int, _ openai.Usage) int { return p + 1000 }},
		{"max_completion_tokens", kp, func(p int, _ openai.Usage) int { return p + 500 }},
		{"neither: the reply's tokens", noMax, func(_ int, u openai.Usage) int { return u.TotalTokens }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{TPM: tpm, Now: newClock().Now})
			a := post(t, srv, tt.req)
			if a.status != http.StatusOK {
				t.Fatalf("status=%d, want 200 (body %s)", a.status, a.body)
			}
			var resp openai.ChatCompletionResponse
			if err := json.Unmarshal([]byte(a.body), &resp); err != nil {
				t.Fatal(err)
			}
			prompt := fakeopenai.PromptTokens(messagesOf(tt.req))
			if prompt != resp.Usage.PromptTokens {
				t.Errorf("PromptTokens()=%d, usage.prompt_tokens=%d; want them equal", prompt, resp.Usage.PromptTokens)
			}
			want := tt.want(prompt, resp.Usage)
			if got := srv.Requests()[0].Tokens; got != want {
				t.Errorf("Recorded.Tokens=%d, want %d", got, want)
			}
			if got, want := a.header.Get("x-ratelimit-remaining-tokens"), fmt.Sprint(tpm-want); got != want {
				t.Errorf("x-ratelimit-remaining-tokens=%q, want %q", got, want)
			}
			if got := srv.Stats().ChargedTokens; got != want {
				t.Errorf("Stats().ChargedTokens=%d, want %d", got, want)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	clk := newClock()
	srv := newServer(t, fakeopenai.Options{RPM: 2, TPM: 2500, Now: clk.Now})
	start := clk.Now()
	if got, want := srv.Quota(), (fakeopenai.Quota{At: start, Requests: 2, Tokens: 2500}); got != want {
		t.Errorf("Quota() at the start = %+v, want %+v", got, want)
	}
	post(t, srv, sized(t, arBody, 1000))
	clk.Advance(15 * time.Second)
	want := fakeopenai.Quota{At: start.Add(15 * time.Second), Requests: 1.5, Tokens: 2125, Charged: 1, ChargedTokens: 1000}
	if got := srv.Quota(); got != want {
		t.Errorf("Quota() 15 s after a request of 1000 tokens = %+v, want %+v", got, want)
	}
	clk.Advance(time.Hour)
	if got := srv.Quota(); got.Requests != 2 || got.Tokens != 2500 {
		t.Errorf("Quota() an hour later = %+v, want full buckets (2 requests, 2500 tokens)", got)
	}
	if got := newServer(t, fakeopenai.Options{}).Quota(); got.Requests != -1 || got.Tokens != -1 {
		t.Errorf("Quota() without limits = %+v, want -1 for both", got)
	}
}

func TestRateLimitTooLarge(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{TPM: 900, Now: newClock().Now})
	a := post(t, srv, sized(t, arBody, 1000))
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("status=%d, want 429", a.status)
	}
	var e openai.ErrorResponse
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.Type != "tokens" || e.Error.Code != "rate_limit_exceeded" ||
		!strings.HasPrefix(e.Error.Message, "Request too large for tokens per min (TPM): Limit 900, Requested 1000.") {
		t.Errorf("error=%+v, want type tokens, code rate_limit_exceeded and a message saying the request is too large", e.Error)
	}
	if h := a.headers(); h["retry-after"] != "" || h["retry-after-ms"] != "" || h["x-ratelimit-remaining-tokens"] != "900" {
		t.Errorf("headers=%v, want no retry-after (no wait helps) and all 900 tokens left", h)
	}
	if st := srv.Stats(); st.LimitedTokens != 1 || st.Charged != 0 {
		t.Errorf("Stats()=%+v, want 1 limited by tokens and none charged", st)
	}
}

func TestRateLimitAndRules(t *testing.T) {
	// A refused request does not use up a rule; a reply decided by a rule
	// carries the limits' headers unless the rule sets its own.
	clk := newClock()
	srv := newServer(t, fakeopenai.Options{RPM: 1, Now: clk.Now})
	srv.Script(
		fakeopenai.Rule{Match: "busy", Times: 1, Fault: fakeopenai.Fault{Status: 503}},
		fakeopenai.Rule{Match: "own", Times: 1, Fault: fakeopenai.Fault{Status: 500,
			Header: http.Header{"X-Ratelimit-Remaining-Requests": {"42"}}}},
	)
	var got []string
	for _, body := range []string{"fine", "busy", "WAIT", "busy", "WAIT", "own"} {
		if body == "WAIT" {
			clk.Advance(time.Minute)
			continue
		}
		a := post(t, srv, translationRequest("t", body))
		got = append(got, fmt.Sprintf("%d remaining=%s", a.status, a.header.Get("x-ratelimit-remaining-requests")))
	}
	want := []string{"200 remaining=0", "429 remaining=0", "503 remaining=0", "500 remaining=42"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replies mismatch (-want +got):\n%s", diff)
	}
	srv.Verify(t)
}

func TestRateLimitConcurrent(t *testing.T) {
	// The clock stands still: exactly RPM requests pass, whatever the
	// interleaving.
	const rpm, n = 10, 40
	srv := newServer(t, fakeopenai.Options{RPM: rpm, Now: newClock().Now})
	client, _ := newClient(t, srv, "")
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			client.CreateChatCompletion(context.Background(), translationRequest("t", fmt.Sprint(i))) //nolint:errcheck // counted below
		})
	}
	wg.Wait()
	if err := srv.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.OK != rpm || st.LimitedRequests != n-rpm || st.ByStatus[429] != n-rpm {
		t.Errorf("Stats()=%+v, want %d ok and %d limited", st, rpm, n-rpm)
	}
}

func TestBareLimits(t *testing.T) {
	// RPM 1: a 200, then a 429 from the limits. Without BareLimits both
	// carry the limits' headers and the 429 says when to retry; with it
	// neither carries any. A scripted fault still sends its own headers.
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("BareLimits=%v", bare), func(t *testing.T) {
			clk := newClock()
			srv := newServer(t, fakeopenai.Options{RPM: 1, TPM: 1_000_000, TimeScale: 60, BareLimits: bare, Now: clk.Now})
			srv.Script(fakeopenai.Rule{Match: "scripted", Times: 1, Fault: fakeopenai.Fault{
				Status: http.StatusTooManyRequests, RetryAfter: "3", RetryAfterMS: "2500",
				Header: http.Header{"X-Ratelimit-Remaining-Requests": {"7"}},
			}})
			req := sized(t, arBody, 1000)
			ok, limited := post(t, srv, req), post(t, srv, req)
			clk.Advance(time.Second)
			scripted := post(t, srv, translationRequest(arTitle, "scripted"))

			if ok.status != http.StatusOK || limited.status != http.StatusTooManyRequests {
				t.Fatalf("statuses %d and %d, want 200 and 429 (bodies %s, %s)", ok.status, limited.status, ok.body, limited.body)
			}
			if limited.body != requestsBody {
				t.Errorf("429 body=%s, want %s", limited.body, requestsBody)
			}
			// Limits per real minute: 60 requests, 60M tokens; the bucket
			// takes 1 s to refill a request and 1 ms for 1000 tokens.
			wantOK := map[string]string{
				"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s",
				"x-ratelimit-limit-tokens": "60000000", "x-ratelimit-remaining-tokens": "999000", "x-ratelimit-reset-tokens": "1ms",
			}
			wantLimited := maps.Clone(wantOK)
			wantLimited["retry-after"], wantLimited["retry-after-ms"] = "1", "1000"
			if bare {
				wantOK, wantLimited = map[string]string{}, map[string]string{}
			}
			if diff := cmp.Diff(wantOK, ok.headers()); diff != "" {
				t.Errorf("200: headers mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantLimited, limited.headers()); diff != "" {
				t.Errorf("429 from the limits: headers mismatch (-want +got):\n%s", diff)
			}
			for name, a := range map[string]answer{"200": ok, "429": limited} {
				for k := range a.header {
					if bare && strings.HasPrefix(strings.ToLower(k), "x-ratelimit-") {
						t.Errorf("%s: header %s sent with BareLimits", name, k)
					}
				}
			}
			if got := scripted.headers(); scripted.status != http.StatusTooManyRequests ||
				got["retry-after"] != "3" || got["retry-after-ms"] != "2500" || got["x-ratelimit-remaining-requests"] != "7" {
				t.Errorf("scripted fault: status %d, headers %v; want 429 with its own retry-after 3, retry-after-ms 2500 and remaining 7", scripted.status, got)
			}
			if st := srv.Stats(); st.LimitedRequests != 1 || st.Charged != 2 {
				t.Errorf("Stats()=%+v, want 1 limited and 2 charged: the limits work as without BareLimits", st)
			}
			srv.Verify(t)
		})
	}
}

func TestNoLimitsNoHeaders(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	a := post(t, srv, translationRequest(arTitle, arBody))
	if h := a.headers(); a.status != http.StatusOK || len(h) != 0 {
		t.Errorf("status=%d, headers=%v; want 200 and no rate-limit headers", a.status, h)
	}
	if st := srv.Stats(); st.Charged != 1 || st.ChargedTokens != fakeopenai.PromptTokens(messagesOf(translationRequest(arTitle, arBody)))+1000 {
		t.Errorf("Stats()=%+v, want the request charged without limits", st)
	}
}

func TestTimestampsAndLatencies(t *testing.T) {
	for _, noRecord := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoRecord=%v", noRecord), func(t *testing.T) {
			// The clock moves 1 s at each reading: when the server starts,
			// when a request arrives and when its reply is written.
			clk := newClock()
			start := clk.t
			clk.tick = time.Second
			srv := newServer(t, fakeopenai.Options{NoRecord: noRecord, Now: clk.Now})
			for range 3 {
				post(t, srv, translationRequest(arTitle, arBody))
			}
			if err := srv.WaitIdle(context.Background()); err != nil {
				t.Fatal(err)
			}
			var times [][2]time.Duration
			for _, r := range srv.Requests() {
				times = append(times, [2]time.Duration{r.Arrived.Sub(start), r.Replied.Sub(start)})
			}
			var want [][2]time.Duration
			if !noRecord {
				want = [][2]time.Duration{{2 * time.Second, 3 * time.Second}, {4 * time.Second, 5 * time.Second}, {6 * time.Second, 7 * time.Second}}
			}
			if diff := cmp.Diff(want, times); diff != "" {
				t.Errorf("arrival and reply times mismatch (-want +got):\n%s", diff)
			}
			h := srv.Latencies()
			if h.Count() != 3 || h.Quantile(0.5) != time.Second || h.Quantile(0.99) != time.Second {
				t.Errorf("Latencies(): count %d, p50 %v, p99 %v; want 3, 1s, 1s", h.Count(), h.Quantile(0.5), h.Quantile(0.99))
			}
		})
	}
}

func TestHistogram(t *testing.T) {
	var h fakeopenai.Histogram
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Mean() != 0 {
		t.Errorf("empty histogram: count %d, p50 %v, mean %v; want zeros", h.Count(), h.Quantile(0.5), h.Mean())
	}
	for i := 1000; i >= 1; i-- {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	within := func(got, want time.Duration) bool {
		return got >= want && float64(got) <= float64(want)*(1+1.0/64)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, time.Millisecond},
		{0.5, 500 * time.Millisecond},
		{0.99, 990 * time.Millisecond},
		{1, time.Second},
	}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); !within(got, tt.want) {
			t.Errorf("Quantile(%v)=%v, want %v to 1.6%% above", tt.q, got, tt.want)
		}
	}
	if h.Count() != 1000 || h.Min() != time.Millisecond || h.Max() != time.Second || h.Mean() != 500500*time.Microsecond {
		t.Errorf("count %d, min %v, max %v, mean %v; want 1000, 1ms, 1s, 500.5ms", h.Count(), h.Min(), h.Max(), h.Mean())
	}
	// Small values are exact.
	var s fakeopenai.Histogram
	for _, d := range []time.Duration{3, 5, 7, 11} {
		s.Add(d)
	}
	if got := s.Quantile(0.5); got != 5 {
		t.Errorf("Quantile(0.5) of 3, 5, 7, 11 ns = %v, want 5ns", got)
	}
}

func TestFormatReset(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{time.Nanosecond, "1ms"},
		{1500 * time.Microsecond, "2ms"},
		{120 * time.Millisecond, "120ms"},
		{time.Second, "1s"},
		{17500 * time.Millisecond, "17.5s"},
		{6 * time.Minute, "6m0s"},
	}
	for _, tt := range tests {
		if got := fakeopenai.FormatReset(tt.d); got != tt.want {
			t.Errorf("FormatReset(%v)=%q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestBadLimitsPanic(t *testing.T) {
	for _, opts := range []fakeopenai.Options{{RPM: -1}, {TPM: -5}, {TimeScale: -2}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", opts)
				}
			}()
			fakeopenai.New(opts).Close()
		}()
	}
}
