package batch

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
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

// TestCollectInterruptedHalfWay collects a batch whose download breaks off
// after some of its results were applied, then collects again: every row
// ends ok and no request is paid twice.
func TestCollectInterruptedHalfWay(t *testing.T) {
	collectChunk = 3
	t.Cleanup(func() { collectChunk = 1000 })
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
	defer store.Close()
	client, err := llm.New(llm.Config{BaseURL: srv.URL(), APIKey: testKey, Model: fakeopenai.ModelID})
	if err != nil {
		t.Fatal(err)
	}
	set, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	api := &cutAPI{Client: client, cutAfter: 5}
	sink := &memSink{}
	o := Options{
		Job:      jobs.Options{Path: in, Name: "in.csv", Model: fakeopenai.ModelID, Prompts: set, ReplyRetries: 1},
		Store:    store,
		API:      api,
		OpenSink: func([]string) (jobs.Sink, error) { sink.rows = nil; return sink, nil },
		SpoolDir: filepath.Join(dir, "spool"),
	}
	if rep, err := Submit(ctx, o); err != nil || len(rep.Submitted) != 1 {
		t.Fatalf("submit: %+v, %v", rep, err)
	}
	srv.FinishBatches()
	if _, err := Collect(ctx, o); !errors.Is(err, errCut) {
		t.Fatalf("the broken collect: %v, want %v", err, errCut)
	}
	counts, _ := store.BatchCounts(ctx)
	if counts[state.ReqAnswered] == 0 || counts[state.ReqSubmitted] == 0 {
		t.Fatalf("after the broken collect: %v; want some results applied and some not", counts)
	}
	for i := 0; i < 4 && !sink.closed; i++ {
		rep, err := Collect(ctx, o)
		if err != nil {
			t.Fatalf("collect %d: %v", i+1, err)
		}
		if rep.Done {
			break
		}
		srv.FinishBatches()
	}
	if !sink.closed || len(sink.rows) != 8 {
		t.Fatalf("outputs written: %v, %d rows", sink.closed, len(sink.rows))
	}
	for _, r := range sink.rows {
		if r.Status != jobs.StatusOK {
			t.Errorf("row %s: %s %q", r.ID, r.Status, r.Error)
		}
	}
	for key, n := range srv.Paid() {
		if n != 1 {
			t.Errorf("request %s paid %d times", key[:12], n)
		}
	}
	if got := len(srv.Paid()); got != 16 {
		t.Errorf("%d requests paid, want 16", got)
	}
}
