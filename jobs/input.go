package jobs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Default names of the id, title and body columns.
const (
	DefaultIDColumn    = "id"
	DefaultTitleColumn = "title"
	DefaultBodyColumn  = "body"
)

// lineColumn is the name of the column that the decoder appends to every
// record to carry the record's physical start line through gocsv (which
// decodes on a goroutine of its own, ahead of the consumer). An input column
// with this exact name is rejected.
const lineColumn = "\x00line"

// errStopped is returned by the decoder once the consumer has stopped
// (its callback failed, or ctx ended); it never reaches a caller.
var errStopped = errors.New("input reading stopped")

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// InputOptions say which columns of the input hold the id, the title and the
// body, and how many rows to read.
type InputOptions struct {
	// IDColumn, TitleColumn and BodyColumn name the columns; "" means the
	// defaults "id", "title" and "body". A column named explicitly must
	// exist, matched exactly. A default name matches exactly, or else the
	// one column whose name equals it ignoring case and surrounding spaces
	// ("ID", " Title"). The id and title columns are optional when not
	// named: without an id column the ids are row numbers, without a title
	// column the titles are empty. The body column must always exist.
	IDColumn, TitleColumn, BodyColumn string
	// Limit is the number of data rows to read; 0 reads them all. Rows after
	// the limit are not read, so they are not checked either.
	Limit int
}

