// Package batch runs tarjama's job through the provider's Batch API, and
// through offline engines that read the same JSONL (vLLM's run_batch).
//
// The job is the one `tarjama run` does: jobs.Run reads, cleans, splits and
// checks every article and writes the same outputs. Only the Completer
// differs. In a batch pass it answers a request from the replies that
// batches brought back, and otherwise writes the request as a line of a
// JSONL input file and reports it pending. A pass therefore goes as far as
// the replies allow: translations first; key points once the translations
// are back; a reduce step once the notes are back. Between passes the
// files are sent as batches (Submit, Collect) or handed to the user (Export)
// and their results read back (Collect, Import). When a pass finds nothing
// pending and nothing in flight, every row is done and its outputs are
// written; until then the previous outputs are kept as they are.
//
// Every request line is identified by its custom_id, which is the request's
// cache key (jobs.RequestKey), and kept in the state file (internal/state)
// with its state: pending, submitted, answered or failed. Every command is
// safe to run again at any time: a result applied twice changes nothing,
// and a request is sent again only when it is pending.
package batch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/jobs"
)

// API is what the Batch API offers (internal/llm's Client implements it).
type API interface {
	// BatchLine is the input-file line of req, its custom_id being
	// jobs.RequestKey(req).
	BatchLine(req jobs.Request) ([]byte, error)
	UploadBatchFile(ctx context.Context, path string) (string, error)
	CreateBatch(ctx context.Context, fileID string, metadata map[string]any) (llm.BatchInfo, error)
	// FindBatch finds the newest batch over an input file, created since
	// a time (ok false if there is none).
	FindBatch(ctx context.Context, fileID string, since time.Time) (info llm.BatchInfo, ok bool, err error)
	RetrieveBatch(ctx context.Context, id string) (llm.BatchInfo, error)
	CancelBatch(ctx context.Context, id string) (llm.BatchInfo, error)
	FileContent(ctx context.Context, fileID string) (io.ReadCloser, error)
}

// The provider's limits on one input file (OpenAI: 50,000 requests, 200
// MB), the defaults of Options.MaxLines and MaxBytes.
const (
	DefaultMaxLines = 50_000
	DefaultMaxBytes = 200_000_000
)

// Options configures a batch command.
type Options struct {
	// Job is the job, as for jobs.Run. Its Store and OpenStore are
	// ignored: Store below is used.
	Job   jobs.Options
	Store *state.Store
	API   API
	// OpenSink opens the outputs, as for jobs.Run; they are kept only
	// when every row is done.
	OpenSink func(columns []string) (jobs.Sink, error)
	// MaxRetries is how many times a line that failed (an error line, a
	// non-200 status, a batch that expired before answering it) is sent
	// again before its row fails with the provider's reason.
	MaxRetries int
	// MaxLines and MaxBytes bound one input file; more requests make more
	// files, one batch each.
	MaxLines, MaxBytes int
	// SpoolDir holds the input files before they are uploaded.
	SpoolDir string
	// FileMode and DirMode are the exact modes of the input files (and of
	// Export's) and of the directories made for them; 0 means 0600 and
	// 0700.
	FileMode, DirMode os.FileMode
	Logger            *slog.Logger
}

func (o *Options) setDefaults() {
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultMaxLines
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	if o.DirMode == 0 {
		o.DirMode = 0o700
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Job.Logger == nil {
		o.Job.Logger = o.Logger
	}
}

// Report is what a batch command did and where the job stands.
type Report struct {
	// Collected are the batches whose results were read in this call;
	// Submitted the batches created; Files the input files written
	// (Export) or uploaded.
	Collected, Submitted []state.Batch
	Files                []string
	// Imported counts the result lines read (Import).
	Imported int
	// Requests counts the batch requests by state after the call.
	Requests map[string]int
	// Done reports that every row is done and the outputs were written;
	// Summary is then the pass that wrote them.
	Done    bool
	Summary jobs.Summary
	// Waiting counts the batches still in flight at the provider.
	Waiting int
	// Usage is the tokens of every answered batch request of the job, from
	// all its batches and imports, and Cost their cost at the job's prices
	// (batch prices: half the list price); CostKnown is false when a model
	// has no price.
	Usage     jobs.Usage
	Cost      float64
	CostKnown bool
}

// ErrNoState means a command that needs the state of an earlier submit
// found none.
var ErrNoState = errors.New("no batch in the state file")

// Submit makes a pass and sends the pending requests as batches: the first
// phase of a new job, or whatever is pending in one under way. It collects
// nothing; Collect does.
func Submit(ctx context.Context, o Options) (Report, error) {
	o.setDefaults()
	rep, files, err := passAndSpool(ctx, o)
	if err != nil || rep.Done {
		return rep, err
	}
	if err := submitFiles(ctx, o, files, &rep); err != nil {
		return rep, err
	}
	return rep, finish(ctx, o, &rep)
}

// Collect reads the results of every finished batch into the state file,
// makes a pass, and submits the next phase (the requests that became
// pending); when nothing is pending or in flight, the pass wrote the
// outputs. It is safe to run at any time, from cron every hour: a batch
// still in flight is left alone, and a collect interrupted half way is
// finished by the next.
func Collect(ctx context.Context, o Options) (Report, error) {
	o.setDefaults()
	var rep Report
	collected, err := collectFinished(ctx, o)
	rep.Collected = collected
	if err != nil {
		return rep, err
	}
	pass, files, err := passAndSpool(ctx, o)
	pass.Collected = collected
	rep = pass
	if err != nil || rep.Done {
		return rep, err
	}
	if err := submitFiles(ctx, o, files, &rep); err != nil {
		return rep, err
	}
	return rep, finish(ctx, o, &rep)
}

// finish fills the report's counts.
func finish(ctx context.Context, o Options, rep *Report) error {
	counts, err := o.Store.BatchCounts(ctx)
	if err != nil {
		return err
	}
	rep.Requests = counts
	usage, err := o.Store.BatchUsage(ctx)
	if err != nil {
		return err
	}
	prices := o.Job.Prices
	if prices == nil {
		prices = jobs.DefaultPrices().Scaled(0.5)
	}
	rep.Usage, rep.Cost, rep.CostKnown = jobs.Usage{}, 0, true
	for step, u := range usage {
		model := o.Job.SummaryModel
		if step == string(jobs.StepTranslate) || model == "" {
			model = o.Job.Model
		}
		rep.Usage = rep.Usage.Add(u)
		c, ok := prices.Cost(model, u)
		rep.Cost += c
		rep.CostKnown = rep.CostKnown && ok
	}
	bs, err := o.Store.Batches(ctx)
	if err != nil {
		return err
	}
	rep.Waiting = 0
	for _, b := range bs {
		if !b.Collected {
			rep.Waiting++
		}
	}
	return nil
}

// now is the time recorded for a batch.
func now() time.Time { return time.Now().UTC() }
