package jobs

import "testing"

func TestLooksEnglish(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"", false},
		{"123 456 !!", false},
		{"Title of the article", true},
		{"The minister said on Monday that the festival will open in Hammamet.", true},
		{"Le ministre a déclaré lundi que le festival ouvrira bientôt ses portes à Hammamet.", false},
		{"هذا نص عربي لم يترجم", false},
		{"Najib Ayed said: «أيام قرطاج السينمائية» will return in November with the competitions.", true},
		{"THE MINISTER SAID ON MONDAY THAT THE FESTIVAL WILL OPEN IN HAMMAMET.", true},
		{"نص عربي طويل مع بعض English words", false},
	}
	for _, tt := range tests {
		if got := looksEnglish(tt.text); got != tt.want {
			t.Errorf("looksEnglish(%q)=%v, want %v", tt.text, got, tt.want)
		}
	}
}

func TestHasArabic(t *testing.T) {
	for text, want := range map[string]bool{"خبر": true, "English only": false, "123 ٤٥٦": false, "": false} {
		if got := hasArabic(text); got != want {
			t.Errorf("hasArabic(%q)=%v, want %v", text, got, want)
		}
	}
}

func BenchmarkLooksEnglish(b *testing.B) {
	text := "The director general of the Carthage Film Days, Tunisian producer Najib Ayed, has revealed what is new in the festival's coming edition, which he said will be different from previous ones."
	b.ReportAllocs()
	for b.Loop() {
		looksEnglish(text)
	}
}
