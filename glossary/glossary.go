package glossary

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"
	"unicode/utf8"
)

// Entry is one row of a glossary.
type Entry struct {
	// Arabic is the Arabic form as written in the file (trimmed, runs of
	// white space made one space). It is matched in its normalised form.
	Arabic string
	// English is the form the model is asked to use: the first of the
	// english field's "|"-separated forms.
	English string
	// Alternatives are the other forms of the english field, also accepted
	// by Missing; nil when there are none. Callers must not modify it.
	Alternatives []string
	// Line is the physical line of the entry's arabic field, counting the
	// header as line 1.
	Line int
}

// Forms returns English followed by the Alternatives.
func (e Entry) Forms() []string {
	return append([]string{e.English}, e.Alternatives...)
}

// Glossary is a read glossary, safe for concurrent use by Find, Len,
// Entries and Hash. The zero value and nil are empty glossaries.
type Glossary struct {
	entries []Entry  // in file order
	keys    []string // matchKey of each entry
	// index maps the first word of a key to its entries, the longest key
	// first (then in file order), so that Find lists "حسن روحاني" before
	// "حسن" when both start at the same word.
	index map[string][]int32
}

// Len returns the number of entries.
func (g *Glossary) Len() int {
	if g == nil {
		return 0
	}
	return len(g.entries)
}

// Entries returns a copy of the entries in file order.
func (g *Glossary) Entries() []Entry {
	if g == nil {
		return nil
	}
	return slices.Clone(g.entries)
}

// hashVersion starts the hashed text. Change it when the meaning of a
// glossary changes (the matching rules, the fields of Entry), so that
// cached results made under the old rules are not reused.
const hashVersion = "tarjama glossary v1\n"

