package batch

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

const testKey = "sk-test-batch-0123456789abcdef"

// memSink keeps the rows written; closed reports that the outputs were
// kept.
type memSink struct {
	mu     sync.Mutex
	rows   []jobs.Result
	closed bool
}

func (s *memSink) Write(r jobs.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, r)
	return nil
}
func (s *memSink) Close() error { s.closed = true; return nil }
func (s *memSink) Abort() error { return nil }

// cutAPI is an API whose first download stops after cutAfter lines, as a
// collect killed half way would.
type cutAPI struct {
	*llm.Client
	mu       sync.Mutex
	cutAfter int
	cut      bool
}

var errCut = errors.New("connection lost half way")

func (a *cutAPI) FileContent(ctx context.Context, id string) (io.ReadCloser, error) {
	rc, err := a.Client.FileContent(ctx, id)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || a.cut {
		return rc, err
	}
	a.cut = true
	pr, pw := io.Pipe()
	go func() {
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for n := 0; sc.Scan(); n++ {
			if n == a.cutAfter {
				pw.CloseWithError(errCut)
				return
			}
			pw.Write(append(sc.Bytes(), '\n'))
		}
		pw.Close()
	}()
	return pr, nil
}

// testJob is a batch job over eight short articles against a test server.
type testJob struct {
	srv    *fakeopenai.Server
	store  *state.Store
	client *llm.Client
	sink   *memSink
	o      Options
}

