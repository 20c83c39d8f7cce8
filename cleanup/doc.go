// Package cleanup cleans the text of an article before it is sent to the
// model for translation.
//
// Scraped Arabic news carries leftovers that cost tokens and confuse a
// translator without adding meaning: HTML tags and entities, non-breaking
// and zero-width spaces, bidirectional marks, decorative tatweel (kashida),
// the lead paragraph repeated by the scraper, and site furniture such as a
// trailing "التعليقات" (comments) heading or share prompts. Text removes
// them with a fixed list of small named rules (see Rules), so that a
// reviewer can see what each rule did to each article (Stats).
//
// The cleaned text is only what is sent to the model. The caller keeps the
// original text for its outputs, so clean-up never needs to be reversible;
// it must only never lose meaning. It therefore keeps Arabic diacritics
// (harakat), keeps a tatweel that marks a clitic ("الـ 72", "بـ1.2"), keeps
// a lone "<" that is not a tag ("٣ < ٥"), and touches site furniture only at
// the end of a body, as whole lines.
//
// Clean-up is idempotent: Text(Text(s)) == Text(s). When a later rule
// exposes work for an earlier one (a zero-width space inside "<b>", a
// tatweel between two harakat), the character rules run again until
// nothing changes. It never returns more runes than it was given and
// always returns valid UTF-8. A body that was nothing but furniture or
// invisible characters cleans to "", which the caller treats as empty.
package cleanup