// Hash returns a short stable hash of the entries: 16 hex digits (the
// first 64 bits of a SHA-256). It depends on each entry's Arabic form, its
// English form and its alternatives (in their order), and on nothing else:
// not on the order of the rows, their line numbers, the order of the
// columns or the presence of other columns, quoting, CRLF, a BOM, or white
// space around fields; rows that repeat an entry do not change it either. Two glossaries with the same hash give the same
// prompts and the same Missing results. A nil glossary hashes to "", an
// empty one to a fixed non-empty value.
func (g *Glossary) Hash() string {
	if g == nil {
		return ""
	}
	sorted := slices.Clone(g.entries)
	slices.SortFunc(sorted, func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.Arabic, b.Arabic), strings.Compare(a.English, b.English))
	})
	h := sha256.New()
	h.Write([]byte(hashVersion))
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	for _, e := range sorted {
		field(e.Arabic)
		field(e.English)
		binary.BigEndian.PutUint64(n[:], uint64(len(e.Alternatives)))
		h.Write(n[:])
		for _, a := range e.Alternatives {
			field(a)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// prefix is a clitic prefix that may be attached to a word.
type prefix struct {
	text string
	// article is true when the prefix holds the article ال with its alef
	// dropped (لل = ل + ال): the word after it can then also be an entry
	// that starts with ال.
	article bool
}

// prefixes are the clitic prefixes Find strips from a word: an optional
// conjunction (و, ف), then an optional preposition (ب, ك, ل), then an
// optional article (ال; after ل it is written لل). Shortest first, so that
// of the entries found in one word the longer ones come first.
var prefixes = buildPrefixes()

// prefixesBy holds the prefixes by their first letter.
var prefixesBy = func() map[rune][]prefix {
	m := map[rune][]prefix{}
	for _, p := range prefixes {
		r, _ := utf8.DecodeRuneInString(p.text)
		m[r] = append(m[r], p)
	}
	return m
}()

func buildPrefixes() []prefix {
	var out []prefix
	for _, conj := range []string{"", "و", "ف"} {
		for _, prep := range []string{"", "ب", "ك", "ل"} {
			for _, art := range []bool{false, true} {
				p := prefix{text: conj + prep}
				if art {
					if prep == "ل" {
						p = prefix{text: conj + "لل", article: true}
					} else {
						p.text += "ال"
					}
				}
				if p.text != "" {
					out = append(out, p)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b prefix) int { return len(a.text) - len(b.text) })
	return out
}

// minStem is the fewest runes a word must keep after a prefix is
// stripped from it.
const minStem = 2

// Find returns the entries whose Arabic form occurs in text, in the order
// of their first occurrence (entries that start at the same word: longest
// first), each once. Overlapping entries are all found: "حسن روحاني" in
// the text finds both an entry "حسن روحاني" and an entry "روحاني". See the
// package comment for the matching rules.
//
// Find costs one map lookup per word of text, plus one per clitic prefix
// the word may carry (most words: none or one), whatever the size of the
// glossary.
func (g *Glossary) Find(text string) []Entry {
	if g.Len() == 0 {
		return nil
	}
	norm := normArabic(text)
	var (
		found   []int32
		scratch []byte
	)
	add := func(i int32) {
		if !slices.Contains(found, i) {
			found = append(found, i)
		}
	}
	// try looks up the entries whose key is virt + norm[at:] up to a word
	// boundary, where word = virt + norm[at:end] is the word to look up.
	try := func(virt string, at, end int) {
		var ids []int32
		if virt == "" {
			ids = g.index[norm[at:end]]
		} else {
			scratch = append(append(scratch[:0], virt...), norm[at:end]...)
			ids = g.index[string(scratch)]
		}
		for _, i := range ids {
			key := g.keys[i]
			if !strings.HasPrefix(key, virt) {
				continue
			}
			rest := key[len(virt):]
			if !strings.HasPrefix(norm[at:], rest) {
				continue
			}
			if after := at + len(rest); after < len(norm) {
				if r, _ := utf8.DecodeRuneInString(norm[after:]); isWord(r) {
					continue
				}
			}
			add(i)
		}
	}
	for start := 0; start < len(norm); {
		// Find the next word: [start, end).
		r, size := utf8.DecodeRuneInString(norm[start:])
		if !isWord(r) {
			start += size
			continue
		}
		end := start + size
		for end < len(norm) {
			r, size := utf8.DecodeRuneInString(norm[end:])
			if !isWord(r) {
				break
			}
			end += size
		}
		try("", start, end)
		if r == 'و' || r == 'ف' || r == 'ب' || r == 'ك' || r == 'ل' || r == 'ا' {
			word := norm[start:end]
			for _, p := range prefixesBy[r] {
				if !strings.HasPrefix(word, p.text) || utf8.RuneCountInString(word[len(p.text):]) < minStem {
					continue
				}
				at := start + len(p.text)
				if p.article {
					try("ال", at, end)
				}
				try("", at, end)
			}
		}
		start = end
	}
	if len(found) == 0 {
		return nil
	}
	out := make([]Entry, len(found))
	for j, i := range found {
		out[j] = g.entries[i]
	}
	return out
}

// Missing returns the entries of found (in their order) none of whose
// English forms (English and Alternatives) occurs in english. Forms are
// compared case-insensitively, with accents folded (é = e), and on word
// boundaries, with every run of punctuation, hyphens, apostrophes and
// spaces counted as one separator: "al-Nusra Front" is found in "Al Nusra
// front's", "Aliyev" in "Aliyev's", but "Iran" not in "Iranian" (list
// "Iranian" as an alternative to accept it).
func Missing(found []Entry, english string) []Entry {
	if len(found) == 0 {
		return nil
	}
	text := normEnglish(english)
	var missing []Entry
	for _, e := range found {
		ok := strings.Contains(text, normEnglish(e.English))
		for _, a := range e.Alternatives {
			if ok {
				break
			}
			ok = strings.Contains(text, normEnglish(a))
		}
		if !ok {
			missing = append(missing, e)
		}
	}
	return missing
}

// builder collects the entries of a glossary being read.
type builder struct {
	g     *Glossary
	byKey map[string]int32
}

func newBuilder() *builder {
	return &builder{g: &Glossary{index: map[string][]int32{}}, byKey: map[string]int32{}}
}

// lookup returns the index of the entry with this key, if any.
func (b *builder) lookup(key string) (int, bool) {
	i, ok := b.byKey[key]
	return int(i), ok
}

// add appends an entry whose key is new.
func (b *builder) add(e Entry, key string) {
	i := int32(len(b.g.entries))
	b.g.entries = append(b.g.entries, e)
	b.g.keys = append(b.g.keys, key)
	b.byKey[key] = i
	w := firstWord(key)
	b.g.index[w] = append(b.g.index[w], i)
}

// glossary sorts the index buckets (longest key first, then file order)
// and returns the glossary.
func (b *builder) glossary() *Glossary {
	g := b.g
	for _, ids := range g.index {
		slices.SortStableFunc(ids, func(x, y int32) int { return len(g.keys[y]) - len(g.keys[x]) })
	}
	return g
}
