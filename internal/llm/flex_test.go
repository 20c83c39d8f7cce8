package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

const flexFallbackLog = "flex tier has no capacity; falling back to the default tier for this request"

// fakeServer starts a fakeopenai server, closed with the test.
func fakeServer(t *testing.T) *fakeopenai.Server {
	t.Helper()
	srv := fakeopenai.New(fakeopenai.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	return srv
}

// newFakeClient returns a client for srv, on the flex tier when flex is set,
// logging to logs.
func newFakeClient(t *testing.T, srv *fakeopenai.Server, flex bool, logs *safeBuffer) (*Client, *recorder) {
	t.Helper()
	return newTestClient(t, strings.TrimSuffix(srv.URL(), "/v1"), func(cfg *Config) {
		if flex {
			cfg.ServiceTier = ServiceTierFlex
		}
		if logs != nil {
			cfg.Logger = textLogger(logs)
		}
	})
}

// fakeRequest is a translation request that fakeopenai recognises.
func fakeRequest(id string) jobs.Request {
	const nonce = "0123456789abcdef"
	fence := func(label, text string) string {
		return "<<<BEGIN " + label + " " + nonce + ">>>\n" + text + "\n<<<END " + label + " " + nonce + ">>>"
	}
	return jobs.Request{
		ArticleID: id,
		Step:      jobs.StepTranslate,
		Model:     fakeopenai.ModelID,
		Messages: []prompts.Message{
			{Role: "system", Content: "Translate the Arabic article into English."},
			{Role: "user", Content: fence("TITLE", "عنوان "+id) + "\n" + fence("BODY", "نص الخبر")},
		},
	}
}

// tiers returns the service_tier of every recorded request.
func tiers(srv *fakeopenai.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.ServiceTier)
	}
	return out
}

// hasServiceTier reports whether a raw request body holds a service_tier
// field.
func hasServiceTier(t *testing.T, body []byte) bool {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode request body: %v", err)
	}
	_, ok := m["service_tier"]
	return ok || bytes.Contains(body, []byte("service_tier"))
}

func TestDefaultTierSendsNoServiceTier(t *testing.T) {
	srv := fakeServer(t)
	c, _ := newFakeClient(t, srv, false, nil)
	if _, err := c.Complete(context.Background(), fakeRequest("a1")); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if hasServiceTier(t, reqs[0].Body) || reqs[0].ServiceTier != "" {
		t.Errorf("request body %s has a service_tier, want none", reqs[0].Body)
	}
}

