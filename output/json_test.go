package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tarjama/tarjama/jobs"
)

// jsonResult mirrors the object of results.json.
type jsonResult struct {
	ID          string        `json:"id"`
	Status      jobs.Status   `json:"status"`
	Error       string        `json:"error"`
	TitleEN     string        `json:"title_en"`
	Translation string        `json:"translation"`
	KeyPoints   []string      `json:"key_points"`
	Source      orderedFields `json:"source"`
	Model       string        `json:"model"`
	Usage       struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	InputSHA256   string `json:"input_sha256"`
	PromptVersion string `json:"prompt_version"`
}

// orderedFields decodes a JSON object of strings keeping its key order.
type orderedFields []jobs.Field

func (o *orderedFields) UnmarshalJSON(b []byte) error {
	keys, values, err := objectKeys(b)
	if err != nil {
		return err
	}
	*o = orderedFields{}
	for i, k := range keys {
		var v string
		if err := json.Unmarshal(values[i], &v); err != nil {
			return fmt.Errorf("source %q: %w", k, err)
		}
		*o = append(*o, jobs.Field{Name: k, Value: v})
	}
	return nil
}

// objectKeys returns the keys of the JSON object b, in order, and their raw
// values.
func objectKeys(b []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, fmt.Errorf("not an object: %s", b)
	}
	var keys []string
	var values []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, tok.(string))
		values = append(values, v)
	}
	return keys, values, nil
}

var wantKeys = []string{"id", "status", "error", "title_en", "translation", "key_points", "source", "model", "usage", "input_sha256", "prompt_version"}

// decodeObject checks the fields of one object and decodes it.
func decodeObject(t *testing.T, raw []byte) jobs.Result {
	t.Helper()
	keys, values, err := objectKeys(raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantKeys, keys); diff != "" {
		t.Errorf("object keys (-want +got):\n%s", diff)
	}
	if kp := string(values[5]); !strings.HasPrefix(kp, "[") {
		t.Errorf("key_points=%s, want an array", kp)
	}
	if usage, _, err := objectKeys(values[8]); err != nil || !cmp.Equal(usage, []string{"prompt_tokens", "completion_tokens"}) {
		t.Errorf("usage keys=%q (%v)", usage, err)
	}
	var j jsonResult
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		t.Fatalf("decode object: %v", err)
	}
	return jobs.Result{
		ID:            j.ID,
		Status:        j.Status,
		Error:         j.Error,
		TitleEN:       j.TitleEN,
		Translation:   j.Translation,
		KeyPoints:     j.KeyPoints,
		Source:        []jobs.Field(j.Source),
		Model:         j.Model,
		Usage:         jobs.Usage{PromptTokens: j.Usage.PromptTokens, CompletionTokens: j.Usage.CompletionTokens},
		InputSHA256:   j.InputSHA256,
		PromptVersion: j.PromptVersion,
	}
}

// jsonOpts compares a result read back with the one written: everything
// but Row, which is not written.
var jsonOpts = []cmp.Option{
	cmpopts.IgnoreFields(jobs.Result{}, "Row"),
	cmpopts.EquateEmpty(),
}

func TestJSONRoundTrip(t *testing.T) {
	rows := fixtureRows(t)
	var buf bytes.Buffer
	writeAll(t, NewJSON(&buf), rows)
	out := buf.Bytes()

	var objects []json.RawMessage
	if err := json.Unmarshal(out, &objects); err != nil {
		t.Fatalf("results.json is not a JSON array: %v", err)
	}
	if got, want := len(objects), len(rows); got != want {
		t.Fatalf("got %d objects, want %d", got, want)
	}
	for i, raw := range objects {
		got := decodeObject(t, raw)
		if diff := cmp.Diff(rows[i], got, jsonOpts...); diff != "" {
			t.Errorf("object %d (%s) (-want +got):\n%s", i, rows[i].ID, diff)
		}
	}
	// The stream layout: one object per line.
	lines := strings.Split(string(out), "\n")
	if got, want := len(lines), len(rows)+3; got != want {
		t.Errorf("results.json has %d lines, want %d", got, want)
	}
	if lines[0] != "[" || lines[len(lines)-2] != "]" || lines[len(lines)-1] != "" {
		t.Errorf("results.json does not start with %q and end with %q", "[\n", "\n]\n")
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	rows := fixtureRows(t)
	var buf bytes.Buffer
	writeAll(t, NewJSONL(&buf), rows)
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	var i int
	for ; sc.Scan(); i++ {
		if i >= len(rows) {
			t.Fatalf("more lines than rows")
		}
		got := decodeObject(t, sc.Bytes())
		if diff := cmp.Diff(rows[i], got, jsonOpts...); diff != "" {
			t.Errorf("line %d (%s) (-want +got):\n%s", i+1, rows[i].ID, diff)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(rows) {
		t.Errorf("got %d lines, want %d", i, len(rows))
	}
}

func TestJSONText(t *testing.T) {
	r := jobs.Result{
		TitleEN:   "<b>AT&T</b> = \"قال\"",
		KeyPoints: nil,
		Source:    []jobs.Field{{Name: "z", Value: "1"}, {Name: "a", Value: "2"}, {Name: "m", Value: "3"}},
	}
	for name, enc := range map[string]func(*bytes.Buffer) encoder{
		"json":  func(b *bytes.Buffer) encoder { return NewJSON(b) },
		"jsonl": func(b *bytes.Buffer) encoder { return NewJSONL(b) },
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			writeAll(t, enc(&buf), []jobs.Result{r})
			out := buf.String()
			for _, want := range []string{
				`"title_en":"<b>AT&T</b> = \"قال\""`, // no \u003c, \u0026 nor \u0642, no guard
				`"key_points":[]`,                    // not null
				`"source":{"z":"1","a":"2","m":"3"}`, // input order, not sorted
				`"usage":{"prompt_tokens":0,"completion_tokens":0}`,
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %s:\n%s", want, out)
				}
			}
		})
	}
}

func TestJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	writeAll(t, NewJSON(&buf), nil)
	if got, want := buf.String(), "[]\n"; got != want {
		t.Errorf("empty results.json=%q, want %q", got, want)
	}
	buf.Reset()
	writeAll(t, NewJSONL(&buf), nil)
	if got := buf.String(); got != "" {
		t.Errorf("empty results.jsonl=%q, want %q", got, "")
	}
}

func TestJSONWriteError(t *testing.T) {
	for name, enc := range map[string]encoder{
		"json":  NewJSON(failWriter{}),
		"jsonl": NewJSONL(failWriter{}),
	} {
		if err := enc.Write(jobs.Result{}); !errors.Is(err, errBoom) {
			t.Errorf("%s: Write()=%v, want %v", name, err, errBoom)
		}
		if err := enc.Close(); !errors.Is(err, errBoom) {
			t.Errorf("%s: Close()=%v, want %v", name, err, errBoom)
		}
	}
}
