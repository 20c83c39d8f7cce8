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
