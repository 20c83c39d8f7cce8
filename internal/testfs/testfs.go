// Package testfs holds file-system checks shared by the tests of several
// packages. Only tests import it.
package testfs

import (
	"os"
	"testing"
)

// WantModes checks the Unix permission bits of each path in want.
func WantModes(tb testing.TB, want map[string]os.FileMode) {
	tb.Helper()
	for path, mode := range want {
		fi, err := os.Stat(path)
		if err != nil {
			tb.Error(err)
			continue
		}
		if got := fi.Mode().Perm(); got != mode {
			tb.Errorf("mode of %s is %v, want %v", path, got, mode)
		}
	}
}
