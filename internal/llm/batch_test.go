package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tarjama/tarjama/jobs"
)

// liveBody returns the body that Complete sends for req through c, whose
// server's handler passes each request body on bodies.
func liveBody(t *testing.T, c *Client, req jobs.Request, bodies <-chan map[string]any) map[string]any {
	t.Helper()
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	select {
	case m := <-bodies:
		return m
	default:
		t.Fatal("the server saw no chat completion")
		return nil
	}
}

// batchLine decodes a line of BatchLine.
func batchLine(t *testing.T, c *Client, req jobs.Request) map[string]any {
	t.Helper()
	b, err := c.BatchLine(req)
	if err != nil {
		t.Fatalf("BatchLine: %v", err)
	}
	if strings.ContainsAny(string(b), "\n\r") {
		t.Errorf("BatchLine has a newline: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("BatchLine is not JSON: %v: %s", err, b)
	}
	return m
}

func TestBatchLineMatchesLiveRequest(t *testing.T) {
	withTokens := func(r jobs.Request) jobs.Request {
		r.MaxTokens = 512
		r.Temperature = 0.3
		return r
	}
	cases := []struct {
		name string
		req  jobs.Request
		flex bool
	}{
		{"plain", testRequest(), false},
		{"schema", schemaRequest(), false},
		{"max tokens and temperature", withTokens(testRequest()), false},
		{"schema with max tokens", withTokens(schemaRequest()), false},
		{"flex client", withTokens(schemaRequest()), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bodies := make(chan map[string]any, 1)
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				bodies <- decodeBody(t, r)
				writeOK(w, `{"points":["a"]}`)
			})
			c, _ := newTestClient(t, srv.URL, func(cfg *Config) {
				if tc.flex {
					cfg.ServiceTier = ServiceTierFlex
				}
			})
			live := liveBody(t, c, tc.req, bodies)

			line := batchLine(t, c, tc.req)
			if got, want := line["custom_id"], jobs.RequestKey(tc.req); got != want {
				t.Errorf("custom_id=%v, want %v", got, want)
			}
			if line["method"] != "POST" || line["url"] != BatchEndpoint {
				t.Errorf("method, url = %v, %v; want POST, %s", line["method"], line["url"], BatchEndpoint)
			}
			if len(line) != 4 {
				t.Errorf("line has keys %v, want custom_id, method, url, body", keys(line))
			}
			if tc.flex {
				if live["service_tier"] != "flex" {
					t.Errorf("live service_tier=%v, want flex", live["service_tier"])
				}
				delete(live, "service_tier")
			}
			body, _ := line["body"].(map[string]any)
			if _, ok := body["service_tier"]; ok {
				t.Errorf("batch body has service_tier %v", body["service_tier"])
			}
			if !reflect.DeepEqual(body, live) {
				a, _ := json.Marshal(body)
				b, _ := json.Marshal(live)
				t.Errorf("batch body differs from the live request:\nbatch %s\nlive  %s", a, b)
			}
			if tc.req.Schema != nil {
				rf, _ := body["response_format"].(map[string]any)
				if rf["type"] != "json_schema" {
					t.Errorf("response_format=%v, want json_schema", body["response_format"])
				}
			}
		})
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// A fall-back learnt on the live path carries over to the batch lines of
// the model.
func TestBatchLineUsesLearntFallbacks(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		m := decodeBody(t, r)
		if _, ok := m["max_tokens"]; ok {
			writeError(w, 400, apiError("Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
				"invalid_request_error", "max_tokens", "unsupported_parameter"))
			return
		}
		writeOK(w, "ok")
	})
	c, _ := newTestClient(t, srv.URL, nil)
	req := testRequest()
	req.MaxTokens = 100
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatalf("Complete: %v", err)
	}
	body := batchLine(t, c, req)["body"].(map[string]any)
	if _, ok := body["max_tokens"]; ok {
		t.Errorf("batch body has max_tokens after the fall-back: %v", body)
	}
	if body["max_completion_tokens"] != float64(100) {
		t.Errorf("max_completion_tokens=%v, want 100", body["max_completion_tokens"])
	}
}

