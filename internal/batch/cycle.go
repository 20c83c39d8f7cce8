package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/jobs"
)

// Final statuses of a batch: its results can be collected.
var finalStatus = map[string]bool{"completed": true, "expired": true, "cancelled": true, "failed": true}

// A batch is recorded before its create is sent, as creating (statusCreating,
// under creatingID of its input file), with its requests submitted in it:
// a create whose outcome is unknown (its reply lost, the process killed) is
// then found again by the next collect (resolveCreating), and its requests
// are never sent twice.
const statusCreating = "creating"

func creatingID(fileID string) string { return "creating-" + fileID }

// submitFiles uploads each input file and creates its batch, and records
// the batch and its requests as submitted. A file is removed once it is
// uploaded and its requests are recorded as submitted.
func submitFiles(ctx context.Context, o Options, files []*spoolFile, rep *Report) error {
	for _, f := range files {
		if len(f.keys) == 0 {
			os.Remove(f.path)
			continue
		}
		fileID, err := o.API.UploadBatchFile(ctx, f.path)
		if err != nil {
			return fmt.Errorf("upload batch file %s: %w", f.path, err)
		}
		wip := state.Batch{ID: creatingID(fileID), InputFileID: fileID, Status: statusCreating, Requests: len(f.keys), CreatedAt: now()}
		if err := o.Store.MarkSubmitted(context.WithoutCancel(ctx), wip, f.keys); err != nil {
			return fmt.Errorf("record the batch over %s in the state file: %w", f.path, err)
		}
		// From here the state file has the requests, whatever becomes
		// of the create: a later pass writes a new file for them if need
		// be.
		os.Remove(f.path)
		info, err := o.API.CreateBatch(ctx, fileID, map[string]any{"tarjama_file": filepath.Base(f.path)})
		if err != nil {
			err = fmt.Errorf("create a batch over %s (%d requests): %w", f.path, len(f.keys), err)
			if !refused(err) {
				// It may exist: the next collect looks for it.
				return &CreateUnknownError{Err: err}
			}
			if rerr := o.Store.ReleaseBatch(context.WithoutCancel(ctx), wip.ID, "batch_not_created: "+err.Error()); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		b := batchOf(info)
		b.Requests = len(f.keys)
		if err := o.Store.ReplaceBatch(context.WithoutCancel(ctx), wip.ID, b); err != nil {
			return fmt.Errorf("record batch %s in the state file: %w", b.ID, err)
		}
		o.Logger.Info("batch submitted", "batch_id", b.ID, "requests", b.Requests, "file", f.path)
		rep.Submitted = append(rep.Submitted, b)
	}
	return nil
}

// refused reports that the server answered a create with a 4xx status: the
// batch was not created. Anything else (a 5xx, a timeout, a dropped
// connection) leaves it unknown.
func refused(err error) bool {
	var ce *jobs.CallError
	return errors.As(err, &ce) && ce.Status >= 400 && ce.Status < 500 && ce.Status != http.StatusRequestTimeout
}

// resolveCreating finds out what became of a batch recorded as creating:
// the batch the provider created over its input file takes its place, or,
// when there is none, its requests are pending again. found reports a
// batch created; b is then that batch.
func resolveCreating(ctx context.Context, o Options, wip state.Batch) (b state.Batch, found bool, err error) {
	info, ok, err := o.API.FindBatch(ctx, wip.InputFileID, wip.CreatedAt)
	if err != nil {
		return wip, false, fmt.Errorf("look for the batch over file %s: %w", wip.InputFileID, err)
	}
	if !ok {
		o.Logger.Warn("batch never created: its requests are sent again", "file_id", wip.InputFileID, "requests", wip.Requests)
		why := fmt.Sprintf("batch_not_created: no batch over file %s at the provider", wip.InputFileID)
		return wip, false, o.Store.ReleaseBatch(context.WithoutCancel(ctx), wip.ID, why)
	}
	b = batchOf(info)
	b.Requests = wip.Requests
	if err := o.Store.ReplaceBatch(context.WithoutCancel(ctx), wip.ID, b); err != nil {
		return wip, false, fmt.Errorf("record batch %s in the state file: %w", b.ID, err)
	}
	o.Logger.Info("batch found whose create had no answer", "batch_id", b.ID, "file_id", wip.InputFileID, "requests", b.Requests)
	return b, true, nil
}

// batchOf is the state file's record of a batch the API described.
func batchOf(info llm.BatchInfo) state.Batch {
	return state.Batch{
		ID: info.ID, InputFileID: info.InputFileID, OutputFileID: info.OutputFileID,
		ErrorFileID: info.ErrorFileID, Status: info.Status, Requests: info.Total,
		CreatedAt: info.CreatedAt,
	}
}

// collectFinished reads the results of every batch that is finished and
// not yet collected.
func collectFinished(ctx context.Context, o Options) ([]state.Batch, error) {
	bs, err := o.Store.Batches(ctx)
	if err != nil {
		return nil, err
	}
	var collected []state.Batch
	for _, b := range bs {
		if b.Collected {
			continue
		}
		if b.Status == statusCreating {
			var found bool
			if b, found, err = resolveCreating(ctx, o, b); err != nil || !found {
				if err != nil {
					return collected, err
				}
				continue
			}
		}
		info, err := o.API.RetrieveBatch(ctx, b.ID)
		if err != nil {
			return collected, fmt.Errorf("retrieve batch %s: %w", b.ID, err)
		}
		nb := batchOf(info)
		nb.Requests, nb.CreatedAt = b.Requests, b.CreatedAt
		if !finalStatus[info.Status] {
			if err := o.Store.UpdateBatch(ctx, nb); err != nil {
				return collected, err
			}
			continue
		}
		if err := collect(ctx, o, nb, info); err != nil {
			return collected, err
		}
		nb.Collected = true
		collected = append(collected, nb)
	}
	return collected, nil
}

// collectChunk is how many results are applied per transaction (a var for
// the tests).
var collectChunk = 1000

// collect applies a finished batch's output and error files, then sends
// again (or fails) the lines it never answered, and marks it collected.
func collect(ctx context.Context, o Options, b state.Batch, info llm.BatchInfo) error {
	ap := &applier{o: o}
	for _, id := range []string{info.OutputFileID, info.ErrorFileID} {
		if id == "" {
			continue
		}
		if err := ap.readFile(ctx, id); err != nil {
			return fmt.Errorf("collect batch %s: %w", b.ID, err)
		}
	}
	if err := ap.flush(ctx, state.Batch{}); err != nil {
		return fmt.Errorf("collect batch %s: %w", b.ID, err)
	}
	// The lines a batch never answered: it expired, was cancelled, or
	// failed its validation.
	left, err := o.Store.SubmittedKeys(ctx, b.ID)
	if err != nil {
		return err
	}
	why := fmt.Sprintf("batch_%s: batch %s ended %s before answering this request", info.Status, b.ID, info.Status)
	if len(info.Errors) > 0 {
		why += " (" + info.Errors[0] + ")"
	}
	for _, key := range left {
		if err := ap.again(ctx, key, why); err != nil {
			return err
		}
	}
	if len(left) > 0 {
		o.Logger.Warn("batch ended with requests unanswered", "batch_id", b.ID, "status", info.Status, "unanswered", len(left))
	}
	b.Collected = true
	if err := ap.flush(ctx, b); err != nil {
		return fmt.Errorf("collect batch %s: %w", b.ID, err)
	}
	o.Logger.Info("batch collected", "batch_id", b.ID, "status", info.Status,
		"completed", info.Completed, "failed", info.Failed)
	return nil
}

// applier turns result lines into state changes, in chunks.
type applier struct {
	o       Options
	results []state.BatchResult
	lines   int
}

func (a *applier) readFile(ctx context.Context, fileID string) error {
	rc, err := a.o.API.FileContent(ctx, fileID)
	if err != nil {
		return fmt.Errorf("download file %s: %w", fileID, err)
	}
	defer rc.Close()
	return a.read(ctx, rc, "file "+fileID, false)
}

// read applies the result lines of r. With lenient, a line whose custom_id
// the state file does not know is skipped with a warning (a result file
// from elsewhere); otherwise it is an error.
func (a *applier) read(ctx context.Context, r io.Reader, name string, lenient bool) error {
	return llm.ReadBatchResults(r, name, func(res llm.BatchResult) error {
		a.lines++
		if res.Status == 200 {
			return a.add(ctx, state.BatchResult{Key: res.CustomID, State: state.ReqAnswered, Reply: res.Reply}, name, res.Line, lenient)
		}
		br, ok, err := a.o.Store.BatchRequest(ctx, res.CustomID)
		if err != nil {
			return err
		}
		if !ok {
			return a.unknown(res.CustomID, name, res.Line, lenient)
		}
		why := res.Reason + ": " + res.Message
		if br.Attempts <= a.o.MaxRetries {
			return a.add(ctx, state.BatchResult{Key: res.CustomID, State: state.ReqPending, Error: why}, name, res.Line, lenient)
		}
		return a.add(ctx, state.BatchResult{Key: res.CustomID, State: state.ReqFailed, Error: why}, name, res.Line, lenient)
	})
}

func (a *applier) add(ctx context.Context, r state.BatchResult, name string, line int, lenient bool) error {
	if r.State == state.ReqAnswered {
		_, ok, err := a.o.Store.BatchRequest(ctx, r.Key)
		if err != nil {
			return err
		}
		if !ok {
			return a.unknown(r.Key, name, line, lenient)
		}
	}
	a.results = append(a.results, r)
	if len(a.results) >= collectChunk {
		return a.flush(ctx, state.Batch{})
	}
	return nil
}

func (a *applier) unknown(key, name string, line int, lenient bool) error {
	if lenient {
		a.o.Logger.Warn("result for a request this state file does not know: skipped", "file", name, "line", line, "custom_id", key)
		return nil
	}
	return fmt.Errorf("%s line %d: custom_id %s is no request of this state file", name, line, key)
}

// again sends a request again, or fails it once its retries are spent.
func (a *applier) again(ctx context.Context, key, why string) error {
	br, ok, err := a.o.Store.BatchRequest(ctx, key)
	if err != nil || !ok {
		return err
	}
	st := state.ReqPending
	if br.Attempts > a.o.MaxRetries {
		st = state.ReqFailed
	}
	a.results = append(a.results, state.BatchResult{Key: key, State: st, Error: why})
	return nil
}

// flush applies the results so far; with b.ID set, it also records b.
func (a *applier) flush(ctx context.Context, b state.Batch) error {
	if len(a.results) == 0 && b.ID == "" {
		return nil
	}
	err := a.o.Store.CollectBatch(context.WithoutCancel(ctx), b, a.results)
	a.results = a.results[:0]
	return err
}

// Export makes a pass and writes the requests that need sending as JSONL
// input files in dir, without uploading them, for an engine that reads
// the Batch API's format offline (vLLM's run_batch). Their results are
// read back with Import. When nothing needs sending, every row is done and
// the outputs were written.
func Export(ctx context.Context, o Options, dir string) (Report, error) {
	o.setDefaults()
	o.SpoolDir = dir
	rep, _, err := passAndSpool(ctx, o)
	if err != nil {
		return rep, err
	}
	return rep, finish(ctx, o, &rep)
}

// Import reads result files in the Batch API's output format (as vLLM's
// run_batch writes them) into the state file, then makes a pass: the rows
// whose replies are all in are done, and when every row is, the outputs
// are written. A line for a request the state file does not know is
// skipped with a warning.
func Import(ctx context.Context, o Options, files []string) (Report, error) {
	o.setDefaults()
	var rep Report
	ap := &applier{o: o}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
		err = ap.read(ctx, f, path, true)
		f.Close()
		if err != nil {
			return rep, fmt.Errorf("import: %w", err)
		}
	}
	if err := ap.flush(ctx, state.Batch{}); err != nil {
		return rep, err
	}
	imported := ap.lines
	// The files the pass writes are not sent: they are what to export
	// next, and Export writes them again.
	o.SpoolDir = filepath.Join(os.TempDir(), fmt.Sprintf("tarjama-import-%d", os.Getpid()))
	defer os.RemoveAll(o.SpoolDir)
	rep, _, err := passAndSpool(ctx, o)
	rep.Imported = imported
	if err != nil {
		return rep, err
	}
	rep.Files = nil
	return rep, finish(ctx, o, &rep)
}

