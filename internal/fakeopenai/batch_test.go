package fakeopenai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

// outputLine is a line of a batch's output or error file.
type outputLine struct {
	ID       string `json:"id"`
	CustomID string `json:"custom_id"`
	Response *struct {
		StatusCode int             `json:"status_code"`
		RequestID  string          `json:"request_id"`
		Body       json.RawMessage `json:"body"`
	} `json:"response"`
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// articleRequest is the translation request of article i, whose title
// carries the marker "article-<i>" for rules to match.
func articleRequest(i int) openai.ChatCompletionRequest {
	return translationRequest(fmt.Sprintf("%s article-%d", arTitle, i), arBody)
}

// uploadBatch uploads the requests as a batch input file with custom_ids
// "id-0", "id-1", ... and returns the file.
func uploadBatch(tb testing.TB, client *openai.Client, reqs ...openai.ChatCompletionRequest) openai.File {
	tb.Helper()
	var up openai.UploadBatchFileRequest
	for i, r := range reqs {
		up.AddChatCompletion(fmt.Sprintf("id-%d", i), r)
	}
	f, err := client.UploadBatchFile(context.Background(), up)
	if err != nil {
		tb.Fatalf("UploadBatchFile: %v", err)
	}
	return f
}

// createBatch creates a batch of the requests.
func createBatch(tb testing.TB, client *openai.Client, reqs ...openai.ChatCompletionRequest) openai.BatchResponse {
	tb.Helper()
	f := uploadBatch(tb, client, reqs...)
	b, err := client.CreateBatch(context.Background(), openai.CreateBatchRequest{
		InputFileID: f.ID,
		Endpoint:    openai.BatchEndpointChatCompletions,
	})
	if err != nil {
		tb.Fatalf("CreateBatch: %v", err)
	}
	return b
}

func retrieve(tb testing.TB, client *openai.Client, id string) openai.BatchResponse {
	tb.Helper()
	b, err := client.RetrieveBatch(context.Background(), id)
	if err != nil {
		tb.Fatalf("RetrieveBatch(%s): %v", id, err)
	}
	return b
}

// download returns the lines of a file; nil for a nil id.
func download(tb testing.TB, client *openai.Client, id *string) []outputLine {
	tb.Helper()
	if id == nil {
		return nil
	}
	raw := downloadRaw(tb, client, *id)
	var out []outputLine
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		var o outputLine
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			tb.Fatalf("line %q of file %s: %v", line, *id, err)
		}
		out = append(out, o)
	}
	return out
}

