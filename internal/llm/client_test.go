package llm

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

func TestCompleteRequestBody(t *testing.T) {
	schema := schemaRequest().Schema
	tests := []struct {
		name   string
		change func(*jobs.Request)
		want   map[string]any // expected fields; nil value means absent
	}{
		{
			name:   "zero temperature is sent as a tiny value",
			change: func(r *jobs.Request) {},
			want:   map[string]any{"temperature": 1e-6, "max_tokens": nil, "max_completion_tokens": nil, "response_format": nil},
		},
		{
			name:   "temperature and max_tokens as given",
			change: func(r *jobs.Request) { r.Temperature = 0.25; r.MaxTokens = 100 },
			want:   map[string]any{"temperature": 0.25, "max_tokens": float64(100), "max_completion_tokens": nil},
		},
		{
			name:   "schema asks for strict structured outputs",
			change: func(r *jobs.Request) { r.Schema = schema },
			want: map[string]any{"response_format": map[string]any{
				"type": "json_schema",
				"json_schema": map[string]any{
					"name":   "key_points",
					"strict": true,
					"schema": mustJSON(t, schema.JSON),
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got map[string]any
			var auth, path string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				auth, path = r.Header.Get("Authorization"), r.URL.Path
				got = decodeBody(t, r)
				writeOK(w, "hello")
			})
			c, _ := newTestClient(t, srv.URL, nil)
			req := testRequest()
			tt.change(&req)
			if _, err := c.Complete(context.Background(), req); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if want := "Bearer " + testKey; auth != want {
				t.Errorf("Authorization=%q, want %q", auth, want)
			}
			if want := "/v1/chat/completions"; path != want {
				t.Errorf("path=%q, want %q", path, want)
			}
			if got["model"] != "test-model" {
				t.Errorf("model=%v, want test-model", got["model"])
			}
			wantMsgs := []any{
				map[string]any{"role": "system", "content": "Translate to English."},
				map[string]any{"role": "user", "content": "مرحبا"},
			}
			if diff := cmp.Diff(wantMsgs, got["messages"]); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			for k, want := range tt.want {
				v, ok := got[k]
				if want == nil {
					if ok {
						t.Errorf("%s=%v, want absent", k, v)
					}
					continue
				}
				if f, isFloat := want.(float64); isFloat && k == "temperature" {
					if g, _ := v.(float64); g < f*0.999 || g > f*1.001 {
						t.Errorf("temperature=%v, want %v", v, f)
					}
					continue
				}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNoKeyNoAuthorization(t *testing.T) {
	var auth []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Values("Authorization")
		writeOK(w, "hi")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.APIKey = "" })
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if len(auth) != 0 {
		t.Errorf("Authorization=%q, want none", auth)
	}
}

func TestCompleteReply(t *testing.T) {
	tests := []struct {
		name string
		body string
		want jobs.Reply
	}{
		{
			name: "content, finish reason, model and usage",
			body: okBody("Hello, world."),
			want: jobs.Reply{Content: "Hello, world.", FinishReason: "stop", Model: "test-model-2024",
				Usage: jobs.Usage{PromptTokens: 11, CompletionTokens: 7}, Attempts: 1},
		},
		{
			name: "cut off by the token limit",
			body: `{"model":"m","choices":[{"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":1}}`,
			want: jobs.Reply{Content: "Hel", FinishReason: "length", Model: "m",
				Usage: jobs.Usage{PromptTokens: 5, CompletionTokens: 1}, Attempts: 1},
		},
		{
			name: "no usage from a local server",
			body: `{"model":"llama","choices":[{"message":{"role":"assistant","content":"x"},"finish_reason":"stop"}]}`,
			want: jobs.Reply{Content: "x", FinishReason: "stop", Model: "llama", Attempts: 1},
		},
		{
			name: "refusal of structured outputs",
			body: `{"model":"m","choices":[{"message":{"role":"assistant","content":null,"refusal":"I'm sorry, I can't help with that."},"finish_reason":"stop"}]}`,
			want: jobs.Reply{Content: "I'm sorry, I can't help with that.", FinishReason: "stop", Model: "m", Attempts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			})
			c, _ := newTestClient(t, srv.URL, nil)
			got, err := c.Complete(context.Background(), testRequest())
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// dialTo returns a client that connects every host name to srv, so that a
// base URL with any host reaches the test server and nothing else.
func dialTo(addr string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}}
}

func TestAzure(t *testing.T) {
	tests := []struct {
		name       string
		base       string
		apiVersion string
		model      string
		wantPath   string
		wantVer    string
	}{
		{"openai.azure.com", "http://tarjama.openai.azure.com", "", "prod-gpt4o", "/openai/deployments/prod-gpt4o/chat/completions", DefaultAzureAPIVersion},
		{"trailing /openai/ and dotted deployment", "http://tarjama.openai.azure.com/openai/", "", "gpt-3.5-turbo", "/openai/deployments/gpt-3.5-turbo/chat/completions", DefaultAzureAPIVersion},
		{"cognitiveservices with a version", "http://x.cognitiveservices.azure.com/", "2025-01-01-preview", "mini", "/openai/deployments/mini/chat/completions", "2025-01-01-preview"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, ver, apiKey, host string
			var auth []string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				path, ver, host = r.URL.Path, r.URL.Query().Get("api-version"), r.Host
				apiKey, auth = r.Header.Get("api-key"), r.Header.Values("Authorization")
				writeOK(w, "ok")
			})
			c, err := New(Config{BaseURL: tt.base, APIKey: testKey, APIVersion: tt.apiVersion,
				HTTPClient: dialTo(srv.Listener.Addr().String())})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			req := testRequest()
			req.Model = tt.model
			if _, err := c.Complete(context.Background(), req); err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if path != tt.wantPath {
				t.Errorf("path=%q, want %q", path, tt.wantPath)
			}
			if ver != tt.wantVer {
				t.Errorf("api-version=%q, want %q", ver, tt.wantVer)
			}
			if apiKey != testKey || len(auth) != 0 {
				t.Errorf("api-key=%q Authorization=%q, want the key in api-key only", apiKey, auth)
			}
			if !strings.HasSuffix(host, ".azure.com") {
				t.Errorf("Host=%q, want the Azure host", host)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestNewDefaultsToOpenAI(t *testing.T) {
	var got string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(okBody("ok"))), Request: r}, nil
	})}
	c, err := New(Config{APIKey: testKey, HTTPClient: hc})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if _, err := c.Complete(context.Background(), testRequest()); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if want := "https://api.openai.com/v1/chat/completions"; got != want {
		t.Errorf("URL=%q, want %q", got, want)
	}
	if c.maxRetries != DefaultMaxRetries {
		t.Errorf("maxRetries=%d, want %d", c.maxRetries, DefaultMaxRetries)
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{BaseURL: "http://127.0.0.1:1/v1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.maxRetries != DefaultMaxRetries {
		t.Errorf("maxRetries=%d, want %d", c.maxRetries, DefaultMaxRetries)
	}
	c, err = New(Config{BaseURL: "http://127.0.0.1:1/v1", MaxRetries: -1})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.maxRetries != 0 {
		t.Errorf("maxRetries=%d with -1, want 0", c.maxRetries)
	}
	if got := c.tr.limit; got != MaxReplyBytes {
		t.Errorf("reply limit=%d, want %d", got, MaxReplyBytes)
	}
}

func TestNewInvalidURL(t *testing.T) {
	for _, base := range []string{"://nope", "ftp://example.com/v1", "http://", "localhost:11434/v1", "http://[::1"} {
		t.Run(base, func(t *testing.T) {
			_, err := New(Config{BaseURL: base, APIKey: testKey})
			if err == nil {
				t.Fatalf("New(%q) succeeded, want an error", base)
			}
			if !strings.Contains(err.Error(), base) {
				t.Errorf("error %q does not name %q", err, base)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q holds the key", err)
			}
		})
	}
}

// formatOf returns the response_format type of a request body, or "none".
func formatOf(body map[string]any) string {
	rf, ok := body["response_format"].(map[string]any)
	if !ok {
		return "none"
	}
	s, _ := rf["type"].(string)
	return s
}

func TestStructuredOutputFallback(t *testing.T) {
	tests := []struct {
		name       string
		reject     map[string]bool // response_format types the server rejects
		wantFirst  []string        // formats sent by the first call
		wantLater  []string        // formats sent by the next call
		wantLogged []string
	}{
		{
			name:       "json_schema rejected: JSON mode",
			reject:     map[string]bool{"json_schema": true},
			wantFirst:  []string{"json_schema", "json_object"},
			wantLater:  []string{"json_object"},
			wantLogged: []string{"structured outputs rejected"},
		},
		{
			name:       "json_schema and json_object rejected: none",
			reject:     map[string]bool{"json_schema": true, "json_object": true},
			wantFirst:  []string{"json_schema", "json_object", "none"},
			wantLater:  []string{"none"},
			wantLogged: []string{"structured outputs rejected", "JSON mode rejected"},
		},
		{
			name:      "structured outputs accepted",
			reject:    map[string]bool{},
			wantFirst: []string{"json_schema"},
			wantLater: []string{"json_schema"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var sent []string
			var msgCounts []int
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				body := decodeBody(t, r)
				f := formatOf(body)
				mu.Lock()
				sent = append(sent, f)
				msgs, _ := body["messages"].([]any)
				msgCounts = append(msgCounts, len(msgs))
				mu.Unlock()
				if tt.reject[f] {
					writeError(w, 400, apiError("Invalid parameter: 'response_format' of type '"+f+"' is not supported with this model.",
						"invalid_request_error", "response_format", nil))
					return
				}
				writeOK(w, `{"points":["a"]}`)
			})
			var logs safeBuffer
			// No retries: the fall-backs do not count as retries.
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1; cfg.Logger = textLogger(&logs) })

			reply, err := c.Complete(context.Background(), schemaRequest())
			if err != nil {
				t.Fatalf("first Complete: %v", err)
			}
			if reply.Attempts != len(tt.wantFirst) {
				t.Errorf("Attempts=%d, want %d", reply.Attempts, len(tt.wantFirst))
			}
			if diff := cmp.Diff(tt.wantFirst, sent); diff != "" {
				t.Errorf("first call formats (-want +got):\n%s", diff)
			}
			sent = nil
			if _, err := c.Complete(context.Background(), schemaRequest()); err != nil {
				t.Fatalf("second Complete: %v", err)
			}
			if diff := cmp.Diff(tt.wantLater, sent); diff != "" {
				t.Errorf("second call formats (-want +got):\n%s", diff)
			}
			for _, n := range msgCounts {
				if n != 2 {
					t.Errorf("a request had %d messages, want the 2 given", n)
				}
			}
			// A request without a schema never carries a response_format.
			sent = nil
			if _, err := c.Complete(context.Background(), testRequest()); err != nil {
				t.Fatalf("plain Complete: %v", err)
			}
			if diff := cmp.Diff([]string{"none"}, sent); diff != "" {
				t.Errorf("plain call formats (-want +got):\n%s", diff)
			}
			// Another model starts again from structured outputs.
			sent = nil
			other := schemaRequest()
			other.Model = "other-model"
			if _, err := c.Complete(context.Background(), other); err != nil {
				t.Fatalf("other model Complete: %v", err)
			}
			if diff := cmp.Diff(tt.wantFirst, sent); diff != "" {
				t.Errorf("other model formats (-want +got):\n%s", diff)
			}
			for _, msg := range tt.wantLogged {
				if n := strings.Count(logs.String(), msg); n != 2 { // once per model
					t.Errorf("log has %q %d times, want 2 (once per model):\n%s", msg, n, logs.String())
				}
			}
		})
	}
}

