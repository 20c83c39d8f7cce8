package fakeopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the Files and Batch API: POST /v1/files,
// GET /v1/files/{id}, GET /v1/files/{id}/content, POST /v1/batches,
// GET /v1/batches, GET /v1/batches/{id} and POST /v1/batches/{id}/cancel.

// Defaults of the batch options.
const (
	// DefaultMaxFileBytes is Options.MaxFileBytes when it is 0: 200 MB,
	// OpenAI's limit for a batch input file.
	DefaultMaxFileBytes = 200 << 20
	// DefaultMaxBatchLines is Options.MaxBatchLines when it is 0: OpenAI's
	// limit of requests per batch.
	DefaultMaxBatchLines = 50_000
)

// The limit of GET /v1/batches: its default, and the largest accepted (the
// smallest is 1).
const (
	batchListDefault = 20
	batchListMax     = 100
)

// The statuses of a batch, as in the "status" of a Batch object.
const (
	BatchValidating = "validating"
	BatchFailed     = "failed"
	BatchInProgress = "in_progress"
	BatchFinalizing = "finalizing"
	BatchCompleted  = "completed"
	BatchExpired    = "expired"
	BatchCancelling = "cancelling"
	BatchCancelled  = "cancelled"
)

// BatchEndpoint is the one endpoint batches are accepted for.
const BatchEndpoint = "/v1/chat/completions"

// batchWindow is the one completion_window accepted, and how long a batch
// has before it expires (expires_at).
const (
	batchWindow    = "24h"
	batchWindowDur = 24 * time.Hour
)

// batchServerError is error.message of a line in a batch's error file.
const batchServerError = "The server had an error while processing your request. Sorry about that!"

// BatchStats counts what the Files and Batch API did.
type BatchStats struct {
	// Files counts the files uploaded and stored (POST /v1/files that got
	// 200); Downloads the file contents served (GET /v1/files/{id}/content
	// that got 200), input, output and error files alike.
	Files, Downloads int
	// Batches counts the batches created (POST /v1/batches that got 200),
	// those that then fail validation included.
	Batches int
	// Retrieves counts the retrieves of a known batch (GET
	// /v1/batches/{id} that got 200); Cancels the cancels accepted (POST
	// /v1/batches/{id}/cancel that got 200).
	Retrieves, Cancels int
	// Lists counts the lists of batches served (GET /v1/batches that got
	// 200).
	Lists int
	// Lines counts the batch lines answered: LinesOK those answered with
	// status_code 200 (counted in Paid), LinesFailed the others (a non-200
	// status_code in the output file, or a line in the error file). Lines
	// a cancelled or expired batch left unanswered are not counted.
	Lines, LinesOK, LinesFailed int
}

// BatchLine is one line of a batch input file, as the server answered it.
type BatchLine struct {
	// BatchID is the batch and CustomID the line's custom_id.
	BatchID, CustomID string
	// Recorded is the line as a request: Method "POST", Path the line's
	// url, Body the line's body, and Step, Model, Messages,
	// ResponseFormat, ServiceTier and Fences decoded from it as for a
	// live request. Status is the status_code of its output line, 0 for a
	// line in the error file. Arrived is when the batch was created and
	// Replied when the line was answered. Header is nil; Tokens and
	// Limited are zero, since the rate limits do not apply to batches.
	Recorded
}

// storedFile is a file of the Files API.
type storedFile struct {
	ID        string
	Name      string
	Purpose   string
	CreatedAt int64
	Data      []byte
}

// fileObject is an OpenAI File object.
type fileObject struct {
	ID        string `json:"id"`
	Object    string `json:"object"`
	Bytes     int    `json:"bytes"`
	CreatedAt int64  `json:"created_at"`
	Filename  string `json:"filename"`
	Purpose   string `json:"purpose"`
}

func (f *storedFile) object() fileObject {
	return fileObject{
		ID:        f.ID,
		Object:    "file",
		Bytes:     len(f.Data),
		CreatedAt: f.CreatedAt,
		Filename:  f.Name,
		Purpose:   f.Purpose,
	}
}

