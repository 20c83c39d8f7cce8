package fakeopenai

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Request kinds, as reported in Recorded.Step and matched by Rule.Step.
const (
	StepTranslate = "translate"
	StepKeyPoints = "key_points"
)

// DefaultKeyPoints is the number of key points returned when a key-points
// request does not say "N key points".
const DefaultKeyPoints = 5

// maxKeyPoints bounds N in "N key points"; larger requests are unrecognised.
const maxKeyPoints = 1000

// h8 returns the first 8 hex digits of the SHA-256 of s.
func h8(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:4])
}

// TranslateTitle returns the fake English translation of an Arabic title:
// "" for "", else "Title <h8> in English", where h8 is the first 8 hex digits
// of the SHA-256 of ar.
func TranslateTitle(ar string) string {
	if ar == "" {
		return ""
	}
	return "Title " + h8(ar) + " in English"
}

// EnglishPerArabicRune is the length ratio of real translations: the runes
// of an English translation per rune of its Arabic source. TranslateBody pads
// every paragraph to at least this many runes per rune of its Arabic line,
// so that a client's check of the length ratio can be tested.
const EnglishPerArabicRune = 1.2

// filler is the sentence TranslateBody repeats to pad a paragraph to its
// length. It reads as English, has no Arabic and not the word "paragraph".
const filler = " The text of the article goes on here and continues."

// GlossaryEntry is one line "arabic = english" of a GLOSSARY fence.
type GlossaryEntry struct {
	Arabic, English string
}

// ParseGlossary parses the text of a GLOSSARY fence: one "arabic = english"
// entry a line, split at the first "=", both sides trimmed of white space.
// Lines without "=" or with an empty side are skipped. It returns nil when
// there is no entry.
func ParseGlossary(text string) []GlossaryEntry {
	var out []GlossaryEntry
	for line := range strings.SplitSeq(text, "\n") {
		ar, en, ok := strings.Cut(line, "=")
		ar, en = strings.TrimSpace(ar), strings.TrimSpace(en)
		if !ok || ar == "" || en == "" {
			continue
		}
		out = append(out, GlossaryEntry{Arabic: ar, English: en})
	}
	return out
}

// TranslateBody returns the fake English translation of an Arabic body:
// TranslateBodyGlossary(ar, nil).
func TranslateBody(ar string) string { return TranslateBodyGlossary(ar, nil) }

// TranslateBodyGlossary returns the fake English translation of an Arabic
// body, as an obedient model given glossary would make it. The body is split
// on "\n"; a line that is blank after strings.TrimSpace becomes "", and the
// k-th non-blank line (k counted from 1) becomes the paragraph
//
//	This is the English text of paragraph <k> (<h8 of the line>).
//
// followed, when the Arabic form of one or more glossary entries occurs in
// the line (strings.Contains), by " Names: <english1>, <english2>." in
// glossary order, then by the filler sentence
// " The text of the article goes on here and continues." as many times as it
// takes for the paragraph to have at least
// ceil(EnglishPerArabicRune × the runes of the line) runes (the line as it
// is, spaces and punctuation included). The filler never says "paragraph".
// The lines are joined with "\n", so the paragraph layout survives.
//
// k restarts at 1 for every request: a body translated in chunks numbers the
// paragraphs of each chunk from 1.
func TranslateBodyGlossary(ar string, glossary []GlossaryEntry) string {
	lines := strings.Split(ar, "\n")
	// Entries found in no line (the client matched a variant spelling or
	// a form with a prefix) go with the first paragraph: a model told to
	// use a name uses it.
	placed := make([]bool, len(glossary))
	for _, line := range lines {
		for j, g := range glossary {
			placed[j] = placed[j] || strings.Contains(line, g.Arabic)
		}
	}
	k := 0
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			lines[i] = ""
			continue
		}
		k++
		var b strings.Builder
		b.WriteString(firstSentence(k, line))
		var names []string
		for j, g := range glossary {
			if strings.Contains(line, g.Arabic) || (k == 1 && !placed[j]) {
				names = append(names, g.English)
			}
		}
		if len(names) > 0 {
			b.WriteString(" Names: " + strings.Join(names, ", ") + ".")
		}
		want := minEnglishRunes(utf8.RuneCountInString(line))
		fill := utf8.RuneCountInString(filler)
		for n := utf8.RuneCountInString(b.String()); n < want; n += fill {
			b.WriteString(filler)
		}
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// firstSentence is the sentence that opens the k-th paragraph, the
// translation of line.
func firstSentence(k int, line string) string {
	return "This is the English text of paragraph " + strconv.Itoa(k) + " (" + h8(line) + ")."
}

// minEnglishRunes returns ceil(EnglishPerArabicRune × n), rounding away the
// float error of the product (1.2 × 10 is 12, not 13).
func minEnglishRunes(n int) int {
	return int(math.Ceil(EnglishPerArabicRune*float64(n) - 1e-9))
}

// shortBody returns the reply body of a model that summarised instead of
// translating: the first sentence of the first paragraph of the translation
// of ar, or "" when ar has no non-blank line.
func shortBody(ar string) string {
	for line := range strings.SplitSeq(ar, "\n") {
		if strings.TrimSpace(line) != "" {
			return firstSentence(1, line)
		}
	}
	return ""
}

// TranslationReply returns the reply content of a translation request:
// TranslationReplyGlossary(title, body, nil).
func TranslationReply(title, body string) string {
	return TranslationReplyGlossary(title, body, nil)
}

// TranslationReplyGlossary returns the reply content of a translation
// request with a glossary: "TITLE: " + TranslateTitle(title) + "\nBODY:\n" +
// TranslateBodyGlossary(body, glossary).
func TranslationReplyGlossary(title, body string, glossary []GlossaryEntry) string {
	return "TITLE: " + TranslateTitle(title) + "\nBODY:\n" + TranslateBodyGlossary(body, glossary)
}

