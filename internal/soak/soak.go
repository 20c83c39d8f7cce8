// Package soak runs tarjama's whole pipeline over many rows against a
// faulty, rate-limited test server, the way a user runs it: jobs.Run with
// the real chat client (internal/llm), the state file (internal/state) and
// the real output writer, over rows made from the fixture articles
// (internal/testinput), against internal/fakeopenai with random faults
// (Options.FaultRate) and request and token limits on a sped-up clock.
//
// A soak cancels the run at set points, as a user pressing Ctrl-C does,
// and starts it again on the same state file and output directory; then it
// reruns until no row is failed for a reason a rerun can change (Retryable).
// It measures what a user relies on: every input row once in the final
// results, no successful request paid twice, memory and goroutines that do
// not grow with the rows. Report.Check turns these into errors.
//
//	go test -run '^$' -bench Soak -benchtime 1x ./internal/soak/
//
// runs the 20,000-row soak (a few minutes); TestSoak runs a 300-row one in
// every go test.
package soak

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/internal/testinput"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
	"github.com/tarjama/tarjama/prompts"
)

// DefaultMaxGoroutines is the Config.MaxGoroutines used when it is 0.
const DefaultMaxGoroutines = 200

// DefaultMaxRunHeap is the Config.MaxRunHeap used when it is 0.
const DefaultMaxRunHeap = 64e6

// leakSlack is how many more goroutines than before the first run Check
// lets the last leave behind.
const leakSlack = 5

// Config configures a soak. Limits are per simulated minute, times are
// real.
type Config struct {
	// Dir holds everything: the input, the state file and the outputs.
	Dir string
	// Source are the fixture articles; the input has Rows rows made of
	// them by testinput.Write.
	Source []testinput.Article
	Rows   int

	// RPM and TPM are the server's limits per simulated minute, and
	// TimeScale the simulated seconds per real second; the client is told
	// the same limits in real time (times TimeScale).
	RPM, TPM  int
	TimeScale float64
	// Latency is the server's time for every reply.
	Latency time.Duration
	// FaultRate and FaultSeed are the server's random faults.
	FaultRate float64
	FaultSeed int64

	// RequestTimeout bounds each HTTP attempt (it ends the held replies),
	// MaxRetries the retries after the first attempt, Concurrency the
	// rows done at once.
	RequestTimeout time.Duration
	MaxRetries     int
	Concurrency    int

	// InterruptAt are the points, as fractions of Rows, at which the
	// first runs are cancelled: run i is cancelled once it has written
	// InterruptAt[i]*Rows rows.
	InterruptAt []float64
	// MaxReruns bounds the runs after the interrupted ones.
	MaxReruns int
	// MaxGoroutines is the bound Check puts on the goroutines;
	// DefaultMaxGoroutines when 0. MaxRunHeap is the bound it puts on a
	// run's own heap (Report.PeakRunHeap); DefaultMaxRunHeap when 0.
	MaxGoroutines int
	MaxRunHeap    uint64

	// Logf, when set, gets a line per run.
	Logf func(format string, args ...any)
	// Logger, when set, is the pipeline's and the client's logger.
	Logger *slog.Logger
}

// RunReport is one run of a soak.
type RunReport struct {
	// Target is the rows written at which the run was to be cancelled;
	// 0 for a run left to finish.
	Target int
	// Interrupted reports that the run was cancelled before it finished.
	Interrupted bool
	// InFlight is the number of requests the server was handling when the
	// run was cancelled, and Drain the time from then until the run
	// returned.
	InFlight int
	Drain    time.Duration
	Summary  jobs.Summary
	// Retryable counts the rows written failed for a Retryable reason.
	Retryable int
	// PeakHeap and PeakGoroutines are the peaks sampled during the run,
	// and BaseHeap the live heap when it started (after a GC): what the
	// server and the soak's ledger hold, which grows with the prompts
	// paid, not the pipeline's. PeakHeap-BaseHeap is the run's own.
	BaseHeap       uint64
	PeakHeap       uint64
	PeakGoroutines int
	Wall           time.Duration
}

