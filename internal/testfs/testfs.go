// Package testfs holds file-system checks shared by the tests of several
// packages: file modes, and golden files with the -update flag. Only tests
// import it.
package testfs

import (
	"flag"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Updating reports whether the test run was given -update.
func Updating() bool { return *update }

// Golden compares got with the golden file at path, or, with -update,
// writes got to it.
func Golden(tb testing.TB, path string, got []byte) {
	tb.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		tb.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

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
