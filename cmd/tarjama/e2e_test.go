package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/cleanup"
	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/jobs"
)

const (
	fixtures = "../../testdata/articles.csv"
	testKey  = "sk-test-tarjama-0123456789abcdef"
)

// sleeps records the waits between retries instead of waiting.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

// fakeClock is the rate limiter's clock in tests: a Sleep moves it on at
// once.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

type cliResult struct {
	code           int
	stdout, stderr string
	sleeps         []time.Duration
}

// runCLI runs the tarjama command line in-process.
func runCLI(t *testing.T, ctx context.Context, stdin string, args ...string) cliResult {
	t.Helper()
	var out, errb bytes.Buffer
	sl := &sleeps{}
	code := Main(ctx, append([]string{"tarjama"}, args...), Env{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Sleep: sl.sleep,
		Clock: &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	})
	return cliResult{code, out.String(), errb.String(), sl.d}
}

func newServer(t *testing.T, opts fakeopenai.Options) *fakeopenai.Server {
	t.Helper()
	srv := fakeopenai.New(opts)
	t.Cleanup(srv.Close)
	return srv
}

// runArgs are the flags every end-to-end run uses.
func runArgs(srv *fakeopenai.Server, out string, more ...string) []string {
	return append([]string{"run", "--base-url", srv.URL(), "--api-key", testKey,
		"--model", fakeopenai.ModelID, "-o", out, "--no-progress"}, more...)
}

// article is an input row as encoding/csv reads it, independently of the
// code under test.
type article struct{ id, title, body, url, published, source string }

func readFixtures(t *testing.T, path string) []article {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var arts []article
	for _, r := range recs[1:] {
		arts = append(arts, article{r[0], r[1], r[2], r[3], r[4], r[5]})
	}
	return arts
}

// jsonRow is one object of results.json.
type jsonRow struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Error       string            `json:"error"`
	TitleEN     string            `json:"title_en"`
	Translation string            `json:"translation"`
	KeyPoints   []string          `json:"key_points"`
	Source      map[string]string `json:"source"`
	Model       string            `json:"model"`
	Usage       struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	InputSHA256   string `json:"input_sha256"`
	PromptVersion string `json:"prompt_version"`
}

func readJSON(t *testing.T, path string) []jsonRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []jsonRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return rows
}

func readJSONL(t *testing.T, path string) []jsonRow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []jsonRow
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var r jsonRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("results.jsonl line %d: %v", i+1, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	header, rows := readCSVAny(t, path)
	wantHeader := []string{"id", "title_en", "translation", "key_points", "status", "error",
		"url", "published_at", "source", "model", "prompt_tokens", "completion_tokens"}
	if diff := cmp.Diff(wantHeader, header); diff != "" {
		t.Fatalf("results.csv header (-want +got):\n%s", diff)
	}
	return rows
}

// readCSVAny reads results.csv as maps from its header, whatever columns
// it has, and returns the header too.
func readCSVAny(t *testing.T, path string) (header []string, rows []map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("results.csv: %v (%d records)", err, len(recs))
	}
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return recs[0], rows
}

// wantOK checks one ok row of every output against what the test server
// answers for its article.
func wantOK(t *testing.T, i int, a article, c map[string]string, j jsonRow) {
	t.Helper()
	wantOKChunked(t, i, a, c, j, jobs.DefaultMaxChunkTokens)
}

// expected is what the test server's answers come to for an article when
// tarjama cleans it, splits it at maxChunk tokens and makes its key points:
// from the whole translation, or, for an article over two chunks' worth,
// from the notes on each part.
type expected struct {
	title, body string
	points      []string
	// requests is how many requests the article takes.
	requests int
	parts    int
}

