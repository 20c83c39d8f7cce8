package glossary_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/glossary"
)

const findGlossary = `arabic,english
تونس,Tunisia
القاهرة,Cairo
قاهرة,Qahira
أذربيجان,Azerbaijan
إسرائيل,Israel
آبل,Apple
سوسة,Sousse
عبير موسي,Abir Moussi
نجيب عيّاد,Nejib Ayed
عمان,Oman
حسن روحاني,Hassan Rouhani
روحاني,Rouhani
داعش,Islamic State
فيفا,FIFA
القصرين,Kasserine
كان 2017,AFCON 2017
جالكسي S8,Galaxy S8
`

func arabicOf(es []glossary.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Arabic)
	}
	return out
}

func TestFind(t *testing.T) {
	g := mustRead(t, findGlossary)
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"plain", "زار تونس أمس", []string{"تونس"}},
		{"start and end of text", "تونس", []string{"تونس"}},
		{"prefix و", "زار وتونس", []string{"تونس"}},
		{"prefix ب", "في اجتماع بتونس", []string{"تونس"}},
		{"prefix ل", "زيارة لتونس", []string{"تونس"}},
		{"prefix ف", "فتونس", []string{"تونس"}},
		{"prefix وب", "وبتونس", []string{"تونس"}},
		{"entry with ال after و", "والقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry with ال after ب", "بالقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry with ال after ك", "كالقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry with ال after ف", "فالقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry with ال after لل", "للقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry with ال after ولل", "وللقاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry without ال after ال", "القاهرة", []string{"القاهرة", "قاهرة"}},
		{"entry without ال after لل", "لقاهرة وللقاهرة", []string{"قاهرة", "القاهرة"}},
		{"prefix that is not a clitic", "مقاهرة ستونس", nil},
		{"prefix leaves too little", "وبال", nil},
		{"alef with hamza below in text", "اسرائيل", []string{"إسرائيل"}},
		{"bare alef in entry, hamza in text", "لإسرائيل وأذربيجان", []string{"إسرائيل", "أذربيجان"}},
		{"alef madda", "شركة ابل", []string{"آبل"}},
		{"alef wasla", "ٱذربيجان", []string{"أذربيجان"}},
		{"ta marbuta as ha", "ولاية سوسه", []string{"سوسة"}},
		{"alef maqsura", "عبير موسى", []string{"عبير موسي"}},
		{"harakat in text", "تُونِسُ وَسُوسَةٌ", []string{"تونس", "سوسة"}},
		{"harakat in entry, not in text", "نجيب عياد", []string{"نجيب عيّاد"}},
		{"tatweel", "تـــونس وداعـش", []string{"تونس", "داعش"}},
		{"invisible marks", "تو\u200cنس", []string{"تونس"}},
		{"no match inside a longer word", "عماني العمانية عمانيون", nil},
		{"no suffix", "تونسي التونسيين", nil},
		{"no match at the end of a word", "سلطنةعمان", nil},
		{"match before punctuation", "(عمان)، «تونس»: داعش.", []string{"عمان", "تونس", "داعش"}},
		{"quotes and tatweel after the article", `الـ"فيفا"`, []string{"فيفا"}},
		{"Maghrebi qaf", "في الڨصرين", []string{"القصرين"}},
		{"multi-word across a newline", "الرئيس حسن\r\n  روحاني", []string{"حسن روحاني", "روحاني"}},
		{"multi-word across a no-break space", "حسن\u00a0روحاني", []string{"حسن روحاني", "روحاني"}},
		{"multi-word with a prefix", "وحسن روحاني", []string{"حسن روحاني", "روحاني"}},
		{"multi-word, last word longer", "حسن روحانيات", nil},
		{"digits", "بطولة كان ٢٠١٧ في الغابون", []string{"كان 2017"}},
		{"digits: longer number", "كان 20170", nil},
		{"Latin letters fold case", "هاتف جالكسي s8 الجديد", []string{"جالكسي S8"}},
		{"order of first occurrence, each once", "روحاني في تونس ثم روحاني وتونس", []string{"روحاني", "تونس"}},
		{"nothing", "لا شيء هنا", nil},
		{"empty text", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := arabicOf(g.Find(tt.text))
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Find(%q) mismatch (-want +got):\n%s", tt.text, diff)
			}
		})
	}
}

