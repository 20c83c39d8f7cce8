package output

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tarjama/tarjama/internal/dirs"
)

// atomicFile is a file in the making: a temporary file in the directory of
// its final path, which rename puts in place once sync has made it durable.
// A reader of the final path sees the previous file or the whole new one,
// never part of it.
type atomicFile struct {
	path    string // final path, such as dir/results.csv
	tmp     *os.File
	renamed bool
}

// createAtomic creates the temporary file for dir/name, hidden and named
// after it (".results.csv.123.tmp").
func createAtomic(dir, name string) (*atomicFile, error) {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create temporary file: %w", err)
	}
	return &atomicFile{path: filepath.Join(dir, name), tmp: tmp}, nil
}

// sync gives the temporary file permission perm, fsyncs and closes it.
func (f *atomicFile) sync(perm os.FileMode) error {
	// CreateTemp made the file 0600.
	if err := f.tmp.Chmod(perm); err != nil {
		return err
	}
	if err := f.tmp.Sync(); err != nil {
		return err
	}
	return f.tmp.Close()
}

// rename puts the temporary file in place of the final path.
func (f *atomicFile) rename() error {
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return err
	}
	f.renamed = true
	return nil
}

// remove closes and removes the temporary file, unless it was renamed.
func (f *atomicFile) remove() error {
	if f.renamed {
		return nil
	}
	_ = f.tmp.Close() // may be closed already; the removal is what matters
	if err := os.Remove(f.tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove temporary file: %w", err)
	}
	return nil
}

// writeAtomic replaces dir/name with what write writes, atomically: write
// goes to a temporary file that is fsynced, given permission perm and
// renamed over dir/name, and the directory is fsynced. On error the
// temporary file is removed and dir/name stays as it was.
func writeAtomic(dir, name string, perm os.FileMode, write func(io.Writer) error) (err error) {
	f, err := createAtomic(dir, name)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.remove())
		}
	}()
	if err := write(f.tmp); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.sync(perm); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if err := f.rename(); err != nil {
		return fmt.Errorf("commit %s: %w", f.path, err)
	}
	if err := dirs.Sync(dir); err != nil {
		return fmt.Errorf("sync output directory %s: %w", dir, err)
	}
	return nil
}
