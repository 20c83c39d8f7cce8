// Package csvin reads the CSV files that people give tarjama (the articles,
// a glossary) so that every problem is told the way an editor shows the
// file: the file's name, the physical line (a quoted field may span
// several; the header is line 1), the column and what to do about it.
//
// A Reader is an encoding/csv.Reader over the input with a UTF-8
// byte-order mark dropped, strict quoting and as many fields in every row
// as in the header; it checks every field for valid UTF-8 and turns the
// reader's errors into *Error. The callers, jobs and glossary, hand its
// records to gocsv through their own gocsv.SimpleDecoder, which knows
// their columns.
package csvin

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Error is a problem with a CSV file, told with where it is.
type Error struct {
	// Path is the file as the user named it; What is what to call it
	// when there is no path ("input" when empty).
	Path, What string
	// Line is the physical line (1-based, the header is line 1) as an
	// editor shows it; 0 if the problem is not on a line.
	Line int
	// Column is the header name of the column, or "".
	Column string
	// ColumnIndex is the 1-based column position, 0 if not applicable.
	ColumnIndex int
	// Msg says what is wrong, Hint what to do about it (may be "").
	Msg  string
	Hint string
	// Err is the underlying error (a *csv.ParseError), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.name())
	sep := " "
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		sep = ", "
	}
	switch {
	case e.Column != "" && e.ColumnIndex > 0:
		fmt.Fprintf(&b, "%scolumn %q (%d)", sep, e.Column, e.ColumnIndex)
	case e.Column != "":
		fmt.Fprintf(&b, "%scolumn %q", sep, e.Column)
	case e.ColumnIndex > 0:
		fmt.Fprintf(&b, "%scolumn %d", sep, e.ColumnIndex)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) name() string {
	switch {
	case e.Path != "":
		return e.Path
	case e.What != "":
		return e.What
	}
	return "input"
}

// Reader reads the records of one CSV file.
type Reader struct {
	path, what string
	utf8Hint   string
	csv        *csv.Reader
	tail       *tailReader
	header     []string
}

// NewReader reads r, named path (or, without a path, what) in errors.
// utf8Hint is the hint of an invalid UTF-8 error (how to convert the file).
func NewReader(r io.Reader, path, what, utf8Hint string) *Reader {
	tail := &tailReader{r: &bomReader{r: bufio.NewReader(r)}}
	cr := csv.NewReader(tail)
	cr.LazyQuotes = false
	cr.FieldsPerRecord = 0 // every row as many fields as the header
	return &Reader{path: path, what: what, utf8Hint: utf8Hint, csv: cr, tail: tail}
}

// Errorf makes an *Error about this file.
func (r *Reader) Errorf(line int, column string, index int, hint, format string, args ...any) *Error {
	return &Error{Path: r.path, What: r.what, Line: line, Column: column, ColumnIndex: index,
		Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// ReadHeader reads the first record, whose names later errors use; io.EOF
// means the file is empty.
func (r *Reader) ReadHeader() ([]string, error) {
	header, err := r.read(true)
	if err == nil {
		r.header = header
	}
	return header, err
}

// Read reads the next record; io.EOF at the end of the file.
func (r *Reader) Read() ([]string, error) { return r.read(false) }

func (r *Reader) read(header bool) ([]string, error) {
	rec, err := r.csv.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, r.readError(rec, err)
	}
	if err := r.checkUTF8(rec, header); err != nil {
		return nil, err
	}
	return rec, nil
}

// Line is the physical line on which field i of the last record starts.
func (r *Reader) Line(i int) int {
	line, _ := r.csv.FieldPos(i)
	return line
}

// readError turns an error of csv.Reader into an *Error, or wraps an I/O
// error. rec holds the fields read before the error.
func (r *Reader) readError(rec []string, err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", (&Error{Path: r.path, What: r.what}).name(), err)
	}
	e := &Error{Path: r.path, What: r.what, Line: pe.Line, Err: pe}
	started := ""
	if pe.StartLine != pe.Line {
		started = fmt.Sprintf(" (in the row that starts on line %d)", pe.StartLine)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		e.Line = pe.StartLine
		e.Msg = fmt.Sprintf("the row has %d fields, the header has %d", len(rec), len(r.header))
		e.Hint = "a field that holds a comma, a double quote or a line break must be enclosed in double quotes"
	case errors.Is(pe.Err, csv.ErrQuote) && r.tail.endsAt(pe.Line, pe.Column):
		e.Line = pe.StartLine
		e.Msg = fmt.Sprintf("unclosed quote: a quoted field in the row that starts on line %d is never closed and runs to the end of the file (line %d)", pe.StartLine, pe.Line)
		e.Hint = `close the field with a double quote, and double every quote inside it ("")`
	case errors.Is(pe.Err, csv.ErrQuote):
		e.Msg = fmt.Sprintf(`unexpected double quote at byte %d of the line, inside a quoted field%s`, pe.Column, started)
		e.Hint = `a double quote inside a quoted field must be doubled ("")`
	case errors.Is(pe.Err, csv.ErrBareQuote):
		e.Msg = fmt.Sprintf(`a double quote in an unquoted field at byte %d of the line%s`, pe.Column, started)
		e.Hint = `enclose the field in double quotes and double every quote inside it ("")`
	default:
		e.Msg = pe.Error()
	}
	if errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote) {
		// csv.Reader returns the fields read before the broken one.
		e.ColumnIndex = len(rec) + 1
		if len(rec) < len(r.header) {
			e.Column = r.header[len(rec)]
		}
	}
	return e
}

