package output

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/tarjama/tarjama/internal/testfs"
	"github.com/tarjama/tarjama/jobs"
)

// writeAll writes rows with enc and closes it.
func writeAll(t testing.TB, enc encoder, rows []jobs.Result) {
	t.Helper()
	for _, r := range rows {
		if err := enc.Write(r); err != nil {
			t.Fatalf("Write(%s): %v", r.ID, err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// TestGolden checks the lower-level writers against the golden files.
func TestGolden(t *testing.T) {
	rows := fixtureRows(t)
	tests := []struct {
		golden string
		new    func(*bytes.Buffer) encoder
	}{
		{"results.csv.golden", func(b *bytes.Buffer) encoder { return NewCSV(b, fixtureColumns, false) }},
		{"results.excel.csv.golden", func(b *bytes.Buffer) encoder { return NewCSV(b, fixtureColumns, true) }},
		{"results.json.golden", func(b *bytes.Buffer) encoder { return NewJSON(b) }},
		{"results.jsonl.golden", func(b *bytes.Buffer) encoder { return NewJSONL(b) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			writeAll(t, tt.new(&buf), rows)
			checkGolden(t, tt.golden, buf.Bytes())
		})
	}
}

// TestGoldenFiles checks that Open, Write and Close produce the golden
// files.
func TestGoldenFiles(t *testing.T) {
	if testfs.Updating() {
		t.Skip("golden files are written by TestGolden")
	}
	rows := fixtureRows(t)
	for _, excel := range []bool{false, true} {
		dir := t.TempDir()
		w, err := Open(Options{Dir: dir, Formats: []string{"csv", "json", "jsonl"}, Excel: excel, Columns: fixtureColumns})
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, w, rows)
		csvGolden := "results.csv.golden"
		if excel {
			csvGolden = "results.excel.csv.golden"
		}
		for file, golden := range map[string]string{
			"results.csv":   csvGolden,
			"results.json":  "results.json.golden",
			"results.jsonl": "results.jsonl.golden",
		} {
			got, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, golden, got)
		}
	}
}

// checkGolden compares got with testdata/name, or rewrites the file with
// -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", name), got)
}
