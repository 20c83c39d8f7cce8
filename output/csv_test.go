package output

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tarjama/tarjama/jobs"
)

func TestGuard(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "Tunis", "Tunis"},
		{"arabic", "تونس", "تونس"},
		{"equals", "=1+2", "'=1+2"},
		{"plus", "+216", "'+216"},
		{"minus", "-5%", "'-5%"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\tx", "'\tx"},
		{"carriage return", "\rx", "'\rx"},
		{"trigger later", "a=b", "a=b"},
		{"quote first", "'=x", "'=x"},
		{"space first", " =x", " =x"},
		{"bullet", "• -x", "• -x"},
		{"newline first", "\nx", "\nx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Guard(tt.in); got != tt.want {
				t.Errorf("Guard(%q)=%q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// readCSV parses out with gocsv's reader, after checking and removing the
// byte-order mark that excel adds.
func readCSV(t *testing.T, out []byte, excel bool) [][]string {
	t.Helper()
	if got := bytes.HasPrefix(out, []byte(utf8BOM)); got != excel {
		t.Fatalf("byte-order mark present=%v, want %v", got, excel)
	}
	out = bytes.TrimPrefix(out, []byte(utf8BOM))
	records, err := gocsv.DefaultCSVReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("parse results.csv: %v", err)
	}
	return records
}

// unguard undoes Guard for a cell that the fixture rows never start with
// "'".
func unguard(s string) string {
	if len(s) >= 2 && s[0] == '\'' && strings.IndexByte(guardTriggers, s[1]) >= 0 {
		return s[1:]
	}
	// A guarded lone CR dropped by Excel mode leaves a bare "'".
	return strings.TrimPrefix(s, "'")
}

// csvRead is what a CSV reader returns for a cell holding s: "\r\n" reads
// back as "\n", and with excel a CR without LF is dropped on writing.
func csvRead(s string, excel bool) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if excel {
		s = strings.ReplaceAll(s, "\r", "")
	}
	return s
}

func TestCSVRoundTrip(t *testing.T) {
	rows := fixtureRows(t)
	for _, excel := range []bool{false, true} {
		t.Run(fmt.Sprintf("excel=%v", excel), func(t *testing.T) {
			var buf bytes.Buffer
			writeAll(t, NewCSV(&buf, fixtureColumns, excel), rows)
			out := buf.Bytes()
			if got := bytes.Contains(out, []byte("\r\n")); got != excel {
				t.Errorf("CRLF present=%v, want %v", got, excel)
			}
			records := readCSV(t, out, excel)

			wantHeader := append(append([]string{"id", "title_en", "translation", "key_points", "status", "error"},
				fixtureColumns...), "model", "prompt_tokens", "completion_tokens")
			if diff := cmp.Diff(wantHeader, records[0]); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if got, want := len(records)-1, len(rows); got != want {
				t.Fatalf("got %d records, want %d", got, want)
			}
			for i, rec := range records[1:] {
				for j, cell := range rec {
					if cell != "" && strings.IndexByte(guardTriggers, cell[0]) >= 0 {
						t.Errorf("row %d column %s=%q starts with a formula trigger", i+1, wantHeader[j], cell)
					}
				}
				got := resultFromCSV(t, wantHeader, rec)
				want := rows[i]
				want.TitleEN = csvRead(want.TitleEN, excel)
				want.Translation = csvRead(want.Translation, excel)
				// results.csv has every column, empty when missing.
				var src []jobs.Field
				for _, name := range fixtureColumns {
					src = append(src, jobs.Field{Name: name, Value: csvRead(sourceValue(want.Source, name), excel)})
				}
				want.Source = src
				opts := []cmp.Option{
					cmpopts.IgnoreFields(jobs.Result{}, "Row", "InputSHA256", "PromptVersion"),
					cmpopts.EquateEmpty(),
				}
				if diff := cmp.Diff(want, got, opts...); diff != "" {
					t.Errorf("row %d (%s) read back (-want +got):\n%s", i+1, want.ID, diff)
				}
			}
			// The guard is there, not only undone by unguard.
			formula := records[3]
			if got, want := formula[1], `'=HYPERLINK("http://example.com/x","click")`; got != want {
				t.Errorf("title_en=%q, want %q", got, want)
			}
		})
	}
}

// resultFromCSV rebuilds a Result from a record of results.csv.
func resultFromCSV(t *testing.T, header, rec []string) jobs.Result {
	t.Helper()
	if len(rec) != len(header) {
		t.Fatalf("record has %d cells, want %d", len(rec), len(header))
	}
	cell := func(i int) string { return unguard(rec[i]) }
	atoi := func(i int) int {
		n, err := strconv.Atoi(rec[i])
		if err != nil {
			t.Fatalf("%s: %v", header[i], err)
		}
		return n
	}
	r := jobs.Result{
		ID:          cell(0),
		TitleEN:     cell(1),
		Translation: cell(2),
		Status:      jobs.Status(cell(4)),
		Error:       cell(5),
	}
	if kp := rec[3]; kp != "" {
		for line := range strings.SplitSeq(kp, "\n") {
			p, ok := strings.CutPrefix(line, "• ")
			if !ok {
				t.Errorf("key point line %q does not start with a bullet", line)
			}
			r.KeyPoints = append(r.KeyPoints, p)
		}
	}
	n := len(header)
	for i := 6; i < n-3; i++ {
		r.Source = append(r.Source, jobs.Field{Name: header[i], Value: cell(i)})
	}
	r.Model = cell(n - 3)
	r.Usage = jobs.Usage{PromptTokens: atoi(n - 2), CompletionTokens: atoi(n - 1)}
	return r
}

func TestCSVHeaderGuarded(t *testing.T) {
	var buf bytes.Buffer
	writeAll(t, NewCSV(&buf, []string{"=cmd", "-rank", "+1", "@who", "plain"}, false), nil)
	want := "id,title_en,translation,key_points,status,error,'=cmd,'-rank,'+1,'@who,plain,model,prompt_tokens,completion_tokens\n"
	if got := buf.String(); got != want {
		t.Errorf("empty run wrote %q, want %q", got, want)
	}
}

func TestCSVCells(t *testing.T) {
	tests := []struct {
		name   string
		r      jobs.Result
		column int // index in the record
		want   string
	}{
		{"zero tokens", jobs.Result{}, 9, "0"},
		{"tokens", jobs.Result{Usage: jobs.Usage{PromptTokens: 12345, CompletionTokens: 7}}, 8, "12345"},
		{"negative tokens guarded", jobs.Result{Usage: jobs.Usage{CompletionTokens: -1}}, 9, "'-1"},
		{"no key points", jobs.Result{KeyPoints: nil}, 3, ""},
		{"one empty key point", jobs.Result{KeyPoints: []string{""}}, 3, "• "},
		{"key points", jobs.Result{KeyPoints: []string{"-a", "=b"}}, 3, "• -a\n• =b"},
		{"line breaks in a key point", jobs.Result{KeyPoints: []string{"a\nb\r\nc\rd", "e"}}, 3, "• a b c d\n• e"},
		{"missing column", jobs.Result{Source: []jobs.Field{{Name: "other", Value: "x"}}}, 6, ""},
		{"first of duplicate fields", jobs.Result{Source: []jobs.Field{{Name: "col", Value: "1"}, {Name: "col", Value: "2"}}}, 6, "1"},
		{"status", jobs.Result{Status: jobs.StatusSkipped}, 4, "skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			writeAll(t, NewCSV(&buf, []string{"col"}, false), []jobs.Result{tt.r})
			records := readCSV(t, buf.Bytes(), false)
			if got := records[1][tt.column]; got != tt.want {
				t.Errorf("%s=%q, want %q", records[0][tt.column], got, tt.want)
			}
		})
	}
}

