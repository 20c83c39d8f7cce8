package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/jobs"
)

// classified is the part of a *jobs.CallError that a test compares.
type classified struct {
	Reason     string
	Status     int
	Fatal      bool
	Retryable  bool
	RetryAfter time.Duration
	Attempts   int
}

func classifiedOf(ce *jobs.CallError) classified {
	return classified{ce.Reason, ce.Status, ce.Fatal, ce.Retryable, ce.RetryAfter, ce.Attempts}
}

func TestClassifyHTTP(t *testing.T) {
	const nginx502 = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
	tests := []struct {
		name        string
		status      int
		header      map[string]string
		body        string
		want        classified
		wantMessage []string // substrings of Message
	}{
		{
			name: "400", status: 400,
			body:        apiError("Invalid value for 'messages'.", "invalid_request_error", "messages", nil),
			want:        classified{Reason: "http_400", Status: 400, Attempts: 1},
			wantMessage: []string{"Invalid value for 'messages'."},
		},
		{
			name: "400 context length keeps the code", status: 400,
			body:        apiError("This model's maximum context length is 8192 tokens.", "invalid_request_error", "messages", "context_length_exceeded"),
			want:        classified{Reason: "http_400", Status: 400, Attempts: 1},
			wantMessage: []string{"maximum context length", "context_length_exceeded"},
		},
		{
			name: "401 rejected key is fatal", status: 401,
			body:        apiError("Incorrect API key provided: sk-test-***cdef.", "invalid_request_error", "", "invalid_api_key"),
			want:        classified{Reason: "http_401", Status: 401, Fatal: true, Attempts: 1},
			wantMessage: []string{"API key was rejected", "OPENAI_API_KEY", "--api-key", "Incorrect API key provided"},
		},
		{
			name: "403", status: 403,
			body:        apiError("Country, region, or territory not supported", "request_forbidden", "", "unsupported_country_region_territory"),
			want:        classified{Reason: "http_403", Status: 403, Attempts: 1},
			wantMessage: []string{"not supported"},
		},
		{
			name: "404 unknown model", status: 404,
			body:        apiError("The model `gpt-9` does not exist or you do not have access to it.", "invalid_request_error", "", "model_not_found"),
			want:        classified{Reason: "http_404", Status: 404, Fatal: true, Attempts: 1},
			wantMessage: []string{"gpt-9", "no such model", "--model"},
		},
		{
			name: "404 Ollama's plain error string", status: 404,
			body:        `{"error":"model \"qwen3\" not found, try pulling it first"}`,
			want:        classified{Reason: "http_404", Status: 404, Fatal: true, Attempts: 1},
			wantMessage: []string{`model "qwen3" not found`},
		},
		{
			name: "404 a wrong path fails only its row", status: 404,
			body:        `{"error":{"message":"Invalid URL (POST /v1/v1/chat/completions)","type":"invalid_request_error","param":null,"code":null}}`,
			want:        classified{Reason: "http_404", Status: 404, Attempts: 1},
			wantMessage: []string{"Invalid URL"},
		},
		{
			name: "400 vLLM's top-level error", status: 400,
			body:        `{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}`,
			want:        classified{Reason: "http_400", Status: 400, Attempts: 1},
			wantMessage: []string{"max_tokens is too large"},
		},
		{
			name: "408 is retried", status: 408, body: apiError("timeout", "server_error", "", nil),
			want: classified{Reason: "http_408", Status: 408, Retryable: true, Attempts: 1},
		},
		{
			name: "409 is retried", status: 409, body: apiError("conflict", "server_error", "", nil),
			want: classified{Reason: "http_409", Status: 409, Retryable: true, Attempts: 1},
		},
		{
			name: "422 fails the row", status: 422, body: apiError("unprocessable", "invalid_request_error", "", nil),
			want: classified{Reason: "http_422", Status: 422, Attempts: 1},
		},
		{
			name: "429 rate limit with Retry-After", status: 429, header: map[string]string{"Retry-After": "7"},
			body:        apiError("Rate limit reached for requests", "requests", "", "rate_limit_exceeded"),
			want:        classified{Reason: "http_429", Status: 429, Retryable: true, RetryAfter: 7 * time.Second, Attempts: 1},
			wantMessage: []string{"Rate limit reached"},
		},
		{
			name: "429 insufficient_quota is fatal", status: 429,
			body:        apiError("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "", "insufficient_quota"),
			want:        classified{Reason: "insufficient_quota", Status: 429, Fatal: true, Attempts: 1},
			wantMessage: []string{"exceeded your current quota"},
		},
		{
			name: "insufficient_quota by type only", status: 429,
			body: apiError("quota", "insufficient_quota", "", nil),
			want: classified{Reason: "insufficient_quota", Status: 429, Fatal: true, Attempts: 1},
		},
		{
			name: "500", status: 500, body: apiError("The server had an error while processing your request.", "server_error", "", nil),
			want: classified{Reason: "http_500", Status: 500, Retryable: true, Attempts: 1},
		},
		{
			name: "502 HTML from a proxy", status: 502, header: map[string]string{"Content-Type": "text/html"},
			body:        nginx502,
			want:        classified{Reason: "http_502", Status: 502, Retryable: true, Attempts: 1},
			wantMessage: []string{"Bad Gateway: 502 Bad Gateway 502 Bad Gateway nginx/1.25.3"},
		},
		{
			name: "503 with retry-after-ms", status: 503, header: map[string]string{"retry-after-ms": "1500"},
			body: "upstream connect error",
			want: classified{Reason: "http_503", Status: 503, Retryable: true, RetryAfter: 1500 * time.Millisecond, Attempts: 1},
		},
		{
			name: "504 empty body", status: 504,
			want:        classified{Reason: "http_504", Status: 504, Retryable: true, Attempts: 1},
			wantMessage: []string{"Gateway Timeout"},
		},
		{
			name: "200 truncated body", status: 200,
			body:        `{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hel`,
			want:        classified{Reason: "invalid_reply", Status: 200, Retryable: true, Attempts: 1},
			wantMessage: []string{"undecodable reply"},
		},
		{
			name: "200 not JSON", status: 200, body: "<html>hello</html>",
			want: classified{Reason: "invalid_reply", Status: 200, Retryable: true, Attempts: 1},
		},
		{
			name: "200 empty body", status: 200,
			want: classified{Reason: "invalid_reply", Status: 200, Retryable: true, Attempts: 1},
		},
		{
			name: "200 without choices", status: 200, body: `{"model":"m","choices":[]}`,
			want:        classified{Reason: "invalid_reply", Status: 200, Retryable: true, Attempts: 1},
			wantMessage: []string{"no choices"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if w.Header().Get("Content-Type") == "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
			_, err := c.Complete(context.Background(), testRequest())
			ce := callError(t, err)
			if diff := cmp.Diff(tt.want, classifiedOf(ce)); diff != "" {
				t.Errorf("CallError (-want +got):\n%s\nerror: %v", diff, ce)
			}
			for _, s := range tt.wantMessage {
				if !strings.Contains(ce.Message, s) {
					t.Errorf("Message=%q, want it to contain %q", ce.Message, s)
				}
			}
			if ce.Message == "" {
				t.Errorf("empty Message")
			}
			if !strings.HasPrefix(ce.Error(), ce.Reason+": ") {
				t.Errorf("Error()=%q, want it to start with %q", ce.Error(), ce.Reason+": ")
			}
		})
	}
}

func TestGoOpenAIErrorsReachable(t *testing.T) {
	// The go-openai errors stay reachable with errors.As beneath the
	// CallError.
	tests := []struct {
		name   string
		status int
		body   string
		check  func(error) bool
	}{
		{"APIError", 400, apiError("bad", "invalid_request_error", "", nil), func(err error) bool {
			var e *openai.APIError
			return errors.As(err, &e) && e.HTTPStatusCode == 400
		}},
		{"RequestError", 502, "<html>bad gateway</html>", func(err error) bool {
			var e *openai.RequestError
			return errors.As(err, &e) && e.HTTPStatusCode == 502
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { writeError(w, tt.status, tt.body) })
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
			_, err := c.Complete(context.Background(), testRequest())
			if !tt.check(err) {
				t.Errorf("errors.As(*openai.%s) failed on %v", tt.name, err)
			}
		})
	}
}

