package progress

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func TestLinesOffTerminal(t *testing.T) {
	clk, src := newClock(), &feed{}
	out := &lockedBuffer{}
	tick := make(chan time.Time)
	stop := start(context.Background(), src.snapshot, Options{
		Logger: textLogger(out), Interval: time.Second, Now: clk.now,
	}, tick)
	defer stop()

	steps := []struct {
		at   time.Duration
		snap jobs.ProgressSnapshot
		want string
	}{
		{10 * time.Second, jobs.ProgressSnapshot{},
			// No total yet: no ETA.
			"level=INFO msg=progress done=0 total=0 ok=0 failed=0 skipped=0 requests=0 retries=0 prompt_tokens=0 completion_tokens=0 cost_usd=0 rate_per_s=0"},
		{30 * time.Second, jobs.ProgressSnapshot{Total: 10000, Rows: 600, OK: 590, Failed: 1, Skipped: 9, Requests: 640, Retries: 3,
			PromptTokens: 1_500_000, CompletionTokens: 400_000, Cost: 0.42},
			// 600 rows in 30 s; 9,400 left at 20/s.
			"level=INFO msg=progress done=600 total=10000 ok=590 failed=1 skipped=9 requests=640 retries=3 prompt_tokens=1500000 completion_tokens=400000 cost_usd=0.42 rate_per_s=20 eta=7m50s"},
		{90 * time.Second, jobs.ProgressSnapshot{Total: 10000, Rows: 1500, OK: 1480, Failed: 2, Skipped: 18, Requests: 1600, Retries: 7,
			PromptTokens: 3_000_000, CompletionTokens: 900_000, Cost: 1.234567},
			// Over the last minute (from 30 s): 900 rows, 15/s; 8,500 left.
			"level=INFO msg=progress done=1500 total=10000 ok=1480 failed=2 skipped=18 requests=1600 retries=7 prompt_tokens=3000000 completion_tokens=900000 cost_usd=1.234567 rate_per_s=15 eta=9m27s"},
		// All done: from 30 s, 9,400 rows in 60 s.
		{90 * time.Second, jobs.ProgressSnapshot{Total: 10000, Rows: 10000, OK: 9980},
			"level=INFO msg=progress done=10000 total=10000 ok=9980 failed=0 skipped=0 requests=0 retries=0 prompt_tokens=0 completion_tokens=0 cost_usd=0 rate_per_s=156.67 eta=0s"},
	}
	for i, st := range steps {
		clk.set(t0.Add(st.at))
		src.set(st.snap)
		tick <- time.Time{}
		lines := waitLines(t, out, i+1)
		if got := lines[i]; got != st.want {
			t.Errorf("line %d:\n got %s\nwant %s", i, got, st.want)
		}
	}
	stop()
	if got := len(out.lines()); got != len(steps) {
		t.Errorf("%d lines after stop, want %d", got, len(steps))
	}
}

func TestStartOffTerminal(t *testing.T) {
	t.Run("every interval", func(t *testing.T) {
		out := &lockedBuffer{}
		stop := Start(context.Background(), &jobs.Progress{}, Options{Logger: textLogger(out), Interval: time.Millisecond})
		lines := waitLines(t, out, 2)
		stop()
		if want := "level=INFO msg=progress done=0 total=0 "; !strings.HasPrefix(lines[0], want) {
			t.Errorf("line=%q, want it to start with %q", lines[0], want)
		}
		n := len(out.lines())
		stop() // again: no-op
		if got := len(out.lines()); got != n {
			t.Errorf("%d lines logged after stop", got-n)
		}
	})
	t.Run("interval 0", func(t *testing.T) {
		out := &lockedBuffer{}
		stop := Start(context.Background(), &jobs.Progress{}, Options{Logger: textLogger(out)})
		stop()
		if out.String() != "" {
			t.Errorf("logged %q, want nothing", out.String())
		}
	})
	t.Run("context ends", func(t *testing.T) {
		out := &lockedBuffer{}
		ctx, cancel := context.WithCancel(context.Background())
		tick := make(chan time.Time)
		stop := start(ctx, (&jobs.Progress{}).Snapshot, Options{Logger: textLogger(out), Interval: time.Second}, tick)
		cancel()
		stop() // returns once the goroutine is gone
	})
}

