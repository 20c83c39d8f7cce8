// Package glossary reads the --glossary file, a CSV of Arabic names and
// terms with the English forms the model must use, finds the entries that
// occur in an article, and checks that a translation uses them.
//
// # File format
//
// A glossary is a UTF-8 CSV file (RFC 4180 quoting; CRLF or LF line ends;
// a leading byte-order mark is ignored) whose first row is a header. The
// header must have a column named "arabic" and one named "english",
// matched ignoring case and surrounding spaces, in any order; other
// columns (notes, sources) are ignored. Every row must have as many fields
// as the header; blank lines are skipped.
//
//	arabic,english,note
//	إلهام علييف,Ilham Aliyev,president of Azerbaijan
//	علييف,Aliyev|Aliev,
//	هآرتس,Haaretz,Israeli newspaper
//
// The arabic field is the form as it appears in articles; it must hold an
// Arabic letter. The english field is the form the model is to use, and
// may list other accepted forms after it, separated by "|": only the first
// is given to the model, all of them are accepted by Missing. An English
// form must not contain Arabic script. White space around fields and
// forms is dropped, and runs of white space inside them are made one
// space. Two rows whose Arabic forms are the same for matching (see below:
// "أحمد" and "احمد" are) must have the same english field; such a repeat
// is dropped. A file with only the header is a valid, empty glossary.
//
// Every problem is reported as an *Error (internal/csvin's, as for the
// articles) naming the file, the physical line (as an editor counts, the
// header being line 1) and the column where there is one: a
// missing or repeated column, an empty field or form, an arabic field
// without Arabic letters, an english field with Arabic script, one Arabic
// form with two English forms (both lines are named), invalid UTF-8,
// broken quoting, a row with the wrong number of fields.
//
// # Matching
//
// Find looks for each entry's Arabic form in an article. Both are first
// normalised (for matching only; Entry keeps the form as written):
//
//   - combining marks are removed: the harakat (U+064B–U+065F), the
//     superscript alef (U+0670) and Quranic marks; so are the tatweel
//     (U+0640) and invisible format characters (ZWNJ, RLM, …);
//   - the alef forms أ إ آ ٱ become ا; ى (and Farsi ی) becomes ي; ة
//     becomes ه; ک and گ become ك; the Maghrebi ڨ becomes ق and ڤ becomes
//     ف (الڨصرين = القصرين);
//   - Arabic-Indic digits become ASCII digits, Latin letters lower case;
//   - every run of white space (spaces, tabs, line breaks, no-break
//     spaces) becomes one space.
//
// Words are runs of letters and digits; anything else (spaces,
// punctuation, quotes) separates words. An entry matches where its
// normalised form starts at the start of a word and ends at the end of a
// word: "عمان" does not match "عماني" or "سلطنةعمان". A word may
// carry, before the entry, one clitic prefix made of an optional
// conjunction (و, ف), an optional preposition (ب, ك, ل) and an optional
// article (ال, written لل after ل), in that order: و ف ب ك ل ال وب وك ول
// فب فك فل وال فال بال كال لل وبال وكال ولل فبال فكال فلل. So "تونس"
// matches "وتونس" and "بتونس", and "القاهرة" matches "والقاهرة",
// "بالقاهرة" and "للقاهرة". At least two letters must remain after the
// prefix. No suffix is allowed: "تونس" does not match "تونسي" (add a row
// for each form that should match). An entry of several words matches
// across any run of white space, line breaks included; only its first
// word may carry a prefix. Quotes and other punctuation at either end of
// an entry are ignored. Find reports every entry that occurs, overlapping
// ones too: "حسن روحاني" in an article finds both the entry "حسن روحاني"
// and the entry "روحاني".
//
// Stripping prefixes can match a word that merely starts with those
// letters: an entry "بنان" matches "لبنان". Keep entries that are
// themselves short common words out of the glossary.
//
// Find is indexed by the first word of each entry: it costs about one map
// lookup per word of the article (a few more for words that start with a
// prefix letter), whatever the size of the glossary.
//
// # Checking a translation
//
// Missing reports the found entries none of whose English forms occur in
// a translation. English forms are compared ignoring case and accents (é
// = e, ß = ss), on word boundaries, with every run of punctuation,
// hyphens, apostrophes and spaces counted as one separator: "al-Nusra
// Front" is found in "Al Nusra front", "Aliyev" in "Aliyev's", but "Iran"
// is not found in "Iranian" (list it as an alternative to accept it).
package glossary
