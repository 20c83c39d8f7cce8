package state

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

// batchReqs returns n batch requests for article ids prefix-0... with keys
// benchKey(from...).
func batchReqs(from, n int, step jobs.Step) []BatchRequest {
	reqs := make([]BatchRequest, n)
	for i := range reqs {
		reqs[i] = BatchRequest{Key: benchKey(from + i), ArticleID: fmt.Sprint("art-", from+i), Step: string(step)}
	}
	return reqs
}

func keysOf(reqs []BatchRequest) []string {
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		keys[i] = r.Key
	}
	return keys
}

// getBatchRequest returns the request under key, failing the test when it
// is not there.
func getBatchRequest(tb testing.TB, s *Store, key string) BatchRequest {
	tb.Helper()
	r, ok, err := s.BatchRequest(context.Background(), key)
	if err != nil || !ok {
		tb.Fatalf("BatchRequest(%.8s)=_, %v, %v; want ok", key, ok, err)
	}
	return r
}

// wantBatchRequest checks the request under want.Key.
func wantBatchRequest(tb testing.TB, s *Store, when string, want BatchRequest) {
	tb.Helper()
	got := getBatchRequest(tb, s, want.Key)
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("%s: BatchRequest(%.8s) mismatch (-want +got):\n%s", when, want.Key, diff)
	}
}

