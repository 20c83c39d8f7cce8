package llm

// The Batch API: request lines built as the live path builds its requests,
// the file and batch calls, and the reader of output and error files.
//
// Azure OpenAI: go-openai sends the batch and file calls to
// <endpoint>/openai/batches and /openai/files with the api-version, which is
// where Azure serves its batch API (api-version 2024-10-21 or later, a
// Global-Batch deployment named as the model). Azure documents "url" and
// "endpoint" as "/chat/completions" where OpenAI has "/v1/chat/completions";
// nothing here adapts them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/jobs"
)

// BatchEndpoint is the endpoint of every request line.
const BatchEndpoint = "/v1/chat/completions"

// batchCompletionWindow is the only window OpenAI offers.
const batchCompletionWindow = "24h"

// minUploadRate is the slowest upload (bytes per second) waited for: an
// upload attempt may take the request timeout plus the file's size at this
// rate.
const minUploadRate = 256 << 10

// maxBatchLine bounds one line of an output or error file: a reply body
// (at most MaxReplyBytes on the live path) and its envelope.
const maxBatchLine = 2 * MaxReplyBytes

// BatchInfo is what the server says of a batch.
type BatchInfo struct {
	ID, Status, InputFileID, OutputFileID, ErrorFileID string
	Total, Completed, Failed                           int
	CreatedAt, ExpiresAt                               time.Time
	// Errors are the batch's validation errors, "line N: code: message"
	// (without "line N: " when the server names no line).
	Errors []string
}

// BatchResult is one line of a Batch API output or error file (also the
// output format of vLLM's run_batch).
type BatchResult struct {
	// Line is the physical line in the file, from 1.
	Line     int
	CustomID string
	// Status is response.status_code; 0 for a line without a response
	// (an error-file line such as an expired request).
	Status int
	// Reply is set when Reason is empty: the reply as Complete would
	// return it (the refusal when the content is empty), Attempts 1.
	Reply jobs.Reply
	// Reason and Message are set for a request that failed: Reason is the
	// code the live path would give ("http_400", "http_429",
	// "insufficient_quota", "invalid_reply" for a 200 without choices), or
	// "batch_" + the error's code for a line without a response
	// ("batch_expired", "batch_server_error"; "batch_error" when there is
	// no code). Message is the server's, with anything that looks like an
	// API key scrubbed.
	Reason, Message string
}

// BatchLine returns one line of a Batch API input file (JSON, no newline)
// for req: custom_id jobs.RequestKey(req), method POST, url BatchEndpoint,
// and as body the request Complete would send for req now, with the
// fall-backs learnt for its model so far. It is never sent on the flex
// tier. go-openai's checks for reasoning models, which refuse max_tokens
// and temperature before a live call is sent, apply here too.
func (c *Client) BatchLine(req jobs.Request) ([]byte, error) {
	cr, err := c.batchRequest(req)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(openai.BatchChatCompletionRequest{
		CustomID: jobs.RequestKey(req),
		Method:   http.MethodPost,
		URL:      BatchEndpoint,
		Body:     cr,
	})
	if err != nil {
		return nil, fmt.Errorf("batch line for article %s %s: %w", req.ArticleID, req.Step, err)
	}
	return b, nil
}

// batchRequest builds req as attempt would send it, moving past go-openai's
// own refusals as attempt does.
func (c *Client) batchRequest(req jobs.Request) (openai.ChatCompletionRequest, error) {
	log := c.log.With("article_id", req.ArticleID, "step", string(req.Step), "model", req.Model)
	fb := c.fallbacksFor(req.Model)
	v := openai.NewReasoningValidator()
	for range 8 {
		used := fb.load()
		cr := c.chatRequest(req, used)
		err := v.Validate(cr)
		if err == nil {
			return cr, nil
		}
		if !c.fallBack(log, err, req, used, fb) {
			return cr, fmt.Errorf("batch line for article %s %s: %w", req.ArticleID, req.Step, err)
		}
	}
	return openai.ChatCompletionRequest{}, fmt.Errorf("batch line for article %s %s: too many fall-backs", req.ArticleID, req.Step)
}

