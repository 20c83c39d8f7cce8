package jobs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/cleanup"
	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/prompts"
)

// fenced returns the text of the first fence with label in content, and
// whether there is one.
func fenced(content, label string) (string, bool) {
	begin := "<<<BEGIN " + label + " "
	i := strings.Index(content, begin)
	if i < 0 {
		return "", false
	}
	rest := content[i+len(begin):]
	nonce := rest[:16]
	rest = rest[16+len(">>>\n"):]
	j := strings.Index(rest, "\n<<<END "+label+" "+nonce+">>>")
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// modelReply answers req as the test server does: a translation of the
// BODY fence, key points of the TRANSLATION or NOTES fence.
func modelReply(req Request) Reply {
	user := req.Messages[1].Content
	title, _ := fenced(user, "TITLE")
	rep := Reply{Model: req.Model, Usage: Usage{PromptTokens: 100, CompletionTokens: 20}, Attempts: 1}
	if body, ok := fenced(user, "BODY"); ok {
		rep.Content = fakeopenai.TranslationReply(title, body)
		return rep
	}
	text, ok := fenced(user, "TRANSLATION")
	if !ok {
		text, _ = fenced(user, "NOTES")
	}
	n := 3
	fmt.Sscanf(user[strings.Index(user, "exactly ")+len("exactly "):], "%d", &n)
	var pts []string
	for _, p := range fakeopenai.KeyPoints(title, text, n) {
		pts = append(pts, fmt.Sprintf("%q", p))
	}
	rep.Content = `{"key_points": [` + strings.Join(pts, ",") + `]}`
	return rep
}

// paragraphs builds a body of n Arabic paragraphs of about runes each, all
// different, with sentence ends.
func paragraphs(n, runes int) string {
	words := strings.Fields("قال وزير الخارجية إن المحادثات مع الوفد الزائر تناولت التعاون في مجال الطاقة والنقل والتعليم")
	var paras []string
	for i := range n {
		var b strings.Builder
		for k := 0; utf8.RuneCountInString(b.String()) < runes; k++ {
			b.WriteString(words[(i+k)%len(words)])
			if k%9 == 8 {
				b.WriteString(fmt.Sprintf(" %d.", i*1000+k))
			}
			b.WriteString(" ")
		}
		paras = append(paras, strings.TrimSpace(b.String()))
	}
	return strings.Join(paras, "\n")
}

// csvOf is an input CSV of one article.
func csvOf(id, title, body string) string {
	return "id,title,body\n" + id + "," + title + ",\"" + strings.ReplaceAll(body, `"`, `""`) + "\"\n"
}

// recorder is a Completer that answers as the test server does, records
// every request and the most requests it saw in flight at once.
type recorder struct {
	mu       sync.Mutex
	reqs     []Request
	inFlight int
	peak     int
	// reply, when set, replaces modelReply.
	reply func(Request) Reply
	// gate, when set, is called with each request before it is answered.
	gate func(Request)
}

func (c *recorder) Complete(ctx context.Context, req Request) (Reply, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.inFlight++
	c.peak = max(c.peak, c.inFlight)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight--
		c.mu.Unlock()
	}()
	if c.gate != nil {
		c.gate(req)
	}
	if c.reply != nil {
		return c.reply(req), nil
	}
	return modelReply(req), nil
}

func (c *recorder) steps() map[Step]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := map[Step]int{}
	for _, r := range c.reqs {
		n[r.Step]++
	}
	return n
}

func (c *recorder) byStep(s Step) []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Request
	for _, r := range c.reqs {
		if r.Step == s {
			out = append(out, r)
		}
	}
	return out
}

