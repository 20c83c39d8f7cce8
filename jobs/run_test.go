package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarjama/tarjama/prompts"
)

// completerFunc is a function-field fake of Completer.
type completerFunc func(ctx context.Context, req Request) (Reply, error)

func (f completerFunc) Complete(ctx context.Context, req Request) (Reply, error) {
	return f(ctx, req)
}

// goodReply answers req as a well-behaved model would.
func goodReply(req Request) Reply {
	if req.Step == StepTranslate {
		return Reply{
			Content:  "TITLE: Title of " + req.ArticleID + "\nBODY:\nThis is the English text of article " + req.ArticleID + ".",
			Model:    req.Model,
			Usage:    Usage{PromptTokens: 100, CompletionTokens: 20},
			Attempts: 1,
		}
	}
	var pts []string
	for i := 1; i <= 3; i++ {
		pts = append(pts, fmt.Sprintf("%q", fmt.Sprintf("Point %d of the article %s is here.", i, req.ArticleID)))
	}
	return Reply{
		Content:  `{"key_points": [` + strings.Join(pts, ",") + `]}`,
		Model:    req.Model,
		Usage:    Usage{PromptTokens: 50, CompletionTokens: 10},
		Attempts: 1,
	}
}

// memSink is a function-field-free recording Sink.
type memSink struct {
	mu       sync.Mutex
	rows     []Result
	closed   bool
	aborted  bool
	writeErr error
}

func (s *memSink) Write(r Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return s.writeErr
	}
	s.rows = append(s.rows, r)
	return nil
}
func (s *memSink) Close() error { s.closed = true; return nil }
func (s *memSink) Abort() error { s.aborted = true; return nil }

func writeCSV(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func testOptions(t *testing.T, path string) Options {
	t.Helper()
	set, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return Options{Path: path, Name: "in.csv", Model: "m", KeyPoints: 3, Concurrency: 4, Prompts: set, ReplyRetries: 1}
}

func runWith(t *testing.T, ctx context.Context, opts Options, c Completer) (Summary, *memSink, error) {
	t.Helper()
	sink := &memSink{}
	sum, err := Run(ctx, opts, c, func([]string) (Sink, error) { return sink, nil })
	return sum, sink, err
}

const ar = "خبر عاجل من تونس"

func TestRunOutcomesInInputOrder(t *testing.T) {
	in := "id,title,body,url\n" +
		"a,عنوان," + ar + " أ,u1\n" +
		"b,عنوان,,u2\n" +
		"c,Title,English only body,u3\n" +
		"d,عنوان," + ar + " أ,u4\n" + // same article as a
		"e,عنوان," + ar + " ه,u5\n"
	// Requests finish in reverse order: a's translation waits until e's
	// key points are done.
	eDone := make(chan struct{})
	var calls atomic.Int64
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		calls.Add(1)
		if req.ArticleID == "a" && req.Step == StepTranslate {
			<-eDone
		}
		rep := goodReply(req)
		if req.ArticleID == "e" && req.Step == StepKeyPoints {
			close(eDone)
		}
		return rep, nil
	})
	sum, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, in)), c)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := calls.Load(), int64(4); got != want {
		t.Errorf("requests=%d, want %d (a and e, two steps each; d repeats a)", got, want)
	}
	want := []struct {
		id     string
		status Status
		reason string
	}{
		{"a", StatusOK, ""},
		{"b", StatusSkipped, "empty_body:"},
		{"c", StatusSkipped, "not_arabic:"},
		{"d", StatusOK, ""},
		{"e", StatusOK, ""},
	}
	if len(sink.rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(sink.rows), len(want))
	}
	for i, w := range want {
		r := sink.rows[i]
		if r.ID != w.id || r.Status != w.status || !strings.HasPrefix(r.Error, w.reason) || (w.reason == "" && r.Error != "") {
			t.Errorf("row %d = {%s %s %q}, want {%s %s %s...}", i+1, r.ID, r.Status, r.Error, w.id, w.status, w.reason)
		}
		if r.Row != i+1 || r.Source[0].Value != fmt.Sprintf("u%d", i+1) {
			t.Errorf("row %d: Row=%d source=%v", i+1, r.Row, r.Source)
		}
	}
	a, d := sink.rows[0], sink.rows[3]
	if d.Translation != a.Translation || d.TitleEN != a.TitleEN || len(d.KeyPoints) != 3 {
		t.Errorf("d does not repeat a's result: %+v", d)
	}
	if d.Usage != (Usage{}) || a.Usage != (Usage{150, 30}) {
		t.Errorf("usage a=%v d=%v, want a paid once and d free", a.Usage, d.Usage)
	}
	if a.InputSHA256 != d.InputSHA256 || a.InputSHA256 == sink.rows[4].InputSHA256 {
		t.Errorf("input_sha256 a=%s d=%s e=%s", a.InputSHA256, d.InputSHA256, sink.rows[4].InputSHA256)
	}
	if sum.OK != 3 || sum.Skipped != 2 || sum.Failed != 0 || sum.Cached != 1 || sum.Requests != 4 || sum.Rows != 5 {
		t.Errorf("summary %+v", sum)
	}
	if !sink.closed || sink.aborted {
		t.Errorf("sink closed=%v aborted=%v, want closed", sink.closed, sink.aborted)
	}
}

