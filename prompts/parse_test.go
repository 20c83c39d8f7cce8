package prompts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/prompts"
)

func TestParseTranslation(t *testing.T) {
	tests := []struct {
		name, reply, title, body string
	}{
		{"plain", "TITLE: Minister visits Tunis\nBODY:\nThe minister arrived.\nHe left.",
			"Minister visits Tunis", "The minister arrived.\nHe left."},
		{"paragraphs kept", "TITLE: T\nBODY:\nOne.\n\nTwo.\n\n\nThree.",
			"T", "One.\n\nTwo.\n\n\nThree."},
		{"whitespace around", "\n\n  TITLE: T  \n\nBODY:\n\n\nOne.\nTwo.\n\n  \n",
			"T", "One.\nTwo."},
		{"trailing spaces on lines", "TITLE: T\nBODY:\nOne.   \nTwo.\t\n",
			"T", "One.\nTwo."},
		{"indentation kept", "TITLE: T\nBODY:\nOne.\n  - a list item",
			"T", "One.\n  - a list item"},
		{"CRLF", "TITLE: T\r\nBODY:\r\nOne.\r\n\r\nTwo.\r\n",
			"T", "One.\n\nTwo."},
		{"bold markers", "**TITLE:** T\n**BODY:**\nOne.",
			"T", "One."},
		{"bold word, colon outside", "**Title**: T\n**Body**:\nOne.",
			"T", "One."},
		{"bold around the whole title line", "**TITLE: T**\nBODY:\nOne.",
			"T", "One."},
		{"bold title text kept", "TITLE: **T**\nBODY:\nOne.",
			"**T**", "One."},
		{"headers", "## TITLE: T\n### BODY:\nOne.",
			"T", "One."},
		{"header and bold", "# **TITLE:** T\n## **BODY:**\nOne.",
			"T", "One."},
		{"lower case", "title: T\nbody:\nOne.",
			"T", "One."},
		{"mixed case, space before colon", "Title : T\nBody :\nOne.",
			"T", "One."},
		{"body on the marker line", "TITLE: T\nBODY: One.\nTwo.",
			"T", "One.\nTwo."},
		{"bold body marker with text", "TITLE: T\n**BODY:** One.\nTwo.",
			"T", "One.\nTwo."},
		{"empty title", "TITLE:\nBODY:\nOne.",
			"", "One."},
		{"empty bold title", "**TITLE:**\n**BODY:**\nOne.",
			"", "One."},
		{"title on the next line", "TITLE:\nT\n\nBODY:\nOne.",
			"T", "One."},
		{"preamble", "Here is the translation:\n\nTITLE: T\nBODY:\nOne.",
			"T", "One."},
		{"code fence", "```\nTITLE: T\nBODY:\nOne.\n\nTwo.\n```\n",
			"T", "One.\n\nTwo."},
		{"code fence with language", "```text\nTITLE: T\nBODY:\nOne.\n```",
			"T", "One."},
		{"later markers are body text", "TITLE: T\nBODY:\nTitle: a film.\nBody: of evidence.",
			"T", "Title: a film.\nBody: of evidence."},
		{"unicode kept", "TITLE: Najib Ayed\nBODY:\n\"Cinema Cinema\" — Ayed’s «show» (أيّام).",
			"Najib Ayed", "\"Cinema Cinema\" — Ayed’s «show» (أيّام)."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, body, err := prompts.ParseTranslation(tt.reply)
			if err != nil {
				t.Fatalf("ParseTranslation(%q): %v", tt.reply, err)
			}
			if title != tt.title {
				t.Errorf("title=%q, want %q", title, tt.title)
			}
			if body != tt.body {
				t.Errorf("body=%q, want %q", body, tt.body)
			}
		})
	}
}

func TestParseTranslationErrors(t *testing.T) {
	tests := []struct {
		name, reply string
		want        error
	}{
		{"empty reply", "", prompts.ErrNoMarkers},
		{"blank reply", " \n\t\n", prompts.ErrNoMarkers},
		{"no markers", "The minister arrived in Tunis.", prompts.ErrNoMarkers},
		{"no TITLE:", "BODY:\nOne.", prompts.ErrNoMarkers},
		{"no BODY:", "TITLE: T\nOne.", prompts.ErrNoMarkers},
		{"BODY: before TITLE:", "BODY:\nOne.\nTITLE: T", prompts.ErrNoMarkers},
		{"no colon", "TITLE T\nBODY\nOne.", prompts.ErrNoMarkers},
		{"marker inside a word", "Subtitle: T\nBODY:\nOne.", prompts.ErrNoMarkers},
		{"marker mid-line", "The TITLE: T\nBODY:\nOne.", prompts.ErrNoMarkers},
		{"empty body", "TITLE: T\nBODY:", prompts.ErrEmptyBody},
		{"blank body", "TITLE: T\nBODY:   \n\n \t\n", prompts.ErrEmptyBody},
		{"empty body in a code fence", "```\nTITLE: T\nBODY:\n```", prompts.ErrEmptyBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			title, body, err := prompts.ParseTranslation(tt.reply)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseTranslation(%q)=%q, %q, %v; want error %v", tt.reply, title, body, err, tt.want)
			}
			if err.Error() == tt.want.Error() {
				t.Errorf("error %q is the bare sentinel, want context", err)
			}
		})
	}
}