func TestStructuredOutputFallbackConcurrent(t *testing.T) {
	var jsonSchema, jsonObject counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if formatOf(decodeBody(t, r)) == "json_schema" {
			jsonSchema.inc()
			writeError(w, 400, apiError("response_format json_schema is not supported", "invalid_request_error", "", nil))
			return
		}
		jsonObject.inc()
		writeOK(w, `{"points":[]}`)
	})
	var logs safeBuffer
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.Logger = textLogger(&logs) })
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.Complete(context.Background(), schemaRequest()); err != nil {
				t.Errorf("Complete: %v", err)
			}
		})
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "structured outputs rejected"); n != 1 {
		t.Errorf("fall-back logged %d times, want 1:\n%s", n, logs.String())
	}
	if got := jsonObject.get(); got != 8 {
		t.Errorf("json_object requests=%d, want 8", got)
	}
	if got := jsonSchema.get(); got < 1 || got > 8 {
		t.Errorf("json_schema requests=%d, want 1..8", got)
	}
	if _, err := c.Complete(context.Background(), schemaRequest()); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if got := jsonSchema.get(); got > 8 {
		t.Errorf("json_schema sent again after the fall-back")
	}
}

func TestParameterFallbacks(t *testing.T) {
	maxTokensErr := apiError("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
		"invalid_request_error", "max_tokens", "unsupported_parameter")
	temperatureErr := apiError("Unsupported value: 'temperature' does not support 1e-06 with this model. Only the default (1) value is supported.",
		"invalid_request_error", "temperature", "unsupported_value")
	tests := []struct {
		name      string
		model     string
		reject    func(body map[string]any) string // "" accepts
		wantFirst int                              // requests made by the first call
		wantBody  map[string]any                   // fields of the accepted request; nil means absent
		wantLog   string
	}{
		{
			name:  "max_tokens becomes max_completion_tokens",
			model: "test-model",
			reject: func(b map[string]any) string {
				if _, ok := b["max_tokens"]; ok {
					return maxTokensErr
				}
				return ""
			},
			wantFirst: 2,
			wantBody:  map[string]any{"max_tokens": nil, "max_completion_tokens": float64(100)},
			wantLog:   "max_tokens rejected",
		},
		{
			name:  "temperature left out",
			model: "test-model",
			reject: func(b map[string]any) string {
				if _, ok := b["temperature"]; ok {
					return temperatureErr
				}
				return ""
			},
			wantFirst: 2,
			wantBody:  map[string]any{"temperature": nil, "max_tokens": float64(100)},
			wantLog:   "temperature rejected",
		},
		{
			name:  "both, one after the other",
			model: "test-model",
			reject: func(b map[string]any) string {
				if _, ok := b["max_tokens"]; ok {
					return maxTokensErr
				}
				if _, ok := b["temperature"]; ok {
					return temperatureErr
				}
				return ""
			},
			wantFirst: 3,
			wantBody:  map[string]any{"temperature": nil, "max_tokens": nil, "max_completion_tokens": float64(100)},
		},
		{
			name:  "reasoning model checked by go-openai before sending",
			model: "gpt-5-mini",
			reject: func(b map[string]any) string {
				if _, ok := b["max_tokens"]; ok {
					return maxTokensErr
				}
				if _, ok := b["temperature"]; ok {
					return temperatureErr
				}
				return ""
			},
			wantFirst: 1,
			wantBody:  map[string]any{"temperature": nil, "max_tokens": nil, "max_completion_tokens": float64(100)},
			wantLog:   "temperature rejected",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests counter
			var last map[string]any
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				requests.inc()
				body := decodeBody(t, r)
				if e := tt.reject(body); e != "" {
					writeError(w, 400, e)
					return
				}
				last = body
				writeOK(w, "ok")
			})
			var logs safeBuffer
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = -1; cfg.Logger = textLogger(&logs) })
			req := testRequest()
			req.Model, req.MaxTokens = tt.model, 100
			reply, err := c.Complete(context.Background(), req)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if requests.get() != tt.wantFirst || reply.Attempts != tt.wantFirst {
				t.Errorf("requests=%d Attempts=%d, want %d", requests.get(), reply.Attempts, tt.wantFirst)
			}
			for k, want := range tt.wantBody {
				got, ok := last[k]
				if want == nil && ok {
					t.Errorf("%s=%v, want absent", k, got)
				} else if want != nil && got != want {
					t.Errorf("%s=%v, want %v", k, got, want)
				}
			}
			if _, err := c.Complete(context.Background(), req); err != nil {
				t.Fatalf("second Complete: %v", err)
			}
			if got := requests.get(); got != tt.wantFirst+1 {
				t.Errorf("second call made %d requests, want 1", got-tt.wantFirst)
			}
			if tt.wantLog != "" && strings.Count(logs.String(), tt.wantLog) != 1 {
				t.Errorf("log has %q %d times, want once:\n%s", tt.wantLog, strings.Count(logs.String(), tt.wantLog), logs.String())
			}
		})
	}
}

