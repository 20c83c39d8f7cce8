package cleanup

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/internal/testfs"
)

// fixture is one article of the repository's test data.
type fixture struct {
	id, title, body string
}

// loadFixtures reads a CSV with the header id,title,body,url,published_at,source.
func loadFixtures(tb testing.TB, path string) []fixture {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	if len(recs) < 2 || !slices.Equal(recs[0][:3], []string{"id", "title", "body"}) {
		tb.Fatalf("%s: want header id,title,body,..., got %q", path, recs[0])
	}
	var fs []fixture
	for _, r := range recs[1:] {
		fs = append(fs, fixture{id: r[0], title: r[1], body: r[2]})
	}
	return fs
}

// articles returns the 60 articles of testdata/articles.csv.
func articles(tb testing.TB) []fixture {
	tb.Helper()
	fs := loadFixtures(tb, filepath.Join("..", "testdata", "articles.csv"))
	if len(fs) != 60 {
		tb.Fatalf("articles.csv: got %d articles, want 60", len(fs))
	}
	return fs
}

// seedArticle returns the article of testdata/seed-article.csv.
func seedArticle(tb testing.TB) fixture {
	tb.Helper()
	fs := loadFixtures(tb, filepath.Join("..", "testdata", "seed-article.csv"))
	if len(fs) != 1 {
		tb.Fatalf("seed-article.csv: got %d articles, want 1", len(fs))
	}
	return fs[0]
}

// allFixtures returns the 60 articles and the seed article.
func allFixtures(tb testing.TB) []fixture {
	tb.Helper()
	return append(articles(tb), seedArticle(tb))
}

// fixtureByID returns the fixture with that id.
func fixtureByID(tb testing.TB, id string) fixture {
	tb.Helper()
	for _, f := range allFixtures(tb) {
		if f.id == id {
			return f
		}
	}
	tb.Fatalf("no fixture %q", id)
	return fixture{}
}

// TestGoldenSeed cleans the seed article's body: the repeated lead
// paragraph, the no-break-space line and the trailing "التعليقات" go; the
// headline-like first paragraph and the photo caption stay.
func TestGoldenSeed(t *testing.T) {
	seed := seedArticle(t)
	got, st := Text(seed.body)
	checkGolden(t, "seed-article.golden", got+"\n")

	for _, rule := range []string{RuleSpaces, RuleDuplicateParagraph, RuleBoilerplate} {
		if st.Changed[rule] != 1 {
			t.Errorf("Changed[%s]=%d, want 1 (stats %v)", rule, st.Changed[rule], st)
		}
	}
	if strings.Contains(got, "التعليقات") {
		t.Errorf("the trailing comments heading survived:\n%s", got)
	}
	lead := strings.Split(seed.body, "\n")[0]
	if n := strings.Count(got, lead); n != 1 {
		t.Errorf("the lead paragraph appears %d times, want 1", n)
	}
}

// arabicMarks counts the Arabic combining marks (harakat, shadda, sukun,
// dagger alef...) in s.
func arabicMarks(s string) int {
	n := 0
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) && unicode.Is(unicode.Arabic, r) {
			n++
		}
	}
	return n
}

// TestFixturesInvariants checks, on every real article, that clean-up is
// idempotent, keeps every diacritic, never lengthens the text, leaves no
// body or title empty, and that Stats accounts for every rune removed.
func TestFixturesInvariants(t *testing.T) {
	for _, f := range allFixtures(t) {
		t.Run(f.id, func(t *testing.T) {
			title, body, st := Article(f.title, f.body)
			if body == "" || title == "" {
				t.Fatalf("Article cleaned to title %q, body %q", title, body)
			}
			for _, c := range []struct{ in, out string }{{f.title, title}, {f.body, body}} {
				if got, want := arabicMarks(c.out), arabicMarks(c.in); got != want {
					t.Errorf("harakat: got %d, want %d", got, want)
				}
				if utf8.RuneCountInString(c.out) > utf8.RuneCountInString(c.in) {
					t.Errorf("output longer than input: %q", c.out)
				}
			}
			if again, _ := Text(body); again != body {
				t.Errorf("Text not idempotent on the body:\n%s", cmp.Diff(body, again))
			}
			if again, _, _ := Article(title, ""); again != title {
				t.Errorf("Article not idempotent on the title: %q -> %q", title, again)
			}
			if got, want := st.Total(), utf8.RuneCountInString(f.title+f.body)-utf8.RuneCountInString(title+body); got != want {
				t.Errorf("Stats.Total()=%d, want the %d runes the texts lost", got, want)
			}
		})
	}
}

