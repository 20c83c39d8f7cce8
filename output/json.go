package output

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"

	"github.com/tarjama/tarjama/jobs"
)

// JSONWriter writes results.json: a JSON array of result objects, written
// as a stream, one object per line. See the package documentation for the
// fields.
type JSONWriter struct {
	w   io.Writer
	enc objectEncoder
	n   int
	err error
}

// NewJSON returns a JSONWriter that writes to w. Each Write writes to w
// once; wrap w in a bufio.Writer for fewer system calls.
func NewJSON(w io.Writer) *JSONWriter {
	return &JSONWriter{w: w}
}

// Write writes the object for r. After an error, Write and Close return
// that error.
func (j *JSONWriter) Write(r jobs.Result) error {
	if j.err != nil {
		return j.err
	}
	b := &j.enc.buf
	b.Reset()
	if j.n == 0 {
		b.WriteString("[\n")
	} else {
		b.WriteString(",\n")
	}
	j.enc.object(r)
	j.n++
	_, j.err = j.w.Write(b.Bytes())
	return j.err
}

// Close ends the array ("[]" when no object was written). It does not
// close the underlying writer.
func (j *JSONWriter) Close() error {
	if j.err != nil {
		return j.err
	}
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, j.err = io.WriteString(j.w, end)
	return j.err
}

// JSONLWriter writes results.jsonl: the objects of results.json, one per
// line.
type JSONLWriter struct {
	w   io.Writer
	enc objectEncoder
	err error
}

// NewJSONL returns a JSONLWriter that writes to w. Each Write writes to w
// once; wrap w in a bufio.Writer for fewer system calls.
func NewJSONL(w io.Writer) *JSONLWriter {
	return &JSONLWriter{w: w}
}

// Write writes the line for r. After an error, Write and Close return that
// error.
func (j *JSONLWriter) Write(r jobs.Result) error {
	if j.err != nil {
		return j.err
	}
	b := &j.enc.buf
	b.Reset()
	j.enc.object(r)
	b.WriteByte('\n')
	_, j.err = j.w.Write(b.Bytes())
	return j.err
}

// Close returns the first write error, if any. It writes nothing and does
// not close the underlying writer.
func (j *JSONLWriter) Close() error {
	return j.err
}

// objectEncoder builds the JSON object of a result in buf. The object is
// written field by field so that the fields, and the keys of source, keep
// their order (a Go map would sort them). Its zero value is ready to use;
// it must not be copied after first use.
type objectEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// object appends the object for r to e.buf.
func (e *objectEncoder) object(r jobs.Result) {
	b := &e.buf
	b.WriteString(`{"id":`)
	e.str(r.ID)
	b.WriteString(`,"status":`)
	e.str(string(r.Status))
	b.WriteString(`,"error":`)
	e.str(r.Error)
	b.WriteString(`,"title_en":`)
	e.str(r.TitleEN)
	b.WriteString(`,"translation":`)
	e.str(r.Translation)
	b.WriteString(`,"key_points":[`)
	for i, p := range r.KeyPoints {
		if i > 0 {
			b.WriteByte(',')
		}
		e.str(p)
	}
	b.WriteString(`],"source":{`)
	for i, f := range r.Source {
		if i > 0 {
			b.WriteByte(',')
		}
		e.str(f.Name)
		b.WriteByte(':')
		e.str(f.Value)
	}
	b.WriteString(`},"model":`)
	e.str(r.Model)
	b.WriteString(`,"usage":{"prompt_tokens":`)
	b.WriteString(strconv.Itoa(r.Usage.PromptTokens))
	b.WriteString(`,"completion_tokens":`)
	b.WriteString(strconv.Itoa(r.Usage.CompletionTokens))
	b.WriteString(`},"input_sha256":`)
	e.str(r.InputSHA256)
	b.WriteString(`,"prompt_version":`)
	e.str(r.PromptVersion)
	b.WriteByte('}')
}

// str appends s as a JSON string, with '<', '>' and '&' left as they are.
func (e *objectEncoder) str(s string) {
	if e.enc == nil {
		e.enc = json.NewEncoder(&e.buf)
		e.enc.SetEscapeHTML(false)
	}
	// Encoding a string cannot fail; Encode adds a newline, dropped here.
	_ = e.enc.Encode(s)
	e.buf.Truncate(e.buf.Len() - 1)
}