// go-openai refuses max_tokens for reasoning models before sending; the
// batch line moves past it as Complete does.
func TestBatchLineReasoningModel(t *testing.T) {
	c, _ := newTestClient(t, "http://127.0.0.1:1", nil)
	req := testRequest()
	req.Model = "o3-mini"
	req.MaxTokens = 100
	body := batchLine(t, c, req)["body"].(map[string]any)
	if _, ok := body["max_tokens"]; ok {
		t.Errorf("batch body has max_tokens for a reasoning model: %v", body)
	}
	if body["max_completion_tokens"] != float64(100) {
		t.Errorf("max_completion_tokens=%v, want 100", body["max_completion_tokens"])
	}
}

func checkAuth(t *testing.T, r *http.Request) {
	t.Helper()
	if got, want := r.Header.Get("Authorization"), "Bearer "+testKey; got != want {
		t.Errorf("Authorization=%q, want %q", got, want)
	}
}

func TestUploadBatchFile(t *testing.T) {
	content := `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"مرحبا"}]}}` + "\n"
	path := filepath.Join(t.TempDir(), "input.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/files", func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/form-data") {
			t.Errorf("Content-Type=%q, want multipart/form-data", ct)
		}
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Errorf("ParseMultipartForm: %v", err)
		}
		if got := r.FormValue("purpose"); got != "batch" {
			t.Errorf("purpose=%q, want batch", got)
		}
		f, fh, err := r.FormFile("file")
		if err != nil {
			t.Errorf("FormFile: %v", err)
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		if string(b) != content {
			t.Errorf("file part=%q, want %q", b, content)
		}
		if fh.Filename != "input.jsonl" {
			t.Errorf("filename=%q, want input.jsonl", fh.Filename)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"file-abc123","object":"file","bytes":%d,"created_at":1,"filename":"input.jsonl","purpose":"batch"}`, len(b))
	})
	srv := serve(t, mux.ServeHTTP)
	c, _ := newTestClient(t, srv.URL, nil)
	id, err := c.UploadBatchFile(context.Background(), path)
	if err != nil {
		t.Fatalf("UploadBatchFile: %v", err)
	}
	if id != "file-abc123" {
		t.Errorf("id=%q, want file-abc123", id)
	}

	_, err = c.UploadBatchFile(context.Background(), filepath.Join(t.TempDir(), "missing.jsonl"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("upload of a missing file: %v, want ErrNotExist", err)
	}
}

const batchJSON = `{
  "id": "batch_abc123",
  "object": "batch",
  "endpoint": "/v1/chat/completions",
  "errors": null,
  "input_file_id": "file-abc123",
  "completion_window": "24h",
  "status": "validating",
  "output_file_id": null,
  "error_file_id": null,
  "created_at": 1711471533,
  "in_progress_at": null,
  "expires_at": 1711557933,
  "finalizing_at": null,
  "completed_at": null,
  "failed_at": null,
  "expired_at": null,
  "cancelling_at": null,
  "cancelled_at": null,
  "request_counts": {"total": 0, "completed": 0, "failed": 0},
  "metadata": {"run": "r1"}
}`

const completedBatchJSON = `{
  "id": "batch_abc123",
  "object": "batch",
  "endpoint": "/v1/chat/completions",
  "errors": null,
  "input_file_id": "file-abc123",
  "completion_window": "24h",
  "status": "completed",
  "output_file_id": "file-out456",
  "error_file_id": "file-err789",
  "created_at": 1711471533,
  "in_progress_at": 1711471538,
  "expires_at": 1711557933,
  "finalizing_at": 1711493133,
  "completed_at": 1711493163,
  "request_counts": {"total": 100, "completed": 95, "failed": 5},
  "metadata": null
}`

const failedBatchJSON = `{
  "id": "batch_bad",
  "object": "batch",
  "endpoint": "/v1/chat/completions",
  "errors": {"object": "list", "data": [
    {"code": "invalid_json_line", "message": "This line is not parseable as valid JSON.", "param": null, "line": 3},
    {"code": "too_many_tasks", "message": "Too many requests in the file.", "param": null, "line": null}
  ]},
  "input_file_id": "file-abc123",
  "completion_window": "24h",
  "status": "failed",
  "output_file_id": null,
  "error_file_id": null,
  "created_at": 1711471533,
  "failed_at": 1711471540,
  "request_counts": {"total": 0, "completed": 0, "failed": 0}
}`

func TestCreateBatch(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/batches", func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		m := decodeBody(t, r)
		want := map[string]any{
			"input_file_id":     "file-abc123",
			"endpoint":          "/v1/chat/completions",
			"completion_window": "24h",
			"metadata":          map[string]any{"run": "r1"},
		}
		if !reflect.DeepEqual(m, want) {
			t.Errorf("create body=%v, want %v", m, want)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, batchJSON)
	})
	srv := serve(t, mux.ServeHTTP)
	c, _ := newTestClient(t, srv.URL, nil)
	info, err := c.CreateBatch(context.Background(), "file-abc123", map[string]any{"run": "r1"})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	want := BatchInfo{
		ID: "batch_abc123", Status: "validating", InputFileID: "file-abc123",
		CreatedAt: time.Unix(1711471533, 0), ExpiresAt: time.Unix(1711557933, 0),
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("CreateBatch=%+v, want %+v", info, want)
	}
}

func TestRetrieveAndCancelBatch(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		w.Header().Set("Content-Type", "application/json")
		switch r.PathValue("id") {
		case "batch_abc123":
			io.WriteString(w, completedBatchJSON)
		case "batch_bad":
			io.WriteString(w, failedBatchJSON)
		default:
			writeError(w, 404, apiError("No batch found with id '"+r.PathValue("id")+"'.", "invalid_request_error", "", nil))
		}
	})
	mux.HandleFunc("POST /v1/batches/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(batchJSON, `"validating"`, `"cancelling"`, 1))
	})
	srv := serve(t, mux.ServeHTTP)
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()

	info, err := c.RetrieveBatch(ctx, "batch_abc123")
	if err != nil {
		t.Fatalf("RetrieveBatch: %v", err)
	}
	want := BatchInfo{
		ID: "batch_abc123", Status: "completed", InputFileID: "file-abc123",
		OutputFileID: "file-out456", ErrorFileID: "file-err789",
		Total: 100, Completed: 95, Failed: 5,
		CreatedAt: time.Unix(1711471533, 0), ExpiresAt: time.Unix(1711557933, 0),
	}
	if !reflect.DeepEqual(info, want) {
		t.Errorf("RetrieveBatch=%+v, want %+v", info, want)
	}

	info, err = c.RetrieveBatch(ctx, "batch_bad")
	if err != nil {
		t.Fatalf("RetrieveBatch: %v", err)
	}
	wantErrs := []string{
		"line 3: invalid_json_line: This line is not parseable as valid JSON.",
		"too_many_tasks: Too many requests in the file.",
	}
	if info.Status != "failed" || !reflect.DeepEqual(info.Errors, wantErrs) || !info.ExpiresAt.IsZero() {
		t.Errorf("RetrieveBatch(failed)=%+v, want status failed, errors %q, no expiry", info, wantErrs)
	}

	_, err = c.RetrieveBatch(ctx, "batch_missing")
	ce := callError(t, err)
	if ce.Reason != "http_404" || ce.Retryable || ce.Fatal || ce.Attempts != 1 {
		t.Errorf("RetrieveBatch(missing)=%+v, want a final http_404 after 1 attempt", ce)
	}
	if !strings.Contains(err.Error(), "batch_missing") {
		t.Errorf("error %q does not name the batch", err)
	}

	info, err = c.CancelBatch(ctx, "batch_abc123")
	if err != nil {
		t.Fatalf("CancelBatch: %v", err)
	}
	if info.Status != "cancelling" || info.ID != "batch_abc123" {
		t.Errorf("CancelBatch=%+v, want batch_abc123 cancelling", info)
	}
}

func TestBatchCallsRefuseBadIDs(t *testing.T) {
	var n counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { n.inc() })
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	for _, id := range []string{"", "../files", "a/b", "a?b=c"} {
		_, err := c.RetrieveBatch(ctx, id)
		if ce := callError(t, err); ce.Reason != ReasonInvalidRequest {
			t.Errorf("RetrieveBatch(%q): %v, want %s", id, err, ReasonInvalidRequest)
		}
		if _, err := c.FileContent(ctx, id); err == nil {
			t.Errorf("FileContent(%q) succeeded", id)
		}
	}
	if n.get() != 0 {
		t.Errorf("the server saw %d requests, want 0", n.get())
	}
}

func TestRetrieveBatchRetries(t *testing.T) {
	var n counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.inc() {
		case 1:
			writeError(w, 500, apiError("The server had an error", "server_error", "", nil))
		case 2:
			hijackClose(t, w)
		case 3:
			w.Header().Set("Retry-After", "7")
			writeError(w, 429, apiError("Rate limit reached", "requests", "", "rate_limit_exceeded"))
		default:
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, completedBatchJSON)
		}
	})
	c, rec := newTestClient(t, srv.URL, nil)
	info, err := c.RetrieveBatch(context.Background(), "batch_abc123")
	if err != nil {
		t.Fatalf("RetrieveBatch: %v", err)
	}
	if info.Status != "completed" || n.get() != 4 {
		t.Errorf("status %q after %d requests, want completed after 4", info.Status, n.get())
	}
	// net/http itself re-sends a GET whose reused connection was dropped,
	// so the dropped connection may cost no retry.
	delays := rec.Delays()
	if len(delays) < 2 || len(delays) > 3 || delays[len(delays)-1] != 7*time.Second {
		t.Errorf("delays=%v, want 2 or 3 with the last the 7s of Retry-After", delays)
	}
}

// A POST whose connection dropped is re-sent by the retry layer (net/http
// re-sends only idempotent requests).
func TestCancelBatchRetriesDroppedConnection(t *testing.T) {
	var n counter
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if n.inc() == 1 {
			hijackClose(t, w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, strings.Replace(batchJSON, `"validating"`, `"cancelling"`, 1))
	})
	c, rec := newTestClient(t, srv.URL, nil)
	info, err := c.CancelBatch(context.Background(), "batch_abc123")
	if err != nil {
		t.Fatalf("CancelBatch: %v", err)
	}
	if info.Status != "cancelling" || n.get() != 2 || len(rec.Delays()) != 1 {
		t.Errorf("status %q after %d requests and delays %v, want cancelling after 2 and 1 delay", info.Status, n.get(), rec.Delays())
	}
}

func TestBatchCallsFatal(t *testing.T) {
	cases := []struct {
		name, body string
		status     int
		reason     string
	}{
		{"401", apiError("Incorrect API key provided: "+testKey+".", "invalid_request_error", "", "invalid_api_key"), 401, "http_401"},
		{"quota", apiError("You exceeded your current quota.", "insufficient_quota", "", "insufficient_quota"), 429, ReasonInsufficientQuota},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n counter
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				n.inc()
				writeError(w, tc.status, tc.body)
			})
			c, _ := newTestClient(t, srv.URL, nil)
			_, err := c.RetrieveBatch(context.Background(), "batch_abc123")
			ce := callError(t, err)
			if !ce.Fatal || ce.Reason != tc.reason || ce.Status != tc.status || n.get() != 1 {
				t.Errorf("error %+v after %d requests, want fatal %s after 1", ce, n.get(), tc.reason)
			}
		})
	}
}

// The key echoed by the server shows in no error of any batch call.
func TestBatchCallsRedactKey(t *testing.T) {
	bodies := []struct {
		name   string
		status int
		body   string
	}{
		{"400", 400, apiError("Invalid request from key "+testKey, "invalid_request_error", "", nil)},
		{"401", 401, apiError("Incorrect API key provided: "+testKey+".", "invalid_request_error", "", "invalid_api_key")},
		{"502 HTML", 502, "<html><body>Authorization: Bearer " + testKey + "</body></html>"},
		{"500", 500, apiError("key "+testKey+" broke us", "server_error", "", nil)},
		{"vLLM style", 400, `{"object":"error","message":"bad key ` + testKey + `","code":400}`},
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func(*Client) error{
		"upload": func(c *Client) error { _, err := c.UploadBatchFile(context.Background(), path); return err },
		"create": func(c *Client) error {
			_, err := c.CreateBatch(context.Background(), "file-1", nil)
			return err
		},
		"retrieve": func(c *Client) error { _, err := c.RetrieveBatch(context.Background(), "batch_1"); return err },
		"cancel":   func(c *Client) error { _, err := c.CancelBatch(context.Background(), "batch_1"); return err },
		"content": func(c *Client) error {
			rc, err := c.FileContent(context.Background(), "file-1")
			if err == nil {
				rc.Close()
			}
			return err
		},
	}
	for _, b := range bodies {
		for op, call := range ops {
			t.Run(b.name+"/"+op, func(t *testing.T) {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					if strings.HasPrefix(b.body, "<") {
						w.Header().Set("Content-Type", "text/html")
						w.WriteHeader(b.status)
						io.WriteString(w, b.body)
						return
					}
					writeError(w, b.status, b.body)
				})
				c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxRetries = 1 })
				err := call(c)
				ce := callError(t, err)
				for what, s := range map[string]string{"error": err.Error(), "message": ce.Message, "Err": fmt.Sprint(ce.Err)} {
					if strings.Contains(s, testKey) {
						t.Errorf("%s contains the key: %s", what, s)
					}
				}
				if ce.Status != b.status {
					t.Errorf("status=%d, want %d", ce.Status, b.status)
				}
			})
		}
	}
}

func TestFileContentStreams(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/files/{id}/content", func(w http.ResponseWriter, r *http.Request) {
		checkAuth(t, r)
		if r.PathValue("id") != "file-out456" {
			t.Errorf("file id=%q", r.PathValue("id"))
		}
		io.WriteString(w, "first line\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second line\n")
	})
	srv := serve(t, mux.ServeHTTP)
	c, _ := newTestClient(t, srv.URL, nil)
	rc, err := c.FileContent(context.Background(), "file-out456")
	if err != nil {
		t.Fatalf("FileContent: %v", err)
	}
	defer rc.Close()
	buf := make([]byte, len("first line\n"))
	// The first part arrives while the server still holds the rest.
	if _, err := io.ReadFull(rc, buf); err != nil || string(buf) != "first line\n" {
		t.Fatalf("first read=%q, %v", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(rc)
	if err != nil || string(rest) != "second line\n" {
		t.Errorf("rest=%q, %v", rest, err)
	}
}

// An output file may be larger than MaxReplyBytes, and take longer than the
// request timeout as a whole, as long as data keeps coming.
func TestFileContentLarge(t *testing.T) {
	const size = MaxReplyBytes + 1<<20
	chunk := strings.Repeat("x", 1<<20)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		for range size >> 20 {
			if _, err := io.WriteString(w, chunk); err != nil {
				return
			}
		}
	})
	c, _ := newTestClient(t, srv.URL, nil)
	rc, err := c.FileContent(context.Background(), "file-big")
	if err != nil {
		t.Fatalf("FileContent: %v", err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc)
	if err != nil || n != size {
		t.Errorf("read %d bytes, %v; want %d", n, err, size)
	}
}

func TestFileContentStall(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.RequestTimeout = 200 * time.Millisecond })
	rc, err := c.FileContent(context.Background(), "file-slow")
	if err != nil {
		t.Fatalf("FileContent: %v", err)
	}
	defer rc.Close()
	start := time.Now()
	b, err := io.ReadAll(rc)
	if err == nil || string(b) != "part" {
		t.Errorf("ReadAll=%q, %v; want part and an error", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stall noticed after %s", d)
	}
}

// readAll collects the results of a file.
func readAll(t *testing.T, name, content string) []BatchResult {
	t.Helper()
	var got []BatchResult
	err := ReadBatchResults(strings.NewReader(content), name, func(r BatchResult) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadBatchResults: %v", err)
	}
	return got
}

func TestReadBatchResultsOutputFile(t *testing.T) {
	lines := []string{
		`{"id":"batch_req_1","custom_id":"k1","response":{"status_code":200,"request_id":"req_1","body":{"id":"chatcmpl-1","object":"chat.completion","created":1711652795,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Hello.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":22,"completion_tokens":2,"total_tokens":24,"prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp_1"}},"error":null}`,
		``,
		`{"id":"batch_req_2","custom_id":"k2","response":{"status_code":200,"request_id":"req_2","body":{"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":6,"total_tokens":11}}},"error":null}`,
		`{"id":"batch_req_3","custom_id":"k3","response":{"status_code":200,"request_id":"req_3","body":{"id":"chatcmpl-3","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}},"error":null}`,
		`{"id":"batch_req_4","custom_id":"k4","response":{"status_code":400,"request_id":"req_4","body":{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}},"error":null}`,
		`{"id":"batch_req_5","custom_id":"k5","response":{"status_code":500,"request_id":"req_5","body":{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}},"error":null}`,
		`{"id":"batch_req_6","custom_id":"k6","response":{"status_code":429,"request_id":"req_6","body":{"error":{"message":"Rate limit reached for key ` + testKey + `","type":"requests","param":null,"code":"rate_limit_exceeded"}}},"error":null}`,
		`  `,
	}
	got := readAll(t, "out.jsonl", strings.Join(lines, "\n")+"\n")
	want := []BatchResult{
		{Line: 1, CustomID: "k1", Status: 200, Reply: jobs.Reply{Content: "Hello.", FinishReason: "stop", Model: "gpt-4o-mini-2024-07-18",
			Usage: jobs.Usage{PromptTokens: 22, CompletionTokens: 2}, Attempts: 1}},
		{Line: 3, CustomID: "k2", Status: 200, Reply: jobs.Reply{Content: "I can't help with that.", FinishReason: "stop", Model: "gpt-4o-mini",
			Usage: jobs.Usage{PromptTokens: 5, CompletionTokens: 6}, Attempts: 1}},
		{Line: 4, CustomID: "k3", Status: 200, Reason: ReasonInvalidReply, Message: "reply has no choices"},
		{Line: 5, CustomID: "k4", Status: 400, Reason: "http_400", Message: "This model's maximum context length is 128000 tokens. (code context_length_exceeded)"},
		{Line: 6, CustomID: "k5", Status: 500, Reason: "http_500", Message: "The server had an error while processing your request."},
		{Line: 7, CustomID: "k6", Status: 429, Reason: "http_429", Message: "Rate limit reached for key [REDACTED] (code rate_limit_exceeded)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadBatchResultsErrorFile(t *testing.T) {
	content := `{"id":"batch_req_7","custom_id":"k7","response":null,"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}
{"id":"batch_req_8","custom_id":"k8","response":null,"error":{"code":"server_error","message":"Internal error."}}
{"id":"batch_req_9","custom_id":"k9","response":null,"error":{"code":null,"message":"Something."}}
{"id":"batch_req_10","custom_id":"k10","response":{"status_code":400,"request_id":"r","body":{"error":{"message":"Invalid 'messages'.","type":"invalid_request_error","param":"messages","code":null}}},"error":null}
`
	got := readAll(t, "errors.jsonl", content)
	want := []BatchResult{
		{Line: 1, CustomID: "k7", Reason: "batch_expired", Message: "This request could not be executed before the completion window expired."},
		{Line: 2, CustomID: "k8", Reason: "batch_server_error", Message: "Internal error."},
		{Line: 3, CustomID: "k9", Reason: "batch_error", Message: "Something."},
		{Line: 4, CustomID: "k10", Status: 400, Reason: "http_400", Message: "Invalid 'messages'."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n%+v\nwant\n%+v", got, want)
	}
}

// vLLM's run_batch: a failed request has a response without a body and its
// error (an ErrorResponse, old or new shape, or a string) beside it.
func TestReadBatchResultsVLLM(t *testing.T) {
	content := `{"id":"vllm-1","custom_id":"k1","response":{"status_code":200,"request_id":"vllm-batch-1","body":{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"Qwen/Qwen2.5-7B-Instruct","choices":[{"index":0,"message":{"role":"assistant","content":"ok","tool_calls":[],"reasoning_content":null},"logprobs":null,"finish_reason":"length","stop_reason":null}],"usage":{"prompt_tokens":3,"total_tokens":5,"completion_tokens":2,"prompt_tokens_details":null},"prompt_logprobs":null}},"error":null}
{"id":"vllm-2","custom_id":"k2","response":{"status_code":400,"request_id":"vllm-batch-2","body":null},"error":{"error":{"message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}}}
{"id":"vllm-3","custom_id":"k3","response":{"status_code":400,"request_id":"vllm-batch-3","body":null},"error":{"object":"error","message":"The model does not exist.","type":"NotFoundError","param":null,"code":400}}
{"id":"vllm-4","custom_id":"k4","response":{"status_code":400,"request_id":"vllm-batch-4","body":null},"error":"Request must not be sent in stream mode"}
`
	got := readAll(t, "vllm.jsonl", content)
	want := []BatchResult{
		{Line: 1, CustomID: "k1", Status: 200, Reply: jobs.Reply{Content: "ok", FinishReason: "length", Model: "Qwen/Qwen2.5-7B-Instruct",
			Usage: jobs.Usage{PromptTokens: 3, CompletionTokens: 2}, Attempts: 1}},
		{Line: 2, CustomID: "k2", Status: 400, Reason: "http_400", Message: "max_tokens is too large"},
		{Line: 3, CustomID: "k3", Status: 400, Reason: "http_400", Message: "The model does not exist."},
		{Line: 4, CustomID: "k4", Status: 400, Reason: "http_400", Message: "Request must not be sent in stream mode"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("results:\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadBatchResultsMalformed(t *testing.T) {
	ok := `{"custom_id":"k1","response":null,"error":{"code":"batch_expired","message":"x"}}`
	cases := []struct{ name, content, want string }{
		{"not JSON", ok + "\n\n{\"custom_id\": \"k2\", \"response\": \n", "out.jsonl: line 3: invalid JSON"},
		{"no custom_id", ok + "\n" + `{"response":null,"error":{"code":"x","message":"y"}}`, "out.jsonl: line 2: no custom_id"},
		{"empty custom_id", `{"custom_id":"","response":null,"error":{"code":"x"}}`, "out.jsonl: line 1: no custom_id"},
		{"neither", `{"custom_id":"k","response":null,"error":null}`, "out.jsonl: line 1: neither response nor error"},
		{"no status", `{"custom_id":"k","response":{"body":{}}}`, "out.jsonl: line 1: response has no status_code"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadBatchResults(strings.NewReader(tc.content), "out.jsonl", func(BatchResult) error { return nil })
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}

	stop := errors.New("stop")
	calls := 0
	err := ReadBatchResults(strings.NewReader(ok+"\n"+ok+"\n"), "out.jsonl", func(BatchResult) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("fn's error: %v after %d calls, want stop after 1", err, calls)
	}
}

func TestReadBatchResultsLongLine(t *testing.T) {
	content := strings.Repeat("ترجمة ", (1<<20)/len("ترجمة ")+1)
	b, _ := json.Marshal(content)
	line := `{"id":"batch_req_1","custom_id":"big","response":{"status_code":200,"request_id":"r","body":{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":` +
		string(b) + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}},"error":null}`
	if len(line) < 1<<20 {
		t.Fatalf("line is %d bytes, want over 1 MiB", len(line))
	}
	got := readAll(t, "out.jsonl", line+"\n"+`{"custom_id":"after","response":null,"error":{"code":"batch_expired","message":"x"}}`+"\n")
	if len(got) != 2 || got[0].Reply.Content != content || got[1].CustomID != "after" || got[1].Line != 2 {
		t.Errorf("got %d results; first content %d bytes, want %d", len(got), len(got[0].Reply.Content), len(content))
	}
}

// uploadBatchFile uploads a one-line input file to srv and returns its id.
func uploadBatchFile(t *testing.T, c *Client, id string) string {
	t.Helper()
	line, err := c.BatchLine(fakeRequest(id))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), id+".jsonl")
	if err := os.WriteFile(path, append(line, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	fileID, err := c.UploadBatchFile(context.Background(), path)
	if err != nil {
		t.Fatalf("UploadBatchFile: %v", err)
	}
	return fileID
}

// TestCreateBatchReplyLost loses the reply to a create the server carried
// out: the retry finds that batch instead of creating a second one.
func TestCreateBatchReplyLost(t *testing.T) {
	srv := fakeServer(t)
	c, rec := newFakeClient(t, srv, false, nil)
	ctx := context.Background()
	other := uploadBatchFile(t, c, "a0")
	if _, err := c.CreateBatch(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	fileID := uploadBatchFile(t, c, "a1")
	srv.LoseCreateReplies(1)
	info, err := c.CreateBatch(ctx, fileID, nil)
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	st := srv.BatchStats()
	if info.InputFileID != fileID || info.ID == "" || st.Batches != 2 || st.Lists != 1 || len(rec.Delays()) != 1 {
		t.Errorf("CreateBatch=%+v after %d creates, %d lists and %d retries; want the batch over %s, 2 creates, 1 list, 1 retry",
			info, st.Batches, st.Lists, len(rec.Delays()), fileID)
	}
}

// TestFindBatch pages through the list, newest first, and stops at the
// batches older than since.
func TestFindBatch(t *testing.T) {
	const base = 1_800_000_000
	var (
		mu    sync.Mutex
		pages []string
	)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/v1/batches" {
			t.Errorf("%s %s, want GET /v1/batches", r.Method, r.URL.Path)
		}
		after := r.URL.Query().Get("after")
		mu.Lock()
		pages = append(pages, after)
		mu.Unlock()
		// Six batches, b6 newest, two a page; bN is over file-N, made
		// at base+N hours.
		first := 6
		if after != "" {
			first, _ = strconv.Atoi(strings.TrimPrefix(after, "b"))
			first--
		}
		var data []string
		for n := first; n > first-2 && n > 0; n-- {
			data = append(data, fmt.Sprintf(`{"id":"b%d","object":"batch","input_file_id":"file-%d","status":"completed","created_at":%d}`, n, n, base+3600*n))
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[%s],"has_more":%v}`, strings.Join(data, ","), first-2 > 0)
	})
	c, _ := newTestClient(t, srv.URL, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		file      string
		since     time.Time
		wantID    string
		wantPages []string
	}{
		{"file-5", time.Time{}, "b5", []string{""}},
		{"file-1", time.Time{}, "b1", []string{"", "b5", "b3"}},
		{"file-9", time.Time{}, "", []string{"", "b5", "b3"}},
		// Batches made more than findBatchSkew (an hour) before since
		// are not looked at.
		{"file-1", time.Unix(base+3600*5, 0), "", []string{"", "b5"}},
		{"file-4", time.Unix(base+3600*5, 0), "b4", []string{"", "b5"}},
	} {
		mu.Lock()
		pages = nil
		mu.Unlock()
		info, ok, err := c.FindBatch(ctx, tc.file, tc.since)
		if err != nil {
			t.Fatalf("FindBatch(%s): %v", tc.file, err)
		}
		if ok != (tc.wantID != "") || info.ID != tc.wantID {
			t.Errorf("FindBatch(%s, %v)=%q, %v; want %q", tc.file, tc.since, info.ID, ok, tc.wantID)
		}
		mu.Lock()
		if !slices.Equal(pages, tc.wantPages) {
			t.Errorf("FindBatch(%s, %v) asked for the pages after %q, want %q", tc.file, tc.since, pages, tc.wantPages)
		}
		mu.Unlock()
	}
}