// ruleSummary accumulates what one rule did over many articles.
type ruleSummary struct {
	removed  int // runes removed, all articles
	max      int // most runes removed from one article
	articles int // articles (title or body) the rule changed
}

// TestFixtureReport reports, for every article of testdata/articles.csv
// and the seed article, the runes removed per rule (go test -v -run
// Report), and checks the totals against what the fixtures hold, counted
// independently (with Python) when the rules were written.
func TestFixtureReport(t *testing.T) {
	fs := allFixtures(t)
	sum := map[string]*ruleSummary{}
	var header strings.Builder
	header.WriteString("id\trunes")
	for _, r := range Rules {
		sum[r.Name] = &ruleSummary{}
		header.WriteString("\t" + r.Name)
	}
	t.Log(header.String())
	before, after := 0, 0
	for _, f := range fs {
		title, body, st := Article(f.title, f.body)
		n := utf8.RuneCountInString(f.title) + utf8.RuneCountInString(f.body)
		before += n
		after += utf8.RuneCountInString(title) + utf8.RuneCountInString(body)
		line := fmt.Sprintf("%s\t%d", f.id, n)
		for _, r := range Rules {
			s := sum[r.Name]
			s.removed += st.Removed[r.Name]
			s.max = max(s.max, st.Removed[r.Name])
			if st.Changed[r.Name] > 0 {
				s.articles++
			}
			line += fmt.Sprintf("\t%d", st.Removed[r.Name])
		}
		t.Log(line)
	}
	t.Logf("%d articles, %d runes before, %d after (%.2f%% removed)", len(fs), before, after, 100*float64(before-after)/float64(before))
	t.Log("rule\tremoved\tmean/article\tmax/article\tarticles changed")
	for _, r := range Rules {
		s := sum[r.Name]
		t.Logf("%s\t%d\t%.2f\t%d\t%d", r.Name, s.removed, float64(s.removed)/float64(len(fs)), s.max, s.articles)
	}

	// What the fixtures hold (counted with Python over the CSV files):
	// no HTML, no decomposed text, no control character but "\n", one
	// ZERO WIDTH SPACE (JA-sport-597-20170302), eight tatweels that all
	// mark a clitic (kept), 145 no-break spaces in 35 articles (replacing
	// them and collapsing the runs they make removes 105 runes), one
	// repeated lead paragraph and one trailing comments heading (the seed).
	seed := seedArticle(t)
	seedLines := strings.Split(seed.body, "\n")
	want := map[string]ruleSummary{
		RuleHTML:      {},
		RuleNFC:       {},
		RuleControl:   {},
		RuleInvisible: {removed: 1, max: 1, articles: 1},
		RuleTatweel:   {},
		// The repeat (seedLines[6]) and the blank line before it.
		RuleDuplicateParagraph: {removed: utf8.RuneCountInString(seedLines[6]) + 2, max: utf8.RuneCountInString(seedLines[6]) + 2, articles: 1},
		// "التعليقات" and the blank line before it.
		RuleBoilerplate: {removed: utf8.RuneCountInString("\n\nالتعليقات"), max: 11, articles: 1},
	}
	for name, w := range want {
		if got := *sum[name]; got != w {
			t.Errorf("%s: got %+v, want %+v", name, got, w)
		}
	}
	if s := sum[RuleSpaces]; s.removed != 105 || s.articles != 35 {
		t.Errorf("spaces: got %+v, want 105 runes removed from 35 articles", *s)
	}
}

// checkGolden compares got with testdata/name, or rewrites the file with
// -update.
func checkGolden(t *testing.T, name string, got string) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", name), []byte(got))
}