func downloadRaw(tb testing.TB, client *openai.Client, id string) []byte {
	tb.Helper()
	rc, err := client.GetFileContent(context.Background(), id)
	if err != nil {
		tb.Fatalf("GetFileContent(%s): %v", id, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func customIDs(lines []outputLine) []string {
	var ids []string
	for _, l := range lines {
		ids = append(ids, l.CustomID)
	}
	return ids
}

func TestBatchCycle(t *testing.T) {
	clk := newClock()
	srv := newServer(t, fakeopenai.Options{APIKey: testKey, BatchPolls: 3, Now: clk.Now})
	client, _ := newClient(t, srv, testKey)
	ctx := context.Background()

	reqs := []openai.ChatCompletionRequest{
		translationRequest(arTitle, arBody),
		keyPointsRequest("Title x in English", "Some translation.", 3),
	}
	var up openai.UploadBatchFileRequest
	for i, r := range reqs {
		up.AddChatCompletion(fmt.Sprintf("id-%d", i), r)
	}
	f, err := client.UploadBatchFile(ctx, up)
	if err != nil {
		t.Fatalf("UploadBatchFile: %v", err)
	}
	input := up.MarshalJSONL()
	if f.Object != "file" || f.Purpose != "batch" || f.Bytes != len(input) ||
		f.FileName != "@batchinput.jsonl" || !strings.HasPrefix(f.ID, "file-") || f.CreatedAt != clk.t.Unix() {
		t.Errorf("file = %+v, want a batch file of %d bytes named @batchinput.jsonl", f, len(input))
	}
	if got := downloadRaw(t, client, f.ID); !bytes.Equal(got, input) {
		t.Errorf("input file content = %q, want %q", got, input)
	}

	b, err := client.CreateBatch(ctx, openai.CreateBatchRequest{
		InputFileID: f.ID,
		Endpoint:    openai.BatchEndpointChatCompletions,
		Metadata:    map[string]any{"run": "r1"},
	})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	created := clk.t.Unix()
	if b.Status != fakeopenai.BatchValidating || b.Object != "batch" || b.InputFileID != f.ID ||
		b.CompletionWindow != "24h" || b.Endpoint != openai.BatchEndpointChatCompletions ||
		b.CreatedAt != int(created) || b.ExpiresAt == nil || *b.ExpiresAt != int(created)+24*3600 ||
		b.Metadata["run"] != "r1" || b.OutputFileID != nil || b.ErrorFileID != nil {
		t.Errorf("created batch = %+v", b.Batch)
	}

	for i, want := range []string{fakeopenai.BatchInProgress, fakeopenai.BatchFinalizing} {
		b = retrieve(t, client, b.ID)
		if b.Status != want || b.OutputFileID != nil || b.RequestCounts.Total != 2 {
			t.Fatalf("retrieve %d: status %q, output %v, counts %+v; want %q, none, total 2",
				i+1, b.Status, b.OutputFileID, b.RequestCounts, want)
		}
	}
	if got := srv.BatchStats().Lines; got != 0 {
		t.Fatalf("lines answered before completion = %d, want 0", got)
	}
	b = retrieve(t, client, b.ID)
	if b.Status != fakeopenai.BatchCompleted || b.CompletedAt == nil || b.InProgressAt == nil || b.FinalizingAt == nil {
		t.Fatalf("retrieve 3: %+v, want completed with its timestamps", b.Batch)
	}
	if want := (openai.BatchRequestCounts{Total: 2, Completed: 2}); b.RequestCounts != want {
		t.Errorf("request_counts = %+v, want %+v", b.RequestCounts, want)
	}
	if b.ErrorFileID != nil {
		t.Errorf("error_file_id = %q, want null", *b.ErrorFileID)
	}
	out := download(t, client, b.OutputFileID)
	if got, want := customIDs(out), []string{"id-0", "id-1"}; !cmp.Equal(got, want) {
		t.Fatalf("output custom_ids = %q, want %q", got, want)
	}

	// Each line is what the live endpoint answers to the same request.
	for i, line := range out {
		if line.Error != nil || line.Response == nil || line.Response.StatusCode != http.StatusOK ||
			!strings.HasPrefix(line.ID, "batch_req_") || line.Response.RequestID == "" {
			t.Fatalf("line %d = %+v, want a 200 response", i, line)
		}
		var got openai.ChatCompletionResponse
		if err := json.Unmarshal(line.Response.Body, &got); err != nil {
			t.Fatal(err)
		}
		live, err := client.CreateChatCompletion(ctx, reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		if got.Object != "chat.completion" || got.Model != model || got.Usage != live.Usage ||
			!cmp.Equal(got.Choices, live.Choices) {
			t.Errorf("line %d body = %+v, want the live reply %+v", i, got, live)
		}
	}
	// Each prompt was paid twice: once in the batch, once live.
	for _, r := range reqs {
		var msgs []fakeopenai.Message
		for _, m := range r.Messages {
			msgs = append(msgs, fakeopenai.Message{Role: m.Role, Content: m.Content})
		}
		if got := srv.Paid()[fakeopenai.PaidKey(r.Model, msgs)]; got != 2 {
			t.Errorf("Paid = %d, want 2 (batch and live)", got)
		}
	}
	if got := srv.Stats().OK; got != 2 {
		t.Errorf("Stats.OK = %d, want 2 (the live requests only)", got)
	}

	want := fakeopenai.BatchStats{Files: 1, Downloads: 2, Batches: 1, Retrieves: 3, Lines: 2, LinesOK: 2}
	if diff := cmp.Diff(want, srv.BatchStats()); diff != "" {
		t.Errorf("BatchStats (-want +got):\n%s", diff)
	}
	lines := srv.BatchLines()
	if len(lines) != 2 {
		t.Fatalf("BatchLines = %d lines, want 2", len(lines))
	}
	if l := lines[0]; l.BatchID != b.ID || l.CustomID != "id-0" || l.Step != fakeopenai.StepTranslate ||
		l.Model != model || l.Fences["TITLE"] != arTitle || l.Fences["BODY"] != arBody ||
		l.Status != http.StatusOK || l.Path != "/v1/chat/completions" || len(l.Messages) != 2 || len(l.Body) == 0 {
		t.Errorf("BatchLines[0] = %+v", l)
	}
	if l := lines[1]; l.Step != fakeopenai.StepKeyPoints || l.ResponseFormat != "json_schema" {
		t.Errorf("BatchLines[1] step %q format %q, want key points json_schema", l.Step, l.ResponseFormat)
	}
	// The HTTP requests are recorded as any other.
	var paths []string
	for _, r := range srv.Requests() {
		if !strings.HasSuffix(r.Path, "/chat/completions") {
			paths = append(paths, r.Method+" "+r.Path)
		}
	}
	wantPaths := []string{
		"POST /v1/files", "GET /v1/files/" + f.ID + "/content", "POST /v1/batches",
		"GET /v1/batches/" + b.ID, "GET /v1/batches/" + b.ID, "GET /v1/batches/" + b.ID,
		"GET /v1/files/" + *b.OutputFileID + "/content",
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("recorded requests (-want +got):\n%s", diff)
	}
}

func TestBatchPolls(t *testing.T) {
	const (
		V = fakeopenai.BatchValidating
		P = fakeopenai.BatchInProgress
		F = fakeopenai.BatchFinalizing
		C = fakeopenai.BatchCompleted
	)
	for polls, want := range [][]string{
		0: {C, C},
		1: {C, C},
		2: {P, C, C},
		3: {P, F, C},
		4: {P, P, F, C},
	} {
		t.Run(fmt.Sprint(polls), func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{BatchPolls: polls})
			client, _ := newClient(t, srv, "")
			b := createBatch(t, client, articleRequest(1))
			got := []string{b.Status}
			for range want {
				got = append(got, retrieve(t, client, b.ID).Status)
			}
			if diff := cmp.Diff(append([]string{V}, want...), got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if st := srv.BatchStats(); st.Lines != 1 {
				t.Errorf("lines answered = %d, want 1 (once, not on every retrieve)", st.Lines)
			}
		})
	}
}

func TestFinishBatches(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{BatchPolls: 10})
	client, _ := newClient(t, srv, "")
	a := createBatch(t, client, articleRequest(1), articleRequest(2))
	b := createBatch(t, client, articleRequest(3))
	if got := retrieve(t, client, b.ID).Status; got != fakeopenai.BatchInProgress {
		t.Fatalf("status = %q, want in_progress", got)
	}
	srv.FinishBatches()
	for _, id := range []string{a.ID, b.ID} {
		if got := retrieve(t, client, id); got.Status != fakeopenai.BatchCompleted || got.OutputFileID == nil {
			t.Errorf("batch %s after FinishBatches: %q, output %v; want completed", id, got.Status, got.OutputFileID)
		}
	}
	if got := srv.BatchStats().LinesOK; got != 3 {
		t.Errorf("LinesOK = %d, want 3", got)
	}
}

func TestBatchFaults(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	srv.Script(
		fakeopenai.Rule{Match: "article-1", Times: 1, Fault: fakeopenai.Fault{Status: 500}},
		fakeopenai.Rule{Match: "article-2", Times: 1, Fault: fakeopenai.Fault{Status: 400, Message: "bad line"}},
		fakeopenai.Rule{Match: "article-3", Times: 1, Fault: fakeopenai.Fault{Drop: true}},
		fakeopenai.Rule{Match: "article-4", Times: 1, Fault: fakeopenai.Fault{Truncate: true}},
		fakeopenai.Rule{Match: "article-5", Times: 1, Fault: fakeopenai.Fault{InvalidJSON: true}},
		fakeopenai.Rule{Match: "article-6", Times: 1, Fault: fakeopenai.Fault{HTMLBody: true}},
		fakeopenai.Rule{Match: "article-7", Times: 1, Fault: fakeopenai.Fault{Short: true}},
	)
	var reqs []openai.ChatCompletionRequest
	for i := range 8 {
		reqs = append(reqs, articleRequest(i))
	}
	b := createBatch(t, client, reqs...)
	b = retrieve(t, client, b.ID)
	srv.Verify(t)
	if want := (openai.BatchRequestCounts{Total: 8, Completed: 2, Failed: 6}); b.Status != fakeopenai.BatchCompleted || b.RequestCounts != want {
		t.Fatalf("batch %q counts %+v, want completed %+v", b.Status, b.RequestCounts, want)
	}

	out := download(t, client, b.OutputFileID)
	if got, want := customIDs(out), []string{"id-0", "id-1", "id-2", "id-7"}; !cmp.Equal(got, want) {
		t.Fatalf("output custom_ids = %q, want %q", got, want)
	}
	status := func(l outputLine) int { return l.Response.StatusCode }
	errMsg := func(l outputLine) string {
		var e struct {
			Error struct{ Message, Type string } `json:"error"`
		}
		if err := json.Unmarshal(l.Response.Body, &e); err != nil {
			t.Fatal(err)
		}
		return e.Error.Type + ": " + e.Error.Message
	}
	if status(out[1]) != 500 || !strings.HasPrefix(errMsg(out[1]), "server_error: ") || out[1].Error != nil {
		t.Errorf("line id-1 = status %d, %s; want 500 server_error", status(out[1]), out[1].Response.Body)
	}
	if status(out[2]) != 400 || errMsg(out[2]) != "invalid_request_error: bad line" {
		t.Errorf("line id-2 = status %d, %s; want 400 bad line", status(out[2]), out[2].Response.Body)
	}
	var short openai.ChatCompletionResponse
	if err := json.Unmarshal(out[3].Response.Body, &short); err != nil {
		t.Fatal(err)
	}
	if got := short.Choices[0].Message.Content; strings.Contains(got, "paragraph 2") {
		t.Errorf("Short line content = %q, want only the first sentence", got)
	}

	errs := download(t, client, b.ErrorFileID)
	if got, want := customIDs(errs), []string{"id-3", "id-4", "id-5", "id-6"}; !cmp.Equal(got, want) {
		t.Fatalf("error file custom_ids = %q, want %q", got, want)
	}
	for _, l := range errs {
		if l.Response != nil || l.Error == nil || l.Error.Code != "server_error" || l.Error.Message == "" {
			t.Errorf("error line %+v, want response null and a server_error", l)
		}
	}
	if st := srv.BatchStats(); st.LinesOK != 2 || st.LinesFailed != 6 {
		t.Errorf("BatchStats = %+v, want 2 OK and 6 failed", st)
	}
	if got := len(srv.Paid()); got != 2 {
		t.Errorf("paid prompts = %d, want 2", got)
	}
	var statuses []int
	for _, l := range srv.BatchLines() {
		statuses = append(statuses, l.Status)
	}
	if want := []int{200, 500, 400, 0, 0, 0, 0, 200}; !cmp.Equal(statuses, want) {
		t.Errorf("BatchLines statuses = %v, want %v", statuses, want)
	}
}

// TestBatchContentOptions checks that the content options and the live
// request's rules shape batch lines, and the rate limits do not.
func TestBatchContentOptions(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{MaxOutputRunes: 40, RPM: 1, TPM: 10})
	client, _ := newClient(t, srv, "")
	b := createBatch(t, client, articleRequest(1), articleRequest(2), articleRequest(3))
	b = retrieve(t, client, b.ID)
	if b.RequestCounts.Completed != 3 {
		t.Fatalf("counts = %+v, want 3 completed despite the rate limits", b.RequestCounts)
	}
	for _, l := range download(t, client, b.OutputFileID) {
		var resp openai.ChatCompletionResponse
		if err := json.Unmarshal(l.Response.Body, &resp); err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if c.FinishReason != openai.FinishReasonLength || len([]rune(c.Message.Content)) != 40 {
			t.Errorf("%s: finish %q, %d runes; want length and 40", l.CustomID, c.FinishReason, len([]rune(c.Message.Content)))
		}
	}
	if st := srv.Stats(); st.Charged != 0 || st.LimitedRequests+st.LimitedTokens != 0 {
		t.Errorf("Stats = %+v, want nothing charged or limited", st)
	}
}

func TestBatchCancel(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{BatchPolls: 5})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	var reqs []openai.ChatCompletionRequest
	for i := range 5 {
		reqs = append(reqs, articleRequest(i))
	}
	b := createBatch(t, client, reqs...)
	retrieve(t, client, b.ID)
	c, err := client.CancelBatch(ctx, b.ID)
	if err != nil {
		t.Fatalf("CancelBatch: %v", err)
	}
	if c.Status != fakeopenai.BatchCancelling || c.CancellingAt == nil {
		t.Fatalf("cancel: %+v, want cancelling", c.Batch)
	}
	b = retrieve(t, client, b.ID)
	if b.Status != fakeopenai.BatchCancelled || b.CancelledAt == nil {
		t.Fatalf("after cancel: %+v, want cancelled", b.Batch)
	}
	if want := (openai.BatchRequestCounts{Total: 5, Completed: 2}); b.RequestCounts != want {
		t.Errorf("counts = %+v, want %+v", b.RequestCounts, want)
	}
	if got, want := customIDs(download(t, client, b.OutputFileID)), []string{"id-0", "id-1"}; !cmp.Equal(got, want) {
		t.Errorf("output custom_ids = %q, want %q", got, want)
	}
	if b.ErrorFileID != nil {
		t.Errorf("error_file_id = %q, want null", *b.ErrorFileID)
	}
	if _, err := client.CancelBatch(ctx, b.ID); apiError(t, err).HTTPStatusCode != http.StatusBadRequest {
		t.Errorf("cancel of a cancelled batch: %v, want 400", err)
	}
	if st := srv.BatchStats(); st.Cancels != 1 || st.Lines != 2 {
		t.Errorf("BatchStats = %+v, want 1 cancel and 2 lines", st)
	}
}

