package tokens

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tarjama/tarjama/prompts"
)

// counter is shared by the tests, so that each encoder is built once per
// test binary.
var counter = New()

// The pinned counts were computed once with tiktoken-go v0.1.8 and its
// offline tables. Those marked "python" are also in tiktoken-go's
// doc/test_result.md, where they match OpenAI's Python tiktoken.
func TestTextPinned(t *testing.T) {
	tests := []struct {
		name          string
		s             string
		o200k, cl100k int
	}{
		{"empty", "", 0, 0},
		{"english greeting", "Hello, world!", 4, 4},
		{"english sentence", "The minister told reporters on Tuesday that talks would resume.", 11, 11},
		{"english instruction", "You translate Arabic news into English.", 7, 7},
		{"arabic greeting", "مرحبا بالعالم", 4, 10},
		{"arabic sentence", "قال وزير الخارجية يوم الثلاثاء إن المحادثات ستستأنف.", 14, 33},
		{"arabic fixture lead", "تنطلق اليوم الاثنين فعاليات الدورة السابعة عشرة للمهرجان العربي للإذاعة والتلفزيون بمدينة الحمامات.", 24, 72},
		{"russian (python)", "Привет мир!", 4, 6},
		{"chinese (python)", "你好世界！", 3, 6},
		// A special token in an article is counted as the text it is.
		{"special token as text", "<|endoftext|>", 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := counter.Text("gpt-4o", tt.s); got != tt.o200k {
				t.Errorf("Text(gpt-4o, %q)=%d, want %d (o200k_base)", tt.s, got, tt.o200k)
			}
			if got := counter.Text("gpt-4", tt.s); got != tt.cl100k {
				t.Errorf("Text(gpt-4, %q)=%d, want %d (cl100k_base)", tt.s, got, tt.cl100k)
			}
		})
	}
}

// TestTextArabicArticle compares an article of the fixture with the figure
// in docs/pitfalls.md: 366 Arabic words = 620 tokens in o200k_base, 1,503 in
// cl100k_base. The fixture's longest body (a Huawei press release with
// transliterated names, numbers and Egyptian spellings) is denser: its first
// 366 words are 708 o200k_base tokens (1.93 a word, against 1.69 in
// pitfalls.md and 1.88 over the whole fixture) and 1,574 cl100k_base tokens.
// The ranges allow for either text.
func TestTextArabicArticle(t *testing.T) {
	s, words := firstWords(longestBody(t), 366)
	if words != 366 {
		t.Fatalf("longest body has %d words, want at least 366", words)
	}
	o200k := counter.Text("gpt-4o", s)
	cl100k := counter.Text("gpt-4", s)
	t.Logf("first %d words of the longest body: o200k_base %d tokens (%.2f a word), cl100k_base %d (%.2f a word)",
		words, o200k, float64(o200k)/float64(words), cl100k, float64(cl100k)/float64(words))
	if o200k < 560 || o200k > 760 {
		t.Errorf("o200k_base count=%d, want 560..760", o200k)
	}
	if cl100k < 1350 || cl100k > 1650 {
		t.Errorf("cl100k_base count=%d, want 1350..1650", cl100k)
	}
	// o200k_base's larger vocabulary is what makes Arabic cheaper: pitfalls.md
	// has cl100k_base at 2.4 times o200k_base.
	if r := float64(cl100k) / float64(o200k); r < 2 || r > 2.8 {
		t.Errorf("cl100k_base/o200k_base=%.2f, want 2..2.8", r)
	}
}

func TestEncoding(t *testing.T) {
	estimate := fmt.Sprintf("o200k_base×%g (estimate)", OtherModelFactor)
	tests := []struct {
		model string
		want  string
	}{
		{"gpt-4o", "o200k_base"},
		{"gpt-4o-mini", "o200k_base"},
		{"gpt-4o-2024-08-06", "o200k_base"},
		{"chatgpt-4o-latest", "o200k_base"},
		{"gpt-4.1", "o200k_base"},
		{"gpt-4.1-mini", "o200k_base"},
		{"gpt-4.1-nano-2025-04-14", "o200k_base"},
		{"gpt-4.5-preview", "o200k_base"},
		{"gpt-5", "o200k_base"},
		{"gpt-5-mini", "o200k_base"},
		{"gpt-5.1", "o200k_base"},
		{"o1", "o200k_base"},
		{"o1-mini", "o200k_base"},
		{"o3-mini", "o200k_base"},
		{"o4-mini", "o200k_base"},
		{"GPT-4o-Mini", "o200k_base"},
		{" gpt-4o ", "o200k_base"},
		{"openai/gpt-4o-mini", "o200k_base"},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"},
		{"gpt-4", "cl100k_base"},
		{"gpt-4-0613", "cl100k_base"},
		{"gpt-4-turbo", "cl100k_base"},
		{"gpt-4-32k", "cl100k_base"},
		{"gpt-3.5-turbo", "cl100k_base"},
		{"gpt-3.5-turbo-0125", "cl100k_base"},
		{"ft:gpt-3.5-turbo-0125:acme::abc123", "cl100k_base"},
		{"", estimate},
		{"llama3.1:8b", estimate},
		{"meta-llama/Llama-3.1-8B-Instruct", estimate},
		{"qwen2.5:7b-instruct", estimate},
		{"mistral-small", estimate},
		{"gpt-oss-20b", estimate},
		{"o10", estimate},
		{"gpt-4x", estimate},
		{"my-azure-deployment", estimate},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := counter.Encoding(tt.model); got != tt.want {
				t.Errorf("Encoding(%q)=%q, want %q", tt.model, got, tt.want)
			}
			if got, want := counter.Exact(tt.model), tt.want != estimate; got != want {
				t.Errorf("Exact(%q)=%t, want %t", tt.model, got, want)
			}
		})
	}
}

