package cleanup

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// nfc is the "nfc" rule: Unicode NFC normalisation. For Arabic it composes
// a letter written as a base plus a combining hamza or madda (ا + U+0654 →
// أ), as some keyboards and PDF extractions deliver it, and puts stacked
// harakat into canonical order, so that the same word is always the same
// string. Harakat are kept.
//
// NFC lengthens a few characters (composition exclusions such as U+0958
// DEVANAGARI QA, Hebrew presentation forms, or a CGJ inserted after 30
// combining marks). Such a segment is left as it was, so that clean-up
// never returns more runes than it was given.
func nfc(s string) string {
	if nfcSafe(s) || norm.NFC.IsNormalString(s) {
		return s
	}
	if out := norm.NFC.String(s); utf8.RuneCountInString(out) <= utf8.RuneCountInString(s) && norm.NFC.IsNormalString(out) {
		return out
	}
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		n := norm.NFC.NextBoundaryInString(s, true)
		if n <= 0 {
			n = len(s)
		}
		seg := s[:n]
		s = s[n:]
		if out := norm.NFC.String(seg); utf8.RuneCountInString(out) <= utf8.RuneCountInString(seg) {
			seg = out
		}
		b.WriteString(seg)
	}
	return b.String()
}

// controls is the "control" rule. C0 and C1 control characters and DEL are
// removed, except: "\r\n" and a lone "\r" become "\n"; a tab becomes a
// space; vertical tab, form feed, NEL (U+0085), LINE SEPARATOR and
// PARAGRAPH SEPARATOR become "\n", since removing a line break would join
// two words. Bytes that are not UTF-8 become U+FFFD, one per run.
func controls(s string) string {
	if !needsControls(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch {
		case r == '\n':
			b.WriteByte('\n')
		case r == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue // the '\n' is written next
			}
			b.WriteByte('\n')
		case r == '\t':
			b.WriteByte(' ')
		case r == '\v', r == '\f', r == 0x85, r == 0x2028, r == 0x2029:
			b.WriteByte('\n')
		case r < 0x20, 0x7f <= r && r <= 0x9f:
			// removed
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func needsControls(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\n' || 0x7f <= r && r <= 0x9f || r == 0x2028 || r == 0x2029 || r == utf8.RuneError {
			// RuneError may be a real U+FFFD; ToValidUTF8 keeps those.
			return true
		}
	}
	return false
}

// isInvisible reports the characters the "invisible" rule removes: zero
// width space, non-joiner and joiner, LRM and RLM (U+200B–U+200F), the
// bidi embeddings and overrides (U+202A–U+202E), word joiner and invisible
// operators (U+2060–U+2064), the bidi isolates (U+2066–U+2069), the BOM or
// zero width no-break space (U+FEFF), the soft hyphen (U+00AD) and the
// Arabic letter mark (U+061C).
func isInvisible(r rune) bool {
	switch {
	case 0x200b <= r && r <= 0x200f,
		0x202a <= r && r <= 0x202e,
		0x2060 <= r && r <= 0x2064,
		0x2066 <= r && r <= 0x2069,
		r == 0xfeff, r == 0xad, r == 0x61c:
		return true
	}
	return false
}

// invisibles is the "invisible" rule.
func invisibles(s string) string {
	if strings.IndexFunc(s, isInvisible) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, s)
}

const tatweelRune = '\u0640'

// isArabicLetter reports an Arabic letter other than tatweel.
func isArabicLetter(r rune) bool {
	return r != tatweelRune && unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r)
}

// tatweel is the "tatweel" rule. A tatweel (kashida) only stretches the
// joint between two letters of a word, so one whose nearest neighbours
// (skipping other tatweels and combining marks) are Arabic letters on both
// sides is removed: "كـــبير" → "كبير". A tatweel that attaches a proclitic
// to a number, a quotation or a Latin word ("الـ 72", "بـ1.2",
// "لـ\"الجوهرة\"") is the usual way to write it and is kept; every tatweel
// in the fixtures is of that kind.
func tatweel(s string) string {
	if !strings.ContainsRune(s, tatweelRune) {
		return s
	}
	rs := []rune(s)
	out := rs[:0:0]
	for i, r := range rs {
		if r == tatweelRune && isArabicLetter(neighbour(rs, i, -1)) && isArabicLetter(neighbour(rs, i, +1)) {
			continue
		}
		out = append(out, r)
	}
	if len(out) == len(rs) {
		return s
	}
	return string(out)
}

