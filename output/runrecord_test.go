package output

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
)

// testRecord is the run.json of a run with two failed rows.
func testRecord() jobs.RunRecord {
	started := time.Date(2025, 3, 14, 2, 0, 0, 0, time.UTC)
	rec := jobs.Summary{
		Rows: 60, OK: 55, Skipped: 3, Failed: 2, Cached: 10,
		Requests: 104, Retries: 4,
		Usage: jobs.Usage{PromptTokens: 123456, CompletionTokens: 23456},
		Cost:  0.0875, CostKnown: true,
		Started: started, Elapsed: 95 * time.Second,
		Model: "gpt-4.1-mini", SummaryModel: "gpt-4.1-nano",
		GlossaryTerms: 12, GlossaryMisses: 1,
		FailedRows: []jobs.FailedRow{
			{Row: 12, ID: "JA-12", Error: "truncated: the reply was cut off by the token limit"},
			{Row: 40, ID: "مقال-٤٠", Error: `http_400: "<bad request>" & more`},
		},
		Written: true,
	}.Record()
	rec.Version, rec.Command, rec.ExitCode = "v1.2.3", "run", 2
	rec.Input, rec.Output = "news.csv", "out"
	return rec
}

func TestWriteRunRecord(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out") // created by WriteRunRecord
	want := testRecord()
	if err := WriteRunRecord(dir, want, Perm{}); err != nil {
		t.Fatalf("WriteRunRecord: %v", err)
	}
	if diff := cmp.Diff([]string{"run.json"}, listDir(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	path := filepath.Join(dir, RunRecordName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got jobs.RunRecord
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("run.json is not JSON: %v\n%s", err, data)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("run.json round trip (-want +got):\n%s", diff)
	}
	for _, s := range []string{
		"{\n  \"tool\": \"tarjama\",\n  \"version\": \"v1.2.3\",\n",
		`"started_at": "2025-03-14T02:00:00Z"`,
		`"finished_at": "2025-03-14T02:01:35Z"`,
		`"elapsed_seconds": 95,`,
		`"error": "http_400: \"<bad request>\" & more"`,
		`"id": "مقال-٤٠"`,
		`"failed_rows_more": 0`,
	} {
		if !strings.Contains(string(data), s) {
			t.Errorf("run.json lacks %s:\n%s", s, data)
		}
	}
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("run.json does not end with a line break")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != DefaultPerm && runtime.GOOS != "windows" {
		t.Errorf("run.json perm=%v, want %v", got, DefaultPerm)
	}
}

func TestWriteRunRecordNoFailedRows(t *testing.T) {
	dir := t.TempDir()
	if err := WriteRunRecord(dir, jobs.Summary{}.Record(), Perm{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, RunRecordName))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"failed_rows": [],`) {
		t.Errorf("failed_rows is not [] with no failed row:\n%s", data)
	}
	if strings.Contains(string(data), `"error"`) {
		t.Errorf("error present with no error:\n%s", data)
	}
}

func TestWriteRunRecordReplaces(t *testing.T) {
	dir := t.TempDir()
	old := map[string]string{"run.json": "{\"tool\": \"tarjama\", \"status\": \"yesterday\"}\n"}
	if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(old["run.json"]), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := testRecord()
	if err := WriteRunRecord(dir, rec, Perm{}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got jobs.RunRecord
	if err := json.Unmarshal(data, &got); err != nil || got.Status != jobs.RunDone {
		t.Errorf("run.json not replaced: %v\n%s", err, data)
	}
}

// badRecord cannot be encoded.
type badRecord struct{}

func (badRecord) MarshalJSON() ([]byte, error) { return nil, errBoom }

// TestWriteRunRecordFails checks that a run.json that cannot be written
// leaves the previous one as it was and no temporary file behind.
func TestWriteRunRecordFails(t *testing.T) {
	const yesterday = "{\n  \"tool\": \"tarjama\",\n  \"status\": \"done\"\n}\n"
	tests := []struct {
		name  string
		write func(dir string) error
		want  error
	}{
		{
			name:  "record that cannot be encoded",
			write: func(dir string) error { return WriteRunRecord(dir, badRecord{}, Perm{}) },
			want:  errBoom,
		},
		{
			// Half the JSON is in the temporary file when the write fails.
			name: "write fails half-way",
			write: func(dir string) error {
				return writeAtomic(dir, RunRecordName, DefaultPerm, func(w io.Writer) error {
					if _, err := io.WriteString(w, "{\n  \"tool\": \"tar"); err != nil {
						return err
					}
					return errBoom
				})
			},
			want: errBoom,
		},
		{
			name: "temporary file closed under the writer",
			write: func(dir string) error {
				return writeAtomic(dir, RunRecordName, DefaultPerm, func(w io.Writer) error {
					return w.(*os.File).Close()
				})
			},
			want: os.ErrClosed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			old := map[string]string{"run.json": yesterday}
			if err := os.WriteFile(filepath.Join(dir, "run.json"), []byte(yesterday), 0o644); err != nil {
				t.Fatal(err)
			}
			err := tt.write(dir)
			if !errors.Is(err, tt.want) {
				t.Errorf("error=%v, want %v", err, tt.want)
			}
			if want := filepath.Join(dir, "run.json"); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error=%v, want it to name %s", err, want)
			}
			checkUntouched(t, dir, old)
		})
	}

	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		// A directory that is not empty cannot be replaced by a file.
		if err := os.MkdirAll(filepath.Join(dir, "run.json", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := WriteRunRecord(dir, testRecord(), Perm{})
		if err == nil || !strings.Contains(err.Error(), "commit "+filepath.Join(dir, "run.json")) {
			t.Errorf("error=%v, want a failed commit of run.json", err)
		}
		if tmps := tempFiles(t, dir); len(tmps) != 0 {
			t.Errorf("temporary files left: %v", tmps)
		}
	})

	if err := WriteRunRecord("", testRecord(), Perm{}); !errors.Is(err, ErrNoDir) {
		t.Errorf("WriteRunRecord(\"\")=%v, want %v", err, ErrNoDir)
	}
}

// TestWriteRunRecordReadersSeeWholeFiles rewrites run.json while readers
// read it: every read must be a whole JSON document.
func TestWriteRunRecordReadersSeeWholeFiles(t *testing.T) {
	dir := t.TempDir()
	rec := testRecord()
	if err := WriteRunRecord(dir, rec, Perm{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				data, err := os.ReadFile(filepath.Join(dir, "run.json"))
				if err != nil {
					t.Errorf("read run.json: %v", err)
					return
				}
				if !json.Valid(data) {
					t.Errorf("run.json is not whole JSON:\n%s", data)
					return
				}
			}
		})
	}
	for i := range 50 {
		// Records of different sizes, so that a partial write would show.
		rec.FailedRows = rec.FailedRows[:0]
		for j := range i % 20 {
			rec.FailedRows = append(rec.FailedRows, jobs.FailedRow{Row: j + 1, ID: fmt.Sprint(j), Error: strings.Repeat("x", 100*i)})
		}
		if err := WriteRunRecord(dir, rec, Perm{}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if tmps := tempFiles(t, dir); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}
