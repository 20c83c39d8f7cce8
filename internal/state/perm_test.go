//go:build unix

package state

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/tarjama/tarjama/internal/testfs"
	"github.com/tarjama/tarjama/jobs"
)

// TestPermOptions checks Options.Perm and Options.DirPerm: the state file,
// its sidecars and lock file, and the directories Open creates get exactly
// the modes asked for, whatever the process's umask; an existing state
// file keeps its mode.
func TestPermOptions(t *testing.T) {
	for _, tt := range []struct {
		name          string
		umask         int
		opts          Options
		want, wantDir os.FileMode
	}{
		{"defaults under umask 0", 0, Options{}, 0o600, 0o700},
		{"umask 022 flag under umask 077", 0o077, Options{Perm: 0o644, DirPerm: 0o755}, 0o644, 0o755},
		{"group under umask 022", 0o022, Options{Perm: 0o660, DirPerm: 0o770}, 0o660, 0o770},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := syscall.Umask(tt.umask)
			defer syscall.Umask(old)
			root := t.TempDir()
			parent := filepath.Join(root, "new", "sub")
			path := filepath.Join(parent, "state.db")
			s := openStore(t, path, tt.opts)
			if err := s.PutReply(context.Background(), "k", request(jobs.StepTranslate, "m"), reply("x")); err != nil {
				t.Fatal(err)
			}
			testfs.WantModes(t, map[string]os.FileMode{
				filepath.Join(root, "new"): tt.wantDir,
				parent:                     tt.wantDir,
				path:                       tt.want,
				path + "-wal":              tt.want,
				path + "-shm":              tt.want,
				path + ".lock":             tt.want,
			})
			closeStore(t, s)
			// Reopened with other modes, the files keep theirs.
			s = openStore(t, path, Options{Perm: 0o640, DirPerm: 0o750})
			closeStore(t, s)
			testfs.WantModes(t, map[string]os.FileMode{parent: tt.wantDir, path: tt.want, path + ".lock": tt.want})
		})
	}
}