// UploadBatchFile uploads the JSONL file at path with purpose "batch" and
// returns the file's id. An attempt may take the request timeout plus the
// file's size at 256 KiB/s.
//
// go-openai's CreateFile reads the whole file into memory to build the
// multipart body (once per attempt): the file is not streamed from disk.
func (c *Client) UploadBatchFile(ctx context.Context, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("upload batch file: %w", err)
	}
	timeout := c.requestTimeout + time.Duration(fi.Size()/minUploadRate)*time.Second
	var f openai.File
	err = c.call(ctx, "upload batch file", timeout, func(ctx context.Context) error {
		var err error
		f, err = c.files.CreateFile(ctx, openai.FileRequest{
			FileName: filepath.Base(path),
			FilePath: path,
			Purpose:  string(openai.PurposeBatch),
		})
		if err == nil && f.ID == "" {
			return noID("file")
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("upload batch file %s: %w", filepath.Base(path), err)
	}
	return f.ID, nil
}

// CreateBatch creates a batch of chat completions over an uploaded file,
// with a 24h completion window and metadata (OpenAI takes up to 16 string
// values).
//
// A create is retried like any other call, but a create whose reply was
// lost (a dropped connection, a timeout, a 502 from a proxy) may have been
// carried out: before each retry the batches created since the first
// attempt are listed (FindBatch), and a batch over fileID found there is
// returned instead of creating a second one.
func (c *Client) CreateBatch(ctx context.Context, fileID string, metadata map[string]any) (BatchInfo, error) {
	if err := checkID("file", fileID); err != nil {
		return BatchInfo{}, fmt.Errorf("create batch: %w", err)
	}
	var (
		info  BatchInfo
		tries int
		// The server's created_at is wall-clock time: not c.now, which
		// tests may fake.
		since = time.Now()
	)
	err := c.call(ctx, "create batch", c.sendTimeout(false), func(ctx context.Context) error {
		if tries++; tries > 1 {
			found, ok, err := c.findBatch(ctx, fileID, since)
			if err != nil {
				return err
			}
			if ok {
				c.log.Info("batch found that an earlier attempt created", "batch_id", found.ID, "file_id", fileID)
				info = found
				return nil
			}
		}
		b, err := c.api.CreateBatch(ctx, openai.CreateBatchRequest{
			InputFileID:      fileID,
			Endpoint:         BatchEndpoint,
			CompletionWindow: batchCompletionWindow,
			Metadata:         metadata,
		})
		if err == nil && b.ID == "" {
			return noID("batch")
		}
		info = c.batchInfo(b.Batch)
		return err
	})
	if err != nil {
		return BatchInfo{}, fmt.Errorf("create batch over file %s: %w", fileID, err)
	}
	return info, nil
}

// findBatchPages bounds FindBatch's listing: 20 pages of 100 batches.
const findBatchPages = 20

// findBatchSkew is how far ahead of the server's clock FindBatch allows
// the local one to be: a larger margin costs only pages of the list.
const findBatchSkew = time.Hour

// FindBatch looks, among the batches the server lists (newest first), for
// the newest one over input file fileID, and reports ok false if there is
// none. It stops at the first batch created more than findBatchSkew
// before since (a batch is not older than the first attempt to create it;
// the margin allows for a local clock ahead of the server's), or after
// 2,000 batches. A zero since looks through all of them.
func (c *Client) FindBatch(ctx context.Context, fileID string, since time.Time) (BatchInfo, bool, error) {
	if err := checkID("file", fileID); err != nil {
		return BatchInfo{}, false, fmt.Errorf("find batch: %w", err)
	}
	var (
		info BatchInfo
		ok   bool
	)
	err := c.call(ctx, "list batches", c.sendTimeout(false), func(ctx context.Context) error {
		var err error
		info, ok, err = c.findBatch(ctx, fileID, since)
		return err
	})
	if err != nil {
		return BatchInfo{}, false, fmt.Errorf("find the batch over file %s: %w", fileID, err)
	}
	return info, ok, nil
}

// findBatch is FindBatch without the retries.
func (c *Client) findBatch(ctx context.Context, fileID string, since time.Time) (BatchInfo, bool, error) {
	limit := 100
	var after *string
	for range findBatchPages {
		list, err := c.api.ListBatch(ctx, after, &limit)
		if err != nil {
			return BatchInfo{}, false, fmt.Errorf("list batches: %w", err)
		}
		for _, b := range list.Data {
			if b.InputFileID == fileID {
				return c.batchInfo(b), true, nil
			}
			if !since.IsZero() && b.CreatedAt > 0 && time.Unix(int64(b.CreatedAt), 0).Before(since.Add(-findBatchSkew)) {
				return BatchInfo{}, false, nil
			}
		}
		if !list.HasMore || len(list.Data) == 0 {
			return BatchInfo{}, false, nil
		}
		last := list.Data[len(list.Data)-1].ID
		after = &last
	}
	return BatchInfo{}, false, nil
}

// RetrieveBatch returns the state of batch id.
func (c *Client) RetrieveBatch(ctx context.Context, id string) (BatchInfo, error) {
	if err := checkID("batch", id); err != nil {
		return BatchInfo{}, fmt.Errorf("retrieve batch: %w", err)
	}
	var b openai.BatchResponse
	err := c.call(ctx, "retrieve batch", c.sendTimeout(false), func(ctx context.Context) error {
		var err error
		b, err = c.api.RetrieveBatch(ctx, id)
		return err
	})
	if err != nil {
		return BatchInfo{}, fmt.Errorf("retrieve batch %s: %w", id, err)
	}
	return c.batchInfo(b.Batch), nil
}

// CancelBatch asks the server to cancel batch id and returns its state
// (usually "cancelling"; the requests already done still reach the output
// file).
func (c *Client) CancelBatch(ctx context.Context, id string) (BatchInfo, error) {
	if err := checkID("batch", id); err != nil {
		return BatchInfo{}, fmt.Errorf("cancel batch: %w", err)
	}
	var b openai.BatchResponse
	err := c.call(ctx, "cancel batch", c.sendTimeout(false), func(ctx context.Context) error {
		var err error
		b, err = c.api.CancelBatch(ctx, id)
		return err
	})
	if err != nil {
		return BatchInfo{}, fmt.Errorf("cancel batch %s: %w", id, err)
	}
	return c.batchInfo(b.Batch), nil
}

// FileContent returns the content of a file (a batch's output or error
// file) as it arrives. The body is not bounded by MaxReplyBytes nor by the
// request timeout as a whole: a read fails when no data comes for the
// request timeout, or when ctx ends. The caller must close it. Only getting
// the reply is retried; a failed read is the caller's to retry.
func (c *Client) FileContent(ctx context.Context, fileID string) (io.ReadCloser, error) {
	if err := checkID("file", fileID); err != nil {
		return nil, fmt.Errorf("file content: %w", err)
	}
	var body io.ReadCloser
	err := c.call(ctx, "file content", 0, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(withUnlimitedReply(ctx))
		// Headers must come within the request timeout.
		t := time.AfterFunc(c.requestTimeout, cancel)
		raw, err := c.files.GetFileContent(ctx, fileID)
		stopped := t.Stop()
		if err == nil && !stopped {
			raw.Close()
			err = context.DeadlineExceeded
		}
		if err != nil {
			cancel()
			return err
		}
		body = newIdleBody(raw.ReadCloser, c.requestTimeout, cancel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("file content %s: %w", fileID, err)
	}
	return body, nil
}

// call runs one batch or file call under the retry policy of Complete
// (without the chat rate limiter, which the Batch API does not share),
// each attempt bounded by timeout when it is not 0. It returns nil, ctx's
// error, or a *jobs.CallError without the API key.
func (c *Client) call(ctx context.Context, op string, timeout time.Duration, do func(ctx context.Context) error) error {
	log := c.log.With("op", op)
	attempts := 0
	err := c.retry(ctx, log, func(ctx context.Context) error {
		capt := &capture{}
		actx := withCapture(ctx, capt)
		if timeout > 0 {
			var cancel context.CancelFunc
			actx, cancel = context.WithTimeout(actx, timeout)
			defer cancel()
		}
		err := do(actx)
		roundTrips, status, header := capt.result()
		attempts += max(roundTrips, 1)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ce *jobs.CallError
		if errors.As(err, &ce) {
			return ce
		}
		return c.classify(err, status, header)
	})
	var ce *jobs.CallError
	if errors.As(err, &ce) {
		ce.Attempts = attempts
	}
	return err
}

// noID is a 2xx reply that names no object.
func noID(kind string) *jobs.CallError {
	return &jobs.CallError{Reason: ReasonInvalidReply, Status: http.StatusOK, Retryable: true,
		Message: "reply has no " + kind + " id"}
}

// checkID refuses an id that go-openai would paste into the URL unescaped.
func checkID(kind, id string) error {
	if id == "" || url.PathEscape(id) != id || id == "." || id == ".." {
		return &jobs.CallError{Reason: ReasonInvalidRequest, Message: fmt.Sprintf("invalid %s id %q", kind, id)}
	}
	return nil
}

func (c *Client) batchInfo(b openai.Batch) BatchInfo {
	info := BatchInfo{
		ID:          b.ID,
		Status:      b.Status,
		InputFileID: b.InputFileID,
		Total:       b.RequestCounts.Total,
		Completed:   b.RequestCounts.Completed,
		Failed:      b.RequestCounts.Failed,
	}
	if b.OutputFileID != nil {
		info.OutputFileID = *b.OutputFileID
	}
	if b.ErrorFileID != nil {
		info.ErrorFileID = *b.ErrorFileID
	}
	if b.CreatedAt != 0 {
		info.CreatedAt = time.Unix(int64(b.CreatedAt), 0)
	}
	if b.ExpiresAt != nil && *b.ExpiresAt != 0 {
		info.ExpiresAt = time.Unix(int64(*b.ExpiresAt), 0)
	}
	if b.Errors != nil {
		for _, e := range b.Errors.Data {
			s := e.Code + ": " + e.Message
			if e.Line != nil {
				s = "line " + strconv.Itoa(*e.Line) + ": " + s
			}
			info.Errors = append(info.Errors, c.scrub(s))
		}
	}
	return info
}

// idleBody is a file download that fails when no data comes for idle.
type idleBody struct {
	rc       io.ReadCloser
	idle     time.Duration
	timer    *time.Timer
	cancel   context.CancelFunc
	timedOut atomic.Bool
}

func newIdleBody(rc io.ReadCloser, idle time.Duration, cancel context.CancelFunc) *idleBody {
	b := &idleBody{rc: rc, idle: idle, cancel: cancel}
	b.timer = time.AfterFunc(idle, func() {
		b.timedOut.Store(true)
		cancel()
	})
	return b
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF && b.timedOut.Load() {
		err = fmt.Errorf("no data for %s: %w", b.idle, err)
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel()
	return err
}

// ReadBatchResults reads a Batch API output or error file (or vLLM
// run_batch output) from r and calls fn for each line, in order; it stops
// at fn's first error and returns it. A line that is not valid JSON, lacks
// custom_id, or has neither a response nor an error, is an error naming
// name and the line. Blank lines are skipped. Lines are read one at a time
// (each up to 64 MiB).
func ReadBatchResults(r io.Reader, name string, fn func(BatchResult) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxBatchLine)
	// Classifies error bodies as the live path does; it knows no key.
	var keyless = &Client{now: time.Now}
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		res, err := keyless.batchResult(line)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, n, err)
		}
		res.Line = n
		res.Message = scrubKeys(res.Message)
		if err := fn(res); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("%s: line %d: longer than %d MiB", name, n+1, maxBatchLine>>20)
		}
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