// Report is what a soak found.
type Report struct {
	Config Config
	Runs   []RunReport

	// Rows, OK, Skipped and Failed (by reason) count the final results
	// (results.csv of the last run).
	Rows, OK, Skipped int
	Failed            map[string]int
	// Problems lists what is wrong with the final results: rows missing,
	// repeated or unknown, a status or reason that should not be there.
	Problems []string

	// Requests counts the HTTP requests the server received, Status429
	// those answered 429 and Limited those of them sent by the rate
	// limits (the others are random faults). RandomFaults counts the
	// faults by kind.
	Requests, Status429, Limited int
	RandomFaults                 map[string]int

	// PaidPrompts counts the distinct prompts the server was paid for,
	// PaidTwice those paid more than once for any reason, and FaultPaid
	// the paid replies the client got but did not keep (a random fault
	// altered them: not English, refused, cut off).
	//
	// Duplicates counts the prompts of one row paid for more than one
	// good reply, and DuplicateReplies the good replies paid beyond the
	// first. A good reply can be paid for twice only when the client did
	// not get it: DuplicateBound is InFlight, the requests in flight at
	// the interruptions, plus Abandoned, the HTTP attempts the client gave
	// up on (its request timeout, or a cancelled run) less Held, those the
	// server never meant to answer (the "hold" fault).
	//
	// SharedDuplicates counts the good replies paid beyond the first for
	// prompts sent by more than one row: rows whose text has a part in
	// common (testinput's rows differ only at the end of the body, so the
	// first parts of a long article are the same in every copy of it), in
	// flight at once; the state file answers such a prompt only once a
	// reply is kept. KeyMismatches counts kept replies whose prompt the
	// server never saw paid: the soak's own key is then wrong.
	PaidPrompts, PaidTwice, FaultPaid            int
	Duplicates, DuplicateReplies, DuplicateBound int
	InFlight, Abandoned, Held                    int
	SharedDuplicates, KeyMismatches              int

	// PeakHeap (bytes of heap objects) and PeakGoroutines are sampled
	// every 10 ms over the whole soak, the server and the harness
	// included.
	PeakHeap       uint64
	PeakGoroutines int
	// LimiterWaits counts the HTTP attempts that waited for the client's
	// own rate limits (or a server's pause), LimiterWaited the time they
	// waited in all (llm.RateStats).
	LimiterWaits  int64
	LimiterWaited time.Duration
	// PeakRunHeap is the largest PeakHeap-BaseHeap of a run.
	PeakRunHeap uint64
	// GoroutinesBefore and GoroutinesAfter are the goroutines before the
	// first run and after the last (once its connections closed): a leak
	// shows as more after.
	GoroutinesBefore, GoroutinesAfter int
	// Wall is the real time of all the runs.
	Wall time.Duration
}

// Check returns an error that lists every broken promise: a problem with
// the final results, a row still failed for a retryable reason, a good
// reply paid twice beyond the interruptions' bound, a kept reply the server
// did not see paid, goroutines over the bound.
func (r *Report) Check() error {
	var errs []error
	for _, p := range r.Problems {
		errs = append(errs, errors.New(p))
	}
	if r.Rows != r.Config.Rows || r.OK+r.Skipped+sum(r.Failed) != r.Rows {
		errs = append(errs, fmt.Errorf("final results: %d rows (%d ok, %d skipped, %d failed), want %d",
			r.Rows, r.OK, r.Skipped, sum(r.Failed), r.Config.Rows))
	}
	for reason, n := range r.Failed {
		if Retryable(reason) {
			errs = append(errs, fmt.Errorf("final results: %d rows failed %s, which a rerun can change", n, reason))
		}
	}
	if r.DuplicateReplies > r.DuplicateBound {
		errs = append(errs, fmt.Errorf("%d good replies paid twice (%d prompts), over the bound of %d replies the client may not have got",
			r.DuplicateReplies, r.Duplicates, r.DuplicateBound))
	}
	if r.KeyMismatches > 0 {
		errs = append(errs, fmt.Errorf("%d kept replies have a prompt the server never saw paid", r.KeyMismatches))
	}
	if bound := r.Config.maxGoroutines(); r.PeakGoroutines > bound {
		errs = append(errs, fmt.Errorf("peak goroutines %d, over %d", r.PeakGoroutines, bound))
	}
	if bound := r.Config.maxRunHeap(); r.PeakRunHeap > bound {
		errs = append(errs, fmt.Errorf("a run's own heap peaked at %.1f MB, over %.1f MB", mb(r.PeakRunHeap), mb(bound)))
	}
	if r.GoroutinesAfter > r.GoroutinesBefore+leakSlack {
		errs = append(errs, fmt.Errorf("%d goroutines after the runs, %d before: a leak", r.GoroutinesAfter, r.GoroutinesBefore))
	}
	return errors.Join(errs...)
}

