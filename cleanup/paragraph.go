package cleanup

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// para is one line of a text that the "spaces" rule has settled: non-empty,
// trimmed, and preceded by sep line breaks (0 for the first, else 1 or 2).
type para struct {
	text string
	sep  int
}

func splitParas(s string) []para {
	if s == "" {
		return nil
	}
	var ps []para
	sep := 0
	for line := range strings.SplitSeq(s, "\n") {
		if line == "" {
			sep++
			continue
		}
		if len(ps) > 0 {
			sep++
		}
		ps = append(ps, para{line, min(sep, 2)})
		sep = 0
	}
	return ps
}

func joinParas(ps []para) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("\n\n"[:max(1, min(p.sep, 2))])
		}
		b.WriteString(p.text)
	}
	return b.String()
}

// minDuplicateRunes is the length from which a repeated paragraph counts
// as a scraper's repeat and not as a short line an article may well repeat
// ("قال:", a dateline, a list label).
const minDuplicateRunes = 40

// duplicateParagraphs is the "duplicate_paragraph" rule. A paragraph
// (line) whose key (the line without final punctuation and spaces) is at
// least minDuplicateRunes runes long and equals the key of an earlier
// paragraph is dropped: scrapers repeat the lead paragraph after a photo
// caption. The later copy goes, and the break around it becomes the wider
// of the two breaks it stood between.
//
// List items (lines starting with "-", "*", "•" or "1-", "2." …) are
// kept: two specification lists may share items, as the Galaxy S8 and S8+
// lists of fixture JA-technology-61-20170329 share seven, and dropping them
// would tell the model the second phone lacks those features.
func duplicateParagraphs(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	ps := splitParas(s)
	seen := make(map[string]bool, len(ps))
	out := ps[:0:0]
	pending := 0 // widest break of the paragraphs dropped since the last kept one
	for _, p := range ps {
		key := duplicateKey(p.text)
		if utf8.RuneCountInString(key) >= minDuplicateRunes && !isListItem(p.text) {
			if seen[key] {
				pending = max(pending, p.sep)
				continue
			}
			seen[key] = true
		}
		p.sep = max(p.sep, pending)
		pending = 0
		out = append(out, p)
	}
	if len(out) == len(ps) {
		return s
	}
	return joinParas(out)
}

// duplicateKey is line without the final punctuation (. ، ؛ ! ؟ ? …) and
// spaces that a copy may have gained or lost.
func duplicateKey(line string) string {
	return strings.TrimRightFunc(line, func(r rune) bool {
		switch r {
		case '.', '،', '؛', '!', '؟', '?', ',', ';', ':', '…', ' ':
			return true
		}
		return false
	})
}

// isListItem reports a line that starts with a bullet or a number followed
// by "-", "." or ")".
func isListItem(line string) bool {
	r, size := utf8.DecodeRuneInString(line)
	switch r {
	case '-', '–', '—', '*', '•', '·', '▪', '●', '○', '■', '◦':
		return true
	}
	if !unicode.IsDigit(r) {
		return false
	}
	rest := strings.TrimLeftFunc(line[size:], unicode.IsDigit)
	rest = strings.TrimLeft(rest, " ")
	return strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, ")")
}

// Boilerplate patterns, matched against a whole line after furnitureKey.
var (
	// "التعليقات", "تعليقات 3", "0 تعليق", "أضف تعليقا", "لا توجد تعليقات".
	commentsLine = regexp.MustCompile(`^(\p{Nd}+ )?(ال)?تعليق(ات|ان)?( \p{Nd}+)?$|^(اضف|اكتب|اترك) (تعليق|تعليقا|تعليقك)$|^لا (توجد|يوجد) تعليقات$`)
	// "شارك", "شارك المقال", "شارك هذا الخبر", "شارك على فيسبوك", "مشاركة", "انشر".
	shareLine = regexp.MustCompile(`^(شارك|شاركوا|مشاركة|انشر)( (هذا|هذه))?( (المقال|الخبر|الموضوع|المقالة|الصفحة|الفيديو))?( (على|عبر|في))?( (فيسبوك|فيس بوك|تويتر|واتساب|واتس اب|الواتساب|تيليجرام|تلغرام|لينكدان|جوجل|البريد|البريد الالكتروني)( و| او)?)*$`)
	// "طباعة", "أرسل لصديق", "إرسال لصديق".
	printSendLine = regexp.MustCompile(`^(طباعة|اطبع|طباعة الخبر|طباعة المقال)$|^(ارسل|ارسال|ارسل الخبر|ارسل المقال) (لصديق|الى صديق)$`)
	// "تابعونا على ..." (short: a prompt, not a sentence).
	followLine = regexp.MustCompile(`^تابعونا( (على|عبر|في))?( \S+){0,5}$`)
	// "اقرأ أيضا", "اقرأ أيضاً", "إقرأ ايضا" (only as the last line).
	readAlsoLine = regexp.MustCompile(`^(اقرا|اقرءوا|اقراوا) (ايضا|كذلك)$`)
	// A bare URL.
	urlLine = regexp.MustCompile(`^(https?://|www\.)\S+$`)
)

// isFurniture reports whether line, the last line of a body, is site
// furniture.
func isFurniture(line string) bool {
	if urlLine.MatchString(strings.Trim(line, " <>()[]\"'«»")) {
		return true
	}
	k := furnitureKey(line)
	if k == "" {
		return false
	}
	return commentsLine.MatchString(k) || shareLine.MatchString(k) ||
		printSendLine.MatchString(k) || followLine.MatchString(k) ||
		readAlsoLine.MatchString(k)
}

// furnitureKey turns punctuation and symbols into spaces (so that
// "التعليقات (3)" reads "التعليقات 3" and ": شارك :" reads "شارك"),
// removes harakat and tatweel, writes أ إ آ as ا, and collapses spaces.
func furnitureKey(line string) string {
	if utf8.RuneCountInString(line) > 80 {
		return "" // a sentence, not furniture
	}
	var b strings.Builder
	space := false
	for _, r := range line {
		switch {
		case r == 'أ' || r == 'إ' || r == 'آ':
			r = 'ا'
		case r == tatweelRune || unicode.Is(unicode.Mn, r):
			continue
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ':
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// boilerplate is the "boilerplate" rule: while the last line of the body
// is site furniture (isFurniture), it is removed with the break before it.
// Lines in the middle of a body are never touched, and a sentence that
// merely contains "التعليقات" is not furniture.
func boilerplate(s string) string {
	ps := splitParas(s)
	n := len(ps)
	for n > 0 && isFurniture(ps[n-1].text) {
		n--
	}
	if n == len(ps) {
		return s
	}
	return joinParas(ps[:n])
}
