// Package testinput makes the large inputs of the benchmarks from the
// fixture articles: each row a fixture article made unique, so that the
// pipeline answers none of them from an earlier row.
package testinput

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Article is one row of testdata/articles.csv.
type Article struct {
	ID, Title, Body, URL, Published, Source string
}

// Load reads the fixture articles from path (testdata/articles.csv).
func Load(path string) ([]Article, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("articles.csv header: %w", err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	for _, name := range []string{"id", "title", "body", "url", "published_at", "source"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("articles.csv: no %q column", name)
		}
	}
	var arts []Article
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("articles.csv: %w", err)
		}
		arts = append(arts, Article{
			ID: rec[col["id"]], Title: rec[col["title"]], Body: rec[col["body"]],
			URL: rec[col["url"]], Published: rec[col["published_at"]], Source: rec[col["source"]],
		})
	}
	if len(arts) == 0 {
		return nil, fmt.Errorf("articles.csv: no articles")
	}
	return arts, nil
}

// Write writes a CSV of rows articles (columns id, title, body, url,
// published_at, source). Row n is source article (n-1) mod 60 with its id
// suffixed "-n" and its body suffixed " " and n in Arabic-Indic digits, so
// that no two rows share an id or a title and body (the pipeline would
// answer a repeated article from the first).
func Write(path string, arts []Article, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f) // buffered
	err = w.Write([]string{"id", "title", "body", "url", "published_at", "source"})
	rec := make([]string, 6)
	for n := 1; n <= rows && err == nil; n++ {
		a := arts[(n-1)%len(arts)]
		rec[0] = a.ID + "-" + strconv.Itoa(n)
		rec[1] = a.Title
		rec[2] = a.Body + " " + ArabicIndic(n)
		rec[3], rec[4], rec[5] = a.URL, a.Published, a.Source
		err = w.Write(rec)
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ArabicIndic writes n in Arabic-Indic digits (٠١٢٣٤٥٦٧٨٩).
func ArabicIndic(n int) string {
	var sb strings.Builder
	for _, d := range strconv.Itoa(n) {
		sb.WriteRune('٠' + (d - '0'))
	}
	return sb.String()
}