func TestFindReturnsEntries(t *testing.T) {
	g := mustRead(t, "arabic,english\n\n\"علييف\",Aliyev|Aliev\n")
	got := g.Find("نظام علييف")
	want := []glossary.Entry{{Arabic: "علييف", English: "Aliyev", Alternatives: []string{"Aliev"}, Line: 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Find mismatch (-want +got):\n%s", diff)
	}
}

func TestMissing(t *testing.T) {
	entries := []glossary.Entry{
		{Arabic: "علييف", English: "Aliyev", Alternatives: []string{"Aliev"}},
		{Arabic: "إيران", English: "Iran"},
		{Arabic: "جبهة النصرة", English: "Nusra Front", Alternatives: []string{"al-Nusra Front"}},
		{Arabic: "أيام قرطاج السينمائية", English: "Carthage Film Festival", Alternatives: []string{"Journées Cinématographiques de Carthage"}},
		{Arabic: "الاتحاد الأوروبي", English: "European Union", Alternatives: []string{"EU"}},
	}
	tests := []struct {
		name    string
		english string
		missing []string // English forms of the missing entries
	}{
		{"all there", "Aliyev met Iran's envoy; the Nusra Front, the Carthage Film Festival and the European Union.", nil},
		{"alternatives", "Aliev, IRAN, al-Nusra Front, Journees Cinematographiques de Carthage, EU", nil},
		{"case", "ALIYEV iran nusra FRONT carthage film festival european union", nil},
		{"hyphens and punctuation", "al Nusra-Front ... Carthage  Film\nFestival; (European-Union)", []string{"Aliyev", "Iran"}},
		{"possessive", "Aliyev's and Iran’s and the EU's", []string{"Nusra Front", "Carthage Film Festival"}},
		{"accents folded both ways", "Jöurnees Cinematographiqués de Carthage", []string{"Aliyev", "Iran", "Nusra Front", "European Union"}},
		{"no match inside a word", "Aliyevs Iranian Nusra Frontline Europeanunion EUR", []string{"Aliyev", "Iran", "Nusra Front", "Carthage Film Festival", "European Union"}},
		{"words must be adjacent", "Nusra is a Front", []string{"Aliyev", "Iran", "Nusra Front", "Carthage Film Festival", "European Union"}},
		{"empty translation", "", []string{"Aliyev", "Iran", "Nusra Front", "Carthage Film Festival", "European Union"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range glossary.Missing(entries, tt.english) {
				got = append(got, e.English)
			}
			if diff := cmp.Diff(tt.missing, got); diff != "" {
				t.Errorf("Missing(%q) mismatch (-want +got):\n%s", tt.english, diff)
			}
		})
	}
	if got := glossary.Missing(nil, "anything"); got != nil {
		t.Errorf("Missing(nil)=%v, want nil", got)
	}
}

func TestFindThenMissing(t *testing.T) {
	g := mustRead(t, "arabic,english\nإلهام علييف,Ilham Aliyev\nعلييف,Aliyev|Aliev\nهآرتس,Haaretz\nإيران,Iran\n")
	found := g.Find("وقال الرئيس الأذري إلهام علييف لصحيفة هآرتس إن إيران...")
	missing := glossary.Missing(found, "Azerbaijani President Ilham Aliev told Ha'aretz that Iran ...")
	got := arabicOf(missing)
	if want := []string{"إلهام علييف", "هآرتس"}; !cmp.Equal(got, want) {
		t.Errorf("Missing = %q, want %q", got, want)
	}
	if !strings.Contains(strings.Join(arabicOf(found), ","), "علييف") {
		t.Errorf("Find = %q", arabicOf(found))
	}
}