func TestUnrelated400NoFallback(t *testing.T) {
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		writeError(w, 400, apiError("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
			"invalid_request_error", "messages", nil))
	})
	c, _ := newTestClient(t, srv.URL, nil)
	// No schema was sent, so a response_format message is not ours to fix.
	_, err := c.Complete(context.Background(), testRequest())
	ce := callError(t, err)
	if ce.Reason != "http_400" || requests.get() != 1 || ce.Attempts != 1 {
		t.Errorf("Reason=%q requests=%d Attempts=%d, want http_400 after 1 request", ce.Reason, requests.get(), ce.Attempts)
	}
}

func TestInvalidSchemaNotSent(t *testing.T) {
	var requests counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		requests.inc()
		writeOK(w, "{}")
	})
	c, _ := newTestClient(t, srv.URL, nil)
	req := schemaRequest()
	req.Schema.JSON = []byte(`{"type":`)
	_, err := c.Complete(context.Background(), req)
	ce := callError(t, err)
	if ce.Reason != ReasonInvalidRequest || ce.Retryable || ce.Attempts != 0 || requests.get() != 0 {
		t.Errorf("CallError=%+v requests=%d, want invalid_request with no request sent", ce, requests.get())
	}
}

func TestNewWantsAKeyForOpenAIAndAzure(t *testing.T) {
	tests := []struct {
		base    string
		wantErr bool
	}{
		{"", true},
		{"https://api.openai.com/v1", true},
		{"https://myres.openai.azure.com", true},
		{"http://127.0.0.1:11434/v1", false},
		{"https://openrouter.ai/api/v1", false},
	}
	for _, tt := range tests {
		_, err := New(Config{BaseURL: tt.base})
		if got := errors.Is(err, ErrNoAPIKey); got != tt.wantErr {
			t.Errorf("New(base %q, no key) error %v, want ErrNoAPIKey %v", tt.base, err, tt.wantErr)
		}
		if tt.wantErr && !strings.Contains(err.Error(), "OPENAI_API_KEY") {
			t.Errorf("error %q does not say what to do", err)
		}
	}
}