// TestLongArticleParts checks that a long article is translated in parts,
// concurrently but within --concurrency, each after the first with the end
// of the part before as context and without the title, and joined with the
// paragraph breaks kept.
func TestLongArticleParts(t *testing.T) {
	body := paragraphs(4, 400)
	opts := testOptions(t, writeCSV(t, csvOf("long", "عنوان المقال", body)))
	opts.MaxChunkTokens = 150 // 450 runes: one paragraph a part
	opts.Concurrency = 2
	// The first two parts wait for each other: parts sent one by one
	// would never get past the gate.
	arrived := make(chan struct{}, 4)
	both := make(chan struct{})
	var once sync.Once
	var n atomic.Int32
	c := &recorder{gate: func(req Request) {
		if req.Step != StepTranslate || n.Add(1) > 2 {
			return
		}
		arrived <- struct{}{}
		if len(arrived) == 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(10 * time.Second):
			t.Error("the parts of an article were not sent concurrently")
		}
	}}
	sum, sink, err := runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	r := sink.rows[0]
	if r.Status != StatusOK {
		t.Fatalf("row = %s %q", r.Status, r.Error)
	}
	if c.peak > opts.Concurrency {
		t.Errorf("%d requests in flight at once, over --concurrency %d", c.peak, opts.Concurrency)
	}
	paras := strings.Split(body, "\n")
	trs := c.byStep(StepTranslate)
	if len(trs) != 4 {
		t.Fatalf("%d translation requests, want 4 (one per paragraph)", len(trs))
	}
	// Requests arrive in any order; index them by their body.
	byBody := map[string]string{}
	for _, req := range trs {
		user := req.Messages[1].Content
		b, _ := fenced(user, "BODY")
		byBody[b] = user
	}
	var want strings.Builder
	for i, p := range paras {
		user, ok := byBody[p]
		if !ok {
			t.Fatalf("no request for paragraph %d", i+1)
		}
		title, _ := fenced(user, "TITLE")
		ctxText, hasCtx := fenced(user, "CONTEXT")
		if i == 0 && (title == "" || hasCtx) {
			t.Errorf("part 1: title %q, context %v; want the title and no context", title, hasCtx)
		}
		if i > 0 && (title != "" || !hasCtx || !strings.HasSuffix(paras[i-1], ctxText) || ctxText == "" ||
			utf8.RuneCountInString(ctxText) > contextRunes) {
			t.Errorf("part %d: title %q, context %q; want no title and the end of part %d", i+1, title, ctxText, i)
		}
		if !strings.Contains(user, fmt.Sprintf("part %d of 4", i+1)) {
			t.Errorf("part %d: the request does not say which part it is", i+1)
		}
		want.WriteString(fakeopenai.TranslateBody(p))
		if i < len(paras)-1 {
			want.WriteString("\n")
		}
	}
	if r.Translation != want.String() {
		t.Errorf("translation:\n%s\nwant the parts joined with their paragraph breaks:\n%s", r.Translation, want.String())
	}
	if sum.Requests != 4+4+1 {
		t.Errorf("%d requests, want 4 translations, 4 notes and 1 reduce; steps %v", sum.Requests, c.steps())
	}
}