func TestCSVExcelEmpty(t *testing.T) {
	var buf bytes.Buffer
	writeAll(t, NewCSV(&buf, nil, true), nil)
	want := utf8BOM + "id,title_en,translation,key_points,status,error,model,prompt_tokens,completion_tokens\r\n"
	if got := buf.String(); got != want {
		t.Errorf("empty Excel run wrote %q, want %q", got, want)
	}
}

// excelCell writes one result whose translation is s with excel set, and
// returns the translation cell as read back.
func excelCell(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	writeAll(t, NewCSV(&buf, nil, true), []jobs.Result{{Translation: s}})
	return readCSV(t, buf.Bytes(), true)[1][2]
}

func utf16Units(s string) int { return len(utf16.Encode([]rune(s))) }

// splitCut checks that cell is a prefix of full followed by the marker, and
// returns the prefix.
func splitCut(t *testing.T, cell, full string) (kept string) {
	t.Helper()
	marker := fmt.Sprintf(" …[truncated: %d characters in results.json]", utf8.RuneCountInString(full))
	kept, ok := strings.CutSuffix(cell, marker)
	if !ok {
		t.Fatalf("cut cell ends with %q, want marker %q", cell[max(0, len(cell)-60):], marker)
	}
	if !strings.HasPrefix(full, kept) {
		t.Fatalf("kept text is not a prefix of the original")
	}
	return kept
}

func TestExcelCutLongCell(t *testing.T) {
	full := strings.Repeat("نص عربيّ، ", 4000) // 40,000 characters
	if n := utf8.RuneCountInString(full); n != 40000 {
		t.Fatalf("fixture has %d characters", n)
	}
	cell := excelCell(t, full)
	if n := utf16Units(cell); n > ExcelCellLimit {
		t.Errorf("cut cell has %d UTF-16 units, want at most %d", n, ExcelCellLimit)
	}
	if !strings.Contains(cell, "…[truncated: 40000 characters in results.json]") {
		t.Errorf("cut cell lacks the marker")
	}
	splitCut(t, cell, full)
	if n := utf16Units(cell); n < ExcelCellLimit-2 {
		t.Errorf("cut cell has %d UTF-16 units: cut too much", n)
	}

	// Without excel nothing is cut.
	var buf bytes.Buffer
	writeAll(t, NewCSV(&buf, nil, false), []jobs.Result{{Translation: full}})
	if got := readCSV(t, buf.Bytes(), false)[1][2]; got != full {
		t.Errorf("cell without excel was changed (%d characters)", utf8.RuneCountInString(got))
	}
}

