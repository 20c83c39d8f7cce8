package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/prompts"
)

// Defaults for Options fields left at their zero value.
const (
	DefaultModel        = "gpt-4.1-mini"
	DefaultKeyPoints    = 5
	DefaultConcurrency  = 8
	DefaultGrace        = 30 * time.Second
	DefaultReplyRetries = 1
)

// Options configures one run.
type Options struct {
	// Path is the input file to read (standard input is spooled to a file
	// first, see SpoolStdin); Name is how messages call it.
	Path string
	Name string
	InputOptions

	Model        string // model for the translation
	SummaryModel string // model for the key points; "" = Model
	KeyPoints    int
	Concurrency  int
	// MaxChunkTokens is the estimated size above which a body is split and
	// translated in pieces (see Split); DefaultMaxChunkTokens when 0.
	MaxChunkTokens int
	Prompts        *prompts.Set
	// Glossary, when set, gives the model the English forms of the names
	// and terms found in each part, and the translation is checked for
	// them (Summary.GlossaryMisses).
	Glossary *glossary.Glossary

	// ReplyRetries is how many times a reply that fails its checks (not
	// English, unparseable, refused) is asked for again before the row fails.
	ReplyRetries int
	// Grace bounds the wait for requests in flight once ctx is cancelled.
	Grace time.Duration
	// Abort, when closed, cancels the requests in flight at once (a second
	// Ctrl-C).
	Abort <-chan struct{}

	// MaxCost, when positive, is the --max-cost fuse in US dollars: no row
	// starts when the cost so far plus the rows in flight would pass it.
	// Both models must have a price in Prices.
	MaxCost float64
	// Prices is the price table for costs; DefaultPrices when nil.
	Prices Prices

	// Store, when set, keeps every checked reply and every row's outcome:
	// a request found in it is not sent again.
	Store Store
	// OpenStore, when set and Store is not, opens the Store once the input
	// has passed its check (so that a bad input leaves nothing behind). The
	// caller closes it.
	OpenStore func(context.Context) (Store, error)
	// Force ignores the replies in the Store (and replaces them).
	Force bool
	// KeepFailed writes a row that failed in an earlier run with that
	// failure instead of trying it again (--retry-failed=false).
	KeepFailed bool

	// Progress, when set, is kept up to date as rows are done.
	Progress *Progress

	Logger *slog.Logger
	Now    func() time.Time
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = o.Path
	}
	if o.Model == "" {
		o.Model = DefaultModel
	}
	if o.SummaryModel == "" {
		o.SummaryModel = o.Model
	}
	if o.KeyPoints <= 0 {
		o.KeyPoints = DefaultKeyPoints
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.MaxChunkTokens <= 0 {
		o.MaxChunkTokens = DefaultMaxChunkTokens
	}
	if o.ReplyRetries < 0 {
		o.ReplyRetries = 0
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Progress == nil {
		o.Progress = &Progress{}
	}
	if o.Prices == nil {
		o.Prices = DefaultPrices()
	}
}

// Summary is the closing account of a run.
type Summary struct {
	Rows, OK, Skipped, Failed int
	// Cached counts rows answered without a request of their own: from the
	// state file, or the same article as an earlier row.
	Cached int
	// Requests counts HTTP requests sent; Retries those that repeated an
	// earlier one.
	Requests, Retries int
	// Usage counts the tokens paid for in this run (replies found in the
	// state file are not paid again), and Cost their cost at the price
	// table; CostKnown is false when a model has no price.
	Usage     Usage
	Cost      float64
	CostKnown bool
	Elapsed   time.Duration
	// Interrupted reports that the run was cancelled before every row was
	// done; the rows not done are failed with reason "interrupted".
	Interrupted bool
	// Written reports that the outputs were replaced by this run's.
	Written bool
	// BudgetReached reports that --max-cost stopped the run: the rows not
	// started failed with reason "budget".
	BudgetReached bool
	// Stopped is why the run stopped early (a rejected key, exhausted
	// quota: Run's error wraps ErrStopped), or "".
	Stopped string
	// GlossaryTerms counts the glossary entries found in the articles
	// translated, and GlossaryMisses those their translation did not use.
	GlossaryTerms, GlossaryMisses int
	// FailedRows are the first MaxFailedRows failed rows, in input order
	// (rows not done because the run was interrupted, stopped or over
	// budget included), and FailedMore counts the failed rows after them.
	FailedRows []FailedRow
	FailedMore int
	// Started is when the run started; it ended Elapsed later.
	Started time.Time
	// Model and SummaryModel are the models of the two steps.
	Model, SummaryModel string
}

// ErrStopped wraps the error that stopped a run early (a rejected key,
// exhausted quota); the outputs were still written.
var ErrStopped = errors.New("run stopped")

// Run reads the input, checks all of it before any request, then translates
// and summarizes every article with c and writes one result per input row,
// in input order, to the sink that openSink returns for the input's
// carried-through columns.
//
// A row that fails is data: it is written with its reason and the run goes
// on. Run returns an error only when nothing could be done (bad input, an
// output that cannot be written) or when the run had to stop (the error
// wraps ErrStopped; outputs are written for what was done).
func Run(ctx context.Context, opts Options, c Completer, openSink func(columns []string) (Sink, error)) (Summary, error) {
	opts.setDefaults()
	start := opts.Now()
	if opts.Prompts == nil {
		return Summary{}, errors.New("run: no prompt templates")
	}
	if opts.MaxCost > 0 {
		for _, m := range []string{opts.Model, opts.SummaryModel} {
			if _, ok := opts.Prices.Cost(m, Usage{}); !ok {
				return Summary{}, fmt.Errorf("--max-cost needs a price, and tarjama knows none for model %q (it knows %s; give one with --prices FILE)", m, opts.Prices.Models())
			}
		}
	}
	in, err := openPath(opts.Path)
	if err != nil {
		return Summary{}, err
	}
	info, err := CheckInput(ctx, opts.Name, in, opts.InputOptions)
	in.Close()
	if err != nil {
		return Summary{}, err
	}
	opts.Progress.total.Store(int64(info.Rows))
	if opts.Store == nil && opts.OpenStore != nil {
		if opts.Store, err = opts.OpenStore(ctx); err != nil {
			return Summary{}, err
		}
	}
	sink, err := openSink(info.Columns)
	if err != nil {
		return Summary{}, fmt.Errorf("open outputs: %w", err)
	}
	r := newRunner(ctx, opts, c, info)
	defer r.stopWork()
	sum, runErr := r.run(ctx, sink)
	sum.Started, sum.Elapsed = start, opts.Now().Sub(start)
	sum.Model, sum.SummaryModel = opts.Model, opts.SummaryModel
	// A run that stopped before any reply came did nothing worth keeping:
	// the previous outputs stay as they were.
	if runErr != nil && (!errors.Is(runErr, ErrStopped) || !r.reached.Load()) {
		if aerr := sink.Abort(); aerr != nil {
			opts.Logger.Error("discard unfinished outputs", "err", aerr)
		}
		return sum, runErr
	}
	if err := sink.Close(); err != nil {
		return sum, fmt.Errorf("write outputs: %w", err)
	}
	sum.Written = true
	return sum, runErr
}

// future is the result of one row, filled once by whoever does the row.
type future struct {
	art  Article
	sha  string
	done chan struct{}
	res  Result
	// copyOf is the row whose result this row repeats (same article), or 0.
	copyOf int
	// stored reports that the result came from the store at no cost.
	stored bool
}

func (f *future) set(r Result) {
	f.res = r
	close(f.done)
}

type runner struct {
	opts    Options
	c       Completer
	info    *InputSummary
	version string

	// workCtx carries the requests; it outlives the run's ctx by at most
	// opts.Grace, so that requests in flight can finish after Ctrl-C.
	workCtx  context.Context
	stopWork context.CancelFunc

	// reached is set by the first reply: from then on, a connection error
	// fails its row instead of stopping the run.
	reached atomic.Bool

	// budget is nil without --max-cost.
	budget *budget

	mu          sync.Mutex
	paidUsage   Usage   // replies paid for in this run
	paidCost    float64 // and their cost
	unpricedPay bool    // a paid reply's model has no price
	stopErr     error   // first fatal error
	requests    int
	retries     int

	glossaryTerms, glossaryMisses int

	// inflight bounds the requests in flight to Concurrency.
	inflight chan struct{}
}

func newRunner(ctx context.Context, opts Options, c Completer, info *InputSummary) *runner {
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	r := &runner{opts: opts, c: c, info: info, workCtx: workCtx, stopWork: stopWork,
		inflight: make(chan struct{}, opts.Concurrency)}
	r.version = promptVersion(opts)
	if opts.MaxCost > 0 {
		r.budget = newBudget(opts.MaxCost, opts.Prices)
	}
	go func() {
		select {
		case <-workCtx.Done():
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(opts.Grace)
		defer t.Stop()
		select {
		case <-t.C:
		case <-opts.Abort:
		case <-workCtx.Done():
		}
		stopWork()
	}()
	return r
}

// promptVersion hashes everything that shapes a reply besides the article:
// the templates, the models and the options.
func promptVersion(o Options) string {
	h := sha256.New()
	fmt.Fprintf(h, "templates=%s\nmodel=%s\nsummary_model=%s\nkey_points=%d\nmax_chunk_tokens=%d\n",
		o.Prompts.Version(), o.Model, o.SummaryModel, o.KeyPoints, o.MaxChunkTokens)
	if o.Glossary != nil {
		fmt.Fprintf(h, "glossary=%s\n", o.Glossary.Hash())
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// inputSHA256 identifies an article by its title and body.
func inputSHA256(a Article) string {
	h := sha256.New()
	io.WriteString(h, a.Title)
	h.Write([]byte{0})
	io.WriteString(h, a.Body)
	return hex.EncodeToString(h.Sum(nil))
}

// run is the pipeline: one reader feeds the dispatcher, which starts at most
// Concurrency rows at a time and queues each row's future in input order; the
// writer takes the futures in that order and hands the results to the sink.
// The queue is bounded, so memory does not grow with the input.
func (r *runner) run(ctx context.Context, sink Sink) (Summary, error) {
	window := 16 * r.opts.Concurrency
	if window < 64 {
		window = 64
	}
	queue := make(chan *future, window)
	slots := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup

	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		firstSHA := map[int]string{} // rows that later rows repeat
		err := r.readAll(func(a Article) error {
			f := &future{art: a, sha: inputSHA256(a), done: make(chan struct{})}
			if first, ok := r.info.SameAs(a.Row); ok && firstSHA[first] == f.sha {
				f.copyOf = first
				close(f.done)
			} else {
				if r.info.Copies(a.Row) > 0 {
					firstSHA[a.Row] = f.sha
				}
				r.dispatch(ctx, f, slots, &wg)
			}
			queue <- f // bounded: waits for the writer
			return nil
		})
		readErr <- err
	}()

	sum, writeErr := r.collect(queue, sink)
	if writeErr != nil {
		// The outputs cannot be written: no row starts after this, and the
		// ones queued are dropped. The requests in flight finish, as after
		// Ctrl-C, so that the replies already paid for are kept.
		r.stop(writeErr)
		for range queue {
		}
	}
	wg.Wait()
	if err := <-readErr; err != nil && writeErr == nil {
		writeErr = err
	}
	r.mu.Lock()
	sum.Requests, sum.Retries, sum.Usage = r.requests, r.retries, r.paidUsage
	sum.Cost, sum.CostKnown = r.paidCost, !r.unpricedPay
	sum.GlossaryTerms, sum.GlossaryMisses = r.glossaryTerms, r.glossaryMisses
	stopErr := r.stopErr
	r.mu.Unlock()
	sum.Interrupted = ctx.Err() != nil && stopErr == nil
	if stopErr != nil {
		sum.Stopped = stopErr.Error()
	}
	if r.budget != nil {
		sum.BudgetReached = r.budget.blown
	}
	if writeErr != nil {
		return sum, writeErr
	}
	if stopErr != nil {
		return sum, fmt.Errorf("%w: %w", ErrStopped, stopErr)
	}
	return sum, nil
}

// readAll streams the input again (it was checked by CheckInput).
func (r *runner) readAll(fn func(Article) error) error {
	in, err := openPath(r.opts.Path)
	if err != nil {
		return err
	}
	defer in.Close()
	// The input is read to the end even after an interrupt, so that every
	// row gets a record; reading is cheap next to the requests.
	return ReadInput(context.Background(), r.opts.Name, in, r.opts.InputOptions, fn)
}

// dispatch fills f at once when the row needs no request (skipped, or the
// run is stopping), and otherwise starts it when a slot is free.
func (r *runner) dispatch(ctx context.Context, f *future, slots chan struct{}, wg *sync.WaitGroup) {
	base := r.baseResult(f)
	p := prepare(f.art, &r.opts)
	if res, skip := skipReason(p, base); skip {
		f.set(res)
		return
	}
	if err := r.stopping(ctx); err != nil {
		f.set(fail(base, err.reason, err.msg))
		return
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		e := r.stopping(ctx)
		f.set(fail(base, e.reason, e.msg))
		return
	}
	if e := r.stopping(ctx); e != nil {
		<-slots
		f.set(fail(base, e.reason, e.msg))
		return
	}
	if b := r.budget; b != nil && !b.reserve(f.art.Row, b.estimate(f.art, r.opts.Model, r.opts.SummaryModel)) {
		<-slots
		e := b.reason()
		f.set(fail(base, e.reason, e.msg))
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-slots }()
		res, stored := r.process(p, base)
		if r.budget != nil && !stored {
			r.budget.done(f.art.Row, r.cost(res.Usage, res.Model))
		} else if r.budget != nil {
			r.budget.done(f.art.Row, 0)
		}
		f.stored = stored
		f.set(res)
	}()
}

// rowError is why a row failed: a stable reason code and a message. split
// marks a reply cut off by the token limit, or a request too large for the
// model, which a smaller piece of text may avoid.
type rowError struct {
	reason, msg string
	split       bool
}

// stopping reports why no new row may start, or nil.
func (r *runner) stopping(ctx context.Context) *rowError {
	r.mu.Lock()
	stopErr := r.stopErr
	r.mu.Unlock()
	if stopErr != nil {
		var ce *CallError
		reason := "stopped"
		if errors.As(stopErr, &ce) {
			reason = ce.Reason
		}
		return &rowError{reason: reason, msg: "not done: the run stopped early (" + stopErr.Error() + ")"}
	}
	if ctx.Err() != nil {
		return &rowError{reason: "interrupted", msg: "not done: the run was interrupted before this row; run tarjama again to finish it"}
	}
	return nil
}

func (r *runner) baseResult(f *future) Result {
	return Result{
		Row:           f.art.Row,
		ID:            f.art.ID,
		Source:        f.art.Source,
		InputSHA256:   f.sha,
		PromptVersion: r.version,
		KeyPoints:     []string{},
	}
}

// skipReason decides the rows that are not sent at all, on the cleaned
// text.
func skipReason(p prepared, base Result) (Result, bool) {
	switch {
	case isBlank(p.original.Body):
		base.Status = StatusSkipped
		base.Error = "empty_body: the body is empty; nothing to translate"
		return base, true
	case isBlank(p.art.Body):
		base.Status = StatusSkipped
		base.Error = "empty_body: the body has no text once markup, invisible characters and site boilerplate are removed; nothing to translate"
		return base, true
	case !hasArabic(p.art.Body):
		base.Status = StatusSkipped
		base.Error = "not_arabic: the body has no Arabic script; it was not sent for translation"
		return base, true
	}
	return base, false
}

func fail(base Result, reason, msg string) Result {
	base.Status = StatusFailed
	base.Error = reason + ": " + msg
	return base
}

// held is a result that later rows repeat, kept until its last copy is
// written.
type held struct {
	res  Result
	left int
}

// collect writes the futures in input order and counts the outcomes.
func (r *runner) collect(queue <-chan *future, sink Sink) (Summary, error) {
	var sum Summary
	repeated := map[int]*held{}
	for f := range queue {
		<-f.done
		res := f.res
		if f.copyOf != 0 {
			h := repeated[f.copyOf]
			res = h.res
			res.Row, res.ID, res.Source = f.art.Row, f.art.ID, f.art.Source
			res.Usage = Usage{} // paid once, by the first row
			if h.left--; h.left == 0 {
				delete(repeated, f.copyOf)
			}
			if res.Status == StatusOK {
				sum.Cached++
			}
		} else if n := r.info.Copies(f.art.Row); n > 0 {
			repeated[f.art.Row] = &held{res: res, left: n}
		}
		if f.stored {
			sum.Cached++
		}
		p := r.opts.Progress
		switch res.Status {
		case StatusOK:
			sum.OK++
			p.ok.Add(1)
		case StatusSkipped:
			sum.Skipped++
			p.skipped.Add(1)
		default:
			sum.Failed++
			sum.addFailed(res)
			p.failed.Add(1)
		}
		sum.Rows++
		p.rows.Add(1)
		if err := sink.Write(res); err != nil {
			return sum, fmt.Errorf("write row %d (id %s): %w", res.Row, res.ID, err)
		}
	}
	return sum, nil
}

func (r *runner) count(attempts int) {
	r.mu.Lock()
	r.requests += attempts
	r.opts.Progress.requests.Add(int64(attempts))
	if attempts > 1 {
		r.retries += attempts - 1
		r.opts.Progress.retries.Add(int64(attempts - 1))
	}
	r.mu.Unlock()
}

func (r *runner) countRetry() {
	r.mu.Lock()
	r.retries++
	r.opts.Progress.retries.Add(1)
	r.mu.Unlock()
}

func (r *runner) stop(err error) {
	r.mu.Lock()
	if r.stopErr == nil {
		r.stopErr = err
		r.opts.Logger.Error("stopping the run", "err", err)
	}
	r.mu.Unlock()
}

// openPath opens the input file.
func openPath(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	return f, nil
}
