package soak_test

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tarjama/tarjama/internal/soak"
	"github.com/tarjama/tarjama/internal/testinput"
)

// -soak.rows changes the size of BenchmarkSoak; -soak.log keeps the
// pipeline's and the client's debug log of a soak, for looking into one.
var (
	benchRows = flag.Int("soak.rows", 20_000, "rows of BenchmarkSoak")
	logPath   = flag.String("soak.log", "", "write the pipeline's debug log to this file")
)

const (
	// timeScale is simulated seconds per real second: a real second is a
	// simulated minute, so the limits per simulated minute are per real
	// second too.
	timeScale = 60
	// simLatency is the server's simulated time for a reply: 25 ms real.
	simLatency = 1500 * time.Millisecond
	// limitRPM is the request limit per simulated minute (real second).
	// With one request in ten faulted, the holds and the retries take
	// slots, and 32 rows at once reach about this on two cores (about
	// 1,100 requests per second without faults). The token limit is set
	// so that tokens would bind at tpmHeadroom times the request limit.
	limitRPM    = 300
	tpmHeadroom = 1.2
	// faultRate is the share of admitted requests that get a random
	// fault.
	faultRate = 0.10
	faultSeed = 1
	// requestTimeout ends the held replies; a normal reply takes
	// simLatency/timeScale, and far longer on a busy machine.
	requestTimeout = 2 * time.Second
	maxRetries     = 3
	// concurrency covers the latency, the held replies (a request timeout
	// each) and the waits between retries at the request limit.
	concurrency = 32
	// maxGoroutines bounds the goroutines, whatever the rows: each request
	// in flight has about 7 (the row's, the HTTP client's read and write
	// loops and its two for the timeout, the server's connection and
	// handler), and there are a few dozen besides.
	maxGoroutines = 8*concurrency + 50
	// maxReruns bounds the runs after the interrupted ones.
	maxReruns = 5
)

// interruptAt are the points at which the first three runs are cancelled.
var interruptAt = []float64{0.25, 0.50, 0.75}

var loadSource = sync.OnceValues(func() ([]testinput.Article, error) {
	return testinput.Load(filepath.Join("..", "..", "testdata", "articles.csv"))
})

var calibrated = sync.OnceValues(func() (soak.Calibration, error) {
	arts, err := loadSource()
	if err != nil {
		return soak.Calibration{}, err
	}
	dir, err := os.MkdirTemp("", "soak-calibration-*")
	if err != nil {
		return soak.Calibration{}, err
	}
	defer os.RemoveAll(dir)
	return soak.Calibrate(context.Background(), dir, arts)
})

// config is the soak of rows rows in dir.
func config(tb testing.TB, dir string, rows int) soak.Config {
	tb.Helper()
	arts, err := loadSource()
	if err != nil {
		tb.Fatal(err)
	}
	cal, err := calibrated()
	if err != nil {
		tb.Fatal(err)
	}
	return soak.Config{
		Dir:            dir,
		Source:         arts,
		Rows:           rows,
		RPM:            limitRPM,
		TPM:            int(tpmHeadroom * limitRPM * cal.TokensPerRequest),
		TimeScale:      timeScale,
		Latency:        simLatency / timeScale,
		FaultRate:      faultRate,
		FaultSeed:      faultSeed,
		RequestTimeout: requestTimeout,
		MaxRetries:     maxRetries,
		Concurrency:    concurrency,
		InterruptAt:    interruptAt,
		MaxReruns:      maxReruns,
		MaxGoroutines:  maxGoroutines,
		Logf:           tb.Logf,
		Logger:         debugLogger(tb),
	}
}

// debugLogger is the logger of -soak.log, or nil.
func debugLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	if *logPath == "" {
		return nil
	}
	f, err := os.Create(*logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestSoak is a small soak, so that every go test runs the harness: 300
// rows with the faults, limits and interruptions of BenchmarkSoak.
func TestSoak(t *testing.T) {
	rep, err := soak.Run(context.Background(), config(t, t.TempDir(), 300))
	if rep != nil {
		t.Log(rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Check(); err != nil {
		t.Fatal(err)
	}
	if got := rep.Interrupted(); got != len(interruptAt) {
		t.Errorf("%d runs interrupted, want %d", got, len(interruptAt))
	}
}

// BenchmarkSoak runs the pipeline over 20,000 rows against a server that
// faults one admitted request in ten and limits requests and tokens,
// cancelling the first runs at a quarter, half and three quarters of the
// rows and rerunning until no row is failed for a retryable reason:
//
//	go test -run '^$' -bench Soak -benchtime 1x ./internal/soak/
//
// Metrics: the final counts (rows, ok, skipped, failed by reason as
// failed-<reason>), the runs, 429-share (of all requests), paid-twice
// (prompts paid more than once for any reason), dup-paid (good replies
// paid beyond the first, for prompts of one row) and dup-bound (requests
// in flight at the interruptions, and attempts the client abandoned that
// the server did not hold), shared-dup-paid (the same, for prompts that
// two rows sent at once), peak-heap-MB and peak-goroutines over the whole
// soak, run-heap-MB (the largest peak of a run above the live heap it
// started with), wall-s.
func BenchmarkSoak(b *testing.B) {
	if testing.Short() {
		b.Skip("a few minutes; skipped in -short mode")
	}
	for range b.N {
		cfg := config(b, b.TempDir(), *benchRows)
		cfg.Logf = nil // the runs are in the report: a benchmark's log keeps ten lines
		rep, err := soak.Run(context.Background(), cfg)
		if rep != nil {
			b.Log(rep)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rep.Rows), "rows")
		b.ReportMetric(float64(rep.OK), "ok")
		b.ReportMetric(float64(rep.Skipped), "skipped")
		for reason, n := range rep.Failed {
			b.ReportMetric(float64(n), "failed-"+reason)
		}
		b.ReportMetric(float64(len(rep.Runs)), "runs")
		b.ReportMetric(float64(rep.Requests), "requests")
		b.ReportMetric(rep.Share429(), "429-share")
		b.ReportMetric(float64(rep.PaidTwice), "paid-twice")
		b.ReportMetric(float64(rep.DuplicateReplies), "dup-paid")
		b.ReportMetric(float64(rep.DuplicateBound), "dup-bound")
		b.ReportMetric(float64(rep.SharedDuplicates), "shared-dup-paid")
		b.ReportMetric(float64(rep.PeakHeap)/1e6, "peak-heap-MB")
		b.ReportMetric(float64(rep.PeakRunHeap)/1e6, "run-heap-MB")
		b.ReportMetric(float64(rep.PeakGoroutines), "peak-goroutines")
		b.ReportMetric(rep.Wall.Seconds(), "wall-s")
		if err := rep.Check(); err != nil {
			b.Fatal(err)
		}
	}
}
