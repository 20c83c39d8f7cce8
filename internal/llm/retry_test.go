package llm

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

func TestRetryHonoursServerDelay(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"Retry-After seconds", 429, map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"retry-after-ms", 429, map[string]string{"retry-after-ms": "150"}, 150 * time.Millisecond},
		{"retry-after-ms preferred", 429, map[string]string{"retry-after-ms": "150", "Retry-After": "5"}, 150 * time.Millisecond},
		{"HTTP date", 503, map[string]string{"Retry-After": now.Add(30 * time.Second).Format(http.TimeFormat)}, 30 * time.Second},
		{"capped at 5 minutes", 429, map[string]string{"Retry-After": "3600"}, 5 * time.Minute},
		// Jitter 0.1 of the first ceiling (500ms) is longer than 0.
		{"backoff when longer", 429, map[string]string{"Retry-After": "0"}, 50 * time.Millisecond},
		{"backoff without header", 500, nil, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if requests.inc() == 1 {
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					writeError(w, tt.status, apiError("try later", "requests", "", nil))
					return
				}
				writeOK(w, "done")
			})
			c, rec := newTestClient(t, srv.URL, nil)
			c.now = func() time.Time { return now }
			reply, err := c.Complete(context.Background(), testRequest())
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff([]time.Duration{tt.want}, rec.Delays()); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
			if reply.Attempts != 2 || reply.Content != "done" {
				t.Errorf("Attempts=%d Content=%q, want 2, done", reply.Attempts, reply.Content)
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	tests := []struct {
		name string
		rand float64
		want []time.Duration
	}{
		{"full ceiling", 1, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}},
		{"quarter", 0.25, []time.Duration{125 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}},
		{"zero", 0, []time.Duration{0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				requests.inc()
				writeError(w, 500, apiError("boom", "server_error", "", nil))
			})
			c, rec := newTestClient(t, srv.URL, func(cfg *Config) {
				cfg.MaxRetries = 5
				cfg.Rand = func() float64 { return tt.rand }
			})
			_, err := c.Complete(context.Background(), testRequest())
			ce := callError(t, err)
			if ce.Reason != "http_500" || ce.Attempts != 6 || requests.get() != 6 {
				t.Errorf("Reason=%q Attempts=%d requests=%d, want http_500 after 6", ce.Reason, ce.Attempts, requests.get())
			}
			if diff := cmp.Diff(tt.want, rec.Delays()); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBackoffBounds(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, 5, 6, 7, 8, 20, 63, 64, 1000} {
		ceiling := backoffCap
		if n < 7 {
			ceiling = backoffBase << n
		}
		seen := map[time.Duration]bool{}
		for range 200 {
			d := c.backoff(n)
			if d < 0 || d > ceiling {
				t.Fatalf("backoff(%d)=%v, want within [0, %v]", n, d, ceiling)
			}
			seen[d] = true
		}
		if len(seen) < 50 {
			t.Errorf("backoff(%d) took %d distinct values in 200 draws, want jitter", n, len(seen))
		}
	}
}

func TestMaxRetries(t *testing.T) {
	tests := []struct {
		maxRetries   int
		wantRequests int
	}{
		{-1, 1},
		{0, DefaultMaxRetries + 1},
		{1, 2},
		{3, 4},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				requests.inc()
				w.Header().Set("Retry-After", "1")
				writeError(w, 429, apiError("Rate limit reached", "requests", "", "rate_limit_exceeded"))
			})
			c, rec := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = tt.maxRetries })
			_, err := c.Complete(context.Background(), testRequest())
			ce := callError(t, err)
			if requests.get() != tt.wantRequests || ce.Attempts != tt.wantRequests {
				t.Errorf("MaxRetries=%d: requests=%d Attempts=%d, want %d", tt.maxRetries, requests.get(), ce.Attempts, tt.wantRequests)
			}
			if got := len(rec.Delays()); got != tt.wantRequests-1 {
				t.Errorf("MaxRetries=%d: %d waits, want %d", tt.maxRetries, got, tt.wantRequests-1)
			}
			if ce.Reason != "http_429" || !ce.Retryable || ce.RetryAfter != time.Second {
				t.Errorf("CallError=%+v, want a retryable http_429 with RetryAfter 1s", ce)
			}
		})
	}
}

