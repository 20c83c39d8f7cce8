package output_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
)

// csvCell is what a cell holding s reads back as from results.csv: s with
// the spreadsheet guard (a leading "'" when s starts with '=', '+', '-',
// '@', a tab or a carriage return), and "\r\n" read as "\n" by the CSV
// reader. Other bytes, invalid UTF-8 included, are kept as they are.
func csvCell(s string) string {
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		s = "'" + s
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}

// keyPointsCell is the key_points cell of results.csv: "• " and the point
// on one line each, line breaks inside a point turned into spaces.
func keyPointsCell(points []string) string {
	lines := make([]string, len(points))
	for i, p := range points {
		lines[i] = "• " + strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(p)
	}
	return strings.Join(lines, "\n")
}

// jsonValue is what a string reads back as from results.json: s with each
// byte that is not part of valid UTF-8 replaced by U+FFFD, as
// encoding/json writes it.
func jsonValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// jsonResult is an object of results.json.
type jsonResult struct {
	ID            string            `json:"id"`
	Status        string            `json:"status"`
	Error         string            `json:"error"`
	TitleEN       string            `json:"title_en"`
	Translation   string            `json:"translation"`
	KeyPoints     json.RawMessage   `json:"key_points"`
	Source        map[string]string `json:"source"`
	Model         string            `json:"model"`
	Usage         jsonUsage         `json:"usage"`
	InputSHA256   string            `json:"input_sha256"`
	PromptVersion string            `json:"prompt_version"`
}

type jsonUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

var jsonKeys = []string{"id", "status", "error", "title_en", "translation", "key_points",
	"source", "model", "usage", "input_sha256", "prompt_version"}

// topLevelKeys returns the keys of each object of the array in data, in
// order.
func topLevelKeys(t *testing.T, data []byte) [][]string {
	t.Helper()
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	var keys [][]string
	for _, raw := range raws {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil { // {
			t.Fatal(err)
		}
		var ks []string
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		keys = append(keys, ks)
	}
	return keys
}