// String is the report in a few lines (a benchmark's log keeps only ten),
// each run on the second.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d rows, %d runs (%d interrupted), %.1fs: final results %d rows: %d ok, %d skipped, %d failed (%s)\n",
		r.Config.Rows, len(r.Runs), r.Interrupted(), r.Wall.Seconds(),
		r.Rows, r.OK, r.Skipped, sum(r.Failed), formatCounts(r.Failed))
	b.WriteString("runs:")
	for i, rr := range r.Runs {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " #%d %s, %.1fs, %d requests, %d cached, %d ok, %d failed (%d retryable), heap %.1f-%.1f MB, %d goroutines",
			i+1, runState(rr), rr.Wall.Seconds(), rr.Summary.Requests, rr.Summary.Cached, rr.Summary.OK, rr.Summary.Failed,
			rr.Retryable, mb(rr.BaseHeap), mb(rr.PeakHeap), rr.PeakGoroutines)
	}
	fmt.Fprintf(&b, "\nrequests: %d, 429: %d (%.2f%%; %d from the limits, %d faults); the client waited for its own limits %d times, %.1fs in all\n",
		r.Requests, r.Status429, 100*r.Share429(), r.Limited, r.Status429-r.Limited, r.LimiterWaits, r.LimiterWaited.Seconds())
	fmt.Fprintf(&b, "random faults: %d (%s)\n", sum(r.RandomFaults), formatCounts(r.RandomFaults))
	fmt.Fprintf(&b, "paid: %d prompts, %d paid more than once, %d faulty replies paid; good replies paid twice: %d (%d prompts), bound %d (%d in flight at the interruptions + %d attempts abandoned - %d held); shared prompts paid twice: %d; key mismatches: %d\n",
		r.PaidPrompts, r.PaidTwice, r.FaultPaid, r.DuplicateReplies, r.Duplicates, r.DuplicateBound,
		r.InFlight, r.Abandoned, r.Held, r.SharedDuplicates, r.KeyMismatches)
	fmt.Fprintf(&b, "peak heap %.1f MB (a run's own: %.1f MB, bound %.1f MB), peak goroutines %d (bound %d), goroutines %d before the runs and %d after",
		mb(r.PeakHeap), mb(r.PeakRunHeap), mb(r.Config.maxRunHeap()),
		r.PeakGoroutines, r.Config.maxGoroutines(), r.GoroutinesBefore, r.GoroutinesAfter)
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, "\n%d problems: %s", len(r.Problems), strings.Join(r.Problems, "; "))
	}
	return b.String()
}

// Interrupted counts the runs that were cancelled.
func (r *Report) Interrupted() int {
	n := 0
	for _, rr := range r.Runs {
		if rr.Interrupted {
			n++
		}
	}
	return n
}

// Share429 is the share of the requests answered 429.
func (r *Report) Share429() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Status429) / float64(r.Requests)
}

func (c Config) maxRunHeap() uint64 {
	if c.MaxRunHeap > 0 {
		return c.MaxRunHeap
	}
	return DefaultMaxRunHeap
}

func (c Config) maxGoroutines() int {
	if c.MaxGoroutines > 0 {
		return c.MaxGoroutines
	}
	return DefaultMaxGoroutines
}

func (c Config) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Retryable reports whether a row failed for reason may be done by a rerun:
// the run was interrupted, or the request still failed after its retries
// for a reason that passes (rate limit, server error, timeout, dropped
// connection, broken reply). A reply the row's checks refused (refused,
// not_english, truncated, ...) is an outcome, not retryable.
func Retryable(reason string) bool {
	switch reason {
	case "interrupted", llm.ReasonTimeout, llm.ReasonConnection, llm.ReasonInvalidReply, "http_429":
		return true
	}
	return strings.HasPrefix(reason, "http_5")
}

