package cleanup

import (
	"strings"

	"golang.org/x/net/html"
)

// looksLikeHTML reports whether s holds what may be an HTML tag ("<"
// followed by an ASCII letter, "/", "!" or "?", as the HTML tokenizer
// requires) or a character reference ("&#" or "&name;"). Text without
// either, such as "٣ < ٥" or "AT&T", is left to the other rules as it is.
func looksLikeHTML(s string) bool {
	for i := 0; i < len(s)-1; i++ {
		switch s[i] {
		case '<':
			c := s[i+1]
			if isASCIILetter(c) || c == '/' || c == '!' || c == '?' {
				return true
			}
		case '&':
			if s[i+1] == '#' {
				return true
			}
			j := i + 1
			for j < len(s) && (isASCIILetter(s[j]) || j > i+1 && '0' <= s[j] && s[j] <= '9') {
				j++
			}
			if j > i+1 && j < len(s) && s[j] == ';' {
				return true
			}
		}
	}
	return false
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// blockTags become a paragraph break ("\n\n"); br becomes a line break.
var blockTags = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true,
	"caption": true, "center": true, "dd": true, "details": true,
	"dialog": true, "div": true, "dl": true, "dt": true, "fieldset": true,
	"figcaption": true, "figure": true, "footer": true, "form": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"header": true, "hr": true, "legend": true, "li": true, "main": true,
	"nav": true, "ol": true, "p": true, "pre": true, "section": true,
	"summary": true, "table": true, "tbody": true, "tfoot": true,
	"thead": true, "tr": true, "ul": true,
}

// htmlElements are the names of HTML elements, the only tags removed.
var htmlElements = func() map[string]bool {
	m := map[string]bool{}
	for _, name := range strings.Fields(`a abbr address area article aside audio b base bdi bdo big
		blockquote body br button canvas caption center cite code col colgroup data datalist dd del
		details dfn dialog div dl dt em embed fieldset figcaption figure font footer form frame frameset
		h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins kbd label legend li link
		main map mark marquee menu meta meter nav nobr noembed noframes noscript object ol optgroup
		option output p param picture pre progress q rp rt ruby s samp script section select small
		source span strike strong style sub summary sup svg table tbody td template textarea tfoot th
		thead time title tr track tt u ul var video wbr`) {
		m[name] = true
	}
	return m
}()

// cellTags become a space, so that table cells do not run together.
var cellTags = map[string]bool{"td": true, "th": true}

// droppedTags have contents that are not article text.
var droppedTags = map[string]bool{
	"script": true, "style": true, "noscript": true, "template": true,
	"iframe": true, "noembed": true, "noframes": true,
}

// stripHTML is the "html" rule. Text outside tags is kept as it is,
// newlines included: scrapers mostly deliver plain text with a few tags or
// entities left in it, whose newlines are the paragraph breaks.
//
// Decoding can reveal more markup ("&lt;b&gt;" becomes "<b>"), so the rule
// runs until its output no longer changes or no longer looks like HTML;
// that keeps it idempotent. Markup escaped more than maxHTMLPasses times
// over is not news text: past that depth, every "<" and "&" left is
// dropped, so that the rule ends in linear time.
func stripHTML(s string) string {
	for range maxHTMLPasses {
		if !looksLikeHTML(s) {
			return s
		}
		out := htmlToText(s)
		if out == s {
			return s
		}
		s = out
	}
	if !looksLikeHTML(s) || htmlToText(s) == s {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '<' || r == '&' {
			return -1
		}
		return r
	}, s)
}

// maxHTMLPasses bounds the tokenizer passes of stripHTML ("&amp;amp;lt;"
// takes three).
const maxHTMLPasses = 8

// htmlToText runs the tokenizer over s once.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s))
	skip := "" // the dropped element we are inside, if any
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			// io.EOF. What looked like the start of a tag at the end of
			// the input ("x<y") is text: HTML would drop it.
			if skip == "" {
				b.Write(z.Raw())
			}
			return b.String()
		case html.TextToken:
			if skip == "" {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			raw := z.Raw()
			name, _ := z.TagName()
			tag := string(name)
			switch {
			case skip == "" && !htmlElements[tag]:
				// Not an HTML element ("<<<END BODY ...>>>", "<y and
				// z>"): text that only looks like a tag is kept.
				b.Write(raw)
			case skip != "":
				if tt == html.EndTagToken && tag == skip {
					skip = ""
				}
			case droppedTags[tag]:
				// "<script/>" opens a script too: the tokenizer reads
				// raw text after it up to "</script>".
				if tt != html.EndTagToken {
					skip = tag
				}
			case tag == "br":
				b.WriteByte('\n')
			case blockTags[tag]:
				b.WriteString("\n\n")
			case cellTags[tag]:
				b.WriteByte(' ')
			}
		}
		// Comments and doctypes vanish.
	}
}
