package batch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tarjama/tarjama/internal/dirs"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/jobs"
)

// passAndSpool makes a pass over the job: every request that needs sending
// is written to an input file in o.SpoolDir. When the pass found nothing
// to send and nothing in flight, the outputs were written (rep.Done).
func passAndSpool(ctx context.Context, o Options) (Report, []*spoolFile, error) {
	var rep Report
	if err := dirs.MkdirAll(o.SpoolDir, o.DirMode); err != nil {
		return rep, nil, fmt.Errorf("make the batch file directory: %w", err)
	}
	sp := &spooler{dir: o.SpoolDir, maxLines: o.MaxLines, maxBytes: o.MaxBytes, mode: o.FileMode}
	c := &completer{
		store: o.Store, api: o.API, spool: sp, replyRetries: o.Job.ReplyRetries,
		calls: map[string]int{}, sent: map[string]bool{},
	}
	job := o.Job
	job.Store, job.OpenStore = o.Store, nil
	sum, err := jobs.Run(ctx, job, c, func(columns []string) (jobs.Sink, error) {
		inner, err := o.OpenSink(columns)
		if err != nil {
			return nil, err
		}
		return &heldSink{Sink: inner, done: c.done}, nil
	})
	if cerr := sp.close(); cerr != nil && err == nil {
		err = cerr
	}
	if ferr := c.flush(ctx); ferr != nil && err == nil {
		err = ferr
	}
	if c.err != nil && err == nil {
		err = c.err
	}
	rep.Summary = sum
	if err != nil {
		sp.remove()
		return rep, nil, err
	}
	rep.Done = c.done()
	if rep.Done {
		sp.remove()
		return rep, nil, finish(ctx, o, &rep)
	}
	for _, f := range sp.files {
		rep.Files = append(rep.Files, f.path)
	}
	return rep, sp.files, nil
}

// heldSink writes the outputs only when the pass is done: a pass with rows
// still pending leaves the previous outputs as they are.
type heldSink struct {
	jobs.Sink
	done func() bool
}

func (s *heldSink) Close() error {
	if !s.done() {
		return s.Sink.Abort()
	}
	return s.Sink.Close()
}

// completer answers a pass's requests from the batch results in the state
// file, and spools the ones that need sending.
type completer struct {
	store        *state.Store
	api          API
	spool        *spooler
	replyRetries int

	mu sync.Mutex
	// calls counts the calls per key in this pass: a second call means
	// that the reply given on the first failed its checks.
	calls map[string]int
	// sent are the keys spooled in this pass; added are the new ones to
	// record as pending.
	sent    map[string]bool
	added   []state.BatchRequest
	pending int // requests spooled
	waiting int // requests in a batch still in flight
	err     error
}

// pendingError is the error of a request whose reply is not there yet.
func pendingError(why string) error {
	return &jobs.CallError{Reason: jobs.ReasonPending, Message: why}
}

func (c *completer) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	key := jobs.RequestKey(req)
	c.mu.Lock()
	call := c.calls[key]
	c.calls[key]++
	c.mu.Unlock()
	br, ok, err := c.store.BatchRequest(ctx, key)
	if err != nil {
		return jobs.Reply{}, c.fail(err)
	}
	switch {
	case !ok:
		return jobs.Reply{}, c.send(req, key, true)
	case br.State == state.ReqPending:
		return jobs.Reply{}, c.send(req, key, false)
	case br.State == state.ReqSubmitted:
		c.mu.Lock()
		c.waiting++
		c.mu.Unlock()
		return jobs.Reply{}, pendingError("the request is in batch " + br.BatchID + ", which is not finished")
	case br.State == state.ReqFailed:
		reason, msg, _ := strings.Cut(br.Error, ": ")
		return jobs.Reply{}, &jobs.CallError{Reason: reason, Message: "batch request: " + msg, Attempts: 1}
	}
	// Answered. A second call in a pass means the reply failed its checks
	// (or was refused): it is asked for again while the retries allow,
	// else the same reply is given so that the row fails with its reason.
	if call > 0 && br.Attempts <= c.replyRetries {
		if err := c.store.Requeue(ctx, key, "the reply failed its checks"); err != nil {
			return jobs.Reply{}, c.fail(err)
		}
		return jobs.Reply{}, c.send(req, key, false)
	}
	reply := br.Reply
	reply.Attempts = 1
	if call > 0 {
		// Given again only to fail its checks again: not paid again.
		reply.Attempts, reply.Usage = 0, jobs.Usage{}
	}
	return reply, nil
}

