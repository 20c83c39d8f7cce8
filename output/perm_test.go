//go:build unix

package output

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tarjama/tarjama/internal/testfs"
	"github.com/tarjama/tarjama/jobs"
)

// TestPermIgnoresProcessUmask checks that the modes asked for are the modes
// given, whatever the process's umask, and that an existing directory keeps
// its mode.
func TestPermIgnoresProcessUmask(t *testing.T) {
	for _, tt := range []struct {
		name          string
		umask         int
		perm          Perm
		want, wantDir os.FileMode
	}{
		{"default under umask 0", 0, Perm{}, 0o600, 0o700},
		{"0644/0755 under umask 077", 0o077, Perm{File: 0o644, Dir: 0o755}, 0o644, 0o755},
		{"0660/0770 under umask 022", 0o022, Perm{File: 0o660, Dir: 0o770}, 0o660, 0o770},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := syscall.Umask(tt.umask)
			defer syscall.Umask(old)
			root := t.TempDir()
			dir := filepath.Join(root, "a", "b")
			w, err := Open(Options{Dir: dir, Formats: allFormats, Perm: tt.perm})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(jobs.Result{ID: "1"}); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := WriteRunRecord(dir, jobs.Summary{}.Record(), tt.perm); err != nil {
				t.Fatal(err)
			}
			testfs.WantModes(t, map[string]os.FileMode{
				filepath.Join(root, "a"):            tt.wantDir,
				dir:                                 tt.wantDir,
				filepath.Join(dir, "results.csv"):   tt.want,
				filepath.Join(dir, "results.json"):  tt.want,
				filepath.Join(dir, "results.jsonl"): tt.want,
				filepath.Join(dir, RunRecordName):   tt.want,
			})
			if err := os.Chmod(dir, 0o751); err != nil {
				t.Fatal(err)
			}
			if err := WriteRunRecord(dir, jobs.Summary{}.Record(), tt.perm); err != nil {
				t.Fatal(err)
			}
			testfs.WantModes(t, map[string]os.FileMode{dir: 0o751})
		})
	}
}

func TestMkdirAllRefusesAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteRunRecord(filepath.Join(file, "out"), jobs.Summary{}.Record(), Perm{}); err == nil {
		t.Errorf("WriteRunRecord under a file: nil error")
	}
	if err := WriteRunRecord(file, jobs.Summary{}.Record(), Perm{}); err == nil {
		t.Errorf("WriteRunRecord into a file: nil error")
	}
}
