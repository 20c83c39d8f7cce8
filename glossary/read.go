package glossary

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Column names of a glossary file, matched ignoring case and surrounding
// spaces.
const (
	ArabicColumn  = "arabic"
	EnglishColumn = "english"
)

// Names of the columns of the records the decoder hands to gocsv: the two
// fields, then the physical line of each.
const (
	recArabic      = "arabic"
	recEnglish     = "english"
	recArabicLine  = "arabic_line"
	recEnglishLine = "english_line"
)

// errStopped ends gocsv's reading once the consumer has found a bad entry;
// it never reaches a caller.
var errStopped = errors.New("glossary reading stopped")

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Error is a problem with a glossary file. It names the file, the physical
// line and the field.
//
// Error() gives `PATH line L, field "NAME" (column C): MSG; HINT`, leaving
// out what does not apply (an empty file has no line).
type Error struct {
	// Path names the file as messages show it ("glossary" if empty).
	Path string
	// Line is the physical line, counting the header as line 1, as an
	// editor shows it; 0 if the problem is not on a line.
	Line int
	// Field is the column's name as the header writes it ("English"), or
	// the expected name of a missing column; "" if not in a field.
	Field string
	// Column is the 1-based column position, 0 if not known.
	Column int
	// Msg says what is wrong, Hint what to do about it (may be "").
	Msg, Hint string
	// Err is the underlying error (a *csv.ParseError), if any.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path == "" {
		b.WriteString("glossary")
	} else {
		b.WriteString(e.Path)
	}
	sep := " "
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		sep = ", "
	}
	switch {
	case e.Field != "" && e.Column > 0:
		fmt.Fprintf(&b, "%sfield %q (column %d)", sep, e.Field, e.Column)
	case e.Field != "":
		fmt.Fprintf(&b, "%sfield %q", sep, e.Field)
	case e.Column > 0:
		fmt.Fprintf(&b, "%scolumn %d", sep, e.Column)
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

// ReadFile reads the glossary file at path. An error opening it names the
// path; problems with its content are *Error.
func ReadFile(path string) (*Glossary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read glossary: %w", err)
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads a glossary CSV (see the package comment for the format).
// name is the file's name in messages. Every problem with the content is
// an *Error; the first one in file order is returned.
func Read(r io.Reader, name string) (*Glossary, error) {
	d := newDecoder(name, r)
	b := newBuilder()
	var stopErr error
	err := gocsv.UnmarshalDecoderToCallback(d, func(rec record) {
		if stopErr != nil {
			return
		}
		if err := d.addEntry(b, rec); err != nil {
			stopErr = err
			d.stop()
		}
	})
	if stopErr != nil {
		return nil, stopErr
	}
	if err != nil {
		return nil, err
	}
	return b.glossary(), nil
}

// record is what gocsv decodes each row into.
type record struct {
	Arabic      string `csv:"arabic"`
	English     string `csv:"english"`
	ArabicLine  int    `csv:"arabic_line"`
	EnglishLine int    `csv:"english_line"`
}

// addEntry checks one record and adds its entry to b.
func (d *decoder) addEntry(b *builder, rec record) error {
	arErr := func(line int, format string, args ...any) *Error {
		return &Error{Path: d.path, Line: line, Field: d.header[d.ar], Column: d.ar + 1, Msg: fmt.Sprintf(format, args...)}
	}
	enErr := func(line int, format string, args ...any) *Error {
		return &Error{Path: d.path, Line: line, Field: d.header[d.en], Column: d.en + 1, Msg: fmt.Sprintf(format, args...)}
	}

	ar := collapseSpace(rec.Arabic)
	switch {
	case ar == "":
		return arErr(rec.ArabicLine, "empty Arabic form")
	case !hasArabicLetter(ar):
		e := arErr(rec.ArabicLine, "%q has no Arabic letters", ar)
		e.Hint = "are the arabic and english columns swapped?"
		return e
	}
	var forms []string
	for _, f := range strings.Split(rec.English, "|") {
		forms = append(forms, collapseSpace(f))
	}
	en := strings.Join(forms, "|")
	for _, f := range forms {
		switch {
		case len(forms) == 1 && f == "":
			return enErr(rec.EnglishLine, "empty English form")
		case f == "":
			e := enErr(rec.EnglishLine, "empty form in %q", en)
			e.Hint = `separate the accepted forms with single "|"`
			return e
		case hasArabicScript(f):
			return enErr(rec.EnglishLine, "English form %q contains Arabic script", f)
		case strings.TrimSpace(normEnglish(f)) == "":
			return enErr(rec.EnglishLine, "English form %q has no letters or digits", f)
		}
	}
	var alts []string
	for _, f := range forms[1:] {
		if f != forms[0] && !containsString(alts, f) {
			alts = append(alts, f)
		}
	}
	e := Entry{Arabic: ar, English: forms[0], Alternatives: alts, Line: rec.ArabicLine}

	key := matchKey(ar)
	if i, ok := b.lookup(key); ok {
		prev := &b.g.entries[i]
		if prev.English != e.English || !equalStrings(prev.Alternatives, e.Alternatives) {
			same := ""
			if prev.Arabic != ar {
				same = fmt.Sprintf(" (%q and %q are the same for matching)", prev.Arabic, ar)
			}
			err := arErr(rec.ArabicLine, "%q is also on line %d%s, with a different English form: %q there, %q here",
				ar, prev.Line, same, strings.Join(prev.Forms(), "|"), en)
			err.Hint = "give each Arabic form one row; list other accepted English forms in it, separated by \"|\""
			return err
		}
		// The same entry again: keep one, whatever the row order (the
		// smaller spelling, for Hash).
		if ar < prev.Arabic {
			prev.Arabic, prev.Line = ar, rec.ArabicLine
		}
		return nil
	}
	b.add(e, key)
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// decoder is the gocsv.SimpleDecoder behind Read: an encoding/csv.Reader
// over the BOM-stripped input that finds the arabic and english columns in
// the header, turns parse errors into *Error with physical lines, checks
// every field for valid UTF-8, and hands gocsv records of four fields:
// arabic, english, and the physical line of each.
type decoder struct {
	path    string
	csv     *csv.Reader
	stopped atomic.Bool

	// Written on gocsv's goroutine before the first record is sent; read
	// by the consumer after receiving it.
	header []string
	ar, en int // column indexes
}

var _ gocsv.SimpleDecoder = (*decoder)(nil)

func newDecoder(path string, r io.Reader) *decoder {
	cr := csv.NewReader(&bomReader{r: bufio.NewReader(r)})
	cr.FieldsPerRecord = 0 // every row as many fields as the header
	cr.LazyQuotes = false
	return &decoder{path: path, csv: cr}
}

func (d *decoder) stop() { d.stopped.Store(true) }

// GetCSVRow implements gocsv.SimpleDecoder.
func (d *decoder) GetCSVRow() ([]string, error) {
	if d.stopped.Load() {
		return nil, errStopped
	}
	if d.header == nil {
		return d.readHeader()
	}
	rec, err := d.csv.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, d.readError(rec, err)
	}
	if err := d.checkUTF8(rec); err != nil {
		return nil, err
	}
	arLine, _ := d.csv.FieldPos(d.ar)
	enLine, _ := d.csv.FieldPos(d.en)
	return []string{rec[d.ar], rec[d.en], strconv.Itoa(arLine), strconv.Itoa(enLine)}, nil
}

// GetCSVRows implements gocsv.SimpleDecoder; the glossary is only ever
// streamed.
func (d *decoder) GetCSVRows() ([][]string, error) {
	return nil, errors.New("glossary: read row by row, not all at once")
}

func (d *decoder) readHeader() ([]string, error) {
	header, err := d.csv.Read()
	if err == io.EOF {
		return nil, &Error{Path: d.path, Msg: "empty file: no header row",
			Hint: "the first line must name the columns: arabic,english"}
	}
	if err != nil {
		return nil, d.readError(header, err)
	}
	d.header = header // for the field names in checkUTF8
	if err := d.checkUTF8(header); err != nil {
		return nil, err
	}
	line, _ := d.csv.FieldPos(0)
	d.ar, d.en = -1, -1
	for j, h := range header {
		var col *int
		switch {
		case strings.EqualFold(strings.TrimSpace(h), ArabicColumn):
			col = &d.ar
		case strings.EqualFold(strings.TrimSpace(h), EnglishColumn):
			col = &d.en
		default:
			continue
		}
		if *col >= 0 {
			return nil, &Error{Path: d.path, Line: line, Field: h, Column: j + 1,
				Msg: fmt.Sprintf("duplicate column: columns %d and %d are both %q", *col+1, j+1, strings.ToLower(strings.TrimSpace(h)))}
		}
		*col = j
	}
	for _, c := range []struct {
		name string
		idx  int
	}{{ArabicColumn, d.ar}, {EnglishColumn, d.en}} {
		if c.idx < 0 {
			return nil, &Error{Path: d.path, Line: line, Field: c.name,
				Msg:  fmt.Sprintf("no column %q in the header (columns: %s)", c.name, strings.Join(header, ", ")),
				Hint: "the first line must name the columns: arabic,english"}
		}
	}
	return []string{recArabic, recEnglish, recArabicLine, recEnglishLine}, nil
}

// readError turns an error of csv.Reader into an *Error, or wraps an I/O
// error. rec holds the fields read before the error.
func (d *decoder) readError(rec []string, err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", d.displayPath(), err)
	}
	e := &Error{Path: d.path, Line: pe.StartLine, Err: pe}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		e.Msg = fmt.Sprintf("the row has %d fields, the header has %d", len(rec), len(d.header))
		e.Hint = "a field that holds a comma, a double quote or a line break must be enclosed in double quotes"
		return e
	}
	// The broken field is the one after the fields read.
	e.Column = len(rec) + 1
	if len(rec) < len(d.header) {
		e.Field = d.header[len(rec)]
	}
	where := fmt.Sprintf("at byte %d of the line", pe.Column)
	if pe.Line != pe.StartLine {
		where = fmt.Sprintf("at line %d, byte %d", pe.Line, pe.Column)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		e.Msg = "broken quoting: a quoted field is not closed, or has a stray double quote " + where
		e.Hint = `end the field with a double quote, and double every quote inside it ("")`
	case errors.Is(pe.Err, csv.ErrBareQuote):
		e.Msg = "broken quoting: a double quote in an unquoted field " + where
		e.Hint = `enclose the field in double quotes and double every quote inside it ("")`
	default:
		e.Msg = pe.Err.Error() + " " + where
	}
	return e
}

func (d *decoder) displayPath() string {
	if d.path == "" {
		return "glossary"
	}
	return d.path
}

// checkUTF8 returns an *Error for the first field of rec that is not valid
// UTF-8, naming the physical line of the bad byte.
func (d *decoder) checkUTF8(rec []string) error {
	for j, field := range rec {
		if utf8.ValidString(field) {
			continue
		}
		i := invalidUTF8At(field)
		line, _ := d.csv.FieldPos(j)
		line += strings.Count(field[:i], "\n")
		e := &Error{Path: d.path, Line: line, Column: j + 1,
			Msg:  fmt.Sprintf("invalid UTF-8 at byte %d of the field", i+1),
			Hint: "the glossary must be UTF-8; convert it first (for Arabic Windows files: iconv -f WINDOWS-1256 -t UTF-8)"}
		if j < len(d.header) && utf8.ValidString(d.header[j]) {
			e.Field = d.header[j]
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