func expect(a article, maxChunk int) expected {
	t, b, _ := cleanup.Article(a.title, a.body)
	e := expected{title: fakeopenai.TranslateTitle(t)}
	chunks := jobs.Split(b, maxChunk)
	var parts []string
	var body strings.Builder
	for _, ch := range chunks {
		tr := fakeopenai.TranslateBody(ch.Text)
		parts = append(parts, tr)
		body.WriteString(tr + ch.Sep)
	}
	e.body, e.parts = body.String(), len(chunks)
	if len(chunks) > 1 && jobs.EstimateTokens(b) > 2*maxChunk {
		var notes []string
		for _, p := range parts {
			notes = append(notes, fakeopenai.KeyPoints(e.title, p, 5)...)
		}
		e.points = fakeopenai.KeyPoints(e.title, strings.Join(notes, "\n"), 5)
		e.requests = 2*len(chunks) + 1
	} else {
		e.points = fakeopenai.KeyPoints(e.title, e.body, 5)
		e.requests = len(chunks) + 1
	}
	return e
}

func wantOKChunked(t *testing.T, i int, a article, c map[string]string, j jsonRow, maxChunk int) {
	t.Helper()
	e := expect(a, maxChunk)
	title, body, points := e.title, e.body, e.points
	if j.ID != a.id || j.Status != "ok" || j.Error != "" || j.TitleEN != title || j.Translation != body ||
		!cmp.Equal(j.KeyPoints, points) || j.Model != fakeopenai.ModelID {
		t.Errorf("results.json row %d (%s) = %+v", i+1, a.id, j)
	}
	wantSource := map[string]string{"url": a.url, "published_at": a.published, "source": a.source}
	if !cmp.Equal(j.Source, wantSource) {
		t.Errorf("results.json row %d source = %v, want %v", i+1, j.Source, wantSource)
	}
	if j.Usage.PromptTokens <= 0 || j.Usage.CompletionTokens <= 0 || len(j.InputSHA256) != 64 || len(j.PromptVersion) != 12 {
		t.Errorf("results.json row %d usage/hashes = %+v %s %s", i+1, j.Usage, j.InputSHA256, j.PromptVersion)
	}
	want := map[string]string{
		"id": a.id, "title_en": title, "translation": body,
		"key_points": "• " + strings.Join(points, "\n• "), "status": "ok", "error": "",
		"url": a.url, "published_at": a.published, "source": a.source, "model": fakeopenai.ModelID,
		"prompt_tokens":     strconv.Itoa(j.Usage.PromptTokens),
		"completion_tokens": strconv.Itoa(j.Usage.CompletionTokens),
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("results.csv row %d (%s) (-want +got):\n%s", i+1, a.id, diff)
	}
}

func TestRunFixturesEndToEnd(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--format", "csv,json,jsonl")...)
	if res.code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	arts := readFixtures(t, fixtures)
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	jsonRows := readJSON(t, filepath.Join(out, "results.json"))
	jsonlRows := readJSONL(t, filepath.Join(out, "results.jsonl"))
	if len(arts) != 60 || len(csvRows) != 60 || len(jsonRows) != 60 {
		t.Fatalf("%d articles, %d csv rows, %d json rows; want 60 each", len(arts), len(csvRows), len(jsonRows))
	}
	if diff := cmp.Diff(jsonRows, jsonlRows); diff != "" {
		t.Errorf("results.jsonl differs from results.json (-json +jsonl):\n%s", diff)
	}
	var prompt, completion int
	for i, a := range arts {
		wantOK(t, i, a, csvRows[i], jsonRows[i])
		prompt += jsonRows[i].Usage.PromptTokens
		completion += jsonRows[i].Usage.CompletionTokens
	}
	// One request per chunk and one for the key points: the longest
	// articles are split at the default --max-chunk-tokens.
	requests, split := 0, 0
	for _, a := range arts {
		e := expect(a, jobs.DefaultMaxChunkTokens)
		requests += e.requests
		if e.parts > 1 {
			split++
		}
	}
	if st := srv.Stats(); st.Requests != requests || st.OK != requests || split == 0 {
		t.Errorf("server saw %d requests (%d ok), want %d (%d articles split)", st.Requests, st.OK, requests, split)
	}
	for _, want := range []string{"done: 60 rows: 60 ok, 0 skipped, 0 failed, 0 cached",
		fmt.Sprintf("requests %d (0 retries)", requests), fmt.Sprintf("tokens %d prompt + %d completion", prompt, completion)} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stderr)
		}
	}
	rec := readRunRecord(t, out)
	want := jobs.RunRecord{
		Tool: "tarjama", Version: "dev", Command: "run", Status: "done", ExitCode: 0,
		Input: fixtures, Output: out, Model: jobs.DefaultModel, SummaryModel: jobs.DefaultModel,
		Rows: 60, OK: 60, Requests: requests, PromptTokens: prompt, CompletionTokens: completion,
		FailedRows: []jobs.FailedRow{},
	}
	rec.StartedAt, rec.FinishedAt, rec.ElapsedSeconds, rec.CostUSD, rec.CostKnown = time.Time{}, time.Time{}, 0, 0, false
	want.Model, want.SummaryModel = fakeopenai.ModelID, fakeopenai.ModelID
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("run.json (-want +got):\n%s", diff)
	}
	// A rerun writes the same files.
	first, _ := os.ReadFile(filepath.Join(out, "results.json"))
	if res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--format", "csv,json,jsonl")...); res.code != 0 {
		t.Fatalf("rerun: exit %d", res.code)
	}
	second, _ := os.ReadFile(filepath.Join(out, "results.json"))
	if !bytes.Equal(first, second) {
		t.Error("a rerun over the same input wrote a different results.json")
	}
}

