package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tarjama/tarjama/internal/batch"
	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/llm"
)

// batchArgs are the flags of a batch command against srv.
func batchArgs(srv *fakeopenai.Server, cmd, out string, more ...string) []string {
	return append([]string{"batch", cmd, "--base-url", srv.URL(), "--api-key", testKey,
		"--model", fakeopenai.ModelID, "-o", out, "--no-progress"}, more...)
}

// liveRequests counts the chat completions sent outside batches.
func liveRequests(srv *fakeopenai.Server) int {
	n := 0
	for _, r := range srv.Requests() {
		if strings.HasSuffix(r.Path, "/chat/completions") {
			n++
		}
	}
	return n
}

// collectUntilDone runs batch collect until the outputs are written, and
// returns how many collects it took.
func collectUntilDone(t *testing.T, srv *fakeopenai.Server, out string, more ...string) (int, cliResult) {
	t.Helper()
	for i := 1; i <= 8; i++ {
		res := runCLI(t, context.Background(), "", batchArgs(srv, "collect", out, more...)...)
		if res.code != 0 && res.code != 2 {
			t.Fatalf("collect %d: exit %d; stderr:\n%s", i, res.code, res.stderr)
		}
		if strings.Contains(res.stderr, "rows:") {
			return i, res
		}
		if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
			t.Fatalf("collect %d wrote outputs before the job was done:\n%s", i, res.stderr)
		}
	}
	t.Fatal("the job was not done after 8 collects")
	return 0, cliResult{}
}

// TestBatchCycle runs the fixtures through the Batch API at 500 tokens a
// part: translations, then key points and notes, then the reduce step of
// the long articles, one collect each. The outputs are those of run, every
// request is paid once, none is sent live, and a collect after the end
// changes nothing.
func TestBatchCycle(t *testing.T) {
	const maxChunk = 500
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	flags := []string{"-i", fixtures, "--max-chunk-tokens", strconv.Itoa(maxChunk)}
	res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, flags...)...)
	if res.code != 0 || !strings.Contains(res.stderr, "submitted batch") {
		t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	arts := readFixtures(t, fixtures)
	parts := 0
	for _, a := range arts {
		parts += expect(a, maxChunk).parts
	}
	if want := fmt.Sprintf(": %d requests", parts); !strings.Contains(res.stderr, want) {
		t.Errorf("the first batch should have one line per part (%q):\n%s", want, res.stderr)
	}
	// Submitting again sends nothing new: everything is in flight.
	res = runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, flags...)...)
	if res.code != 0 || srv.BatchStats().Batches != 1 {
		t.Fatalf("second submit: exit %d, %d batches; stderr:\n%s", res.code, srv.BatchStats().Batches, res.stderr)
	}
	st := runCLI(t, context.Background(), "", "batch", "status", "--base-url", srv.URL(), "--api-key", testKey, "-o", out)
	if st.code != 0 || !strings.Contains(st.stdout, "batch_fake") || !strings.Contains(st.stdout, "requests:") {
		t.Errorf("status: exit %d; stdout:\n%s\nstderr:\n%s", st.code, st.stdout, st.stderr)
	}

	n, res := collectUntilDone(t, srv, out, flags...)
	if n != 3 {
		t.Errorf("done after %d collects, want 3 (translations, key points and notes, reduce)", n)
	}
	if res.code != 0 || !strings.Contains(res.stderr, "done: 60 rows: 60 ok") {
		t.Fatalf("last collect: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	requests := 0
	for i, a := range arts {
		wantOKChunked(t, i, a, csvRows[i], rows[i], maxChunk)
		requests += expect(a, maxChunk).requests
	}
	for key, times := range srv.Paid() {
		if times != 1 {
			t.Errorf("request %s paid %d times", key[:12], times)
		}
	}
	if got := len(srv.Paid()); got != requests {
		t.Errorf("%d requests paid, want %d", got, requests)
	}
	if want := fmt.Sprintf("the whole job: %d batch requests answered", requests); !strings.Contains(res.stderr, want) {
		t.Errorf("the summary lacks %q:\n%s", want, res.stderr)
	}
	if rec := readRunRecord(t, out); rec.Command != "batch collect" || rec.Status != "done" || rec.Requests != requests || rec.OK != 60 || rec.ExitCode != 0 {
		t.Errorf("run.json = %+v, want batch collect, done, %d requests, 60 ok", rec, requests)
	}
	if n := liveRequests(srv); n != 0 {
		t.Errorf("%d chat completions sent live, want 0", n)
	}
	first, _ := os.ReadFile(filepath.Join(out, "results.json"))
	batches := srv.BatchStats().Batches
	res = runCLI(t, context.Background(), "", batchArgs(srv, "collect", out, flags...)...)
	again, _ := os.ReadFile(filepath.Join(out, "results.json"))
	if res.code != 0 || string(first) != string(again) || srv.BatchStats().Batches != batches {
		t.Errorf("a collect after the end: exit %d, %d batches (was %d), outputs changed: %v", res.code, srv.BatchStats().Batches, batches, string(first) != string(again))
	}
}

// TestBatchFailedLines checks the lines that fail in a batch: sent again
// in a later batch, and failed with the provider's reason once the retries
// are spent; the other rows go on.
func TestBatchFailedLines(t *testing.T) {
	arts := readFixtures(t, fixtures)[:5]
	in := writeArticles(t, t.TempDir(), arts)
	third := fakeopenai.Rule{Match: arts[2].title, Step: fakeopenai.StepTranslate}
	tests := []struct {
		name    string
		fault   fakeopenai.Fault
		times   int
		code    int
		wantErr string // of the third row; "" = ok
		// paid is how many times the third row's translation is paid:
		// a reply that fails its checks is asked for, and paid, again.
		paid int
	}{
		{"a 500 once is sent again", fakeopenai.Fault{Status: 500}, 1, 0, "", 1},
		{"a dropped line once is sent again", fakeopenai.Fault{Drop: true}, 1, 0, "", 1},
		{"a 500 every time fails the row", fakeopenai.Fault{Status: 500}, 0, 2, "http_500: ", 1},
		{"a 400 every time fails the row", fakeopenai.Fault{Status: 400, Message: "Invalid value for messages"}, 0, 2, "http_400: ", 1},
		{"a reply not in English twice fails the row", fakeopenai.Fault{NonEnglish: true}, 2, 2, "not_english: ", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			rule := third
			rule.Times, rule.Fault = tt.times, tt.fault
			srv.Script(rule)
			out := t.TempDir()
			if res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, "-i", in, "--max-retries", "1")...); res.code != 0 {
				t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
			}
			_, res := collectUntilDone(t, srv, out, "-i", in, "--max-retries", "1")
			if res.code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			rows := readJSON(t, filepath.Join(out, "results.json"))
			csvRows := readCSV(t, filepath.Join(out, "results.csv"))
			for i, a := range arts {
				if i == 2 && tt.wantErr != "" {
					if r := rows[2]; r.Status != "failed" || !strings.HasPrefix(r.Error, tt.wantErr) {
						t.Errorf("row 3 = %s %q, want failed %s...", r.Status, r.Error, tt.wantErr)
					}
					continue
				}
				wantOK(t, i, a, csvRows[i], rows[i])
			}
			want := max(tt.paid, 1)
			for key, times := range srv.Paid() {
				if times != 1 && times != want {
					t.Errorf("request %s paid %d times", key[:12], times)
				}
			}
		})
	}
}