func TestFlexSendsServiceTier(t *testing.T) {
	srv := fakeServer(t)
	var logs safeBuffer
	c, rec := newFakeClient(t, srv, true, &logs)
	reply, err := c.Complete(context.Background(), fakeRequest("a1"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if reply.Attempts != 1 {
		t.Errorf("Attempts=%d, want 1", reply.Attempts)
	}
	if diff := cmp.Diff([]string{"flex"}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	var body struct {
		ServiceTier string `json:"service_tier"`
	}
	if err := json.Unmarshal(srv.Requests()[0].Body, &body); err != nil || body.ServiceTier != "flex" {
		t.Errorf("body service_tier=%q (%v), want flex", body.ServiceTier, err)
	}
	if got := c.FlexFallbacks(); got != 0 {
		t.Errorf("FlexFallbacks()=%d, want 0", got)
	}
	if len(rec.Delays()) != 0 {
		t.Errorf("slept %v, want no wait", rec.Delays())
	}
	// The tier that served the reply is logged at debug.
	if !strings.Contains(logs.String(), `level=DEBUG msg="chat completion served" article_id=a1`) ||
		!strings.Contains(logs.String(), "requested_tier=flex service_tier=flex") {
		t.Errorf("log does not show the served tier:\n%s", logs.String())
	}
}

func TestFlexFallsBackToDefaultTier(t *testing.T) {
	srv := fakeServer(t)
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}})
	var logs safeBuffer
	c, rec := newFakeClient(t, srv, true, &logs)

	reply, err := c.Complete(context.Background(), fakeRequest("a1"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	want := fakeopenai.TranslationReply("عنوان a1", "نص الخبر")
	if reply.Content != want || reply.Attempts != 2 {
		t.Errorf("Content=%q Attempts=%d, want %q after 2 requests", reply.Content, reply.Attempts, want)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	if diff := cmp.Diff([]string{"flex", ""}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	if reqs[0].Status != http.StatusTooManyRequests || reqs[1].Status != http.StatusOK {
		t.Errorf("statuses %d, %d, want 429, 200", reqs[0].Status, reqs[1].Status)
	}
	if hasServiceTier(t, reqs[1].Body) {
		t.Errorf("re-sent body %s has a service_tier, want none", reqs[1].Body)
	}
	// The same request otherwise.
	if diff := cmp.Diff(reqs[0].Messages, reqs[1].Messages); diff != "" {
		t.Errorf("re-sent messages differ (-first +second):\n%s", diff)
	}
	if len(rec.Delays()) != 0 {
		t.Errorf("slept %v, want the re-send at once", rec.Delays())
	}
	if got := c.FlexFallbacks(); got != 1 {
		t.Errorf("FlexFallbacks()=%d, want 1", got)
	}
	if !strings.Contains(logs.String(), `level=INFO msg="`+flexFallbackLog+`"`) {
		t.Errorf("fall-back not logged at info:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "requested_tier=\"\" service_tier=default") {
		t.Errorf("log does not show the default tier serving the re-send:\n%s", logs.String())
	}

	// Capacity comes back: the next request tries flex first.
	if _, err := c.Complete(context.Background(), fakeRequest("a2")); err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	if diff := cmp.Diff([]string{"flex", "", "flex"}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}

	// Another fall-back is counted, but logged at info only once per run.
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}})
	if _, err := c.Complete(context.Background(), fakeRequest("a3")); err != nil {
		t.Fatalf("third Complete: %v", err)
	}
	if diff := cmp.Diff([]string{"flex", "", "flex", "flex", ""}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	if got := c.FlexFallbacks(); got != 2 {
		t.Errorf("FlexFallbacks()=%d, want 2", got)
	}
	if n := strings.Count(logs.String(), "level=INFO msg=\""+flexFallbackLog); n != 1 {
		t.Errorf("fall-back logged at info %d times, want once:\n%s", n, logs.String())
	}
	srv.Verify(t)
}

func TestFlexFallbackWithoutRetries(t *testing.T) {
	// The re-send is not a retry: it happens with retries turned off.
	srv := fakeServer(t)
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}})
	c, _ := newTestClient(t, strings.TrimSuffix(srv.URL(), "/v1"), func(cfg *Config) {
		cfg.ServiceTier = ServiceTierFlex
		cfg.MaxRetries = -1
	})
	if _, err := c.Complete(context.Background(), fakeRequest("a1")); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff([]string{"flex", ""}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	srv.Verify(t)
}

func TestFlexRateLimitIsRetriedOnFlex(t *testing.T) {
	srv := fakeServer(t)
	// An ordinary 429 (rate_limit_exceeded) is not a lack of flex capacity.
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Status: http.StatusTooManyRequests}})
	var logs safeBuffer
	c, rec := newFakeClient(t, srv, true, &logs)
	reply, err := c.Complete(context.Background(), fakeRequest("a1"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff([]string{"flex", "flex"}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	if got := len(rec.Delays()); got != 1 || reply.Attempts != 2 {
		t.Errorf("waits=%d Attempts=%d, want one retry after a wait", got, reply.Attempts)
	}
	if got := c.FlexFallbacks(); got != 0 {
		t.Errorf("FlexFallbacks()=%d, want 0", got)
	}
	if strings.Contains(logs.String(), flexFallbackLog) {
		t.Errorf("rate limit logged as a flex fall-back:\n%s", logs.String())
	}
	srv.Verify(t)
}

func TestFlexRetryAfterFallbackTriesFlexAgain(t *testing.T) {
	srv := fakeServer(t)
	srv.Script(
		fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}},
		// Fires on the default-tier re-send: the flex rule passes it by.
		fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Status: http.StatusInternalServerError}},
	)
	c, rec := newFakeClient(t, srv, true, nil)
	reply, err := c.Complete(context.Background(), fakeRequest("a1"))
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if diff := cmp.Diff([]string{"flex", "", "flex"}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	if got := len(rec.Delays()); got != 1 || reply.Attempts != 3 {
		t.Errorf("waits=%d Attempts=%d, want 1 and 3", got, reply.Attempts)
	}
	if got := c.FlexFallbacks(); got != 1 {
		t.Errorf("FlexFallbacks()=%d, want 1", got)
	}
	srv.Verify(t)
}