// KeyPoints returns the n fake key points of an article:
// "Key point <i> of the article <h8> is stated here." for i = 1..n, where h8
// is taken of titleEN + "\n" + translation.
func KeyPoints(titleEN, translation string, n int) []string {
	h := h8(titleEN + "\n" + translation)
	points := make([]string, 0, max(n, 0))
	for i := 1; i <= n; i++ {
		points = append(points, "Key point "+strconv.Itoa(i)+" of the article "+h+" is stated here.")
	}
	return points
}

// fence is one fenced block of article text.
type fence struct {
	Label string
	Text  string
}

// parseFences returns the well-formed fences of s in order, and s with the
// fenced blocks removed. A BEGIN line without its matching END line is left
// in place as plain text. Fenced text is not searched for further fences, so
// article text cannot smuggle in a fence of its own.
func parseFences(s string) (fences []fence, rest string) {
	const begin = "<<<BEGIN "
	var out strings.Builder
	for {
		i := strings.Index(s, begin)
		if i < 0 {
			out.WriteString(s)
			return fences, out.String()
		}
		label, nonce, after, ok := parseBeginLine(s[i+len(begin):])
		if !ok {
			out.WriteString(s[:i+len(begin)])
			s = s[i+len(begin):]
			continue
		}
		end := "<<<END " + label + " " + nonce + ">>>"
		j := strings.Index(after, end)
		if j < 0 {
			out.WriteString(s[:i+len(begin)])
			s = s[i+len(begin):]
			continue
		}
		text := after[:j]
		text = strings.TrimSuffix(text, "\n")
		text = strings.TrimSuffix(text, "\r")
		fences = append(fences, fence{Label: label, Text: text})
		out.WriteString(s[:i])
		s = after[j+len(end):]
	}
}

// parseBeginLine parses "LABEL NONCE>>>\n..." (the text after "<<<BEGIN ")
// and returns the label, the nonce and the text after the line break.
func parseBeginLine(s string) (label, nonce, after string, ok bool) {
	sp := strings.IndexByte(s, ' ')
	if sp <= 0 {
		return "", "", "", false
	}
	label = s[:sp]
	for _, c := range label {
		if c < 'A' || c > 'Z' {
			return "", "", "", false
		}
	}
	s = s[sp+1:]
	if len(s) < 16+3 {
		return "", "", "", false
	}
	nonce = s[:16]
	for _, c := range nonce {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", "", "", false
		}
	}
	s = s[16:]
	if !strings.HasPrefix(s, ">>>") {
		return "", "", "", false
	}
	s = s[3:]
	switch {
	case strings.HasPrefix(s, "\r\n"):
		s = s[2:]
	case strings.HasPrefix(s, "\n"):
		s = s[1:]
	default:
		return "", "", "", false
	}
	return label, nonce, s, true
}

var keyPointsRE = regexp.MustCompile(`(?i)\b(\d+)\s+key\s+points?\b`)

// parsed is what the server understood of a request's content.
type parsed struct {
	Step        string // StepTranslate, StepKeyPoints or "" (unrecognised)
	Title       string
	Body        string          // translation requests
	Glossary    []GlossaryEntry // translation requests with a GLOSSARY fence
	Translation string          // key-points requests: TRANSLATION, or NOTES
	N           int             // key-points requests
	// Injected is set when the text outside the fences asks to ignore
	// previous instructions (see injectionRE), for Options.Gullible.
	Injected bool
}

// injectionRE matches the instructions a gullible server obeys.
var injectionRE = regexp.MustCompile(`(?i)ignore\s+(all\s+)?previous\s+instructions|تجاهل\s+التعليمات`)

// parseContent classifies the concatenated message content of a request; see
// parseRequest.
func parseContent(content string) parsed {
	p, _ := parseRequest(content)
	return p
}

// parseRequest classifies the concatenated message content of a request and
// returns the text of the first fence of each label (nil when there is no
// fence). The first fence of each label counts. A request with TITLE and
// TRANSLATION fences is a key-points request even when it also has a BODY
// fence; so is one with TITLE and NOTES fences (a reduce step), TRANSLATION
// winning over NOTES. A request with TITLE and BODY fences and neither of
// those is a translation; its GLOSSARY fence, if any, is parsed, and its
// CONTEXT fence is ignored.
func parseRequest(content string) (parsed, map[string]string) {
	fences, rest := parseFences(content)
	var byLabel map[string]string
	for _, f := range fences {
		if byLabel == nil {
			byLabel = make(map[string]string)
		}
		if _, ok := byLabel[f.Label]; !ok {
			byLabel[f.Label] = f.Text
		}
	}
	title, hasTitle := byLabel["TITLE"]
	if !hasTitle {
		return parsed{}, byLabel
	}
	injected := injectionRE.MatchString(rest)
	src, ok := byLabel["TRANSLATION"]
	if !ok {
		src, ok = byLabel["NOTES"]
	}
	if ok {
		n := DefaultKeyPoints
		if m := keyPointsRE.FindStringSubmatch(rest); m != nil {
			v, err := strconv.Atoi(m[1])
			if err != nil || v > maxKeyPoints {
				return parsed{}, byLabel
			}
			n = v
		}
		return parsed{Step: StepKeyPoints, Title: title, Translation: src, N: n, Injected: injected}, byLabel
	}
	if body, ok := byLabel["BODY"]; ok {
		return parsed{
			Step:     StepTranslate,
			Title:    title,
			Body:     body,
			Glossary: ParseGlossary(byLabel["GLOSSARY"]),
			Injected: injected,
		}, byLabel
	}
	return parsed{}, byLabel
}