// TestBatchExpired checks that the lines an expired batch never answered
// are sent again, and the job finishes.
func TestBatchExpired(t *testing.T) {
	arts := readFixtures(t, fixtures)[:10]
	in := writeArticles(t, t.TempDir(), arts)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.ExpireBatches(1)
	out := t.TempDir()
	if res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, "-i", in)...); res.code != 0 {
		t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	res := runCLI(t, context.Background(), "", batchArgs(srv, "collect", out, "-i", in)...)
	if res.code != 0 || !strings.Contains(res.stderr, "(expired)") || !strings.Contains(res.stderr, "unanswered=5") {
		t.Fatalf("collect of the expired batch: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	_, res = collectUntilDone(t, srv, out, "-i", in)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	for i, a := range arts {
		wantOK(t, i, a, csvRows[i], rows[i])
	}
	for key, times := range srv.Paid() {
		if times != 1 {
			t.Errorf("request %s paid %d times", key[:12], times)
		}
	}
}

// TestBatchExportImport runs the job through files, as with vLLM's
// run_batch: export writes the request lines, an engine answers them (here
// the test server's Batch API), import reads the results; three rounds at
// 500 tokens a part, then the outputs are those of run.
func TestBatchExportImport(t *testing.T) {
	const maxChunk = 500
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out, files := t.TempDir(), t.TempDir()
	flags := []string{"-i", fixtures, "--max-chunk-tokens", strconv.Itoa(maxChunk)}
	for round := 1; ; round++ {
		if round > 5 {
			t.Fatal("not done after 5 rounds")
		}
		dir := filepath.Join(files, fmt.Sprintf("round%d", round))
		res := runCLI(t, context.Background(), "", batchArgs(srv, "export", out, append(flags, "--out", dir)...)...)
		if res.code != 0 {
			t.Fatalf("export %d: exit %d; stderr:\n%s", round, res.code, res.stderr)
		}
		if strings.Contains(res.stderr, "rows:") {
			if round != 4 {
				t.Errorf("done at export %d, want 4 (three rounds of requests)", round)
			}
			break
		}
		exported, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		if len(exported) == 0 {
			t.Fatalf("export %d wrote no file; stderr:\n%s", round, res.stderr)
		}
		var results []string
		for _, f := range exported {
			results = append(results, runThroughEngine(t, srv, f, filepath.Join(dir, "results-"+filepath.Base(f))))
		}
		res = runCLI(t, context.Background(), "", append(batchArgs(srv, "import", out, flags...), results...)...)
		if res.code != 0 || !strings.Contains(res.stderr, "imported") {
			t.Fatalf("import %d: exit %d; stderr:\n%s", round, res.code, res.stderr)
		}
	}
	arts := readFixtures(t, fixtures)
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	for i, a := range arts {
		wantOKChunked(t, i, a, csvRows[i], rows[i], maxChunk)
	}
	if n := liveRequests(srv); n != 0 {
		t.Errorf("%d chat completions sent live, want 0", n)
	}
}

func TestBatchUsageErrors(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"collect with nothing submitted", batchArgs(srv, "collect", out, "-i", fixtures), []string{"no state file", "batch submit"}},
		{"status with nothing submitted", []string{"batch", "status", "-o", out}, []string{"no state file"}},
		{"export without --out", batchArgs(srv, "export", out, "-i", fixtures), []string{"--out"}},
		{"import without a file", batchArgs(srv, "import", out, "-i", fixtures), []string{"no result file"}},
		{"a file limit too small", batchArgs(srv, "submit", out, "-i", fixtures, "--batch-max-bytes", "10"), []string{"--batch-max-bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, context.Background(), "", tt.args...)
			if res.code != 1 {
				t.Errorf("exit %d, want 1", res.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
		})
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests made by commands that failed their checks", n)
	}
}

// runThroughEngine answers an exported input file as an offline engine
// would, writing its result lines (output and error file) to result: here
// the test server's Batch API stands in for vLLM's run_batch.
func runThroughEngine(t *testing.T, srv *fakeopenai.Server, input, result string) string {
	t.Helper()
	ctx := context.Background()
	c, err := llm.New(llm.Config{BaseURL: srv.URL(), APIKey: testKey, Model: fakeopenai.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	fileID, err := c.UploadBatchFile(ctx, input)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CreateBatch(ctx, fileID, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.FinishBatches()
	if b, err = c.RetrieveBatch(ctx, b.ID); err != nil || b.Status != "completed" {
		t.Fatalf("engine batch: %+v, %v", b, err)
	}
	var all []byte
	for _, id := range []string{b.OutputFileID, b.ErrorFileID} {
		if id == "" {
			continue
		}
		rc, err := c.FileContent(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, data...)
	}
	if err := os.WriteFile(result, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return result
}

// TestBatchSplitsFiles checks that requests over the file limits go into
// several input files, one batch each.
func TestBatchSplitsFiles(t *testing.T) {
	arts := readFixtures(t, fixtures)[:20]
	in := writeArticles(t, t.TempDir(), arts)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, "-i", in, "--batch-max-lines", "7")...)
	if res.code != 0 {
		t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if n := srv.BatchStats().Batches; n != 3 {
		t.Errorf("%d batches for 20 translations at 7 lines a file, want 3", n)
	}
	// And in bytes: a file limit that holds two requests.
	srv2 := newServer(t, fakeopenai.Options{APIKey: testKey})
	out2 := t.TempDir()
	res = runCLI(t, context.Background(), "", batchArgs(srv2, "submit", out2, "-i", in, "--batch-max-bytes", "20000")...)
	if res.code != 0 || srv2.BatchStats().Batches < 5 {
		t.Fatalf("submit at 20,000 bytes a file: exit %d, %d batches; stderr:\n%s", res.code, srv2.BatchStats().Batches, res.stderr)
	}
	_, res = collectUntilDone(t, srv, out, "-i", in, "--batch-max-lines", "7")
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	for i, a := range arts {
		wantOK(t, i, a, csvRows[i], rows[i])
	}
}

// TestBatchNeverWritesTheKey runs the whole batch cycle and an export with
// a key the server echoes in an error, at debug level, and searches
// everything written for it.
func TestBatchNeverWritesTheKey(t *testing.T) {
	const secret = "sk-proj-SECRETBATCHKEY0123456789"
	arts := readFixtures(t, fixtures)[:4]
	in := writeArticles(t, t.TempDir(), arts)
	srv := newServer(t, fakeopenai.Options{APIKey: secret})
	srv.Script(fakeopenai.Rule{Match: arts[1].title, Times: 1, Fault: fakeopenai.Fault{Status: 500, Message: "upstream said " + secret}})
	out, files := t.TempDir(), t.TempDir()
	args := func(cmd string, more ...string) []string {
		a := batchArgs(srv, cmd, out, append([]string{"-i", in, "--log-level", "debug"}, more...)...)
		a[5] = secret
		return a
	}
	var said strings.Builder
	for _, cmd := range []string{"export", "submit", "status", "collect", "collect", "collect", "collect"} {
		a := args(cmd)
		switch cmd {
		case "status":
			a = []string{"batch", "status", "--base-url", srv.URL(), "--api-key", secret, "-o", out}
		case "export":
			a = args(cmd, "--out", files)
		}
		res := runCLI(t, context.Background(), "", a...)
		said.WriteString(res.stdout + res.stderr)
	}
	if strings.Contains(said.String(), secret) {
		t.Errorf("the API key appears in the commands' output:\n%s", said.String())
	}
	if !strings.Contains(said.String(), "done: 4 rows: 4 ok") {
		t.Errorf("the job did not finish:\n%s", said.String())
	}
	written := 0
	for _, dir := range []string{out, files} {
		filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			written++
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), secret) {
				t.Errorf("the API key appears in %s", path)
			}
			return nil
		})
	}
	if written < 4 {
		t.Errorf("only %d files written: the search proves little", written)
	}
}