func TestExpireBatches(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	reqs := []openai.ChatCompletionRequest{articleRequest(0), articleRequest(1), articleRequest(2)}
	srv.ExpireBatches(1)
	a := createBatch(t, client, reqs...)
	b := createBatch(t, client, reqs...)
	srv.FinishBatches()
	a = retrieve(t, client, a.ID)
	if a.Status != fakeopenai.BatchExpired || a.ExpiredAt == nil {
		t.Fatalf("first batch: %+v, want expired", a.Batch)
	}
	if want := (openai.BatchRequestCounts{Total: 3, Completed: 1}); a.RequestCounts != want {
		t.Errorf("expired counts = %+v, want %+v", a.RequestCounts, want)
	}
	if got, want := customIDs(download(t, client, a.OutputFileID)), []string{"id-0"}; !cmp.Equal(got, want) {
		t.Errorf("expired output = %q, want %q", got, want)
	}
	if b = retrieve(t, client, b.ID); b.Status != fakeopenai.BatchCompleted || b.RequestCounts.Completed != 3 {
		t.Errorf("second batch: %q %+v, want completed with 3", b.Status, b.RequestCounts)
	}
}

func TestBatchInvalidFile(t *testing.T) {
	line := func(id, method, url string) string {
		return fmt.Sprintf(`{"custom_id":%q,"method":%q,"url":%q,"body":{"model":%q,"messages":[{"role":"user","content":"x"}]}}`,
			id, method, url, model)
	}
	ok := func(id string) string { return line(id, "POST", "/v1/chat/completions") }
	type wantErr struct {
		Code string
		Line int // 0: null
	}
	tests := []struct {
		name string
		file string
		want []wantErr
	}{
		{"duplicate custom_id", ok("a") + "\n" + ok("b") + "\n" + ok("a") + "\n", []wantErr{{"duplicate_custom_id", 3}}},
		{"bad JSON line", ok("a") + "\n{not json\n" + ok("b"), []wantErr{{"invalid_json_line", 2}}},
		{"too many lines", ok("a") + "\n" + ok("b") + "\n" + ok("c") + "\n" + ok("d") + "\n", []wantErr{{"too_many_tasks", 0}}},
		{"empty file", "\n", []wantErr{{"empty_file", 0}}},
		{"wrong url", ok("a") + "\n" + line("b", "POST", "/v1/embeddings"), []wantErr{{"url_mismatch", 2}}},
		{"wrong method", line("a", "GET", "/v1/chat/completions"), []wantErr{{"invalid_value", 1}}},
		{"missing custom_id", `{"method":"POST","url":"/v1/chat/completions","body":{}}`, []wantErr{{"missing_required_parameter", 1}}},
		{"model mismatch", ok("a") + "\n" + strings.Replace(ok("b"), model, "other-model", 1), []wantErr{{"model_mismatch", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{MaxBatchLines: 3, BatchPolls: 5})
			client, _ := newClient(t, srv, "")
			ctx := context.Background()
			f, err := client.CreateFileBytes(ctx, openai.FileBytesRequest{Name: "in.jsonl", Bytes: []byte(tt.file), Purpose: openai.PurposeBatch})
			if err != nil {
				t.Fatalf("CreateFileBytes: %v", err)
			}
			b, err := client.CreateBatch(ctx, openai.CreateBatchRequest{InputFileID: f.ID, Endpoint: openai.BatchEndpointChatCompletions})
			if err != nil {
				t.Fatalf("CreateBatch: %v, want the batch created", err)
			}
			if b.Status != fakeopenai.BatchValidating {
				t.Errorf("created status %q, want validating", b.Status)
			}
			b = retrieve(t, client, b.ID)
			if b.Status != fakeopenai.BatchFailed || b.FailedAt == nil || b.Errors == nil {
				t.Fatalf("status %q, errors %v; want failed with errors", b.Status, b.Errors)
			}
			var got []wantErr
			for _, e := range b.Errors.Data {
				w := wantErr{Code: e.Code}
				if e.Line != nil {
					w.Line = *e.Line
				}
				if e.Message == "" {
					t.Errorf("error %+v has no message", e)
				}
				got = append(got, w)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if b.OutputFileID != nil || b.ErrorFileID != nil || srv.BatchStats().Lines != 0 {
				t.Errorf("failed batch answered lines: output %v, error %v", b.OutputFileID, b.ErrorFileID)
			}
		})
	}
}

func TestBatchBadRequests(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	in := uploadBatch(t, client, articleRequest(0))
	tuning, err := client.CreateFileBytes(ctx, openai.FileBytesRequest{Name: "t.jsonl", Bytes: []byte("{}"), Purpose: openai.PurposeFineTune})
	if err != nil {
		t.Fatalf("CreateFileBytes: %v", err)
	}
	if tuning.Purpose != "fine-tune" {
		t.Errorf("purpose = %q, want fine-tune", tuning.Purpose)
	}
	tests := []struct {
		name   string
		req    openai.CreateBatchRequest
		status int
	}{
		{"unknown file", openai.CreateBatchRequest{InputFileID: "file-nope", Endpoint: openai.BatchEndpointChatCompletions}, 404},
		{"no file", openai.CreateBatchRequest{Endpoint: openai.BatchEndpointChatCompletions}, 400},
		{"other endpoint", openai.CreateBatchRequest{InputFileID: in.ID, Endpoint: openai.BatchEndpointEmbeddings}, 400},
		{"other window", openai.CreateBatchRequest{InputFileID: in.ID, Endpoint: openai.BatchEndpointChatCompletions, CompletionWindow: "1h"}, 400},
		{"not a batch file", openai.CreateBatchRequest{InputFileID: tuning.ID, Endpoint: openai.BatchEndpointChatCompletions}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateBatch(ctx, tt.req)
			if got := apiError(t, err).HTTPStatusCode; got != tt.status {
				t.Errorf("status %d, want %d (%v)", got, tt.status, err)
			}
		})
	}
	if got := srv.BatchStats().Batches; got != 0 {
		t.Errorf("batches created = %d, want 0", got)
	}
}