// batchObject is an OpenAI Batch object. Nil pointers are sent as null.
type batchObject struct {
	ID               string          `json:"id"`
	Object           string          `json:"object"`
	Endpoint         string          `json:"endpoint"`
	Errors           *batchErrors    `json:"errors"`
	InputFileID      string          `json:"input_file_id"`
	CompletionWindow string          `json:"completion_window"`
	Status           string          `json:"status"`
	OutputFileID     *string         `json:"output_file_id"`
	ErrorFileID      *string         `json:"error_file_id"`
	CreatedAt        int64           `json:"created_at"`
	InProgressAt     *int64          `json:"in_progress_at"`
	ExpiresAt        *int64          `json:"expires_at"`
	FinalizingAt     *int64          `json:"finalizing_at"`
	CompletedAt      *int64          `json:"completed_at"`
	FailedAt         *int64          `json:"failed_at"`
	ExpiredAt        *int64          `json:"expired_at"`
	CancellingAt     *int64          `json:"cancelling_at"`
	CancelledAt      *int64          `json:"cancelled_at"`
	RequestCounts    requestCounts   `json:"request_counts"`
	Metadata         json.RawMessage `json:"metadata"`
}

type requestCounts struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
}

type batchErrors struct {
	Object string           `json:"object"`
	Data   []batchLineError `json:"data"`
}

// batchLineError is an entry of a failed batch's errors.data. Line is the
// 1-based line of the input file, null for an error of the whole file.
type batchLineError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
	Line    *int    `json:"line"`
}

// batchInput is a valid line of a batch input file.
type batchInput struct {
	customID string
	url      string
	body     json.RawMessage
}

// batch is a batch and where it is in its course.
type batch struct {
	obj     batchObject
	created time.Time
	lines   []batchInput     // nil when the file failed validation
	errs    []batchLineError // validation errors; the batch fails at its next step
	polls   int              // retrieves so far
	seq     int              // its index in batchStore.order
}

// batchStore holds the files and batches. It is guarded by Server.mu.
type batchStore struct {
	files   map[string]*storedFile
	batches map[string]*batch
	order   []*batch // in creation order; batch.seq is the index
	// nextFile, nextBatch and nextLine number the ids.
	nextFile, nextBatch, nextLine int
	expire                        int // batches left to expire, see ExpireBatches
	lose                          int // create replies left to lose, see LoseCreateReplies
	stats                         BatchStats
	lines                         []BatchLine
}

func newBatchStore() batchStore {
	return batchStore{
		files:   make(map[string]*storedFile),
		batches: make(map[string]*batch),
	}
}

// isBatchPath reports whether path belongs to the Files and Batch API.
func isBatchPath(path string) bool {
	return path == "/v1/files" || strings.HasPrefix(path, "/v1/files/") ||
		path == "/v1/batches" || strings.HasPrefix(path, "/v1/batches/")
}

// maxFileBytes returns the file size limit of Options.MaxFileBytes.
func (s *Server) maxFileBytes() int64 {
	if s.opts.MaxFileBytes > 0 {
		return s.opts.MaxFileBytes
	}
	return DefaultMaxFileBytes
}

// maxBatchLines returns the line limit of Options.MaxBatchLines.
func (s *Server) maxBatchLines() int {
	if s.opts.MaxBatchLines > 0 {
		return s.opts.MaxBatchLines
	}
	return DefaultMaxBatchLines
}

// bodyLimit returns how much of a request body the server reads: maxBody,
// or for an upload the file limit plus room for the multipart framing.
func (s *Server) bodyLimit(r *http.Request) int64 {
	if r.URL.Path == "/v1/files" && r.Method == http.MethodPost {
		return s.maxFileBytes() + 1<<20
	}
	return maxBody
}

// BatchStats returns a snapshot of the Files and Batch API counters.
func (s *Server) BatchStats() BatchStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.batch.stats
}

// BatchLines returns the batch lines answered, in the order they were
// answered (each batch's in input order). It is empty with Options.NoRecord.
func (s *Server) BatchLines() []BatchLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]BatchLine, len(s.batch.lines))
	for i, l := range s.batch.lines {
		l.Messages = slices.Clone(l.Messages)
		l.Body = slices.Clone(l.Body)
		l.Fences = maps.Clone(l.Fences)
		out[i] = l
	}
	return out
}

