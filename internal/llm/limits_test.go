package llm

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestInsecureURL(t *testing.T) {
	for _, tt := range []struct {
		base string
		want bool
	}{
		{"http://10.1.2.3/v1", true},
		{"http://gpu-box.lan:8000/v1", true},
		{"HTTP://Example.COM/v1", true},
		{"http://[2001:db8::1]:8000/v1", true},
		{"http://127.0.0.1:8089/v1", false},
		{"http://127.8.9.10/v1", false},
		{"http://localhost:11434/v1", false},
		{"http://LOCALHOST./v1", false},
		{"http://[::1]:8000/v1", false},
		{"http://[::ffff:127.0.0.1]:8000/v1", false},
		{"https://10.1.2.3/v1", false},
		{"https://api.openai.com/v1", false},
		{"", false},     // OpenAI's, https
		{"://x", false}, // invalid: New refuses it
	} {
		if got := InsecureURL(tt.base); got != tt.want {
			t.Errorf("InsecureURL(%q)=%v, want %v", tt.base, got, tt.want)
		}
	}
}

func TestNewWarnsOnPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		base string
		warn bool
	}{
		{"http://10.1.2.3/v1", true},
		{"http://user:hunter2-password@10.1.2.3/v1", true},
		{"http://127.0.0.1:8089/v1", false},
		{"http://localhost:11434/v1", false},
		{"http://[::1]:8000/v1", false},
		{"https://10.1.2.3/v1", false},
	} {
		t.Run(tt.base, func(t *testing.T) {
			var logs safeBuffer
			_, err := New(Config{BaseURL: tt.base, APIKey: testKey, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got := logs.String()
			if warned := strings.Contains(got, "level=WARN") && strings.Contains(got, "unencrypted"); warned != tt.warn {
				t.Errorf("warned=%v, want %v; logs:\n%s", warned, tt.warn, got)
			}
			if tt.warn && !strings.Contains(got, "host=10.1.2.3") {
				t.Errorf("the warning does not name the host:\n%s", got)
			}
			for _, secret := range []string{testKey, "hunter2"} {
				if strings.Contains(got, secret) {
					t.Errorf("logs show %q:\n%s", secret, got)
				}
			}
		})
	}
}

func TestTransportTimeouts(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1", RequestTimeout: 42 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.tr.base.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T, want *http.Transport", c.tr.base)
	}
	for _, tt := range []struct {
		name      string
		got, want time.Duration
	}{
		{"http.Client.Timeout", c.hc.Timeout, 42 * time.Second},
		{"ResponseHeaderTimeout", tr.ResponseHeaderTimeout, 42 * time.Second},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, tlsHandshakeTimeout},
		{"IdleConnTimeout", tr.IdleConnTimeout, idleConnTimeout},
	} {
		if tt.got != tt.want || tt.got <= 0 {
			t.Errorf("%s=%v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if tr.DialContext == nil {
		t.Errorf("DialContext is nil: dials would have no timeout of their own (want %v)", dialTimeout)
	}
	if tr.MaxResponseHeaderBytes != maxHeaderBytes {
		t.Errorf("MaxResponseHeaderBytes=%d, want %d", tr.MaxResponseHeaderBytes, maxHeaderBytes)
	}
	if c.tr.limit != MaxReplyBytes {
		t.Errorf("reply limit=%d, want %d", c.tr.limit, MaxReplyBytes)
	}
}

// guard runs f and fails the test if it takes longer than d: a hang would
// otherwise last until go test's own timeout. It is a guard only; the
// client's limits are what must end f.
func guard(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
		return nil
	}
}