// checkUTF8 returns an *Error for the first field of rec that is not valid
// UTF-8, naming the physical line of the bad byte.
func (r *Reader) checkUTF8(rec []string, header bool) error {
	for j, field := range rec {
		if utf8.ValidString(field) {
			continue
		}
		i := invalidUTF8At(field)
		line := r.Line(j) + strings.Count(field[:i], "\n")
		e := &Error{Path: r.path, What: r.what, Line: line, ColumnIndex: j + 1, Hint: r.utf8Hint}
		if header {
			e.Msg = fmt.Sprintf("invalid UTF-8 at byte %d of the column name", i+1)
		} else {
			if j < len(r.header) {
				e.Column = r.header[j]
			}
			e.Msg = fmt.Sprintf("invalid UTF-8 at byte %d of the field", i+1)
		}
		return e
	}
	return nil
}

// invalidUTF8At returns the byte offset of the first invalid UTF-8
// sequence in s, or len(s).
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(s)
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// bomReader drops a UTF-8 byte-order mark at the start of its input
// (gocsv would keep it in the first header name).
type bomReader struct {
	r       *bufio.Reader
	checked bool
}

func (b *bomReader) Read(p []byte) (int, error) {
	if !b.checked {
		b.checked = true
		if head, _ := b.r.Peek(len(utf8BOM)); bytes.Equal(head, utf8BOM) {
			b.r.Discard(len(utf8BOM))
		}
	}
	return b.r.Read(p)
}

// tailReader passes its input through and remembers where it ends, as
// csv.Reader counts: csv.Reader reports an unclosed quote (ErrQuote) at the
// very end of the input, while an extraneous quote is reported at the quote
// itself, which always has more text after it on its line.
type tailReader struct {
	r       io.Reader
	eof     bool
	lines   int  // "\n" seen
	cur     int  // bytes after the last "\n"
	prevLen int  // length of the last complete line, without "\r\n" or "\n"
	last    byte // last byte seen
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	b := p[:n]
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		l := t.cur + i
		if (i > 0 && b[i-1] == '\r') || (i == 0 && t.cur > 0 && t.last == '\r') {
			l--
		}
		t.prevLen, t.cur, t.lines, t.last = l, 0, t.lines+1, '\n'
		b = b[i+1:]
	}
	if len(b) > 0 {
		t.cur += len(b)
		t.last = b[len(b)-1]
	}
	if err == io.EOF {
		t.eof = true
	}
	return n, err
}

// endsAt reports whether line and column (as csv.Reader counts them: the
// column just past the last byte of the line, "\r\n" counted as one byte)
// are the end of the input, which must have been read to its end.
func (t *tailReader) endsAt(line, column int) bool {
	if !t.eof {
		return false
	}
	if t.cur > 0 { // no final line break; csv.Reader drops a final "\r"
		n := t.cur
		if t.last == '\r' {
			n--
		}
		return line == t.lines+1 && column == n+1
	}
	return line == t.lines && column == t.prevLen+2
}