// FuzzRoundTrip writes a result with arbitrary strings, and a fixture
// result after it, through Open (csv, json and jsonl) and reads the files
// back: results.csv gives every value back exactly apart from the
// spreadsheet guard, "\r\n" read as "\n" and the key points' "• " lines;
// results.json is valid JSON and gives every value back exactly, invalid
// UTF-8 replaced by U+FFFD byte for byte; results.jsonl holds the same
// objects.
func FuzzRoundTrip(f *testing.F) {
	raw, err := os.ReadFile("../testdata/articles.csv")
	if err != nil {
		f.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		f.Fatal(err)
	}
	for _, rec := range recs[1:4] {
		// id, title, body, url, published_at, source
		f.Add(rec[0], rec[1], rec[2], "A point.", "Another point,\nover two lines.", uint8(2), "", "url", rec[3])
	}
	f.Add("-1", "=SUM(A1)", "+971", "@here", "\tx", uint8(3), "invalid_translation: \"quoted\"", "=cmd", "\r\nx")
	f.Add("", "", "", "", "", uint8(0), "", "", "")
	f.Add("a\r\nb", "\rx", "line\rbreak\r\n", "p\r\n", "\n", uint8(1), "e\nrror", " lead", "trail ")
	f.Add("\xff", "\xc3\x28", "نص\xe2\x82", "\xed\xa0\x80", "ok", uint8(2), "\x80", "col\xfe", "\xf4\x90\x80\x80")
	f.Add(`\.`, `"`, `""`, "\u2028\u2029", "<&>", uint8(2), ",", "id", "\x00")

	f.Fuzz(func(t *testing.T, id, title, translation, kp1, kp2 string, nPoints uint8, errText, column, value string) {
		points := []string{kp1, kp2, kp1 + " " + kp2}[:nPoints%4]
		status := jobs.StatusOK
		if errText != "" {
			status = jobs.StatusFailed
		}
		results := []jobs.Result{
			{
				Row: 1, ID: id, Status: status, Error: errText,
				TitleEN: title, Translation: translation, KeyPoints: points,
				Source: []jobs.Field{{Name: column, Value: value}},
				Model:  "gpt-4o-mini", Usage: jobs.Usage{PromptTokens: 12, CompletionTokens: 34},
				InputSHA256: "ab12", PromptVersion: "v1",
			},
			{
				Row: 2, ID: "JA-culture-102-20160502", Status: jobs.StatusOK,
				TitleEN:     "Today: all about the Arab Radio and Television Festival",
				Translation: "The festival opens today in Hammamet.\nIt lasts a week.",
				KeyPoints:   []string{"The festival opens today.", "49 TV channels take part."},
				Model:       "gpt-4o-mini", Usage: jobs.Usage{PromptTokens: 1, CompletionTokens: 2},
			},
		}

		dir := t.TempDir()
		w, err := output.Open(output.Options{Dir: dir, Formats: []string{"csv", "json", "jsonl"}, Columns: []string{column}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}

		// results.csv
		data, err := os.ReadFile(filepath.Join(dir, "results.csv"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("read results.csv: %v\n%q", err, data)
		}
		want := [][]string{{"id", "title_en", "translation", "key_points", "status", "error",
			csvCell(column), "model", "prompt_tokens", "completion_tokens"}}
		for _, r := range results {
			want = append(want, []string{csvCell(r.ID), csvCell(r.TitleEN), csvCell(r.Translation),
				keyPointsCell(r.KeyPoints), string(r.Status), csvCell(r.Error),
				csvCell(valueOf(r.Source, column)), r.Model,
				strconv.Itoa(r.Usage.PromptTokens), strconv.Itoa(r.Usage.CompletionTokens)})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("results.csv read back (-want +got):\n%s\nfile: %q", diff, data)
		}
		// The key points cell holds one line per point.
		if cell := got[1][3]; len(points) > 0 {
			lines := strings.Split(cell, "\n")
			if len(lines) != len(points) {
				t.Fatalf("key_points cell %q has %d lines for %d points", cell, len(lines), len(points))
			}
			for _, l := range lines {
				if !strings.HasPrefix(l, "• ") {
					t.Fatalf("key_points line %q does not start with \"• \"", l)
				}
			}
		}

		// results.json
		data, err = os.ReadFile(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(data) {
			t.Fatalf("results.json is not valid JSON: %q", data)
		}
		var objs []jsonResult
		if err := json.Unmarshal(data, &objs); err != nil {
			t.Fatalf("results.json: %v", err)
		}
		if len(objs) != len(results) {
			t.Fatalf("results.json has %d objects, want %d", len(objs), len(results))
		}
		for i, r := range results {
			o := objs[i]
			var kp []string
			if err := json.Unmarshal(o.KeyPoints, &kp); err != nil || kp == nil {
				t.Fatalf("object %d: key_points is %s, want an array", i, o.KeyPoints)
			}
			wantKP := make([]string, len(r.KeyPoints))
			for j, p := range r.KeyPoints {
				wantKP[j] = jsonValue(p)
			}
			wantSource := map[string]string{}
			for _, fl := range r.Source {
				wantSource[jsonValue(fl.Name)] = jsonValue(fl.Value)
			}
			gotO := []any{o.ID, o.Status, o.Error, o.TitleEN, o.Translation, kp, o.Source, o.Model, o.Usage, o.InputSHA256, o.PromptVersion}
			wantO := []any{jsonValue(r.ID), string(r.Status), jsonValue(r.Error), jsonValue(r.TitleEN),
				jsonValue(r.Translation), wantKP, wantSource, r.Model, jsonUsage(r.Usage), r.InputSHA256, r.PromptVersion}
			if diff := cmp.Diff(wantO, gotO); diff != "" {
				t.Fatalf("results.json object %d read back (-want +got):\n%s\nfile: %q", i, diff, data)
			}
		}
		for i, ks := range topLevelKeys(t, data) {
			if !slices.Equal(ks, jsonKeys) {
				t.Fatalf("results.json object %d has the keys %q, want %q", i, ks, jsonKeys)
			}
		}

		// results.jsonl holds the same objects, one per line.
		jsonl, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(jsonl), "\n"), "\n")
		if len(lines) != len(results) {
			t.Fatalf("results.jsonl has %d lines, want %d: %q", len(lines), len(results), jsonl)
		}
		for i, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Fatalf("results.jsonl line %d is not valid JSON: %q", i+1, l)
			}
		}
		if got, want := string(data), "[\n"+strings.Join(lines, ",\n")+"\n]\n"; got != want {
			t.Fatalf("results.json=%q, want the objects of results.jsonl: %q", got, want)
		}
	})
}

func valueOf(fields []jobs.Field, name string) string {
	for _, fl := range fields {
		if fl.Name == name {
			return fl.Value
		}
	}
	return ""
}
