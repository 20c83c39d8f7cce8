package glossary_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/glossary"
)

func mustRead(tb testing.TB, csv string) *glossary.Glossary {
	tb.Helper()
	g, err := glossary.Read(strings.NewReader(csv), "test.csv")
	if err != nil {
		tb.Fatalf("Read: %v", err)
	}
	return g
}

func TestRead(t *testing.T) {
	in := "\ufeffNote, English ,ARABIC\r\n" +
		"president,Ilham Aliyev, إلهام   علييف \r\n" +
		"\r\n" +
		`"a ""quoted"", multi-line` + "\r\n" + `note",Aliyev | Aliev|Aliyev,علييف` + "\r\n" +
		"same again,Aliyev|Aliev,عليیف\r\n" + // Farsi yeh: the same for matching
		"newspaper,Haaretz,هآرتس\r\n"
	g, err := glossary.Read(strings.NewReader(in), "terms.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []glossary.Entry{
		{Arabic: "إلهام علييف", English: "Ilham Aliyev", Line: 2},
		{Arabic: "علييف", English: "Aliyev", Alternatives: []string{"Aliev"}, Line: 5},
		{Arabic: "هآرتس", English: "Haaretz", Line: 7},
	}
	if diff := cmp.Diff(want, g.Entries()); diff != "" {
		t.Errorf("Entries() mismatch (-want +got):\n%s", diff)
	}
	if got, want := g.Len(), 3; got != want {
		t.Errorf("Len()=%d, want %d", got, want)
	}
}

func TestReadEmpty(t *testing.T) {
	for _, in := range []string{"arabic,english\n", "english,arabic", "\ufeffArabic,English\r\n\r\n"} {
		g, err := glossary.Read(strings.NewReader(in), "empty.csv")
		if err != nil {
			t.Fatalf("Read(%q): %v", in, err)
		}
		if g.Len() != 0 || g.Find("تونس") != nil {
			t.Errorf("Read(%q): Len()=%d, want an empty glossary", in, g.Len())
		}
	}
	var nilG *glossary.Glossary
	if nilG.Len() != 0 || nilG.Find("تونس") != nil || nilG.Hash() != "" || nilG.Entries() != nil {
		t.Errorf("a nil *Glossary is not empty")
	}
}