func TestRunReplyChecks(t *testing.T) {
	tests := []struct {
		name string
		// bad replaces the reply of the given step on the first `times` calls.
		step      Step
		times     int
		bad       func(Reply) Reply
		wantCalls int
		wantErr   string // prefix; "" = ok
	}{
		{"arabic translation once is retried", StepTranslate, 1, func(r Reply) Reply {
			r.Content = "TITLE: عنوان\nBODY:\nهذا نص عربي لم يترجم"
			return r
		}, 3, ""},
		{"arabic translation twice fails", StepTranslate, 2, func(r Reply) Reply {
			r.Content = "TITLE: عنوان\nBODY:\nهذا نص عربي لم يترجم"
			return r
		}, 2, "not_english:"},
		{"no markers twice fails", StepTranslate, 2, func(r Reply) Reply {
			r.Content = "Sure! Here is the translation."
			return r
		}, 2, "invalid_translation:"},
		// Cut off once: the body is split in two and each half asked for.
		{"length splits smaller", StepTranslate, 1, func(r Reply) Reply {
			r.FinishReason = "length"
			return r
		}, 4, ""},
		// Cut off every time: the whole, one half, one word; a word cannot
		// be split.
		{"length until one word fails", StepTranslate, 100, func(r Reply) Reply {
			r.FinishReason = "length"
			return r
		}, 3, "truncated:"},
		{"content filter twice is a refusal", StepTranslate, 2, func(r Reply) Reply {
			r.FinishReason, r.Content = "content_filter", ""
			return r
		}, 2, "refused:"},
		{"key points not json", StepKeyPoints, 2, func(r Reply) Reply {
			r.Content = "1. first 2. second"
			return r
		}, 3, "invalid_summary:"},
		{"key points wrong count", StepKeyPoints, 2, func(r Reply) Reply {
			r.Content = `{"key_points": ["Only one point is given here."]}`
			return r
		}, 3, "invalid_summary:"},
		{"key points in arabic once", StepKeyPoints, 1, func(r Reply) Reply {
			r.Content = `{"key_points": ["نقطة أولى", "نقطة ثانية", "نقطة ثالثة"]}`
			return r
		}, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, bad atomic.Int64
			c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
				calls.Add(1)
				rep := goodReply(req)
				if req.Step == tt.step && bad.Add(1) <= int64(tt.times) {
					rep = tt.bad(rep)
				}
				return rep, nil
			})
			sum, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, "id,body\nx,"+ar+"\n")), c)
			if err != nil {
				t.Fatal(err)
			}
			r := sink.rows[0]
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls=%d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if r.Status != StatusOK || r.Error != "" {
					t.Errorf("row = %s %q, want ok", r.Status, r.Error)
				}
				return
			}
			if r.Status != StatusFailed || !strings.HasPrefix(r.Error, tt.wantErr) {
				t.Errorf("row = %s %q, want failed %s", r.Status, r.Error, tt.wantErr)
			}
			if r.Translation != "" || len(r.KeyPoints) != 0 {
				t.Errorf("failed row carries output: %q %v", r.Translation, r.KeyPoints)
			}
			if r.Usage.PromptTokens == 0 {
				t.Errorf("failed row has no usage, but its replies were paid for")
			}
			if sum.Failed != 1 {
				t.Errorf("summary failed=%d, want 1", sum.Failed)
			}
		})
	}
}

