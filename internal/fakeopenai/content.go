package fakeopenai

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
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

// TranslateBody returns the fake English translation of an Arabic body. The
// body is split on "\n"; a line that is blank after strings.TrimSpace becomes
// "", and the k-th non-blank line (k counted from 1) becomes
// "This is the English text of paragraph <k> (<h8 of the line>).". The lines
// are joined with "\n", so the paragraph layout survives.
//
// k restarts at 1 for every request: a body translated in chunks numbers the
// paragraphs of each chunk from 1.
func TranslateBody(ar string) string {
	lines := strings.Split(ar, "\n")
	k := 0
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			lines[i] = ""
			continue
		}
		k++
		lines[i] = "This is the English text of paragraph " + strconv.Itoa(k) + " (" + h8(line) + ")."
	}
	return strings.Join(lines, "\n")
}

// TranslationReply returns the reply content of a translation request:
// "TITLE: " + TranslateTitle(title) + "\nBODY:\n" + TranslateBody(body).
func TranslationReply(title, body string) string {
	return "TITLE: " + TranslateTitle(title) + "\nBODY:\n" + TranslateBody(body)
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
	Body        string // translation requests
	Translation string // key-points requests
	N           int    // key-points requests
}

// parseContent classifies the concatenated message content of a request.
// The first fence of each label counts. A request with a TRANSLATION fence is
// a key-points request even when it also has a BODY fence.
func parseContent(content string) parsed {
	fences, rest := parseFences(content)
	byLabel := make(map[string]string)
	for _, f := range fences {
		if _, ok := byLabel[f.Label]; !ok {
			byLabel[f.Label] = f.Text
		}
	}
	title, hasTitle := byLabel["TITLE"]
	if !hasTitle {
		return parsed{}
	}
	if tr, ok := byLabel["TRANSLATION"]; ok {
		n := DefaultKeyPoints
		if m := keyPointsRE.FindStringSubmatch(rest); m != nil {
			v, err := strconv.Atoi(m[1])
			if err != nil || v > maxKeyPoints {
				return parsed{}
			}
			n = v
		}
		return parsed{Step: StepKeyPoints, Title: title, Translation: tr, N: n}
	}
	if body, ok := byLabel["BODY"]; ok {
		return parsed{Step: StepTranslate, Title: title, Body: body}
	}
	return parsed{}
}