// newTestJob sets up a job whose API is wrap(client) (the client itself
// when wrap is nil).
func newTestJob(t *testing.T, wrap func(*llm.Client) API) *testJob {
	t.Helper()
	ctx := context.Background()
	srv := fakeopenai.New(fakeopenai.Options{APIKey: testKey})
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	var csv strings.Builder
	csv.WriteString("id,title,body\n")
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		csv.WriteString(id + ",عنوان " + id + ",خبر عاجل من تونس عن " + id + "\n")
	}
	if err := os.WriteFile(in, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(ctx, filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	client, err := llm.New(llm.Config{BaseURL: srv.URL(), APIKey: testKey, Model: fakeopenai.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	set, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var api API = client
	if wrap != nil {
		api = wrap(client)
	}
	j := &testJob{srv: srv, store: store, client: client, sink: &memSink{}}
	j.o = Options{
		Job:      jobs.Options{Path: in, Name: "in.csv", Model: fakeopenai.ModelID, Prompts: set, ReplyRetries: 1},
		Store:    store,
		API:      api,
		OpenSink: func([]string) (jobs.Sink, error) { j.sink.rows = nil; return j.sink, nil },
		SpoolDir: filepath.Join(dir, "spool"),
	}
	return j
}

// finish collects until the outputs are written (at most four times),
// then checks that every row is ok and every request was paid once.
func (j *testJob) finish(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 4 && !j.sink.closed; i++ {
		j.srv.FinishBatches()
		rep, err := Collect(ctx, j.o)
		if err != nil {
			t.Fatalf("collect %d: %v", i+1, err)
		}
		if rep.Done {
			break
		}
	}
	if !j.sink.closed || len(j.sink.rows) != 8 {
		t.Fatalf("outputs written: %v, %d rows", j.sink.closed, len(j.sink.rows))
	}
	for _, r := range j.sink.rows {
		if r.Status != jobs.StatusOK {
			t.Errorf("row %s: %s %q", r.ID, r.Status, r.Error)
		}
	}
	for key, n := range j.srv.Paid() {
		if n != 1 {
			t.Errorf("request %s paid %d times", key[:12], n)
		}
	}
	if got := len(j.srv.Paid()); got != 16 {
		t.Errorf("%d requests paid, want 16", got)
	}
}

// TestCollectInterruptedHalfWay collects a batch whose download breaks off
// after some of its results were applied, then collects again: every row
// ends ok and no request is paid twice.
func TestCollectInterruptedHalfWay(t *testing.T) {
	collectChunk = 3
	t.Cleanup(func() { collectChunk = 1000 })
	ctx := context.Background()
	j := newTestJob(t, func(c *llm.Client) API { return &cutAPI{Client: c, cutAfter: 5} })
	if rep, err := Submit(ctx, j.o); err != nil || len(rep.Submitted) != 1 {
		t.Fatalf("submit: %+v, %v", rep, err)
	}
	j.srv.FinishBatches()
	if _, err := Collect(ctx, j.o); !errors.Is(err, errCut) {
		t.Fatalf("the broken collect: %v, want %v", err, errCut)
	}
	counts, _ := j.store.BatchCounts(ctx)
	if counts[state.ReqAnswered] == 0 || counts[state.ReqSubmitted] == 0 {
		t.Fatalf("after the broken collect: %v; want some results applied and some not", counts)
	}
	j.finish(t)
}

// createAPI is an API whose first CreateBatch is create instead.
type createAPI struct {
	*llm.Client
	mu     sync.Mutex
	create func(ctx context.Context, c *llm.Client, fileID string, md map[string]any) (llm.BatchInfo, error)
}

func (a *createAPI) CreateBatch(ctx context.Context, fileID string, md map[string]any) (llm.BatchInfo, error) {
	a.mu.Lock()
	create := a.create
	a.create = nil
	a.mu.Unlock()
	if create != nil {
		return create(ctx, a.Client, fileID, md)
	}
	return a.Client.CreateBatch(ctx, fileID, md)
}

// TestCreateOutcomeUnknown submits batches whose create goes wrong: carried
// out with its reply lost (or the process killed before it recorded the
// batch), not carried out with a 502, refused with a 400. The next collect
// finds the batch created, or sends the requests of one never created
// again: no batch is created twice and no request paid twice.
func TestCreateOutcomeUnknown(t *testing.T) {
	errLost := errors.New("read tcp: connection reset by peer")
	created := func(err error) func(context.Context, *llm.Client, string, map[string]any) (llm.BatchInfo, error) {
		return func(ctx context.Context, c *llm.Client, fileID string, md map[string]any) (llm.BatchInfo, error) {
			if _, cerr := c.CreateBatch(ctx, fileID, md); cerr != nil {
				return llm.BatchInfo{}, cerr
			}
			return llm.BatchInfo{}, err
		}
	}
	notCreated := func(err error) func(context.Context, *llm.Client, string, map[string]any) (llm.BatchInfo, error) {
		return func(context.Context, *llm.Client, string, map[string]any) (llm.BatchInfo, error) {
			return llm.BatchInfo{}, err
		}
	}
	for _, tc := range []struct {
		name   string
		create func(context.Context, *llm.Client, string, map[string]any) (llm.BatchInfo, error)
		// after the submit: the batches recorded, the requests' states
		wantBatches []string
		wantCounts  map[string]int
	}{
		{"reply lost", created(errLost),
			[]string{statusCreating}, map[string]int{state.ReqSubmitted: 8}},
		{"killed", created(context.Canceled),
			[]string{statusCreating}, map[string]int{state.ReqSubmitted: 8}},
		{"502 before creating", notCreated(&jobs.CallError{Reason: "server_error", Status: 502, Message: "Bad Gateway"}),
			[]string{statusCreating}, map[string]int{state.ReqSubmitted: 8}},
		{"refused", notCreated(&jobs.CallError{Reason: "invalid_request", Status: 400, Message: "invalid input file"}),
			nil, map[string]int{state.ReqPending: 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			j := newTestJob(t, func(c *llm.Client) API { return &createAPI{Client: c, create: tc.create} })
			_, err := Submit(ctx, j.o)
			var unknown *CreateUnknownError
			if err == nil || errors.As(err, &unknown) != (tc.wantBatches != nil) {
				t.Fatalf("submit: %v; want an error, a CreateUnknownError when the batch is recorded as creating", err)
			}
			if spooled, _ := filepath.Glob(filepath.Join(j.o.SpoolDir, "*")); len(spooled) != 0 {
				t.Errorf("files left in the spool directory: %q", spooled)
			}
			bs, err := j.store.Batches(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var statuses []string
			for _, b := range bs {
				statuses = append(statuses, b.Status)
			}
			if !slices.Equal(statuses, tc.wantBatches) {
				t.Errorf("batches recorded after the submit: %v, want %v", statuses, tc.wantBatches)
			}
			wantCounts(t, j.store, tc.wantCounts)

			j.finish(t)
			// One batch of translations, one of key points.
			if got := j.srv.BatchStats().Batches; got != 2 {
				t.Errorf("%d batches created, want 2", got)
			}
			for _, r := range j.srv.BatchLines() {
				req, ok, err := j.store.BatchRequest(ctx, r.CustomID)
				if err != nil || !ok || req.Attempts != 1 {
					t.Errorf("request %.12s: %+v, %v, %v; want it sent once", r.CustomID, req, ok, err)
				}
			}
		})
	}
}

func wantCounts(t *testing.T, s *state.Store, want map[string]int) {
	t.Helper()
	got, err := s.BatchCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("requests by state: %v, want %v", got, want)
	}
}