// finalReasons are the reasons a row may keep in the final results: the
// checks of the pipeline refused every reply it got.
var finalReasons = []string{
	"refused", "not_english", "truncated", "too_short",
	"invalid_translation", "empty_translation", "invalid_summary",
}

// Run runs a soak and reports what it found. It fails only when the soak
// cannot go on (a run that returns an error, a state file that does not
// open, more reruns than MaxReruns); what Check looks at is left to it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Rows <= 0 || len(cfg.Source) == 0 || cfg.Dir == "" {
		return nil, errors.New("soak: no rows, source or directory")
	}
	input := filepath.Join(cfg.Dir, "articles.csv")
	if err := testinput.Write(input, cfg.Source, cfg.Rows); err != nil {
		return nil, fmt.Errorf("write input: %w", err)
	}
	set, err := prompts.Load("")
	if err != nil {
		return nil, err
	}
	srv := fakeopenai.New(fakeopenai.Options{
		RPM: cfg.RPM, TPM: cfg.TPM, TimeScale: cfg.TimeScale,
		Latency:   cfg.Latency,
		FaultRate: cfg.FaultRate, FaultSeed: cfg.FaultSeed,
		NoRecord: true,
	})
	defer srv.Close()

	s := &soak{
		cfg:    cfg,
		srv:    srv,
		prompt: set,
		input:  input,
		state:  filepath.Join(cfg.Dir, "state.db"),
		out:    filepath.Join(cfg.Dir, "out"),
		ledger: newLedger(),
		rep:    &Report{Config: cfg},
	}
	smp := startSampler()
	s.rep.GoroutinesBefore = runtime.NumGoroutine()
	start := time.Now()
	err = s.runAll(ctx, smp)
	s.rep.Wall = time.Since(start)
	if err != nil {
		smp.stop()
		return s.rep, err
	}
	if err := srv.WaitIdle(ctx); err != nil {
		smp.stop()
		return s.rep, err
	}
	s.rep.GoroutinesAfter = settledGoroutines(s.rep.GoroutinesBefore + leakSlack)
	s.rep.PeakHeap, s.rep.PeakGoroutines = smp.stop()
	s.account()
	if err := s.readResults(); err != nil {
		return s.rep, err
	}
	return s.rep, nil
}

// soak is one soak in progress.
type soak struct {
	cfg               Config
	srv               *fakeopenai.Server
	prompt            *prompts.Set
	input, state, out string
	ledger            *ledger
	rep               *Report
}

// runAll does the interrupted runs, then the reruns.
func (s *soak) runAll(ctx context.Context, smp *sampler) error {
	for _, f := range s.cfg.InterruptAt {
		target := max(1, int(f*float64(s.cfg.Rows)))
		if _, err := s.runOnce(ctx, smp, target); err != nil {
			return err
		}
	}
	for n := 0; ; n++ {
		if n > s.cfg.MaxReruns {
			return fmt.Errorf("soak: rows still failed for a retryable reason after %d reruns", s.cfg.MaxReruns)
		}
		rr, err := s.runOnce(ctx, smp, 0)
		if err != nil {
			return err
		}
		if rr.Retryable == 0 {
			return nil
		}
	}
}

