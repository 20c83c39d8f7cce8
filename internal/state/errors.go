package state

import (
	"errors"
	"fmt"
)

// ErrClosed is returned (wrapped) by a Store's methods after Close.
var ErrClosed = errors.New("state store is closed")

// LockedError is returned by Open when another process holds the state
// file's lock: two runs on one state file would pay twice for the same
// articles.
type LockedError struct {
	// Path is the state file.
	Path string
	// PID is the process that holds the lock, or 0 when it could not be
	// read from the lock file.
	PID int
}

func (e *LockedError) Error() string {
	holder := ""
	if e.PID > 0 {
		holder = fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("state file %s is in use by another tarjama run%s; wait for it to finish, or give this run its own --state FILE", e.Path, holder)
}

// DamagedError is returned by Open for a file that is not a tarjama state
// file (another SQLite database, or not SQLite at all) or that fails
// SQLite's integrity check. The file is never changed or removed.
type DamagedError struct {
	// Path is the state file.
	Path string
	// Err says what is wrong.
	Err error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("state file %s is not a tarjama state file or is damaged: %v; it was left as it is (move it away to start afresh)", e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// SchemaVersionError is returned by Open for a state file written by a
// newer tarjama, whose schema this one does not know.
type SchemaVersionError struct {
	// Path is the state file.
	Path string
	// Version is the file's schema version.
	Version int
	// Supported is the newest version this tarjama knows (SchemaVersion).
	Supported int
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("state file %s has schema version %d, newer than this tarjama understands (%d); use a newer tarjama", e.Path, e.Version, e.Supported)
}