// TestKeyPointsFromNotes checks the key points of an article too long for
// one key-points request: notes on each part, then a reduce step over all
// the notes; a shorter article gets one key-points request on the whole.
func TestKeyPointsFromNotes(t *testing.T) {
	tests := []struct {
		name      string
		paras     int
		wantSteps map[Step]int
	}{
		{"two parts: whole translation", 2, map[Step]int{StepTranslate: 2, StepKeyPoints: 1}},
		{"four parts: notes and reduce", 4, map[Step]int{StepTranslate: 4, StepNotes: 4, StepReduce: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := paragraphs(tt.paras, 400)
			opts := testOptions(t, writeCSV(t, csvOf("a", "عنوان", body)))
			opts.MaxChunkTokens = 150
			c := &recorder{}
			_, sink, err := runWith(t, context.Background(), opts, c)
			if err != nil {
				t.Fatal(err)
			}
			r := sink.rows[0]
			if r.Status != StatusOK {
				t.Fatalf("row = %s %q", r.Status, r.Error)
			}
			if diff := cmp.Diff(tt.wantSteps, c.steps()); diff != "" {
				t.Errorf("requests by step (-want +got):\n%s", diff)
			}
			reduce := c.byStep(StepReduce)
			if len(reduce) == 0 {
				if want := fakeopenai.KeyPoints(r.TitleEN, r.Translation, 3); !cmp.Equal(r.KeyPoints, want) {
					t.Errorf("key points %q, want those of the whole translation", r.KeyPoints)
				}
				return
			}
			// The notes are the key points of each part's translation; the
			// reduce step gets all of them, parts in order.
			var notes []string
			for i, p := range strings.Split(body, "\n") {
				notes = append(notes, fakeopenai.KeyPoints(r.TitleEN, fakeopenai.TranslateBody(p), 3)...)
				_ = i
			}
			got, _ := fenced(reduce[0].Messages[1].Content, "NOTES")
			if got != strings.Join(notes, "\n") {
				t.Errorf("reduce step's notes:\n%s\nwant the notes of the parts in order:\n%s", got, strings.Join(notes, "\n"))
			}
			if want := fakeopenai.KeyPoints(r.TitleEN, got, 3); !cmp.Equal(r.KeyPoints, want) {
				t.Errorf("key points %q, want the reduce step's %q", r.KeyPoints, want)
			}
			// The estimate plans the same requests.
			plan, err := Estimate(context.Background(), opts, runeCounter{}, DefaultPrices(), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Requests != len(c.reqs) {
				t.Errorf("estimate plans %d requests, the run made %d", plan.Requests, len(c.reqs))
			}
		})
	}
}

// runeCounter is a TokenCounter for tests.
type runeCounter struct{}

func (runeCounter) Messages(model string, msgs []prompts.Message) int {
	n := 0
	for _, m := range msgs {
		n += EstimateTokens(m.Content)
	}
	return n
}
func (runeCounter) Text(model, s string) int { return EstimateTokens(s) }

// TestLengthSplitsSmaller checks that a reply cut off by the token limit is
// never taken: the text is split smaller and asked again, and the row fails
// as truncated only when it cannot be split further. The cut-off replies
// are kept, so that a rerun pays nothing.
func TestLengthSplitsSmaller(t *testing.T) {
	body := paragraphs(1, 900) // one paragraph: split on sentences
	const maxBody = 350
	lengthOver := func(limit int) func(Request) Reply {
		return func(req Request) Reply {
			rep := modelReply(req)
			if b, ok := fenced(req.Messages[1].Content, "BODY"); ok && utf8.RuneCountInString(b) > limit {
				rep.FinishReason = "length"
				rep.Content = rep.Content[:len(rep.Content)/2]
			}
			return rep
		}
	}
	store := newMemStore()
	opts := testOptions(t, writeCSV(t, csvOf("a", "عنوان", body)))
	opts.Store = store
	c := &recorder{reply: lengthOver(maxBody)}
	_, sink, err := runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	r := sink.rows[0]
	if r.Status != StatusOK {
		t.Fatalf("row = %s %q, want ok after splitting", r.Status, r.Error)
	}
	var pieces []string
	for _, req := range c.byStep(StepTranslate) {
		b, _ := fenced(req.Messages[1].Content, "BODY")
		if utf8.RuneCountInString(b) <= maxBody {
			pieces = append(pieces, b)
		}
	}
	if len(pieces) < 3 {
		t.Fatalf("%d pieces fit, want at least 3 for a 900-character paragraph", len(pieces))
	}
	if squash(strings.Join(pieces, " ")) != squash(body) {
		t.Errorf("the pieces that were translated do not make up the body")
	}
	var want []string
	for _, p := range pieces {
		want = append(want, fakeopenai.TranslateBody(p))
	}
	if r.Translation != strings.Join(want, " ") {
		t.Errorf("translation %q, want the pieces' translations joined with spaces", r.Translation)
	}

	// A rerun finds every reply, the cut-off ones included.
	again := &recorder{reply: lengthOver(maxBody)}
	_, sink, err = runWith(t, context.Background(), opts, again)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.reqs) != 0 || sink.rows[0].Translation != r.Translation {
		t.Errorf("rerun made %d requests (want 0) and translated %q", len(again.reqs), sink.rows[0].Translation)
	}

	// A model that cuts off everything: the row fails once nothing can be
	// split further.
	opts.Store = nil
	opts.Path = writeCSV(t, csvOf("b", "عنوان", "خبر عاجل من تونس"))
	c = &recorder{reply: lengthOver(0)}
	_, sink, err = runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	r = sink.rows[0]
	if r.Status != StatusFailed || !strings.HasPrefix(r.Error, "truncated:") || !strings.Contains(r.Error, "cannot be split further") {
		t.Errorf("row = %s %q, want truncated: ... cannot be split further", r.Status, r.Error)
	}
}

