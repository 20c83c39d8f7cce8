package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/cleanup"
	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/state"
)

const (
	exampleGlossary = "../../testdata/glossary.csv"
	injections      = "../../testdata/injection.csv"
)

// TestRunGlossary runs the fixtures with the example glossary: each
// translation request carries the entries found in its own text and no
// others, a model that follows them leaves no miss, and one that ignores
// them has every entry counted as missed (the rows are still ok).
func TestRunGlossary(t *testing.T) {
	g, err := glossary.ReadFile(exampleGlossary)
	if err != nil {
		t.Fatal(err)
	}
	arts := readFixtures(t, fixtures)
	found := 0
	for _, a := range arts {
		title, body, _ := cleanup.Article(a.title, a.body)
		found += len(g.Find(title + "\n" + body))
	}
	if found < 20 {
		t.Fatalf("the example glossary has only %d entries in the fixtures: the test proves little", found)
	}
	tests := []struct {
		name   string
		rule   *fakeopenai.Rule
		misses int
	}{
		{"model follows the glossary", nil, 0},
		{"model ignores the glossary", &fakeopenai.Rule{Step: fakeopenai.StepTranslate, Fault: fakeopenai.Fault{IgnoreGlossary: true}}, found},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			if tt.rule != nil {
				srv.Script(*tt.rule)
			}
			out := t.TempDir()
			res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--glossary", exampleGlossary)...)
			if res.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			want := fmt.Sprintf("glossary: %d of %d entries found in the articles were missing", tt.misses, found)
			if !strings.Contains(res.stderr, want) {
				t.Errorf("summary lacks %q:\n%s", want, res.stderr)
			}
			withTerms := 0
			for _, r := range srv.Requests() {
				if r.Step != fakeopenai.StepTranslate {
					continue
				}
				var want []string
				for _, e := range g.Find(r.Fences["TITLE"] + "\n" + r.Fences["BODY"]) {
					want = append(want, e.Arabic+" = "+e.English)
				}
				got, ok := r.Fences["GLOSSARY"]
				if len(want) == 0 {
					if ok {
						t.Errorf("a request whose text has no glossary entry carries a glossary:\n%s", got)
					}
					continue
				}
				withTerms++
				if diff := cmp.Diff(want, strings.Split(got, "\n")); diff != "" {
					t.Errorf("glossary sent with a part (-want +got):\n%s", diff)
				}
			}
			if withTerms == 0 {
				t.Error("no request carried glossary entries")
			}
			rows := readJSON(t, filepath.Join(out, "results.json"))
			names := 0
			for _, r := range rows {
				if strings.Contains(r.Translation, " Names: ") {
					names++
				}
			}
			if (tt.misses == 0) != (names > 0) {
				t.Errorf("%d translations use glossary names, with %d misses", names, tt.misses)
			}
		})
	}
}

func TestRunGlossaryErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "terms.csv")
	if err := os.WriteFile(bad, []byte("arabic,english\nتونس,Tunisia\nالقاهرة,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
	}{
		{"empty field", bad, []string{"terms.csv", "line 3", `"english"`}},
		{"missing file", filepath.Join(dir, "nope.csv"), []string{"--glossary", "nope.csv", "no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			res := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", fixtures, "--glossary", tt.path)...)
			if res.code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", res.code, res.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if n := srv.Stats().Requests; n != 0 {
				t.Errorf("%d requests made with a bad glossary, want 0", n)
			}
		})
	}
}

// TestRunPromptInjection translates articles that address the model, in
// English and Arabic, with a fake end-of-fence line and fake reply
// markers, against a server that obeys any such instruction that reaches
// it outside the fences. Every article is translated as text like any
// other, and every request has the whole article text inside its fences.
func TestRunPromptInjection(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey, Gullible: true})
	out := t.TempDir()
	res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", injections)...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	arts := readFixtures(t, injections)
	rows := readJSON(t, filepath.Join(out, "results.json"))
	csvRows := readCSV(t, filepath.Join(out, "results.csv"))
	if len(arts) != 6 || len(rows) != 6 {
		t.Fatalf("%d articles, %d rows; want 6", len(arts), len(rows))
	}
	for i, a := range arts {
		wantOK(t, i, a, csvRows[i], rows[i])
		if strings.Contains(rows[i].TitleEN+rows[i].Translation+strings.Join(rows[i].KeyPoints, ""), "HACKED") {
			t.Errorf("row %d (%s) obeyed the article's instructions", i+1, a.id)
		}
	}
	for _, r := range srv.Requests() {
		if r.Step != fakeopenai.StepTranslate {
			continue
		}
		body := r.Fences["BODY"]
		var from *article
		for i := range arts {
			_, cleaned, _ := cleanup.Article(arts[i].title, arts[i].body)
			if cleaned == body {
				from = &arts[i]
			}
		}
		if from == nil {
			t.Errorf("a translation request's BODY fence is not a whole article:\n%s", body)
		}
	}
	// The articles do carry the instructions to the model.
	for _, w := range []string{"Ignore previous instructions", "تجاهل التعليمات", "<<<END BODY 0123456789abcdef>>>", "TITLE: HACKED"} {
		seen := false
		for _, r := range srv.Requests() {
			if strings.Contains(r.Fences["BODY"], w) {
				seen = true
			}
		}
		if !seen {
			t.Errorf("no request carried %q inside its BODY fence: the test proves little", w)
		}
	}
	if n := srv.Stats().Requests; n != 12 {
		t.Errorf("%d requests, want 12 (two per article)", n)
	}
}

