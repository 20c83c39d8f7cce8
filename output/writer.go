package output

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/tarjama/tarjama/internal/dirs"
	"github.com/tarjama/tarjama/jobs"
)

// DefaultPerm and DefaultDirPerm are the modes of the files and the
// directories that output creates when Perm leaves them 0: readable by
// their owner only, since the outputs hold the articles.
const (
	DefaultPerm    os.FileMode = 0o600
	DefaultDirPerm os.FileMode = 0o700
)

// Perm is the modes of what output creates: File for the outputs (results.*,
// run.json), Dir for the directories it makes (an existing directory keeps
// its mode). A zero field means DefaultPerm or DefaultDirPerm. The modes
// are set exactly: the process's umask does not narrow them.
type Perm struct {
	File, Dir os.FileMode
}

// withDefaults returns p with its zero fields set to the defaults.
func (p Perm) withDefaults() Perm {
	p.File, p.Dir = p.File.Perm(), p.Dir.Perm()
	if p.File == 0 {
		p.File = DefaultPerm
	}
	if p.Dir == 0 {
		p.Dir = DefaultDirPerm
	}
	return p
}

// bufferSize is the write buffer of each output file.
const bufferSize = 64 << 10

// Options configures Open.
type Options struct {
	// Dir is the output directory, created (with Perm.Dir) if missing.
	Dir string
	// Formats are the formats to write: any of "csv", "json", "jsonl".
	Formats []string
	// Excel makes results.csv Excel-friendly; see the package
	// documentation.
	Excel bool
	// Columns are the carried-through column names, in input order, for
	// results.csv.
	Columns []string
	// Perm is the modes of the output files and of the directories Open
	// creates; the zero value means DefaultPerm and DefaultDirPerm.
	Perm Perm
}

// Writer writes the results to every format in Options.Formats at once,
// through temporary files that Close renames into place. It implements
// jobs.Sink and is safe for concurrent use.
type Writer struct {
	mu    sync.Mutex
	dir   string
	perm  os.FileMode
	files []*outFile
	// err is the first write error: once set, Close fails and commits
	// nothing.
	err  error
	done bool
}

var _ jobs.Sink = (*Writer)(nil)

// encoder is what CSVWriter, JSONWriter and JSONLWriter have in common.
type encoder interface {
	Write(jobs.Result) error
	Close() error
}

// outFile is one output in the making.
type outFile struct {
	*atomicFile
	buf *bufio.Writer
	enc encoder
}

// Open creates opts.Dir if needed and a temporary file in it for each
// format, and returns a Writer that writes to them. Nothing visible changes
// in opts.Dir until Close.
func Open(opts Options) (_ *Writer, err error) {
	formats, err := normalizeFormats(opts.Formats)
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, ErrNoDir
	}
	perm := opts.Perm.withDefaults()
	if err := dirs.MkdirAll(opts.Dir, perm.Dir); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}
	w := &Writer{dir: opts.Dir, perm: perm.File}
	defer func() {
		if err != nil {
			err = errors.Join(err, w.removeTemps())
		}
	}()
	for _, format := range formats {
		af, err := createAtomic(opts.Dir, "results."+format)
		if err != nil {
			return nil, err
		}
		f := &outFile{atomicFile: af, buf: bufio.NewWriterSize(af.tmp, bufferSize)}
		w.files = append(w.files, f)
		switch format {
		case FormatCSV:
			f.enc = NewCSV(f.buf, opts.Columns, opts.Excel)
		case FormatJSON:
			f.enc = NewJSON(f.buf)
		case FormatJSONL:
			f.enc = NewJSONL(f.buf)
		}
	}
	return w, nil
}

// Write writes r to every format. After an error the Writer is spoiled:
// Write and Close return that error, and Close commits nothing. Write
// returns ErrClosed after Close or Abort.
func (w *Writer) Write(r jobs.Result) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	for _, f := range w.files {
		if err := f.enc.Write(r); err != nil {
			w.err = fmt.Errorf("write %s: %w", f.path, err)
			return w.err
		}
	}
	return nil
}

// Close finishes every format, flushes, fsyncs and closes its temporary
// file, renames it over the final name and fsyncs the directory. On error
// it removes the temporary files that are left, and the previous outputs
// stay as they were (but see the package documentation about a rename
// failing half-way). Close returns ErrClosed after Close or Abort.
func (w *Writer) Close() (err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return ErrClosed
	}
	w.done = true
	defer func() {
		if err != nil {
			err = errors.Join(err, w.removeTemps())
		}
	}()
	if w.err != nil {
		return w.err
	}
	// Everything reaches the disk before the first rename.
	for _, f := range w.files {
		if err := f.finish(w.perm); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	for _, f := range w.files {
		if err := f.rename(); err != nil {
			return fmt.Errorf("commit %s: %w", f.path, err)
		}
	}
	if err := dirs.Sync(w.dir); err != nil {
		return fmt.Errorf("sync output directory %s: %w", w.dir, err)
	}
	removeStaleTemps(w.dir)
	return nil
}

// removeStaleTemps removes the temporary files that a run killed before it
// could clean up (kill -9, a power cut) left in dir. It runs once this
// run's outputs are in place, and only takes tarjama's own temporary names
// (".results.csv.123.tmp", ".run.json.123.tmp").
func removeStaleTemps(dir string) {
	for _, pattern := range []string{".results.*.tmp", "." + RunRecordName + ".*.tmp"} {
		stale, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, p := range stale {
			os.Remove(p)
		}
	}
}

// Abort removes the temporary files; the previous outputs stay as they
// were. It returns nil after Close or Abort, so that it can be deferred.
func (w *Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	w.done = true
	return w.removeTemps()
}

// finish ends the format and flushes, fsyncs and closes the temporary
// file, leaving it with permission perm.
func (f *outFile) finish(perm os.FileMode) error {
	if err := f.enc.Close(); err != nil {
		return err
	}
	if err := f.buf.Flush(); err != nil {
		return err
	}
	return f.sync(perm)
}

// removeTemps closes and removes the temporary files that were not renamed.
func (w *Writer) removeTemps() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.remove())
	}
	return errors.Join(errs...)
}
