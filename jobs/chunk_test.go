package jobs

import (
	"encoding/csv"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// longestFixture is the longest body of testdata/articles.csv (1,028 words).
func longestFixture(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../testdata/articles.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, r := range recs[1:] {
		if len(r[2]) > len(body) {
			body = r[2]
		}
	}
	return body
}

func join(chunks []Chunk) string {
	var b strings.Builder
	for _, c := range chunks {
		b.WriteString(c.Text + c.Sep)
	}
	return b.String()
}

// squash removes white space, so that texts that differ only at the cuts
// compare equal; a cut inside a word would still show.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

func TestSplitRealArticle(t *testing.T) {
	body := longestFixture(t)
	for _, max := range []int{10000, 1500, 300, 60, 10} {
		chunks := Split(body, max)
		if max == 10000 && (len(chunks) != 1 || chunks[0].Text != body) {
			t.Errorf("max %d: a body that fits must be one chunk unchanged", max)
		}
		if got, want := squash(join(chunks)), squash(body); got != want {
			t.Errorf("max %d: joined chunks differ from the body", max)
		}
		for i, c := range chunks {
			if n := utf8.RuneCountInString(c.Text); n > max*runesPerToken && strings.ContainsFunc(c.Text, func(r rune) bool { return r == ' ' }) {
				t.Errorf("max %d: chunk %d has %d runes, over %d", max, i+1, n, max*runesPerToken)
			}
			if strings.TrimSpace(c.Text) == "" {
				t.Errorf("max %d: chunk %d is empty", max, i+1)
			}
			if i < len(chunks)-1 && c.Sep == "" || i == len(chunks)-1 && c.Sep != "" {
				t.Errorf("max %d: chunk %d separator %q", max, i+1, c.Sep)
			}
		}
		t.Logf("max %d tokens: %d chunks", max, len(chunks))
	}
	if n := len(Split(body, DefaultMaxChunkTokens)); n != 2 {
		t.Errorf("the longest fixture (%d estimated tokens) makes %d chunks at the default, want 2", EstimateTokens(body), n)
	}
}

func TestSplitBounds(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int // tokens; 3 runes each
		want []Chunk
	}{
		{"paragraphs first", "أ ب ج\nد ه و\nز ح ط", 4, // 12 runes a chunk
			[]Chunk{{"أ ب ج\nد ه و", "\n"}, {"ز ح ط", ""}}},
		{"then sentences", "جملة أولى. جملة ثانية؟ جملة ثالثة!", 5,
			[]Chunk{{"جملة أولى.", " "}, {"جملة ثانية؟", " "}, {"جملة ثالثة!", ""}}},
		{"then the Arabic comma", "كلمة كلمة، كلمة كلمة، كلمة كلمة", 5,
			[]Chunk{{"كلمة كلمة،", " "}, {"كلمة كلمة،", " "}, {"كلمة كلمة", ""}}},
		{"then words, never inside one", "كلمةطويلة قصيرة كلمةطويلة", 4,
			[]Chunk{{"كلمةطويلة", " "}, {"قصيرة", " "}, {"كلمةطويلة", ""}}},
		{"blank lines are dropped between chunks", "أ ب ج د\n\n\nه و ز ح", 3,
			[]Chunk{{"أ ب ج د", "\n"}, {"ه و ز ح", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Split(tt.body, tt.max)); diff != "" {
				t.Errorf("Split (-want +got):\n%s", diff)
			}
		})
	}
}
