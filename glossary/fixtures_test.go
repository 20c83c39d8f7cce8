package glossary_test

import (
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tarjama/tarjama/glossary"
)

const exampleGlossary = "../testdata/glossary.csv"

// readArticles returns title + "\n" + body of every article of the
// fixture CSV files.
func readArticles(tb testing.TB, paths ...string) []string {
	tb.Helper()
	var out []string
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		title, body := -1, -1
		for j, h := range rows[0] {
			switch h {
			case "title":
				title = j
			case "body":
				body = j
			}
		}
		for _, r := range rows[1:] {
			out = append(out, r[title]+"\n"+r[body])
		}
	}
	return out
}

// TestExampleGlossary checks that every entry of testdata/glossary.csv
// occurs in at least one fixture article, so that the example stays true.
func TestExampleGlossary(t *testing.T) {
	g, err := glossary.ReadFile(exampleGlossary)
	if err != nil {
		t.Fatal(err)
	}
	if n := g.Len(); n < 30 || n > 50 {
		t.Errorf("Len()=%d, want 30 to 50 entries", n)
	}
	articles := readArticles(t, "../testdata/articles.csv", "../testdata/seed-article.csv")
	count := map[string]int{}
	withAny, total := 0, 0
	for _, a := range articles {
		found := g.Find(a)
		if len(found) > 0 {
			withAny++
		}
		total += len(found)
		for _, e := range found {
			count[e.Arabic]++
		}
	}
	for _, e := range g.Entries() {
		if count[e.Arabic] == 0 {
			t.Errorf("%s line %d: %q (%s) is in no fixture article", exampleGlossary, e.Line, e.Arabic, e.English)
		}
	}
	t.Logf("%d entries; %d of %d articles have at least one; %.2f entries per article (%.2f per article that has any)",
		g.Len(), withAny, len(articles), float64(total)/float64(len(articles)), float64(total)/float64(withAny))
}

// arabicLetters are the letters of generated entries.
var arabicLetters = []rune("ابتثجحخدذرزسشصضطظعغفقكلمنهوي")

// bigGlossary returns a glossary CSV of n entries: the example glossary's,
// then 500 made of word pairs of the articles (so that they are found,
// and their first words are the article's common words), then random
// Arabic names of one to three words of three to seven letters.
func bigGlossary(tb testing.TB, n int, articles []string) string {
	tb.Helper()
	ex, err := os.ReadFile(exampleGlossary)
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	b.Write(ex)
	rng := rand.New(rand.NewPCG(1, 2))
	var words []string
	for _, a := range articles {
		words = append(words, strings.Fields(a)...)
	}
	// fold is a rough copy of the matching normalisation, enough to keep
	// generated entries distinct.
	fold := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r == 'أ' || r == 'إ' || r == 'آ' || r == 'ٱ':
				return 'ا'
			case r == 'ى':
				return 'ي'
			case r == 'ة':
				return 'ه'
			case r == 'ـ' || (r >= 0x64B && r <= 0x65F) || r == 0x670:
				return -1
			}
			return r
		}, s)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(ex), "\n")[1:] {
		if line != "" {
			seen[fold(strings.Split(line, ",")[0])] = true
			n--
		}
	}
	addEntry := func(ar string) {
		if k := fold(ar); !seen[k] {
			seen[k] = true
			fmt.Fprintf(&b, "%s,Name %d,generated\n", ar, len(seen))
			n--
		}
	}
	for pairs := min(n/2, 500); pairs > 0; {
		i := rng.IntN(len(words) - 1)
		w1, w2 := strings.Trim(words[i], `.,:;"()«»!?،؛`), strings.Trim(words[i+1], `.,:;"()«»!?،؛`)
		if !strings.ContainsAny(w1, string(arabicLetters)) || !strings.ContainsAny(w2, string(arabicLetters)) ||
			strings.ContainsAny(w1+w2, `",`) {
			continue
		}
		before := len(seen)
		addEntry(w1 + " " + w2)
		if len(seen) > before {
			pairs--
		}
	}
	for n > 0 {
		var name []string
		for range 1 + rng.IntN(3) {
			var w []rune
			for range 3 + rng.IntN(5) {
				w = append(w, arabicLetters[rng.IntN(len(arabicLetters))])
			}
			name = append(name, string(w))
		}
		addEntry(strings.Join(name, " "))
	}
	return b.String()
}

// BenchmarkFind finds the entries of a glossary of 10,000 entries (and,
// to show that the cost does not grow with the glossary, 1,000 and
// 100,000) in each of the fixture articles:
//
//	go test -run '^$' -bench Find -benchmem ./glossary/
func BenchmarkFind(b *testing.B) {
	articles := readArticles(b, "../testdata/articles.csv")
	words := 0
	for _, a := range articles {
		words += len(strings.Fields(a))
	}
	for _, size := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("entries=%d", size), func(b *testing.B) {
			csvText := bigGlossary(b, size, articles)
			start := time.Now()
			g, err := glossary.Read(strings.NewReader(csvText), "big.csv")
			if err != nil {
				b.Fatal(err)
			}
			if g.Len() != size {
				b.Fatalf("Len()=%d, want %d", g.Len(), size)
			}
			readTime := time.Since(start)
			found := 0
			for _, a := range articles {
				found += len(g.Find(a))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, a := range articles {
					g.Find(a)
				}
			}
			ns := float64(b.Elapsed().Nanoseconds())
			b.ReportMetric(ns/float64(b.N*len(articles)), "ns/article")
			b.ReportMetric(ns/float64(b.N*words), "ns/word")
			b.ReportMetric(float64(found)/float64(len(articles)), "found/article")
			b.ReportMetric(float64(readTime.Milliseconds()), "ms-read")
		})
	}
}