func TestEncodingEstimateName(t *testing.T) {
	if got, want := counter.Encoding("llama3"), "o200k_base×1.3 (estimate)"; got != want {
		t.Errorf("Encoding(llama3)=%q, want %q", got, want)
	}
}

func TestTextOtherModel(t *testing.T) {
	tests := []struct {
		name string
		s    string
		want int
	}{
		{"empty", "", 0},
		{"english greeting", "Hello, world!", 5}, // 4 × 1.3 = 5.2
		{"arabic sentence", "قال وزير الخارجية يوم الثلاثاء إن المحادثات ستستأنف.", 18},                                                    // 14 × 1.3 = 18.2
		{"arabic fixture lead", "تنطلق اليوم الاثنين فعاليات الدورة السابعة عشرة للمهرجان العربي للإذاعة والتلفزيون بمدينة الحمامات.", 31}, // 24 × 1.3 = 31.2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := counter.Text("qwen2.5:7b-instruct", tt.s)
			if got != tt.want {
				t.Errorf("Text(qwen2.5:7b-instruct, %q)=%d, want %d", tt.s, got, tt.want)
			}
			if want := int(math.Round(float64(counter.Text("gpt-4o", tt.s)) * OtherModelFactor)); got != want {
				t.Errorf("Text(qwen2.5:7b-instruct, %q)=%d, want o200k_base×%g=%d", tt.s, got, OtherModelFactor, want)
			}
		})
	}
}

func TestMessages(t *testing.T) {
	system := prompts.Message{Role: "system", Content: "You translate Arabic news into English."} // role 1, content 7 (o200k_base and cl100k_base)
	user := prompts.Message{Role: "user", Content: "مرحبا بالعالم"}                               // role 1, content 4 (o200k_base), 10 (cl100k_base)
	tests := []struct {
		name  string
		model string
		msgs  []prompts.Message
		want  int
	}{
		{"no messages: reply priming only", "gpt-4o", nil, 3},
		{"empty message: framing and role", "gpt-4o", []prompts.Message{{Role: "user"}}, 3 + 3 + 1},
		{"o200k_base", "gpt-4o", []prompts.Message{system, user}, 3 + (3 + 1 + 7) + (3 + 1 + 4)},
		{"cl100k_base", "gpt-4", []prompts.Message{system, user}, 3 + (3 + 1 + 7) + (3 + 1 + 10)},
		// The factor applies once to the whole o200k_base figure: 22 × 1.3 = 28.6.
		{"estimate", "llama3.1:8b", []prompts.Message{system, user}, 29},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := counter.Messages(tt.model, tt.msgs); got != tt.want {
				t.Errorf("Messages(%q, %d messages)=%d, want %d", tt.model, len(tt.msgs), got, tt.want)
			}
		})
	}
}

func TestMessagesAddsFraming(t *testing.T) {
	body := longestBody(t)
	msgs := []prompts.Message{
		{Role: "system", Content: "You translate Arabic news into English."},
		{Role: "user", Content: body},
	}
	for _, model := range []string{"gpt-4.1-mini", "gpt-3.5-turbo"} {
		var content int
		for _, m := range msgs {
			content += counter.Text(model, m.Role) + counter.Text(model, m.Content)
		}
		if got, want := counter.Messages(model, msgs), content+3*len(msgs)+3; got != want {
			t.Errorf("Messages(%q)=%d, want %d: %d of roles and contents, 3 a message, 3 for the reply", model, got, want, content)
		}
	}
}

// TestConcurrent starts with a fresh Counter, so that the encoders are built
// while other goroutines already count; run it with -race.
func TestConcurrent(t *testing.T) {
	body := longestBody(t)
	models := []string{"gpt-4o", "gpt-4", "llama3.1:8b"}
	want := make(map[string]int)
	for _, m := range models {
		want[m] = counter.Text(m, body)
	}
	c := New()
	var wg sync.WaitGroup
	errs := make(chan error, 8*len(models))
	for i := range 8 * len(models) {
		model := models[i%len(models)]
		wg.Go(func() {
			if got := c.Text(model, body); got != want[model] {
				errs <- fmt.Errorf("Text(%q, body)=%d, want %d", model, got, want[model])
			}
			c.Messages(model, []prompts.Message{{Role: "user", Content: body}})
			c.Exact(model)
			c.Encoding(model)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkText counts the fixture's longest body (1,028 words, 11 KB: 2,045
// o200k_base tokens, 4,310 cl100k_base) with a warm encoder. Building an
// encoder is not measured: it takes about 0.35 s for o200k_base (0.25 s of it
// without the tables' parsing, which tiktoken-go caches per process) and
// 0.15 s for cl100k_base, once per Counter.
func BenchmarkText(b *testing.B) {
	body := longestBody(b)
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(counter.Encoding(model), func(b *testing.B) {
			counter.Text(model, "warm up")
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				counter.Text(model, body)
			}
		})
	}
}
