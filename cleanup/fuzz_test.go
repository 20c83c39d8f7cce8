package cleanup

import (
	"golang.org/x/text/unicode/norm"
	"testing"
	"unicode/utf8"
)

// FuzzText checks that Text is idempotent, returns valid UTF-8, never
// returns more runes than it was given and never panics.
func FuzzText(f *testing.F) {
	seeds := []string{
		"",
		"٣ < ٥",
		"<p>a&amp;b</p><p>c<br>d</p>",
		"&lt;b&gt;x&lt;/b&gt;",
		"<\u200bb>x</b>",
		"<&#8203;b>x",
		"<script/>alert(1)</script>نص",
		"بّـَ كـــبير الـ 72",
		"\u0958\u0301",
		"a\r\nb\rc\td\x00\u0085",
		"\xff\xfe<p>\xc3",
		"شارك\nالتعليقات (3)\nhttps://example.com",
		sport597Line1,
		sport597Lines23 + "\n" + sport597Lines23,
		seedCaption,
		tech61Line5,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add("آَ آَ اَّ ؤ é")
	f.Fuzz(func(t *testing.T, s string) {
		// The fast paths agree with the slow ones.
		if nfcSafe(s) && !norm.NFC.IsNormalString(s) {
			t.Fatalf("nfcSafe(%q) but it is not NFC", s)
		}
		if spacesDone(s) && collapseSpaces(s) != s {
			t.Fatalf("spacesDone(%q) but collapseSpaces gives %q", s, collapseSpaces(s))
		}
		out, st := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q)=%q: invalid UTF-8", s, out)
		}
		if n, m := utf8.RuneCountInString(out), utf8.RuneCountInString(s); n > m {
			t.Fatalf("Text(%q)=%q: %d runes out, %d in", s, out, n, m)
		}
		if got, want := st.Total(), utf8.RuneCountInString(s)-utf8.RuneCountInString(out); got != want {
			t.Fatalf("Text(%q): Total()=%d, want %d", s, got, want)
		}
		if again, st2 := Text(out); again != out {
			t.Fatalf("not idempotent:\nText(%q)=%q\nText(that)=%q (%v)", s, out, again, st2)
		}
	})
}

// TestNFCSafeArabicPairs checks the fast path against norm on every pair
// of runes in and around the Arabic block, where the fuzzer once found
// two Quranic signs (U+0614 U+064E) that nfcSafe took for NFC.
func TestNFCSafeArabicPairs(t *testing.T) {
	var rs []rune
	for r := rune(0x5F0); r < 0x700; r++ {
		rs = append(rs, r)
	}
	rs = append(rs, 'a', 0xE9, 0x2FF, 0x300, 0x301, 0x1DC0, 0x200C, 0x200D)
	for _, a := range rs {
		for _, b := range rs {
			s := string(a) + string(b)
			if nfcSafe(s) && !norm.NFC.IsNormalString(s) {
				t.Errorf("nfcSafe(%+q) but it is not NFC", s)
			}
		}
	}
}
