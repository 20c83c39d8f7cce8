package batch

import (
	"errors"

	"github.com/tarjama/tarjama/jobs"
)

// isFatal reports an API error after which no other call can succeed (a
// rejected key, exhausted quota).
func isFatal(err error) bool {
	var ce *jobs.CallError
	return errors.As(err, &ce) && ce.Fatal
}

// CreateUnknownError is a create whose outcome is not known: its reply was
// lost, or the command was stopped while waiting for it. The batch is
// recorded as creating; the next collect finds it at the provider, or
// sends its requests again when it was never created.
type CreateUnknownError struct{ Err error }

func (e *CreateUnknownError) Error() string { return e.Err.Error() }
func (e *CreateUnknownError) Unwrap() error { return e.Err }

// Hint says what to do next.
func (e *CreateUnknownError) Hint() string {
	return "run tarjama batch collect: it looks for the batch at the provider, and sends its requests again only if it was never created"
}