// TestTooShortAndRefusals checks the replies that are retried and then fail
// the row with their reason.
func TestTooShortAndRefusals(t *testing.T) {
	long := paragraphs(1, 600)
	tests := []struct {
		name    string
		step    Step
		times   int
		content string
		body    string
		wantErr string // prefix; "" = ok
		calls   int
	}{
		{"refusal text twice", StepTranslate, 2, "I'm sorry, but I can't help with that request.", ar, "refused:", 2},
		{"refusal text once", StepTranslate, 1, "I’m sorry, but I can’t help with that request.", ar, "", 3},
		{"refusal in the body", StepTranslate, 2, "TITLE: Title\nBODY:\nI cannot translate this article.", long, "refused:", 2},
		{"far too short", StepTranslate, 2, "TITLE: Title\nBODY:\nThe minister spoke about energy and transport.", long, "too_short:", 2},
		{"short source is not checked", StepTranslate, 2, "TITLE: Title\nBODY:\nThe news.", ar, "", 2},
		{"empty body", StepTranslate, 2, "TITLE: Title\nBODY:\n", ar, "empty_translation:", 2},
		{"key points refused", StepKeyPoints, 2, "I'm sorry, I can't assist with that.", ar, "refused:", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var bad atomic.Int32
			c := &recorder{reply: func(req Request) Reply {
				rep := modelReply(req)
				if req.Step == tt.step && bad.Add(1) <= int32(tt.times) {
					rep.Content = tt.content
				}
				return rep
			}}
			_, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, csvOf("x", "", tt.body))), c)
			if err != nil {
				t.Fatal(err)
			}
			r := sink.rows[0]
			if len(c.reqs) != tt.calls {
				t.Errorf("%d requests, want %d", len(c.reqs), tt.calls)
			}
			if tt.wantErr == "" {
				if r.Status != StatusOK {
					t.Errorf("row = %s %q, want ok", r.Status, r.Error)
				}
				return
			}
			if r.Status != StatusFailed || !strings.HasPrefix(r.Error, tt.wantErr) || r.Translation != "" {
				t.Errorf("row = %s %q (translation %q), want failed %s with no translation", r.Status, r.Error, r.Translation, tt.wantErr)
			}
		})
	}
}

// TestRequestTooLargeIsSplit checks that a request refused as longer than
// the model's context is split like a reply cut off.
func TestRequestTooLargeIsSplit(t *testing.T) {
	body := paragraphs(3, 300)
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		if b, ok := fenced(req.Messages[1].Content, "BODY"); ok && utf8.RuneCountInString(b) > 400 {
			return Reply{}, &CallError{Reason: "http_400", Status: 400, Attempts: 1,
				Message: "This model's maximum context length is 8192 tokens. (code context_length_exceeded)"}
		}
		return modelReply(req), nil
	})
	_, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, csvOf("x", "عنوان", body))), c)
	if err != nil {
		t.Fatal(err)
	}
	if r := sink.rows[0]; r.Status != StatusOK || strings.Count(r.Translation, "\n") != 2 {
		t.Errorf("row = %s %q, translation %q; want ok in 3 paragraphs", r.Status, r.Error, r.Translation)
	}
}

// TestCleanupBeforeSending checks that what is sent is the cleaned text,
// that the original is kept in the store, and that an article that is
// nothing but boilerplate is skipped.
func TestCleanupBeforeSending(t *testing.T) {
	dirty := "قال الوزير إن الاجتماع كان مثمرا\u200b جدا، وإن الحكومة ستعلن الـــقرار غدا.\nالتعليقات"
	in := "id,title,body\n" +
		"dirty,<b>عنوان</b>,\"" + dirty + "\"\n" +
		"clean,عنوان,خبر عاجل من تونس\n" +
		"furniture,عنوان,\"<p>التعليقات</p>\"\n"
	store := newMemStore()
	opts := testOptions(t, writeCSV(t, in))
	opts.Store = store
	c := &recorder{}
	_, sink, err := runWith(t, context.Background(), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	wantTitle, wantBody, st := cleanup.Article("<b>عنوان</b>", dirty)
	if st.Total() == 0 || strings.Contains(wantBody, "التعليقات") || strings.Contains(wantBody, "\u200b") || wantTitle != "عنوان" {
		t.Fatalf("clean-up left %q %q (%d removed): the test proves little", wantTitle, wantBody, st.Total())
	}
	var sent string
	for _, req := range c.byStep(StepTranslate) {
		if b, _ := fenced(req.Messages[1].Content, "BODY"); strings.Contains(b, "الوزير") {
			sent = b
		}
	}
	if sent != wantBody {
		t.Errorf("sent body %q, want the cleaned %q", sent, wantBody)
	}
	orig, ok := store.origs[sink.rows[0].InputSHA256]
	if !ok || orig.Body != dirty || orig.Title != "<b>عنوان</b>" || orig.Removed != st.Total() || orig.ID != "dirty" {
		t.Errorf("original kept = %+v, %v; want the input's text", orig, ok)
	}
	if _, ok := store.origs[sink.rows[1].InputSHA256]; ok {
		t.Errorf("an article the clean-up did not change was kept as an original")
	}
	if r := sink.rows[2]; r.Status != StatusSkipped || !strings.HasPrefix(r.Error, "empty_body:") {
		t.Errorf("boilerplate-only row = %s %q, want skipped empty_body", r.Status, r.Error)
	}
}

func TestContextOf(t *testing.T) {
	long := strings.Repeat("كلمة ", 100) + "نهاية الجملة الأولى. " + strings.Repeat("كلمة أخرى ", 20)
	tests := []struct {
		name, text, want string
	}{
		{"short last paragraph", "الفقرة الأولى.\nالفقرة الثانية.", "الفقرة الثانية."},
		{"long paragraph starts at a sentence", long, strings.TrimSpace(strings.Repeat("كلمة أخرى ", 20))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := contextOf(tt.text); got != tt.want {
				t.Errorf("contextOf = %q, want %q", got, tt.want)
			}
		})
	}
	// No sentence end in reach: cut at a word.
	words := strings.Repeat("كلمة ", 200)
	got := contextOf(words)
	if n := utf8.RuneCountInString(got); n > contextRunes || n == 0 || !strings.HasPrefix(got, "كلمة") {
		t.Errorf("contextOf(words) = %q (%d runes), want whole words within %d", got, n, contextRunes)
	}
}

