package jobs

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readAll reads every article of in with ReadInput.
func readAll(t testing.TB, in io.Reader, opts InputOptions) ([]Article, error) {
	t.Helper()
	var got []Article
	err := ReadInput(context.Background(), "articles.csv", in, opts, func(a Article) error {
		got = append(got, a)
		return nil
	})
	return got, err
}

func openTestdata(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "input", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestReadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string // CSV text, or
		file string // a file under testdata/input
		opts InputOptions
		want []Article
	}{{
		// csv.Reader turns "\r\n" into "\n" everywhere, inside quoted
		// fields too: bodies never hold "\r\n". A blank line between
		// records is skipped but still counted.
		name: "bom, crlf, multi-line quoted fields",
		file: "bom_crlf_multiline.csv",
		want: []Article{
			{Row: 1, Line: 2, ID: "A-1", Title: "T1", Body: "line one\nline two", Source: []Field{{"url", "u1"}}},
			{Row: 2, Line: 5, ID: "A-2", Title: "T2", Body: "plain", Source: []Field{{"url", "u2"}}},
			{Row: 3, Line: 6, ID: "A-3", Title: "multi\ntitle", Body: "b\n\nc", Source: []Field{{"url", "u3"}}},
			{Row: 4, Line: 10, ID: "A-4", Title: "عنوان, مع فاصلة", Body: `قال "مرحبا"`, Source: []Field{{"url", "u4"}}},
		},
	}, {
		name: "bom before the body column, the first column",
		in:   "\ufeffbody,id\nنص,X\n",
		want: []Article{{Row: 1, Line: 2, ID: "X", Body: "نص"}},
	}, {
		name: "a lone carriage return inside a quoted field is kept",
		in:   "id,body\n1,\"a\rb\"\n2,c\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "a\rb"}, {Row: 2, Line: 3, ID: "2", Body: "c"}},
	}, {
		name: "custom column names; the default-named columns are carried through",
		in:   "id,headline,text,article_id,title\n7,H1,B1,K-1,T\n",
		opts: InputOptions{IDColumn: "article_id", TitleColumn: "headline", BodyColumn: "text"},
		want: []Article{{Row: 1, Line: 2, ID: "K-1", Title: "H1", Body: "B1", Source: []Field{{"id", "7"}, {"title", "T"}}}},
	}, {
		name: "carried-through columns keep input order",
		in:   "source,id,url,title,body,published_at\nS,1,U,T,B,2016-05-02\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Title: "T", Body: "B",
			Source: []Field{{"source", "S"}, {"url", "U"}, {"published_at", "2016-05-02"}}}},
	}, {
		name: "no id column: ids are row numbers",
		in:   "title,body\na,x\nb,y\nc,z\n",
		want: []Article{
			{Row: 1, Line: 2, ID: "1", Title: "a", Body: "x"},
			{Row: 2, Line: 3, ID: "2", Title: "b", Body: "y"},
			{Row: 3, Line: 4, ID: "3", Title: "c", Body: "z"},
		},
	}, {
		name: "empty id cell gets the row number; ids are trimmed, bodies are not",
		in:   "id,title,body\n  X-9 ,a,  spaced  \n,b,y\n   ,c,z\n",
		want: []Article{
			{Row: 1, Line: 2, ID: "X-9", Title: "a", Body: "  spaced  "},
			{Row: 2, Line: 3, ID: "2", Title: "b", Body: "y"},
			{Row: 3, Line: 4, ID: "3", Title: "c", Body: "z"},
		},
	}, {
		name: "no title column: empty titles",
		in:   "id,body\n1,x\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "x"}},
	}, {
		name: "default names match ignoring case and spaces",
		in:   "ID, Title ,BODY,Url\n1,t,b,u\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Title: "t", Body: "b", Source: []Field{{"Url", "u"}}}},
	}, {
		name: "an exact default name wins over a case-insensitive one",
		in:   "Body,body\nB,b\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "b", Source: []Field{{"Body", "B"}}}},
	}, {
		name: "limit",
		in:   "id,body\n1,a\n2,b\n3,c\n4,d\n",
		opts: InputOptions{Limit: 2},
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "a"}, {Row: 2, Line: 3, ID: "2", Body: "b"}},
	}, {
		name: "limit stops reading: a bad row after it is not reached",
		in:   "id,body\n1,a\n2,\"never closed\n",
		opts: InputOptions{Limit: 1},
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "a"}},
	}, {
		name: "limit above the row count",
		in:   "id,body\n1,a\n",
		opts: InputOptions{Limit: 10},
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "a"}},
	}, {
		name: "header only",
		in:   "id,title,body\n",
		want: nil,
	}, {
		name: "blank lines before the header",
		in:   "\n\nid,body\n1,a\n",
		want: []Article{{Row: 1, Line: 4, ID: "1", Body: "a"}},
	}, {
		name: "a byte-order mark inside a field is data",
		in:   "id,body\n1,\ufeffa\n",
		want: []Article{{Row: 1, Line: 2, ID: "1", Body: "\ufeffa"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, oneByte := range []bool{false, true} {
				var in io.Reader = strings.NewReader(tc.in)
				if tc.file != "" {
					in = openTestdata(t, tc.file)
				}
				if oneByte {
					in = iotest.OneByteReader(in)
				}
				got, err := readAll(t, in, tc.opts)
				if err != nil {
					t.Fatalf("ReadInput (one byte reads: %v): %v", oneByte, err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("ReadInput (one byte reads: %v) articles (-want +got):\n%s", oneByte, diff)
				}
			}
		})
	}
}