func TestClassifyTransport(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T) (base string, mod func(*Config))
		want    classified
		wantMsg string
	}{
		{
			name: "dropped connection",
			setup: func(t *testing.T) (string, func(*Config)) {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { hijackClose(t, w) })
				return srv.URL, nil
			},
			want: classified{Reason: "connection", Retryable: true, Attempts: 1},
		},
		{
			name: "connection refused",
			setup: func(t *testing.T) (string, func(*Config)) {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr := l.Addr().String()
				l.Close()
				return "http://" + addr, nil
			},
			want: classified{Reason: "connection", Retryable: true, Attempts: 1},
		},
		{
			name: "unknown host is not retried",
			setup: func(t *testing.T) (string, func(*Config)) {
				hc := &http.Client{Transport: &http.Transport{
					DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						return nil, &net.OpError{Op: "dial", Net: network,
							Err: &net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}}
					},
				}}
				return "http://nowhere.invalid", func(cfg *Config) { cfg.HTTPClient = hc }
			},
			want:    classified{Reason: "connection", Attempts: 1},
			wantMsg: "no such host",
		},
		{
			name: "no response headers within the request timeout",
			setup: func(t *testing.T) (string, func(*Config)) {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) { stallUntilGone(r) })
				return srv.URL, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond }
			},
			want:    classified{Reason: "timeout", Retryable: true, Attempts: 1},
			wantMsg: "timeout",
		},
		{
			name: "body stalls past the request timeout",
			setup: func(t *testing.T) (string, func(*Config)) {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"id":"x","choices":[`)
					w.(http.Flusher).Flush()
					<-r.Context().Done()
				})
				return srv.URL, func(cfg *Config) { cfg.RequestTimeout = 50 * time.Millisecond }
			},
			want: classified{Reason: "timeout", Status: 200, Retryable: true, Attempts: 1},
		},
		{
			name: "server connection reset mid-body",
			setup: func(t *testing.T) (string, func(*Config)) {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					conn, buf, err := w.(http.Hijacker).Hijack()
					if err != nil {
						t.Error(err)
						return
					}
					buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\":\"x\",")
					buf.Flush()
					conn.Close()
				})
				return srv.URL, nil
			},
			want: classified{Reason: "invalid_reply", Status: 200, Retryable: true, Attempts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, mod := tt.setup(t)
			c, _ := newTestClient(t, base, func(cfg *Config) {
				cfg.MaxRetries = -1
				if mod != nil {
					mod(cfg)
				}
			})
			_, err := c.Complete(context.Background(), testRequest())
			ce := callError(t, err)
			if diff := cmp.Diff(tt.want, classifiedOf(ce)); diff != "" {
				t.Errorf("CallError (-want +got):\n%s\nerror: %v", diff, ce)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("Message=%q, want it to contain %q", ce.Message, tt.wantMsg)
			}
		})
	}
}

func TestCallerCancelInFlight(t *testing.T) {
	started := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		stallUntilGone(r)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
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
}

func TestReplyTooLarge(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   classified
	}{
		{"200", 200, classified{Reason: "invalid_reply", Status: 200, Attempts: 1}},
		{"500", 500, classified{Reason: "http_500", Status: 500, Retryable: true, Attempts: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				requests.inc()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, okBody(strings.Repeat("x", 1000)))
			})
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
				if tt.status != 200 {
					cfg.MaxRetries = -1
				}
			})
			c.tr.limit = 256
			_, err := c.Complete(context.Background(), testRequest())
			ce := callError(t, err)
			if diff := cmp.Diff(tt.want, classifiedOf(ce)); diff != "" {
				t.Errorf("CallError (-want +got):\n%s\nerror: %v", diff, ce)
			}
			if !strings.Contains(ce.Message, "larger than 32 MiB") {
				t.Errorf("Message=%q, want the size limit", ce.Message)
			}
			if requests.get() != 1 {
				t.Errorf("requests=%d, want 1", requests.get())
			}
		})
	}
}

func TestConcurrentCallsKeepTheirHeaders(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body := decodeBody(t, r)
		msgs := body["messages"].([]any)
		n := msgs[1].(map[string]any)["content"].(string)
		w.Header().Set("Retry-After", n)
		writeError(w, 429, apiError("slow down "+n, "requests", "", nil))
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1 })
	var wg sync.WaitGroup
	for i := 1; i <= 16; i++ {
		wg.Go(func() {
			req := testRequest()
			req.Messages[1].Content = strconv.Itoa(i)
			_, err := c.Complete(context.Background(), req)
			var ce *jobs.CallError
			if !errors.As(err, &ce) {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if want := time.Duration(i) * time.Second; ce.RetryAfter != want {
				t.Errorf("call %d: RetryAfter=%v, want %v", i, ce.RetryAfter, want)
			}
			if want := fmt.Sprintf("slow down %d", i); ce.Message != want {
				t.Errorf("call %d: Message=%q, want %q", i, ce.Message, want)
			}
		})
	}
	wg.Wait()
}

func TestKeyNeverInErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"400 echoes the key", 400, apiError("Invalid request from key "+testKey, "invalid_request_error", "", nil)},
		{"401 echoes the key", 401, apiError("Incorrect API key provided: "+testKey+".", "invalid_request_error", "", "invalid_api_key")},
		{"502 HTML echoes the key", 502, "<html><body>Authorization: Bearer " + testKey + "</body></html>"},
		{"500 after retries", 500, apiError("key "+testKey+" broke us", "server_error", "", nil)},
		{"vLLM style", 400, `{"object":"error","message":"bad key ` + testKey + `","code":400}`},
		{"response_format fall-back logs the message", 400, apiError("response_format not supported for "+testKey, "invalid_request_error", "response_format", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Echo", testKey)
				writeError(w, tt.status, tt.body)
			})
			var logs safeBuffer
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = 1; cfg.Logger = textLogger(&logs) })
			_, err := c.Complete(context.Background(), schemaRequest())
			ce := callError(t, err)
			texts := map[string]string{
				"Error()":     err.Error(),
				"%+v":         fmt.Sprintf("%+v", err),
				"Message":     ce.Message,
				"Err.Error()": ce.Err.Error(),
				"logs":        logs.String(),
			}
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				texts[fmt.Sprintf("unwrapped %T", e)] = e.Error()
			}
			for where, s := range texts {
				if strings.Contains(s, testKey) {
					t.Errorf("%s holds the key: %s", where, s)
				}
			}
			if !strings.Contains(ce.Message, redacted) {
				t.Errorf("Message=%q, want %s where the key was", ce.Message, redacted)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{"fractional seconds", http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{"milliseconds", http.Header{"Retry-After-Ms": {"150"}}, 150 * time.Millisecond},
		{"milliseconds preferred", http.Header{"Retry-After-Ms": {"150"}, "Retry-After": {"5"}}, 150 * time.Millisecond},
		{"bad milliseconds fall back to seconds", http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"5"}}, 5 * time.Second},
		{"HTTP date", http.Header{"Retry-After": {now.Add(30 * time.Second).Format(http.TimeFormat)}}, 30 * time.Second},
		{"HTTP date in the past", http.Header{"Retry-After": {now.Add(-time.Hour).Format(http.TimeFormat)}}, 0},
		{"capped", http.Header{"Retry-After": {"86400"}}, 5 * time.Minute},
		{"negative", http.Header{"Retry-After": {"-3"}}, 0},
		{"garbage", http.Header{"Retry-After": {"later"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Errorf("retryAfter(%v)=%v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	long := "<p>" + strings.Repeat("ب", 500) + "</p>"
	if got := excerpt([]byte(long)); len([]rune(got)) != maxExcerpt+1 || !strings.HasSuffix(got, "…") {
		t.Errorf("excerpt of a long body has %d runes, want %d and an ellipsis", len([]rune(got)), maxExcerpt+1)
	}
	if got, want := excerpt([]byte("<h1>Service\n  Unavailable</h1>")), "Service Unavailable"; got != want {
		t.Errorf("excerpt=%q, want %q", got, want)
	}
}
