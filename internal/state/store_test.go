package state

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"modernc.org/sqlite"

	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

// openStore opens path and closes the Store when the test ends.
func openStore(tb testing.TB, path string, opts Options) *Store {
	tb.Helper()
	s, err := Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%q)=%v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func closeStore(tb testing.TB, s *Store) {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close()=%v", err)
	}
}

func newPath(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "state.db")
}

func request(step jobs.Step, model string) jobs.Request {
	return jobs.Request{
		ArticleID: "a1",
		Step:      step,
		Model:     model,
		Messages: []prompts.Message{
			{Role: "system", Content: "Translate the article into English."},
			{Role: "user", Content: "<article>مرحبا بالعالم</article>"},
		},
		MaxTokens:   1000,
		Temperature: 0.01,
	}
}

func reply(content string) jobs.Reply {
	return jobs.Reply{
		Content:      content,
		FinishReason: "stop",
		Model:        "gpt-test-2024",
		Usage:        jobs.Usage{PromptTokens: 120, CompletionTokens: 80},
	}
}

// fileBytes returns the content of path, failing the test when it cannot.
func fileBytes(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestReplyRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		key   string
		req   jobs.Request
		reply jobs.Reply
	}{
		{"english", "k1", request(jobs.StepTranslate, "m1"), reply("The minister said on Tuesday...")},
		{"arabic and new lines", "k2", request(jobs.StepTranslate, "m1"), reply("سطر أول\nسطر ثانٍ، مع تشكيل: مُتَرْجَم\r\n«اقتباس»")},
		{"json summary", "k3", request(jobs.StepKeyPoints, "m2"), reply(`{"title_en":"A title","key_points":["one","two"]}`)},
		{"empty content", "k4", request(jobs.StepTranslate, "m1"), jobs.Reply{FinishReason: "stop"}},
		{"large", "k5", request(jobs.StepTranslate, "m1"), reply(strings.Repeat("A long translated paragraph. ", 20000))},
		{"nul and invalid utf-8", "k6", request(jobs.StepTranslate, "m1"), reply("a\x00b\xffc")},
		{"length finish and big usage", "k7", request(jobs.StepTranslate, "m1"), jobs.Reply{Content: "x", FinishReason: "length", Model: "m", Usage: jobs.Usage{PromptTokens: 1 << 40, CompletionTokens: 0}}},
	}
	path := newPath(t)
	s := openStore(t, path, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutReply(ctx, tt.key, tt.req, tt.reply); err != nil {
				t.Fatalf("PutReply()=%v", err)
			}
			got, ok, err := s.GetReply(ctx, tt.key)
			if err != nil || !ok {
				t.Fatalf("GetReply()=_, %v, %v; want ok", ok, err)
			}
			if diff := cmp.Diff(tt.reply, got); diff != "" {
				t.Errorf("GetReply() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	closeStore(t, s)

	// Everything is still there after Close and Open.
	s = openStore(t, path, Options{})
	for _, tt := range tests {
		got, ok, err := s.GetReply(ctx, tt.key)
		if err != nil || !ok {
			t.Fatalf("after reopen: GetReply(%q)=_, %v, %v; want ok", tt.key, ok, err)
		}
		if diff := cmp.Diff(tt.reply, got); diff != "" {
			t.Errorf("after reopen: GetReply(%q) mismatch (-want +got):\n%s", tt.key, diff)
		}
	}
}

func TestGetMissing(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	if r, ok, err := s.GetReply(ctx, "nope"); err != nil || ok || r != (jobs.Reply{}) {
		t.Errorf("GetReply(missing)=%+v, %v, %v; want zero, false, nil", r, ok, err)
	}
	if r, ok, err := s.GetRow(ctx, "nope", "v1"); err != nil || ok || r != (jobs.RowRecord{}) {
		t.Errorf("GetRow(missing)=%+v, %v, %v; want zero, false, nil", r, ok, err)
	}
	if o, ok, err := s.GetOriginal(ctx, "nope"); err != nil || ok || o != (jobs.Original{}) {
		t.Errorf("GetOriginal(missing)=%+v, %v, %v; want zero, false, nil", o, ok, err)
	}
}

func TestPutReplyReplaces(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	first, second := reply("first"), reply("second")
	second.Usage = jobs.Usage{PromptTokens: 1, CompletionTokens: 2}
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m1"), first); err != nil {
		t.Fatal(err)
	}
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m1"), second); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.GetReply(ctx, "k")
	if err != nil || !ok {
		t.Fatalf("GetReply()=_, %v, %v", ok, err)
	}
	if diff := cmp.Diff(second, got); diff != "" {
		t.Errorf("GetReply() mismatch (-want +got):\n%s", diff)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Replies != 1 {
		t.Errorf("Stats().Replies=%d, want 1", st.Replies)
	}
}

func TestRowRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	// Applied in order; want is what GetRow returns afterwards for each
	// (input, version).
	puts := []jobs.RowRecord{
		{InputSHA256: "h1", PromptVersion: "v1", ID: "1", Status: jobs.StatusOK},
		{InputSHA256: "h2", PromptVersion: "v1", ID: "2", Status: jobs.StatusFailed, Error: "refused: the model declined"},
		{InputSHA256: "h3", PromptVersion: "v1", ID: "٣", Status: jobs.StatusSkipped, Error: "not_arabic: body has no Arabic script"},
		{InputSHA256: "h1", PromptVersion: "v2", ID: "1", Status: jobs.StatusFailed, Error: "http_400: bad request"},
		// Upsert: h2 succeeds on a rerun, under another id.
		{InputSHA256: "h2", PromptVersion: "v1", ID: "2b", Status: jobs.StatusOK},
	}
	for _, r := range puts {
		if err := s.PutRow(ctx, r); err != nil {
			t.Fatalf("PutRow(%+v)=%v", r, err)
		}
	}
	tests := []struct {
		input, version string
		want           jobs.RowRecord
		ok             bool
	}{
		{"h1", "v1", puts[0], true},
		{"h1", "v2", puts[3], true},
		{"h2", "v1", puts[4], true},
		{"h3", "v1", puts[2], true},
		{"h3", "v2", jobs.RowRecord{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.input+"/"+tt.version, func(t *testing.T) {
			got, ok, err := s.GetRow(ctx, tt.input, tt.version)
			if err != nil || ok != tt.ok {
				t.Fatalf("GetRow()=_, %v, %v; want ok %v", ok, err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GetRow() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Replies: 0, Rows: map[jobs.Status]int{jobs.StatusOK: 2, jobs.StatusFailed: 1, jobs.StatusSkipped: 1}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// putConcurrently runs put(w, i) for i below each in each of workers
// goroutines, fails the test on every error it returns, and checks that
// the puts shared commits: never more commits than puts.
func putConcurrently(t *testing.T, s *Store, workers, each int, put func(w, i int) []error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		puts atomic.Int64
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				for _, err := range put(w, i) {
					puts.Add(1)
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("Put: %v", err)
	}
	if commits := s.commits.Load(); commits > puts.Load() {
		t.Errorf("%d commits for %d puts", commits, puts.Load())
	}
	t.Logf("%d puts in %d commits", puts.Load(), s.commits.Load())
}

func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	s := openStore(t, path, Options{})
	const workers, each = 32, 20
	putConcurrently(t, s, workers, each, func(w, i int) []error {
		key := fmt.Sprintf("w%d-%d", w, i)
		row := jobs.RowRecord{InputSHA256: key, PromptVersion: "v", ID: key, Status: jobs.StatusOK}
		return []error{
			s.PutReply(ctx, key, request(jobs.StepTranslate, "m"), reply("content "+key)),
			s.PutRow(ctx, row),
		}
	})
	closeStore(t, s)

	s = openStore(t, path, Options{})
	for w := range workers {
		for i := range each {
			key := fmt.Sprintf("w%d-%d", w, i)
			got, ok, err := s.GetReply(ctx, key)
			if err != nil || !ok || got.Content != "content "+key {
				t.Fatalf("GetReply(%q)=%q, %v, %v", key, got.Content, ok, err)
			}
			row, ok, err := s.GetRow(ctx, key, "v")
			if err != nil || !ok || row.ID != key {
				t.Fatalf("GetRow(%q)=%+v, %v, %v", key, row, ok, err)
			}
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Replies: workers * each, Rows: map[jobs.Status]int{jobs.StatusOK: workers * each}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// writerControl stalls the writer before its first batch and records the
// size of every batch.
type writerControl struct {
	mu      sync.Mutex
	cond    *sync.Cond
	queued  int   // writes queued so far
	stalled bool  // the writer is waiting at its first batch
	sizes   []int // batch sizes
	gate    chan struct{}
	once    sync.Once
}

// stalledWriter returns hooks for Options and their control.
func stalledWriter() (*testHooks, *writerControl) {
	c := &writerControl{gate: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	h := &testHooks{
		enqueued: func() {
			c.mu.Lock()
			c.queued++
			c.cond.Broadcast()
			c.mu.Unlock()
		},
		batch: func(n int) {
			c.mu.Lock()
			c.stalled = true
			c.cond.Broadcast()
			c.mu.Unlock()
			<-c.gate
			c.mu.Lock()
			c.sizes = append(c.sizes, n)
			c.mu.Unlock()
		},
	}
	return h, c
}

// waitQueued waits until n writes have been queued in all.
func (c *writerControl) waitQueued(n int) {
	c.mu.Lock()
	for c.queued < n {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// waitStalled waits until the writer holds its first batch.
func (c *writerControl) waitStalled() {
	c.mu.Lock()
	for !c.stalled {
		c.cond.Wait()
	}
	c.mu.Unlock()
}

// release lets the writer go on; it may be called more than once.
func (c *writerControl) release() { c.once.Do(func() { close(c.gate) }) }

func (c *writerControl) batchSizes() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.sizes...)
}

func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	h, c := stalledWriter()
	s := openStore(t, newPath(t), Options{hooks: h})
	defer c.release()

	var wg sync.WaitGroup
	put := func(key string) {
		wg.Go(func() {
			if err := s.PutReply(ctx, key, request(jobs.StepTranslate, "m"), reply(key)); err != nil {
				t.Errorf("PutReply(%q)=%v", key, err)
			}
		})
	}
	// The first write is taken alone and the writer stalls before
	// committing it; the next 31 queue up behind it.
	put("first")
	c.waitStalled()
	for i := range 31 {
		put(fmt.Sprint(i))
	}
	c.waitQueued(32)
	before := s.commits.Load()
	c.release()
	wg.Wait()

	if diff := cmp.Diff([]int{1, 31}, c.batchSizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if got := s.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for 32 puts, want 2", got)
	}
}

func TestCloseCommitsQueuedWrites(t *testing.T) {
	path := newPath(t)
	h, c := stalledWriter()
	s := openStore(t, path, Options{hooks: h})
	defer c.release()

	// Callers that stop waiting (their context ends) still have their
	// writes committed, by Close at the latest.
	var wg sync.WaitGroup
	for i := range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() {
			defer cancel()
			err := s.PutRow(ctx, jobs.RowRecord{InputSHA256: fmt.Sprint(i), PromptVersion: "v", ID: fmt.Sprint(i), Status: jobs.StatusOK})
			if !errors.Is(err, context.Canceled) {
				t.Errorf("PutRow()=%v, want context.Canceled", err)
			}
		})
		c.waitQueued(i + 1)
		cancel()
	}
	wg.Wait()

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	c.release()
	if err := <-closed; err != nil {
		t.Fatalf("Close()=%v", err)
	}

	s = openStore(t, path, Options{})
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Rows[jobs.StatusOK]; got != 10 {
		t.Errorf("after Close: %d rows, want 10", got)
	}
}

func TestAfterClose(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	closeStore(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close()=%v, want nil", err)
	}
	checks := map[string]error{
		"PutReply":    s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")),
		"PutRow":      s.PutRow(ctx, jobs.RowRecord{InputSHA256: "h", PromptVersion: "v"}),
		"PutOriginal": s.PutOriginal(ctx, jobs.Original{InputSHA256: "h", ID: "1"}),
	}
	_, _, checks["GetReply"] = s.GetReply(ctx, "k")
	_, _, checks["GetRow"] = s.GetRow(ctx, "h", "v")
	_, _, checks["GetOriginal"] = s.GetOriginal(ctx, "h")
	_, checks["Stats"] = s.Stats(ctx)
	checks["AddBatchRequests"] = s.AddBatchRequests(ctx, []BatchRequest{{Key: "k", ArticleID: "1", Step: "translate"}})
	checks["Requeue"] = s.Requeue(ctx, "k", "invalid_json: x")
	checks["MarkSubmitted"] = s.MarkSubmitted(ctx, Batch{ID: "batch_1"}, []string{"k"})
	checks["UpdateBatch"] = s.UpdateBatch(ctx, Batch{ID: "batch_1"})
	checks["CollectBatch"] = s.CollectBatch(ctx, Batch{ID: "batch_1"}, nil)
	_, _, checks["BatchRequest"] = s.BatchRequest(ctx, "k")
	_, checks["Batches"] = s.Batches(ctx)
	_, checks["SubmittedKeys"] = s.SubmittedKeys(ctx, "batch_1")
	_, checks["BatchCounts"] = s.BatchCounts(ctx)
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestCanceledPutStoresNothing(t *testing.T) {
	s := openStore(t, newPath(t), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutReply(canceled)=%v, want context.Canceled", err)
	}
	if _, ok, err := s.GetReply(context.Background(), "k"); ok || err != nil {
		t.Errorf("GetReply()=_, %v, %v; want nothing stored", ok, err)
	}
	if err := s.PutOriginal(ctx, jobs.Original{InputSHA256: "h", ID: "1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PutOriginal(canceled)=%v, want context.Canceled", err)
	}
	if _, ok, err := s.GetOriginal(context.Background(), "h"); ok || err != nil {
		t.Errorf("GetOriginal()=_, %v, %v; want nothing stored", ok, err)
	}
}

func TestPutRejectsEmptyKeys(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	if err := s.PutReply(ctx, "", request(jobs.StepTranslate, "m"), reply("x")); err == nil {
		t.Error("PutReply with an empty key: no error")
	}
	if err := s.PutRow(ctx, jobs.RowRecord{PromptVersion: "v"}); err == nil {
		t.Error("PutRow with an empty input hash: no error")
	}
	err := s.PutOriginal(ctx, jobs.Original{ID: "art-7", Title: "عنوان", Body: "نص"})
	want := fmt.Sprintf("store original of article art-7 in state file %s: empty input hash", s.Path())
	if err == nil || err.Error() != want {
		t.Errorf("PutOriginal with an empty input hash = %v\nwant %q", err, want)
	}
	if st, err := s.Stats(ctx); err != nil || st.Replies != 0 || len(st.Rows) != 0 {
		t.Errorf("Stats()=%+v, %v; want nothing stored", st, err)
	}
	if n := countRows(t, s, "originals"); n != 0 {
		t.Errorf("%d originals stored, want 0", n)
	}
}

// countRows returns the number of rows in table.
func countRows(tb testing.TB, s *Store, table string) int {
	tb.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestTimestamps checks that created_at and updated_at come from
// Options.Now, in UTC.
func TestTimestamps(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 30, 0, 5, time.FixedZone("AST", 3*3600))
	s := openStore(t, newPath(t), Options{Now: func() time.Time { return at }})
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRow(ctx, jobs.RowRecord{InputSHA256: "h", PromptVersion: "v", ID: "1", Status: jobs.StatusOK}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOriginal(ctx, jobs.Original{InputSHA256: "h", ID: "1", Title: "t", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	var created, updated, kept string
	if err := s.db.QueryRowContext(ctx, `SELECT created_at FROM replies`).Scan(&created); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT updated_at FROM rows`).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT created_at FROM originals`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	want := "2025-03-01T09:30:00.000000005Z"
	if created != want || updated != want || kept != want {
		t.Errorf("replies.created_at=%q, rows.updated_at=%q, originals.created_at=%q; want %q", created, updated, kept, want)
	}
}

func TestSchemaCreated(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"missing file", func(*testing.T, string) {}},
		{"empty file", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"empty SQLite database", func(t *testing.T, path string) {
			db := rawDB(t, path)
			if _, err := db.Exec(`PRAGMA journal_mode = WAL`); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := newPath(t)
			tt.setup(t, path)
			s := openStore(t, path, Options{})
			var version, appID int
			if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
				t.Fatal(err)
			}
			if err := s.db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
				t.Fatal(err)
			}
			if version != SchemaVersion || appID != applicationID {
				t.Errorf("user_version=%d, application_id=%#x; want %d, %#x", version, appID, SchemaVersion, applicationID)
			}
			want := map[string][]string{
				"replies":   {"key", "step", "model", "content", "finish_reason", "reply_model", "prompt_tokens", "completion_tokens", "created_at"},
				"rows":      {"input_sha256", "prompt_version", "id", "status", "error", "updated_at"},
				"originals": {"input_sha256", "id", "title", "body", "removed", "created_at"},
				"batch_requests": {"key", "article_id", "step", "part", "state", "batch_id", "attempts", "error",
					"content", "finish_reason", "reply_model", "prompt_tokens", "completion_tokens", "seq", "updated_at"},
				"batches": {"id", "input_file_id", "output_file_id", "error_file_id", "status", "requests", "collected", "created_at", "updated_at"},
			}
			got := map[string][]string{}
			for table := range want {
				rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var col string
					if err := rows.Scan(&col); err != nil {
						t.Fatal(err)
					}
					got[table] = append(got[table], col)
				}
				rows.Close()
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("columns mismatch (-want +got):\n%s", diff)
			}
			var mode string
			if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode=%q, %v; want wal", mode, err)
			}
			var sync int
			if err := s.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
				t.Errorf("synchronous=%d, %v; want 2 (FULL)", sync, err)
			}
		})
	}
}

func TestMigrationsMatchSchemaVersion(t *testing.T) {
	if len(migrations) != SchemaVersion {
		t.Errorf("%d migrations for SchemaVersion %d", len(migrations), SchemaVersion)
	}
}

// TestMigrationSteps runs a made-up next version on a file of the current
// one: a step that fails leaves the file at SchemaVersion, one that
// succeeds moves it to SchemaVersion+1.
func TestMigrationSteps(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	version := func() int {
		t.Helper()
		var v int
		if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	hasTable := func(name string) bool {
		t.Helper()
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	addTable := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE made_up (id TEXT PRIMARY KEY)`)
		return err
	}
	failing := func(ctx context.Context, tx *sql.Tx) error {
		if err := addTable(ctx, tx); err != nil {
			return err
		}
		return errors.New("made-up failure")
	}

	cur, next := SchemaVersion, SchemaVersion+1
	steps := func(last func(context.Context, *sql.Tx) error) []func(context.Context, *sql.Tx) error {
		return append(migrations[:cur:cur], last)
	}
	if err := s.migrate(ctx, steps(failing), next); err == nil {
		t.Fatal("failing migration: no error")
	}
	if v, ok := version(), hasTable("made_up"); v != cur || ok {
		t.Errorf("after a failed migration: version %d, table %v; want %d, false", v, ok, cur)
	}
	if err := s.migrate(ctx, steps(addTable), next); err != nil {
		t.Fatalf("migrate()=%v", err)
	}
	if v, ok := version(), hasTable("made_up"); v != next || !ok {
		t.Errorf("after migrating: version %d, table %v; want %d, true", v, ok, next)
	}
	// Already there: nothing to do.
	if err := s.migrate(ctx, steps(failing), next); err != nil {
		t.Errorf("migrate() at the target version = %v", err)
	}
}

// rawDB opens path with the SQLite driver alone, as another program would.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestNewerSchemaRefused(t *testing.T) {
	path := newPath(t)
	closeStore(t, openStore(t, path, Options{}))
	db := rawDB(t, path)
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before := fileBytes(t, path)

	s, err := Open(context.Background(), path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open(newer schema): no error")
	}
	want := fmt.Sprintf("state file %s has schema version %d, newer than this tarjama understands (%d); use a newer tarjama", path, SchemaVersion+1, SchemaVersion)
	if err.Error() != want {
		t.Errorf("Open()=%q\nwant %q", err, want)
	}
	var verr *SchemaVersionError
	if !errors.As(err, &verr) || verr.Version != SchemaVersion+1 {
		t.Errorf("Open()=%#v, want a *SchemaVersionError", err)
	}
	if !bytes.Equal(before, fileBytes(t, path)) {
		t.Error("the state file was changed")
	}
}

// damagedFiles returns files that Open must refuse, by name.
func damagedFiles(t *testing.T) map[string][]byte {
	t.Helper()
	// A real state file of many pages.
	real := newPath(t)
	s := openStore(t, real, Options{})
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			key := fmt.Sprint(i)
			if err := s.PutReply(context.Background(), key, request(jobs.StepTranslate, "m"), reply(strings.Repeat("text ", 400)+key)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	closeStore(t, s)
	good := fileBytes(t, real)
	if len(good) < 100*4096 {
		t.Fatalf("state file of %d bytes, want a bigger one", len(good))
	}

	random := make([]byte, 64<<10)
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	for i := range random {
		random[i] = byte(r.Uint32())
	}

	foreign := func(stmts ...string) []byte {
		p := newPath(t)
		db := rawDB(t, p)
		for _, q := range stmts {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		return fileBytes(t, p)
	}

	// A page in the middle of the file overwritten with zeros.
	zeroed := bytes.Clone(good)
	clear(zeroed[len(zeroed)/2/4096*4096:][:4096])

	return map[string][]byte{
		"random bytes":               random,
		"a CSV file":                 []byte("id,title,body\n1,عنوان,نص المقال\n"),
		"truncated to 50 bytes":      good[:50],
		"truncated to one page":      good[:4096],
		"truncated to half":          good[:len(good)/2],
		"truncated mid-page":         good[:len(good)/2+1000],
		"a page zeroed":              zeroed,
		"another program's database": foreign(`CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)`, `INSERT INTO notes (body) VALUES ('x')`),
		"another application_id":     foreign(`PRAGMA application_id = 42`),
	}
}

func TestDamagedFileRefused(t *testing.T) {
	for name, content := range damagedFiles(t) {
		t.Run(name, func(t *testing.T) {
			path := newPath(t)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			// Twice: a refused Open leaves no lock behind.
			for range 2 {
				s, err := Open(context.Background(), path, Options{})
				if err == nil {
					s.Close()
					t.Fatal("Open(): no error")
				}
				var derr *DamagedError
				if !errors.As(err, &derr) || derr.Path != path {
					t.Fatalf("Open()=%v, want a *DamagedError", err)
				}
				msg := err.Error()
				prefix := fmt.Sprintf("state file %s is not a tarjama state file or is damaged: ", path)
				suffix := "; it was left as it is (move it away to start afresh)"
				if !strings.HasPrefix(msg, prefix) || !strings.HasSuffix(msg, suffix) {
					t.Errorf("Open()=%q\nwant %q...%q", msg, prefix, suffix)
				}
				t.Logf("%s", msg)
			}
			if !bytes.Equal(content, fileBytes(t, path)) {
				t.Error("the file was changed")
			}
			// Nothing is left beside it but the lock file.
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if diff := cmp.Diff([]string{"state.db", "state.db.lock"}, names); diff != "" {
				t.Errorf("files beside the state file (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFileModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	ctx := context.Background()
	parent := filepath.Join(t.TempDir(), "new", "sub")
	path := filepath.Join(parent, "state.db")
	s := openStore(t, path, Options{})
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRow(ctx, jobs.RowRecord{InputSHA256: "h", PromptVersion: "v", ID: "1", Status: jobs.StatusOK}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutOriginal(ctx, jobs.Original{InputSHA256: "h", ID: "1", Title: "عنوان", Body: "نص المقال"}); err != nil {
		t.Fatal(err)
	}
	checkModes := func(when string, want map[string]os.FileMode) {
		t.Helper()
		for name, mode := range want {
			fi, err := os.Stat(name)
			if err != nil {
				t.Errorf("%s: %v", when, err)
				continue
			}
			if got := fi.Mode().Perm(); got != mode {
				t.Errorf("%s: mode of %s is %v, want %v", when, name, got, mode)
			}
		}
		// Nothing beside the state file is readable by others.
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s: %s has mode %v, open to group or others", when, e.Name(), fi.Mode().Perm())
			}
		}
	}
	checkModes("open", map[string]os.FileMode{
		filepath.Dir(parent): 0o700,
		parent:               0o700,
		path:                 0o600,
		path + "-wal":        0o600,
		path + "-shm":        0o600,
		path + ".lock":       0o600,
	})
	closeStore(t, s)
	checkModes("closed", map[string]os.FileMode{path: 0o600, path + ".lock": 0o600})
	// Close checkpointed the log into the file.
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("after Close: %s-wal has %d bytes, want none", path, fi.Size())
	}
}

// TestNoRequestInFile documents that the state file keeps replies, row
// outcomes, original articles and the Batch API's bookkeeping, not
// requests: nothing sent (the prompts and messages, and so nothing like an
// API key) is written by any Put or batch write.
func TestNoRequestInFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	s := openStore(t, path, Options{})
	req := request(jobs.StepTranslate, "m")
	req.Messages = append(req.Messages, prompts.Message{Role: "user", Content: "message text that must not be stored"})
	if err := s.PutReply(ctx, jobs.RequestKey(req), req, reply("The translated article, in plain English.")); err != nil {
		t.Fatal(err)
	}
	row := jobs.RowRecord{InputSHA256: "h", PromptVersion: "v", ID: "1", Status: jobs.StatusFailed, Error: "http_401: unauthorized"}
	if err := s.PutRow(ctx, row); err != nil {
		t.Fatal(err)
	}
	orig := jobs.Original{InputSHA256: "h", ID: "1", Title: "عنوان", Body: "نص المقال الأصلي\u200f مع علامات", Removed: 1}
	if err := s.PutOriginal(ctx, orig); err != nil {
		t.Fatal(err)
	}
	// The Batch API's bookkeeping: a request sent in a batch, answered,
	// requeued and answered again, and another that failed.
	req2 := request(jobs.StepKeyPoints, "m2")
	req2.Messages = append(req2.Messages, prompts.Message{Role: "user", Content: "message text that must not be stored"})
	k1, k2 := jobs.RequestKey(req), jobs.RequestKey(req2)
	breqs := []BatchRequest{{Key: k1, ArticleID: "1", Step: string(req.Step)}, {Key: k2, ArticleID: "1", Step: string(req2.Step)}}
	if err := s.AddBatchRequests(ctx, breqs); err != nil {
		t.Fatal(err)
	}
	batch := Batch{ID: "batch_1", InputFileID: "file-in", Status: "validating"}
	if err := s.MarkSubmitted(ctx, batch, []string{k1, k2}); err != nil {
		t.Fatal(err)
	}
	batch.Status, batch.OutputFileID = "completed", "file-out"
	if err := s.UpdateBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	results := []BatchResult{
		{Key: k1, State: ReqAnswered, Reply: reply("A batch reply, answered in a batch.")},
		{Key: k2, State: ReqFailed, Error: "http_400: bad request"},
	}
	if err := s.CollectBatch(ctx, batch, results); err != nil {
		t.Fatal(err)
	}
	if err := s.Requeue(ctx, k1, "invalid_json: unexpected end of input"); err != nil {
		t.Fatal(err)
	}
	if err := s.CollectBatch(ctx, Batch{}, results[:1]); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b := fileBytes(t, filepath.Join(dir, e.Name()))
			for _, secret := range []string{"sk-", "message text that must not be stored", "Translate the article"} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("%s: %s contains %q", when, e.Name(), secret)
				}
			}
		}
	}
	check("open")
	closeStore(t, s)
	check("closed")
	// What is meant to be kept is there, so the check above reads the data.
	b := fileBytes(t, path)
	for _, kept := range []string{"The translated article, in plain English.", orig.Body, "A batch reply, answered in a batch.", k1, "http_400: bad request"} {
		if !bytes.Contains(b, []byte(kept)) {
			t.Errorf("closed: %s does not contain %q", filepath.Base(path), kept)
		}
	}
}

func TestWriteErrorReachesEveryCaller(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	h, c := stalledWriter()
	s := openStore(t, path, Options{hooks: h})
	defer c.release()
	// A full disk, as SQLite sees it: the file may not grow.
	limitPages(t, s, 0)

	big := reply(strings.Repeat("x", 256<<10))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.PutReply(ctx, fmt.Sprint(i), request(jobs.StepTranslate, "m"), big) })
		if i == 0 {
			c.waitStalled()
		}
		c.waitQueued(i + 1)
	}
	c.release()
	wg.Wait()
	if diff := cmp.Diff([]int{1, n - 1}, c.batchSizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	for i, err := range errs {
		var serr *sqlite.Error
		if !errors.As(err, &serr) || serr.Code()&0xff != sqliteFull || !strings.Contains(err.Error(), path) {
			t.Errorf("PutReply #%d = %v, want SQLITE_FULL naming %s", i, err, path)
		}
	}

	// The store works again once there is room.
	limitPages(t, s, 1<<30)
	if err := s.PutReply(ctx, "after", request(jobs.StepTranslate, "m"), big); err != nil {
		t.Errorf("PutReply after the disk was freed: %v", err)
	}
}

// limitPages sets the store's max_page_count to the current page count plus
// extra pages.
func limitPages(t *testing.T, s *Store, extra int) {
	t.Helper()
	ctx := context.Background()
	var pages int
	if err := s.db.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+extra)); err != nil {
		t.Fatal(err)
	}
}

func TestFailedWriteDoesNotFailItsBatch(t *testing.T) {
	ctx := context.Background()
	h, c := stalledWriter()
	s := openStore(t, newPath(t), Options{hooks: h})
	defer c.release()
	// Room for small rows, not for a 1 MB reply.
	limitPages(t, s, 20)

	var wg sync.WaitGroup
	var bigErr error
	rowErrs := make([]error, 6)
	wg.Go(func() {
		bigErr = s.PutReply(ctx, "big", request(jobs.StepTranslate, "m"), reply(strings.Repeat("x", 1<<20)))
	})
	c.waitStalled()
	wg.Go(func() {
		rowErrs[0] = s.PutRow(ctx, jobs.RowRecord{InputSHA256: "h0", PromptVersion: "v", Status: jobs.StatusOK})
	})
	c.waitQueued(2)
	// The stalled first batch holds the big reply alone; put another big
	// one in the batch of rows.
	var big2Err error
	wg.Go(func() {
		big2Err = s.PutReply(ctx, "big2", request(jobs.StepTranslate, "m"), reply(strings.Repeat("y", 1<<20)))
	})
	c.waitQueued(3)
	for i := 1; i < len(rowErrs); i++ {
		wg.Go(func() {
			rowErrs[i] = s.PutRow(ctx, jobs.RowRecord{InputSHA256: fmt.Sprint("h", i), PromptVersion: "v", Status: jobs.StatusOK})
		})
		c.waitQueued(3 + i)
	}
	c.release()
	wg.Wait()

	if diff := cmp.Diff([]int{1, 7}, c.batchSizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if bigErr == nil || big2Err == nil {
		t.Errorf("big replies: %v, %v; want errors", bigErr, big2Err)
	}
	for i, err := range rowErrs {
		if err != nil {
			t.Errorf("PutRow #%d = %v, want it committed", i, err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Rows: map[jobs.Status]int{jobs.StatusOK: len(rowErrs)}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("'?' is not allowed in Windows file names")
	}
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "a b?c#d%20e&f=g ملفات")
	path := filepath.Join(dir, "state?x=1.db")
	s := openStore(t, path, Options{})
	if err := s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")); err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path()=%q, want %q", s.Path(), path)
	}
	closeStore(t, s)
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("Stat(%q)=%v, %v; want a state file there", path, fi, err)
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %q, want only %q", root, names, filepath.Base(dir))
	}
	s = openStore(t, path, Options{})
	if _, ok, err := s.GetReply(ctx, "k"); !ok || err != nil {
		t.Errorf("after reopen: GetReply()=_, %v, %v; want ok", ok, err)
	}
}

func TestNotARegularFile(t *testing.T) {
	path := newPath(t)
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), path, Options{}); err == nil {
		s.Close()
		t.Fatal("Open(a directory): no error")
	} else if !strings.Contains(err.Error(), path) {
		t.Errorf("Open()=%v, want the path in it", err)
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&LockedError{Path: "out/state.db"}, "state file out/state.db is in use by another tarjama run; wait for it to finish, or give this run its own --state FILE"},
		{&LockedError{Path: "out/state.db", PID: 4242}, "state file out/state.db is in use by another tarjama run (pid 4242); wait for it to finish, or give this run its own --state FILE"},
		{&DamagedError{Path: "s.db", Err: errors.New("file is not a database")}, "state file s.db is not a tarjama state file or is damaged: file is not a database; it was left as it is (move it away to start afresh)"},
		{&SchemaVersionError{Path: "s.db", Version: 3, Supported: 1}, "state file s.db has schema version 3, newer than this tarjama understands (1); use a newer tarjama"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error()=%q\nwant %q", got, tt.want)
		}
	}
}