// FinishBatches ends every open batch at once, as its last retrieve would:
// a batch whose file failed validation fails, a cancelling batch is
// cancelled, any other completes (or expires, see ExpireBatches). It counts
// no retrieve.
func (s *Server) FinishBatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for _, b := range s.batch.order {
		switch b.obj.Status {
		case BatchValidating, BatchInProgress, BatchFinalizing, BatchCancelling:
			s.finishLocked(b, now)
		}
	}
	s.notifyLocked()
}

// ExpireBatches makes the next n batches to complete end "expired" instead,
// with only the first half of their lines (rounded down) answered. Calls
// add up. It panics on a negative n.
func (s *Server) ExpireBatches(n int) {
	if n < 0 {
		panic(fmt.Sprintf("fakeopenai: ExpireBatches(%d)", n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.expire += n
}

// LoseCreateReplies makes the next n POST /v1/batches that would succeed
// lose their reply: the batch is created as usual (it counts in
// BatchStats.Batches, is listed, retrieved and answered), but the
// connection is closed without a response, as Fault.Drop does, so the
// client cannot tell whether its batch exists. Requests that get an error
// are answered as usual and do not use it up. Calls add up. It panics on a
// negative n.
func (s *Server) LoseCreateReplies(n int) {
	if n < 0 {
		panic(fmt.Sprintf("fakeopenai: LoseCreateReplies(%d)", n))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch.lose += n
}

// batchAPI decides the reply to a request of the Files and Batch API that
// passed the API key check.
func (s *Server) batchAPI(r *http.Request, body []byte, readErr error) reply {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	method := func(want string, do func() reply) reply {
		if r.Method != want {
			return methodNotAllowed(r)
		}
		return do()
	}
	switch {
	case len(parts) == 1 && parts[0] == "files":
		return method(http.MethodPost, func() reply { return s.uploadFile(r, body, readErr) })
	case len(parts) == 2 && parts[0] == "files" && parts[1] != "":
		return method(http.MethodGet, func() reply { return s.getFile(parts[1], false) })
	case len(parts) == 3 && parts[0] == "files" && parts[1] != "" && parts[2] == "content":
		return method(http.MethodGet, func() reply { return s.getFile(parts[1], true) })
	case len(parts) == 1 && parts[0] == "batches":
		switch r.Method {
		case http.MethodPost:
			return s.createBatch(body, readErr)
		case http.MethodGet:
			return s.listBatches(r.URL.Query())
		}
		return methodNotAllowed(r)
	case len(parts) == 2 && parts[0] == "batches" && parts[1] != "":
		return method(http.MethodGet, func() reply { return s.retrieveBatch(parts[1]) })
	case len(parts) == 3 && parts[0] == "batches" && parts[1] != "" && parts[2] == "cancel":
		return method(http.MethodPost, func() reply { return s.cancelBatch(parts[1]) })
	}
	return unknownURL(r)
}

// invalidRequest returns a 400 invalid_request_error.
func invalidRequest(msg, param, code string) reply {
	return errorReply(http.StatusBadRequest, apiError{Message: msg, Type: "invalid_request_error", Param: param, Code: code})
}

// notFound returns a 404 with error.code null (errorReply would make it
// "model_not_found").
func notFound(msg string) reply {
	return reply{
		status: http.StatusNotFound,
		header: http.Header{"Content-Type": {"application/json"}},
		body: mustJSON(struct {
			Error apiError `json:"error"`
		}{apiError{Message: msg, Type: "invalid_request_error"}}),
	}
}

func jsonReply(v any) reply {
	return reply{
		status: http.StatusOK,
		header: http.Header{"Content-Type": {"application/json"}},
		body:   mustJSON(v),
	}
}

// uploadFile answers POST /v1/files.
func (s *Server) uploadFile(r *http.Request, body []byte, readErr error) reply {
	limit := s.maxFileBytes()
	tooLarge := invalidRequest(
		fmt.Sprintf("File is too large: the limit is %d bytes.", limit), "file", "file_too_large")
	if readErr != nil {
		var mbe *http.MaxBytesError
		if errors.As(readErr, &mbe) {
			return tooLarge
		}
		return invalidRequest("could not read the request body: "+readErr.Error(), "", "")
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return invalidRequest("Invalid Content-Type header, expected multipart/form-data.", "", "")
	}
	malformed := invalidRequest("Malformed multipart/form-data body.", "", "")
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var (
		purpose, name       string
		data                []byte
		hasPurpose, hasFile bool
	)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return malformed
		}
		switch p.FormName() {
		case "purpose":
			b, err := io.ReadAll(io.LimitReader(p, 1<<10))
			if err != nil {
				return malformed
			}
			purpose, hasPurpose = string(b), true
		case "file":
			b, err := io.ReadAll(io.LimitReader(p, limit+1))
			if err != nil {
				return malformed
			}
			if int64(len(b)) > limit {
				return tooLarge
			}
			data, name, hasFile = b, p.FileName(), true
		}
	}
	switch {
	case !hasPurpose || purpose == "":
		return invalidRequest("Missing required parameter: 'purpose'.", "purpose", "missing_required_parameter")
	case !hasFile:
		return invalidRequest("Missing required parameter: 'file'.", "file", "missing_required_parameter")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.storeFileLocked(name, purpose, data)
	s.batch.stats.Files++
	return jsonReply(f.object())
}

// storeFileLocked stores a new file; s.mu must be held.
func (s *Server) storeFileLocked(name, purpose string, data []byte) *storedFile {
	s.batch.nextFile++
	f := &storedFile{
		ID:        "file-fake" + strconv.Itoa(s.batch.nextFile),
		Name:      name,
		Purpose:   purpose,
		CreatedAt: s.opts.Now().Unix(),
		Data:      data,
	}
	s.batch.files[f.ID] = f
	return f
}

// getFile answers GET /v1/files/{id} and, with content,
// GET /v1/files/{id}/content.
func (s *Server) getFile(id string, content bool) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.batch.files[id]
	if !ok {
		return notFound(fmt.Sprintf("No such File object: %s", id))
	}
	if !content {
		return jsonReply(f.object())
	}
	s.batch.stats.Downloads++
	return reply{
		status: http.StatusOK,
		header: http.Header{"Content-Type": {"application/octet-stream"}},
		body:   f.Data,
	}
}

// createBatchRequest is the body of POST /v1/batches.
type createBatchRequest struct {
	InputFileID      string          `json:"input_file_id"`
	Endpoint         string          `json:"endpoint"`
	CompletionWindow string          `json:"completion_window"`
	Metadata         json.RawMessage `json:"metadata"`
}

// createBatch answers POST /v1/batches.
func (s *Server) createBatch(body []byte, readErr error) reply {
	if readErr != nil {
		return invalidRequest("could not read the request body: "+readErr.Error(), "", "")
	}
	var req createBatchRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return invalidRequest("We could not parse the JSON body of your request. ("+err.Error()+")", "", "")
	}
	switch {
	case req.InputFileID == "":
		return invalidRequest("Missing required parameter: 'input_file_id'.", "input_file_id", "missing_required_parameter")
	case req.Endpoint != BatchEndpoint:
		return invalidRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: '%s'.", req.Endpoint, BatchEndpoint),
			"endpoint", "invalid_value")
	case req.CompletionWindow != batchWindow:
		return invalidRequest(fmt.Sprintf("Invalid value: '%s'. Supported values are: '%s'.", req.CompletionWindow, batchWindow),
			"completion_window", "invalid_value")
	}
	if m := bytes.TrimSpace(req.Metadata); len(m) > 0 && m[0] != '{' && string(m) != "null" {
		return invalidRequest("Invalid type for 'metadata': expected an object.", "metadata", "invalid_type")
	}
	if string(bytes.TrimSpace(req.Metadata)) == "null" {
		req.Metadata = nil
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.batch.files[req.InputFileID]
	if !ok {
		return notFound(fmt.Sprintf("No such File object: %s", req.InputFileID))
	}
	if f.Purpose != "batch" {
		return invalidRequest(fmt.Sprintf("The file %s has purpose '%s'; a batch input file must have purpose 'batch'.", f.ID, f.Purpose),
			"input_file_id", "invalid_value")
	}
	lines, errs := parseBatchFile(f.Data, req.Endpoint, s.maxBatchLines())
	now := s.opts.Now()
	s.batch.nextBatch++
	b := &batch{
		created: now,
		lines:   lines,
		errs:    errs,
		seq:     len(s.batch.order),
		obj: batchObject{
			ID:               "batch_fake" + strconv.Itoa(s.batch.nextBatch),
			Object:           "batch",
			Endpoint:         req.Endpoint,
			InputFileID:      f.ID,
			CompletionWindow: req.CompletionWindow,
			Status:           BatchValidating,
			CreatedAt:        now.Unix(),
			ExpiresAt:        unixPtr(now.Add(batchWindowDur)),
			Metadata:         slices.Clone(req.Metadata),
		},
	}
	if len(errs) > 0 {
		b.lines = nil
	}
	s.batch.batches[b.obj.ID] = b
	s.batch.order = append(s.batch.order, b)
	s.batch.stats.Batches++
	if s.batch.lose > 0 {
		s.batch.lose--
		return reply{kind: replyDrop}
	}
	return jsonReply(b.obj)
}

func unixPtr(t time.Time) *int64 {
	u := t.Unix()
	return &u
}

// parseBatchFile validates a batch input file. Lines blank after
// strings.TrimSpace are skipped (a final newline is allowed); line numbers
// count from 1 and include them. It returns the lines, or the errors that
// make the batch fail.
func parseBatchFile(data []byte, endpoint string, maxLines int) ([]batchInput, []batchLineError) {
	type numbered struct {
		n    int
		text []byte
	}
	var raw []numbered
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			raw = append(raw, numbered{i + 1, bytes.TrimSuffix(line, []byte("\r"))})
		}
	}
	fileErr := func(code, msg string) []batchLineError {
		return []batchLineError{{Code: code, Message: msg}}
	}
	switch {
	case len(raw) == 0:
		return nil, fileErr("empty_file", "The batch input file is empty.")
	case len(raw) > maxLines:
		return nil, fileErr("too_many_tasks",
			fmt.Sprintf("The batch input file has %d requests; a batch can have at most %d.", len(raw), maxLines))
	}
	var (
		lines []batchInput
		errs  []batchLineError
		seen  = make(map[string]bool, len(raw))
		model string // of the first line that names one
	)
	for _, l := range raw {
		add := func(code, param, msg string) {
			n := l.n
			e := batchLineError{Code: code, Message: msg, Line: &n}
			if param != "" {
				e.Param = &param
			}
			errs = append(errs, e)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(l.text, &fields); err != nil || fields == nil {
			add("invalid_json_line", "", "This line is not parseable as valid JSON.")
			continue
		}
		str := func(name string) (string, bool) {
			var v string
			raw, ok := fields[name]
			if !ok || json.Unmarshal(raw, &v) != nil || v == "" {
				add("missing_required_parameter", name, fmt.Sprintf("Missing required parameter: '%s'.", name))
				return "", false
			}
			return v, true
		}
		id, ok := str("custom_id")
		if !ok {
			continue
		}
		if seen[id] {
			add("duplicate_custom_id", "custom_id",
				"The custom_id for this request is a duplicate of another request. The custom_id parameter must be unique for each individual request in a batch.")
			continue
		}
		seen[id] = true
		method, ok := str("method")
		if !ok {
			continue
		}
		if method != http.MethodPost {
			add("invalid_value", "method", fmt.Sprintf("Invalid value: '%s'. Supported values are: 'POST'.", method))
			continue
		}
		url, ok := str("url")
		if !ok {
			continue
		}
		if url != endpoint {
			add("url_mismatch", "url",
				fmt.Sprintf("The provided URL '%s' does not match the batch endpoint '%s'.", url, endpoint))
			continue
		}
		body := bytes.TrimSpace(fields["body"])
		if len(body) == 0 || body[0] != '{' {
			add("missing_required_parameter", "body", "Missing required parameter: 'body'.")
			continue
		}
		var m struct {
			Model string `json:"model"`
		}
		if json.Unmarshal(body, &m) == nil && m.Model != "" {
			if model == "" {
				model = m.Model
			} else if m.Model != model {
				add("model_mismatch", "body.model",
					fmt.Sprintf("The model '%s' does not match the model '%s' of the other requests in the batch.", m.Model, model))
				continue
			}
		}
		lines = append(lines, batchInput{customID: id, url: url, body: slices.Clone(body)})
	}
	return lines, errs
}

