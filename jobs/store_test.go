package jobs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// memStore is an in-memory Store.
type memStore struct {
	mu      sync.Mutex
	replies map[string]Reply
	rows    map[string]RowRecord
	origs   map[string]Original
	putErr  error
}

func newMemStore() *memStore {
	return &memStore{replies: map[string]Reply{}, rows: map[string]RowRecord{}, origs: map[string]Original{}}
}

func (s *memStore) PutOriginal(ctx context.Context, o Original) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.origs[o.InputSHA256]; !ok {
		s.origs[o.InputSHA256] = o
	}
	return nil
}

func (s *memStore) GetOriginal(ctx context.Context, sha string) (Original, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.origs[sha]
	return o, ok, nil
}

func (s *memStore) GetReply(ctx context.Context, key string) (Reply, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.replies[key]
	return r, ok, nil
}

func (s *memStore) PutReply(ctx context.Context, key string, req Request, reply Reply) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.replies[key] = reply
	return nil
}

func (s *memStore) GetRow(ctx context.Context, sha, version string) (RowRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rows[sha+"/"+version]
	return r, ok, nil
}

func (s *memStore) PutRow(ctx context.Context, r RowRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows[r.InputSHA256+"/"+r.PromptVersion] = r
	return nil
}

// countingCompleter answers well, except for the article ids in fail, and
// counts requests by article and step.
type countingCompleter struct {
	mu    sync.Mutex
	calls map[string]int // "id/step"
	fail  map[string]bool
}

func (c *countingCompleter) Complete(ctx context.Context, req Request) (Reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[req.ArticleID+"/"+string(req.Step)]++
	if c.fail[req.ArticleID+"/"+string(req.Step)] {
		return Reply{}, &CallError{Reason: "http_400", Status: 400, Message: "bad", Attempts: 1}
	}
	return goodReply(req), nil
}

func (c *countingCompleter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.calls {
		n += v
	}
	return n
}

const storeInput = "id,body\n1," + ar + " 1\n2," + ar + " 2\n3," + ar + " 3\n"

func TestRunWithStore(t *testing.T) {
	store := newMemStore()
	path := writeCSV(t, storeInput)
	run := func(t *testing.T, c Completer, edit func(*Options)) (Summary, *memSink) {
		t.Helper()
		opts := testOptions(t, path)
		opts.Store = store
		if edit != nil {
			edit(&opts)
		}
		sum, sink, err := runWith(t, context.Background(), opts, c)
		if err != nil {
			t.Fatal(err)
		}
		return sum, sink
	}
	first := &countingCompleter{}
	sum1, out1 := run(t, first, nil)
	if first.total() != 6 || sum1.Cached != 0 {
		t.Fatalf("first run: %d requests, %d cached; want 6 and 0", first.total(), sum1.Cached)
	}

	t.Run("a rerun pays nothing and writes the same rows", func(t *testing.T) {
		c := &countingCompleter{}
		sum, out := run(t, c, nil)
		if c.total() != 0 || sum.Cached != 3 || sum.Requests != 0 || sum.Usage != (Usage{}) {
			t.Errorf("%d requests, summary %+v; want none, 3 cached", c.total(), sum)
		}
		if diff := cmp.Diff(out1.rows, out.rows); diff != "" {
			t.Errorf("rerun rows differ (-first +rerun):\n%s", diff)
		}
	})
	t.Run("a changed article pays for its own requests only", func(t *testing.T) {
		c := &countingCompleter{}
		opts := testOptions(t, writeCSV(t, strings.Replace(storeInput, ar+" 2", ar+" 2 changed", 1)))
		opts.Store = store
		sum, _, err := runWith(t, context.Background(), opts, c)
		if err != nil {
			t.Fatal(err)
		}
		// The fake translates by article id, so the new translation is the
		// old one and so is the key-points request: only the changed
		// request is paid.
		if want := map[string]int{"2/translate": 1}; !cmp.Equal(c.calls, want) {
			t.Errorf("requests %v, want %v", c.calls, want)
		}
		if sum.Cached != 2 {
			t.Errorf("cached %d, want 2", sum.Cached)
		}
	})
	t.Run("another model pays for everything", func(t *testing.T) {
		c := &countingCompleter{}
		run(t, c, func(o *Options) { o.Model = "other" })
		if c.total() != 6 {
			t.Errorf("%d requests, want 6", c.total())
		}
	})
	t.Run("force pays again", func(t *testing.T) {
		c := &countingCompleter{}
		sum, _ := run(t, c, func(o *Options) { o.Force = true })
		if c.total() != 6 || sum.Cached != 0 {
			t.Errorf("%d requests, %d cached; want 6 and 0", c.total(), sum.Cached)
		}
	})
}

func TestRunRetryFailed(t *testing.T) {
	store := newMemStore()
	path := writeCSV(t, storeInput)
	opts := testOptions(t, path)
	opts.Store = store
	// Row 2's key points fail; its translation is paid and kept.
	failing := &countingCompleter{fail: map[string]bool{"2/key_points": true}}
	if _, _, err := runWith(t, context.Background(), opts, failing); err != nil {
		t.Fatal(err)
	}

	keep := &countingCompleter{}
	opts.KeepFailed = true
	sum, sink, err := runWith(t, context.Background(), opts, keep)
	if err != nil {
		t.Fatal(err)
	}
	if keep.total() != 0 || sink.rows[1].Status != StatusFailed || !strings.HasPrefix(sink.rows[1].Error, "http_400: ") || sum.Failed != 1 {
		t.Errorf("--retry-failed=false: %d requests, row 2 %s %q", keep.total(), sink.rows[1].Status, sink.rows[1].Error)
	}

	retry := &countingCompleter{}
	opts.KeepFailed = false
	sum, sink, err = runWith(t, context.Background(), opts, retry)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"2/key_points": 1}; !cmp.Equal(retry.calls, want) {
		t.Errorf("retry: requests %v, want %v (the translation is kept)", retry.calls, want)
	}
	if sink.rows[1].Status != StatusOK || sum.OK != 3 {
		t.Errorf("retry: row 2 %s, summary %+v", sink.rows[1].Status, sum)
	}
}

func TestRunStoreWriteErrorStops(t *testing.T) {
	store := newMemStore()
	store.putErr = errors.New("disk I/O error")
	var calls atomic.Int64
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		calls.Add(1)
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, storeInput))
	opts.Store, opts.Concurrency = store, 1
	_, sink, err := runWith(t, context.Background(), opts, c)
	if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("err = %v, want a stop naming the store's error", err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d requests after the state file failed, want 1", calls.Load())
	}
	if r := sink.rows[0]; !strings.HasPrefix(r.Error, "state: ") {
		t.Errorf("row 1 error %q", r.Error)
	}
}
