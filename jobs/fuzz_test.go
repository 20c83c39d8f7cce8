package jobs_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tarjama/tarjama/jobs"
)

// fixtureRecords returns the header and the first n records of the fixture
// articles, for seeds.
func fixtureRecords(tb testing.TB, n int) [][]string {
	tb.Helper()
	f, err := os.Open("../testdata/articles.csv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	var recs [][]string
	for len(recs) <= n {
		rec, err := r.Read()
		if err != nil {
			tb.Fatalf("read fixture: %v", err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// encodeCSV writes recs as CSV, with "\r\n" line ends when crlf.
func encodeCSV(tb testing.TB, recs [][]string, crlf bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.UseCRLF = crlf
	if err := w.WriteAll(recs); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// physicalLines is the number of lines of data as csv.Reader counts them:
// a "\n" ends a line, and text after the last "\n" is one more line.
func physicalLines(data []byte) int {
	n := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

const fuzzInputPath = "in/articles.csv"

// checkInputError checks that err is an *InputError that names the file
// and, unless the file holds no row at all, a line within it.
func checkInputError(t *testing.T, fn string, data []byte, err error) *jobs.InputError {
	t.Helper()
	var ie *jobs.InputError
	if !errors.As(err, &ie) {
		t.Fatalf("%s: error %T %q is not an *InputError", fn, err, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, fuzzInputPath+" ") && !strings.HasPrefix(msg, fuzzInputPath+": ") {
		t.Fatalf("%s: error %q does not start with the file name %q", fn, msg, fuzzInputPath)
	}
	if ie.Line == 0 {
		// Only an input with no row at all has no line: nothing but line
		// breaks after the byte-order mark.
		rest := bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if len(bytes.Trim(rest, "\r\n")) != 0 || !strings.Contains(msg, "empty file") {
			t.Fatalf("%s: error %q names no line, and the input is not empty", fn, msg)
		}
		return ie
	}
	if n := physicalLines(data); ie.Line < 1 || ie.Line > n {
		t.Fatalf("%s: error %q names line %d, the input has %d lines", fn, msg, ie.Line, n)
	}
	if want := fmt.Sprintf("%s line %d", fuzzInputPath, ie.Line); !strings.HasPrefix(msg, want) {
		t.Fatalf("%s: error %q does not start with %q", fn, msg, want)
	}
	return ie
}

// FuzzReadInput feeds arbitrary bytes to CheckInput and ReadInput. Every
// error is an *InputError naming the file and a line of it; when
// CheckInput accepts the input, ReadInput gives exactly its rows, with
// unique ids, in order, and SameAs and Copies agree with the rows read.
func FuzzReadInput(f *testing.F) {
	recs := fixtureRecords(f, 3)
	f.Add(encodeCSV(f, recs, false), uint8(0))
	f.Add(append([]byte("\xef\xbb\xbf"), encodeCSV(f, recs, true)...), uint8(2))
	// The same articles twice, with other ids: repeated articles.
	dup := slices.Clone(recs)
	for _, rec := range recs[1:] {
		rec = slices.Clone(rec)
		rec[0] += "-copy"
		dup = append(dup, rec)
	}
	f.Add(encodeCSV(f, dup, false), uint8(0))
	// The raw start of the fixture file, cut inside a quoted body.
	if raw, err := os.ReadFile("../testdata/articles.csv"); err == nil {
		f.Add(raw[:min(len(raw), 1500)], uint8(0))
	}
	// The inputs of the input tests: BOM with CRLF and multi-line cells, an
	// unclosed quote, Windows-1256.
	files, _ := filepath.Glob("testdata/input/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
	for _, s := range []string{
		"",
		"\xef\xbb\xbf",
		"\n\r\n\n",
		"body\n",
		"body\nنص المقال\n",
		"ID , Title,BODY\n x ,t,b\n",
		"id,title,body\n1,a,b\n1,c,d\n",
		"id,title,body\n,a,b\n1,c,d\n",
		"id,id,body\n1,2,3\n",
		"id,title,body,\x00line\n1,a,b,2\n",
		"id,title,body\n1,a\n",
		"id,title,body\n1,a,b,c\n",
		"id,title,body\n1,a\"b,c\n",
		"id,title,body\n1,\"a\"b,c\n",
		"id,title,body\r\n1,\"a\r\nb\",\"c\r\n",
		"id,title,body\n1,a,\"x\n\xff\"\n",
		"id,t\xfftle,body\n1,a,b\n",
		"id,title,body\r1,a,b\r",
		"id;title;body\n1;a;b\n",
		"\"id\",\"title\",\"body\"\n\"1\",\"\",\"\"\n\n\n",
		"id,title,body,url\nA-1,عنوان,\"قال \"\"مرحبا\"\"\",http://x\nA-2,,\"فقرة\n\nفقرة\",\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	// A field larger than every buffer on the way.
	f.Add([]byte("id,title,body\n1,t,\""+strings.Repeat("نص, \"\"طويل\"\"\n", 6000)+"\"\n"), uint8(1))

	f.Fuzz(func(t *testing.T, data []byte, limit uint8) {
		ctx := context.Background()
		opts := jobs.InputOptions{Limit: int(limit % 4)}
		sum, checkErr := jobs.CheckInput(ctx, fuzzInputPath, bytes.NewReader(data), opts)

		var arts []jobs.Article
		readErr := jobs.ReadInput(ctx, fuzzInputPath, bytes.NewReader(data), opts, func(a jobs.Article) error {
			arts = append(arts, a)
			return nil
		})
		if readErr != nil {
			checkInputError(t, "ReadInput", data, readErr)
		}

		if checkErr != nil {
			ie := checkInputError(t, "CheckInput", data, checkErr)
			// ReadInput does not look for duplicate ids; it finds every
			// other problem, the same first one.
			if strings.HasPrefix(ie.Msg, "duplicate id ") {
				return
			}
			if readErr == nil || readErr.Error() != checkErr.Error() {
				t.Fatalf("CheckInput: %v\nReadInput: %v", checkErr, readErr)
			}
			return
		}

		if readErr != nil {
			t.Fatalf("CheckInput accepted the input, ReadInput: %v", readErr)
		}
		if len(arts) != sum.Rows {
			t.Fatalf("ReadInput gave %d rows, CheckInput counted %d", len(arts), sum.Rows)
		}
		if opts.Limit > 0 && sum.Rows > opts.Limit {
			t.Fatalf("%d rows read, limit %d", sum.Rows, opts.Limit)
		}
		lines := physicalLines(data)
		ids := map[string]int{}
		type article struct{ title, body string }
		first := map[article]int{}
		count := map[int]int{}
		prevLine := 1
		for i, a := range arts {
			if a.Row != i+1 {
				t.Fatalf("row %d has Row %d", i+1, a.Row)
			}
			if a.Line <= prevLine || a.Line > lines {
				t.Fatalf("row %d on line %d: after line %d, the input has %d lines", a.Row, a.Line, prevLine, lines)
			}
			prevLine = a.Line
			if a.ID == "" || a.ID != strings.TrimSpace(a.ID) {
				t.Fatalf("row %d: id %q is empty or not trimmed", a.Row, a.ID)
			}
			if j, ok := ids[a.ID]; ok {
				t.Fatalf("rows %d and %d share the id %q", j, a.Row, a.ID)
			}
			ids[a.ID] = a.Row
			for _, s := range []string{a.ID, a.Title, a.Body} {
				if !utf8.ValidString(s) {
					t.Fatalf("row %d: invalid UTF-8 %q accepted", a.Row, s)
				}
			}
			if got := fieldNames(a.Source); !slices.Equal(got, sum.Columns) {
				t.Fatalf("row %d carries columns %q, the summary says %q", a.Row, got, sum.Columns)
			}
			k := article{a.Title, a.Body}
			fst, seen := first[k]
			if !seen {
				first[k] = a.Row
				fst = a.Row
			} else {
				count[fst]++
			}
			gotFirst, same := sum.SameAs(a.Row)
			if same != seen || (seen && gotFirst != fst) {
				t.Fatalf("SameAs(%d)=%d, %v; want %d, %v", a.Row, gotFirst, same, fst, seen)
			}
		}
		for _, a := range arts {
			if got, want := sum.Copies(a.Row), count[a.Row]; got != want {
				t.Fatalf("Copies(%d)=%d, want %d", a.Row, got, want)
			}
		}
	})
}

func fieldNames(fields []jobs.Field) []string {
	var names []string
	for _, fl := range fields {
		names = append(names, fl.Name)
	}
	return names
}

// FuzzSplit checks Split on any body and any chunk size from 1 to 5000
// tokens: a body that fits is one chunk, unchanged; otherwise no chunk is
// empty or has space around it, joining the chunks with their separators
// gives back the body's words (no cut inside a word, nothing lost), and a
// chunk over the size is a single word too long to cut.
func FuzzSplit(f *testing.F) {
	for _, rec := range fixtureRecords(f, 5)[1:] {
		body := rec[2]
		f.Add(body, uint16(jobs.EstimateTokens(body)/3))
		f.Add(body, uint16(40))
	}
	for _, s := range []string{
		"",
		"   \n\n \t",
		"قال الوزير. وأضاف؟ ثم، قال؛ نعم! لا: ربما; نعم, لا.",
		"فقرة أولى.\n\n\nفقرة ثانية.\r\nفقرة ثالثة.",
		strings.Repeat("كلمة", 40) + " قصيرة",
		"  " + strings.Repeat("x", 12) + " a b c d e f g h i j",
		"a\u00a0b\u2003c\u0085d e",
		"\xff\xfe \xc3 نص",
	} {
		f.Add(s, uint16(1))
		f.Add(s, uint16(4))
	}
	f.Fuzz(func(t *testing.T, body string, size uint16) {
		// Split takes time quadratic in a paragraph's length over the chunk
		// size (it counts the runes left after each cut): 100 KB in chunks
		// of 1 token takes seconds. Longer bodies only slow the fuzzer.
		if len(body) > 16<<10 {
			return
		}
		maxTokens := 1 + int(size)%5000
		chunks := jobs.Split(body, maxTokens)
		if len(chunks) == 0 {
			t.Fatalf("Split(%q, %d) gave no chunk", body, maxTokens)
		}
		if jobs.EstimateTokens(body) <= maxTokens || strings.TrimSpace(body) == "" {
			// A body that fits, or has no text to cut, is one chunk as it
			// is (an empty body gives an empty chunk).
			if len(chunks) != 1 || chunks[0].Text != body || chunks[0].Sep != "" {
				t.Fatalf("Split(%q, %d)=%q, want the body as one chunk", body, maxTokens, chunks)
			}
			return
		}
		maxRunes := maxTokens * 3
		var joined strings.Builder
		for i, c := range chunks {
			if c.Text == "" || c.Text != strings.TrimSpace(c.Text) {
				t.Fatalf("Split(%q, %d): chunk %d is %q: empty or not trimmed", body, maxTokens, i, c.Text)
			}
			wantSep := []string{"\n", " "}
			if i == len(chunks)-1 {
				wantSep = []string{""}
			}
			if !slices.Contains(wantSep, c.Sep) {
				t.Fatalf("Split(%q, %d): chunk %d has Sep %q, want one of %q", body, maxTokens, i, c.Sep, wantSep)
			}
			if n := utf8.RuneCountInString(c.Text); n > maxRunes && strings.IndexFunc(c.Text, unicode.IsSpace) >= 0 {
				t.Fatalf("Split(%q, %d): chunk %d has %d runes (max %d) and more than one word: %q",
					body, maxTokens, i, n, maxRunes, c.Text)
			}
			joined.WriteString(c.Text)
			joined.WriteString(c.Sep)
		}
		if got, want := strings.Fields(joined.String()), strings.Fields(body); !slices.Equal(got, want) {
			t.Fatalf("Split(%q, %d): the chunks' words differ from the body's:\n got %q\nwant %q", body, maxTokens, got, want)
		}
	})
}

// TestSplitLeadingSpace is FuzzSplit's find (testdata/fuzz/FuzzSplit):
// a paragraph that started with a space and a word longer than a chunk was
// kept whole, however long, as splitLong took the leading space for a cut
// at 0 and gave up.
func TestSplitLeadingSpace(t *testing.T) {
	long := strings.Repeat("0", 89)
	got := jobs.Split(" "+long+" 0 قال الوزير", 16)
	want := []jobs.Chunk{{Text: long, Sep: " "}, {Text: "0 قال الوزير"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Split()=%q, want %q", got, want)
	}
}