func TestRunFaults(t *testing.T) {
	arts := readFixtures(t, fixtures)[:5]
	third := arts[2]
	tr := fakeopenai.Rule{Match: third.title, Step: fakeopenai.StepTranslate}
	kp := fakeopenai.Rule{Match: fakeopenai.TranslateTitle(third.title), Step: fakeopenai.StepKeyPoints}
	with := func(r fakeopenai.Rule, times int, f fakeopenai.Fault) fakeopenai.Rule {
		r.Times, r.Fault = times, f
		return r
	}
	tests := []struct {
		name     string
		opts     fakeopenai.Options
		rules    []fakeopenai.Rule
		args     []string
		code     int
		third    string // the third row's error prefix; "" = ok
		requests int    // requests the server saw
		sleeps   []time.Duration
	}{
		{name: "429 with retry-after-ms is retried",
			rules: []fakeopenai.Rule{with(tr, 2, fakeopenai.Fault{Status: 429, RetryAfterMS: "1500"})},
			code:  0, requests: 12, sleeps: []time.Duration{1500 * time.Millisecond, 1500 * time.Millisecond}},
		{name: "429 with Retry-After seconds is honoured",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Status: 429, RetryAfter: "7"})},
			code:  0, requests: 11, sleeps: []time.Duration{7 * time.Second}},
		{name: "500 and 503 are retried",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Status: 500}), with(kp, 1, fakeopenai.Fault{Status: 503})},
			code:  0, requests: 12},
		{name: "HTML 502 from a proxy is retried",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Status: 502, HTMLBody: true})},
			code:  0, requests: 11},
		{name: "dropped connection is retried",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Drop: true})},
			code:  0, requests: 11},
		{name: "truncated and malformed replies are retried",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Truncate: true}), with(kp, 1, fakeopenai.Fault{InvalidJSON: true})},
			code:  0, requests: 12},
		{name: "503 past --max-retries fails the row",
			rules: []fakeopenai.Rule{with(tr, 0, fakeopenai.Fault{Status: 503})},
			args:  []string{"--max-retries", "2"}, code: 2, third: "http_503: ", requests: 8 + 3},
		{name: "400 fails the row without retry",
			rules: []fakeopenai.Rule{with(tr, 0, fakeopenai.Fault{Status: 400, Message: "bad article"})},
			code:  2, third: "http_400: translate request: HTTP 400: bad article", requests: 9},
		{name: "404 fails the row without retry",
			rules: []fakeopenai.Rule{with(kp, 0, fakeopenai.Fault{Status: 404, Code: "not_found", Message: "Invalid URL (POST /v1/chat/completions)"})},
			code:  2, third: "http_404: key_points request", requests: 10},
		{name: "non-English once is asked again",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{NonEnglish: true})},
			code:  0, requests: 11},
		{name: "non-English twice fails the row",
			rules: []fakeopenai.Rule{with(tr, 2, fakeopenai.Fault{NonEnglish: true})},
			code:  2, third: "not_english: ", requests: 10},
		{name: "key points not JSON twice",
			rules: []fakeopenai.Rule{with(kp, 2, fakeopenai.Fault{BadKeyPoints: true})},
			code:  2, third: "invalid_summary: ", requests: 11},
		{name: "content filter twice",
			rules: []fakeopenai.Rule{with(tr, 2, fakeopenai.Fault{Refuse: true})},
			code:  2, third: "refused: ", requests: 10},
		{name: "declined in text twice",
			rules: []fakeopenai.Rule{with(tr, 2, fakeopenai.Fault{RefuseText: true})},
			code:  2, third: "refused: ", requests: 10},
		{name: "declined in text once",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{RefuseText: true})},
			code:  0, requests: 11},
		{name: "key points declined in the refusal field twice",
			rules: []fakeopenai.Rule{with(kp, 2, fakeopenai.Fault{RefusalField: true})},
			code:  2, third: "refused: ", requests: 11},
		{name: "translation far too short twice",
			rules: []fakeopenai.Rule{with(tr, 2, fakeopenai.Fault{Short: true})},
			code:  2, third: "too_short: ", requests: 10},
		{name: "translation far too short once",
			rules: []fakeopenai.Rule{with(tr, 1, fakeopenai.Fault{Short: true})},
			code:  0, requests: 11},
		{name: "no structured outputs: JSON mode",
			opts: fakeopenai.Options{NoJSONSchema: true}, args: []string{"--concurrency", "1"}, code: 0, requests: 11},
		{name: "neither structured outputs nor JSON mode: plain replies",
			opts: fakeopenai.Options{NoJSONSchema: true, NoJSONMode: true}, args: []string{"--concurrency", "1"}, code: 0, requests: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.APIKey = testKey
			srv := newServer(t, tt.opts)
			srv.Script(tt.rules...)
			out := t.TempDir()
			res := runCLI(t, context.Background(), "", runArgs(srv, out, append([]string{"-i", fixtures, "--limit", "5", "--concurrency", "2"}, tt.args...)...)...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			srv.Verify(t)
			rows := readJSON(t, filepath.Join(out, "results.json"))
			csvRows := readCSV(t, filepath.Join(out, "results.csv"))
			if len(rows) != 5 || len(csvRows) != 5 {
				t.Fatalf("%d json rows, %d csv rows, want 5", len(rows), len(csvRows))
			}
			for i, a := range arts {
				if i == 2 && tt.third != "" {
					r := rows[2]
					if r.Status != "failed" || !strings.HasPrefix(r.Error, tt.third) || r.Translation != "" {
						t.Errorf("row 3 = %s %q, want failed %q...", r.Status, r.Error, tt.third)
					}
					if csvRows[2]["error"] != r.Error || csvRows[2]["status"] != "failed" {
						t.Errorf("results.csv row 3 = %s %q", csvRows[2]["status"], csvRows[2]["error"])
					}
					continue
				}
				wantOK(t, i, a, csvRows[i], rows[i])
			}
			if got := srv.Stats().Requests; got != tt.requests {
				t.Errorf("server saw %d requests, want %d", got, tt.requests)
			}
			if tt.sleeps != nil && !cmp.Equal(res.sleeps, tt.sleeps) {
				t.Errorf("waits between retries = %v, want %v (the server's)", res.sleeps, tt.sleeps)
			}
		})
	}
}

