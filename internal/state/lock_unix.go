//go:build unix && !aix && (!solaris || illumos)

package state

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// fileLock is an exclusive flock(2) on the state file's sidecar lock file,
// held for the life of a Store. flock locks belong to the open file
// description: a second Open of the same state file conflicts even within
// one process, and the kernel drops the lock when the process ends, kill -9
// included.
type fileLock struct {
	f *os.File
}

// lockState locks statePath + ".lock", creating it with mode perm (the
// state file's, whatever the umask, so that whoever may write the state
// file may lock it) when missing, and writes this process's id into it.
// When another open file description holds the lock it returns a
// *LockedError with the holder's pid when the lock file has one.
func lockState(statePath string, perm os.FileMode) (*fileLock, error) {
	name := statePath + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
	if err == nil {
		if err = f.Chmod(perm); err != nil {
			f.Close()
		}
	} else if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file of state file %s: %w", statePath, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		pid := readPID(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, &LockedError{Path: statePath, PID: pid}
		}
		return nil, fmt.Errorf("lock state file %s: %w", statePath, err)
	}
	// The pid is for the message another run shows; failing to write it
	// does not weaken the lock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &fileLock{f: f}, nil
}

// readPID returns the pid written in a lock file, or 0.
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.LimitReader(io.NewSectionReader(f, 0, 32), 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release empties the lock file (so that no stale pid is ever shown) and
// releases the lock.
func (l *fileLock) release() error {
	l.f.Truncate(0)
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("release lock file %s: %w", l.f.Name(), err)
	}
	return nil
}