func wantCounts(tb testing.TB, s *Store, when string, want map[string]int) {
	tb.Helper()
	got, err := s.BatchCounts(context.Background())
	if err != nil {
		tb.Fatalf("%s: BatchCounts()=%v", when, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("%s: BatchCounts() mismatch (-want +got):\n%s", when, diff)
	}
}

// batchDump is everything the batch tables hold, updated_at included.
func batchDump(tb testing.TB, s *Store) string {
	tb.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT key, article_id, step, state, batch_id, attempts, error, quote(content), quote(finish_reason), quote(reply_model),
			quote(prompt_tokens), quote(completion_tokens), seq, updated_at FROM batch_requests ORDER BY key`,
		`SELECT id, input_file_id, output_file_id, error_file_id, status, requests, collected, created_at, updated_at FROM batches ORDER BY id`,
	} {
		rows, err := s.db.QueryContext(context.Background(), q)
		if err != nil {
			tb.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				tb.Fatal(err)
			}
			fmt.Fprintln(&b, vals...)
		}
		rows.Close()
	}
	return b.String()
}

func TestBatchRequestRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	s := openStore(t, path, Options{})
	reqs := []BatchRequest{
		{Key: benchKey(1), ArticleID: "1", Step: string(jobs.StepTranslate)},
		{Key: benchKey(2), ArticleID: "٣", Step: string(jobs.StepKeyPoints)},
		// What Add does not keep: a new request is pending, never sent.
		{Key: benchKey(3), ArticleID: "art 3", Step: string(jobs.StepTranslate), State: ReqAnswered, BatchID: "batch_x", Attempts: 7,
			Error: "x: y", Reply: reply("not kept")},
	}
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatalf("AddBatchRequests()=%v", err)
	}
	want := func(r BatchRequest) BatchRequest {
		return BatchRequest{Key: r.Key, ArticleID: r.ArticleID, Step: r.Step, State: ReqPending}
	}
	for _, r := range reqs {
		wantBatchRequest(t, s, "open", want(r))
	}
	if r, ok, err := s.BatchRequest(ctx, benchKey(4)); err != nil || ok || r != (BatchRequest{}) {
		t.Errorf("BatchRequest(missing)=%+v, %v, %v; want zero, false, nil", r, ok, err)
	}
	wantCounts(t, s, "open", map[string]int{ReqPending: 3})
	if bs, err := s.Batches(ctx); err != nil || len(bs) != 0 {
		t.Errorf("Batches()=%v, %v; want none", bs, err)
	}
	if keys, err := s.SubmittedKeys(ctx, "batch_x"); err != nil || len(keys) != 0 {
		t.Errorf("SubmittedKeys()=%v, %v; want none", keys, err)
	}
	if err := s.AddBatchRequests(ctx, nil); err != nil {
		t.Errorf("AddBatchRequests(nil)=%v", err)
	}
	closeStore(t, s)

	s = openStore(t, path, Options{})
	for _, r := range reqs {
		wantBatchRequest(t, s, "after reopen", want(r))
	}
}

// TestBatchLifecycle takes requests through every state and checks each
// method's effect, and that no reply reaches the replies table.
func TestBatchLifecycle(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	tick := func() { mu.Lock(); at = at.Add(time.Minute); mu.Unlock() }
	path := newPath(t)
	s := openStore(t, path, Options{Now: now})

	reqs := batchReqs(0, 4, jobs.StepTranslate)
	a, b, c, d := reqs[0], reqs[1], reqs[2], reqs[3]
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	pending := func(r BatchRequest) BatchRequest {
		return BatchRequest{Key: r.Key, ArticleID: r.ArticleID, Step: r.Step, State: ReqPending}
	}
	wantCounts(t, s, "added", map[string]int{ReqPending: 4})

	// Submitted in batch 1 (d stays pending).
	tick()
	b1 := Batch{ID: "batch_1", InputFileID: "file-in-1", Status: "validating"}
	if err := s.MarkSubmitted(ctx, b1, []string{a.Key, b.Key, c.Key}); err != nil {
		t.Fatalf("MarkSubmitted()=%v", err)
	}
	submitted := func(r BatchRequest, batch string, attempts int) BatchRequest {
		return BatchRequest{Key: r.Key, ArticleID: r.ArticleID, Step: r.Step, State: ReqSubmitted, BatchID: batch, Attempts: attempts}
	}
	for _, r := range []BatchRequest{a, b, c} {
		wantBatchRequest(t, s, "submitted", submitted(r, "batch_1", 1))
	}
	wantBatchRequest(t, s, "submitted", pending(d))
	wantCounts(t, s, "submitted", map[string]int{ReqPending: 1, ReqSubmitted: 3})
	b1.Requests, b1.CreatedAt = 3, at
	if bs, err := s.Batches(ctx); err != nil || !cmp.Equal([]Batch{b1}, bs) {
		t.Errorf("Batches()=%+v, %v; want %+v", bs, err, b1)
	}
	if keys, err := s.SubmittedKeys(ctx, "batch_1"); err != nil || !cmp.Equal([]string{a.Key, b.Key, c.Key}, keys) {
		t.Errorf("SubmittedKeys()=%.8q, %v; want a, b, c", keys, err)
	}

	// The batch completes; its results are collected.
	tick()
	b1.Status, b1.OutputFileID, b1.ErrorFileID = "completed", "file-out-1", "file-err-1"
	if err := s.UpdateBatch(ctx, b1); err != nil {
		t.Fatalf("UpdateBatch()=%v", err)
	}
	if bs, err := s.Batches(ctx); err != nil || !cmp.Equal([]Batch{b1}, bs) {
		t.Errorf("after UpdateBatch: Batches()=%+v, %v; want %+v", bs, err, b1)
	}
	tick()
	ra := reply("الترجمة: the minister said...")
	results := []BatchResult{
		{Key: a.Key, State: ReqAnswered, Reply: ra},
		{Key: b.Key, State: ReqPending, Error: "http_500: server error"},
		{Key: c.Key, State: ReqFailed, Error: "http_400: bad request"},
	}
	if err := s.CollectBatch(ctx, b1, results); err != nil {
		t.Fatalf("CollectBatch()=%v", err)
	}
	answeredA := submitted(a, "batch_1", 1)
	answeredA.State, answeredA.Reply = ReqAnswered, ra
	wantBatchRequest(t, s, "collected", answeredA)
	wantBatchRequest(t, s, "collected", BatchRequest{Key: b.Key, ArticleID: b.ArticleID, Step: b.Step, State: ReqPending, BatchID: "batch_1", Attempts: 1, Error: "http_500: server error"})
	wantBatchRequest(t, s, "collected", BatchRequest{Key: c.Key, ArticleID: c.ArticleID, Step: c.Step, State: ReqFailed, BatchID: "batch_1", Attempts: 1, Error: "http_400: bad request"})
	wantCounts(t, s, "collected", map[string]int{ReqPending: 2, ReqAnswered: 1, ReqFailed: 1})
	b1.Collected = true
	if bs, err := s.Batches(ctx); err != nil || !cmp.Equal([]Batch{b1}, bs) {
		t.Errorf("after CollectBatch: Batches()=%+v, %v; want %+v", bs, err, b1)
	}
	if keys, err := s.SubmittedKeys(ctx, "batch_1"); err != nil || len(keys) != 0 {
		t.Errorf("after CollectBatch: SubmittedKeys()=%.8q, %v; want none", keys, err)
	}
	if n := countRows(t, s, "replies"); n != 0 {
		t.Errorf("%d replies stored, want 0: the pipeline stores a checked reply itself", n)
	}

	// a's reply fails its checks: it is asked for again, with c.
	tick()
	if err := s.Requeue(ctx, a.Key, "invalid_json: unexpected end of input"); err != nil {
		t.Fatalf("Requeue()=%v", err)
	}
	wantBatchRequest(t, s, "requeued", BatchRequest{Key: a.Key, ArticleID: a.ArticleID, Step: a.Step, State: ReqPending, BatchID: "batch_1", Attempts: 1, Error: "invalid_json: unexpected end of input"})
	if err := s.Requeue(ctx, c.Key, "retry: failed"); err != nil {
		t.Fatalf("Requeue()=%v", err)
	}

	// Sent again in batch 2, with b and d.
	tick()
	b2 := Batch{ID: "batch_2", InputFileID: "file-in-2", Status: "validating", Requests: 4}
	if err := s.MarkSubmitted(ctx, b2, keysOf(reqs)); err != nil {
		t.Fatalf("MarkSubmitted(batch 2)=%v", err)
	}
	for r, attempts := range map[BatchRequest]int{a: 2, b: 2, c: 2, d: 1} {
		sub := submitted(r, "batch_2", attempts)
		if r == c {
			// Error is kept until a result replaces it.
			sub.Error = "retry: failed"
		}
		if r == a {
			sub.Error = "invalid_json: unexpected end of input"
		}
		if r == b {
			sub.Error = "http_500: server error"
		}
		wantBatchRequest(t, s, "batch 2", sub)
	}
	wantCounts(t, s, "batch 2", map[string]int{ReqSubmitted: 4})

	tick()
	r2 := reply("a good reply")
	if err := s.CollectBatch(ctx, Batch{ID: "batch_2"}, []BatchResult{{Key: a.Key, State: ReqAnswered, Reply: r2}}); err != nil {
		t.Fatal(err)
	}
	answeredA = submitted(a, "batch_2", 2)
	answeredA.State, answeredA.Reply = ReqAnswered, r2
	wantBatchRequest(t, s, "batch 2 collected", answeredA)
	if keys, err := s.SubmittedKeys(ctx, "batch_2"); err != nil || !cmp.Equal([]string{b.Key, c.Key, d.Key}, keys) {
		t.Errorf("SubmittedKeys(batch 2)=%.8q, %v; want b, c, d", keys, err)
	}
	// CollectBatch with an empty Batch keeps what UpdateBatch recorded.
	b2.CreatedAt, b2.Collected = at.Add(-time.Minute), true
	if bs, err := s.Batches(ctx); err != nil || !cmp.Equal([]Batch{b1, b2}, bs) {
		t.Errorf("Batches()=%+v, %v; want %+v", bs, err, []Batch{b1, b2})
	}

	// Timestamps come from Options.Now.
	var updated string
	if err := s.db.QueryRowContext(ctx, `SELECT updated_at FROM batch_requests WHERE key = ?`, a.Key).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if want := "2025-03-01T12:06:00Z"; updated != want {
		t.Errorf("updated_at=%q, want %q", updated, want)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT updated_at FROM batches WHERE id = 'batch_2'`).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if want := "2025-03-01T12:06:00Z"; updated != want {
		t.Errorf("batches.updated_at=%q, want %q", updated, want)
	}
	closeStore(t, s)

	s = openStore(t, path, Options{})
	wantBatchRequest(t, s, "after reopen", answeredA)
	wantCounts(t, s, "after reopen", map[string]int{ReqAnswered: 1, ReqSubmitted: 3})
}

