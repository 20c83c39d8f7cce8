package jobs

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tarjama/tarjama/cleanup"
	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/prompts"
)

// prepared is an article as it is sent: cleaned, cut in parts, each part
// with the glossary entries found in it.
type prepared struct {
	// art has the cleaned title and body; Source and ID are the input's.
	// original is the article as the input gave it.
	art, original Article
	cleaned       cleanup.Stats
	// parts are the translation inputs, in order; seps[i] joins the
	// translation of part i to the next ("\n" between paragraphs, " "
	// inside one).
	parts []prompts.TranslateInput
	seps  []string
	// terms are the glossary entries of the whole article, which the
	// translation is checked for.
	terms []glossary.Entry
	// viaNotes: the article is too long for one key-points request, so
	// each part gets notes and a reduce step makes the key points.
	viaNotes bool
}

// contextRunes bounds the context given with a part: the end of the part
// before, about a sentence or two.
const contextRunes = 300

// prepare cleans an article and cuts it into the parts that are sent.
func prepare(a Article, o *Options) prepared {
	original := a
	title, body, st := cleanup.Article(a.Title, a.Body)
	a.Title, a.Body = title, body
	p := prepared{art: a, original: original, cleaned: st}
	chunks := Split(body, o.MaxChunkTokens)
	for i, ch := range chunks {
		in := prompts.TranslateInput{Body: ch.Text}
		if i == 0 {
			in.Title = title
		} else {
			in.Context = contextOf(chunks[i-1].Text)
		}
		if len(chunks) > 1 {
			in.Part, in.Parts = i+1, len(chunks)
		}
		in.Terms = o.terms(in.Title + "\n" + in.Body)
		p.parts = append(p.parts, in)
		p.seps = append(p.seps, ch.Sep)
	}
	if o.Glossary != nil {
		p.terms = o.Glossary.Find(title + "\n" + body)
	}
	p.viaNotes = len(chunks) > 1 && EstimateTokens(body) > summaryInputTokens(o.MaxChunkTokens)
	return p
}

// summaryInputTokens is the longest article (estimated on the Arabic,
// which takes more tokens than its English translation) whose key points
// are made from the whole translation in one request: two chunks' worth.
func summaryInputTokens(maxChunkTokens int) int { return 2 * maxChunkTokens }

// terms are the glossary entries found in text, as the prompt gives them.
func (o *Options) terms(text string) []prompts.Term {
	if o.Glossary == nil {
		return nil
	}
	found := o.Glossary.Find(text)
	if len(found) == 0 {
		return nil
	}
	terms := make([]prompts.Term, len(found))
	for i, e := range found {
		terms[i] = prompts.Term{Arabic: e.Arabic, English: e.English}
	}
	return terms
}

// contextOf is the end of a part, given as context with the next one: its
// last paragraph, or the last contextRunes of it, starting after a
// sentence end (or at least a space) so that no word is cut.
func contextOf(text string) string {
	text = strings.TrimSpace(text)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = strings.TrimSpace(text[i+1:])
	}
	n := utf8.RuneCountInString(text)
	if n <= contextRunes {
		return text
	}
	// The byte offset where the last contextRunes runes start.
	start := len(text)
	for k := 0; k < contextRunes; k++ {
		_, size := utf8.DecodeLastRuneInString(text[:start])
		start -= size
	}
	tail := text[start:]
	// Start at the first sentence in the tail, or at its first whole word.
	if i := strings.IndexFunc(tail, isSentenceEnd); i >= 0 && i < len(tail)/2 {
		_, size := utf8.DecodeRuneInString(tail[i:])
		if rest := strings.TrimSpace(tail[i+size:]); rest != "" {
			return rest
		}
	}
	if i := strings.IndexFunc(tail, unicode.IsSpace); i >= 0 {
		return strings.TrimSpace(tail[i:])
	}
	return tail
}

func isSentenceEnd(r rune) bool {
	return r == '.' || r == '!' || r == '?' || r == '؟'
}

// Parts returns the translation inputs of an article exactly as a run
// sends them: cleaned, cut at maxChunkTokens (DefaultMaxChunkTokens when
// 0), each part with the entries of g (which may be nil) found in it.
func Parts(a Article, maxChunkTokens int, g *glossary.Glossary) []prompts.TranslateInput {
	o := Options{MaxChunkTokens: maxChunkTokens, Glossary: g}
	if o.MaxChunkTokens <= 0 {
		o.MaxChunkTokens = DefaultMaxChunkTokens
	}
	return prepare(a, &o).parts
}
