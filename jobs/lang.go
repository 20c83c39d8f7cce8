package jobs

import (
	"strings"
	"unicode"
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
// with none of them is some other language (French, say).
var englishWords = map[string]bool{
	"the": true, "of": true, "and": true, "to": true, "in": true, "a": true,
	"is": true, "was": true, "for": true, "on": true, "that": true, "with": true,
	"he": true, "it": true, "by": true, "as": true, "at": true, "are": true,
	"said": true, "from": true, "has": true, "have": true, "will": true,
}

// minWordsForStopwords is the length from which a reply must contain at
// least one English function word.
const minWordsForStopwords = 8

// looksEnglish reports whether s reads as English text: mostly Latin letters
// and, when it is long enough to tell, some English function words. An
// empty or letterless s is not English.
func looksEnglish(s string) bool {
	var letters, latin int
	for _, r := range s {
		if !unicode.IsLetter(r) {
			continue
		}
		letters++
		if unicode.Is(unicode.Latin, r) {
			latin++
		}
	}
	if letters == 0 || float64(latin)/float64(letters) < minLatinShare {
		return false
	}
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) })
	if len(words) < minWordsForStopwords {
		return true
	}
	for _, w := range words {
		if englishWords[w] {
			return true
		}
	}
	return false
}