// neighbour returns the first rune from rs[i] in direction dir that is
// neither a tatweel nor a combining mark, or 0.
func neighbour(rs []rune, i, dir int) rune {
	for i += dir; 0 <= i && i < len(rs); i += dir {
		if r := rs[i]; r != tatweelRune && !unicode.Is(unicode.Mn, r) {
			return r
		}
	}
	return 0
}

// isSpace reports the characters the "spaces" rule turns into ' ': every
// Unicode space separator (category Zs: U+0020, NO-BREAK SPACE U+00A0,
// U+1680, U+2000–U+200A, NARROW NO-BREAK SPACE U+202F, U+205F, IDEOGRAPHIC
// SPACE U+3000).
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' '
	}
	return unicode.Is(unicode.Zs, r)
}

// spaces is the "spaces" rule. Every Unicode space becomes ' ' and runs of
// them collapse to one; each line is trimmed; lines that are then empty go.
// Two non-empty lines stay separated as the source separated them: by
// "\n" when there was a single line break between them, by "\n\n" (one
// blank line) when there were more. No line break is left at either end.
func spaces(s string) string {
	if spacesDone(s) {
		return s
	}
	return collapseSpaces(s)
}

// collapseSpaces is spaces without its fast path.
func collapseSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	breaks := 0 // line breaks since the last non-empty line
	started := false
	for line := range strings.Lines(s) {
		hasNL := strings.HasSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\n")
		if n := spaceTrimmedLen(line); n > 0 {
			if started {
				if breaks >= 2 {
					b.WriteString("\n\n")
				} else {
					b.WriteByte('\n')
				}
			}
			started = true
			breaks = 0
			writeCollapsed(&b, line)
		}
		if hasNL {
			breaks++
		}
	}
	if b.Len() == len(s) && b.String() == s {
		return s
	}
	return b.String()
}

// spaceTrimmedLen returns the length of line without its spaces.
func spaceTrimmedLen(line string) int {
	return len(strings.TrimFunc(line, isSpace))
}

// writeCollapsed writes line trimmed, with each run of spaces as one ' '.
func writeCollapsed(b *strings.Builder, line string) {
	line = strings.TrimFunc(line, isSpace)
	for line != "" {
		i := strings.IndexFunc(line, isSpace)
		if i < 0 {
			b.WriteString(line)
			return
		}
		b.WriteString(line[:i])
		b.WriteByte(' ')
		line = strings.TrimLeftFunc(line[i:], isSpace)
	}
}

// nfcSafe reports, faster than norm.NFC.IsNormalString, that s is NFC
// because every rune is one that NFC leaves as it is where it stands:
// below U+0300 (ASCII, Latin-1, Latin Extended, no combining mark); an
// Arabic letter, digit or sign that is not a combining mark
// (U+0600–U+060F, U+061B–U+064A, U+0660–U+066F, U+0671–U+06D5: not the
// Quranic signs U+0610–U+061A, which are marks); or one haraka
// (U+064B–U+0652, which compose with nothing) after such a rune, since a
// lone mark needs no reordering. Anything else (two marks in a row, hamza
// or madda as marks, Latin accents as combining marks) is left to norm.
func nfcSafe(s string) bool {
	afterMark := true // a mark at the start has nothing to follow
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			afterMark = false
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r < 0x300 && r != utf8.RuneError,
			0x600 <= r && r < 0x610, 0x61B <= r && r < 0x64B, 0x660 <= r && r < 0x670, 0x671 <= r && r < 0x6D6:
			afterMark = false
		case 0x64B <= r && r <= 0x652 && !afterMark:
			afterMark = true
		default:
			return false
		}
	}
	return true
}

// spacesDone reports, without allocating, that spaces(s) would return s:
// no space other than ' ', no run of spaces, no space at either end of a
// line, no run of more than one blank line, no line break at either end.
func spacesDone(s string) bool {
	if s == "" {
		return true
	}
	prev, breaks := '\n', 0
	for i, r := range s {
		switch {
		case r == '\n':
			if i == 0 || prev == ' ' {
				return false
			}
			if breaks++; breaks > 2 {
				return false
			}
		case r == ' ':
			if prev == ' ' || prev == '\n' {
				return false
			}
			breaks = 0
		case isSpace(r):
			return false
		default:
			breaks = 0
		}
		prev = r
	}
	return prev != ' ' && prev != '\n'
}
