package output

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

var allFormats = []string{"csv", "json", "jsonl"}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// tempFiles returns the temporary files left in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var tmps []string
	for _, name := range listDir(t, dir) {
		if strings.HasPrefix(name, ".results.") || strings.HasSuffix(name, ".tmp") {
			tmps = append(tmps, name)
		}
	}
	return tmps
}

// previous writes the outputs of an earlier run into dir and returns their
// contents by name.
func previous(t *testing.T, dir string) map[string]string {
	t.Helper()
	old := map[string]string{
		"results.csv":  "id,title_en\nold,\"yesterday's run\"\n",
		"results.json": "[\n{\"id\":\"old\"}\n]\n",
		// no results.jsonl yesterday
	}
	for name, content := range old {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return old
}

// checkUntouched checks that dir holds exactly the files of old, byte for
// byte.
func checkUntouched(t *testing.T, dir string, old map[string]string) {
	t.Helper()
	var names []string
	for name, want := range old {
		names = append(names, name)
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("previous %s: %v", name, err)
			continue
		}
		if string(got) != want {
			t.Errorf("previous %s changed: %q, want %q", name, got, want)
		}
	}
	slices.Sort(names)
	if diff := cmp.Diff(names, listDir(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}

func TestWriterClose(t *testing.T) {
	for _, tt := range []struct {
		name          string
		perm          Perm
		want, wantDir os.FileMode
	}{
		{"default perm", Perm{}, 0o600, 0o700},
		{"umask 022", Perm{File: 0o644, Dir: 0o755}, 0o644, 0o755},
		{"file 0640 only", Perm{File: 0o640}, 0o640, 0o700},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out", "nightly") // created by Open
			w, err := Open(Options{Dir: dir, Formats: allFormats, Columns: fixtureColumns, Perm: tt.perm})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(tempFiles(t, dir)); got != 3 {
				t.Errorf("%d temporary files after Open, want 3", got)
			}
			for _, r := range fixtureRows(t) {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "results.csv")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("results.csv visible before Close: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if diff := cmp.Diff([]string{"results.csv", "results.json", "results.jsonl"}, listDir(t, dir)); diff != "" {
				t.Errorf("directory after Close (-want +got):\n%s", diff)
			}
			for _, name := range []string{"results.csv", "results.json", "results.jsonl"} {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tt.want && runtime.GOOS != "windows" {
					t.Errorf("%s perm=%v, want %v", name, got, tt.want)
				}
			}
			for _, d := range []string{dir, filepath.Dir(dir)} {
				fi, err := os.Stat(d)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != tt.wantDir && runtime.GOOS != "windows" {
					t.Errorf("directory %s perm=%v, want %v", d, got, tt.wantDir)
				}
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after Close=%v, want nil", err)
			}
			if err := w.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close=%v, want %v", err, ErrClosed)
			}
			if err := w.Write(jobs.Result{}); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Close=%v, want %v", err, ErrClosed)
			}
		})
	}
}