// TestEndlessReply checks that a server sending a reply body without end
// (success or error status) gets a clear error once MaxReplyBytes have come,
// in bounded memory, without a retry of the same reply and without hanging.
func TestEndlessReply(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		prefix  string
		want    classified
		wantMsg string
	}{
		{"200", 200, `{"id":"chatcmpl-1","object":"chat.completion","model":"`,
			classified{Reason: ReasonInvalidReply, Status: 200, Attempts: 1}, "reply body larger than 32 MiB"},
		{"500", 500, `{"error":{"message":"`,
			classified{Reason: "http_500", Status: 500, Retryable: true, Attempts: 1}, "read error reply: reply body larger than 32 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent atomic.Int64
			chunk := []byte(strings.Repeat("ا", 32<<10)) // 64 KiB of Arabic letters
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				stop := r.Context().Done()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				n, _ := w.Write([]byte(tt.prefix))
				sent.Add(int64(n))
				for {
					select {
					case <-stop:
						return
					default:
					}
					n, err := w.Write(chunk)
					sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			})
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
				cfg.MaxRetries = -1 // the 500 would be retried: one attempt is what is measured
				cfg.RequestTimeout = time.Minute
			})

			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var peak atomic.Uint64
			stopSampling := make(chan struct{})
			sampled := make(chan struct{})
			go func() {
				defer close(sampled)
				var m runtime.MemStats
				for {
					runtime.ReadMemStats(&m)
					if m.HeapInuse > peak.Load() {
						peak.Store(m.HeapInuse)
					}
					select {
					case <-stopSampling:
						return
					case <-time.After(2 * time.Millisecond):
					}
				}
			}()
			start := time.Now()
			err := guard(t, 30*time.Second, func() error {
				_, err := c.Complete(context.Background(), testRequest())
				return err
			})
			elapsed := time.Since(start)
			close(stopSampling)
			<-sampled
			runtime.ReadMemStats(&after)

			ce := callError(t, err)
			if diff := classifiedOf(ce); diff != tt.want {
				t.Errorf("CallError=%+v, want %+v (error: %v)", diff, tt.want, ce)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("Message=%q, want it to contain %q", ce.Message, tt.wantMsg)
			}
			if strings.Contains(ce.Message, "ا") {
				t.Errorf("Message carries the body: %.200q", ce.Message)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			peakGrowth := int64(peak.Load()) - int64(before.HeapInuse)
			t.Logf("failed after %v; server sent %.1f MiB; allocated %.1f MiB in all; heap in use grew by %.1f MiB at most",
				elapsed.Round(time.Millisecond), mib(sent.Load()), mib(int64(allocated)), mib(peakGrowth))
			// The body is read once, up to MaxReplyBytes, but go-openai's
			// json.Decoder doubles its buffer on the way there (a last
			// buffer of 64 MiB, 128 MiB allocated in all for a 2xx).
			if limit := uint64(5 * MaxReplyBytes); allocated > limit {
				t.Errorf("allocated %.1f MiB reading the reply, want at most %.0f MiB", mib(int64(allocated)), mib(int64(limit)))
			}
			if limit := int64(2 * MaxReplyBytes); sent.Load() > limit {
				t.Errorf("the server could send %.1f MiB: the client kept reading", mib(sent.Load()))
			}
		})
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// TestNoResponseHeaders checks that a server that takes the request and
// never answers is given up on at the request timeout.
func TestNoResponseHeaders(t *testing.T) {
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		stallUntilGone(r)
	})
	const timeout = 300 * time.Millisecond
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.MaxRetries = -1
		cfg.RequestTimeout = timeout
	})
	start := time.Now()
	err := guard(t, 30*time.Second, func() error {
		_, err := c.Complete(context.Background(), testRequest())
		return err
	})
	elapsed := time.Since(start)
	ce := callError(t, err)
	if want := (classified{Reason: ReasonTimeout, Retryable: true, Attempts: 1}); classifiedOf(ce) != want {
		t.Errorf("CallError=%+v, want %+v (error: %v)", classifiedOf(ce), want, ce)
	}
	if elapsed < timeout || elapsed > timeout+5*time.Second {
		t.Errorf("gave up after %v, want about the request timeout, %v", elapsed, timeout)
	}
	if requests.get() != 1 {
		t.Errorf("requests=%d, want 1", requests.get())
	}
}

// TestDeclaredTooLarge checks that a reply whose Content-Length passes
// MaxReplyBytes fails without its body being read.
func TestDeclaredTooLarge(t *testing.T) {
	var sent atomic.Int64
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "10000000000") // 10 GB
		w.WriteHeader(200)
		chunk := make([]byte, 64<<10)
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
	err := guard(t, 30*time.Second, func() error {
		_, err := c.Complete(context.Background(), testRequest())
		return err
	})
	ce := callError(t, err)
	if want := (classified{Reason: ReasonInvalidReply, Status: 200, Attempts: 1}); classifiedOf(ce) != want {
		t.Errorf("CallError=%+v, want %+v (error: %v)", classifiedOf(ce), want, ce)
	}
	if !strings.Contains(ce.Message, "larger than 32 MiB") {
		t.Errorf("Message=%q, want the size limit", ce.Message)
	}
	if sent.Load() > MaxReplyBytes/2 {
		t.Errorf("the server could send %.1f MiB: the body was read", mib(sent.Load()))
	}
}