func TestExcelCutLimit(t *testing.T) {
	exact := strings.Repeat("a", ExcelCellLimit)
	if got := excelCell(t, exact); got != exact {
		t.Errorf("cell of exactly %d units was changed", ExcelCellLimit)
	}
	// Under the limit in characters, over it in UTF-16 units.
	emoji := strings.Repeat("😀", ExcelCellLimit/2+1)
	cell := excelCell(t, emoji)
	if n := utf16Units(cell); n > ExcelCellLimit {
		t.Errorf("cut cell has %d UTF-16 units", n)
	}
	splitCut(t, cell, emoji)
	// The guard's quote counts too.
	guarded := "=" + strings.Repeat("a", ExcelCellLimit-1)
	cell = excelCell(t, guarded)
	if n := utf16Units(cell); n > ExcelCellLimit {
		t.Errorf("guarded cell has %d UTF-16 units", n)
	}
	splitCut(t, cell, "'"+guarded)
}

// TestExcelCutEmoji moves an emoji across the cut point: it is kept whole
// or dropped whole, never split into half a surrogate pair.
func TestExcelCutEmoji(t *testing.T) {
	const total = 40000
	marker := fmt.Sprintf(truncatedFormat, total-1) // the emoji is one character, two units
	budget := ExcelCellLimit - utf16Units(marker)
	for pos := budget - 3; pos <= budget+1; pos++ {
		full := strings.Repeat("a", pos) + "😀" + strings.Repeat("b", total-pos-2)
		if n := utf16Units(full); n != total {
			t.Fatalf("fixture has %d units", n)
		}
		cell := excelCell(t, full)
		if !utf8.ValidString(cell) {
			t.Fatalf("pos %d: cut cell is not valid UTF-8", pos)
		}
		if n := utf16Units(cell); n > ExcelCellLimit {
			t.Errorf("pos %d: cut cell has %d UTF-16 units", pos, n)
		}
		kept := splitCut(t, cell, full)
		hasEmoji := strings.Contains(kept, "😀")
		if wantEmoji := pos+2 <= budget; hasEmoji != wantEmoji {
			t.Errorf("pos %d: emoji kept=%v, want %v", pos, hasEmoji, wantEmoji)
		}
		if units := utf16Units(kept); units < budget-1 {
			t.Errorf("pos %d: kept %d units, want at least %d", pos, units, budget-1)
		}
	}
}

// TestExcelCutCombining checks that the cut does not strip the diacritic
// of the last letter kept, nor end on a zero-width joiner.
func TestExcelCutCombining(t *testing.T) {
	const total = 40000
	marker := fmt.Sprintf(truncatedFormat, total)
	budget := ExcelCellLimit - utf16Units(marker)
	tests := []struct {
		name, cluster string
		wantKept      int // units of the kept text
	}{
		// "سّ": the cut falls between the letter and its shadda.
		{"shadda", "سّ", budget - 1},
		// man, ZWJ, woman: the cut falls after the ZWJ, and the whole
		// sequence goes.
		{"zwj", "👨\u200d👩", budget - 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			units := utf16Units(tt.cluster)
			// Place the cluster so that the budget ends one unit before
			// its end.
			pos := budget - units + 1
			full := strings.Repeat("a", pos) + tt.cluster
			full += strings.Repeat("b", total-utf8.RuneCountInString(full))
			cell := excelCell(t, full)
			kept := splitCut(t, cell, full)
			if got := utf16Units(kept); got != tt.wantKept {
				t.Errorf("kept %d units, want %d", got, tt.wantKept)
			}
			if strings.HasSuffix(kept, "\u200d") {
				t.Errorf("kept text ends with a zero-width joiner")
			}
		})
	}
}

var errBoom = errors.New("boom")

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBoom }

func TestCSVWriteError(t *testing.T) {
	c := NewCSV(failWriter{}, nil, false)
	// encoding/csv buffers: the error shows at the latest on Close.
	_ = c.Write(jobs.Result{ID: "1"})
	if err := c.Close(); !errors.Is(err, errBoom) {
		t.Errorf("Close()=%v, want %v", err, errBoom)
	}
	c = NewCSV(failWriter{}, nil, true)
	if err := c.Write(jobs.Result{ID: "1"}); !errors.Is(err, errBoom) {
		t.Errorf("excel Write()=%v, want %v (from the byte-order mark)", err, errBoom)
	}
	if err := c.Close(); !errors.Is(err, errBoom) {
		t.Errorf("excel Close() after a failed Write=%v, want %v", err, errBoom)
	}
}