func TestBatchNotFound(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	calls := map[string]func() error{
		"retrieve": func() error { _, err := client.RetrieveBatch(ctx, "batch_nope"); return err },
		"cancel":   func() error { _, err := client.CancelBatch(ctx, "batch_nope"); return err },
		"content":  func() error { _, err := client.GetFileContent(ctx, "file-nope"); return err },
		"file":     func() error { _, err := client.GetFile(ctx, "file-nope"); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			e := apiError(t, call())
			if e.HTTPStatusCode != http.StatusNotFound || e.Type != "invalid_request_error" || !strings.Contains(e.Message, "nope") {
				t.Errorf("error = %+v, want 404 naming the id", e)
			}
		})
	}
}

func TestFileSizeLimit(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{MaxFileBytes: 100})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	f, err := client.CreateFileBytes(ctx, openai.FileBytesRequest{Name: "a.jsonl", Bytes: bytes.Repeat([]byte("x"), 100), Purpose: openai.PurposeBatch})
	if err != nil || f.Bytes != 100 {
		t.Fatalf("upload of 100 bytes: %+v, %v; want it stored", f, err)
	}
	for _, n := range []int{101, 3 << 20} {
		_, err = client.CreateFileBytes(ctx, openai.FileBytesRequest{Name: "b.jsonl", Bytes: bytes.Repeat([]byte("x"), n), Purpose: openai.PurposeBatch})
		if e := apiError(t, err); e.HTTPStatusCode != http.StatusBadRequest {
			t.Errorf("upload of %d bytes: %v, want 400", n, err)
		}
	}
	if got := srv.BatchStats().Files; got != 1 {
		t.Errorf("files stored = %d, want 1", got)
	}
}

