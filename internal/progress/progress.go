package progress

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/tarjama/tarjama/jobs"
)

// RefreshInterval is how often the bar reads the counters and is redrawn.
const RefreshInterval = 200 * time.Millisecond

const (
	// rateWindow is how far back the rate looks.
	rateWindow = time.Minute
	// maxETA is the longest ETA shown; beyond it, the ETA is unknown.
	maxETA = 1000 * time.Hour
)

// Options says how Start shows progress.
type Options struct {
	// Out is where the bar goes, standard error as a rule; nil means no
	// bar. Everything else written to it while the bar is live must go
	// through Logs.
	Out io.Writer
	// Terminal is whether Out is a terminal: a bar if so, else progress
	// lines. The caller decides, with IsTerminal as a rule.
	Terminal bool
	// Logs is the logger's writer, sent through the bar while it is live;
	// nil if nothing else writes to Out.
	Logs *Redirect
	// Logger logs the progress lines off a terminal; nil means none. It is
	// not used on a terminal.
	Logger *slog.Logger
	// Interval is the time between progress lines off a terminal; 0 means
	// none. On a terminal the bar is redrawn every RefreshInterval.
	Interval time.Duration
	// Width is the width of the line in columns when Out is not a terminal
	// whose size can be read (tests); 0 means mpb's default, 80. On a
	// terminal the line is as wide as the terminal.
	Width int
	// Now is the clock for the rate and the ETA; nil means time.Now.
	Now func() time.Time
}

// Start shows the progress of p until stop is called or ctx ends. stop
// returns when the display has ended: the bar drawn for the last time and
// Logs writing to its own writer again, or the last progress line logged.
// stop may be called more than once.
func Start(ctx context.Context, p *jobs.Progress, o Options) (stop func()) {
	every := o.Interval
	if o.Terminal {
		every = RefreshInterval
	}
	if every <= 0 || (o.Terminal && o.Out == nil) || (!o.Terminal && o.Logger == nil) {
		return func() {}
	}
	t := time.NewTicker(every)
	stopDisplay := start(ctx, p.Snapshot, o, t.C)
	return func() {
		stopDisplay()
		t.Stop()
	}
}

// IsTerminal reports whether w is a terminal: an *os.File for which
// go-isatty says so.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}

// start is Start with the counters read through snap and the display
// updated on each tick.
func start(ctx context.Context, snap func() jobs.ProgressSnapshot, o Options, tick <-chan time.Time) (stop func()) {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := newMeter(o.Now(), snap().Rows)
	quit, finished := make(chan struct{}), make(chan struct{})
	if o.Terminal {
		b := newBar(o)
		go func() {
			defer close(finished)
			b.show(ctx, quit, tick, func() figures { return m.figures(o.Now(), snap()) })
		}()
	} else {
		go func() {
			defer close(finished)
			for {
				select {
				case <-ctx.Done():
					return
				case <-quit:
					return
				case <-tick:
					logLine(ctx, o.Logger, m.figures(o.Now(), snap()))
				}
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-finished
	}
}

// logLine logs f as a "progress" line. eta is left out while unknown.
func logLine(ctx context.Context, log *slog.Logger, f figures) {
	attrs := []slog.Attr{
		slog.Int64("done", f.Rows), slog.Int64("total", f.Total),
		slog.Int64("ok", f.OK), slog.Int64("failed", f.Failed), slog.Int64("skipped", f.Skipped),
		slog.Int64("requests", f.Requests), slog.Int64("retries", f.Retries),
		slog.Int64("prompt_tokens", f.PromptTokens), slog.Int64("completion_tokens", f.CompletionTokens),
		slog.Float64("cost_usd", math.Round(f.Cost*1e6)/1e6),
		slog.Float64("rate_per_s", math.Round(f.Rate*100)/100),
	}
	if f.ETAKnown {
		attrs = append(attrs, slog.String("eta", f.ETA.String()))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "progress", attrs...)
}

// figures are the counters at one moment, with the rate and the ETA.
type figures struct {
	jobs.ProgressSnapshot
	// Rate is rows done per second over about the last rateWindow.
	Rate float64
	// ETA is the time left at Rate, to the second, if ETAKnown.
	ETA      time.Duration
	ETAKnown bool
}

// meter works out the rate from samples of the rows done.
type meter struct {
	mu      sync.Mutex
	samples []sample // oldest first; the first is at least rateWindow old once there is one
}

type sample struct {
	at   time.Time
	rows int64
}

func newMeter(now time.Time, rows int64) *meter {
	return &meter{samples: []sample{{now, rows}}}
}

// figures adds s, read at now, to the samples and returns it with the rate
// and the ETA.
func (m *meter) figures(now time.Time, s jobs.ProgressSnapshot) figures {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, sample{now, s.Rows})
	// Keep one sample older than the window as its start.
	cut := now.Add(-rateWindow)
	i := 0
	for i+1 < len(m.samples)-1 && !m.samples[i+1].at.After(cut) {
		i++
	}
	m.samples = m.samples[i:]
	first, last := m.samples[0], m.samples[len(m.samples)-1]
	f := figures{ProgressSnapshot: s}
	if d := last.at.Sub(first.at); d > 0 && last.rows > first.rows {
		f.Rate = float64(last.rows-first.rows) / d.Seconds()
	}
	switch left := s.Total - s.Rows; {
	case s.Total > 0 && left <= 0:
		f.ETAKnown = true
	case s.Total > 0 && f.Rate > 0:
		if eta := float64(left) / f.Rate * float64(time.Second); eta < float64(maxETA) {
			f.ETA = time.Duration(eta).Round(time.Second)
			f.ETAKnown = true
		}
	}
	return f
}
