package jobs

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Script shares below are measured over letters only: digits, punctuation
// and spaces say nothing about the language of a text.

// hasArabic reports whether s contains any letter of the Arabic script.
func hasArabic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// minLatinShare is the share of Latin letters, among all letters, below
// which a reply is not taken for English. Transliterated names and quoted
// Arabic terms are Latin or rare; a reply that is still a third Arabic is not
// a translation.
const minLatinShare = 0.7

// englishWords are common English function words; a long Latin-script reply
// with none of them is some other language (French, say). Words that are
// also French ("a", "on") are left out.
var englishWords = map[string]bool{
	"the": true, "of": true, "and": true, "to": true, "in": true,
	"is": true, "was": true, "for": true, "that": true, "with": true,
	"he": true, "it": true, "by": true, "as": true, "at": true, "are": true,
	"said": true, "from": true, "has": true, "have": true, "will": true,
}

// minWordsForStopwords is the length from which a reply must contain at
// least one English function word.
const minWordsForStopwords = 8

// looksEnglish reports whether s reads as English text: mostly Latin letters
// and, when it is long enough to tell, some English function words. An
// empty or letterless s is not English. It makes one pass over s and
// allocates nothing: it runs on every reply.
func looksEnglish(s string) bool {
	var letters, latin, words int
	var word [8]byte // the current word, lower-cased, while it is short ASCII
	n, ascii := 0, true
	found := false
	endWord := func() {
		if n > 0 {
			words++
			if !found && ascii && n <= len(word) && englishWords[string(word[:n])] {
				found = true
			}
		}
		n, ascii = 0, true
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			endWord()
			continue
		}
		letters++
		if unicode.Is(unicode.Latin, r) {
			latin++
		}
		if r < utf8.RuneSelf && n < len(word) {
			word[n] = byte(unicode.ToLower(r))
		} else {
			ascii = false
		}
		n++
	}
	endWord()
	if letters == 0 || float64(latin)/float64(letters) < minLatinShare {
		return false
	}
	return words < minWordsForStopwords || found
}

// refusalOpeners are how chat models begin a reply that declines the task
// ("I'm sorry, but I can't help with that."). News of wars and attacks
// sets them off.
var refusalOpeners = []string{
	"i'm sorry", "i am sorry", "sorry, ", "sorry but", "i apologize", "i apologise",
	"i can't", "i cannot", "i can not", "i'm unable", "i am unable",
	"i'm not able", "i am not able", "i won't", "i will not", "i must decline",
	"as an ai", "unfortunately, i", "i'm afraid i", "i am afraid i",
}

// maxRefusalRunes bounds a refusal: a longer reply is taken for content.
const maxRefusalRunes = 600

// isRefusal reports whether a reply, or the body of one, is a model
// declining the task rather than doing it: short, and opening as refusals
// do. Callers ask only of replies that are not in the asked form or far
// too short, so a translation that quotes "I cannot accept this" is safe.
func isRefusal(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > maxRefusalRunes {
		return false
	}
	s = strings.ToLower(strings.ReplaceAll(s, "’", "'"))
	s = strings.TrimLeft(s, "*_\"' ")
	for _, o := range refusalOpeners {
		if strings.HasPrefix(s, o) {
			return true
		}
	}
	return false
}
