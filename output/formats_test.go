package output

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFormats(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
		inErr   []string // substrings of the error message
	}{
		{name: "one", in: "csv", want: []string{"csv"}},
		{name: "two", in: "csv,json", want: []string{"csv", "json"}},
		{name: "all, order kept", in: "jsonl,csv,json", want: []string{"jsonl", "csv", "json"}},
		{name: "spaces", in: " csv , jsonl ", want: []string{"csv", "jsonl"}},
		{name: "case", in: "CSV,Json", want: []string{"csv", "json"}},
		{name: "duplicates", in: "csv,json,csv, json", want: []string{"csv", "json"}},
		{name: "empty items", in: "csv,,json,", want: []string{"csv", "json"}},
		{name: "empty", in: "", wantErr: ErrNoFormat, inErr: []string{"csv, json, jsonl"}},
		{name: "only commas", in: " , ", wantErr: ErrNoFormat},
		{name: "unknown", in: "csv,xlsx", wantErr: ErrUnknownFormat, inErr: []string{`"xlsx"`, "csv, json, jsonl"}},
		{name: "near miss", in: "json-l", wantErr: ErrUnknownFormat, inErr: []string{`"json-l"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFormats(tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseFormats(%q) error=%v, want %v", tt.in, err, tt.wantErr)
				}
				for _, s := range tt.inErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFormats(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFormats(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}