func TestFileUploadBadRequests(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	post := func(contentType, body string) int {
		resp, err := http.Post(srv.URL()+"/files", contentType, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const boundary = "XYZ"
	form := func(parts ...string) string {
		return strings.Join(parts, "") + "--" + boundary + "--\r\n"
	}
	purpose := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
	file := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n\r\n{}\r\n"
	mp := "multipart/form-data; boundary=" + boundary
	for name, got := range map[string]int{
		"json body":  post("application/json", `{"purpose":"batch"}`),
		"no purpose": post(mp, form(file)),
		"no file":    post(mp, form(purpose)),
		"both":       post(mp, form(purpose, file)),
	} {
		want := http.StatusBadRequest
		if name == "both" {
			want = http.StatusOK
		}
		if got != want {
			t.Errorf("%s: status %d, want %d", name, got, want)
		}
	}
}

func TestBatchAuth(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	good, _ := newClient(t, srv, testKey)
	bad, _ := newClient(t, srv, "sk-wrong")
	ctx := context.Background()
	b := createBatch(t, good, articleRequest(0))
	calls := map[string]func() error{
		"upload": func() error {
			_, err := bad.CreateFileBytes(ctx, openai.FileBytesRequest{Name: "a", Bytes: []byte("x"), Purpose: openai.PurposeBatch})
			return err
		},
		"create": func() error {
			_, err := bad.CreateBatch(ctx, openai.CreateBatchRequest{InputFileID: b.InputFileID, Endpoint: openai.BatchEndpointChatCompletions})
			return err
		},
		"retrieve": func() error { _, err := bad.RetrieveBatch(ctx, b.ID); return err },
		"cancel":   func() error { _, err := bad.CancelBatch(ctx, b.ID); return err },
		"content":  func() error { _, err := bad.GetFileContent(ctx, b.InputFileID); return err },
	}
	for name, call := range calls {
		if e := apiError(t, call()); e.HTTPStatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a wrong key: %v, want 401", name, e)
		}
	}
	want := fakeopenai.BatchStats{Files: 1, Batches: 1}
	if diff := cmp.Diff(want, srv.BatchStats()); diff != "" {
		t.Errorf("BatchStats (-want +got):\n%s", diff)
	}
}

// TestBatchNoRecord checks that NoRecord keeps the counters and Paid but
// not the lines.
func TestBatchNoRecord(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{NoRecord: true})
	client, _ := newClient(t, srv, "")
	b := createBatch(t, client, articleRequest(0))
	retrieve(t, client, b.ID)
	if got := len(srv.BatchLines()); got != 0 {
		t.Errorf("BatchLines = %d lines, want none", got)
	}
	if st := srv.BatchStats(); st.LinesOK != 1 || len(srv.Paid()) != 1 {
		t.Errorf("LinesOK %d, paid %d; want 1 and 1", st.LinesOK, len(srv.Paid()))
	}
}