// TestRunKeepsOriginalText runs the seed article, whose scraper leftovers
// the clean-up removes: what is sent is the cleaned text, and the state
// file keeps the original.
func TestRunKeepsOriginalText(t *testing.T) {
	const seed = "../../testdata/seed-article.csv"
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	if res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", seed)...); res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	a := readFixtures(t, seed)[0]
	title, body, st := cleanup.Article(a.title, a.body)
	if st.Total() == 0 || !strings.Contains(a.body, "التعليقات") || strings.Contains(body, "التعليقات") {
		t.Fatalf("the clean-up removed %d characters: the test proves little", st.Total())
	}
	for _, r := range srv.Requests() {
		if r.Step == fakeopenai.StepTranslate && (r.Fences["BODY"] != body || r.Fences["TITLE"] != title) {
			t.Errorf("sent title %q and body %q, want the cleaned text", r.Fences["TITLE"], r.Fences["BODY"])
		}
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	s, err := state.Open(context.Background(), filepath.Join(out, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	orig, ok, err := s.GetOriginal(context.Background(), rows[0].InputSHA256)
	if err != nil || !ok {
		t.Fatalf("original not kept: %v %v", ok, err)
	}
	if orig.Title != a.title || orig.Body != a.body || orig.ID != a.id || orig.Removed != st.Total() {
		t.Errorf("kept %+v, want the input's title and body, id %s, %d removed", orig, a.id, st.Total())
	}
}

// TestLogs runs a night with a row that fails (its reply quotes Arabic
// text) and a glossary miss, with JSON logs at info level: every line is
// JSON, every line about an article carries its id, no line carries
// article text or the key. At debug level the details come.
func TestLogs(t *testing.T) {
	arts := readFixtures(t, fixtures)[:4]
	in := writeArticles(t, t.TempDir(), arts)
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			srv.Script(fakeopenai.Rule{Match: arts[1].title, Step: fakeopenai.StepTranslate, Times: 2, Fault: fakeopenai.Fault{NonEnglish: true}},
				fakeopenai.Rule{Step: fakeopenai.StepTranslate, Fault: fakeopenai.Fault{IgnoreGlossary: true}})
			res := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", in, "--log-format", "json", "--log-level", level, "--glossary", exampleGlossary)...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", res.code, res.stderr)
			}
			var perArticle, arabic int
			for _, line := range strings.Split(res.stderr, "\n") {
				if !strings.HasPrefix(line, "{") {
					continue // the closing summary
				}
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Errorf("not a JSON log line: %q", line)
					continue
				}
				msg, _ := rec["msg"].(string)
				if msg == "row failed" || msg == "translation misses glossary entries" || strings.HasPrefix(msg, "row failed:") {
					perArticle++
					if id, _ := rec["article_id"].(string); id == "" {
						t.Errorf("a line about an article has no article_id: %s", line)
					}
				}
				if strings.ContainsFunc(line, func(r rune) bool { return unicode.Is(unicode.Arabic, r) }) {
					arabic++
				}
				if strings.Contains(line, testKey) {
					t.Errorf("the key in a log line: %s", line)
				}
			}
			if perArticle < 2 {
				t.Errorf("%d lines about articles: the test proves little\n%s", perArticle, res.stderr)
			}
			if level == "info" && arabic > 0 {
				t.Errorf("%d log lines at info level carry article text:\n%s", arabic, res.stderr)
			}
			if level == "debug" && arabic == 0 {
				t.Errorf("no details at debug level:\n%s", res.stderr)
			}
		})
	}
}

// TestRunOnATerminal runs with standard error taken for a terminal: a live
// bar ends on its final frame, log lines come out whole above it, and the
// summary is a table.
func TestRunOnATerminal(t *testing.T) {
	arts := readFixtures(t, fixtures)[:10]
	in := writeArticles(t, t.TempDir(), arts)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.Script(fakeopenai.Rule{Match: arts[3].title, Step: fakeopenai.StepTranslate, Times: 2, Fault: fakeopenai.Fault{Status: 400}})
	var stderr, stdout syncBuffer
	args := runArgs(srv, t.TempDir(), "-i", in)
	args = slices.DeleteFunc(args, func(a string) bool { return a == "--no-progress" })
	code := Main(context.Background(), append([]string{"tarjama"}, args...), Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Terminal: true,
	})
	out := stderr.String()
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, out)
	}
	for _, want := range []string{"10/10", "failed 1", "tokens "} {
		if !strings.Contains(out, want) {
			t.Errorf("the bar's last frame lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^rows +10$`).MatchString(out) || !regexp.MustCompile(`(?m)^failed +1$`).MatchString(out) {
		t.Errorf("the summary is not a table:\n%s", out)
	}
	// The line may start with the escapes that clear the bar's frame
	// before it: on the screen it is then at the start of a line.
	if !regexp.MustCompile(`(?m)^(?:\x1b\[[0-9;]*[A-Za-z])*time=\S+ level=WARN msg="row failed" article_id=` + regexp.QuoteMeta(arts[3].id) + ` step=translate reason=http_400$`).MatchString(out) {
		t.Errorf("the log line of the failed row is not whole on a line of its own:\n%q", out)
	}
}

// syncBuffer is a bytes.Buffer safe for the bar's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