func TestRunStops(t *testing.T) {
	tests := []struct {
		name    string
		opts    fakeopenai.Options
		rule    fakeopenai.Rule
		key     string
		message string // in standard error
		reason  string // of the rows not done
	}{
		{name: "rejected key", opts: fakeopenai.Options{APIKey: "sk-the-right-one-0000"}, key: testKey,
			message: "OPENAI_API_KEY", reason: "http_401: "},
		{name: "model not found", opts: fakeopenai.Options{APIKey: testKey}, key: testKey,
			rule:    fakeopenai.Rule{Fault: fakeopenai.Fault{Status: 404, Code: "model_not_found", Message: "The model `gpt-9` does not exist or you do not have access to it."}},
			message: "the server has no such model (check --model", reason: "http_404: "},
		{name: "exhausted quota", opts: fakeopenai.Options{APIKey: testKey}, key: testKey,
			rule:    fakeopenai.Rule{Fault: fakeopenai.Fault{Status: 429, Code: "insufficient_quota", Type: "insufficient_quota", Message: "You exceeded your current quota"}},
			message: "You exceeded your current quota", reason: "insufficient_quota: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.opts)
			if tt.rule.Fault.Status != 0 {
				srv.Script(tt.rule)
			}
			out := t.TempDir()
			os.WriteFile(filepath.Join(out, "results.json"), []byte("previous"), 0o644)
			args := runArgs(srv, out, "-i", fixtures, "--limit", "5", "--concurrency", "1")
			args[4] = tt.key
			res := runCLI(t, context.Background(), "", args...)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.message) || !strings.Contains(res.stderr, "run stopped") {
				t.Errorf("stderr lacks %q:\n%s", tt.message, res.stderr)
			}
			if got := srv.Stats().Requests; got != 1 {
				t.Errorf("%d requests after a stop, want 1: nothing is retried or sent after it", got)
			}
			// Nothing was done before the stop: the previous outputs stay.
			if b, err := os.ReadFile(filepath.Join(out, "results.json")); string(b) != "previous" {
				t.Errorf("results.json = %q, %v; want the previous file kept", b, err)
			}
			if !strings.Contains(res.stderr, "outputs not written") {
				t.Errorf("summary does not say the outputs were kept:\n%s", res.stderr)
			}
			rec := readRunRecord(t, out)
			if rec.Status != "stopped" || rec.ExitCode != 1 || !strings.Contains(rec.Error, tt.message) || rec.Rows != 5 || rec.Failed != 5 {
				t.Errorf("run.json = %+v, want stopped, exit 1, the error, 5 rows failed", rec)
			}
			if len(res.sleeps) != 0 {
				t.Errorf("waited %v before stopping", res.sleeps)
			}
		})
	}
}

