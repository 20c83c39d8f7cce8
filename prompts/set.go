package prompts

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

// Template names, one file each: NAME.tmpl.
const (
	nameTranslate = "translate"
	nameKeyPoints = "key_points"
	nameReduce    = "reduce"
)

// originEmbedded is the origin of a template built into the binary.
const originEmbedded = "embedded"

//go:embed templates/*.tmpl
var embedded embed.FS

// samples are the inputs each template is test-executed on at Load, so a
// template that references an unknown field fails there, naming its file,
// rather than on the first article. A filled input and a zero one are tried,
// to take both arms of an {{if .Title}}; a filled input must also give
// non-empty messages.
var samples = map[string]struct{ filled, zero any }{
	nameTranslate: {
		filled: TranslateInput{Title: "عنوان", Body: "نص المقال."},
		zero:   TranslateInput{},
	},
	nameKeyPoints: {
		filled: KeyPointsInput{Title: "Title", Translation: "Text of the article.", Count: 5},
		zero:   KeyPointsInput{},
	},
	nameReduce: {
		filled: ReduceInput{Title: "Title", Notes: "A note on part 1.\nA note on part 2.", Count: 5},
		zero:   ReduceInput{},
	},
}

// Set is a parsed set of templates, one per name in Names. It is immutable
// and safe for concurrent use.
type Set struct {
	byName map[string]*tmpl
}

type tmpl struct {
	source string
	origin string // originEmbedded or the override file's path
	t      *template.Template
}

// TranslateInput is the data of the translate template.
type TranslateInput struct {
	Title, Body string
	// Part and Parts number the parts of a long article (Part counts from
	// 1); Parts is 0 or 1 for an article sent whole.
	Part, Parts int
	// Context is the end of the part before, for the model to read and not
	// translate; empty for the first part.
	Context string
	// Terms are the glossary entries found in this text.
	Terms []Term
}

// Term is one glossary entry: an Arabic name or term and the English form
// the translation must use.
type Term struct {
	Arabic, English string
}

// KeyPointsInput is the data of the key_points template. Title and
// Translation are English; Count is how many key points to ask for. Part
// and Parts, when Parts > 1, ask for notes on one part of a long article.
type KeyPointsInput struct {
	Title, Translation string
	Count              int
	Part, Parts        int
}

// ReduceInput is the data of the reduce template: the key points of a long
// article from the notes on its parts, one per line.
type ReduceInput struct {
	Title, Notes string
	Count        int
}

// Load parses the embedded templates. When dir is not empty, a translate.tmpl
// or key_points.tmpl found in dir replaces the embedded file of that name;
// the other stays embedded. Any other *.tmpl file in dir is an error (a
// misspelt override would otherwise be ignored), as is a missing dir. Files
// not ending in .tmpl are ignored.
//
// Each file must define the templates "system" and "user". A file that does
// not, that fails to parse, or that fails to execute on sample inputs (an
// unknown field, an empty message) is an error naming the file.
func Load(dir string) (*Set, error) {
	sources := make(map[string]string, len(samples))
	origins := make(map[string]string, len(samples))
	for name := range samples {
		b, err := embedded.ReadFile("templates/" + name + ".tmpl")
		if err != nil {
			return nil, fmt.Errorf("read embedded template: %w", err)
		}
		sources[name], origins[name] = string(b), originEmbedded
	}

	if dir != "" {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read template dir: %w", err)
		}
		for _, e := range entries {
			file := e.Name()
			if !strings.HasSuffix(file, ".tmpl") {
				continue
			}
			path := filepath.Join(dir, file)
			name := strings.TrimSuffix(file, ".tmpl")
			if _, ok := samples[name]; !ok {
				return nil, fmt.Errorf("unknown template %s: want translate.tmpl, key_points.tmpl or reduce.tmpl", path)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read template: %w", err)
			}
			sources[name], origins[name] = string(b), path
		}
	}

	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	// A fixed order, so the same bad files give the same error.
	sort.Strings(names)
	s := &Set{byName: make(map[string]*tmpl, len(sources))}
	for _, name := range names {
		t, err := parse(name, sources[name])
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", describe(name, origins[name]), err)
		}
		s.byName[name] = &tmpl{source: sources[name], origin: origins[name], t: t}
	}
	for _, name := range names {
		t := s.byName[name]
		_, err := render(t, name, samples[name].filled, true)
		if err == nil {
			_, err = render(t, name, samples[name].zero, false)
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", describe(name, t.origin), err)
		}
	}
	return s, nil
}