// runOnce does one run on the state file, as a user's command does: a new
// client, the state file opened, the outputs replaced. With target > 0 the
// run is cancelled once it has written target rows.
func (s *soak) runOnce(ctx context.Context, smp *sampler, target int) (RunReport, error) {
	rr := RunReport{Target: target}
	st, err := state.Open(ctx, s.state, state.Options{})
	if err != nil {
		return rr, err
	}
	// A transport of the run's own, closed with it, as the process of a
	// real run would end: idle connections do not outlive their run.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(64, s.cfg.Concurrency)
	defer tr.CloseIdleConnections()
	rt := &abandonTransport{base: tr, n: &s.ledger.abandoned}
	client, err := llm.New(llm.Config{
		BaseURL:        s.srv.URL(),
		Model:          fakeopenai.ModelID,
		RPM:            int(float64(s.cfg.RPM) * s.cfg.TimeScale),
		TPM:            int(float64(s.cfg.TPM) * s.cfg.TimeScale),
		EstimatePrompt: estimatePrompt,
		RequestTimeout: s.cfg.RequestTimeout,
		MaxRetries:     s.cfg.MaxRetries,
		HTTPClient:     &http.Client{Transport: rt},
		Logger:         s.cfg.Logger,
	})
	if err != nil {
		st.Close()
		return rr, err
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	progress := &jobs.Progress{}
	// The user's Ctrl-C: once the progress shows target rows done. It is
	// checked as each row is written, so that no row slips past it.
	var cancelled time.Time
	t := tally{onRow: func() {
		if target > 0 && cancelled.IsZero() && progress.Snapshot().Rows >= int64(target) {
			rr.InFlight = s.srv.InFlight()
			cancelled = time.Now()
			cancel()
		}
	}}
	runtime.GC()
	rr.BaseHeap = liveHeap()
	smp.resetRun()
	start := time.Now()
	opts := jobs.Options{
		Path:        s.input,
		Name:        filepath.Base(s.input),
		Model:       fakeopenai.ModelID,
		KeyPoints:   jobs.DefaultKeyPoints,
		Concurrency: s.cfg.Concurrency,
		// What the command sets.
		ReplyRetries: jobs.DefaultReplyRetries,
		Prompts:      s.prompt,
		Store:        keepingStore{Store: st, l: s.ledger},
		Progress:     progress,
		Logger:       s.cfg.Logger,
	}
	c := countingCompleter{c: client, l: s.ledger}
	sum, runErr := jobs.Run(runCtx, opts, c, func(columns []string) (jobs.Sink, error) {
		w, err := output.Open(output.Options{Dir: s.out, Formats: []string{"csv"}, Columns: columns})
		if err != nil {
			return nil, err
		}
		return &tallySink{Sink: w, t: &t}, nil
	})
	rr.Wall = time.Since(start)
	if !cancelled.IsZero() {
		rr.Drain = time.Since(cancelled)
	}
	if err := st.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close the state file: %w", err)
	}
	rr.PeakHeap, rr.PeakGoroutines = smp.runPeaks()
	rs := client.RateStats()
	s.rep.LimiterWaits += rs.Waits
	s.rep.LimiterWaited += rs.Waited
	if rr.PeakHeap > rr.BaseHeap {
		s.rep.PeakRunHeap = max(s.rep.PeakRunHeap, rr.PeakHeap-rr.BaseHeap)
	}
	rr.Summary, rr.Interrupted, rr.Retryable = sum, sum.Interrupted, t.retryable
	s.rep.Runs = append(s.rep.Runs, rr)
	if rr.Interrupted {
		s.rep.InFlight += rr.InFlight
	}
	s.cfg.logf("run %d: %s; %d rows: %d ok, %d skipped, %d failed (%d retryable: %s), %d cached; %d requests, %d retries; %.1fs, heap %.1f MB at the start, peak %.1f MB, peak goroutines %d",
		len(s.rep.Runs), runState(rr), sum.Rows, sum.OK, sum.Skipped, sum.Failed, t.retryable, formatCounts(t.failed),
		sum.Cached, sum.Requests, sum.Retries, rr.Wall.Seconds(), mb(rr.BaseHeap), mb(rr.PeakHeap), rr.PeakGoroutines)
	if runErr != nil {
		return rr, fmt.Errorf("run %d: %w", len(s.rep.Runs), runErr)
	}
	if !sum.Written {
		return rr, fmt.Errorf("run %d: the outputs were not written", len(s.rep.Runs))
	}
	return rr, nil
}

func runState(rr RunReport) string {
	switch {
	case rr.Interrupted:
		return fmt.Sprintf("interrupted at %d rows with %d requests in flight, drained in %.1fs", rr.Target, rr.InFlight, rr.Drain.Seconds())
	case rr.Target > 0:
		return fmt.Sprintf("done before the interrupt at %d rows", rr.Target)
	}
	return "done"
}