// lookupBatchLocked returns the batch id, or the 404 for it; s.mu must be
// held.
func (s *Server) lookupBatchLocked(id string) (*batch, *reply) {
	b, ok := s.batch.batches[id]
	if !ok {
		rep := notFound(fmt.Sprintf("No batch found with id '%s'.", id))
		return nil, &rep
	}
	return b, nil
}

// retrieveBatch answers GET /v1/batches/{id}, moving the batch one step on.
func (s *Server) retrieveBatch(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, rep := s.lookupBatchLocked(id)
	if rep != nil {
		return *rep
	}
	s.batch.stats.Retrieves++
	now := s.opts.Now()
	switch b.obj.Status {
	case BatchValidating, BatchInProgress, BatchFinalizing:
		b.polls++
		switch polls := s.opts.BatchPolls; {
		case len(b.errs) > 0 || b.polls >= polls:
			s.finishLocked(b, now)
		case b.polls == polls-1 && polls >= 3:
			b.obj.Status = BatchFinalizing
			b.startLocked(now)
			b.obj.FinalizingAt = unixPtr(now)
		default:
			b.obj.Status = BatchInProgress
			b.startLocked(now)
		}
	case BatchCancelling:
		s.finishLocked(b, now)
	}
	return jsonReply(b.obj)
}