// describe names a template file for errors: its path, or the embedded file.
func describe(name, origin string) string {
	if origin == originEmbedded {
		return "embedded templates/" + name + ".tmpl"
	}
	return origin
}

// funcs are the functions templates may call.
var funcs = template.FuncMap{"fence": Fence, "terms": formatTerms}

// formatTerms writes glossary entries one per line, "arabic = english".
func formatTerms(terms []Term) string {
	lines := make([]string, len(terms))
	for i, t := range terms {
		lines[i] = t.Arabic + " = " + t.English
	}
	return strings.Join(lines, "\n")
}

func parse(name, src string) (*template.Template, error) {
	// The template is named after its file, so text/template's errors read
	// "template: translate.tmpl:3: ...".
	t, err := template.New(name + ".tmpl").
		Option("missingkey=error").
		Funcs(funcs).
		Parse(src)
	if err != nil {
		return nil, err
	}
	for _, part := range []string{"system", "user"} {
		if t.Lookup(part) == nil {
			return nil, fmt.Errorf(`no {{define %q}}`, part)
		}
	}
	return t, nil
}

// Names returns the template names, sorted.
func (s *Set) Names() []string {
	names := make([]string, 0, len(s.byName))
	for name := range s.byName {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Source returns the text of the named template and where it came from:
// "embedded" or the path of the override file. An unknown name is an error
// that lists the known ones.
func (s *Set) Source(name string) (text, origin string, err error) {
	t, err := s.lookup(name)
	if err != nil {
		return "", "", err
	}
	return t.source, t.origin, nil
}

func (s *Set) lookup(name string) (*tmpl, error) {
	t, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("unknown template %q: want one of %s", name, strings.Join(s.Names(), ", "))
	}
	return t, nil
}

// Version returns the first 12 hex characters of a SHA-256 over the names
// and sources of all templates, in Names order. It changes when any template
// text changes, and not when an override repeats the embedded text.
func (s *Set) Version() string {
	h := sha256.New()
	for _, name := range s.Names() {
		src := s.byName[name].source
		// Length-prefixed, so no two sets hash the same input.
		fmt.Fprintf(h, "%d:%s\n%d:%s\n", len(name), name, len(src), src)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Translate renders the translate template.
func (s *Set) Translate(in TranslateInput) ([]Message, error) {
	return Render(s, nameTranslate, in)
}

// KeyPoints renders the key_points template. A Count below 1 is an error.
func (s *Set) KeyPoints(in KeyPointsInput) ([]Message, error) {
	if in.Count < 1 {
		return nil, fmt.Errorf("render %s: count %d: want at least 1", nameKeyPoints, in.Count)
	}
	return Render(s, nameKeyPoints, in)
}

// Reduce renders the reduce template. A Count below 1 is an error.
func (s *Set) Reduce(in ReduceInput) ([]Message, error) {
	if in.Count < 1 {
		return nil, fmt.Errorf("render %s: count %d: want at least 1", nameReduce, in.Count)
	}
	return Render(s, nameReduce, in)
}

// Render executes the "system" and "user" templates of the named template
// on data and returns them as a system and a user message, each trimmed of
// surrounding whitespace. An unknown name, a failed execution or an empty
// message is an error.
func Render(s *Set, name string, data any) ([]Message, error) {
	t, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	return render(t, name, data, true)
}

// render executes t on data; with nonEmpty, an empty message is an error.
func render(t *tmpl, name string, data any, nonEmpty bool) ([]Message, error) {
	msgs := make([]Message, 0, 2)
	for _, role := range []string{"system", "user"} {
		var buf bytes.Buffer
		if err := t.t.ExecuteTemplate(&buf, role, data); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		content := strings.TrimSpace(buf.String())
		if nonEmpty && content == "" {
			return nil, fmt.Errorf("render %s: %s message is empty", name, role)
		}
		msgs = append(msgs, Message{Role: role, Content: content})
	}
	return msgs, nil
}