// send spools req (once per pass) and reports it pending.
func (c *completer) send(req jobs.Request, key string, isNew bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sent[key] {
		line, err := c.api.BatchLine(req)
		if err != nil {
			return c.failLocked(fmt.Errorf("make the batch line of article %s: %w", req.ArticleID, err))
		}
		if err := c.spool.add(key, line); err != nil {
			return c.failLocked(err)
		}
		c.sent[key] = true
		c.pending++
		if isNew {
			c.added = append(c.added, state.BatchRequest{Key: key, ArticleID: req.ArticleID, Step: string(req.Step), Part: req.Part, State: state.ReqPending})
		}
	}
	return pendingError("the request waits for a batch")
}

// flush records the new pending requests in the state file.
func (c *completer) flush(ctx context.Context) error {
	c.mu.Lock()
	added := c.added
	c.added = nil
	c.mu.Unlock()
	if len(added) == 0 {
		return nil
	}
	return c.store.AddBatchRequests(context.WithoutCancel(ctx), added)
}

// done reports that the pass sent nothing and waits for nothing.
func (c *completer) done() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending == 0 && c.waiting == 0 && c.err == nil
}

func (c *completer) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failLocked(err)
}

// failLocked keeps the first error of the pass; it stops the run as a
// fatal call error would.
func (c *completer) failLocked(err error) error {
	if c.err == nil {
		c.err = err
	}
	return &jobs.CallError{Reason: "state", Message: err.Error(), Fatal: true, Err: err}
}

// spooler writes request lines into input files of at most maxLines lines
// and maxBytes bytes.
type spooler struct {
	dir                string
	maxLines, maxBytes int
	mode               os.FileMode // of each file
	files              []*spoolFile
	cur                *spoolFile
}

// spoolFile is one input file: one batch.
type spoolFile struct {
	path  string
	f     *os.File
	keys  []string
	bytes int
}

func (s *spooler) add(key string, line []byte) error {
	n := len(line) + 1
	if n > s.maxBytes {
		return fmt.Errorf("a batch line of %d bytes is over the file limit of %d bytes", n, s.maxBytes)
	}
	if s.cur == nil || len(s.cur.keys) >= s.maxLines || s.cur.bytes+n > s.maxBytes {
		if err := s.closeCur(); err != nil {
			return err
		}
		path := filepath.Join(s.dir, fmt.Sprintf("batch-%s-%03d.jsonl", now().Format("20060102T150405Z"), len(s.files)+1))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, s.mode)
		if err != nil {
			return fmt.Errorf("create batch file: %w", err)
		}
		// Exactly s.mode: the process's umask does not narrow it.
		if err := f.Chmod(s.mode); err != nil {
			f.Close()
			return fmt.Errorf("create batch file: %w", err)
		}
		s.cur = &spoolFile{path: path, f: f}
		s.files = append(s.files, s.cur)
	}
	if _, err := s.cur.f.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("write batch file %s: %w", s.cur.path, err)
	}
	s.cur.keys = append(s.cur.keys, key)
	s.cur.bytes += n
	return nil
}

func (s *spooler) closeCur() error {
	if s.cur == nil {
		return nil
	}
	f := s.cur.f
	s.cur = nil
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write batch file %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write batch file %s: %w", f.Name(), err)
	}
	return nil
}

func (s *spooler) close() error { return s.closeCur() }

// remove deletes the files of a pass that is not sent.
func (s *spooler) remove() {
	for _, f := range s.files {
		os.Remove(f.path)
	}
}