func TestFlexDefaultTierAlsoUnavailable(t *testing.T) {
	// A server that refuses the re-send as well: the refusal is an ordinary
	// retryable 429, and each retry starts again from flex.
	srv := fakeServer(t)
	srv.Script(fakeopenai.Rule{Fault: fakeopenai.Fault{Status: http.StatusTooManyRequests, Code: "resource_unavailable"}})
	c, rec := newTestClient(t, strings.TrimSuffix(srv.URL(), "/v1"), func(cfg *Config) {
		cfg.ServiceTier = ServiceTierFlex
		cfg.MaxRetries = 1
	})
	_, err := c.Complete(context.Background(), fakeRequest("a1"))
	ce := callError(t, err)
	if ce.Reason != "http_429" || !ce.Retryable || ce.Attempts != 4 {
		t.Errorf("CallError Reason=%q Retryable=%v Attempts=%d, want http_429, retryable, 4 requests", ce.Reason, ce.Retryable, ce.Attempts)
	}
	if diff := cmp.Diff([]string{"flex", "", "flex", ""}, tiers(srv)); diff != "" {
		t.Errorf("Recorded.ServiceTier (-want +got):\n%s", diff)
	}
	if got := len(rec.Delays()); got != 1 {
		t.Errorf("waits=%d, want 1", got)
	}
	if got := c.FlexFallbacks(); got != 2 {
		t.Errorf("FlexFallbacks()=%d, want 2", got)
	}
}

func TestFlexFallbackConcurrent(t *testing.T) {
	srv := fakeServer(t)
	srv.Script(fakeopenai.Rule{Fault: fakeopenai.Fault{FlexUnavailable: true}})
	var logs safeBuffer
	c, _ := newFakeClient(t, srv, true, &logs)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := c.Complete(context.Background(), fakeRequest(string(rune('a'+i)))); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
	if got := c.FlexFallbacks(); got != 8 {
		t.Errorf("FlexFallbacks()=%d, want 8", got)
	}
	if st := srv.Stats(); st.ByStatus[429] != 8 || st.OK != 8 {
		t.Errorf("429s=%d OK=%d, want 8 and 8", st.ByStatus[429], st.OK)
	}
	if n := strings.Count(logs.String(), "level=INFO msg=\""+flexFallbackLog); n != 1 {
		t.Errorf("fall-back logged at info %d times, want once:\n%s", n, logs.String())
	}
}

