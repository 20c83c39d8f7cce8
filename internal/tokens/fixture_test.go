package tokens

import (
	"encoding/csv"
	"os"
	"regexp"
	"strings"
	"testing"
)

// articlesCSV is the project's shared fixture of 60 Arabic news articles.
const articlesCSV = "../../testdata/articles.csv"

// longestBody returns the body of articlesCSV with the most words.
func longestBody(tb testing.TB) string {
	tb.Helper()
	f, err := os.Open(articlesCSV)
	if err != nil {
		tb.Fatalf("open fixture: %v", err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("read %s: %v", articlesCSV, err)
	}
	col := -1
	for i, name := range records[0] {
		if strings.TrimPrefix(name, "\ufeff") == "body" {
			col = i
		}
	}
	if col < 0 {
		tb.Fatalf("%s: no body column in header %q", articlesCSV, records[0])
	}
	var longest string
	for _, r := range records[1:] {
		if len(strings.Fields(r[col])) > len(strings.Fields(longest)) {
			longest = r[col]
		}
	}
	return longest
}

var word = regexp.MustCompile(`\S+`)

// firstWords returns s up to the end of its n-th word, whitespace and
// paragraph breaks kept, and the number of words it holds.
func firstWords(s string, n int) (string, int) {
	words := word.FindAllStringIndex(s, n)
	if len(words) == 0 {
		return "", 0
	}
	return s[:words[len(words)-1][1]], len(words)
}
