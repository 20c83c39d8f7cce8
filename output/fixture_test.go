package output

import (
	"os"
	"testing"

	"github.com/gocarina/gocsv"

	"github.com/tarjama/tarjama/jobs"
)

// article is a row of testdata/articles.csv, two articles copied from the
// project's ../testdata/articles.csv so that the golden files do not change
// when that file does.
type article struct {
	ID          string `csv:"id"`
	Title       string `csv:"title"`
	Body        string `csv:"body"`
	URL         string `csv:"url"`
	PublishedAt string `csv:"published_at"`
	Source      string `csv:"source"`
}

// fixtureColumns are the carried-through columns of the fixture rows.
var fixtureColumns = []string{"url", "published_at", "source", "title_ar", "excerpt_ar", "note"}

// guardTriggers are the first characters that Guard must neutralise.
const guardTriggers = "=+-@\t\r"

func loadArticles(t testing.TB) map[string]article {
	t.Helper()
	f, err := os.Open("testdata/articles.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []article
	if err := gocsv.Unmarshal(f, &rows); err != nil {
		t.Fatalf("read testdata/articles.csv: %v", err)
	}
	m := make(map[string]article, len(rows))
	for _, a := range rows {
		m[a.ID] = a
	}
	return m
}

// fixtureRows returns results that cover Arabic text with diacritics and
// RTL punctuation, commas, quotes and line breaks inside cells, a cell
// starting with each of = + - @ tab and CR, ok, failed and skipped rows,
// empty key points, carried-through columns and a missing one.
func fixtureRows(t testing.TB) []jobs.Result {
	t.Helper()
	arts := loadArticles(t)
	a1, ok1 := arts["JA-culture-109-20170520"]
	a2, ok2 := arts["JA-internationalNews-820-20170427"]
	if !ok1 || !ok2 {
		t.Fatalf("testdata/articles.csv lacks the fixture articles")
	}
	src := func(a article, note string) []jobs.Field {
		return []jobs.Field{
			{Name: "url", Value: a.URL},
			{Name: "published_at", Value: a.PublishedAt},
			{Name: "source", Value: a.Source},
			{Name: "title_ar", Value: a.Title},
			{Name: "excerpt_ar", Value: a.Body},
			{Name: "note", Value: note},
		}
	}
	return []jobs.Result{
		{
			Row:     1,
			ID:      a1.ID,
			Status:  jobs.StatusOK,
			TitleEN: `Najib Ayyad reveals what's new at the "Carthage Film Days"`,
			Translation: "Najib Ayyad, director general of the Carthage Film Days and a Tunisian producer, " +
				`revealed what is new in the festival's next edition, which he said would be "different from the previous ones".` +
				"\n\nSpeaking live from Cannes on the programme \"Cinema Cinema\" on Thursday, 18 May 2017, " +
				"he said the feature and short film competitions would return.",
			KeyPoints: []string{
				`The feature and short film competitions return, "as before".`,
				"Films will come from several continents: South Africa, Algeria, Argentina, South Korea, and others.",
				"The festival is expected to run from 4 to 11 November 2017.",
			},
			Source:        src(a1, "ثقافة، سينما"),
			Model:         "gpt-4o-mini-2024-07-18",
			Usage:         jobs.Usage{PromptTokens: 1204, CompletionTokens: 388},
			InputSHA256:   "5d41402abc4b2a76b9719d911017c592e1f0c9b1a2b3c4d5e6f708192a3b4c5d",
			PromptVersion: "p1-3f9a2c",
		},
		{
			Row:     2,
			ID:      a2.ID,
			Status:  jobs.StatusOK,
			TitleEN: `What is the secret of the "red button" Trump installed in his office?`,
			Translation: "Press reports said U.S. President Donald Trump had fitted his office with a red button.\n" +
				"An Associated Press reporter revealed that Trump presses it whenever he wants a soft drink.",
			KeyPoints: []string{
				"Trump's red button orders a soft drink, not a strike.",
				"Users joked he must not confuse <soda> & <nuclear> buttons.",
			},
			Source:        src(a2, "سياسة دولية؟"),
			Model:         "gpt-4o-mini-2024-07-18",
			Usage:         jobs.Usage{PromptTokens: 890, CompletionTokens: 251},
			InputSHA256:   "0b2d1c3e4f5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",
			PromptVersion: "p1-3f9a2c",
		},
		{
			Row:         3,
			ID:          "formula-1",
			Status:      jobs.StatusOK,
			TitleEN:     `=HYPERLINK("http://example.com/x","click")`,
			Translation: "+216 71 000 000 is the newsroom's number, not a sum.",
			KeyPoints:   []string{"-5% is a fall, not a formula", "=1+1"},
			Source: []jobs.Field{
				{Name: "url", Value: "@SUM(A1:A9)"},
				{Name: "published_at", Value: "-2017-01-01"},
				{Name: "source", Value: "\tTab-led source"},
				{Name: "title_ar", Value: "\rعنوان يبدأ بعودة السطر"},
				{Name: "excerpt_ar", Value: "=1+2، ثمّ ماذا؟"},
				{Name: "note", Value: "+note, with a comma"},
			},
			Model:         "gpt-4o-mini-2024-07-18",
			Usage:         jobs.Usage{PromptTokens: 10, CompletionTokens: 0},
			InputSHA256:   "a3f1",
			PromptVersion: "p1-3f9a2c",
		},
		{
			Row:           4,
			ID:            "JA-economy-61-20170204",
			Status:        jobs.StatusFailed,
			Error:         "http_400: HTTP 400: max_tokens is too large: 100000. This model supports at most 16384 completion tokens, whereas you provided 100000.",
			Source:        src(article{URL: "http://www.jawharafm.net/ar/article/x/95/1", PublishedAt: "2017-02-04"}, ""),
			Model:         "gpt-4o-mini",
			InputSHA256:   "ffee",
			PromptVersion: "p1-3f9a2c",
		},
		{
			Row:    5,
			ID:     "5",
			Status: jobs.StatusSkipped,
			Error:  "empty_body: the body cell is empty; fill it in or remove the row",
			// Only some of the carried-through columns: the others are
			// empty in results.csv and absent from results.json.
			Source: []jobs.Field{
				{Name: "url", Value: "http://example.com/empty"},
				{Name: "note", Value: "لا يوجد نص"},
			},
			InputSHA256:   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
			PromptVersion: "p1-3f9a2c",
		},
		{
			Row:           6,
			ID:            "JA-politic-2-20170121",
			Status:        jobs.StatusOK,
			TitleEN:       `Abir Moussi: "We are ready for the municipal elections"`,
			Translation:   "Abir Moussi said her party is ready for the municipal elections.",
			KeyPoints:     []string{},
			Source:        src(article{URL: "http://www.jawharafm.net/ar/article/y/95/2", PublishedAt: "2017-01-21"}, ""),
			Model:         "gpt-4o-mini-2024-07-18",
			Usage:         jobs.Usage{PromptTokens: 300, CompletionTokens: 40},
			InputSHA256:   "c0ffee",
			PromptVersion: "p1-3f9a2c",
		},
	}
}