// InputError is a bad input: it names the file, the physical line and the
// column.
//
// Error() gives "PATH line L, column "NAME" (I): MSG; HINT", leaving out
// the parts that do not apply: the line when the problem is not on a line
// (an empty file), the column when it is not in a column, the hint when
// there is none. Hint is part of Error(): do not print it again.
type InputError struct {
	// Path names the input as messages show it ("input" if empty).
	Path string
	// Line is the physical line, counting the header as line 1, as an editor
	// shows it; 0 if the problem is not on a line.
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

func (e *InputError) Error() string {
	var b strings.Builder
	if e.Path == "" {
		b.WriteString("input")
	} else {
		b.WriteString(e.Path)
	}
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

func (e *InputError) Unwrap() error { return e.Err }

// InputSummary describes a checked input.
type InputSummary struct {
	// Rows is the number of data rows (after Limit).
	Rows int
	// Columns are the carried-through column names, in input order.
	Columns []string
	// IDColumn, TitleColumn and BodyColumn are the resolved column names,
	// "" for an absent id or title column.
	IDColumn, TitleColumn, BodyColumn string

	// sameAs maps a row whose title and body equal an earlier row's to the
	// first such row; copies maps that first row to the number of later
	// rows that repeat it. Both hold only the repeated rows.
	sameAs map[int32]int32
	copies map[int32]int32
}

// SameAs reports whether the row is the same article (same title and same
// body, byte for byte) as an earlier row, and the first such row.
func (s *InputSummary) SameAs(row int) (first int, ok bool) {
	if s == nil || row <= 0 || row > math.MaxInt32 {
		return 0, false
	}
	f, ok := s.sameAs[int32(row)]
	return int(f), ok
}

// Copies returns how many later rows are the same article as this row: 0
// for most rows, and for a row that is itself a copy of an earlier one.
func (s *InputSummary) Copies(row int) int {
	if s == nil || row <= 0 || row > math.MaxInt32 {
		return 0
	}
	return int(s.copies[int32(row)])
}

// CheckInput reads the whole input once (up to opts.Limit rows), validates
// it, and returns its summary. Every problem with the input is an
// *InputError: an empty file, a missing body column (or a missing id or
// title column that was named), duplicate column names, unbalanced or stray
// quotes, a row with the wrong number of fields, invalid UTF-8, and
// duplicate ids. path is used only in messages.
//
// It holds no rows: ids and articles are remembered as 16-byte truncated
// SHA-256 digests, about 60 bytes a row (a collision, at odds of about
// 2^-128, would report a false duplicate).
func CheckInput(ctx context.Context, path string, r io.Reader, opts InputOptions) (*InputSummary, error) {
	c := newInputChecker(path)
	if err := c.run(ctx, r, opts); err != nil {
		return nil, err
	}
	return c.summary(), nil
}

// ReadInput streams the articles (up to opts.Limit) in input order to fn.
// It stops at the first error fn returns, which it returns unchanged, or
// when ctx ends (returning ctx.Err()). It finds the same malformed CSV as
// CheckInput, but not duplicate ids: run CheckInput first, as then no row
// is handed out before the input is known to be good.
//
// Fields are passed as encoding/csv gives them: "\r\n" becomes "\n"
// everywhere, inside quoted fields too, while a lone "\r" is kept.
func ReadInput(ctx context.Context, path string, r io.Reader, opts InputOptions, fn func(Article) error) error {
	_, err := readInput(ctx, path, r, opts, func(_ *inputSchema, a Article, _ bool) error { return fn(a) })
	return err
}

// SpoolStdin copies r into a temporary file (in dir, or os.TempDir() if
// dir is "") so that it can be read twice (CheckInput, then ReadInput). It
// returns the file's path and a func that removes the file.
func SpoolStdin(r io.Reader, dir string) (path string, cleanup func(), err error) {
	f, err := os.CreateTemp(dir, "tarjama-input-*.csv")
	if err != nil {
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	path = f.Name()
	cleanup = func() { os.Remove(path) }
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		cleanup()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("spool standard input: %w", err)
	}
	return path, cleanup, nil
}

// inputRow is what gocsv decodes each record into. gocsv calls
// UnmarshalCSVWithFields for every column in order, so cells holds the
// record's fields followed by the start line that the decoder appended.
// The csv tag is never used for decoding: gocsv insists on at least one,
// and naming the line column keeps gocsv's optional strict header check
// (FailIfUnmatchedStructTags) satisfied.
type inputRow struct {
	Line  int `csv:"\x00line"`
	cells []string
}

// UnmarshalCSVWithFields implements gocsv.TypeUnmarshalCSVWithFields.
func (r *inputRow) UnmarshalCSVWithFields(_, value string) error {
	r.cells = append(r.cells, value)
	return nil
}

var _ gocsv.TypeUnmarshalCSVWithFields = (*inputRow)(nil)

// inputSchema is the resolved header.
type inputSchema struct {
	header          []string
	line            int // physical line of the header
	id, title, body int // column indexes, -1 when absent
	carried         []int
	idName          string
	titleName       string
	bodyName        string
	carriedNames    []string
}

// article makes the Article of data row n from a decoded record.
func (s *inputSchema) article(n int, rec inputRow) (Article, bool, error) {
	cells := rec.cells
	if len(cells) != len(s.header)+1 {
		return Article{}, false, fmt.Errorf("decode row %d: %d cells, want %d", n, len(cells), len(s.header)+1)
	}
	line, err := strconv.Atoi(cells[len(cells)-1])
	if err != nil {
		return Article{}, false, fmt.Errorf("decode row %d: bad line %q", n, cells[len(cells)-1])
	}
	a := Article{Row: n, Line: line, Body: cells[s.body]}
	idGiven := false
	if s.id >= 0 {
		a.ID = strings.TrimSpace(cells[s.id])
		idGiven = a.ID != ""
	}
	if !idGiven {
		a.ID = strconv.Itoa(n)
	}
	if s.title >= 0 {
		a.Title = cells[s.title]
	}
	if len(s.carried) > 0 {
		a.Source = make([]Field, len(s.carried))
		for i, j := range s.carried {
			a.Source[i] = Field{Name: s.header[j], Value: cells[j]}
		}
	}
	return a, idGiven, nil
}

// inputRole is one of the id, title and body columns as the options ask
// for it.
type inputRole struct {
	what     string // "id", "title", "body"
	name     string
	explicit bool
	required bool
}

func (r inputRole) flag() string { return "--" + r.what + "-column" }

// roles checks the options and returns the id, title and body roles.
func (o InputOptions) roles() ([3]inputRole, error) {
	roles := [3]inputRole{
		{what: "id", name: o.IDColumn, explicit: o.IDColumn != ""},
		{what: "title", name: o.TitleColumn, explicit: o.TitleColumn != ""},
		{what: "body", name: o.BodyColumn, explicit: o.BodyColumn != "", required: true},
	}
	defaults := [3]string{DefaultIDColumn, DefaultTitleColumn, DefaultBodyColumn}
	for i := range roles {
		if !roles[i].explicit {
			roles[i].name = defaults[i]
		}
		if roles[i].explicit {
			roles[i].required = true
		}
	}
	if o.Limit < 0 {
		return roles, fmt.Errorf("input limit %d: must be 0 (all rows) or more", o.Limit)
	}
	for i := range roles {
		for j := i + 1; j < len(roles); j++ {
			if roles[i].name == roles[j].name && roles[i].explicit && roles[j].explicit {
				return roles, fmt.Errorf("%s and %s both name the column %q", roles[i].flag(), roles[j].flag(), roles[i].name)
			}
		}
	}
	return roles, nil
}

// readInput drives gocsv over the input and calls each for every article
// in order, with the schema; idGiven is false when the id is the row
// number. It returns the schema (nil if the header was not read).
func readInput(ctx context.Context, path string, r io.Reader, opts InputOptions, each func(s *inputSchema, a Article, idGiven bool) error) (*inputSchema, error) {
	roles, err := opts.roles()
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	d := newInputDecoder(ctx, path, r, opts.Limit, roles)
	var stopErr error
	n := 0
	// The callback runs on this goroutine; the decoder runs on gocsv's.
	// Rows still in flight after a stop are dropped here, and the decoder
	// ends the stream at its next read.
	err = gocsv.UnmarshalDecoderToCallback(d, func(rec inputRow) {
		if stopErr != nil {
			return
		}
		if err := ctx.Err(); err != nil {
			stopErr = err
			d.stop()
			return
		}
		n++
		a, idGiven, err := d.schema.article(n, rec)
		if err == nil {
			err = each(d.schema, a, idGiven)
		}
		if err != nil {
			stopErr = err
			d.stop()
		}
	})
	if stopErr != nil {
		return d.schema, stopErr
	}
	return d.schema, err
}

// inputDecoder is the gocsv.SimpleDecoder behind readInput: an
// encoding/csv.Reader over the BOM-stripped input that checks the header,
// turns parse errors into *InputError with physical lines, checks every
// cell for valid UTF-8, stops after the limit, and appends each record's
// start line as a last column.
type inputDecoder struct {
	ctx     context.Context
	path    string
	limit   int
	roles   [3]inputRole
	csv     *csv.Reader
	tail    *tailReader
	stopped atomic.Bool

	// Written on gocsv's goroutine before the first row is sent; read by
	// the consumer after receiving it (or after gocsv returned).
	schema *inputSchema
	rows   int
}

var _ gocsv.SimpleDecoder = (*inputDecoder)(nil)

func newInputDecoder(ctx context.Context, path string, r io.Reader, limit int, roles [3]inputRole) *inputDecoder {
	tail := &tailReader{r: &bomReader{r: bufio.NewReader(r)}}
	cr := csv.NewReader(tail)
	cr.ReuseRecord = false
	cr.LazyQuotes = false
	cr.FieldsPerRecord = 0
	return &inputDecoder{ctx: ctx, path: path, limit: limit, roles: roles, csv: cr, tail: tail}
}

func (d *inputDecoder) stop() { d.stopped.Store(true) }

// GetCSVRow implements gocsv.SimpleDecoder.
func (d *inputDecoder) GetCSVRow() ([]string, error) {
	if d.stopped.Load() {
		return nil, errStopped
	}
	if err := d.ctx.Err(); err != nil {
		return nil, err
	}
	if d.schema == nil {
		return d.readHeader()
	}
	if d.limit > 0 && d.rows >= d.limit {
		return nil, io.EOF
	}
	rec, err := d.csv.Read()
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, d.readError(rec, err)
	}
	if err := d.checkUTF8(rec, false); err != nil {
		return nil, err
	}
	line, _ := d.csv.FieldPos(0)
	d.rows++
	return append(rec, strconv.Itoa(line)), nil
}

// GetCSVRows implements gocsv.SimpleDecoder; the input is only ever
// streamed.
func (d *inputDecoder) GetCSVRows() ([][]string, error) {
	return nil, errors.New("input: read row by row, not all at once")
}

func (d *inputDecoder) readHeader() ([]string, error) {
	header, err := d.csv.Read()
	if err == io.EOF {
		return nil, &InputError{Path: d.path, Msg: "empty file: no header row",
			Hint: "the first line must name the columns, e.g. id,title,body"}
	}
	if err != nil {
		return nil, d.readError(header, err)
	}
	if err := d.checkUTF8(header, true); err != nil {
		return nil, err
	}
	line, _ := d.csv.FieldPos(0)
	s := &inputSchema{header: header, line: line}
	seen := make(map[string]int, len(header))
	for j, name := range header {
		if name == lineColumn {
			return nil, &InputError{Path: d.path, Line: line, ColumnIndex: j + 1,
				Msg: fmt.Sprintf("column name %q is reserved", name)}
		}
		if first, ok := seen[name]; ok {
			return nil, &InputError{Path: d.path, Line: line, Column: name, ColumnIndex: j + 1,
				Msg:  fmt.Sprintf("duplicate column name %q (columns %d and %d)", name, first+1, j+1),
				Hint: "every column needs a name of its own"}
		}
		seen[name] = j
	}
	if err := d.resolve(s); err != nil {
		return nil, err
	}
	d.schema = s
	out := make([]string, len(header)+1)
	copy(out, header)
	out[len(header)] = lineColumn
	return out, nil
}

// resolve finds the id, title and body columns (body first, so that a
// default id or title never takes its place) and the carried-through ones.
func (d *inputDecoder) resolve(s *inputSchema) error {
	taken := map[int]bool{}
	idx := [3]int{-1, -1, -1}
	for _, i := range [3]int{2, 0, 1} {
		role := d.roles[i]
		j := findColumn(s.header, role.name, role.explicit, taken)
		if j < 0 && role.required {
			hint := fmt.Sprintf("use %s to name the %s column", role.flag(), role.what)
			if k := findColumn(s.header, role.name, false, taken); k >= 0 {
				hint = fmt.Sprintf("column %d is named %q; use %s %q to use it", k+1, s.header[k], role.flag(), s.header[k])
			}
			return &InputError{Path: d.path, Line: s.line,
				Msg:  fmt.Sprintf("no column %q (columns: %s)", role.name, strings.Join(s.header, ", ")),
				Hint: hint}
		}
		if j >= 0 {
			taken[j] = true
		}
		idx[i] = j
	}
	s.id, s.title, s.body = idx[0], idx[1], idx[2]
	if s.id >= 0 {
		s.idName = s.header[s.id]
	}
	if s.title >= 0 {
		s.titleName = s.header[s.title]
	}
	s.bodyName = s.header[s.body]
	for j, name := range s.header {
		if !taken[j] {
			s.carried = append(s.carried, j)
			s.carriedNames = append(s.carriedNames, name)
		}
	}
	return nil
}

// findColumn returns the index of the column named name, or -1. Unless
// exact, a column whose name equals it ignoring case and surrounding spaces
// also matches, when it is the only one.
func findColumn(header []string, name string, exact bool, taken map[int]bool) int {
	for j, h := range header {
		if h == name && !taken[j] {
			return j
		}
	}
	if exact {
		return -1
	}
	found := -1
	for j, h := range header {
		if !taken[j] && strings.EqualFold(strings.TrimSpace(h), name) {
			if found >= 0 {
				return -1
			}
			found = j
		}
	}
	return found
}

// readError turns an error of csv.Reader into an *InputError, or wraps an
// I/O error.
func (d *inputDecoder) readError(rec []string, err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read %s: %w", d.displayPath(), err)
	}
	e := &InputError{Path: d.path, Line: pe.Line, Err: pe}
	started := ""
	if pe.StartLine != pe.Line {
		started = fmt.Sprintf(" (in the row that starts on line %d)", pe.StartLine)
	}
	switch {
	case errors.Is(pe.Err, csv.ErrFieldCount):
		e.Line = pe.StartLine
		e.Msg = fmt.Sprintf("the row has %d fields, the header has %d", len(rec), len(d.schema.header))
		e.Hint = "a field that holds a comma, a double quote or a line break must be enclosed in double quotes"
	case errors.Is(pe.Err, csv.ErrQuote) && d.tail.endsAt(pe.Line, pe.Column):
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
	return e
}

func (d *inputDecoder) displayPath() string {
	if d.path == "" {
		return "input"
	}
	return d.path
}

// checkUTF8 returns an *InputError for the first cell of rec that is not
// valid UTF-8, naming the physical line of the bad byte.
func (d *inputDecoder) checkUTF8(rec []string, header bool) error {
	for j, field := range rec {
		if utf8.ValidString(field) {
			continue
		}
		i := invalidUTF8At(field)
		line, _ := d.csv.FieldPos(j)
		line += strings.Count(field[:i], "\n")
		e := &InputError{Path: d.path, Line: line, ColumnIndex: j + 1,
			Hint: "the input must be UTF-8; convert it first (for Arabic Windows files: iconv -f WINDOWS-1256 -t UTF-8)"}
		if header {
			e.Msg = fmt.Sprintf("invalid UTF-8 at byte %d of the column name", i+1)
		} else {
			e.Column = d.schema.header[j]
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

// inputChecker holds what CheckInput remembers while reading: digests,
// never rows.
type inputChecker struct {
	path     string
	schema   *inputSchema
	rows     int
	ids      map[[16]byte]int32 // id digest -> physical line
	articles map[[16]byte]int32 // title+body digest -> first row
	sameAs   map[int32]int32
	copies   map[int32]int32
	h        hash.Hash
	sum      []byte
}

func newInputChecker(path string) *inputChecker {
	return &inputChecker{
		path:     path,
		ids:      map[[16]byte]int32{},
		articles: map[[16]byte]int32{},
		sameAs:   map[int32]int32{},
		copies:   map[int32]int32{},
		h:        sha256.New(),
		sum:      make([]byte, 0, sha256.Size),
	}
}

func (c *inputChecker) run(ctx context.Context, r io.Reader, opts InputOptions) error {
	s, err := readInput(ctx, c.path, r, opts, c.add)
	c.schema = s
	return err
}

func (c *inputChecker) add(s *inputSchema, a Article, idGiven bool) error {
	if a.Row > math.MaxInt32 || a.Line > math.MaxInt32 {
		return &InputError{Path: c.path, Line: a.Line, Msg: "too many rows"}
	}
	c.rows = a.Row
	// Without an id column the ids are row numbers, unique by construction.
	if s.id >= 0 {
		k := c.digest(a.ID, "")
		if first, ok := c.ids[k]; ok {
			e := &InputError{Path: c.path, Line: a.Line, Column: s.idName, ColumnIndex: s.id + 1,
				Msg: fmt.Sprintf("duplicate id %q on lines %d and %d", a.ID, first, a.Line)}
			if !idGiven {
				e.Hint = fmt.Sprintf("the id cell on line %d is empty, so the row's id is its row number", a.Line)
			}
			return e
		}
		c.ids[k] = int32(a.Line)
	}
	k := c.digest(a.Title, a.Body)
	if first, ok := c.articles[k]; ok {
		c.sameAs[int32(a.Row)] = first
		c.copies[first]++
	} else {
		c.articles[k] = int32(a.Row)
	}
	return nil
}

// digest returns the first 16 bytes of the SHA-256 of a and b, with a's
// length first so that ("ab", "c") and ("a", "bc") differ.
func (c *inputChecker) digest(a, b string) [16]byte {
	c.h.Reset()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(a)))
	c.h.Write(n[:])
	io.WriteString(c.h, a)
	io.WriteString(c.h, b)
	c.sum = c.h.Sum(c.sum[:0])
	return [16]byte(c.sum[:16])
}

func (c *inputChecker) summary() *InputSummary {
	s := c.schema
	return &InputSummary{
		Rows:        c.rows,
		Columns:     s.carriedNames,
		IDColumn:    s.idName,
		TitleColumn: s.titleName,
		BodyColumn:  s.bodyName,
		sameAs:      c.sameAs,
		copies:      c.copies,
	}
}