// account works out the requests and what was paid, from the server's
// counters and the client's ledger.
func (s *soak) account() {
	st := s.srv.Stats()
	s.rep.Requests = st.Requests
	s.rep.Status429 = st.ByStatus[http.StatusTooManyRequests]
	s.rep.Limited = st.LimitedRequests + st.LimitedTokens
	s.rep.RandomFaults = st.RandomFaults

	paid := s.srv.Paid()
	l := s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	s.rep.Abandoned = int(l.abandoned.Load())
	s.rep.Held = st.RandomFaults["hold"]
	s.rep.DuplicateBound = s.rep.InFlight + max(0, s.rep.Abandoned-s.rep.Held)
	s.rep.PaidPrompts = len(paid)
	for hexKey, n := range paid {
		k, ok := decodeKey(hexKey)
		if !ok {
			continue
		}
		if n > 1 {
			s.rep.PaidTwice++
		}
		e := l.m[k]
		faulted := int(e.received - e.kept)
		s.rep.FaultPaid += faulted
		switch good := n - faulted; {
		case good <= 1:
		case e.shared:
			s.rep.SharedDuplicates += good - 1
		default:
			s.rep.Duplicates++
			s.rep.DuplicateReplies += good - 1
		}
	}
	for k, e := range l.m {
		if _, ok := paid[hex.EncodeToString(k[:])]; e.kept > 0 && !ok {
			s.rep.KeyMismatches++
		}
	}
}

// readResults reads the final results.csv and checks that every input row
// is in it once, with status ok and no error, or failed or skipped with a
// reason.
func (s *soak) readResults() error {
	f, err := os.Open(filepath.Join(s.out, "results.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("results.csv: %w", err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[strings.TrimPrefix(name, "\ufeff")] = i
	}
	for _, name := range []string{"id", "status", "error"} {
		if _, ok := col[name]; !ok {
			return fmt.Errorf("results.csv: no %q column in %q", name, header)
		}
	}
	want := make(map[string]int, s.cfg.Rows) // id -> row
	for n := 1; n <= s.cfg.Rows; n++ {
		want[rowID(s.cfg.Source, n)] = n
	}
	seen := make([]bool, s.cfg.Rows+1)
	rep := s.rep
	rep.Failed = map[string]int{}
	problem := func(format string, args ...any) {
		if len(rep.Problems) < 20 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		} else if len(rep.Problems) == 20 {
			rep.Problems = append(rep.Problems, "... and more")
		}
	}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("results.csv: %w", err)
		}
		rep.Rows++
		id, status, msg := rec[col["id"]], rec[col["status"]], rec[col["error"]]
		n, ok := want[id]
		switch {
		case !ok:
			problem("results.csv: unknown id %q", id)
			continue
		case seen[n]:
			problem("results.csv: row %d (id %s) more than once", n, id)
			continue
		}
		seen[n] = true
		reason, _, _ := strings.Cut(msg, ":")
		switch jobs.Status(status) {
		case jobs.StatusOK:
			rep.OK++
			if msg != "" {
				problem("results.csv: row %d is ok with the error %q", n, msg)
			}
		case jobs.StatusSkipped:
			rep.Skipped++
			if msg == "" {
				problem("results.csv: row %d is skipped with no reason", n)
			}
		case jobs.StatusFailed:
			rep.Failed[reason]++
			switch {
			case msg == "" || reason == msg:
				problem("results.csv: row %d failed with no reason: %q", n, msg)
			case !Retryable(reason) && !slices.Contains(finalReasons, reason):
				problem("results.csv: row %d failed for an unexpected reason: %q", n, msg)
			}
		default:
			problem("results.csv: row %d has status %q", n, status)
		}
	}
	missing := 0
	for n := 1; n <= s.cfg.Rows; n++ {
		if !seen[n] {
			if missing < 5 {
				problem("results.csv: row %d (id %s) missing", n, rowID(s.cfg.Source, n))
			}
			missing++
		}
	}
	if missing > 0 {
		problem("results.csv: %d rows missing", missing)
	}
	return nil
}

// rowID is the id testinput.Write gives row n.
func rowID(source []testinput.Article, n int) string {
	return source[(n-1)%len(source)].ID + "-" + strconv.Itoa(n)
}