// batchOutputLine is one line of an output or error file.
type batchOutputLine struct {
	CustomID *string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	// Error is OpenAI's {"code", "message"} beside a null response, or
	// vLLM's error beside a response without a body: its ErrorResponse
	// object, or a string.
	Error json.RawMessage `json:"error"`
}

func (c *Client) batchResult(line []byte) (BatchResult, error) {
	var l batchOutputLine
	if err := json.Unmarshal(line, &l); err != nil {
		return BatchResult{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if l.CustomID == nil || *l.CustomID == "" {
		return BatchResult{}, errors.New("no custom_id")
	}
	res := BatchResult{CustomID: *l.CustomID}
	switch {
	case l.Response != nil:
		res.Status = l.Response.StatusCode
		if res.Status == 0 {
			return BatchResult{}, errors.New("response has no status_code")
		}
		if res.Status >= 200 && res.Status < 300 {
			res.Reply, res.Reason, res.Message = batchReply(l.Response.Body)
			return res, nil
		}
		body := l.Response.Body
		if isNull(body) {
			body = l.Error
		}
		res.Reason, res.Message = c.batchError(res.Status, body)
	case !isNull(l.Error):
		var e struct {
			Code    any    `json:"code"`
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(l.Error, &s) == nil:
			res.Reason, res.Message = "batch_error", s
		case json.Unmarshal(l.Error, &e) == nil:
			code := strings.ToLower(strings.ReplaceAll(jsonText(e.Code), " ", "_"))
			switch {
			case code == "":
				res.Reason = "batch_error"
			case strings.HasPrefix(code, "batch_"):
				res.Reason = code
			default:
				res.Reason = "batch_" + code
			}
			res.Message = e.Message
		default:
			return BatchResult{}, errors.New("error is neither an object nor a string")
		}
	default:
		return BatchResult{}, errors.New("neither response nor error")
	}
	return res, nil
}

// batchReply reads the body of a 2xx response line.
func batchReply(body json.RawMessage) (reply jobs.Reply, reason, message string) {
	if isNull(body) {
		return jobs.Reply{}, ReasonInvalidReply, "reply has no body"
	}
	var resp openai.ChatCompletionResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return jobs.Reply{}, ReasonInvalidReply, "undecodable reply: " + err.Error()
	}
	if len(resp.Choices) == 0 {
		return jobs.Reply{}, ReasonInvalidReply, "reply has no choices"
	}
	reply = replyFrom(resp)
	reply.Attempts = 1
	return reply, "", ""
}

// batchError classifies the error body of a failed request line as the
// live path classifies the same reply.
func (c *Client) batchError(status int, body json.RawMessage) (reason, message string) {
	var s string
	if json.Unmarshal(body, &s) == nil {
		// vLLM's run_batch: the exception's text.
		if s == "" {
			s = http.StatusText(status)
		}
		return "http_" + strconv.Itoa(status), s
	}
	// What go-openai's handleErrorResp would return for this reply.
	var err error
	var er openai.ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error != nil {
		er.Error.HTTPStatusCode = status
		er.Error.HTTPStatus = strconv.Itoa(status) + " " + http.StatusText(status)
		err = er.Error
	} else {
		err = &openai.RequestError{HTTPStatusCode: status, Body: body, Err: errors.New("no OpenAI error object")}
	}
	ce := c.classify(err, status, nil)
	return ce.Reason, ce.Message
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || bytes.Equal(b, []byte("null"))
}

// keyPattern matches what looks like an OpenAI-style secret key. A file
// reader has no Client, so it cannot scrub the exact key.
var keyPattern = regexp.MustCompile(`sk-[A-Za-z0-9_\-]{16,}`)

// scrubKeys removes anything that looks like an API key from s.
func scrubKeys(s string) string {
	if !strings.Contains(s, "sk-") {
		return s
	}
	return keyPattern.ReplaceAllString(s, redacted)
}