func TestRunInterruptFinishesInFlight(t *testing.T) {
	arts := readFixtures(t, fixtures)[:5]
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	hold := make(chan struct{})
	srv.Script(fakeopenai.Rule{Match: arts[2].title, Step: fakeopenai.StepTranslate, Times: 1, Fault: fakeopenai.Fault{Hold: hold}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := t.TempDir()
	done := make(chan cliResult)
	go func() {
		done <- runCLI(t, ctx, "", runArgs(srv, out, "-i", fixtures, "--limit", "5", "--concurrency", "1")...)
	}()
	// Rows 1 and 2 are done and row 3's translation is held in flight.
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer waitCancel()
	if err := srv.Wait(waitCtx, func(s fakeopenai.Stats) bool { return s.OK == 4 && s.InFlight == 1 }); err != nil {
		t.Fatalf("row 3 never got in flight: %v", err)
	}
	cancel() // Ctrl-C
	close(hold)
	res := <-done
	if res.code != 130 {
		t.Fatalf("exit %d, want 130; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	for i := range 3 {
		wantOK(t, i, arts[i], csvRows[i], rows[i])
	}
	for i := 3; i < 5; i++ {
		if rows[i].Status != "failed" || !strings.HasPrefix(rows[i].Error, "interrupted: ") {
			t.Errorf("row %d = %s %q, want interrupted", i+1, rows[i].Status, rows[i].Error)
		}
	}
	if got := srv.Stats().Requests; got != 6 {
		t.Errorf("%d requests, want 6: no new request after the interrupt", got)
	}
	if rec := readRunRecord(t, out); rec.Status != "interrupted" || rec.ExitCode != 130 || rec.OK != 3 || rec.Failed != 2 || len(rec.FailedRows) != 2 {
		t.Errorf("run.json = %+v, want interrupted, exit 130, 3 ok, 2 failed rows listed", rec)
	}
	if !strings.Contains(res.stderr, "interrupted: 5 rows: 3 ok, 0 skipped, 2 failed") {
		t.Errorf("summary:\n%s", res.stderr)
	}
}

func TestRunBadInput(t *testing.T) {
	tests := []struct {
		name, csv, args, want string
	}{
		{"unclosed quote", "id,title,body\n1,t,\"عربي\n2,t,عربي\n", "", `in.csv line 2, column "body" (3): unclosed quote`},
		{"wrong field count", "id,title,body\n1,t,عربي\n2,t,عربي,extra\n", "", `in.csv line 3: the row has 4 fields, the header has 3`},
		{"invalid UTF-8", "id,title,body\n1,t,\"عربي\nسطر \xff\"\n", "", `in.csv line 3, column "body" (3): invalid UTF-8`},
		{"no body column", "id,title,text\n1,t,عربي\n", "", `in.csv line 1: no column "body" (columns: id, title, text)`},
		{"named column missing", "id,title,body\n1,t,عربي\n", "--id-column,article_id", `no column "article_id"`},
		{"duplicate ids", "id,title,body\nA,t,عربي\nB,t,عربي ب\nA,t,عربي ج\n", "", `in.csv line 4, column "id" (1): duplicate id "A" on lines 2 and 4`},
		{"empty file", "", "", `in.csv: empty file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			dir := t.TempDir()
			in := filepath.Join(dir, "in.csv")
			if err := os.WriteFile(in, []byte(tt.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			args := runArgs(srv, out, "-i", in)
			if tt.args != "" {
				args = append(args, strings.Split(tt.args, ",")...)
			}
			res := runCLI(t, context.Background(), "", args...)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1", res.code)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.want)
			}
			if n := srv.Stats().Requests; n != 0 {
				t.Errorf("%d requests made for a bad input", n)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output directory created for a bad input (%v)", err)
			}
		})
	}
}

func TestRunInputForms(t *testing.T) {
	body := "الخبر الأول\r\nفقرة ثانية"
	tests := []struct {
		name, input string
		stdin       bool
	}{
		{"byte-order mark, CRLF and a multi-line field", "\ufeffid,title,body,note\r\nx1,عنوان,\"" + body + "\",=1+2\r\n", false},
		{"standard input", "id,title,body,note\nx1,عنوان,\"" + body + "\",=1+2\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			dir := t.TempDir()
			in := "-"
			if !tt.stdin {
				in = filepath.Join(dir, "in.csv")
				os.WriteFile(in, []byte(tt.input), 0o644)
			}
			stdin := ""
			if tt.stdin {
				stdin = tt.input
			}
			out := filepath.Join(dir, "out")
			res := runCLI(t, context.Background(), stdin, runArgs(srv, out, "-i", in, "--excel")...)
			if res.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			rows := readJSON(t, filepath.Join(out, "results.json"))
			// csv.Reader gives a CRLF inside a quoted field as LF.
			wantBody := fakeopenai.TranslateBody(strings.ReplaceAll(body, "\r\n", "\n"))
			if len(rows) != 1 || rows[0].ID != "x1" || rows[0].Translation != wantBody || rows[0].Source["note"] != "=1+2" {
				t.Errorf("rows = %+v", rows)
			}
			raw, _ := os.ReadFile(filepath.Join(out, "results.csv"))
			if !bytes.HasPrefix(raw, []byte("\ufeffid,title_en,")) {
				t.Errorf("--excel: results.csv starts %q, want a byte-order mark and the header", raw[:min(len(raw), 20)])
			}
			if !bytes.Contains(raw, []byte(",'=1+2,")) {
				t.Errorf("the formula cell is not made inert in results.csv:\n%s", raw)
			}
		})
	}
}

func TestAPIKeyNeverWritten(t *testing.T) {
	const secret = "sk-proj-SECRETKEY0123456789"
	for _, serverKey := range []string{secret, "sk-another-key-9999"} {
		srv := newServer(t, fakeopenai.Options{APIKey: serverKey})
		srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Status: 500, Message: "upstream said " + secret}})
		out := t.TempDir()
		args := runArgs(srv, out, "-i", fixtures, "--limit", "3", "--log-level", "debug", "--format", "csv,json,jsonl")
		args[4] = secret
		res := runCLI(t, context.Background(), "", args...)
		if res.code == 0 && serverKey != secret {
			t.Fatalf("exit 0 with a wrong key")
		}
		if strings.Contains(res.stdout+res.stderr, secret) {
			t.Errorf("the API key appears in the command's output:\n%s", res.stderr)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*"))
		if serverKey == secret && len(files) < 4 {
			t.Errorf("outputs = %v, want three results files and the state file", files)
		}
		for _, f := range files {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the API key appears in %s", f)
			}
		}
	}
}

func TestRunMaxRetriesZeroMeansNone(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.Script(fakeopenai.Rule{Step: fakeopenai.StepTranslate, Times: 1, Fault: fakeopenai.Fault{Status: 503}})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "1", "--max-retries", "0")...)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", res.code, res.stderr)
	}
	if got := srv.Stats().Requests; got != 1 {
		t.Errorf("%d requests with --max-retries 0, want 1", got)
	}
}

func TestRunFlexTierFallsBack(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{FlexUnavailable: true}})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "1", "--service-tier", "flex")...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	var tiers []string
	for _, r := range srv.Requests() {
		tiers = append(tiers, r.ServiceTier)
	}
	if want := []string{"flex", "", "flex"}; !cmp.Equal(tiers, want) {
		t.Errorf("service tiers sent = %q, want %q: flex, the default tier once flex had no capacity, then flex again", tiers, want)
	}
	if len(res.sleeps) != 0 {
		t.Errorf("waited %v: a fall-back is not a retry", res.sleeps)
	}
	if res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--service-tier", "priority")...); res.code != 1 || !strings.Contains(res.stderr, `--service-tier "priority"`) {
		t.Errorf("unknown tier: exit %d, %q", res.code, res.stderr)
	}
}

func TestRunSplitsLongArticles(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	const maxChunk = 200
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--max-chunk-tokens", strconv.Itoa(maxChunk))...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	arts := readFixtures(t, fixtures)
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	requests, split, notes := 0, 0, 0
	for i, a := range arts {
		wantOKChunked(t, i, a, csvRows[i], rows[i], maxChunk)
		e := expect(a, maxChunk)
		requests += e.requests
		if e.parts > 1 {
			split++
		}
		if e.requests > e.parts+1 {
			notes++
		}
	}
	if notes < 5 {
		t.Fatalf("only %d articles have their key points made from notes at %d tokens: the test proves little", notes, maxChunk)
	}
	if split < 10 {
		t.Fatalf("only %d articles split at %d tokens: the test proves little", split, maxChunk)
	}
	if got := srv.Stats().Requests; got != requests {
		t.Errorf("%d requests, want %d (one per chunk, and one for the key points or one per chunk for notes and one to reduce them)", got, requests)
	}
	// Only the first chunk carries the title.
	titled := 0
	for _, r := range srv.Requests() {
		if r.Step == fakeopenai.StepTranslate && !strings.Contains(fakeopenai.Content(r.Messages), "The title is empty") {
			titled++
		}
	}
	if titled != 60 {
		t.Errorf("%d translation requests carry a title, want 60 (one per article)", titled)
	}
}

func TestRunKeepsToRPM(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "5", "--rpm", "60", "--concurrency", "4")...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	// 10 requests at 60 a minute: the first goes at once, each of the others
	// waits for the bucket (the test clock moves on as they wait).
	if !strings.Contains(res.stderr, "rate limits: 9 requests waited") {
		t.Errorf("summary does not show the waits:\n%s", res.stderr)
	}
	if !strings.Contains(res.stderr, "token estimate: fake-model: ") {
		t.Errorf("summary does not report the token estimate against usage:\n%s", res.stderr)
	}
}

// TestRunSplitsWhenCutOff runs the fixtures against a model whose replies
// are capped: a translation cut off by the cap is never written; its text
// is split smaller until the pieces fit, and a rerun pays nothing. Under a
// cap too small for a single word the rows fail as truncated.
func TestRunSplitsWhenCutOff(t *testing.T) {
	arts := readFixtures(t, fixtures)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey, MaxOutputRunes: 2500})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures)...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	split := 0
	for i, a := range arts {
		e := expect(a, jobs.DefaultMaxChunkTokens)
		r := rows[i]
		if r.Status != "ok" {
			t.Errorf("row %d (%s) = %s %q, want ok", i+1, a.id, r.Status, r.Error)
			continue
		}
		if r.Translation != e.body {
			split++
			// Split smaller: every paragraph of the translation is whole.
			for _, line := range strings.Split(r.Translation, "\n") {
				if line != "" && (!strings.HasPrefix(line, "This is the English text of paragraph") || !strings.HasSuffix(line, ".")) {
					t.Errorf("row %d (%s): a cut-off paragraph was written: %q", i+1, a.id, excerptOf(line))
				}
			}
		}
	}
	if split == 0 {
		t.Fatal("no translation was split: the cap is too high for the test to prove anything")
	}
	paid := srv.Stats().Requests
	if res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures)...); res.code != 0 {
		t.Fatalf("rerun: exit %d", res.code)
	}
	if again := srv.Stats().Requests - paid; again != 0 {
		t.Errorf("the rerun made %d requests, want 0: the cut-off replies are kept too", again)
	}

	// A cap no reply fits.
	srv = newServer(t, fakeopenai.Options{APIKey: testKey, MaxOutputRunes: 40})
	out = t.TempDir()
	res = runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "2")...)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", res.code, res.stderr)
	}
	for i, r := range readJSON(t, filepath.Join(out, "results.json")) {
		if r.Status != "failed" || !strings.HasPrefix(r.Error, "truncated: ") || !strings.Contains(r.Error, "cannot be split further") || r.Translation != "" {
			t.Errorf("row %d = %s %q, want failed truncated: ... cannot be split further", i+1, r.Status, r.Error)
		}
	}
}

func excerptOf(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[len(r)-60:])
	}
	return s
}

// readRunRecord reads run.json from dir.
func readRunRecord(t *testing.T, dir string) jobs.RunRecord {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec jobs.RunRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("run.json: %v", err)
	}
	return rec
}

// TestRunReasoningModel runs against a reasoning model that thinks 3,000
// tokens before every reply: --reasoning-tokens (8192 by default) leaves it
// room, and without that room every row fails at once as truncated, one
// request each, instead of being split down to single words.
func TestRunReasoningModel(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey, ReasoningTokens: 3000})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "3", "--model", "gpt-5-mini")...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	for i, r := range readJSON(t, filepath.Join(out, "results.json")) {
		if r.Status != "ok" {
			t.Errorf("row %d = %s %q, want ok", i+1, r.Status, r.Error)
		}
	}
	for _, r := range srv.Requests() {
		if !strings.Contains(string(r.Body), `"max_completion_tokens"`) {
			t.Fatalf("a request without max_completion_tokens: %s", r.Body)
		}
	}

	srv = newServer(t, fakeopenai.Options{APIKey: testKey, ReasoningTokens: 3000})
	out = t.TempDir()
	res = runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "3", "--model", "gpt-5-mini", "--reasoning-tokens", "0")...)
	if res.code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", res.code, res.stderr)
	}
	for i, r := range readJSON(t, filepath.Join(out, "results.json")) {
		if r.Status != "failed" || !strings.HasPrefix(r.Error, "truncated: ") || !strings.Contains(r.Error, "raise --reasoning-tokens") {
			t.Errorf("row %d = %s %q, want failed truncated: ... raise --reasoning-tokens", i+1, r.Status, r.Error)
		}
	}
	if got := srv.Stats().Requests; got != 3 {
		t.Errorf("%d requests, want 3: one per row, nothing split", got)
	}
}