func TestStartOnTerminal(t *testing.T) {
	out := &lockedBuffer{}
	logs := NewRedirect(out)
	stop := Start(context.Background(), &jobs.Progress{}, Options{Out: out, Terminal: true, Logs: logs, Width: 100})
	waitFor(t, out, "0/0 ")
	io.WriteString(logs, "a log line\n")
	waitFor(t, out, "a log line")
	stop()
	stop()
	io.WriteString(logs, "after\n")
	const frame = "[-----------------------] 0/0  0.00/s  ETA -  tokens 0  $0.0000  retries 0  failed 0\n"
	if got := out.String(); !strings.HasSuffix(got, frame+"after\n") {
		t.Errorf("output ends with %q, want the last frame, then what was logged after", tail(got))
	}
}

func TestIsTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	f, err := openTemp(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		w    io.Writer
		want bool
	}{
		{"pty", tty, true},
		{"file", f, false},
		{"buffer", &bytes.Buffer{}, false},
		{"nil", nil, false},
	} {
		if got := IsTerminal(tt.w); got != tt.want {
			t.Errorf("IsTerminal(%s)=%v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBarFinalFrame(t *testing.T) {
	clk, src := newClock(), &feed{}
	out := &lockedBuffer{}
	tick := make(chan time.Time)
	stop := start(context.Background(), src.snapshot, Options{Out: out, Terminal: true, Width: 120, Now: clk.now}, tick)
	waitFor(t, out, "0/0 ")

	clk.set(t0.Add(50 * time.Second))
	src.set(jobs.ProgressSnapshot{Total: 10000, Rows: 600, Retries: 1})
	tick <- time.Time{}
	waitFor(t, out, "600/10,000")
	clk.set(t0.Add(100 * time.Second))
	src.set(jobs.ProgressSnapshot{Total: 10000, Rows: 1230, OK: 1229, Failed: 1, Requests: 1240, Retries: 3,
		PromptTokens: 1_500_000, CompletionTokens: 420_000, Cost: 0.4217})
	stop()

	// 1,230 rows in 100 s; 8,770 left at 12.3/s. 23 columns inside the
	// brackets, 12.3% of which is 3.
	const want = "[==>--------------------] 1,230/10,000  12.3/s  ETA 11m53s  tokens 1.9M  $0.42  retries 3  failed 1"
	raw := out.String()
	if !strings.HasSuffix(raw, want+"\n") {
		t.Errorf("output ends with %q, want the final frame %q and a newline", tail(raw), want)
	}
	frames := screenLines(t, raw)
	if got := strings.Count(strings.Join(frames, "\n"), want); got != 1 {
		t.Errorf("final frame drawn %d times, want once; frames:\n%s", got, strings.Join(frames, "\n"))
	}
	// The first frame, before any tick, the tick's and the last one, each
	// but the first moving up over the one before.
	if got, want := len(frames), 3; got != want {
		t.Errorf("%d frames, want %d:\n%s", got, want, strings.Join(frames, "\n"))
	}
	if got, want := strings.Count(raw, "\x1b[1A\x1b[J"), 2; got != want {
		t.Errorf("%d cursor moves up, want %d", got, want)
	}
}

func TestBarKeepsLogLinesWhole(t *testing.T) {
	clk, src := newClock(), &feed{}
	out := &lockedBuffer{}
	logs := NewRedirect(out)
	log := textLogger(logs)
	tick := make(chan time.Time)
	stop := start(context.Background(), src.snapshot, Options{Out: out, Terminal: true, Logs: logs, Width: 100, Now: clk.now}, tick)
	waitFor(t, out, "ETA")

	// Loggers in several goroutines while the bar is redrawn.
	var want []string
	for g := range 4 {
		for i := range 25 {
			want = append(want, fmt.Sprintf("level=INFO msg=translated article=%d-%d title=\"عنوان الخبر\"", g, i))
		}
	}
	want = append(want, "a line written in two parts")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				log.Info("translated", "article", fmt.Sprintf("%d-%d", g, i), "title", "عنوان الخبر")
			}
		})
	}
	wg.Go(func() {
		io.WriteString(logs, "a line written ")
		io.WriteString(logs, "in two parts\n")
	})
	ticking := make(chan struct{})
	go func() {
		defer close(ticking)
		for i := range 20 {
			src.set(jobs.ProgressSnapshot{Total: 100, Rows: int64(i)})
			tick <- time.Time{}
		}
	}()
	wg.Wait()
	<-ticking
	io.WriteString(logs, "unfinished") // held until the bar has ended
	clk.set(t0.Add(10 * time.Second))
	src.set(jobs.ProgressSnapshot{Total: 100, Rows: 40, Failed: 2})
	stop()
	log.Info("after the bar")

	const final = "[========>--------------] 40/100  4.0/s  ETA 15s  tokens 0  $0.0000  retries 0  failed 2"
	got := map[string]int{}
	var last []string // the lines after the last frame
	for _, l := range screenLines(t, out.String()) {
		if strings.HasPrefix(l, "[") {
			if strings.Contains(l, "level=") || strings.Contains(l, "two parts") {
				t.Errorf("a log line in a frame: %q", l)
			}
			last = nil
			if strings.Contains(l, "40/100") && l != final {
				t.Errorf("final frame %q, want %q", l, final)
			}
			continue
		}
		got[l]++
		last = append(last, l)
	}
	for _, l := range want {
		if got[l] != 1 {
			t.Errorf("log line %q appears %d times, want once, whole", l, got[l])
		}
		delete(got, l)
	}
	if diff := cmp.Diff([]string{"unfinishedlevel=INFO msg=\"after the bar\""}, last); diff != "" {
		t.Errorf("after the last frame (-want +got):\n%s", diff)
	}
	delete(got, last[0])
	if len(got) > 0 {
		t.Errorf("other lines: %v", got)
	}
}

func TestBarOnPseudoTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 110}); err != nil {
		t.Fatal(err)
	}
	if !IsTerminal(tty) {
		t.Fatal("IsTerminal(tty)=false")
	}
	out := &lockedBuffer{}
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(out, ptmx) // until the tty side is closed
	}()

	clk, src := newClock(), &feed{}
	logs := NewRedirect(tty)
	log := textLogger(logs)
	tick := make(chan time.Time)
	stop := start(context.Background(), src.snapshot, Options{Out: tty, Terminal: true, Logs: logs, Now: clk.now}, tick)
	waitFor(t, out, "ETA")
	log.Info("translated", "article", 7, "title", "عنوان الخبر")
	clk.set(t0.Add(4 * time.Second))
	src.set(jobs.ProgressSnapshot{Total: 1000, Rows: 250, Failed: 3, Retries: 5, PromptTokens: 12_000, CompletionTokens: 345, Cost: 0.0123})
	tick <- time.Time{}
	waitFor(t, out, "250/1,000")
	clk.set(t0.Add(5 * time.Second))
	src.set(jobs.ProgressSnapshot{Total: 1000, Rows: 300, Failed: 3, Retries: 5, PromptTokens: 14_000, CompletionTokens: 400, Cost: 0.0144})
	stop()
	tty.Close()
	<-read

	const (
		logLine = `level=INFO msg=translated article=7 title="عنوان الخبر"`
		frame   = "[=====>-----------------] 250/1,000  62.5/s  ETA 12s  tokens 12.3k  $0.0123  retries 5  failed 3"
		final   = "[======>----------------] 300/1,000  60.0/s  ETA 12s  tokens 14.4k  $0.0144  retries 5  failed 3"
	)
	// The terminal turns "\n" into "\r\n".
	lines := screenLines(t, strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// The first frame, then the log line above the frame of the tick that
	// came after it, then the last frame.
	if diff := cmp.Diff([]string{logLine, frame, final}, lines[1:]); diff != "" {
		t.Errorf("last lines (-want +got):\n%s\nall:\n%s", diff, strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		if strings.Contains(l, "msg=") && l != logLine {
			t.Errorf("log line garbled: %q", l)
		}
	}
}

func TestRedirect(t *testing.T) {
	var base, bar bytes.Buffer
	r := NewRedirect(&base)
	io.WriteString(r, "before\n")
	r.through(&bar)
	io.WriteString(r, "one\ntw")
	io.WriteString(r, "o\nthr")
	if got, want := bar.String(), "one\ntwo\n"; got != want {
		t.Errorf("through the bar: %q, want %q", got, want)
	}
	r.back(func() { io.WriteString(&bar, "[last frame]\n") })
	io.WriteString(r, "ee\n")
	if got, want := base.String(), "before\nthree\n"; got != want {
		t.Errorf("base=%q, want %q", got, want)
	}
	if got, want := bar.String(), "one\ntwo\n[last frame]\n"; got != want {
		t.Errorf("bar=%q, want %q", got, want)
	}

	// A bar that has shut down: lines go to the base writer.
	base.Reset()
	r.through(failWriter{})
	io.WriteString(r, "lost?\n")
	if got, want := base.String(), "lost?\n"; got != want {
		t.Errorf("base=%q, want %q", got, want)
	}
}

func TestMeter(t *testing.T) {
	m := newMeter(t0, 100) // resumed: 100 rows were done before
	steps := []struct {
		at       time.Duration
		rows     int64
		wantRate float64
		wantETA  time.Duration // -1: unknown
	}{
		{0, 100, 0, -1},
		{10 * time.Second, 150, 5, 170 * time.Second},
		{60 * time.Second, 400, 5, 120 * time.Second},
		// From 10 s, the newest sample at least a minute old.
		{70 * time.Second, 500, 350.0 / 60, 86 * time.Second},
		{200 * time.Second, 500, 0, -1},
		// From 70 s: only one sample since.
		{210 * time.Second, 1000, 500.0 / 140, 0},
	}
	for _, st := range steps {
		f := m.figures(t0.Add(st.at), jobs.ProgressSnapshot{Total: 1000, Rows: st.rows})
		eta := time.Duration(-1)
		if f.ETAKnown {
			eta = f.ETA
		}
		if f.Rate != st.wantRate || eta != st.wantETA {
			t.Errorf("at %s: rate %v ETA %v, want %v %v", st.at, f.Rate, eta, st.wantRate, st.wantETA)
		}
	}
	if n := len(m.samples); n > 3 {
		t.Errorf("%d samples kept, want at most 3", n)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{thousands(0), "0"},
		{thousands(999), "999"},
		{thousands(1204), "1,204"},
		{thousands(10000), "10,000"},
		{thousands(1234567), "1,234,567"},
		{thousands(-1234), "-1,234"},
		{compact(950), "950"},
		{compact(12_345), "12.3k"},
		{compact(99_960), "100k"},
		{compact(999_600), "1.0M"},
		{compact(1_900_000), "1.9M"},
		{compact(123_000_000), "123M"},
		{compact(4_500_000_000), "4.5G"},
		{rate(0), "0.00"},
		{rate(0.05), "0.05"},
		{rate(12.34), "12.3"},
		{dollars(0), "$0.0000"},
		{dollars(0.0042), "$0.0042"},
		{dollars(0.4217), "$0.42"},
		{dollars(12.345), "$12.35"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// textLogger logs to w in slog's text format, without the time.
func textLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// lockedBuffer is a bytes.Buffer safe for concurrent use, with a signal on
// each write.
type lockedBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{}
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == nil {
		b.written = make(chan struct{}, 1)
	}
	select {
	case b.written <- struct{}{}:
	default:
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *lockedBuffer) lines() []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func (b *lockedBuffer) signal() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.written == nil {
		b.written = make(chan struct{}, 1)
	}
	return b.written
}

// waitFor waits until b holds s; the deadline is only a guard.
func waitFor(t *testing.T, b *lockedBuffer, s string) {
	t.Helper()
	wait(t, b, func() bool { return strings.Contains(b.String(), s) }, fmt.Sprintf("%q", s))
}

// waitLines waits until b holds n lines and returns them.
func waitLines(t *testing.T, b *lockedBuffer, n int) []string {
	t.Helper()
	wait(t, b, func() bool { return len(b.lines()) >= n }, fmt.Sprintf("%d lines", n))
	return b.lines()
}

func wait(t *testing.T, b *lockedBuffer, done func() bool, what string) {
	t.Helper()
	guard := time.After(10 * time.Second)
	for !done() {
		select {
		case <-b.signal():
		case <-guard:
			t.Fatalf("no %s in the output after 10s:\n%s", what, b.String())
		}
	}
}

// screenLines splits raw output into lines, each without the escape
// sequences that may start it (the cursor moved up and the screen cleared
// over the previous frame), and fails if a line has any other escape
// sequence: one in the middle of a line is a line broken by a redraw.
func screenLines(t *testing.T, raw string) []string {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(raw, "\n") {
		l = leadingEscapes.ReplaceAllString(l, "")
		if strings.ContainsRune(l, '\x1b') {
			t.Errorf("escape sequence inside line %q", l)
		}
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

var leadingEscapes = regexp.MustCompile(`^(\x1b\[[0-9;]*[A-Za-z])+`)

func tail(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// feed is a settable source of snapshots.
type feed struct {
	mu sync.Mutex
	s  jobs.ProgressSnapshot
}

func (f *feed) snapshot() jobs.ProgressSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

func (f *feed) set(s jobs.ProgressSnapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.s = s
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("gone") }

func openTemp(t *testing.T) (io.Writer, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { f.Close() })
	return f, nil
}
