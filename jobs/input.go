package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/gocarina/gocsv"

	"github.com/tarjama/tarjama/internal/csvin"
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
type InputError = csvin.Error

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
	csv     *csvin.Reader
	stopped atomic.Bool

	// Written on gocsv's goroutine before the first row is sent; read by
	// the consumer after receiving it (or after gocsv returned).
	schema *inputSchema
	rows   int
}

var _ gocsv.SimpleDecoder = (*inputDecoder)(nil)

func newInputDecoder(ctx context.Context, path string, r io.Reader, limit int, roles [3]inputRole) *inputDecoder {
	cr := csvin.NewReader(r, path, "input", "the input must be UTF-8; convert it first (for Arabic Windows files: iconv -f WINDOWS-1256 -t UTF-8)")
	return &inputDecoder{ctx: ctx, path: path, limit: limit, roles: roles, csv: cr}
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
	if err != nil {
		return nil, err
	}
	d.rows++
	return append(rec, strconv.Itoa(d.csv.Line(0))), nil
}

// GetCSVRows implements gocsv.SimpleDecoder; the input is only ever
// streamed.
func (d *inputDecoder) GetCSVRows() ([][]string, error) {
	return nil, errors.New("input: read row by row, not all at once")
}

func (d *inputDecoder) readHeader() ([]string, error) {
	header, err := d.csv.ReadHeader()
	if err == io.EOF {
		return nil, &InputError{Path: d.path, Msg: "empty file: no header row",
			Hint: "the first line must name the columns, e.g. id,title,body"}
	}
	if err != nil {
		return nil, err
	}
	line := d.csv.Line(0)
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
