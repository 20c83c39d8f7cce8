package state

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

func TestOriginalRoundTrip(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		o    jobs.Original
	}{
		{"arabic with diacritics", jobs.Original{InputSHA256: "h1", ID: "1", Title: "عنوانٌ مُشَكَّل", Body: "«اقتباس»، ثم نص المقال.\nسطر ثانٍ\r\nوسطر ثالث", Removed: 42}},
		{"arabic id", jobs.Original{InputSHA256: "h2", ID: "٣", Title: "t", Body: "b", Removed: 1}},
		{"no title", jobs.Original{InputSHA256: "h3", ID: "3", Body: "body only", Removed: 7}},
		{"empty body", jobs.Original{InputSHA256: "h4", ID: "4", Title: "title only"}},
		{"nothing removed", jobs.Original{InputSHA256: "h5", ID: "5", Title: "t", Body: "b"}},
		{"nul and invalid utf-8", jobs.Original{InputSHA256: "h6", ID: "6", Title: "a\x00b", Body: "\xffc\u200f", Removed: 3}},
		{"large", jobs.Original{InputSHA256: "h7", ID: "7", Title: "t", Body: strings.Repeat("فقرة طويلة من المقال. ", 20000), Removed: 1 << 20}},
	}
	path := newPath(t)
	s := openStore(t, path, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutOriginal(ctx, tt.o); err != nil {
				t.Fatalf("PutOriginal()=%v", err)
			}
			got, ok, err := s.GetOriginal(ctx, tt.o.InputSHA256)
			if err != nil || !ok {
				t.Fatalf("GetOriginal()=_, %v, %v; want ok", ok, err)
			}
			if diff := cmp.Diff(tt.o, got); diff != "" {
				t.Errorf("GetOriginal() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	closeStore(t, s)

	// Everything is still there after Close and Open.
	s = openStore(t, path, Options{})
	for _, tt := range tests {
		got, ok, err := s.GetOriginal(ctx, tt.o.InputSHA256)
		if err != nil || !ok {
			t.Fatalf("after reopen: GetOriginal(%q)=_, %v, %v; want ok", tt.o.InputSHA256, ok, err)
		}
		if diff := cmp.Diff(tt.o, got); diff != "" {
			t.Errorf("after reopen: GetOriginal(%q) mismatch (-want +got):\n%s", tt.o.InputSHA256, diff)
		}
	}
	if o, ok, err := s.GetOriginal(ctx, "h8"); err != nil || ok || o != (jobs.Original{}) {
		t.Errorf("GetOriginal(missing)=%+v, %v, %v; want zero, false, nil", o, ok, err)
	}
}

// TestPutOriginalKeepsFirst checks that an original, once kept, stays as
// it is: a second put under the same hash succeeds and changes nothing, not
// even created_at.
func TestPutOriginalKeepsFirst(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { return at }
	s := openStore(t, path, Options{Now: func() time.Time { return now() }})

	first := jobs.Original{InputSHA256: "h", ID: "1", Title: "العنوان الأول", Body: "النص الأول", Removed: 5}
	second := jobs.Original{InputSHA256: "h", ID: "2", Title: "عنوان آخر", Body: "نص آخر", Removed: 9}
	if err := s.PutOriginal(ctx, first); err != nil {
		t.Fatalf("PutOriginal(first)=%v", err)
	}
	now = func() time.Time { return at.Add(time.Hour) }
	if err := s.PutOriginal(ctx, second); err != nil {
		t.Fatalf("PutOriginal(second, same hash)=%v, want nil", err)
	}
	check := func(when string) {
		t.Helper()
		got, ok, err := s.GetOriginal(ctx, "h")
		if err != nil || !ok {
			t.Fatalf("%s: GetOriginal()=_, %v, %v; want ok", when, ok, err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("%s: GetOriginal() mismatch (-want +got):\n%s", when, diff)
		}
		if n := countRows(t, s, "originals"); n != 1 {
			t.Errorf("%s: %d originals, want 1", when, n)
		}
		var created string
		if err := s.db.QueryRowContext(ctx, `SELECT created_at FROM originals`).Scan(&created); err != nil {
			t.Fatal(err)
		}
		if want := "2025-03-01T12:00:00Z"; created != want {
			t.Errorf("%s: created_at=%q, want %q", when, created, want)
		}
	}
	check("open")
	closeStore(t, s)

	s = openStore(t, path, Options{})
	if err := s.PutOriginal(ctx, second); err != nil {
		t.Fatalf("after reopen: PutOriginal(second)=%v, want nil", err)
	}
	check("after reopen")
}

// TestConcurrentPutOriginal puts originals from many goroutines, mixed with
// rows as the pipeline does, some under hashes that every goroutine puts:
// each put succeeds, and each hash keeps one whole original.
func TestConcurrentPutOriginal(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	s := openStore(t, path, Options{})
	const workers, each = 32, 20
	orig := func(w int, hash string) jobs.Original {
		return jobs.Original{
			InputSHA256: hash,
			ID:          fmt.Sprintf("w%d", w),
			Title:       fmt.Sprintf("title %s from %d", hash, w),
			Body:        fmt.Sprintf("body %s from %d", hash, w),
			Removed:     w,
		}
	}
	putConcurrently(t, s, workers, each, func(w, i int) []error {
		own, shared := fmt.Sprintf("own-%d-%d", w, i), fmt.Sprintf("shared-%d", i)
		row := jobs.RowRecord{InputSHA256: own, PromptVersion: "v", ID: own, Status: jobs.StatusOK}
		return []error{
			s.PutOriginal(ctx, orig(w, own)),
			s.PutOriginal(ctx, orig(w, shared)),
			s.PutRow(ctx, row),
		}
	})
	closeStore(t, s)

	s = openStore(t, path, Options{})
	for w := range workers {
		for i := range each {
			own := fmt.Sprintf("own-%d-%d", w, i)
			got, ok, err := s.GetOriginal(ctx, own)
			if err != nil || !ok {
				t.Fatalf("GetOriginal(%q)=_, %v, %v; want ok", own, ok, err)
			}
			if diff := cmp.Diff(orig(w, own), got); diff != "" {
				t.Errorf("GetOriginal(%q) mismatch (-want +got):\n%s", own, diff)
			}
		}
	}
	for i := range each {
		shared := fmt.Sprintf("shared-%d", i)
		got, ok, err := s.GetOriginal(ctx, shared)
		if err != nil || !ok {
			t.Fatalf("GetOriginal(%q)=_, %v, %v; want ok", shared, ok, err)
		}
		// One worker's original, whole.
		if diff := cmp.Diff(orig(got.Removed, shared), got); diff != "" {
			t.Errorf("GetOriginal(%q) is not one put's original (-want +got):\n%s", shared, diff)
		}
	}
	if got, want := countRows(t, s, "originals"), workers*each+each; got != want {
		t.Errorf("%d originals, want %d", got, want)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Rows[jobs.StatusOK]; got != workers*each {
		t.Errorf("%d rows, want %d", got, workers*each)
	}
}

// makeOldFile writes at path a state file of an earlier schema version,
// made by the same Open steps as then (journal mode, the migrations up to
// that version), with the rows that inserts add.
func makeOldFile(t *testing.T, path string, version int, inserts ...string) {
	t.Helper()
	ctx := context.Background()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `PRAGMA journal_mode = WAL`); err != nil {
		t.Fatal(err)
	}
	old := &Store{path: path, log: slog.New(slog.DiscardHandler), db: db}
	if err := old.migrate(ctx, migrations[:version], version); err != nil {
		t.Fatalf("migrate to version %d: %v", version, err)
	}
	for _, q := range inserts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// oldReplyAndRow are a reply and a row as every schema version holds them.
var oldReplyAndRow = []string{
	`INSERT INTO replies (key, step, model, content, finish_reason, reply_model, prompt_tokens, completion_tokens, created_at)
		VALUES ('k', 'translate', 'm', 'an old reply', 'stop', 'gpt-test-2024', 120, 80, '2024-01-01T00:00:00Z')`,
	`INSERT INTO rows (input_sha256, prompt_version, id, status, error, updated_at)
		VALUES ('h-old', 'v', '1', 'ok', '', '2024-01-01T00:00:00Z')`,
}

// makeV1File writes at path a state file of schema version 1, as the
// tarjama before originals made it, with one reply and one row in it.
func makeV1File(t *testing.T, path string) {
	t.Helper()
	makeOldFile(t, path, 1, oldReplyAndRow...)
}

// TestMigrateFromV1 opens a file of schema version 1: Open brings it to
// version 2 with the originals table, and keeps its replies and rows.
func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	makeV1File(t, path)

	// The file is as version 1 left it.
	db := rawDB(t, path)
	var v, tables int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'originals'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if v != 1 || tables != 0 {
		t.Fatalf("version 1 file: user_version=%d, %d originals tables; want 1, 0", v, tables)
	}
	db.Close()

	var logs bytes.Buffer
	s := openStore(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion {
		t.Errorf("after Open: user_version=%d, want %d", v, SchemaVersion)
	}
	if want := `msg="state file schema updated" path=` + path + ` from=1 to=3`; !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant a line with %q", logs.String(), want)
	}

	// What version 1 stored is still there.
	if got, ok, err := s.GetReply(ctx, "k"); err != nil || !ok || got.Content != "an old reply" {
		t.Errorf("GetReply(old)=%q, %v, %v; want the old reply", got.Content, ok, err)
	}
	if got, ok, err := s.GetRow(ctx, "h-old", "v"); err != nil || !ok || got.Status != jobs.StatusOK {
		t.Errorf("GetRow(old)=%+v, %v, %v; want the old row", got, ok, err)
	}

	// And originals can be kept.
	o := jobs.Original{InputSHA256: "h-old", ID: "1", Title: "عنوان", Body: "نص المقال الأصلي", Removed: 2}
	if err := s.PutOriginal(ctx, o); err != nil {
		t.Fatalf("PutOriginal()=%v", err)
	}
	if got, ok, err := s.GetOriginal(ctx, "h-old"); err != nil || !ok || got != o {
		t.Errorf("GetOriginal()=%+v, %v, %v; want %+v", got, ok, err, o)
	}
	closeStore(t, s)

	// Opened again, the file is not migrated twice.
	logs.Reset()
	s = openStore(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if strings.Contains(logs.String(), "schema") {
		t.Errorf("second Open logged:\n%s", logs.String())
	}
	if got, ok, err := s.GetOriginal(ctx, "h-old"); err != nil || !ok || got != o {
		t.Errorf("after reopen: GetOriginal()=%+v, %v, %v; want %+v", got, ok, err, o)
	}
}

// TestNewFileLogsOneLine checks that a new state file is told as created
// at the current schema version, not as migrated step by step.
func TestNewFileLogsOneLine(t *testing.T) {
	var logs bytes.Buffer
	path := newPath(t)
	openStore(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	want := fmt.Sprintf(`msg="state file created" path=%s schema_version=%d`, path, SchemaVersion)
	if !strings.Contains(logs.String(), want) || strings.Contains(logs.String(), "schema updated") || strings.Count(logs.String(), "\n") != 1 {
		t.Errorf("log:\n%s\nwant the one line %q", logs.String(), want)
	}
}
