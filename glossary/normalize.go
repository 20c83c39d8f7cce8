package glossary

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// isWord reports whether r belongs to a word: a letter or a digit. Every
// other rune (spaces, punctuation, symbols) is a word boundary.
func isWord(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	case arabicLo <= r && r < arabicHi:
		return arabicWord[r-arabicLo]
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// The Arabic block, whose folds and word runes are tabled: Find spends
// most of its time on them.
const arabicLo, arabicHi = 0x0600, 0x0700

var (
	arabicFold [arabicHi - arabicLo]rune
	arabicWord [arabicHi - arabicLo]bool
)

func init() {
	for r := rune(arabicLo); r < arabicHi; r++ {
		arabicFold[r-arabicLo] = foldRune(r)
		arabicWord[r-arabicLo] = unicode.IsLetter(r) || unicode.IsDigit(r)
	}
}

// foldArabic maps one rune of Arabic text to its matching form: -1 drops
// it, ' ' stands for any space. See the package comment for the rules.
func foldArabic(r rune) rune {
	if arabicLo <= r && r < arabicHi {
		return arabicFold[r-arabicLo]
	}
	return foldRune(r)
}

// foldRune is foldArabic without the table.
func foldRune(r rune) rune {
	switch {
	case r < 0x80:
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f' {
			return ' '
		}
		return r
	case r == 'أ' || r == 'إ' || r == 'آ' || r == 'ٱ' || r == 'ٲ' || r == 'ٳ':
		return 'ا'
	case r == 'ى' || r == 'ی': // alef maqsura, Farsi yeh
		return 'ي'
	case r == 'ة':
		return 'ه'
	case r == 'ک': // keheh
		return 'ك'
	case r == 'گ': // gaf
		return 'ك'
	case r == 'ڨ': // Maghrebi qaf with three dots (g): الڨصرين
		return 'ق'
	case r == 'ڤ': // veh (v): ڤيديو
		return 'ف'
	case r == 'ـ': // tatweel
		return -1
	case '٠' <= r && r <= '٩':
		return '0' + r - '٠'
	case '۰' <= r && r <= '۹':
		return '0' + r - '۰'
	case unicode.Is(unicode.Mn, r): // harakat, superscript alef, Quranic marks
		return -1
	case unicode.Is(unicode.Cf, r): // ZWNJ, ZWJ, LRM, RLM, ALM, BOM
		return -1
	case unicode.IsSpace(r): // no-break space and the like
		return ' '
	}
	return unicode.ToLower(r)
}

// normArabic returns the matching form of Arabic text: the folds of
// foldArabic, every run of spaces made one space, no space at either end.
func normArabic(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		r = foldArabic(r)
		switch {
		case r < 0:
		case r == ' ':
			space = b.Len() > 0
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// matchKey returns the matching form of an entry's Arabic form: normArabic,
// then without leading and trailing non-word runes (quotes, brackets,
// dots), which are not part of the name.
func matchKey(arabic string) string {
	return strings.TrimFunc(normArabic(arabic), func(r rune) bool { return !isWord(r) })
}

// firstWord returns the leading run of word runes of s.
func firstWord(s string) string {
	for i, r := range s {
		if !isWord(r) {
			return s[:i]
		}
	}
	return s
}

// hasArabicLetter reports whether s holds a letter of the Arabic script.
func hasArabicLetter(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// hasArabicScript reports whether s holds any rune of the Arabic script
// (letters, marks, Arabic-Indic digits, presentation forms).
func hasArabicScript(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Arabic, r) {
			return true
		}
	}
	return false
}

// latinFold maps accented Latin letters (lower case) to plain ASCII.
var latinFold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a", 'ə': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ĉ': "c", 'ċ': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ĕ': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ğ': "g", 'ĝ': "g", 'ġ': "g", 'ģ': "g", 'ĥ': "h", 'ħ': "h",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ĩ': "i", 'ī': "i", 'ĭ': "i", 'į': "i", 'ı': "i",
	'ĵ': "j", 'ķ': "k", 'ĺ': "l", 'ļ': "l", 'ľ': "l", 'ŀ': "l", 'ł': "l",
	'ñ': "n", 'ń': "n", 'ņ': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ŏ': "o", 'ő': "o", 'œ': "oe",
	'ŕ': "r", 'ŗ': "r", 'ř': "r", 'ś': "s", 'ŝ': "s", 'ş': "s", 'š': "s", 'ș': "s", 'ß': "ss",
	'ţ': "t", 'ť': "t", 'ŧ': "t", 'ț': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ũ': "u", 'ū': "u", 'ŭ': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ŵ': "w", 'ý': "y", 'ÿ': "y", 'ŷ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// normEnglish returns the matching form of English text: lower case,
// accents folded (é → e, ß → ss), every run of non-word runes (spaces,
// punctuation, hyphens, apostrophes) made one space, and one space at each
// end, so that " form " is found in " text " only on word boundaries.
func normEnglish(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte(' ')
	space := true
	for _, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
		} else {
			if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) {
				continue // combining accents (decomposed text), invisible marks
			}
			r = unicode.ToLower(r)
			if f, ok := latinFold[r]; ok {
				b.WriteString(f)
				space = false
				continue
			}
		}
		if isWord(r) {
			b.WriteRune(r)
			space = false
		} else if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	if !space {
		b.WriteByte(' ')
	}
	return b.String()
}

// collapseSpace trims s and makes every run of white space in it one
// space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
