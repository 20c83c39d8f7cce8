// Package progress shows how far a run has got, from the counters of a
// jobs.Progress.
//
// On a terminal, Start draws one live line with github.com/vbauerster/mpb/v8:
//
//	[==>--------------------] 1,204/10,000  12.3/s  ETA 11m54s  tokens 1.9M  $0.42  retries 3  failed 1
//
// redrawn every 200 ms, and drawn once more in its final state, followed by
// a newline, when the display stops. Log lines must not be written straight
// to the terminal while the line is live: the cursor sits below the bar and
// the next redraw would move up over them. The logger therefore writes to a
// Redirect, which Start points at the mpb container (*mpb.Progress is an
// io.Writer whose bytes are printed above the bar at its next redraw) and
// points back at the terminal, once the final frame is drawn. While it goes
// through the bar, a Redirect passes on whole lines only, so that no bar is
// ever drawn in the middle of a line.
//
// Off a terminal (cron, pipes, CI) there is no bar: Start logs a "progress"
// line every Options.Interval, with the same figures as attributes, and
// nothing at all when the interval is 0.
//
// A caller makes the Redirect first, the logger on it, and then starts the
// display around the run, unless told to be quiet:
//
//	logs := progress.NewRedirect(stderr)
//	log := slog.New(slog.NewTextHandler(logs, nil))
//	…
//	stop := progress.Start(ctx, opts.Progress, progress.Options{
//		Out: stderr, Terminal: progress.IsTerminal(stderr), Logs: logs,
//		Logger: log, Interval: interval,
//	})
//	sum, err := jobs.Run(ctx, opts, …)
//	stop()
//	fmt.Fprint(stderr, sum.Report(dir))
//
// The rate is articles done per second over about the last minute, so rows
// taken from a previous run's state at the start of a resumed run stop
// counting after a minute; the ETA is the rows left at that rate.
package progress
