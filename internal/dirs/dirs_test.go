//go:build unix

package dirs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestMkdirAll(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(root, "a"), dir} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v; want a directory 0755 whatever the umask", d, fi, err)
		}
	}
	// An existing directory keeps its mode.
	if err := os.Chmod(dir, 0o751); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o751 {
		t.Errorf("existing directory's mode changed to %v", fi.Mode().Perm())
	}
	// A file in the way is an error.
	file := filepath.Join(root, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{file, filepath.Join(file, "sub")} {
		if err := MkdirAll(d, 0o700); err == nil {
			t.Errorf("MkdirAll(%s): nil error with a file in the way", d)
		}
	}
}
