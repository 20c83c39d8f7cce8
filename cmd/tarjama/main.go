// Command tarjama translates a CSV of Arabic news articles into English
// translations and key-point summaries through an OpenAI-compatible chat
// API, and writes results.csv and results.json.
//
// This package only wires flags, environment, signals and exit codes to the
// packages that do the work (jobs, prompts, output, internal/llm).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/progress"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	abort := make(chan struct{})
	// Everything written to standard error goes through logs, so that it
	// is printed above the progress bar while the bar is live.
	logs := progress.NewRedirect(os.Stderr)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs // first: stop starting new work, let requests in flight finish
		fmt.Fprintln(logs, "tarjama: interrupted: finishing the requests in flight, then writing the outputs (interrupt again to cancel them)")
		cancel()
		<-sigs // second: cancel those too
		fmt.Fprintln(logs, "tarjama: interrupted again: cancelling the requests in flight")
		close(abort)
	}()
	os.Exit(Main(ctx, os.Args, Env{
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   logs,
		BarOut:   os.Stderr,
		Terminal: progress.IsTerminal(os.Stderr),
		Abort:    abort,
	}))
}

// Env is what a command may touch of the process: tests give buffers.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// BarOut is where the progress bar is drawn, Stderr's own writer when
	// Stderr is a *progress.Redirect; Terminal reports that it is a
	// terminal (a live bar, and the summary as a table).
	BarOut   io.Writer
	Terminal bool
	// Abort is closed on a second interrupt.
	Abort <-chan struct{}
	// Sleep, when set, replaces the waits between retries (tests).
	Sleep func(ctx context.Context, d time.Duration) error
	// Clock, when set, replaces real time in the rate limiter (tests).
	Clock llm.Clock

	// logs is Stderr, through which log lines reach the terminal above
	// the bar.
	logs *progress.Redirect
}

// Main runs the command line args and returns the exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if r, ok := env.Stderr.(*progress.Redirect); ok {
		env.logs = r
	} else {
		if env.BarOut == nil {
			env.BarOut = env.Stderr
		}
		env.logs = progress.NewRedirect(env.Stderr)
		env.Stderr = env.logs
	}
	app := newApp(&env)
	err := app.RunContext(ctx, args)
	return exitCode(err, env.Stderr)
}
