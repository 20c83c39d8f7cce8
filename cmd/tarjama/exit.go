package main

import (
	"errors"
	"fmt"
	"io"
)

// The exit statuses of SPEC.md, the only place they are decided.
const (
	exitOK          = 0 // every row ok or skipped
	exitFatal       = 1 // nothing could be done: bad flags, unreadable input, no endpoint
	exitRowsFailed  = 2 // some rows failed; outputs written, failed rows marked
	exitInterrupted = 130
)

// exitStatus is returned by an action that finished with a non-zero status
// after it has already told the user why.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitCode maps what the app returned to the process's exit status, and
// prints the error when it has not been told yet.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	fmt.Fprintf(stderr, "tarjama: %v\n", err)
	var h interface{ Hint() string }
	if errors.As(err, &h) && h.Hint() != "" {
		fmt.Fprintf(stderr, "Try: %s\n", h.Hint())
	}
	return exitFatal
}