// TestBatchCancelled checks that a batch cancelled at the provider (from
// its dashboard, say) is reported and its unanswered lines sent again.
func TestBatchCancelled(t *testing.T) {
	arts := readFixtures(t, fixtures)[:6]
	in := writeArticles(t, t.TempDir(), arts)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey, BatchPolls: 3})
	out := t.TempDir()
	if res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, "-i", in)...); res.code != 0 {
		t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	c, err := llm.New(llm.Config{BaseURL: srv.URL(), APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CancelBatch(context.Background(), "batch_fake1"); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, context.Background(), "", batchArgs(srv, "collect", out, "-i", in)...)
	if res.code != 0 || !strings.Contains(res.stderr, "batch_fake1 (cancelled)") || !strings.Contains(res.stderr, "unanswered=3") {
		t.Fatalf("collect of the cancelled batch: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for i := 0; i < 6 && !strings.Contains(res.stderr, "rows:"); i++ {
		srv.FinishBatches()
		res = runCLI(t, context.Background(), "", batchArgs(srv, "collect", out, "-i", in)...)
	}
	if res.code != 0 || !strings.Contains(res.stderr, "done: 6 rows: 6 ok") {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for key, times := range srv.Paid() {
		if times != 1 {
			t.Errorf("request %s paid %d times", key[:12], times)
		}
	}
}

// TestBatchCreateReplyLost loses the reply to the first create: the retry
// finds the batch instead of creating a second, and every request is paid
// once.
func TestBatchCreateReplyLost(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.LoseCreateReplies(1)
	out := t.TempDir()
	flags := []string{"-i", fixtures, "--limit", "5"}
	res := runCLI(t, context.Background(), "", batchArgs(srv, "submit", out, flags...)...)
	if res.code != 0 || !strings.Contains(res.stderr, "batch found that an earlier attempt created") {
		t.Fatalf("submit: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if got := srv.BatchStats().Batches; got != 1 {
		t.Errorf("%d batches created, want 1", got)
	}
	if _, res := collectUntilDone(t, srv, out, flags...); !strings.Contains(res.stderr, "done: 5 rows: 5 ok") {
		t.Errorf("last collect:\n%s", res.stderr)
	}
	for key, times := range srv.Paid() {
		if times != 1 {
			t.Errorf("request %s paid %d times", key[:12], times)
		}
	}
	if got := srv.BatchStats().Batches; got != 2 {
		t.Errorf("%d batches created in all, want 2 (translations, key points)", got)
	}
}

// TestCreateUnknownHint checks what a submit whose create had no answer
// tells the user to do.
func TestCreateUnknownHint(t *testing.T) {
	var stderr strings.Builder
	err := fmt.Errorf("batch submit: %w", &batch.CreateUnknownError{Err: errors.New("create a batch over f.jsonl (3 requests): connection reset")})
	if code := exitCode(err, &stderr); code != exitFatal {
		t.Errorf("exit %d, want %d", code, exitFatal)
	}
	want := "tarjama: batch submit: create a batch over f.jsonl (3 requests): connection reset\nTry: run tarjama batch collect: it looks for the batch at the provider, and sends its requests again only if it was never created\n"
	if stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}