// --- What the client got, what it kept ---

// ledger counts, by the server's key of the prompt (fakeopenai.PaidKey),
// the replies the client got and the ones the pipeline kept as good, and
// the HTTP attempts the client abandoned. Keys are kept as bytes, so that
// the ledger costs little memory per prompt.
type ledger struct {
	mu        sync.Mutex
	m         map[[32]byte]entry
	abandoned atomic.Int64
}

// entry is what the ledger knows of one prompt.
type entry struct {
	received, kept int32
	row            int32 // the first row that sent it
	shared         bool  // another row sent it too
}

func newLedger() *ledger { return &ledger{m: map[[32]byte]entry{}} }

// sent notes that the row of req sends it.
func (l *ledger) sent(req jobs.Request) {
	k, row := requestKey(req), rowOf(req.ArticleID)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[k]
	switch {
	case !ok:
		e.row = row
	case e.row != row:
		e.shared = true
	}
	l.m[k] = e
}

// got counts a reply to req: received by the client, or kept as good.
func (l *ledger) got(req jobs.Request, kept bool) {
	k := requestKey(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[k]
	if kept {
		e.kept++
	} else {
		e.received++
	}
	l.m[k] = e
}

// rowOf returns the row of an id made by testinput.Write ("<id>-<row>").
func rowOf(id string) int32 {
	n, _ := strconv.Atoi(id[strings.LastIndexByte(id, '-')+1:])
	return int32(n)
}

// abandonTransport counts the attempts whose request context ended before
// a reply came: the client timed out, or the run was cancelled.
type abandonTransport struct {
	base *http.Transport
	n    *atomic.Int64
}

func (t *abandonTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		// The HTTP client's timeout cancels the request through a
		// channel as its context's deadline passes: either may be seen
		// first.
		deadline, ok := req.Context().Deadline()
		if req.Context().Err() != nil || ok && !time.Now().Before(deadline) {
			t.n.Add(1)
		}
	}
	return resp, err
}

// requestKey is the server's key of req in Paid.
func requestKey(req jobs.Request) [32]byte {
	k, _ := decodeKey(fakeopenai.PaidKey(req.Model, messages(req)))
	return k
}

func decodeKey(s string) (k [32]byte, ok bool) {
	n, err := hex.Decode(k[:], []byte(s))
	return k, err == nil && n == len(k)
}

func messages(req jobs.Request) []fakeopenai.Message {
	msgs := make([]fakeopenai.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = fakeopenai.Message{Role: m.Role, Content: m.Content}
	}
	return msgs
}

// estimatePrompt counts a request's prompt tokens as the test server does.
func estimatePrompt(req jobs.Request) int { return fakeopenai.PromptTokens(messages(req)) }

// countingCompleter counts the replies the client returns.
type countingCompleter struct {
	c jobs.Completer
	l *ledger
}

func (c countingCompleter) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	c.l.sent(req)
	reply, err := c.c.Complete(ctx, req)
	if err == nil {
		c.l.got(req, false)
	}
	return reply, err
}

// keepingStore counts the replies the pipeline keeps as good: every reply
// it stores but those cut off by the token limit, which it keeps only so
// that a rerun does not pay for them again.
type keepingStore struct {
	jobs.Store
	l *ledger
}

func (s keepingStore) PutReply(ctx context.Context, key string, req jobs.Request, reply jobs.Reply) error {
	err := s.Store.PutReply(ctx, key, req, reply)
	if err == nil && reply.FinishReason != "length" {
		s.l.got(req, true)
	}
	return err
}

// --- What a run wrote ---

// tally counts the results a run wrote; onRow is called after each.
type tally struct {
	ok, skipped, retryable int
	failed                 map[string]int
	onRow                  func()
}

// tallySink counts the results on their way to the outputs.
type tallySink struct {
	jobs.Sink
	t *tally
}

func (s *tallySink) Write(r jobs.Result) error {
	switch r.Status {
	case jobs.StatusOK:
		s.t.ok++
	case jobs.StatusSkipped:
		s.t.skipped++
	default:
		reason, _, _ := strings.Cut(r.Error, ":")
		if s.t.failed == nil {
			s.t.failed = map[string]int{}
		}
		s.t.failed[reason]++
		if Retryable(reason) {
			s.t.retryable++
		}
	}
	err := s.Sink.Write(r)
	s.t.onRow()
	return err
}