func TestBadBatchOptionsPanic(t *testing.T) {
	for _, opts := range []fakeopenai.Options{{MaxFileBytes: -1}, {MaxBatchLines: -1}, {BatchPolls: -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New(%+v) did not panic", opts)
				}
			}()
			fakeopenai.New(opts).Close()
		}()
	}
	func() {
		srv := newServer(t, fakeopenai.Options{})
		defer func() {
			if recover() == nil {
				t.Error("ExpireBatches(-1) did not panic")
			}
		}()
		srv.ExpireBatches(-1)
	}()
	func() {
		srv := newServer(t, fakeopenai.Options{})
		defer func() {
			if recover() == nil {
				t.Error("LoseCreateReplies(-1) did not panic")
			}
		}()
		srv.LoseCreateReplies(-1)
	}()
}

// listIDs returns the ids of a list of batches, in its order.
func listIDs(l openai.ListBatchResponse) []string {
	var ids []string
	for _, b := range l.Data {
		ids = append(ids, b.ID)
	}
	return ids
}

func listBatches(tb testing.TB, client *openai.Client, after *string, limit *int) openai.ListBatchResponse {
	tb.Helper()
	l, err := client.ListBatch(context.Background(), after, limit)
	if err != nil {
		tb.Fatalf("ListBatch: %v", err)
	}
	if l.Object != "list" {
		tb.Errorf("list object = %q, want list", l.Object)
	}
	return l
}