// batchList is the reply to GET /v1/batches. FirstID and LastID are null
// when Data is empty.
type batchList struct {
	Object  string        `json:"object"`
	Data    []batchObject `json:"data"`
	FirstID *string       `json:"first_id"`
	LastID  *string       `json:"last_id"`
	HasMore bool          `json:"has_more"`
}

// listBatches answers GET /v1/batches: the batches newest first (in
// creation order, not by created_at, which has one-second resolution),
// those created before the batch "after" when it is given, at most "limit"
// of them. It moves no batch on.
func (s *Server) listBatches(q url.Values) reply {
	limit := batchListDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil:
			return invalidRequest(fmt.Sprintf("Invalid type for 'limit': expected an integer, but got '%s' instead.", v),
				"limit", "invalid_type")
		case n < 1:
			return invalidRequest(fmt.Sprintf("Invalid 'limit': integer below minimum value. Expected a value >= 1, but got %d instead.", n),
				"limit", "integer_below_min_value")
		case n > batchListMax:
			return invalidRequest(fmt.Sprintf("Invalid 'limit': integer above maximum value. Expected a value <= %d, but got %d instead.", batchListMax, n),
				"limit", "integer_above_max_value")
		}
		limit = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	end := len(s.batch.order) // the batches to list are order[:end]
	if after := q.Get("after"); after != "" {
		b, ok := s.batch.batches[after]
		if !ok {
			return invalidRequest(fmt.Sprintf("No batch found with id '%s'.", after), "after", "invalid_value")
		}
		end = b.seq
	}
	list := batchList{Object: "list", Data: []batchObject{}}
	for i := end - 1; i >= 0 && len(list.Data) < limit; i-- {
		list.Data = append(list.Data, s.batch.order[i].obj)
	}
	list.HasMore = end > len(list.Data)
	if n := len(list.Data); n > 0 {
		list.FirstID, list.LastID = &list.Data[0].ID, &list.Data[n-1].ID
	}
	s.batch.stats.Lists++
	return jsonReply(list)
}

