package cleanup

import "testing"

// BenchmarkArticle cleans the 60 articles of testdata/articles.csv, title
// and body, per iteration.
func BenchmarkArticle(b *testing.B) {
	fs := articles(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for _, f := range fs {
			Article(f.title, f.body)
		}
		n += len(fs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "articles/s")
}