func TestNoRetry(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"400", 400, apiError("bad", "invalid_request_error", "", nil)},
		{"401", 401, apiError("Incorrect API key provided", "invalid_request_error", "", "invalid_api_key")},
		{"403", 403, apiError("forbidden", "invalid_request_error", "", nil)},
		{"404", 404, apiError("no such model", "invalid_request_error", "", "model_not_found")},
		{"insufficient_quota", 429, apiError("You exceeded your current quota", "insufficient_quota", "", "insufficient_quota")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				requests.inc()
				writeError(w, tt.status, tt.body)
			})
			c, rec := newTestClient(t, srv.URL, nil)
			_, err := c.Complete(context.Background(), testRequest())
			callError(t, err)
			if requests.get() != 1 || len(rec.Delays()) != 0 {
				t.Errorf("requests=%d waits=%d, want 1 and 0", requests.get(), len(rec.Delays()))
			}
		})
	}
}

func TestRetryThenSucceed(t *testing.T) {
	tests := []struct {
		name  string
		first func(t *testing.T, w http.ResponseWriter, r *http.Request)
		mod   func(*Config)
	}{
		{"dropped connection", func(t *testing.T, w http.ResponseWriter, r *http.Request) { hijackClose(t, w) }, nil},
		{"truncated body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, okBody("complete reply")[:60])
		}, nil},
		{"malformed body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"choices": nope}`)
		}, nil},
		{"502 HTML", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><body><h1>502 Bad Gateway</h1></body></html>")
		}, nil},
		{"429", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			writeError(w, 429, apiError("Rate limit reached", "tokens", "", "rate_limit_exceeded"))
		}, nil},
		{"408", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			writeError(w, 408, apiError("request timeout", "", "", nil))
		}, nil},
		{"timeout", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
			stallUntilGone(r)
		}, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if requests.inc() == 1 {
					tt.first(t, w, r)
					return
				}
				writeOK(w, "complete reply")
			})
			c, rec := newTestClient(t, srv.URL, tt.mod)
			reply, err := c.Complete(context.Background(), testRequest())
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if reply.Content != "complete reply" || reply.Attempts != 2 || requests.get() != 2 {
				t.Errorf("Content=%q Attempts=%d requests=%d, want the reply after 2", reply.Content, reply.Attempts, requests.get())
			}
			if len(rec.Delays()) != 1 {
				t.Errorf("waits=%d, want 1", len(rec.Delays()))
			}
		})
	}
}

func TestCancelDuringRetryWait(t *testing.T) {
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		w.Header().Set("Retry-After", "300")
		writeError(w, 429, apiError("Rate limit reached", "requests", "", "rate_limit_exceeded"))
	})
	waiting := make(chan struct{})
	var once sync.Once
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
		// The real wait, announced: the test cancels once it has begun.
		cfg.Sleep = func(ctx context.Context, d time.Duration) error {
			if d != 5*time.Minute {
				t.Errorf("wait=%v, want the server's 5m", d)
			}
			once.Do(func() { close(waiting) })
			return sleepCtx(ctx, d)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-waiting
		cancel()
	}()
	_, err := c.Complete(ctx, testRequest())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
	var ce *jobs.CallError
	if errors.As(err, &ce) {
		t.Errorf("err=%v is a CallError, want the context's error", err)
	}
	if requests.get() != 1 {
		t.Errorf("requests=%d, want 1", requests.get())
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Errorf("sleepCtx(0)=%v, want nil", err)
	}
	if err := sleepCtx(context.Background(), time.Microsecond); err != nil {
		t.Errorf("sleepCtx(1µs)=%v, want nil", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleepCtx on a cancelled ctx=%v, want context.Canceled", err)
	}
}

func TestNoWaitPastCallerDeadline(t *testing.T) {
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		w.Header().Set("Retry-After", "300")
		writeError(w, 429, apiError("Rate limit reached", "requests", "", "rate_limit_exceeded"))
	})
	c, rec := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Complete(ctx, testRequest())
	ce := callError(t, err)
	if ce.Reason != "http_429" || ce.RetryAfter != 5*time.Minute || requests.get() != 1 || len(rec.Delays()) != 0 {
		t.Errorf("CallError=%+v requests=%d waits=%v, want the 429 at once", ce, requests.get(), rec.Delays())
	}
}