// TestInputBOMKeepsFirstColumn proves that the byte-order mark does not
// hide the first column: gocsv alone keeps it in the first header name.
func TestInputBOMKeepsFirstColumn(t *testing.T) {
	in := "\ufeffid,title,body\nA-1,t,b\n"
	sum, err := CheckInput(context.Background(), "articles.csv", strings.NewReader(in), InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sum.IDColumn, "id"; got != want {
		t.Errorf("IDColumn=%q, want %q", got, want)
	}
	if len(sum.Columns) != 0 {
		t.Errorf("Columns=%q, want none", sum.Columns)
	}
	got, err := readAll(t, strings.NewReader(in), InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "A-1" {
		t.Errorf("articles=%+v, want one with ID A-1", got)
	}
	// The explicit name must match exactly, so a kept mark would fail here.
	if _, err := CheckInput(context.Background(), "articles.csv", strings.NewReader(in), InputOptions{IDColumn: "id"}); err != nil {
		t.Errorf("CheckInput with IDColumn id: %v", err)
	}
}

func TestCheckInputSummary(t *testing.T) {
	in := "id,title,body,url,lang\n" +
		"1,T,B,u,ar\n" + // row 1
		"2,T,other,u,ar\n" + // row 2: same title, other body
		"3,T,B,u2,ar\n" + // row 3: same as row 1
		"4,X,B,u,ar\n" + // row 4: same body, other title
		"5,T,B,u,ar\n" + // row 5: same as row 1
		"6,ab,c,u,ar\n" + // row 6
		"7,a,bc,u,ar\n" + // row 7: same concatenation as row 6, not the same article
		"8,T,other,u,ar\n" // row 8: same as row 2
	sum, err := CheckInput(context.Background(), "articles.csv", strings.NewReader(in), InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sum.Rows, 8; got != want {
		t.Errorf("Rows=%d, want %d", got, want)
	}
	if diff := cmp.Diff([]string{"url", "lang"}, sum.Columns); diff != "" {
		t.Errorf("Columns (-want +got):\n%s", diff)
	}
	if got, want := [3]string{sum.IDColumn, sum.TitleColumn, sum.BodyColumn}, [3]string{"id", "title", "body"}; got != want {
		t.Errorf("columns=%q, want %q", got, want)
	}
	wantFirst := map[int]int{3: 1, 5: 1, 8: 2}
	wantCopies := map[int]int{1: 2, 2: 1}
	for row := 0; row <= 9; row++ {
		first, ok := sum.SameAs(row)
		if want, wantOK := wantFirst[row]; first != want || ok != wantOK {
			t.Errorf("SameAs(%d)=%d, %v; want %d, %v", row, first, ok, want, wantOK)
		}
		if got, want := sum.Copies(row), wantCopies[row]; got != want {
			t.Errorf("Copies(%d)=%d, want %d", row, got, want)
		}
	}

	sum, err = CheckInput(context.Background(), "articles.csv", strings.NewReader(in), InputOptions{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sum.Rows, 4; got != want {
		t.Errorf("Rows with Limit 4=%d, want %d", got, want)
	}
	if got, want := sum.Copies(1), 1; got != want {
		t.Errorf("Copies(1) with Limit 4=%d, want %d", got, want)
	}

	sum, err = CheckInput(context.Background(), "articles.csv", strings.NewReader("text\nx\n"), InputOptions{BodyColumn: "text"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [3]string{sum.IDColumn, sum.TitleColumn, sum.BodyColumn}, [3]string{"", "", "text"}; got != want {
		t.Errorf("columns=%q, want %q", got, want)
	}
}

// deepInput has 50 rows of three physical lines each (lines 2 to 151),
// then the given lines from line 152 on.
func deepInput(tail string) string {
	var b strings.Builder
	b.WriteString("id,title,body\n")
	for i := 1; i <= 50; i++ {
		fmt.Fprintf(&b, "R-%d,title %d,\"first line\nsecond line, with a comma\nthird \"\"quoted\"\" line\"\n", i, i)
	}
	b.WriteString(tail)
	return b.String()
}

func TestInputErrors(t *testing.T) {
	const utf8Hint = "the input must be UTF-8; convert it first (for Arabic Windows files: iconv -f WINDOWS-1256 -t UTF-8)"
	const fieldsHint = "a field that holds a comma, a double quote or a line break must be enclosed in double quotes"
	const unclosedHint = `close the field with a double quote, and double every quote inside it ("")`
	for _, tc := range []struct {
		name      string
		in        string
		file      string
		opts      InputOptions
		checkOnly bool // found by CheckInput only
		want      string
		line      int
		column    string
		index     int
	}{{
		name: "empty file",
		in:   "",
		want: "articles.csv: empty file: no header row; the first line must name the columns, e.g. id,title,body",
	}, {
		name: "only a byte-order mark and blank lines",
		in:   "\ufeff\r\n\n",
		want: "articles.csv: empty file: no header row; the first line must name the columns, e.g. id,title,body",
	}, {
		name: "no body column",
		in:   "id,title,text\n1,a,b\n",
		want: `articles.csv line 1: no column "body" (columns: id, title, text); use --body-column to name the body column`,
		line: 1,
	}, {
		name: "no body column, header after blank lines",
		in:   "\r\n\r\nid,title,text\r\n1,a,b\r\n",
		want: `articles.csv line 3: no column "body" (columns: id, title, text); use --body-column to name the body column`,
		line: 3,
	}, {
		name: "named body column missing, a near match exists",
		in:   "id,title,text\n1,a,b\n",
		opts: InputOptions{BodyColumn: "Text"},
		want: `articles.csv line 1: no column "Text" (columns: id, title, text); column 3 is named "text"; use --body-column "text" to use it`,
		line: 1,
	}, {
		name: "two columns are Body ignoring case",
		in:   "Body,BODY\n1,2\n",
		want: `articles.csv line 1: no column "body" (columns: Body, BODY); use --body-column to name the body column`,
		line: 1,
	}, {
		name: "named id column missing",
		in:   "id,title,body\n1,a,b\n",
		opts: InputOptions{IDColumn: "article_id"},
		want: `articles.csv line 1: no column "article_id" (columns: id, title, body); use --id-column to name the id column`,
		line: 1,
	}, {
		name: "named title column missing",
		in:   "id,title,body\n1,a,b\n",
		opts: InputOptions{TitleColumn: "headline"},
		want: `articles.csv line 1: no column "headline" (columns: id, title, body); use --title-column to name the title column`,
		line: 1,
	}, {
		name:   "duplicate column names",
		in:     "id,title,body,title\n1,a,b,c\n",
		want:   `articles.csv line 1, column "title" (4): duplicate column name "title" (columns 2 and 4); every column needs a name of its own`,
		line:   1,
		column: "title",
		index:  4,
	}, {
		name:  "reserved column name",
		in:    "id,body,\x00line\n1,a,2\n",
		want:  `articles.csv line 1, column 3: column name "\x00line" is reserved`,
		line:  1,
		index: 3,
	}, {
		name:   "unclosed quote",
		in:     "id,title,body\n1,a,b\n2,b,\"never closed\n3,c,d\n4,e,f\n",
		want:   `articles.csv line 3, column "body" (3): unclosed quote: a quoted field in the row that starts on line 3 is never closed and runs to the end of the file (line 5); ` + unclosedHint,
		line:   3,
		column: "body",
		index:  3,
	}, {
		name:   "unclosed quote, crlf file",
		file:   "unclosed_quote.csv",
		want:   `articles.csv line 4, column "body" (3): unclosed quote: a quoted field in the row that starts on line 4 is never closed and runs to the end of the file (line 6); ` + unclosedHint,
		line:   4,
		column: "body",
		index:  3,
	}, {
		name:   "unclosed quote, no final line break",
		in:     "id,title,body\n1,a,\"b\nc",
		want:   `articles.csv line 2, column "body" (3): unclosed quote: a quoted field in the row that starts on line 2 is never closed and runs to the end of the file (line 3); ` + unclosedHint,
		line:   2,
		column: "body",
		index:  3,
	}, {
		name:   "unclosed quote, final carriage return",
		in:     "id,title,body\r\n1,a,\"b\r",
		want:   `articles.csv line 2, column "body" (3): unclosed quote: a quoted field in the row that starts on line 2 is never closed and runs to the end of the file (line 2); ` + unclosedHint,
		line:   2,
		column: "body",
		index:  3,
	}, {
		name:   "unclosed quote, trailing blank lines",
		in:     "id,title,body\n1,a,\"b\n\n\n",
		want:   `articles.csv line 2, column "body" (3): unclosed quote: a quoted field in the row that starts on line 2 is never closed and runs to the end of the file (line 4); ` + unclosedHint,
		line:   2,
		column: "body",
		index:  3,
	}, {
		name:  "unclosed quote in the header",
		in:    "id,\"title,body\n",
		want:  `articles.csv line 1, column 2: unclosed quote: a quoted field in the row that starts on line 1 is never closed and runs to the end of the file (line 1); ` + unclosedHint,
		line:  1,
		index: 2,
	}, {
		name:   "undoubled quote inside a quoted field",
		in:     "id,title,body\n1,a,\"he said \"hi\" ok\"\n",
		want:   `articles.csv line 2, column "body" (3): unexpected double quote at byte 14 of the line, inside a quoted field; a double quote inside a quoted field must be doubled ("")`,
		line:   2,
		column: "body",
		index:  3,
	}, {
		name:   "undoubled quote on the last line, no final line break",
		in:     "id,title,body\n1,a,\"x\"y",
		want:   `articles.csv line 2, column "body" (3): unexpected double quote at byte 7 of the line, inside a quoted field; a double quote inside a quoted field must be doubled ("")`,
		line:   2,
		column: "body",
		index:  3,
	}, {
		name:   "undoubled quote in a multi-line row",
		in:     "id,title,body\n1,\"t\nt\",\"x\"y\n",
		want:   `articles.csv line 3, column "body" (3): unexpected double quote at byte 6 of the line, inside a quoted field (in the row that starts on line 2); a double quote inside a quoted field must be doubled ("")`,
		line:   3,
		column: "body",
		index:  3,
	}, {
		name:   "bare quote",
		in:     "id,title,body\n1,a 5\" screen,b\n",
		want:   `articles.csv line 2, column "title" (2): a double quote in an unquoted field at byte 6 of the line; enclose the field in double quotes and double every quote inside it ("")`,
		line:   2,
		column: "title",
		index:  2,
	}, {
		name: "too few fields",
		in:   "id,title,body,url,published_at,source\n1,a,b,c,d,e\n2,a,b,c\n",
		want: "articles.csv line 3: the row has 4 fields, the header has 6; " + fieldsHint,
		line: 3,
	}, {
		name: "too many fields after a multi-line row",
		in:   "id,title,body\n1,a,\"x\ny\nz\"\n2,a,b,c\n",
		want: "articles.csv line 5: the row has 4 fields, the header has 3; " + fieldsHint,
		line: 5,
	}, {
		name:   "invalid UTF-8 on the third line of a field",
		in:     "id,title,body\n1,a,\"ok\nstill ok\nbad \xff here\"\n",
		want:   `articles.csv line 4, column "body" (3): invalid UTF-8 at byte 17 of the field; ` + utf8Hint,
		line:   4,
		column: "body",
		index:  3,
	}, {
		name:   "invalid UTF-8 in a carried-through column, crlf",
		in:     "id,title,body,source\r\n1,a,b,\"x\r\ny\xc3\"\r\n",
		want:   `articles.csv line 3, column "source" (4): invalid UTF-8 at byte 4 of the field; ` + utf8Hint,
		line:   3,
		column: "source",
		index:  4,
	}, {
		name:   "Windows-1256 file",
		file:   "windows1256.csv",
		want:   `articles.csv line 2, column "title" (2): invalid UTF-8 at byte 1 of the field; ` + utf8Hint,
		line:   2,
		column: "title",
		index:  2,
	}, {
		name:  "invalid UTF-8 in the header",
		in:    "id,ti\xfftle,body\n",
		want:  `articles.csv line 1, column 2: invalid UTF-8 at byte 3 of the column name; ` + utf8Hint,
		line:  1,
		index: 2,
	}, {
		name:      "duplicate ids",
		in:        "id,title,body\nA-1,a,b\nA-2,c,\"d\ne\"\nA-1,f,g\n",
		checkOnly: true,
		want:      `articles.csv line 5, column "id" (1): duplicate id "A-1" on lines 2 and 5`,
		line:      5,
		column:    "id",
		index:     1,
	}, {
		name:      "duplicate ids after trimming",
		in:        "title,id,body\na, A-1,b\nc,A-1 ,d\n",
		checkOnly: true,
		want:      `articles.csv line 3, column "id" (2): duplicate id "A-1" on lines 2 and 3`,
		line:      3,
		column:    "id",
		index:     2,
	}, {
		name:      "an empty id cell takes a row number that is already an id",
		in:        "id,title,body\n2,a,b\n,c,d\n",
		checkOnly: true,
		want:      `articles.csv line 3, column "id" (1): duplicate id "2" on lines 2 and 3; the id cell on line 3 is empty, so the row's id is its row number`,
		line:      3,
		column:    "id",
		index:     1,
	}, {
		name: "deep: wrong field count after 50 multi-line rows",
		in:   deepInput("R-51,a,b\nR-52,a\n"),
		want: "articles.csv line 153: the row has 2 fields, the header has 3; " + fieldsHint,
		line: 153,
	}, {
		name:   "deep: invalid UTF-8 after 50 multi-line rows",
		in:     deepInput("R-51,a,\"b\n\xfe\"\n"),
		want:   `articles.csv line 153, column "body" (3): invalid UTF-8 at byte 3 of the field; ` + utf8Hint,
		line:   153,
		column: "body",
		index:  3,
	}, {
		name:   "deep: unclosed quote after 50 multi-line rows",
		in:     deepInput("R-51,a,b\nR-52,\"a,b\nR-53,a,b\n"),
		want:   `articles.csv line 153, column "title" (2): unclosed quote: a quoted field in the row that starts on line 153 is never closed and runs to the end of the file (line 154); ` + unclosedHint,
		line:   153,
		column: "title",
		index:  2,
	}, {
		name:      "deep: duplicate id after 50 multi-line rows",
		in:        deepInput("R-51,a,b\nR-7,a,b\n"),
		checkOnly: true,
		want:      `articles.csv line 153, column "id" (1): duplicate id "R-7" on lines 20 and 153`,
		line:      153,
		column:    "id",
		index:     1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			open := func(oneByte bool) io.Reader {
				var in io.Reader = strings.NewReader(tc.in)
				if tc.file != "" {
					in = openTestdata(t, tc.file)
				}
				if oneByte {
					in = iotest.OneByteReader(in)
				}
				return in
			}
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("%s: no error, want %q", what, tc.want)
				}
				if got := err.Error(); got != tc.want {
					t.Errorf("%s: error\n got %q\nwant %q", what, got, tc.want)
				}
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("%s: error %T is not an *InputError", what, err)
				}
				if ie.Path != "articles.csv" || ie.Line != tc.line || ie.Column != tc.column || ie.ColumnIndex != tc.index {
					t.Errorf("%s: InputError{Path: %q, Line: %d, Column: %q, ColumnIndex: %d}, want {%q, %d, %q, %d}",
						what, ie.Path, ie.Line, ie.Column, ie.ColumnIndex, "articles.csv", tc.line, tc.column, tc.index)
				}
			}
			for _, oneByte := range []bool{false, true} {
				what := fmt.Sprintf("CheckInput (one byte reads: %v)", oneByte)
				sum, err := CheckInput(context.Background(), "articles.csv", open(oneByte), tc.opts)
				if sum != nil {
					t.Errorf("%s: summary %+v with an error", what, sum)
				}
				check(what, err)
				if tc.checkOnly {
					continue
				}
				what = fmt.Sprintf("ReadInput (one byte reads: %v)", oneByte)
				_, err = readAll(t, open(oneByte), tc.opts)
				check(what, err)
			}
		})
	}
}

func TestInputOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts InputOptions
		want string
	}{
		{"negative limit", InputOptions{Limit: -1}, "input limit -1: must be 0 (all rows) or more"},
		{"id and body the same", InputOptions{IDColumn: "x", BodyColumn: "x"}, `--id-column and --body-column both name the column "x"`},
		{"title and body the same", InputOptions{TitleColumn: "x", BodyColumn: "x"}, `--title-column and --body-column both name the column "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckInput(context.Background(), "articles.csv", strings.NewReader("x,y\n1,2\n"), tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("CheckInput error=%v, want %q", err, tc.want)
			}
			var ie *InputError
			if errors.As(err, &ie) {
				t.Errorf("error is an *InputError, want a plain error")
			}
			_, err = readAll(t, strings.NewReader("x,y\n1,2\n"), tc.opts)
			if err == nil || err.Error() != tc.want {
				t.Errorf("ReadInput error=%v, want %q", err, tc.want)
			}
		})
	}
	// A default name that another option takes is not used for its role.
	sum, err := CheckInput(context.Background(), "articles.csv", strings.NewReader("title,id\nT,1\n"), InputOptions{BodyColumn: "title"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [3]string{sum.IDColumn, sum.TitleColumn, sum.BodyColumn}, [3]string{"id", "", "title"}; got != want {
		t.Errorf("columns=%q, want %q", got, want)
	}
}

func TestInputErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  InputError
		want string
	}{
		{InputError{Path: "a.csv", Line: 7, Column: "body", ColumnIndex: 3, Msg: "m"}, `a.csv line 7, column "body" (3): m`},
		{InputError{Path: "a.csv", Line: 7, Column: "body", Msg: "m", Hint: "h"}, `a.csv line 7, column "body": m; h`},
		{InputError{Path: "a.csv", Line: 7, ColumnIndex: 2, Msg: "m"}, `a.csv line 7, column 2: m`},
		{InputError{Path: "a.csv", Column: "العنوان", ColumnIndex: 2, Msg: "m"}, `a.csv column "العنوان" (2): m`},
		{InputError{Msg: "m"}, `input: m`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error()=%q, want %q", got, tc.want)
		}
	}
	inner := errors.New("inner")
	if err := (&InputError{Err: inner}); !errors.Is(err, inner) {
		t.Errorf("errors.Is(InputError, Err)=false, want true")
	}
}

func TestReadInputStops(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,body\n")
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&b, "%d,body %d\n", i, i)
	}
	in := b.String()

	t.Run("fn error", func(t *testing.T) {
		errStop := errors.New("stop here")
		var rows []int
		err := ReadInput(context.Background(), "a.csv", strings.NewReader(in), InputOptions{}, func(a Article) error {
			rows = append(rows, a.Row)
			if a.Row == 3 {
				return fmt.Errorf("wrapped: %w", errStop)
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Errorf("ReadInput error=%v, want %v", err, errStop)
		}
		if diff := cmp.Diff([]int{1, 2, 3}, rows); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
	t.Run("ctx cancelled in fn", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		err := ReadInput(ctx, "a.csv", strings.NewReader(in), InputOptions{}, func(a Article) error {
			n++
			if a.Row == 5 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadInput error=%v, want context.Canceled", err)
		}
		if n != 5 {
			t.Errorf("fn called %d times, want 5", n)
		}
	})
	t.Run("ctx cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n := 0
		err := ReadInput(ctx, "a.csv", strings.NewReader(in), InputOptions{}, func(Article) error { n++; return nil })
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Errorf("ReadInput error=%v after %d rows, want context.Canceled after 0", err, n)
		}
		if _, err := CheckInput(ctx, "a.csv", strings.NewReader(in), InputOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("CheckInput error=%v, want context.Canceled", err)
		}
	})
	t.Run("read error", func(t *testing.T) {
		errDisk := errors.New("disk on fire")
		r := io.MultiReader(strings.NewReader("id,body\n1,a\n"), iotest.ErrReader(errDisk))
		_, err := readAll(t, r, InputOptions{})
		if !errors.Is(err, errDisk) || err.Error() != "read articles.csv: disk on fire" {
			t.Errorf("ReadInput error=%v, want read articles.csv: disk on fire", err)
		}
	})
}

// TestReadInputStreams shows that rows reach fn while the input is still
// being written: the writer waits for row 1 before it writes row 2.
func TestReadInputStreams(t *testing.T) {
	pr, pw := io.Pipe()
	got1 := make(chan struct{})
	go func() {
		io.WriteString(pw, "id,body\n1,first\n")
		select {
		case <-got1:
		case <-time.After(10 * time.Second):
			pw.CloseWithError(errors.New("row 1 not delivered before the rest of the input"))
			return
		}
		io.WriteString(pw, "2,second\n3,third\n")
		pw.Close()
	}()
	var ids []string
	err := ReadInput(context.Background(), "a.csv", pr, InputOptions{}, func(a Article) error {
		ids = append(ids, a.ID)
		if a.Row == 1 {
			close(got1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1", "2", "3"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestSpoolStdin(t *testing.T) {
	dir := t.TempDir()
	in := "\ufeffid,title,body\r\nA-1,عنوان,\"نص\r\nطويل\"\r\nA-2,t,b\r\n"
	path, cleanup, err := SpoolStdin(strings.NewReader(in), dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != dir {
		t.Errorf("path %q is not in %q", path, dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != in {
		t.Errorf("spooled %q, want %q", data, in)
	}
	for range 2 { // read twice, as run does
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := CheckInput(context.Background(), "-", f, InputOptions{})
		f.Close()
		if err != nil || sum.Rows != 2 {
			t.Fatalf("CheckInput=%+v, %v; want 2 rows", sum, err)
		}
	}
	cleanup()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after cleanup, Stat: %v; want not exist", err)
	}

	// A failed copy leaves no file behind.
	_, _, err = SpoolStdin(iotest.ErrReader(errors.New("broken pipe")), dir)
	if err == nil || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("SpoolStdin error=%v, want broken pipe", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left after a failed spool: %v", left)
	}
	if _, _, err := SpoolStdin(strings.NewReader(in), filepath.Join(dir, "missing")); err == nil {
		t.Errorf("SpoolStdin into a missing dir: no error")
	}
}

// TestReadInputArticlesFixture reads the shared fixture and checks it
// against encoding/csv read directly, and the lines against the line breaks
// in the fields.
func TestReadInputArticlesFixture(t *testing.T) {
	path := filepath.Join("..", "testdata", "articles.csv")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"id", "title", "body", "url", "published_at", "source"}, records[0]); diff != "" {
		t.Fatalf("fixture header (-want +got):\n%s", diff)
	}
	var want []Article
	line := 2
	for i, rec := range records[1:] {
		want = append(want, Article{Row: i + 1, Line: line, ID: rec[0], Title: rec[1], Body: rec[2],
			Source: []Field{{"url", rec[3]}, {"published_at", rec[4]}, {"source", rec[5]}}})
		line += 1 + strings.Count(strings.Join(rec, ""), "\n")
	}
	if len(want) != 60 {
		t.Fatalf("fixture has %d rows, want 60", len(want))
	}

	sum, err := CheckInput(context.Background(), "articles.csv", bytes.NewReader(data), InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sum.Rows, 60; got != want {
		t.Errorf("Rows=%d, want %d", got, want)
	}
	if diff := cmp.Diff([]string{"url", "published_at", "source"}, sum.Columns); diff != "" {
		t.Errorf("Columns (-want +got):\n%s", diff)
	}
	got, err := readAll(t, bytes.NewReader(data), InputOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("articles (-want +got):\n%s", diff)
	}
	if len(got) > 0 && got[0].ID != "JA-culture-102-20160502" {
		t.Errorf("first id=%q, want JA-culture-102-20160502", got[0].ID)
	}
}

// genReader produces a CSV of n rows made from the fixture's records, each
// with its own id and title, without holding it in memory.
type genReader struct {
	recs [][]string
	n, i int
	buf  bytes.Buffer
	w    *csv.Writer
	size int64
}

func newGenReader(recs [][]string, n int) *genReader {
	g := &genReader{recs: recs, n: n}
	g.w = csv.NewWriter(&g.buf)
	g.w.Write([]string{"id", "title", "body", "url", "published_at", "source"})
	g.w.Flush()
	return g
}

func (g *genReader) Read(p []byte) (int, error) {
	for g.buf.Len() < len(p) && g.i < g.n {
		rec := g.recs[g.i%len(g.recs)]
		row := append([]string{"G-" + strconv.Itoa(g.i+1), rec[1] + " " + strconv.Itoa(g.i+1)}, rec[2:]...)
		g.w.Write(row)
		g.w.Flush()
		g.i++
	}
	if g.buf.Len() == 0 {
		return 0, io.EOF
	}
	n, _ := g.buf.Read(p)
	g.size += int64(n)
	return n, nil
}

func fixtureRecords(t testing.TB) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", "articles.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[1:]
}

// retainedPerRow runs the checker over rows generated rows and returns the
// heap it holds at the end of the read, per row.
func retainedPerRow(t testing.TB, recs [][]string, rows int) float64 {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := newInputChecker("gen.csv")
	if err := c.run(context.Background(), newGenReader(recs, rows), InputOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(c)
	if c.rows != rows {
		t.Fatalf("checked %d rows, want %d", c.rows, rows)
	}
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(rows)
}

// TestCheckInputMemory: what CheckInput holds is digests, not rows (the
// generated rows average about 2 KB).
func TestCheckInputMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	perRow := retainedPerRow(t, fixtureRecords(t), 10_000)
	t.Logf("retained %.0f bytes per row", perRow)
	if perRow > 200 {
		t.Errorf("CheckInput retains %.0f bytes per row, want at most 200", perRow)
	}
}

func BenchmarkCheckInput(b *testing.B) {
	const rows = 100_000
	recs := fixtureRecords(b)
	retained := retainedPerRow(b, recs, rows)
	var size int64
	b.ResetTimer()
	for b.Loop() {
		g := newGenReader(recs, rows)
		sum, err := CheckInput(context.Background(), "gen.csv", g, InputOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if sum.Rows != rows {
			b.Fatalf("Rows=%d, want %d", sum.Rows, rows)
		}
		size = g.size
	}
	b.SetBytes(size)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
	b.ReportMetric(retained, "retained-B/row")
}