func TestParseKeyPoints(t *testing.T) {
	tests := []struct {
		name, reply string
		want        []string
	}{
		{"plain", `{"key_points": ["One.", "Two."]}`, []string{"One.", "Two."}},
		{"code fence", "```json\n{\"key_points\": [\"One.\", \"Two.\"]}\n```", []string{"One.", "Two."}},
		{"text around", "Here they are:\n{\"key_points\": [\"One.\"]}\nHope this helps.", []string{"One."}},
		{"points trimmed", `{"key_points": ["  One.\n", "\tTwo. "]}`, []string{"One.", "Two."}},
		{"braces in points", `Sure: {"key_points": ["A {b} c.", "d}"]} (done)`, []string{"A {b} c.", "d}"}},
		{"escapes and unicode", `{"key_points": ["Ayed said \"soon\".", "أيّام \u2014 x"]}`, []string{`Ayed said "soon".`, "أيّام — x"}},
		{"other members ignored", `{"key_points": ["One."], "language": "en"}`, []string{"One."}},
		{"empty array: the caller checks the count", `{"key_points": []}`, []string{}},
		{"count not checked", `{"key_points": ["1.", "2.", "3.", "4.", "5.", "6.", "7."]}`, []string{"1.", "2.", "3.", "4.", "5.", "6.", "7."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prompts.ParseKeyPoints(tt.reply)
			if err != nil {
				t.Fatalf("ParseKeyPoints(%q): %v", tt.reply, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseKeyPoints(%q) mismatch (-want +got):\n%s", tt.reply, diff)
			}
		})
	}
}

func TestParseKeyPointsErrors(t *testing.T) {
	tests := []struct {
		name, reply string
		// wantErr is what the error must say was wrong.
		wantErr string
	}{
		{"empty reply", "", "no JSON object"},
		{"prose", "The minister arrived.", "no JSON object"},
		{"a bare array", `["One.", "Two."]`, "no JSON object"},
		{"invalid JSON", `{"key_points": ["One.",]}`, "decode JSON object"},
		{"truncated", `{"key_points": ["One.", "Tw`, "no JSON object"},
		{"no key_points", `{"points": ["One."]}`, "no key_points member"},
		{"key_points null", `{"key_points": null}`, "key_points is null"},
		{"key_points a string", `{"key_points": "One. Two."}`, "key_points is a string"},
		{"key_points an object", `{"key_points": {"1": "One."}}`, "key_points is an object"},
		{"a number item", `{"key_points": ["One.", 2]}`, "key_points[1] is a number"},
		{"a null item", `{"key_points": [null, "Two."]}`, "key_points[0] is null"},
		{"an object item", `{"key_points": ["One.", {"text": "Two."}]}`, "key_points[1] is an object"},
		{"an empty item", `{"key_points": ["One.", ""]}`, "key_points[1] is empty"},
		{"a blank item", `{"key_points": ["One.", "Two.", " \n\t"]}`, "key_points[2] is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prompts.ParseKeyPoints(tt.reply)
			if !errors.Is(err, prompts.ErrInvalidKeyPoints) {
				t.Fatalf("ParseKeyPoints(%q)=%q, %v; want ErrInvalidKeyPoints", tt.reply, got, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseRoundTrip checks that a reply written as the templates ask is
// read back: the format in the prompt and the parser agree.
func TestParseRoundTrip(t *testing.T) {
	s, err := prompts.Load("")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Translate(prompts.TranslateInput{Title: articleTitle, Body: articleBody})
	if err != nil {
		t.Fatal(err)
	}
	const format = "TITLE: <English title>\nBODY:\n<English body, paragraphs separated as in the source>"
	if !strings.Contains(msgs[0].Content, format) {
		t.Fatalf("system message lacks %q", format)
	}
	reply := strings.NewReplacer(
		"<English title>", articleTitleEN,
		"<English body, paragraphs separated as in the source>", articleTranslation,
	).Replace(format)
	title, body, err := prompts.ParseTranslation(reply)
	if err != nil {
		t.Fatal(err)
	}
	if title != articleTitleEN || body != articleTranslation {
		t.Errorf("ParseTranslation=%q, %q, want %q, %q", title, body, articleTitleEN, articleTranslation)
	}

	kp, err := s.KeyPoints(prompts.KeyPointsInput{Title: articleTitleEN, Translation: articleTranslation, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	const example = `{"key_points": ["First key point.", "Second key point."]}`
	if !strings.Contains(kp[0].Content, example) {
		t.Fatalf("key points system message lacks the example %s", example)
	}
	points, err := prompts.ParseKeyPoints(example)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"First key point.", "Second key point."}, points); diff != "" {
		t.Errorf("ParseKeyPoints(example) mismatch (-want +got):\n%s", diff)
	}
}