// BatchStatus is one batch as Status shows it.
type BatchStatus struct {
	state.Batch
	// Completed and Failed are the provider's counts of its lines.
	Completed, Failed int
	// Err says why the batch could not be retrieved just now.
	Err error
}

// Status refreshes every batch not yet collected from the API and returns
// all of them, with the requests' counts by state. It changes nothing but
// the batches' recorded statuses.
func Status(ctx context.Context, o Options) ([]BatchStatus, map[string]int, error) {
	o.setDefaults()
	bs, err := o.Store.Batches(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(bs) == 0 {
		counts, err := o.Store.BatchCounts(ctx)
		if err == nil && len(counts) == 0 {
			err = ErrNoState
		}
		return nil, counts, err
	}
	out := make([]BatchStatus, 0, len(bs))
	for _, b := range bs {
		st := BatchStatus{Batch: b}
		if !b.Collected && o.API != nil && b.Status != statusCreating {
			info, err := o.API.RetrieveBatch(ctx, b.ID)
			if err != nil {
				if isFatal(err) {
					return nil, nil, fmt.Errorf("retrieve batch %s: %w", b.ID, err)
				}
				st.Err = err
			} else {
				nb := batchOf(info)
				nb.Requests, nb.CreatedAt = b.Requests, b.CreatedAt
				if err := o.Store.UpdateBatch(ctx, nb); err != nil {
					return nil, nil, err
				}
				st.Batch = nb
				st.Completed, st.Failed = info.Completed, info.Failed
			}
		}
		out = append(out, st)
	}
	counts, err := o.Store.BatchCounts(ctx)
	return out, counts, err
}