func TestIsRefusal(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"I'm sorry, but I can't help with that.", true},
		{"I’m sorry, but I can’t assist with that request.", true},
		{"  **I cannot translate this content.**", true},
		{"As an AI language model, I cannot provide that.", true},
		{"Sorry, I can't help with this.", true},
		{"The minister said: I cannot accept this.", false},
		{"TITLE: The war\nBODY:\nThe army said it struck targets.", false},
		{"I'm sorry " + strings.Repeat("to say that the talks went on ", 30), false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isRefusal(tt.text); got != tt.want {
			t.Errorf("isRefusal(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}

// TestTranslateMaxTokens pins max_tokens, which is part of every cache key:
// twice the estimate of the title and body, plus 256.
func TestTranslateMaxTokens(t *testing.T) {
	for _, in := range []prompts.TranslateInput{{}, {Title: "عنوان", Body: ar}, {Body: paragraphs(3, 500)}} {
		if got, want := translateMaxTokens(in), 2*EstimateTokens(in.Title+"\n"+in.Body)+256; got != want {
			t.Errorf("translateMaxTokens(%d+%d runes) = %d, want %d", utf8.RuneCountInString(in.Title), utf8.RuneCountInString(in.Body), got, want)
		}
	}
}

// TestLengthSpentOnReasoning checks a reply cut off with its budget spent
// on hidden reasoning: splitting would spend each piece's smaller budget
// the same way, so the row fails at once, saying why, after one request.
func TestLengthSpentOnReasoning(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content func(full string) string
		split   bool
	}{
		{"nothing written", func(string) string { return "" }, false},
		{"a few words written", func(full string) string { return full[:20] }, false},
		{"most of the budget in the text", func(full string) string { return full }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, writeCSV(t, csvOf("a", "عنوان", paragraphs(2, 400))))
			c := &recorder{reply: func(req Request) Reply {
				rep := modelReply(req)
				if req.Step == StepTranslate && req.Part == 0 && strings.Contains(req.Messages[1].Content, "عنوان") {
					// The whole article: cut off, its 400 completion
					// tokens spent as the case says.
					rep.FinishReason = "length"
					rep.Content = tt.content(rep.Content)
					rep.Usage.CompletionTokens = len(rep.Content)/4 + 1
					if !tt.split {
						rep.Usage.CompletionTokens = 400
					}
				}
				return rep
			}}
			_, sink, err := runWith(t, context.Background(), opts, c)
			if err != nil {
				t.Fatal(err)
			}
			r := sink.rows[0]
			n := len(c.byStep(StepTranslate))
			if tt.split {
				if n < 3 {
					t.Errorf("%d translation requests, want the text split and asked again", n)
				}
				return
			}
			if n != 1 || r.Status != StatusFailed || !strings.HasPrefix(r.Error, "truncated:") || !strings.Contains(r.Error, "--reasoning-tokens") {
				t.Errorf("%d translation requests, row %s %q; want 1 and truncated: naming --reasoning-tokens", n, r.Status, r.Error)
			}
		})
	}
}