// TestReasoningTokens checks the room given to a reasoning model's
// reasoning: added to max_completion_tokens, never to max_tokens.
func TestReasoningTokens(t *testing.T) {
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		body := decodeBody(t, r)
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		writeOK(w, "hello")
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.ReasoningTokens = 8192 })
	for _, tt := range []struct {
		model           string
		maxTokens       any
		maxCompletionTk any
	}{
		{"gpt-4.1-mini", float64(100), nil},
		{"gpt-5-mini", nil, float64(100 + 8192)},
		{"o4-mini", nil, float64(100 + 8192)},
	} {
		mu.Lock()
		bodies = nil
		mu.Unlock()
		req := testRequest()
		req.Model, req.MaxTokens = tt.model, 100
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatalf("%s: %v", tt.model, err)
		}
		mu.Lock()
		body := bodies[len(bodies)-1]
		mu.Unlock()
		if body["max_tokens"] != tt.maxTokens || body["max_completion_tokens"] != tt.maxCompletionTk {
			t.Errorf("%s: max_tokens %v, max_completion_tokens %v; want %v, %v",
				tt.model, body["max_tokens"], body["max_completion_tokens"], tt.maxTokens, tt.maxCompletionTk)
		}
	}
	if _, err := New(Config{ReasoningTokens: -1}); err == nil || !strings.Contains(err.Error(), "reasoning tokens") {
		t.Errorf("New(ReasoningTokens: -1): %v, want an error naming the reasoning tokens", err)
	}
}
