package output

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The output formats, as --format names them.
const (
	FormatCSV   = "csv"
	FormatJSON  = "json"
	FormatJSONL = "jsonl"
)

// formats lists the valid output formats, in the order help texts show them.
var formats = []string{FormatCSV, FormatJSON, FormatJSONL}

var validFormats = strings.Join(formats, ", ")

// Errors returned by ParseFormats, Open and the Writer's methods.
var (
	ErrUnknownFormat = errors.New("unknown output format")
	ErrNoFormat      = errors.New("no output format")
	ErrNoDir         = errors.New("no output directory")
	ErrClosed        = errors.New("output already closed")
)

// ParseFormats parses a comma-separated list of formats such as
// "csv,json". Names are trimmed and lowercased, empty items and duplicates
// are dropped, and the order is kept. It returns an error wrapping
// ErrUnknownFormat for a name other than csv, json and jsonl, and one wrapping
// ErrNoFormat when no name is left.
func ParseFormats(s string) ([]string, error) {
	return normalizeFormats(strings.Split(s, ","))
}

func normalizeFormats(in []string) ([]string, error) {
	var out []string
	for _, f := range in {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" || slices.Contains(out, f) {
			continue
		}
		if !slices.Contains(formats, f) {
			return nil, fmt.Errorf("%w %q (valid: %s)", ErrUnknownFormat, f, validFormats)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w given (valid: %s)", ErrNoFormat, validFormats)
	}
	return out, nil
}