func TestAddBatchRequestsKeepsKnown(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	first := batchReqs(0, 3, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_1"}, []string{first[0].Key}); err != nil {
		t.Fatal(err)
	}
	if err := s.CollectBatch(ctx, Batch{ID: "batch_1"}, []BatchResult{{Key: first[0].Key, State: ReqFailed, Error: "refused: no"}}); err != nil {
		t.Fatal(err)
	}
	before := batchDump(t, s)

	// The same keys again, under other ids and steps, with a key twice.
	again := batchReqs(0, 3, jobs.StepKeyPoints)
	for i := range again {
		again[i].ArticleID = "other"
	}
	if err := s.AddBatchRequests(ctx, again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("known keys changed (-before +after):\n%s", diff)
	}

	// New keys mixed with known ones: the new ones are added, after the
	// others, the first of a key given twice.
	mixed := []BatchRequest{first[1], {Key: benchKey(10), ArticleID: "10", Step: "translate"}, first[2],
		{Key: benchKey(11), ArticleID: "11", Step: "translate"}, {Key: benchKey(10), ArticleID: "10 again", Step: "key_points"}}
	if err := s.AddBatchRequests(ctx, mixed); err != nil {
		t.Fatal(err)
	}
	wantBatchRequest(t, s, "mixed", BatchRequest{Key: benchKey(10), ArticleID: "10", Step: "translate", State: ReqPending})
	wantCounts(t, s, "mixed", map[string]int{ReqPending: 4, ReqFailed: 1})
	var order []string
	rows, err := s.db.QueryContext(ctx, `SELECT article_id FROM batch_requests ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		order = append(order, id)
	}
	if diff := cmp.Diff([]string{"art-0", "art-1", "art-2", "10", "11"}, order); diff != "" {
		t.Errorf("insertion order mismatch (-want +got):\n%s", diff)
	}
}

func TestMarkSubmittedAttempts(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 2, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	k := reqs[0].Key
	for i := 1; i <= 3; i++ {
		b := Batch{ID: fmt.Sprint("batch_", i), InputFileID: fmt.Sprint("file_", i)}
		if err := s.MarkSubmitted(ctx, b, []string{k}); err != nil {
			t.Fatal(err)
		}
		if r := getBatchRequest(t, s, k); r.Attempts != i || r.BatchID != b.ID || r.State != ReqSubmitted {
			t.Errorf("after batch %d: %+v; want attempts %d in %s", i, r, i, b.ID)
		}
	}

	// The same batch again, and a key twice in a batch: counted once.
	before := batchDump(t, s)
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_3", InputFileID: "other", Status: "failed"}, []string{k, k}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("MarkSubmitted of a batch again changed (-before +after):\n%s", diff)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_4"}, []string{k, reqs[1].Key, k}); err != nil {
		t.Fatal(err)
	}
	if r := getBatchRequest(t, s, k); r.Attempts != 4 {
		t.Errorf("key given twice: attempts %d, want 4", r.Attempts)
	}
	bs, err := s.Batches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := bs[len(bs)-1]; got.ID != "batch_4" || got.Requests != 3 {
		t.Errorf("last batch %+v; want batch_4 with Requests 3 (the keys given)", got)
	}

	// An unknown key: nothing is recorded.
	before = batchDump(t, s)
	err = s.MarkSubmitted(ctx, Batch{ID: "batch_5"}, []string{k, benchKey(99), reqs[1].Key})
	if err == nil || !strings.Contains(err.Error(), "unknown request "+benchKey(99)) {
		t.Errorf("MarkSubmitted(unknown key)=%v, want an error naming %s", err, benchKey(99))
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("failed MarkSubmitted changed (-before +after):\n%s", diff)
	}
}

func TestBatches(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	path := newPath(t)
	s := openStore(t, path, Options{Now: func() time.Time { return at }})
	if err := s.AddBatchRequests(ctx, batchReqs(0, 3, jobs.StepTranslate)); err != nil {
		t.Fatal(err)
	}
	// Recorded out of order: Batches sorts them by CreatedAt, also where
	// RFC 3339 text would not (".5Z" sorts before "Z").
	riyadh := time.FixedZone("AST", 3*3600)
	bs := []Batch{
		{ID: "batch_c", InputFileID: "file-c", Status: "in_progress", Requests: 1, CreatedAt: at.Add(time.Second).In(riyadh)},
		{ID: "batch_a", InputFileID: "file-a", Status: "completed", OutputFileID: "file-out", ErrorFileID: "file-err", Requests: 1, CreatedAt: at.Add(-time.Hour)},
		{ID: "batch_b", InputFileID: "file-b", Status: "validating", Requests: 1, CreatedAt: at.Add(500 * time.Millisecond)},
		{ID: "batch_now", InputFileID: "file-d", Status: "validating", Requests: 1},
	}
	for i, b := range bs {
		if err := s.MarkSubmitted(ctx, b, []string{benchKey(i % 3)}); err != nil {
			t.Fatal(err)
		}
	}
	want := []Batch{bs[1], bs[3], bs[2], bs[0]}
	want[1].CreatedAt = at // zero: the time of the call
	check := func(when string) {
		t.Helper()
		got, err := s.Batches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(time.Time.Equal)); diff != "" {
			t.Errorf("%s: Batches() mismatch (-want +got):\n%s", when, diff)
		}
	}
	check("recorded")

	// UpdateBatch records status, file ids and Collected as given.
	upd := want[3]
	upd.Status, upd.OutputFileID, upd.ErrorFileID, upd.Collected = "expired", "file-out-c", "", true
	upd.InputFileID, upd.Requests, upd.CreatedAt = "not recorded", 99, at.Add(time.Hour)
	if err := s.UpdateBatch(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want[3].Status, want[3].OutputFileID, want[3].Collected = "expired", "file-out-c", true
	upd = want[0]
	upd.ErrorFileID, upd.Collected = "", false
	if err := s.UpdateBatch(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want[0].ErrorFileID = ""
	check("updated")
	closeStore(t, s)
	s = openStore(t, path, Options{})
	check("after reopen")

	err := s.UpdateBatch(ctx, Batch{ID: "batch_zz", Status: "completed"})
	if err == nil || !strings.Contains(err.Error(), "update batch batch_zz: unknown batch") {
		t.Errorf("UpdateBatch(unknown)=%v, want an unknown batch error", err)
	}
}

// TestCollectBatchAtomic: a result with an unknown key fails the whole
// collect, and nothing of it is applied, not even the batch's status.
func TestCollectBatchAtomic(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 100, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	b := Batch{ID: "batch_1", InputFileID: "in", Status: "in_progress"}
	if err := s.MarkSubmitted(ctx, b, keysOf(reqs)); err != nil {
		t.Fatal(err)
	}
	var results []BatchResult
	for i, r := range reqs {
		results = append(results, BatchResult{Key: r.Key, State: ReqAnswered, Reply: reply(fmt.Sprint("reply ", i))})
	}
	unknown := benchKey(1000)
	bad := append(results[:50:50], BatchResult{Key: unknown, State: ReqAnswered, Reply: reply("x")})
	bad = append(bad, results[50:]...)
	before := batchDump(t, s)
	b.Status, b.OutputFileID = "completed", "out"
	for _, id := range []string{"batch_1", ""} {
		err := s.CollectBatch(ctx, Batch{ID: id, Status: "completed", OutputFileID: "out"}, bad)
		if err == nil || !strings.Contains(err.Error(), "unknown request "+unknown) {
			t.Errorf("CollectBatch(%q, unknown key)=%v, want an error naming %s", id, err, unknown)
		}
		if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
			t.Errorf("failed CollectBatch(%q) changed (-before +after):\n%s", id, diff)
		}
	}
	err := s.CollectBatch(ctx, Batch{ID: "batch_2"}, results)
	if err == nil || !strings.Contains(err.Error(), "collect batch batch_2: unknown batch") {
		t.Errorf("CollectBatch(unknown batch)=%v, want an unknown batch error", err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("failed CollectBatch(unknown batch) changed (-before +after):\n%s", diff)
	}
	if err := s.CollectBatch(ctx, b, results); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, "collected", map[string]int{ReqAnswered: 100})
}

// TestCollectBatchIdempotent collects the same results twice, and again
// after a request was requeued and sent in another batch: nothing changes
// the second time, updated_at included.
func TestCollectBatchIdempotent(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	tick := func() { mu.Lock(); at = at.Add(time.Minute); mu.Unlock() }
	s := openStore(t, newPath(t), Options{Now: now})
	reqs := batchReqs(0, 4, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	b := Batch{ID: "batch_1", InputFileID: "in", Status: "completed", OutputFileID: "out"}
	if err := s.MarkSubmitted(ctx, b, keysOf(reqs)); err != nil {
		t.Fatal(err)
	}
	results := []BatchResult{
		{Key: reqs[0].Key, State: ReqAnswered, Reply: reply("zero")},
		{Key: reqs[1].Key, State: ReqPending, Error: "http_429: rate limited"},
		{Key: reqs[2].Key, State: ReqFailed, Error: "http_400: bad request"},
		// A key twice: the first result applies.
		{Key: reqs[0].Key, State: ReqFailed, Error: "not applied"},
	}
	tick()
	if err := s.CollectBatch(ctx, b, results); err != nil {
		t.Fatal(err)
	}
	if r := getBatchRequest(t, s, reqs[0].Key); r.State != ReqAnswered || r.Reply.Content != "zero" {
		t.Errorf("key given twice: %+v; want the first result", r)
	}
	once := batchDump(t, s)
	tick()
	if err := s.CollectBatch(ctx, b, results); err != nil {
		t.Fatalf("CollectBatch again = %v", err)
	}
	if diff := cmp.Diff(once, batchDump(t, s)); diff != "" {
		t.Errorf("second CollectBatch changed (-once +twice):\n%s", diff)
	}

	// reqs[0]'s reply failed its checks and reqs[1] is sent again: an old
	// collect of batch 1 brings neither back.
	if err := s.Requeue(ctx, reqs[0].Key, "invalid_json: x"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_2"}, []string{reqs[1].Key}); err != nil {
		t.Fatal(err)
	}
	before := batchDump(t, s)
	tick()
	if err := s.CollectBatch(ctx, Batch{ID: "batch_1"}, results); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("stale CollectBatch changed (-before +after):\n%s", diff)
	}
	// reqs[3] had no result: still submitted in batch 1.
	if keys, err := s.SubmittedKeys(ctx, "batch_1"); err != nil || !cmp.Equal([]string{reqs[3].Key}, keys) {
		t.Errorf("SubmittedKeys(batch_1)=%.8q, %v; want reqs[3]", keys, err)
	}
}

// TestCollectImported applies results with no batch: to a request in any
// state, but never taking an answered request's reply away.
func TestCollectImported(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 4, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_1"}, keysOf(reqs[1:])); err != nil {
		t.Fatal(err)
	}
	if err := s.CollectBatch(ctx, Batch{ID: "batch_1"}, []BatchResult{
		{Key: reqs[2].Key, State: ReqAnswered, Reply: reply("from the batch")},
		{Key: reqs[3].Key, State: ReqAnswered, Reply: reply("from the batch")},
	}); err != nil {
		t.Fatal(err)
	}
	imported := []BatchResult{
		{Key: reqs[0].Key, State: ReqAnswered, Reply: reply("imported 0")}, // pending
		{Key: reqs[1].Key, State: ReqFailed, Error: "expired: not done"},   // submitted
		{Key: reqs[2].Key, State: ReqFailed, Error: "http_500: ignored"},   // answered: kept
		{Key: reqs[3].Key, State: ReqAnswered, Reply: reply("imported 3")}, // answered: replaced
	}
	if err := s.CollectBatch(ctx, Batch{}, imported); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		state, content, err string
	}{
		{ReqAnswered, "imported 0", ""},
		{ReqFailed, "", "expired: not done"},
		{ReqAnswered, "from the batch", ""},
		{ReqAnswered, "imported 3", ""},
	}
	for i, w := range want {
		r := getBatchRequest(t, s, reqs[i].Key)
		if r.State != w.state || r.Reply.Content != w.content || r.Error != w.err {
			t.Errorf("reqs[%d]: %s %q %q; want %s %q %q", i, r.State, r.Reply.Content, r.Error, w.state, w.content, w.err)
		}
	}
	// Batches are left alone.
	bs, err := s.Batches(ctx)
	if err != nil || len(bs) != 1 || !bs[0].Collected {
		t.Errorf("Batches()=%+v, %v; want batch_1 collected", bs, err)
	}
}

// TestExpiredBatch sends an expired batch's unanswered lines again: its
// submitted keys are collected as pending, in one transaction.
func TestExpiredBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 5, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	b := Batch{ID: "batch_1", InputFileID: "in", Status: "in_progress"}
	if err := s.MarkSubmitted(ctx, b, keysOf(reqs)); err != nil {
		t.Fatal(err)
	}
	b.Status, b.OutputFileID = "expired", "out"
	results := []BatchResult{
		{Key: reqs[3].Key, State: ReqAnswered, Reply: reply("three")},
		{Key: reqs[1].Key, State: ReqAnswered, Reply: reply("one")},
	}
	if err := s.CollectBatch(ctx, b, results); err != nil {
		t.Fatal(err)
	}
	keys, err := s.SubmittedKeys(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{reqs[0].Key, reqs[2].Key, reqs[4].Key}, keys); diff != "" {
		t.Errorf("SubmittedKeys() mismatch (-want +got):\n%s", diff)
	}
	var again []BatchResult
	for _, k := range keys {
		again = append(again, BatchResult{Key: k, State: ReqPending, Error: "expired: the batch expired before this line was done"})
	}
	if err := s.CollectBatch(ctx, b, again); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, "requeued", map[string]int{ReqAnswered: 2, ReqPending: 3})
	if keys, err := s.SubmittedKeys(ctx, b.ID); err != nil || len(keys) != 0 {
		t.Errorf("SubmittedKeys()=%.8q, %v; want none", keys, err)
	}
}

func TestBatchInvalidArguments(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	if err := s.AddBatchRequests(ctx, batchReqs(0, 1, jobs.StepTranslate)); err != nil {
		t.Fatal(err)
	}
	k := benchKey(0)
	before := batchDump(t, s)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"Add with an empty key", s.AddBatchRequests(ctx, []BatchRequest{{Key: benchKey(1)}, {ArticleID: "art-9"}}), "request of article art-9 has an empty key"},
		{"Requeue of an empty key", s.Requeue(ctx, "", "x"), "empty key"},
		{"Requeue of an unknown key", s.Requeue(ctx, benchKey(2), "x"), "requeue batch request " + benchKey(2) + ": unknown request"},
		{"MarkSubmitted with no id", s.MarkSubmitted(ctx, Batch{}, []string{k}), "empty batch id"},
		{"MarkSubmitted with no keys", s.MarkSubmitted(ctx, Batch{ID: "b"}, nil), "record batch b in state file " + s.Path() + ": no requests"},
		{"MarkSubmitted with an empty key", s.MarkSubmitted(ctx, Batch{ID: "b"}, []string{k, ""}), "empty request key"},
		{"UpdateBatch with no id", s.UpdateBatch(ctx, Batch{Status: "x"}), "empty batch id"},
		{"CollectBatch with an empty key", s.CollectBatch(ctx, Batch{}, []BatchResult{{State: ReqAnswered}}), "empty key"},
		{"CollectBatch with a submitted result", s.CollectBatch(ctx, Batch{}, []BatchResult{{Key: k, State: ReqSubmitted}}), `has state "submitted", want answered, pending or failed`},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error with %q", tt.name, tt.err, tt.want)
		}
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("failed calls changed (-before +after):\n%s", diff)
	}
}

// TestBatchLargeCalls makes calls of many keys, far more than the writer
// groups (maxBatch): each is one transaction and one commit. 5,000 keys
// keep it quick under -race, where SQLite runs some 20 times slower;
// BenchmarkMarkSubmitted checks a full batch of 50,000.
func TestBatchLargeCalls(t *testing.T) {
	const n = 5_000
	ctx := context.Background()
	path := newPath(t)
	s := openStore(t, path, Options{})
	reqs := batchReqs(0, n, jobs.StepTranslate)
	keys := keysOf(reqs)
	results := make([]BatchResult, n)
	for i, k := range keys {
		results[i] = BatchResult{Key: k, State: ReqAnswered, Reply: reply(fmt.Sprint("reply ", i))}
		if i%10 == 0 {
			results[i] = BatchResult{Key: k, State: ReqPending, Error: "http_500: server error"}
		}
	}
	steps := []struct {
		name string
		call func() error
	}{
		{"AddBatchRequests", func() error { return s.AddBatchRequests(ctx, reqs) }},
		{"MarkSubmitted", func() error { return s.MarkSubmitted(ctx, Batch{ID: "batch_1", InputFileID: "in"}, keys) }},
		{"CollectBatch", func() error { return s.CollectBatch(ctx, Batch{ID: "batch_1", Status: "completed"}, results) }},
	}
	for _, st := range steps {
		before := s.commits.Load()
		start := time.Now()
		if err := st.call(); err != nil {
			t.Fatalf("%s(%d keys)=%v", st.name, n, err)
		}
		if got := s.commits.Load() - before; got != 1 {
			t.Errorf("%s(%d keys): %d commits, want 1", st.name, n, got)
		}
		t.Logf("%s of %d keys: %v in one commit", st.name, n, time.Since(start))
	}
	closeStore(t, s)
	s = openStore(t, path, Options{})
	wantCounts(t, s, "after reopen", map[string]int{ReqAnswered: n - n/10, ReqPending: n / 10})
	if r := getBatchRequest(t, s, keys[n-1]); r.Reply.Content != fmt.Sprint("reply ", n-1) || r.Attempts != 1 {
		t.Errorf("last request %+v", r)
	}
}

// TestBatchWriteFailsAlone: a batch write that fails (an unknown key) in a
// group commit fails alone; the writes committed with it are not lost.
func TestBatchWriteFailsAlone(t *testing.T) {
	ctx := context.Background()
	h, c := stalledWriter()
	s := openStore(t, newPath(t), Options{hooks: h})
	defer c.release()
	var wg sync.WaitGroup
	var addErr, badErr, putErr, markErr error
	wg.Go(func() { addErr = s.AddBatchRequests(ctx, batchReqs(0, 2, jobs.StepTranslate)) })
	c.waitStalled()
	wg.Go(func() {
		badErr = s.CollectBatch(ctx, Batch{}, []BatchResult{{Key: benchKey(9), State: ReqFailed, Error: "x: y"}})
	})
	c.waitQueued(2)
	wg.Go(func() { putErr = s.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")) })
	c.waitQueued(3)
	wg.Go(func() { markErr = s.MarkSubmitted(ctx, Batch{ID: "batch_1"}, []string{benchKey(0)}) })
	c.waitQueued(4)
	c.release()
	wg.Wait()
	if diff := cmp.Diff([]int{1, 3}, c.batchSizes()); diff != "" {
		t.Errorf("batch sizes mismatch (-want +got):\n%s", diff)
	}
	if addErr != nil || putErr != nil || markErr != nil {
		t.Errorf("AddBatchRequests, PutReply, MarkSubmitted = %v, %v, %v; want nil", addErr, putErr, markErr)
	}
	if badErr == nil || !strings.Contains(badErr.Error(), "unknown request "+benchKey(9)) {
		t.Errorf("CollectBatch(unknown)=%v", badErr)
	}
	wantCounts(t, s, "after", map[string]int{ReqPending: 1, ReqSubmitted: 1})
	if _, ok, err := s.GetReply(ctx, "k"); !ok || err != nil {
		t.Errorf("GetReply()=_, %v, %v; want the reply", ok, err)
	}
}

// TestConcurrentBatchUse runs the batch bookkeeping from many goroutines
// alongside PutReply and PutRow, and reads all the while (run with -race).
func TestConcurrentBatchUse(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	s := openStore(t, path, Options{})
	const workers, each, rounds = 8, 50, 4
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	report := func(err error) {
		if err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := s.BatchCounts(ctx)
				report(err)
				_, err = s.Batches(ctx)
				report(err)
				_, err = s.SubmittedKeys(ctx, "w0-r0")
				report(err)
				_, _, err = s.BatchRequest(ctx, benchKey(0))
				report(err)
			}
		})
	}
	for w := range workers {
		wg.Go(func() {
			reqs := batchReqs(w*each, each, jobs.StepTranslate)
			report(s.AddBatchRequests(ctx, reqs))
			for r := range rounds {
				id := fmt.Sprintf("w%d-r%d", w, r)
				report(s.MarkSubmitted(ctx, Batch{ID: id, InputFileID: "in-" + id}, keysOf(reqs)))
				var results []BatchResult
				for i, q := range reqs {
					if r < rounds-1 {
						results = append(results, BatchResult{Key: q.Key, State: ReqPending, Error: "http_500: again"})
						continue
					}
					results = append(results, BatchResult{Key: q.Key, State: ReqAnswered, Reply: reply(fmt.Sprint(w, "-", i))})
				}
				report(s.CollectBatch(ctx, Batch{ID: id, Status: "completed"}, results))
			}
			report(s.Requeue(ctx, reqs[0].Key, "invalid_json: x"))
		})
		wg.Go(func() {
			for i := range each {
				key := fmt.Sprintf("put-%d-%d", w, i)
				report(s.PutReply(ctx, key, request(jobs.StepTranslate, "m"), reply(key)))
				report(s.PutRow(ctx, jobs.RowRecord{InputSHA256: key, PromptVersion: "v", ID: key, Status: jobs.StatusOK}))
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	closeStore(t, s)

	s = openStore(t, path, Options{})
	wantCounts(t, s, "after", map[string]int{ReqAnswered: workers * (each - 1), ReqPending: workers})
	for w := range workers {
		r := getBatchRequest(t, s, benchKey(w*each+1))
		if r.State != ReqAnswered || r.Attempts != rounds || r.Reply.Content != fmt.Sprint(w, "-1") || r.BatchID != fmt.Sprintf("w%d-r%d", w, rounds-1) {
			t.Errorf("worker %d: %+v", w, r)
		}
	}
	if bs, err := s.Batches(ctx); err != nil || len(bs) != workers*rounds {
		t.Errorf("Batches()=%d, %v; want %d", len(bs), err, workers*rounds)
	}
	st, err := s.Stats(ctx)
	if err != nil || st.Replies != workers*each || st.Rows[jobs.StatusOK] != workers*each {
		t.Errorf("Stats()=%+v, %v; want %d replies and rows", st, err, workers*each)
	}
}

// makeV2File writes at path a state file of schema version 2, as the
// tarjama before the Batch API made it, with a reply, a row and an original
// in it.
func makeV2File(t *testing.T, path string) {
	t.Helper()
	makeOldFile(t, path, 2, append(oldReplyAndRow,
		`INSERT INTO originals (input_sha256, id, title, body, removed, created_at)
			VALUES ('h-old', '1', 'عنوان', 'نص المقال', 3, '2024-01-01T00:00:00Z')`)...)
}

// TestMigrateFromV2 opens a file of schema version 2: Open brings it to
// version 3 with the batch tables and their indexes, and keeps what it
// held.
func TestMigrateFromV2(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	makeV2File(t, path)

	schemaObjects := func(db *sql.DB) (version int, names string) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT coalesce(group_concat(name, ' '), '') FROM (SELECT name FROM sqlite_master
			WHERE name LIKE 'batch%' ORDER BY name)`).Scan(&names); err != nil {
			t.Fatal(err)
		}
		return version, names
	}
	db := rawDB(t, path)
	if v, names := schemaObjects(db); v != 2 || names != "" {
		t.Fatalf("version 2 file: user_version=%d, objects %q; want 2, none", v, names)
	}
	db.Close()

	var logs bytes.Buffer
	s := openStore(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	want := "batch_requests batch_requests_batch_id batch_requests_state batches"
	if v, names := schemaObjects(s.db); v != 3 || names != want {
		t.Errorf("after Open: user_version=%d, objects %q; want 3, %q", v, names, want)
	}
	if want := `msg="state file schema updated" path=` + path + ` from=2 to=3`; !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n%s\nwant a line with %q", logs.String(), want)
	}
	if strings.Contains(logs.String(), "from=1") {
		t.Errorf("log:\n%s\nwant one step only", logs.String())
	}
	// The indexes serve the queries they are for.
	for q, index := range map[string]string{
		`SELECT key FROM batch_requests WHERE batch_id = 'x' AND state = 'submitted' ORDER BY seq`: "batch_requests_",
		`SELECT count(*) FROM batch_requests WHERE state = 'pending'`:                              "batch_requests_state",
	} {
		var plan strings.Builder
		rows, err := s.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "; ")
		}
		rows.Close()
		if !strings.Contains(plan.String(), "USING INDEX "+index) && !strings.Contains(plan.String(), "USING COVERING INDEX "+index) {
			t.Errorf("plan of %s: %s; want index %s", q, plan.String(), index)
		}
	}

	// What version 2 stored is still there.
	if got, ok, err := s.GetReply(ctx, "k"); err != nil || !ok || got.Content != "an old reply" {
		t.Errorf("GetReply(old)=%q, %v, %v; want the old reply", got.Content, ok, err)
	}
	if got, ok, err := s.GetRow(ctx, "h-old", "v"); err != nil || !ok || got.Status != jobs.StatusOK {
		t.Errorf("GetRow(old)=%+v, %v, %v; want the old row", got, ok, err)
	}
	if got, ok, err := s.GetOriginal(ctx, "h-old"); err != nil || !ok || got.Body != "نص المقال" {
		t.Errorf("GetOriginal(old)=%+v, %v, %v; want the old original", got, ok, err)
	}

	// And the batch tables work.
	reqs := batchReqs(0, 2, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_1", InputFileID: "in"}, keysOf(reqs)); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	logs.Reset()
	s = openStore(t, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if strings.Contains(logs.String(), "schema") {
		t.Errorf("second Open logged:\n%s", logs.String())
	}
	wantCounts(t, s, "after reopen", map[string]int{ReqSubmitted: 2})
}

// BenchmarkMarkSubmitted measures MarkSubmitted of 50,000 keys (a full
// batch), one transaction and one commit each.
func BenchmarkMarkSubmitted(b *testing.B) {
	const n = 50_000
	ctx := context.Background()
	s := openStore(b, newPath(b), Options{})
	reqs := batchReqs(0, n, jobs.StepTranslate)
	start := time.Now()
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		b.Fatal(err)
	}
	b.Logf("AddBatchRequests of %d keys: %v", n, time.Since(start))
	keys := keysOf(reqs)
	before, i := s.commits.Load(), 0
	for b.Loop() {
		i++
		if err := s.MarkSubmitted(ctx, Batch{ID: fmt.Sprint("batch_", i), InputFileID: "in"}, keys); err != nil {
			b.Fatal(err)
		}
	}
	commits := s.commits.Load() - before
	if commits != int64(b.N) {
		b.Fatalf("%d commits for %d MarkSubmitted calls, want one each", commits, b.N)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	b.ReportMetric(float64(commits)/float64(b.N), "commits/op")
}

func TestBatchUsage(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := []BatchRequest{{Key: "k1", ArticleID: "a", Step: "translate"}, {Key: "k2", ArticleID: "a", Step: "key_points"}, {Key: "k3", ArticleID: "b", Step: "translate", Part: 2}}
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if br, ok, err := s.BatchRequest(ctx, "k3"); err != nil || !ok || br.Part != 2 || br.Step != "translate" || br.ArticleID != "b" {
		t.Errorf("BatchRequest(k3) = %+v, %v, %v; want article b, translate, part 2", br, ok, err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "b1", InputFileID: "f1", Status: "validating"}, []string{"k1", "k2", "k3"}); err != nil {
		t.Fatal(err)
	}
	err := s.CollectBatch(ctx, Batch{ID: "b1", Status: "completed"}, []BatchResult{
		{Key: "k1", State: ReqAnswered, Reply: jobs.Reply{Content: "x", Usage: jobs.Usage{PromptTokens: 100, CompletionTokens: 20}}},
		{Key: "k2", State: ReqAnswered, Reply: jobs.Reply{Content: "y", Usage: jobs.Usage{PromptTokens: 50, CompletionTokens: 5}}},
		{Key: "k3", State: ReqPending, Error: "http_500: boom"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.BatchUsage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]jobs.Usage{"translate": {PromptTokens: 100, CompletionTokens: 20}, "key_points": {PromptTokens: 50, CompletionTokens: 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BatchUsage (-want +got):\n%s", diff)
	}
}

// TestReplaceBatch moves the requests of a batch recorded before its
// create to the batch created, and keeps its count and time.
func TestReplaceBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 3, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)
	wip := Batch{ID: "creating-file_1", InputFileID: "file_1", Status: "creating", CreatedAt: created}
	if err := s.MarkSubmitted(ctx, wip, keysOf(reqs[:2])); err != nil {
		t.Fatal(err)
	}
	real := Batch{ID: "batch_1", InputFileID: "file_1", Status: "validating"}
	if err := s.ReplaceBatch(ctx, wip.ID, real); err != nil {
		t.Fatal(err)
	}
	bs, err := s.Batches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Batch{{ID: "batch_1", InputFileID: "file_1", Status: "validating", Requests: 2, CreatedAt: created}}
	if diff := cmp.Diff(want, bs); diff != "" {
		t.Errorf("batches after ReplaceBatch (-want +got):\n%s", diff)
	}
	for _, r := range reqs[:2] {
		if got := getBatchRequest(t, s, r.Key); got.BatchID != "batch_1" || got.State != ReqSubmitted || got.Attempts != 1 {
			t.Errorf("request %.8s after ReplaceBatch: %+v; want submitted in batch_1, attempts 1", r.Key, got)
		}
	}
	if got := getBatchRequest(t, s, reqs[2].Key); got.State != ReqPending || got.BatchID != "" {
		t.Errorf("request not in the batch: %+v; want it pending as it was", got)
	}

	// Again: nothing changes.
	before := batchDump(t, s)
	if err := s.ReplaceBatch(ctx, wip.ID, real); err != nil {
		t.Errorf("ReplaceBatch again: %v", err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("ReplaceBatch again changed (-before +after):\n%s", diff)
	}
	// Neither batch known: an error naming both.
	err = s.ReplaceBatch(ctx, "creating-file_9", Batch{ID: "batch_9"})
	if err == nil || !strings.Contains(err.Error(), "creating-file_9") || !strings.Contains(err.Error(), "unknown batch") {
		t.Errorf("ReplaceBatch(unknown)=%v; want an unknown batch error naming it", err)
	}
	if err := s.ReplaceBatch(ctx, "", real); err == nil {
		t.Error("ReplaceBatch with an empty id: no error")
	}
}

// TestReleaseBatch sets the requests of a batch never created back to
// pending, with their attempts taken back, and forgets the batch.
func TestReleaseBatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, newPath(t), Options{})
	reqs := batchReqs(0, 3, jobs.StepTranslate)
	if err := s.AddBatchRequests(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSubmitted(ctx, Batch{ID: "batch_0", InputFileID: "file_0"}, keysOf(reqs[:1])); err != nil {
		t.Fatal(err)
	}
	if err := s.CollectBatch(ctx, Batch{ID: "batch_0", Status: "expired"}, []BatchResult{{Key: reqs[0].Key, State: ReqPending, Error: "batch_expired: x"}}); err != nil {
		t.Fatal(err)
	}
	wip := Batch{ID: "creating-file_1", InputFileID: "file_1", Status: "creating"}
	if err := s.MarkSubmitted(ctx, wip, keysOf(reqs)); err != nil {
		t.Fatal(err)
	}
	// One of them was answered meanwhile (an import): it stays answered.
	reply := jobs.Reply{Content: "TITLE: t\nBODY:\nb", FinishReason: "stop", Model: "m"}
	if err := s.CollectBatch(ctx, Batch{}, []BatchResult{{Key: reqs[2].Key, State: ReqAnswered, Reply: reply}}); err != nil {
		t.Fatal(err)
	}
	const why = "batch_not_created: no batch over file file_1"
	if err := s.ReleaseBatch(ctx, wip.ID, why); err != nil {
		t.Fatal(err)
	}
	wantBatchRequest(t, s, "sent once before", BatchRequest{Key: reqs[0].Key, ArticleID: "art-0", Step: "translate", State: ReqPending, Attempts: 1, Error: why})
	wantBatchRequest(t, s, "never sent", BatchRequest{Key: reqs[1].Key, ArticleID: "art-1", Step: "translate", State: ReqPending, Attempts: 0, Error: why})
	wantBatchRequest(t, s, "answered", BatchRequest{Key: reqs[2].Key, ArticleID: "art-2", Step: "translate", State: ReqAnswered,
		BatchID: wip.ID, Attempts: 1, Reply: reply})
	bs, err := s.Batches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].ID != "batch_0" {
		t.Errorf("batches after ReleaseBatch: %+v; want batch_0 only", bs)
	}
	before := batchDump(t, s)
	if err := s.ReleaseBatch(ctx, wip.ID, why); err != nil {
		t.Errorf("ReleaseBatch again: %v", err)
	}
	if diff := cmp.Diff(before, batchDump(t, s)); diff != "" {
		t.Errorf("ReleaseBatch again changed (-before +after):\n%s", diff)
	}
	if err := s.ReleaseBatch(ctx, "", why); err == nil {
		t.Error("ReleaseBatch with an empty id: no error")
	}
}