func TestFlexNoCapacity(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"code", &openai.APIError{HTTPStatusCode: 429, Code: "resource_unavailable", Message: "Resource Unavailable", Type: "invalid_request_error"}, true},
		{"code, other message", &openai.APIError{HTTPStatusCode: 429, Code: "resource_unavailable", Message: "try later"}, true},
		{"message only", &openai.APIError{HTTPStatusCode: 429, Message: "Resource unavailable, please retry."}, true},
		{"message in a plain body", &openai.RequestError{HTTPStatusCode: 429, Body: []byte(`{"error":"RESOURCE UNAVAILABLE"}`)}, true},
		{"rate limit", &openai.APIError{HTTPStatusCode: 429, Code: "rate_limit_exceeded", Message: "Rate limit reached for requests"}, false},
		{"quota", &openai.APIError{HTTPStatusCode: 429, Code: "insufficient_quota", Message: "You exceeded your current quota"}, false},
		{"not a 429", &openai.APIError{HTTPStatusCode: 503, Code: "resource_unavailable", Message: "Resource Unavailable"}, false},
		{"no reply", errors.New("resource unavailable"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flexNoCapacity(tt.err); got != tt.want {
				t.Errorf("flexNoCapacity(%v)=%v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFlexTimeout(t *testing.T) {
	tests := []struct {
		name        string
		tier        string
		timeout     time.Duration
		wantTimeout time.Duration // of the HTTP client and the response headers
		wantResend  time.Duration // deadline of a default-tier request
	}{
		{"default tier", "", 0, DefaultRequestTimeout, 0},
		{"default tier, own timeout", "", 30 * time.Second, 30 * time.Second, 0},
		{"flex raises the default", ServiceTierFlex, 0, FlexTimeout, DefaultRequestTimeout},
		{"flex raises a shorter timeout", ServiceTierFlex, time.Minute, FlexTimeout, time.Minute},
		{"flex keeps a longer timeout", ServiceTierFlex, 20 * time.Minute, 20 * time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", ServiceTier: tt.tier, RequestTimeout: tt.timeout})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if got := c.hc.Timeout; got != tt.wantTimeout {
				t.Errorf("http.Client Timeout=%v, want %v", got, tt.wantTimeout)
			}
			tr, ok := c.tr.base.(*http.Transport)
			if !ok {
				t.Fatalf("transport is %T, want *http.Transport", c.tr.base)
			}
			if got := tr.ResponseHeaderTimeout; got != tt.wantTimeout {
				t.Errorf("ResponseHeaderTimeout=%v, want %v", got, tt.wantTimeout)
			}
			if got := c.sendTimeout(false); got != tt.wantResend {
				t.Errorf("sendTimeout(default tier)=%v, want %v", got, tt.wantResend)
			}
			if got := c.sendTimeout(true); got != 0 {
				t.Errorf("sendTimeout(flex)=%v, want 0 (the HTTP client's)", got)
			}
		})
	}
}

func TestFlexTimeoutGivenHTTPClient(t *testing.T) {
	// A given client without a Timeout gets the flex timeout; one with a
	// Timeout keeps it.
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", ServiceTier: ServiceTierFlex, HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.hc.Timeout != FlexTimeout {
		t.Errorf("Timeout=%v, want %v", c.hc.Timeout, FlexTimeout)
	}
	c, err = New(Config{BaseURL: "http://127.0.0.1:1/v1", ServiceTier: ServiceTierFlex, HTTPClient: &http.Client{Timeout: time.Minute}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.hc.Timeout != time.Minute || c.sendTimeout(false) != 0 {
		t.Errorf("Timeout=%v sendTimeout=%v, want 1m and 0", c.hc.Timeout, c.sendTimeout(false))
	}
}

func TestFlexResendDeadline(t *testing.T) {
	// The re-send on the default tier carries its own, shorter deadline.
	// Compared with each other, not with the clock: the flex request's is
	// FlexTimeout away, the re-send's DefaultRequestTimeout.
	srv := fakeServer(t)
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}})
	var mu sync.Mutex
	var deadlines []time.Time
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		d, ok := r.Context().Deadline()
		if !ok {
			t.Errorf("request without a deadline")
		}
		mu.Lock()
		deadlines = append(deadlines, d)
		mu.Unlock()
		return base.RoundTrip(r)
	})}
	c, _ := newTestClient(t, strings.TrimSuffix(srv.URL(), "/v1"), func(cfg *Config) {
		cfg.ServiceTier = ServiceTierFlex
		cfg.HTTPClient = hc
	})
	if _, err := c.Complete(context.Background(), fakeRequest("a1")); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if len(deadlines) != 2 {
		t.Fatalf("%d requests, want 2", len(deadlines))
	}
	if gap := deadlines[0].Sub(deadlines[1]); gap < FlexTimeout-DefaultRequestTimeout-time.Minute {
		t.Errorf("flex deadline only %v after the re-send's, want about %v", gap, FlexTimeout-DefaultRequestTimeout)
	}
	srv.Verify(t)
}

func TestNewRefusesUnknownServiceTier(t *testing.T) {
	for _, tier := range []string{"priority", "auto", "default", "Flex", " flex", "scale"} {
		t.Run(tier, func(t *testing.T) {
			_, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", ServiceTier: tier})
			if err == nil {
				t.Fatalf("New(ServiceTier: %q) succeeded, want an error", tier)
			}
			for _, want := range []string{`"` + tier + `"`, `"flex"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		})
	}
	for _, tier := range []string{"", ServiceTierFlex} {
		if _, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", ServiceTier: tier}); err != nil {
			t.Errorf("New(ServiceTier: %q): %v", tier, err)
		}
	}
}
