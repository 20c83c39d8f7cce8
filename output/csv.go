package output

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gocarina/gocsv"

	"github.com/tarjama/tarjama/jobs"
)

// ExcelCellLimit is the longest cell Excel accepts, in UTF-16 code units.
const ExcelCellLimit = 32767

// truncatedFormat is the marker that ends a cell cut for Excel; %d is the
// length of the whole cell in Unicode characters.
const truncatedFormat = " …[truncated: %d characters in results.json]"

const utf8BOM = "\ufeff"

// leading columns come before the carried-through columns, trailing ones
// after them.
var (
	leadingColumns  = []string{"id", "title_en", "translation", "key_points", "status", "error"}
	trailingColumns = []string{"model", "prompt_tokens", "completion_tokens"}
)

// CSVWriter writes results.csv: a header, then one record per result. See
// the package documentation for the columns, the spreadsheet guard and
// what excel changes.
//
// The columns depend on the input (the carried-through ones), so rows are
// built as []string and written with gocsv's SafeCSVWriter rather than
// marshalled from a struct, whose columns gocsv fixes at compile time.
type CSVWriter struct {
	out     io.Writer
	csv     *gocsv.SafeCSVWriter
	columns []string
	excel   bool
	started bool
	err     error // from writing the byte-order mark
	record  []string
}

// NewCSV returns a CSVWriter that writes to w. columns are the
// carried-through column names in input order; with excel the output
// starts with a byte-order mark, ends lines with "\r\n" and cuts cells
// longer than ExcelCellLimit. Nothing is written before the first Write or
// Close; encoding/csv buffers the output (4 KiB), and Close flushes it.
func NewCSV(w io.Writer, columns []string, excel bool) *CSVWriter {
	cw := csv.NewWriter(w)
	cw.UseCRLF = excel
	return &CSVWriter{
		out:     w,
		csv:     gocsv.NewSafeCSVWriter(cw),
		columns: slices.Clone(columns),
		excel:   excel,
		record:  make([]string, 0, len(leadingColumns)+len(columns)+len(trailingColumns)),
	}
}

// Write writes the record for r, preceded by the header (and the
// byte-order mark) on the first call.
func (c *CSVWriter) Write(r jobs.Result) error {
	if err := c.start(); err != nil {
		return err
	}
	rec := append(c.record[:0],
		r.ID,
		r.TitleEN,
		r.Translation,
		joinKeyPoints(r.KeyPoints),
		string(r.Status),
		r.Error,
	)
	for _, name := range c.columns {
		rec = append(rec, sourceValue(r.Source, name))
	}
	rec = append(rec,
		r.Model,
		strconv.Itoa(r.Usage.PromptTokens),
		strconv.Itoa(r.Usage.CompletionTokens),
	)
	c.record = rec
	return c.writeRecord(rec)
}

// Close writes the header if no row was written, and flushes. It does not
// close the underlying writer.
func (c *CSVWriter) Close() error {
	if err := c.start(); err != nil {
		return err
	}
	c.csv.Flush()
	return c.csv.Error()
}

func (c *CSVWriter) start() error {
	if c.started {
		return c.err
	}
	c.started = true
	if c.excel {
		// Nothing has gone through c.csv yet, so the mark comes first.
		if _, c.err = io.WriteString(c.out, utf8BOM); c.err != nil {
			return c.err
		}
	}
	header := make([]string, 0, cap(c.record))
	header = append(header, leadingColumns...)
	header = append(header, c.columns...)
	header = append(header, trailingColumns...)
	return c.writeRecord(header)
}

// writeRecord guards (and, for Excel, cuts) every cell of rec in place and
// writes it.
func (c *CSVWriter) writeRecord(rec []string) error {
	for i, cell := range rec {
		cell = Guard(cell)
		if c.excel {
			cell = cutForExcel(cell)
		}
		rec[i] = cell
	}
	return c.csv.Write(rec)
}

// Guard makes s inert for spreadsheets: when s starts with '=', '+', '-',
// '@', a tab or a carriage return, which Excel, LibreOffice and Google
// Sheets may take for the start of a formula, it returns s with a leading
// "'"; otherwise it returns s unchanged.
func Guard(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// joinKeyPoints returns the points one per line, each line starting with
// "• ". Line breaks inside a point become spaces.
func joinKeyPoints(points []string) string {
	var b strings.Builder
	for i, p := range points {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("• ")
		b.WriteString(oneLine(p))
	}
	return b.String()
}

var lineBreaks = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return lineBreaks.Replace(s)
}

// sourceValue returns the value of the first field called name, or "".
func sourceValue(fields []jobs.Field, name string) string {
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// cutForExcel returns s unchanged if it fits in ExcelCellLimit UTF-16 code
// units, and otherwise its longest prefix that fits with the truncation
// marker appended, followed by the marker.
func cutForExcel(s string) string {
	// A UTF-16 unit takes at least one byte of UTF-8.
	if len(s) <= ExcelCellLimit || utf16Len(s) <= ExcelCellLimit {
		return s
	}
	marker := fmt.Sprintf(truncatedFormat, utf8.RuneCountInString(s))
	budget := ExcelCellLimit - utf16Len(marker)
	cut, units := 0, 0
	for i, r := range s {
		n := utf16RuneLen(r)
		if units+n > budget {
			cut = i
			break
		}
		units += n
	}
	return s[:backOff(s, cut)] + marker
}

// maxBackOff bounds how many characters backOff gives up, so that a long
// run of combining marks cannot empty the cell.
const maxBackOff = 16

// backOff moves cut back so that the text kept does not end with a
// zero-width joiner nor lose the combining marks, variation selectors or
// emoji modifiers that follow its last character. If that would take more
// than maxBackOff characters, it returns cut.
func backOff(s string, cut int) int {
	i := cut
	for range maxBackOff {
		if i == 0 {
			return cut
		}
		next, _ := utf8.DecodeRuneInString(s[i:])
		prev, size := utf8.DecodeLastRuneInString(s[:i])
		if !clings(next) && prev != zwj {
			return i
		}
		i -= size
	}
	return cut
}

const zwj = '\u200d'

// clings reports whether r belongs with the character before it.
func clings(r rune) bool {
	return r == zwj ||
		unicode.In(r, unicode.Mn, unicode.Me) || // combining marks, variation selectors
		(r >= 0x1F3FB && r <= 0x1F3FF) // emoji skin-tone modifiers
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16RuneLen(r)
	}
	return n
}

// utf16RuneLen is the number of UTF-16 code units for r; an invalid byte,
// decoded as U+FFFD, counts as one.
func utf16RuneLen(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}
