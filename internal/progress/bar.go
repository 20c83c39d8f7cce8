package progress

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// barWidth is the widest the [===>---] part gets; it gets narrower when the
// figures leave less room.
const barWidth = 25

// bar is the live line on a terminal.
type bar struct {
	o        Options
	p        *mpb.Progress
	b        *mpb.Bar
	refresh  chan any // a send redraws
	shutdown chan any // closed when p has shut down

	mu sync.Mutex
	f  figures // what the line shows
}

// newBar makes the mpb container and its bar, drawn to o.Out, and sends
// o.Logs through it.
//
// Redraws are manual, one per tick of show: mpb's own refresh ticker runs
// only when mpb finds a terminal in Out itself (ForceTTY does not start it,
// whatever its doc says), and without it mpb draws nothing and keeps
// whatever is written to it. ForceTTY makes mpb move the cursor up over the
// previous frame when Out is not an *os.File it recognizes as a terminal
// (tests); WithWidth is then the width of the line.
func newBar(o Options) *bar {
	r := &bar{o: o, refresh: make(chan any), shutdown: make(chan any)}
	r.p = mpb.NewWithContext(context.Background(),
		mpb.WithOutput(o.Out),
		mpb.WithWidth(o.Width),
		mpb.ForceTTY(),
		mpb.WithManualRefresh(r.refresh),
		mpb.WithShutdownNotifier(r.shutdown),
	)
	// A total of 0 keeps mpb from ending the bar by itself when the rows
	// done reach the total (which would redraw it from another goroutine):
	// show ends it. SetTotal(n, false) changes the total shown only.
	r.b = r.p.New(0, mpb.BarStyle(),
		mpb.BarWidth(barWidth),
		mpb.BarFillerTrim(),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
			r.mu.Lock()
			defer r.mu.Unlock()
			return " " + r.f.line()
		})),
	)
	if o.Logs != nil {
		o.Logs.through(r.p)
	}
	return r
}

// show redraws the bar with read() on each tick until quit is closed or ctx
// ends, then draws it for the last time and shuts mpb down.
func (r *bar) show(ctx context.Context, quit <-chan struct{}, tick <-chan time.Time, read func() figures) {
	r.update(read())
	r.redraw()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-quit:
			done = true
		case <-tick:
			r.update(read())
			r.redraw()
		}
	}
	// The last frame is drawn by a last manual redraw: mpb's listener hands
	// it to the render loop before it looks at the shutdown, so the frame,
	// with the lines written to mpb since the previous redraw above it, is
	// drawn exactly once, and the cursor is left on the line below it.
	// Ending the bar with Abort or a forced completion instead makes mpb
	// redraw from another goroutine until the bar is done, which may (if
	// rarely) draw the last frame twice. mpb draws nothing at shutdown, so
	// lines written to it after the last redraw would be lost: Logs holds
	// writes meanwhile.
	last := func() {
		r.update(read())
		r.redraw()
		r.p.Shutdown()
	}
	if r.o.Logs != nil {
		r.o.Logs.back(last)
	} else {
		last()
	}
}

// update sets what the bar shows.
func (r *bar) update(f figures) {
	r.mu.Lock()
	r.f = f
	r.mu.Unlock()
	r.b.SetTotal(f.Total, false)
	r.b.SetCurrent(f.Rows)
}

// redraw asks mpb to draw the bar, unless it has stopped (after a failed
// redraw, when it cannot read the terminal's size for instance).
func (r *bar) redraw() {
	select {
	case r.refresh <- struct{}{}:
	case <-r.shutdown:
	}
}

// line is the text after the bar:
// "1,204/10,000  12.3/s  ETA 11m54s  tokens 1.9M  $0.42  retries 3  failed 1".
func (f figures) line() string {
	eta := "-"
	if f.ETAKnown {
		eta = f.ETA.String()
	}
	return fmt.Sprintf("%s/%s  %s/s  ETA %s  tokens %s  %s  retries %d  failed %d",
		thousands(f.Rows), thousands(f.Total), rate(f.Rate), eta,
		compact(f.PromptTokens+f.CompletionTokens), dollars(f.Cost), f.Retries, f.Failed)
}