// --- Peaks ---

// sampler samples the heap and the goroutines every 10 ms, keeping the
// peaks of the whole soak and of the current run.
type sampler struct {
	done   chan struct{}
	result chan struct{}

	mu                 sync.Mutex
	heap, runHeap      uint64
	goroutines, runGor int
}

const (
	heapObjects = "/memory/classes/heap/objects:bytes"
	goroutines  = "/sched/goroutines:goroutines"
)

func startSampler() *sampler {
	s := &sampler{done: make(chan struct{}), result: make(chan struct{})}
	samples := []metrics.Sample{{Name: heapObjects}, {Name: goroutines}}
	read := func() {
		metrics.Read(samples)
		h, g := samples[0].Value.Uint64(), int(samples[1].Value.Uint64())
		s.mu.Lock()
		s.heap, s.goroutines = max(s.heap, h), max(s.goroutines, g)
		s.runHeap, s.runGor = max(s.runHeap, h), max(s.runGor, g)
		s.mu.Unlock()
	}
	read()
	go func() {
		defer close(s.result)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				read()
			case <-s.done:
				read()
				return
			}
		}
	}()
	return s
}

// liveHeap returns the bytes of heap objects now: the live heap right
// after a GC.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// resetRun starts the peaks of a new run.
func (s *sampler) resetRun() {
	s.mu.Lock()
	s.runHeap, s.runGor = 0, 0
	s.mu.Unlock()
}

// runPeaks returns the peaks since resetRun.
func (s *sampler) runPeaks() (uint64, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runHeap, s.runGor
}

// stop ends the sampling and returns the peaks of the whole soak.
func (s *sampler) stop() (uint64, int) {
	close(s.done)
	<-s.result
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heap, s.goroutines
}

// settledGoroutines returns the goroutines once they are at most want, or
// after a second: the server's side of a closed connection takes a moment
// to notice.
func settledGoroutines(want int) int {
	deadline := time.Now().Add(time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// --- Calibration ---

// Calibration is what a row costs on average, measured by Calibrate.
type Calibration struct {
	RequestsPerRow   float64
	TokensPerRequest float64 // charged: prompt plus max_tokens
}

// Calibrate runs the source articles once, without limits, faults or a
// state file, and measures their requests and the tokens charged, so that
// a soak can set a token limit that binds as hard as its request limit.
func Calibrate(ctx context.Context, dir string, source []testinput.Article) (Calibration, error) {
	path := filepath.Join(dir, "calibration.csv")
	if err := testinput.Write(path, source, len(source)); err != nil {
		return Calibration{}, err
	}
	set, err := prompts.Load("")
	if err != nil {
		return Calibration{}, err
	}
	srv := fakeopenai.New(fakeopenai.Options{NoRecord: true})
	defer srv.Close()
	client, err := llm.New(llm.Config{BaseURL: srv.URL(), Model: fakeopenai.ModelID})
	if err != nil {
		return Calibration{}, err
	}
	opts := jobs.Options{Path: path, Name: filepath.Base(path), Model: fakeopenai.ModelID, Prompts: set}
	out := filepath.Join(dir, "calibration")
	sum, err := jobs.Run(ctx, opts, client, func(columns []string) (jobs.Sink, error) {
		return output.Open(output.Options{Dir: out, Formats: []string{"csv"}, Columns: columns})
	})
	if err != nil {
		return Calibration{}, err
	}
	if sum.OK != len(source) {
		return Calibration{}, fmt.Errorf("calibration run: %d of %d rows ok", sum.OK, len(source))
	}
	st := srv.Stats()
	return Calibration{
		RequestsPerRow:   float64(st.Charged) / float64(len(source)),
		TokensPerRequest: float64(st.ChargedTokens) / float64(st.Charged),
	}, nil
}

// --- Formatting ---

func mb(b uint64) float64 { return float64(b) / 1e6 }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// formatCounts writes counts as "a 3, b 1", largest first; "none" when
// empty.
func formatCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