// startLocked marks the batch in progress, if it was not yet.
func (b *batch) startLocked(now time.Time) {
	if b.obj.InProgressAt == nil {
		b.obj.InProgressAt = unixPtr(now)
		b.obj.RequestCounts.Total = len(b.lines)
	}
}

// cancelBatch answers POST /v1/batches/{id}/cancel.
func (s *Server) cancelBatch(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, rep := s.lookupBatchLocked(id)
	if rep != nil {
		return *rep
	}
	switch b.obj.Status {
	case BatchValidating, BatchInProgress, BatchFinalizing:
		b.obj.Status = BatchCancelling
		b.obj.CancellingAt = unixPtr(s.opts.Now())
	case BatchCancelling:
	default:
		return invalidRequest(fmt.Sprintf("Cannot cancel a batch with status '%s'.", b.obj.Status), "", "")
	}
	s.batch.stats.Cancels++
	return jsonReply(b.obj)
}

// finishLocked ends an open batch at now: failed if its file failed
// validation, cancelled if it was cancelling, else completed or (see
// ExpireBatches) expired; s.mu must be held.
func (s *Server) finishLocked(b *batch, now time.Time) {
	if b.obj.Status == BatchValidating && len(b.errs) > 0 {
		b.obj.Status = BatchFailed
		b.obj.FailedAt = unixPtr(now)
		b.obj.Errors = &batchErrors{Object: "list", Data: b.errs}
		return
	}
	b.startLocked(now)
	half := b.lines[:len(b.lines)/2]
	switch {
	case b.obj.Status == BatchCancelling:
		b.obj.Status = BatchCancelled
		b.obj.CancelledAt = unixPtr(now)
		s.answerLinesLocked(b, half, now)
	case s.batch.expire > 0:
		s.batch.expire--
		b.obj.Status = BatchExpired
		b.obj.ExpiredAt = unixPtr(now)
		s.answerLinesLocked(b, half, now)
	default:
		b.obj.Status = BatchCompleted
		if b.obj.FinalizingAt == nil {
			b.obj.FinalizingAt = unixPtr(now)
		}
		b.obj.CompletedAt = unixPtr(now)
		s.answerLinesLocked(b, b.lines, now)
	}
}