func TestListBatches(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{BatchPolls: 3})
	client, _ := newClient(t, srv, "")

	if l := listBatches(t, client, nil, nil); len(l.Data) != 0 || l.HasMore || l.FirstID != "" || l.LastID != "" {
		t.Errorf("empty list = %+v, want no data, no ids, no more", l)
	}
	var ids []string // in creation order
	for i := range 5 {
		ids = append(ids, createBatch(t, client, articleRequest(i)).ID)
	}
	newest := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}

	l := listBatches(t, client, nil, nil)
	if diff := cmp.Diff(newest, listIDs(l)); diff != "" {
		t.Errorf("list ids (-want +got):\n%s", diff)
	}
	if l.HasMore || l.FirstID != ids[4] || l.LastID != ids[0] {
		t.Errorf("list: first %q, last %q, more %v; want %q, %q, false", l.FirstID, l.LastID, l.HasMore, ids[4], ids[0])
	}

	// Pages of 2, each after the last id of the one before.
	type page struct {
		IDs         []string
		First, Last string
		More        bool
	}
	var pages []page
	var after *string
	two := 2
	for range 4 {
		l := listBatches(t, client, after, &two)
		pages = append(pages, page{listIDs(l), l.FirstID, l.LastID, l.HasMore})
		if !l.HasMore {
			break
		}
		after = &l.LastID
	}
	wantPages := []page{
		{[]string{ids[4], ids[3]}, ids[4], ids[3], true},
		{[]string{ids[2], ids[1]}, ids[2], ids[1], true},
		{[]string{ids[0]}, ids[0], ids[0], false},
	}
	if diff := cmp.Diff(wantPages, pages); diff != "" {
		t.Errorf("pages (-want +got):\n%s", diff)
	}
	// After the oldest batch there is nothing.
	if l := listBatches(t, client, &ids[0], &two); len(l.Data) != 0 || l.HasMore || l.FirstID != "" {
		t.Errorf("list after the oldest = %+v, want empty", l)
	}
	one := 1
	if l := listBatches(t, client, &ids[3], &one); !cmp.Equal(listIDs(l), []string{ids[2]}) || !l.HasMore {
		t.Errorf("list after %s, limit 1 = %q, more %v; want [%s], true", ids[3], listIDs(l), l.HasMore, ids[2])
	}

	// Listing moved no batch on: all still validating, and the first
	// retrieve of one is its first step (in_progress, not completed).
	for _, b := range listBatches(t, client, nil, nil).Data {
		if b.Status != fakeopenai.BatchValidating || b.InProgressAt != nil {
			t.Errorf("batch %s listed %q, want validating", b.ID, b.Status)
		}
	}
	if got := retrieve(t, client, ids[2]).Status; got != fakeopenai.BatchInProgress {
		t.Errorf("first retrieve after lists: %q, want in_progress", got)
	}
	var statuses []string
	for _, b := range listBatches(t, client, nil, nil).Data {
		statuses = append(statuses, b.Status)
	}
	V, P := fakeopenai.BatchValidating, fakeopenai.BatchInProgress
	if want := []string{V, V, P, V, V}; !cmp.Equal(statuses, want) {
		t.Errorf("listed statuses = %q, want %q", statuses, want)
	}
	if st := srv.BatchStats(); st.Lists != 9 || st.Retrieves != 1 || st.Lines != 0 {
		t.Errorf("BatchStats = %+v, want 9 lists, 1 retrieve, no line answered", st)
	}
}

// TestListBatchesRender checks that a listed batch is the Batch object that
// GET /v1/batches/{id} answers, byte for byte.
func TestListBatchesRender(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	f := uploadBatch(t, client, articleRequest(0), articleRequest(1))
	done, err := client.CreateBatch(ctx, openai.CreateBatchRequest{
		InputFileID: f.ID, Endpoint: openai.BatchEndpointChatCompletions, Metadata: map[string]any{"run": "r1"},
	})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	retrieve(t, client, done.ID) // completed: retrieves no longer change it
	open := createBatch(t, client, articleRequest(2))
	if _, err := client.CancelBatch(ctx, open.ID); err != nil {
		t.Fatalf("CancelBatch: %v", err)
	}
	get := func(path string) []byte {
		resp, err := http.Get(srv.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("GET %s: %d %q, want 200 JSON", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return body
	}
	var list struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		FirstID *string           `json:"first_id"`
		LastID  *string           `json:"last_id"`
		HasMore *bool             `json:"has_more"`
	}
	if err := json.Unmarshal(get("/batches"), &list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 2 || list.FirstID == nil || *list.FirstID != open.ID ||
		list.LastID == nil || *list.LastID != done.ID || list.HasMore == nil || *list.HasMore {
		t.Fatalf("list = %+v, want 2 batches from %s to %s, has_more false", list, open.ID, done.ID)
	}
	// The cancelling batch is listed as cancelling: compare it before the
	// retrieve that makes it cancelled.
	if st := srv.BatchStats(); st.Cancels != 1 || st.Retrieves != 1 {
		t.Fatalf("BatchStats = %+v", st)
	}
	var listed struct{ Status string }
	if err := json.Unmarshal(list.Data[0], &listed); err != nil || listed.Status != fakeopenai.BatchCancelling {
		t.Errorf("listed %s status %q (%v), want cancelling", open.ID, listed.Status, err)
	}
	if got, want := string(list.Data[1]), string(get("/batches/"+done.ID)); got != want {
		t.Errorf("listed batch:\n%s\nwant what GET /v1/batches/{id} answers:\n%s", got, want)
	}

	var empty map[string]json.RawMessage
	srv2 := newServer(t, fakeopenai.Options{})
	resp, err := http.Get(srv2.URL() + "/batches")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&empty); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"data": "[]", "first_id": "null", "last_id": "null", "has_more": "false"} {
		if got := string(empty[k]); got != want {
			t.Errorf("empty list %s = %s, want %s", k, got, want)
		}
	}
}

