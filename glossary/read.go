package glossary

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gocarina/gocsv"

	"github.com/tarjama/tarjama/internal/csvin"
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

// Error is a problem with a glossary file. It names the file, the physical
// line and the column.
//
// Error() gives `PATH line L, column "NAME" (C): MSG; HINT`, leaving out
// what does not apply (an empty file has no line).
type Error = csvin.Error

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
		return d.csv.Errorf(line, d.header[d.ar], d.ar+1, "", format, args...)
	}
	enErr := func(line int, format string, args ...any) *Error {
		return d.csv.Errorf(line, d.header[d.en], d.en+1, "", format, args...)
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

// decoder is the gocsv.SimpleDecoder behind Read: a csvin.Reader over the
// input that finds the arabic and english columns in the header and hands
// gocsv records of four fields: arabic, english, and the physical line of
// each.
type decoder struct {
	csv     *csvin.Reader
	stopped atomic.Bool

	// Written on gocsv's goroutine before the first record is sent; read
	// by the consumer after receiving it.
	header []string
	ar, en int // column indexes
}

var _ gocsv.SimpleDecoder = (*decoder)(nil)

func newDecoder(path string, r io.Reader) *decoder {
	return &decoder{csv: csvin.NewReader(r, path, "glossary",
		"the glossary must be UTF-8; convert it first (for Arabic Windows files: iconv -f WINDOWS-1256 -t UTF-8)")}
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
	if err != nil {
		return nil, err
	}
	return []string{rec[d.ar], rec[d.en], strconv.Itoa(d.csv.Line(d.ar)), strconv.Itoa(d.csv.Line(d.en))}, nil
}

// GetCSVRows implements gocsv.SimpleDecoder; the glossary is only ever
// streamed.
func (d *decoder) GetCSVRows() ([][]string, error) {
	return nil, errors.New("glossary: read row by row, not all at once")
}

const headerHint = "the first line must name the columns: arabic,english"

func (d *decoder) readHeader() ([]string, error) {
	header, err := d.csv.ReadHeader()
	if err == io.EOF {
		return nil, d.csv.Errorf(0, "", 0, headerHint, "empty file: no header row")
	}
	if err != nil {
		return nil, err
	}
	line := d.csv.Line(0)
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
			return nil, d.csv.Errorf(line, h, j+1, "", "duplicate column: columns %d and %d are both %q", *col+1, j+1, strings.ToLower(strings.TrimSpace(h)))
		}
		*col = j
	}
	for _, c := range []struct {
		name string
		idx  int
	}{{ArabicColumn, d.ar}, {EnglishColumn, d.en}} {
		if c.idx < 0 {
			return nil, d.csv.Errorf(line, c.name, 0, headerHint, "no column %q in the header (columns: %s)", c.name, strings.Join(header, ", "))
		}
	}
	d.header = header
	return []string{recArabic, recEnglish, recArabicLine, recEnglishLine}, nil
}
