package progress

import (
	"bytes"
	"io"
	"sync"
)

// Redirect is an io.Writer that forwards to another writer, which Start
// swaps while the Redirect is in use: a logger is made before the bar
// starts, and must write above the bar while it is live. Writes are
// serialized.
type Redirect struct {
	mu   sync.Mutex
	base io.Writer // the writer given to NewRedirect
	bar  io.Writer // while a bar is live: where whole lines go
	// partial is the start of a line written to the bar, held until the
	// rest of it comes.
	partial []byte
}

// NewRedirect returns a Redirect that writes to w (io.Discard if nil) until
// a bar is live.
func NewRedirect(w io.Writer) *Redirect {
	if w == nil {
		w = io.Discard
	}
	return &Redirect{base: w}
}

// Write writes p to the current writer. While a bar is live it passes on
// whole lines only and holds the rest (reporting it written) until its
// newline comes or the bar ends. If the bar fails, lines go to the base
// writer.
func (r *Redirect) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar == nil {
		return r.base.Write(p)
	}
	r.partial = append(r.partial, p...)
	i := bytes.LastIndexByte(r.partial, '\n')
	if i < 0 {
		return len(p), nil
	}
	lines := r.partial[:i+1]
	if _, err := r.bar.Write(lines); err != nil {
		// The bar is gone (mpb returns ErrDone once it has shut down,
		// after a render error for instance): nothing is drawn any more.
		if _, err := r.base.Write(lines); err != nil {
			return 0, err
		}
	}
	r.partial = append(r.partial[:0], r.partial[i+1:]...)
	return len(p), nil
}

// through sends writes to bar, whole lines only, until back is called.
func (r *Redirect) through(bar io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bar = bar
}

// back calls last, which draws the bar for the last time, with writes held,
// then sends writes to the base writer again, starting with a line left
// unfinished. Lines written before are in the bar's last frame: mpb prints
// lines written to it at its next redraw, and drops what is left when it
// shuts down.
func (r *Redirect) back(last func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	last()
	r.bar = nil
	if len(r.partial) > 0 {
		r.base.Write(r.partial) // as a failed log write: nowhere to report it
		r.partial = nil
	}
}
