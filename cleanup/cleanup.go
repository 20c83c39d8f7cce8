package cleanup

import (
	"maps"
	"unicode/utf8"
)

// Rule names, in the order the rules run.
const (
	RuleHTML               = "html"
	RuleNFC                = "nfc"
	RuleControl            = "control"
	RuleInvisible          = "invisible"
	RuleTatweel            = "tatweel"
	RuleSpaces             = "spaces"
	RuleDuplicateParagraph = "duplicate_paragraph"
	RuleBoilerplate        = "boilerplate"
)

// Rule names and describes one clean-up step.
type Rule struct {
	Name        string
	Description string
}

// Rules lists the rule names in the order they run, each with a one-line
// description (for the README and for reports). Titles get the rules up to
// and including "spaces"; bodies get all of them.
var Rules = []Rule{
	{RuleHTML, "if the text holds an HTML tag or entity: tags removed (block elements become paragraph breaks, <br> a line break, script/style contents dropped), entities decoded"},
	{RuleNFC, "Unicode NFC normalisation (a decomposed أ becomes one character, harakat get their canonical order); a segment NFC would lengthen is left alone"},
	{RuleControl, "control characters removed; CRLF, CR and other line separators become \\n, a tab becomes a space; invalid UTF-8 becomes U+FFFD"},
	{RuleInvisible, "zero-width characters, soft hyphens and direction marks (LRM, RLM, ALM, embeddings, isolates, BOM) removed"},
	{RuleTatweel, "tatweel (kashida) between two Arabic letters removed (كـبير → كبير); one that marks a clitic (الـ 72, بـ\"…\") is kept"},
	{RuleSpaces, "every Unicode space becomes ' ', runs collapse, lines are trimmed, blank-line runs become one blank line, blank lines at the ends go"},
	{RuleDuplicateParagraph, "a paragraph of 40+ runes equal to an earlier one (ignoring final punctuation) is dropped; list items are kept"},
	{RuleBoilerplate, "site furniture at the end of a body removed, whole lines only: comments heading, share/print/send prompts, \"follow us\", a final \"read also\", bare URLs"},
}

// charRules are the rules that apply to any text, titles included, in
// order; paragraphRules follow them for bodies.
var (
	charRules = []step{
		{RuleHTML, stripHTML},
		{RuleNFC, nfc},
		{RuleControl, controls},
		{RuleInvisible, invisibles},
		{RuleTatweel, tatweel},
		{RuleSpaces, spaces},
	}
	paragraphRules = []step{
		{RuleDuplicateParagraph, duplicateParagraphs},
		{RuleBoilerplate, boilerplate},
	}
)

// step is a rule's implementation. Each function returns its input
// unchanged (the same string) when it has nothing to do.
type step struct {
	name string
	fn   func(string) string
}

// Stats says what the clean-up changed, in runes removed per rule.
type Stats struct {
	// Removed maps a rule name to the runes it removed, net: the rune count
	// before the rule minus the rune count after it. A rule that only
	// replaced characters (a no-break space by a space) removed 0 and has
	// no entry.
	Removed map[string]int
	// Changed maps a rule name to the number of texts the rule altered:
	// 1 per Text call, so that after Add over many articles it counts
	// titles and bodies changed.
	Changed map[string]int
}

// Total returns the runes removed by all rules.
func (s Stats) Total() int {
	n := 0
	for _, v := range s.Removed {
		n += v
	}
	return n
}

// Add adds the counts of o to s.
func (s *Stats) Add(o Stats) {
	if len(o.Removed) > 0 && s.Removed == nil {
		s.Removed = make(map[string]int, len(o.Removed))
	}
	for k, v := range o.Removed {
		s.Removed[k] += v
	}
	if len(o.Changed) > 0 && s.Changed == nil {
		s.Changed = make(map[string]int, len(o.Changed))
	}
	for k, v := range o.Changed {
		s.Changed[k] += v
	}
}

// Article cleans a title and a body. The title gets the character rules
// only (html to spaces); the body gets them all. st covers both.
func Article(title, body string) (cleanTitle, cleanBody string, st Stats) {
	cleanTitle, ts := run(title, charRules, nil)
	cleanBody, bs := Text(body)
	ts.Add(bs)
	return cleanTitle, cleanBody, ts
}

// Text cleans one string (an article body) with every rule, in the order
// of Rules.
func Text(s string) (string, Stats) {
	return run(s, charRules, paragraphRules)
}

// run applies chars until a pass changes nothing, then paras once. The
// paragraph rules only drop whole lines of text that the character rules
// have already settled, so they expose nothing for those rules to do.
func run(s string, chars, paras []step) (string, Stats) {
	var st Stats
	changed := map[string]bool{}
	apply := func(s string, r step) (string, bool) {
		out := r.fn(s)
		if out == s {
			return s, false
		}
		changed[r.name] = true
		if d := utf8.RuneCountInString(s) - utf8.RuneCountInString(out); d != 0 {
			if st.Removed == nil {
				st.Removed = map[string]int{}
			}
			st.Removed[r.name] += d
		}
		return out, true
	}
	// A change by nfc, control, invisible or tatweel may expose work for
	// an earlier rule (NFC turns U+212A KELVIN SIGN into "K", which may
	// complete a tag; removing a zero-width space may join "<" and "b>";
	// removing a tatweel may put two harakat out of order), so the pass is
	// run again. html leaves nothing for itself to do, and spaces neither
	// joins nor splits anything the other rules look at. Every pass after
	// the first that changes something removes at least one rune, so the
	// bound is never reached; it is there so that a mistake in that
	// reasoning costs time and not a hang.
	limit := len(s) + 2 // bytes: at least the runes
	for range limit {
		again := false
		for _, r := range chars {
			var c bool
			s, c = apply(s, r)
			again = again || c && r.name != RuleHTML && r.name != RuleSpaces
		}
		if !again {
			break
		}
	}
	for _, r := range paras {
		s, _ = apply(s, r)
	}
	if len(changed) > 0 {
		st.Changed = make(map[string]int, len(changed))
		for k := range maps.Keys(changed) {
			st.Changed[k] = 1
		}
	}
	return s, st
}
