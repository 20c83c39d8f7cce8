package csvin

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// The readers' own errors are tested through jobs (the articles) and
// glossary; these are what only this package decides.
func TestErrorNames(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Msg: "m"}, "input: m"},
		{Error{What: "glossary", Msg: "m"}, "glossary: m"},
		{Error{Path: "t.csv", What: "glossary", Line: 2, Column: "english", ColumnIndex: 2, Msg: "m", Hint: "h"}, `t.csv line 2, column "english" (2): m; h`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestReaderLinesAndBOM(t *testing.T) {
	r := NewReader(strings.NewReader("\ufeffa,b\n\"x\ny\",z\n1,2\n"), "t.csv", "", "convert it")
	header, err := r.ReadHeader()
	if err != nil || header[0] != "a" {
		t.Fatalf("header %q, %v; want the BOM dropped", header, err)
	}
	if _, err := r.Read(); err != nil || r.Line(0) != 2 || r.Line(1) != 3 {
		t.Fatalf("first record: %v, lines %d and %d; want 2 and 3", err, r.Line(0), r.Line(1))
	}
	if _, err := r.Read(); err != nil || r.Line(0) != 4 {
		t.Fatalf("second record: %v, line %d; want 4", err, r.Line(0))
	}
	if _, err := r.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}