func TestRunCallErrors(t *testing.T) {
	in := "id,body\n1," + ar + " 1\n2," + ar + " 2\n3," + ar + " 3\n4," + ar + " 4\n"
	t.Run("400 fails its row only", func(t *testing.T) {
		c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
			if req.ArticleID == "2" {
				return Reply{}, &CallError{Reason: "http_400", Status: 400, Message: "bad request", Attempts: 1}
			}
			return goodReply(req), nil
		})
		sum, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, in)), c)
		if err != nil {
			t.Fatal(err)
		}
		if r := sink.rows[1]; r.Status != StatusFailed || r.Error != "http_400: translate request: HTTP 400: bad request" {
			t.Errorf("row 2 = %s %q", r.Status, r.Error)
		}
		if sum.OK != 3 || sum.Failed != 1 || sum.Requests != 7 {
			t.Errorf("summary %+v", sum)
		}
	})
	t.Run("401 stops the run", func(t *testing.T) {
		c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
			if req.ArticleID == "2" {
				return Reply{}, &CallError{Reason: "http_401", Status: 401, Message: "key rejected", Fatal: true, Attempts: 1}
			}
			return goodReply(req), nil
		})
		opts := testOptions(t, writeCSV(t, in))
		opts.Concurrency = 1
		sum, sink, err := runWith(t, context.Background(), opts, c)
		if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), "key rejected") {
			t.Fatalf("err = %v, want ErrStopped with the server's message", err)
		}
		if !sink.closed {
			t.Error("outputs not written after a stop")
		}
		for i, wantPrefix := range []string{"", "http_401: translate request", "http_401: not done", "http_401: not done"} {
			r := sink.rows[i]
			if (wantPrefix == "" && r.Status != StatusOK) || !strings.HasPrefix(r.Error, wantPrefix) {
				t.Errorf("row %d = %s %q, want %q...", i+1, r.Status, r.Error, wantPrefix)
			}
		}
		if sum.Interrupted {
			t.Error("a stop is not an interrupt")
		}
	})
}