// batchOutputLine is a line of a batch's output or error file.
type batchOutputLine struct {
	ID       string          `json:"id"`
	CustomID string          `json:"custom_id"`
	Response *batchResponse  `json:"response"`
	Error    *batchLineFault `json:"error"`
}

type batchResponse struct {
	StatusCode int             `json:"status_code"`
	RequestID  string          `json:"request_id"`
	Body       json.RawMessage `json:"body"`
}

type batchLineFault struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// answerLinesLocked answers lines of b as live chat completions (rules and
// content options apply, the rate limits do not), writes the output and
// error files and fills in the request counts; s.mu must be held.
func (s *Server) answerLinesLocked(b *batch, lines []batchInput, now time.Time) {
	var out, errOut bytes.Buffer
	counts := &b.obj.RequestCounts
	for _, line := range lines {
		s.seq++
		s.batch.nextLine++
		in := decodeChat(line.body, nil)
		var rep reply
		if in.err != "" {
			rep = errorReply(http.StatusBadRequest, apiError{Message: in.err, Type: "invalid_request_error"})
		} else {
			rep = s.answer(&in, s.fireLocked(&in), s.seq)
		}
		o := batchOutputLine{ID: "batch_req_fake" + strconv.Itoa(s.batch.nextLine), CustomID: line.customID}
		status := rep.status
		if rep.kind != replyWrite || !json.Valid(rep.body) {
			// Drop, Truncate, InvalidJSON and HTMLBody: no response to
			// give, as when a request fails inside OpenAI.
			status = 0
			o.Error = &batchLineFault{Code: "server_error", Message: batchServerError}
			errOut.Write(mustJSON(o))
			errOut.WriteByte('\n')
		} else {
			o.Response = &batchResponse{
				StatusCode: status,
				RequestID:  "req_fake" + strconv.Itoa(s.batch.nextLine),
				Body:       rep.body,
			}
			out.Write(mustJSON(o))
			out.WriteByte('\n')
		}
		s.batch.stats.Lines++
		if status == http.StatusOK {
			counts.Completed++
			s.batch.stats.LinesOK++
		} else {
			counts.Failed++
			s.batch.stats.LinesFailed++
		}
		if rep.ok && rep.kind == replyWrite && status == http.StatusOK {
			s.paid[rep.key]++
		}
		if !s.opts.NoRecord {
			rec := in.record(http.MethodPost, line.url, line.body, b.created)
			rec.Status, rec.Replied = status, now
			s.batch.lines = append(s.batch.lines, BatchLine{BatchID: b.obj.ID, CustomID: line.customID, Recorded: rec})
		}
	}
	if out.Len() > 0 {
		f := s.storeFileLocked(b.obj.ID+"_output.jsonl", "batch_output", out.Bytes())
		b.obj.OutputFileID = &f.ID
	}
	if errOut.Len() > 0 {
		f := s.storeFileLocked(b.obj.ID+"_error.jsonl", "batch_output", errOut.Bytes())
		b.obj.ErrorFileID = &f.ID
	}
}
