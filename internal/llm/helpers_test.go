package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

const testKey = "sk-test-SECRET-0123456789abcdef"

// recorder is an injected Config.Sleep that records the delays and returns
// at once.
type recorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *recorder) Sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) Delays() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

// fakeClock is a Config.Clock that never waits: Sleep records the delay and
// moves the time on by it at once. It starts at the real time, so that
// deadlines of real contexts keep their meaning.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	// onSleep, when set, is called (without the lock) by each Sleep
	// before it returns.
	onSleep func(d time.Duration)
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	hook := c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(d)
	}
	return nil
}

// advance moves the time on by d.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleeps returns the delays slept so far.
func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// safeBuffer is a log sink that may be written from many goroutines.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve starts an httptest server for h, closed with the test.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newTestClient returns a client for srv with a recording Sleep, a fixed
// jitter of 0.1, a fake clock for the rate limiter (its waits take no time
// and are not among the recorded delays), and whatever mod changes in the
// config.
func newTestClient(t *testing.T, baseURL string, mod func(*Config)) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg := Config{
		BaseURL: baseURL + "/v1",
		APIKey:  testKey,
		Model:   "test-model",
		Sleep:   rec.Sleep,
		Rand:    func() float64 { return 0.1 },
		Clock:   newFakeClock(),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rec
}

func testRequest() jobs.Request {
	return jobs.Request{
		ArticleID: "a1",
		Step:      jobs.StepTranslate,
		Model:     "test-model",
		Messages: []prompts.Message{
			{Role: "system", Content: "Translate to English."},
			{Role: "user", Content: "مرحبا"},
		},
	}
}

func schemaRequest() jobs.Request {
	req := testRequest()
	req.Step = jobs.StepKeyPoints
	req.Schema = &prompts.Schema{
		Name: "key_points",
		JSON: json.RawMessage(`{"type":"object","properties":{"points":{"type":"array","items":{"type":"string"}}},"required":["points"],"additionalProperties":false}`),
	}
	return req
}

// okBody is a chat completion reply carrying content.
func okBody(content string) string {
	b, _ := json.Marshal(content)
	return `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"test-model-2024",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":` + string(b) + `},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}}`
}

func writeOK(w http.ResponseWriter, content string) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, okBody(content))
}

// apiError is an OpenAI-style error body.
func apiError(message, typ, param string, code any) string {
	e := map[string]any{"message": message, "type": typ, "param": nil, "code": code}
	if param != "" {
		e["param"] = param
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return string(b)
}

func writeError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// hijackClose drops the connection without a reply.
func hijackClose(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

// decodeBody reads a request's JSON body.
func decodeBody(t *testing.T, r *http.Request) map[string]any {
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("decode request body: %v", err)
	}
	return m
}

// counter counts the requests a handler saw.
type counter struct{ n atomic.Int64 }

func (c *counter) inc() int       { return int(c.n.Add(1)) }
func (c *counter) get() int       { return int(c.n.Load()) }
func (c *counter) String() string { return fmt.Sprint(c.get()) }

// callError returns err as a *jobs.CallError, failing the test otherwise.
func callError(t *testing.T, err error) *jobs.CallError {
	t.Helper()
	var ce *jobs.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *jobs.CallError", err, err)
	}
	return ce
}

func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// stallUntilGone reads the request body, so that the server notices when
// the client hangs up, and waits until it does.
func stallUntilGone(r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}