func TestRunInterrupt(t *testing.T) {
	in := "id,body\n1," + ar + " 1\n2," + ar + " 2\n3," + ar + " 3\n4," + ar + " 4\n"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := completerFunc(func(callCtx context.Context, req Request) (Reply, error) {
		if req.ArticleID == "2" && req.Step == StepTranslate {
			cancel() // Ctrl-C while row 2 is in flight
			if callCtx.Err() != nil {
				return Reply{}, callCtx.Err()
			}
		}
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, in))
	opts.Concurrency = 1
	sum, sink, err := runWith(t, ctx, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.OK != 2 || sum.Failed != 2 {
		t.Errorf("summary %+v, want interrupted with rows 1-2 ok, 3-4 failed", sum)
	}
	for i, r := range sink.rows[2:] {
		if r.Status != StatusFailed || !strings.HasPrefix(r.Error, "interrupted: ") {
			t.Errorf("row %d = %s %q, want interrupted", i+3, r.Status, r.Error)
		}
	}
	if len(sink.rows) != 4 || !sink.closed {
		t.Errorf("%d rows, closed=%v: want every row written", len(sink.rows), sink.closed)
	}
}

func TestRunAbortCancelsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	abort := make(chan struct{})
	c := completerFunc(func(callCtx context.Context, req Request) (Reply, error) {
		cancel()
		close(abort) // a second Ctrl-C
		<-callCtx.Done()
		return Reply{}, callCtx.Err()
	})
	opts := testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n"))
	opts.Abort = abort
	sum, sink, err := runWith(t, ctx, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if r := sink.rows[0]; !sum.Interrupted || r.Status != StatusFailed || !strings.HasPrefix(r.Error, "interrupted: ") {
		t.Errorf("interrupted=%v row=%s %q", sum.Interrupted, r.Status, r.Error)
	}
}

func TestRunWriteErrorAbortsOutputs(t *testing.T) {
	sink := &memSink{writeErr: errors.New("disk full")}
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) { return goodReply(req), nil })
	_, err := Run(context.Background(), testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n2,"+ar+" 2\n")), c,
		func([]string) (Sink, error) { return sink, nil })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want the write error", err)
	}
	if !sink.aborted || sink.closed {
		t.Errorf("aborted=%v closed=%v, want the outputs discarded", sink.aborted, sink.closed)
	}
}

func TestRunBadInputMakesNoRequest(t *testing.T) {
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		t.Error("a request was made for a bad input")
		return Reply{}, nil
	})
	opened := false
	_, err := Run(context.Background(), testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n2,\"unclosed\n")), c,
		func([]string) (Sink, error) { opened = true; return &memSink{}, nil })
	var ie *InputError
	if !errors.As(err, &ie) || ie.Line != 3 {
		t.Fatalf("err = %v, want an input error on line 3", err)
	}
	if opened {
		t.Error("outputs opened for a bad input")
	}
}

func TestRunStopBeforeAnyReplyKeepsPreviousOutputs(t *testing.T) {
	tests := []struct {
		name string
		err  *CallError
	}{
		{"rejected key", &CallError{Reason: "http_401", Status: 401, Message: "key rejected", Fatal: true, Attempts: 1}},
		{"no endpoint", &CallError{Reason: "connection", Message: "dial tcp 127.0.0.1:1: connection refused", Retryable: true, Attempts: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
				calls.Add(1)
				return Reply{}, tt.err
			})
			opts := testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n2,"+ar+" 2\n3,"+ar+" 3\n"))
			opts.Concurrency = 1
			sum, sink, err := runWith(t, context.Background(), opts, c)
			if !errors.Is(err, ErrStopped) || !strings.Contains(err.Error(), tt.err.Message) {
				t.Fatalf("err = %v, want ErrStopped naming %q", err, tt.err.Message)
			}
			if !sink.aborted || sink.closed || sum.Written {
				t.Errorf("aborted=%v closed=%v written=%v: want the previous outputs kept", sink.aborted, sink.closed, sum.Written)
			}
			if calls.Load() != 1 {
				t.Errorf("%d requests, want 1: nothing after the stop", calls.Load())
			}
		})
	}
}

func TestRunConnectionErrorAfterAReplyFailsTheRowOnly(t *testing.T) {
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		if req.ArticleID == "2" {
			return Reply{}, &CallError{Reason: "connection", Message: "connection reset", Retryable: true, Attempts: 7}
		}
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n2,"+ar+" 2\n3,"+ar+" 3\n"))
	opts.Concurrency = 1
	sum, sink, err := runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if sum.OK != 2 || sum.Failed != 1 || !strings.HasPrefix(sink.rows[1].Error, "connection: ") || !sink.closed {
		t.Errorf("summary %+v, row 2 %q", sum, sink.rows[1].Error)
	}
	if sum.Requests != 4+7 || sum.Retries != 6 {
		t.Errorf("requests=%d retries=%d, want 11 and 6", sum.Requests, sum.Retries)
	}
}