func TestReadErrors(t *testing.T) {
	const h = "arabic,english\n"
	tests := []struct {
		name string
		in   string
		// want are substrings of the message: the position first.
		want []string
		line int
	}{
		{"empty file", "", []string{"terms.csv: empty file"}, 0},
		{"no english column", "arabic,en\nتونس,Tunisia\n",
			[]string{`terms.csv line 1, column "english": no column "english"`, "columns: arabic, en"}, 1},
		{"no arabic column", "\n\nar, english\nتونس,Tunisia\n",
			[]string{`terms.csv line 3, column "arabic": no column "arabic"`}, 3},
		{"duplicate column", "arabic,English,english\nتونس,Tunisia,Tunis\n",
			[]string{`terms.csv line 1, column "english" (3): duplicate column: columns 2 and 3`}, 1},
		{"empty arabic", h + "تونس,Tunisia\n  ,Sousse\n",
			[]string{`terms.csv line 3, column "arabic" (1): empty Arabic form`}, 3},
		{"empty english", h + "تونس,Tunisia\nسوسة, \n",
			[]string{`terms.csv line 3, column "english" (2): empty English form`}, 3},
		{"empty alternative", "english,arabic\nTunisia||Tunis,تونس\n",
			[]string{`terms.csv line 2, column "english" (1): empty form in "Tunisia||Tunis"`}, 2},
		{"no Arabic letters", h + "Tunisia,تونس\n",
			[]string{`terms.csv line 2, column "arabic" (1): "Tunisia" has no Arabic letters`, "swapped"}, 2},
		{"only Arabic digits and marks", h + "٢٠١٧ ً,2017\n",
			[]string{`terms.csv line 2, column "arabic" (1): "٢٠١٧ ً" has no Arabic letters`}, 2},
		{"Arabic in english", h + "تونس,Tunisia|تونس\n",
			[]string{`terms.csv line 2, column "english" (2): English form "تونس" contains Arabic script`}, 2},
		{"no letters in english", h + "تونس,--\n",
			[]string{`terms.csv line 2, column "english" (2): English form "--" has no letters or digits`}, 2},
		{"same arabic, different english", h + "أحمد,Ahmed\nتونس,Tunisia\nاحمد,Ahmad\n",
			[]string{`terms.csv line 4, column "arabic" (1): "احمد" is also on line 2`, `"أحمد" and "احمد" are the same for matching`, `"Ahmed" there, "Ahmad" here`}, 4},
		{"same arabic, other alternatives", h + "تونس,Tunisia\nتونس,Tunisia|Tunis\n",
			[]string{`terms.csv line 3, column "arabic" (1): "تونس" is also on line 2`}, 3},
		{"invalid UTF-8", h + "تونس,Tun\xffisia\n",
			[]string{`terms.csv line 2, column "english" (2): invalid UTF-8 at byte 4`}, 2},
		{"invalid UTF-8 in an ignored column", "arabic,english,note\nتونس,Tunisia,\"a\nb\xfe\"\n",
			[]string{`terms.csv line 3, column "note" (3): invalid UTF-8`}, 3},
		{"invalid UTF-8 in the header", "arabic,english,n\xffote\n",
			[]string{`terms.csv line 1, column 3: invalid UTF-8`}, 1},
		{"bare quote", h + "تونس,Tun\"isia\n",
			[]string{`terms.csv line 2, column "english" (2): a double quote in an unquoted field at byte 13 of the line`}, 2},
		{"stray quote", h + "\"تونس\"x,Tunisia\n",
			[]string{`terms.csv line 2, column "arabic" (1): unexpected double quote at byte 10 of the line, inside a quoted field`}, 2},
		{"unclosed quote", h + "تونس,Tunisia\n\"سوسة,Sousse\nجربة,Djerba\n",
			[]string{`terms.csv line 3, column "arabic" (1): unclosed quote: a quoted field in the row that starts on line 3 is never closed and runs to the end of the file (line 4)`}, 3},
		{"wrong field count", h + "تونس,Tunisia,Tunis\n",
			[]string{`terms.csv line 2: the row has 3 fields, the header has 2`}, 2},
		{"line after a multi-line field", "arabic,english,note\nتونس,Tunisia,\"one\ntwo\nthree\"\nسوسة,,\n",
			[]string{`terms.csv line 5, column "english" (2): empty English form`}, 5},
		{"english field on a later line", "arabic,note,english\nتونس,\"one\ntwo\",\n",
			[]string{`terms.csv line 3, column "english" (3): empty English form`}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := glossary.Read(strings.NewReader(tt.in), "terms.csv")
			if err == nil {
				t.Fatalf("Read: no error, %d entries", g.Len())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var ge *glossary.Error
			if !errors.As(err, &ge) {
				t.Fatalf("error %T is not a *glossary.Error", err)
			}
			if ge.Path != "terms.csv" || ge.Line != tt.line {
				t.Errorf("Path, Line = %q, %d; want %q, %d", ge.Path, ge.Line, "terms.csv", tt.line)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.csv")
	_, err := glossary.ReadFile(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want an error naming %s", err, path)
	}

	path = filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(path, []byte("arabic,english\nتونس,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = glossary.ReadFile(path)
	if want := path + ` line 2, column "english" (2): empty English form`; err == nil || err.Error() != want {
		t.Errorf("ReadFile(bad) = %v, want %s", err, want)
	}
}

func TestHash(t *testing.T) {
	base := mustRead(t, "arabic,english\nتونس,Tunisia|Tunis\nسوسة,Sousse\n")
	h := base.Hash()
	if len(h) != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Fatalf("Hash()=%q, want 16 hex digits", h)
	}
	same := map[string]string{
		"rows reordered":       "arabic,english\nسوسة,Sousse\nتونس,Tunisia|Tunis\n",
		"columns and format":   "\ufeffEnglish,note,Arabic\r\n\"Sousse\",x,سوسة\r\n Tunisia | Tunis ,y, تونس\r\n",
		"repeated row":         "arabic,english\nتونس,Tunisia|Tunis\nسوسة,Sousse\nتونس,Tunisia|Tunis\n",
		"repeated alternative": "arabic,english\nتونس,Tunisia|Tunis|Tunis\nسوسة,Sousse\n",
	}
	for name, in := range same {
		if got := mustRead(t, in).Hash(); got != h {
			t.Errorf("%s: Hash()=%s, want %s", name, got, h)
		}
	}
	differ := map[string]string{
		"other english":      "arabic,english\nتونس,Tunis|Tunisia\nسوسة,Sousse\n",
		"other alternatives": "arabic,english\nتونس,Tunisia\nسوسة,Sousse\n",
		"other arabic":       "arabic,english\nتونس,Tunisia|Tunis\nسوسه,Sousse\n",
		"one more entry":     "arabic,english\nتونس,Tunisia|Tunis\nسوسة,Sousse\nجربة,Djerba\n",
		"empty":              "arabic,english\n",
	}
	seen := map[string]string{h: "base"}
	for name, in := range differ {
		got := mustRead(t, in).Hash()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: Hash()=%s, the same as %s", name, got, prev)
		}
		seen[got] = name
	}
	// The hash must not change between versions unless the rules change
	// (then bump hashVersion and this value).
	if got, want := h, "8a85218c537081a2"; got != want {
		t.Errorf("Hash()=%s, want %s", got, want)
	}
}

func TestEntriesIsACopy(t *testing.T) {
	g := mustRead(t, "arabic,english\nتونس,Tunisia\n")
	e := g.Entries()
	e[0].English = "changed"
	if got := g.Entries()[0].English; got != "Tunisia" {
		t.Errorf("Entries()[0].English=%q after changing a copy", got)
	}
	if !slices.Equal(g.Entries()[0].Forms(), []string{"Tunisia"}) {
		t.Errorf("Forms()=%q", g.Entries()[0].Forms())
	}
}
