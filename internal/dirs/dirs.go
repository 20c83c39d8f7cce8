// Package dirs makes the directories tarjama writes into: with exactly the
// mode asked for, and durably.
package dirs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// MkdirAll creates dir and its missing parents with mode perm, which,
// unlike os.MkdirAll's, the process's umask does not narrow, and makes each
// new entry durable in its parent (where the system allows it).
// Directories that exist keep their mode.
func MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	fi, err := os.Stat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil
	case err == nil:
		return &fs.PathError{Op: "mkdir", Path: dir, Err: errors.New("not a directory")}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return nil // made by another process meanwhile
		}
		return err
	}
	if err := os.Chmod(dir, perm); err != nil {
		return err
	}
	// Some file systems refuse to sync a directory; the entry is then as
	// durable as they make it.
	_ = Sync(parent)
	return nil
}

// Sync makes the entries of dir durable (a file created or renamed in it).
// On Windows, where directories cannot be synced, it does nothing.
func Sync(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