func TestListBatchesBadRequests(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	b := createBatch(t, client, articleRequest(0))
	intp := func(n int) *int { return &n }
	strp := func(s string) *string { return &s }
	tests := []struct {
		name  string
		after *string
		limit *int
		param string
	}{
		{"limit 0", nil, intp(0), "limit"},
		{"limit -1", nil, intp(-1), "limit"},
		{"limit 101", nil, intp(101), "limit"},
		{"unknown after", strp("batch_nope"), nil, "after"},
		{"unknown after, good limit", strp("batch_nope"), intp(5), "after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListBatch(ctx, tt.after, tt.limit)
			e := apiError(t, err)
			if e.HTTPStatusCode != http.StatusBadRequest || e.Type != "invalid_request_error" ||
				e.Param == nil || *e.Param != tt.param || e.Message == "" {
				t.Errorf("error = %+v (param %v), want 400 invalid_request_error naming %q", e, e.Param, tt.param)
			}
		})
	}
	for _, ok := range []int{1, 100} {
		if l := listBatches(t, client, nil, &ok); !cmp.Equal(listIDs(l), []string{b.ID}) {
			t.Errorf("limit %d: ids %q, want [%s]", ok, listIDs(l), b.ID)
		}
	}
	for query, want := range map[string]int{
		"?limit=abc": http.StatusBadRequest,
		"?limit=2.5": http.StatusBadRequest,
		"?limit=":    http.StatusOK,
		"?after=":    http.StatusOK,
	} {
		resp, err := http.Get(srv.URL() + "/batches" + query)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct {
				Param *string `json:"param"`
			} `json:"error"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != want ||
			(want != http.StatusOK && (body.Error.Param == nil || *body.Error.Param != "limit")) {
			t.Errorf("GET /v1/batches%s: %d, param %v (%v); want %d", query, resp.StatusCode, body.Error.Param, err, want)
		}
	}
	req, err := http.NewRequest(http.MethodDelete, srv.URL()+"/batches", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /v1/batches: %d, want 405", resp.StatusCode)
	}
	if got := srv.BatchStats().Lists; got != 4 {
		t.Errorf("BatchStats.Lists = %d, want 4 (the 200s only)", got)
	}
}

func TestLoseCreateReplies(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{})
	client, _ := newClient(t, srv, "")
	ctx := context.Background()
	f := uploadBatch(t, client, articleRequest(0), articleRequest(1))
	create := func() (openai.BatchResponse, error) {
		return client.CreateBatch(ctx, openai.CreateBatchRequest{InputFileID: f.ID, Endpoint: openai.BatchEndpointChatCompletions})
	}

	srv.LoseCreateReplies(1)
	// A create that gets an error does not use it up.
	_, err := client.CreateBatch(ctx, openai.CreateBatchRequest{InputFileID: "file-nope", Endpoint: openai.BatchEndpointChatCompletions})
	if e := apiError(t, err); e.HTTPStatusCode != http.StatusNotFound {
		t.Fatalf("create of an unknown file: %v, want 404", err)
	}
	if _, err := create(); err == nil {
		t.Fatal("CreateBatch succeeded, want an error: the reply was lost")
	} else if errors.As(err, new(*openai.APIError)) {
		t.Fatalf("CreateBatch: %v, want a connection error, not an API error", err)
	}
	// The client sees the connection closed before the server counts it.
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Dropped != 1 {
		t.Errorf("Stats.Dropped = %d, want 1", st.Dropped)
	}
	if st := srv.BatchStats(); st.Batches != 1 {
		t.Errorf("BatchStats.Batches = %d, want 1: the lost create made its batch", st.Batches)
	}
	l := listBatches(t, client, nil, nil)
	if len(l.Data) != 1 || l.Data[0].InputFileID != f.ID || l.Data[0].Status != fakeopenai.BatchValidating {
		t.Fatalf("list after the lost create = %+v, want its batch, validating", l.Data)
	}
	lost := l.Data[0].ID

	// The next create is answered.
	b, err := create()
	if err != nil {
		t.Fatalf("CreateBatch after the lost one: %v", err)
	}
	if b.ID == lost || b.Status != fakeopenai.BatchValidating {
		t.Errorf("second batch = %s %q, want a new validating batch", b.ID, b.Status)
	}
	if got, want := listIDs(listBatches(t, client, nil, nil)), []string{b.ID, lost}; !cmp.Equal(got, want) {
		t.Errorf("list ids = %q, want %q", got, want)
	}
	// The lost batch runs as any other.
	if got := retrieve(t, client, lost); got.Status != fakeopenai.BatchCompleted || got.RequestCounts.Completed != 2 {
		t.Errorf("lost batch retrieved: %q %+v, want completed with 2 lines", got.Status, got.RequestCounts)
	}

	// Calls add up.
	srv.LoseCreateReplies(1)
	srv.LoseCreateReplies(1)
	for i := range 2 {
		if _, err := create(); err == nil {
			t.Errorf("create %d after LoseCreateReplies(1) twice: no error, want the reply lost", i+1)
		}
	}
	if _, err := create(); err != nil {
		t.Errorf("third create: %v, want it answered", err)
	}
	if st := srv.BatchStats(); st.Batches != 5 {
		t.Errorf("BatchStats.Batches = %d, want 5", st.Batches)
	}
	if err := srv.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Dropped != 3 {
		t.Errorf("Stats.Dropped = %d, want 3", st.Dropped)
	}
}