func TestWriterReplaces(t *testing.T) {
	dir := t.TempDir()
	previous(t, dir)
	w, err := Open(Options{Dir: dir, Formats: []string{"csv"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(jobs.Result{ID: "new", Status: jobs.StatusOK}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "id,title_en,translation,key_points,status,error,model,prompt_tokens,completion_tokens\nnew,,,,ok,,,0,0\n"
	if string(got) != want {
		t.Errorf("results.csv=%q, want %q", got, want)
	}
	// results.json was not asked for: yesterday's stays.
	if _, err := os.Stat(filepath.Join(dir, "results.json")); err != nil {
		t.Errorf("results.json: %v", err)
	}
}

func TestWriterAbort(t *testing.T) {
	dir := t.TempDir()
	old := previous(t, dir)
	w, err := Open(Options{Dir: dir, Formats: allFormats, Excel: true, Columns: fixtureColumns})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fixtureRows(t) {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	checkUntouched(t, dir, old)
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort=%v, want nil", err)
	}
	if err := w.Write(jobs.Result{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Abort=%v, want %v", err, ErrClosed)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("Close after Abort=%v, want %v", err, ErrClosed)
	}
	checkUntouched(t, dir, old)
}

// TestWriterCloseFails breaks one output in several ways and checks that
// Close fails, names the file, removes every temporary file and leaves the
// previous outputs as they were.
func TestWriterCloseFails(t *testing.T) {
	tests := []struct {
		name     string
		breakIt  func(t *testing.T, w *Writer)
		wantFile string
		wantErr  error
	}{
		{
			// The rename fails: the first file renamed.
			name: "temporary csv file removed",
			breakIt: func(t *testing.T, w *Writer) {
				if err := os.Remove(w.files[0].tmp.Name()); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: "results.csv",
			wantErr:  fs.ErrNotExist,
		},
		{
			// The flush fails, for the last file: nothing is renamed.
			name: "jsonl file closed under the writer",
			breakIt: func(t *testing.T, w *Writer) {
				if err := w.files[2].tmp.Close(); err != nil {
					t.Fatal(err)
				}
			},
			wantFile: "results.jsonl",
			wantErr:  os.ErrClosed,
		},
		{
			// Write fails once the buffer fills up; Close must fail too.
			name: "write error",
			breakIt: func(t *testing.T, w *Writer) {
				if err := w.files[1].tmp.Close(); err != nil {
					t.Fatal(err)
				}
				big := jobs.Result{ID: "big", Translation: strings.Repeat("x", 2*bufferSize)}
				if err := w.Write(big); !errors.Is(err, os.ErrClosed) {
					t.Fatalf("Write()=%v, want %v", err, os.ErrClosed)
				}
				if err := w.Write(jobs.Result{ID: "after"}); !errors.Is(err, os.ErrClosed) {
					t.Errorf("Write after an error=%v, want the same error", err)
				}
			},
			wantFile: "results.json",
			wantErr:  os.ErrClosed,
		},
		{
			// A write error that goes away: Close must not commit the
			// file that lacks a row.
			name: "transient write error",
			breakIt: func(t *testing.T, w *Writer) {
				w.files[0].enc = &flakyEncoder{encoder: w.files[0].enc}
				if err := w.Write(jobs.Result{ID: "lost"}); !errors.Is(err, errBoom) {
					t.Fatalf("Write()=%v, want %v", err, errBoom)
				}
			},
			wantFile: "results.csv",
			wantErr:  errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			old := previous(t, dir)
			w, err := Open(Options{Dir: dir, Formats: allFormats, Columns: fixtureColumns})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range fixtureRows(t) {
				if err := w.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			tt.breakIt(t, w)
			err = w.Close()
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Close()=%v, want %v", err, tt.wantErr)
			}
			if wantPath := filepath.Join(dir, tt.wantFile); err == nil || !strings.Contains(err.Error(), wantPath) {
				t.Errorf("Close()=%v, want it to name %s", err, wantPath)
			}
			checkUntouched(t, dir, old)
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after a failed Close=%v, want nil", err)
			}
		})
	}
}

// flakyEncoder fails its first Write and then works.
type flakyEncoder struct {
	encoder
	failed bool
}

func (f *flakyEncoder) Write(r jobs.Result) error {
	if !f.failed {
		f.failed = true
		return errBoom
	}
	return f.encoder.Write(r)
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr error // nil: any error
	}{
		{"no formats", Options{Dir: t.TempDir()}, ErrNoFormat},
		{"unknown format", Options{Dir: t.TempDir(), Formats: []string{"csv", "xlsx"}}, ErrUnknownFormat},
		{"no dir", Options{Formats: []string{"csv"}}, ErrNoDir},
		{"dir is a file", Options{Dir: file, Formats: []string{"csv"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Open(tt.opts)
			if err == nil {
				w.Abort()
				t.Fatalf("Open succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Open()=%v, want %v", err, tt.wantErr)
			}
			if tt.opts.Dir != "" && tt.opts.Dir != file {
				if tmps := tempFiles(t, tt.opts.Dir); len(tmps) > 0 {
					t.Errorf("temporary files left: %q", tmps)
				}
			}
		})
	}
}

// TestWriterFormats checks that only the formats asked for are written, and
// that duplicates are written once.
func TestWriterFormats(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Options{Dir: dir, Formats: []string{"jsonl", " JSON", "jsonl"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"results.json", "results.jsonl"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	got, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "[]\n" {
		t.Errorf("empty results.json=%q, want %q", got, "[]\n")
	}
}

// TestWriterConcurrent checks, under -race, that Write may be called from
// several goroutines.
func TestWriterConcurrent(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Options{Dir: dir, Formats: []string{"jsonl"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := w.Write(jobs.Result{ID: "x"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(got), "\n"); n != 400 {
		t.Errorf("results.jsonl has %d lines, want 400", n)
	}
}

// TestMemoryBounded writes 5,000 rows of about 3 KB (15 MB of text) and checks
// that the heap does not grow with them.
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	row := jobs.Result{
		ID:          "row",
		Translation: strings.Repeat("translated text, ", 120),
		KeyPoints:   []string{"one", "two"},
		Source:      []jobs.Field{{Name: "excerpt_ar", Value: strings.Repeat("نص ", 120)}},
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	encs := []encoder{
		NewCSV(io.Discard, []string{"excerpt_ar"}, true),
		NewJSON(io.Discard),
		NewJSONL(io.Discard),
	}
	write := func(n int) {
		for range n {
			for _, e := range encs {
				if err := e.Write(row); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	write(100)
	before := heap()
	write(5000)
	after := heap()
	t.Logf("heap %d -> %d", before, after)
	runtime.KeepAlive(encs)
	const slack = 2 << 20
	if after > before+slack {
		t.Errorf("heap grew from %d to %d bytes over 5,000 rows", before, after)
	}
}

// TestCloseRemovesStaleTemps checks that a run's Close removes the
// temporary files a killed run left, and nothing else.
func TestCloseRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	stale := []string{".results.csv.123.tmp", ".results.json.456.tmp", ".run.json.789.tmp"}
	keep := []string{".other.tmp", "results.csv.bak", "notes.tmp"}
	for _, name := range append(append([]string{}, stale...), keep...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(Options{Dir: dir, Formats: []string{FormatCSV, FormatJSON}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left after Close (%v)", name, err)
		}
	}
	for _, name := range keep {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s removed: %v", name, err)
		}
	}
}