func TestRunMaxCost(t *testing.T) {
	var in strings.Builder
	in.WriteString("id,body\n")
	for i := 1; i <= 15; i++ {
		fmt.Fprintf(&in, "%d,%s %d\n", i, ar, i)
	}
	var calls atomic.Int64
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		calls.Add(1)
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, in.String()))
	opts.Model, opts.Concurrency = "gpt-4.1-mini", 1
	// Each row costs 150 prompt and 30 completion tokens: $0.000108 at
	// gpt-4.1-mini's list price, so $0.0012 pays for 11 rows.
	opts.MaxCost = 0.0012
	sum, sink, err := runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.BudgetReached || sum.OK != 11 || sum.Failed != 4 || calls.Load() != 22 {
		t.Errorf("summary %+v after %d requests; want 11 rows ok, 4 failed by the budget", sum, calls.Load())
	}
	if cost, _ := EstimatedCost("gpt-4.1-mini", sum.Usage); cost > opts.MaxCost {
		t.Errorf("spent $%f, over --max-cost $%f", cost, opts.MaxCost)
	}
	for _, r := range sink.rows[11:] {
		if !strings.HasPrefix(r.Error, "budget: not done: the next rows would pass --max-cost $0.0012") {
			t.Errorf("row %d error %q", r.Row, r.Error)
		}
	}

	opts.Model = "some-local-model"
	if _, _, err := runWith(t, context.Background(), opts, c); err == nil || !strings.Contains(err.Error(), `knows none for model "some-local-model"`) {
		t.Errorf("--max-cost with an unpriced model: err = %v", err)
	}
}

func TestRunGraceBoundsTheWaitForRequestsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c := completerFunc(func(callCtx context.Context, req Request) (Reply, error) {
		cancel()         // Ctrl-C once the request is in flight
		<-callCtx.Done() // a request that would never end on its own
		return Reply{}, callCtx.Err()
	})
	opts := testOptions(t, writeCSV(t, "id,body\n1,"+ar+"\n2,"+ar+" 2\n"))
	opts.Concurrency, opts.Grace = 1, time.Millisecond
	progress := &Progress{}
	opts.Progress = progress
	sum, sink, err := runWith(t, ctx, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Interrupted || sum.Failed != 2 || !sink.closed {
		t.Errorf("summary %+v closed=%v: want both rows failed as interrupted and the outputs written", sum, sink.closed)
	}
	for _, r := range sink.rows {
		if !strings.HasPrefix(r.Error, "interrupted: ") {
			t.Errorf("row %d error %q", r.Row, r.Error)
		}
	}
	if p := progress.Snapshot(); p.Total != 2 || p.Rows != 2 || p.Failed != 2 || p.OK != 0 {
		t.Errorf("progress %+v, want the summary's counts", p)
	}
}

// TestProgressCountsTokensAndCost checks the progress counters against the
// closing summary.
func TestProgressCountsTokensAndCost(t *testing.T) {
	opts := testOptions(t, writeCSV(t, "id,body\n1,"+ar+" 1\n2,"+ar+" 2\n3,"+ar+" 3\n"))
	opts.Model = "gpt-4.1-mini"
	opts.Progress = &Progress{}
	sum, _, err := runWith(t, context.Background(), opts, completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		return goodReply(req), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	s := opts.Progress.Snapshot()
	if s.PromptTokens != int64(sum.Usage.PromptTokens) || s.CompletionTokens != int64(sum.Usage.CompletionTokens) || s.PromptTokens == 0 {
		t.Errorf("progress tokens %d + %d, summary %d + %d", s.PromptTokens, s.CompletionTokens, sum.Usage.PromptTokens, sum.Usage.CompletionTokens)
	}
	if d := s.Cost - sum.Cost; d > 1e-5 || d < -1e-5 || s.Cost == 0 {
		t.Errorf("progress cost %f, summary %f", s.Cost, sum.Cost)
	}
	if s.Rows != 3 || s.OK != 3 || s.Requests != 6 {
		t.Errorf("progress %+v, want 3 rows ok in 6 requests", s)
	}
}
