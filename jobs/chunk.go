package jobs

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxChunkTokens is the default --max-chunk-tokens: a chunk, its
// prompt (about 700 tokens of template) and its translation (about as long
// as the chunk) fit a 4,096-token window, the smallest common one (Ollama's
// default context, older models' output limit).
const DefaultMaxChunkTokens = 1500

// runesPerToken is the offline token estimate: o200k_base spends about 620
// tokens on 366 Arabic words (about 2,260 letters and spaces, 3.65 per
// token); 3 per token errs on the side of smaller chunks.
const runesPerToken = 3

// EstimateTokens is a quick offline estimate of the tokens of s.
func EstimateTokens(s string) int {
	return (utf8.RuneCountInString(s) + runesPerToken - 1) / runesPerToken
}

// Chunk is one piece of a body that is translated on its own.
type Chunk struct {
	Text string
	// Sep joins this chunk's translation to the next one's: "\n" when the
	// body was cut between paragraphs, " " when inside one.
	Sep string
}

// Split cuts body into chunks of at most maxTokens (estimated), on
// paragraph bounds first, then on sentence ends (. ? ! and the Arabic ؟),
// then after the Arabic comma and semicolon (، ؛), and at last between
// words; never inside a word. A body that fits is one chunk, unchanged.
// Joining the chunks' texts with their separators gives back the body,
// apart from the white space at the cuts and blank lines between
// paragraphs.
func Split(body string, maxTokens int) []Chunk {
	if maxTokens <= 0 || EstimateTokens(body) <= maxTokens {
		return []Chunk{{Text: body}}
	}
	maxRunes := maxTokens * runesPerToken
	var chunks []Chunk
	var cur strings.Builder
	flush := func(sep string) {
		if t := strings.TrimSpace(cur.String()); t != "" {
			chunks = append(chunks, Chunk{Text: t, Sep: sep})
		}
		cur.Reset()
	}
	for _, para := range strings.Split(body, "\n") {
		if strings.TrimSpace(para) == "" {
			continue
		}
		n := utf8.RuneCountInString(para)
		if cur.Len() > 0 && utf8.RuneCountInString(cur.String())+1+n > maxRunes {
			flush("\n")
		}
		if n <= maxRunes {
			if cur.Len() > 0 {
				cur.WriteByte('\n')
			}
			cur.WriteString(para)
			continue
		}
		// A paragraph longer than a chunk: cut it in pieces that join with
		// spaces; the last piece starts the next chunk.
		pieces := splitLong(para, maxRunes)
		for _, p := range pieces[:len(pieces)-1] {
			cur.WriteString(p)
			flush(" ")
		}
		cur.WriteString(pieces[len(pieces)-1])
	}
	flush("")
	if len(chunks) == 0 {
		return []Chunk{{Text: body}}
	}
	chunks[len(chunks)-1].Sep = ""
	return chunks
}

// cutters are tried in order to cut a paragraph that is too long: sentence
// ends, then clause marks, then any space.
var cutters = []func(prev rune) bool{
	func(r rune) bool { return r == '.' || r == '!' || r == '?' || r == '؟' },
	func(r rune) bool { return r == '،' || r == '؛' || r == ';' || r == ',' || r == ':' },
	func(r rune) bool { return true },
}

// splitLong cuts s into pieces of at most max runes, each cut at a space
// that follows the strongest mark found, trimming the spaces at the cuts.
func splitLong(s string, max int) []string {
	// Trimmed first: white space at the start of a paragraph would be
	// taken for a cut at 0 and keep the paragraph whole.
	s = strings.TrimSpace(s)
	var pieces []string
	for utf8.RuneCountInString(s) > max {
		cut := -1
		for _, after := range cutters {
			cut = lastCut(s, max, after)
			if cut > 0 {
				break
			}
		}
		if cut <= 0 { // one word longer than a chunk: keep it whole
			cut = strings.IndexFunc(s, unicode.IsSpace)
			if cut <= 0 {
				break
			}
		}
		pieces = append(pieces, strings.TrimSpace(s[:cut]))
		s = strings.TrimSpace(s[cut:])
	}
	return append(pieces, s)
}

// lastCut is the byte offset of the last space within the first max runes
// of s that follows a rune for which after is true, or -1.
func lastCut(s string, max int, after func(rune) bool) int {
	cut, n := -1, 0
	var prev rune
	for i, r := range s {
		if n >= max {
			break
		}
		if unicode.IsSpace(r) && i > 0 && after(prev) {
			cut = i
		}
		prev = r
		n++
	}
	return cut
}
