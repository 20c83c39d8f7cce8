package prompts

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Errors of the reply parsers; they are returned wrapped, with what was
// wrong.
var (
	// ErrNoMarkers means a translation reply lacks the TITLE: or the BODY:
	// line.
	ErrNoMarkers = errors.New("translation reply lacks its markers")
	// ErrEmptyBody means a translation reply has the markers but no body.
	ErrEmptyBody = errors.New("translation reply has an empty body")
	// ErrInvalidKeyPoints means a key points reply is not a JSON object
	// with a key_points array of non-empty strings.
	ErrInvalidKeyPoints = errors.New("invalid key points reply")
)

// KeyPointsSchema is the JSON schema of the key points reply, for servers
// that support structured outputs.
var KeyPointsSchema = Schema{
	Name: "key_points",
	JSON: json.RawMessage(`{"type":"object","properties":{"key_points":{"type":"array","items":{"type":"string"}}},"required":["key_points"],"additionalProperties":false}`),
}

// marker matches a TITLE: or BODY: line, in any letter case, with optional
// markdown around it: "## TITLE:", "**TITLE:**", "**Title**:", "*BODY:*".
// Group 1 is an emphasis opened before the word, group 2 the word, group 3
// an emphasis closed between the word and the colon, group 4 the rest of
// the line.
var marker = regexp.MustCompile(`(?i)^[ \t]*(?:#{1,6}[ \t]*)?([*_]{0,3})[ \t]*(title|body)[ \t]*([*_]{0,3})[ \t]*:(.*)$`)

// ParseTranslation reads a reply in the format that the translate template
// asks for:
//
//	TITLE: <English title>
//	BODY:
//	<English body>
//
// It tolerates whitespace around the reply, a preamble before TITLE:, a
// code fence around the reply, markdown headers or emphasis around the
// markers, any letter case, a title on the lines after TITLE: and body text
// on the BODY: line. The body keeps its inner newlines; blank lines at its
// start and end and whitespace at the end of its lines are removed. The
// title may be empty.
//
// A reply without a TITLE: line followed by a BODY: line is an error that
// wraps ErrNoMarkers; an empty body wraps ErrEmptyBody.
func ParseTranslation(reply string) (title, body string, err error) {
	lines := strings.Split(reply, "\n")
	for i := range lines {
		lines[i] = strings.TrimRightFunc(lines[i], unicode.IsSpace)
	}

	ti, tm := findMarker(lines, 0, "title")
	if ti < 0 {
		return "", "", fmt.Errorf("%w: no TITLE: line in %s", ErrNoMarkers, excerpt(reply))
	}
	bi, bm := findMarker(lines, ti+1, "body")
	if bi < 0 {
		return "", "", fmt.Errorf("%w: no BODY: line after TITLE: in %s", ErrNoMarkers, excerpt(reply))
	}
	fenced := false
	for _, l := range lines[:ti] {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = true
		}
	}

	// The title: the rest of the TITLE: line and any lines up to BODY:.
	var parts []string
	if t := markerRest(tm); t != "" {
		parts = append(parts, t)
	}
	for _, l := range lines[ti+1 : bi] {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	title = strings.Join(parts, " ")

	// The body: the rest of the BODY: line and every line after it.
	bodyLines := append([]string{markerRest(bm)}, lines[bi+1:]...)
	for len(bodyLines) > 0 && strings.TrimSpace(bodyLines[0]) == "" {
		bodyLines = bodyLines[1:]
	}
	for len(bodyLines) > 0 && strings.TrimSpace(bodyLines[len(bodyLines)-1]) == "" {
		bodyLines = bodyLines[:len(bodyLines)-1]
	}
	// A code fence opened before TITLE: closes after the body.
	if n := len(bodyLines); fenced && n > 0 && strings.TrimSpace(bodyLines[n-1]) == "```" {
		bodyLines = bodyLines[:n-1]
		for len(bodyLines) > 0 && strings.TrimSpace(bodyLines[len(bodyLines)-1]) == "" {
			bodyLines = bodyLines[:len(bodyLines)-1]
		}
	}
	body = strings.Join(bodyLines, "\n")
	if body == "" {
		return "", "", fmt.Errorf("%w: nothing after BODY: in %s", ErrEmptyBody, excerpt(reply))
	}
	return title, body, nil
}

// findMarker returns the index of the first line from start on that is the
// marker word (title or body), and the marker's submatches; -1 if none is.
func findMarker(lines []string, start int, word string) (int, []string) {
	for i := start; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m != nil && strings.EqualFold(m[2], word) {
			return i, m
		}
	}
	return -1, nil
}

// markerRest returns the text after a marker, trimmed, without the
// emphasis that closes the marker: "**TITLE:** text" and "**TITLE: text**"
// both give "text".
func markerRest(m []string) string {
	rest := strings.TrimSpace(m[4])
	if open := m[1]; open != "" && m[3] == "" {
		if strings.HasPrefix(rest, open) {
			rest = rest[len(open):]
		} else {
			rest = strings.TrimSuffix(rest, open)
		}
	}
	return strings.TrimSpace(rest)
}

// excerpt quotes the start of a reply for an error message.
func excerpt(reply string) string {
	const max = 60
	r := []rune(strings.TrimSpace(reply))
	if len(r) == 0 {
		return "an empty reply"
	}
	if len(r) > max {
		return fmt.Sprintf("reply %q...", string(r[:max]))
	}
	return fmt.Sprintf("reply %q", string(r))
}

// ParseKeyPoints reads a reply of the form {"key_points": ["...", ...]}. The
// object may be wrapped in a code fence or have text around it: the text
// from the first "{" to the last "}" is decoded. Each point is trimmed of
// surrounding whitespace; other members of the object are ignored.
//
// Nothing is dropped silently: no object, no key_points array, an item that
// is not a string or a point that is empty is an error that wraps
// ErrInvalidKeyPoints. The number of points is not checked; that is the
// caller's business.
func ParseKeyPoints(reply string) ([]string, error) {
	start, end := strings.Index(reply, "{"), strings.LastIndex(reply, "}")
	if start < 0 || end < start {
		return nil, fmt.Errorf("%w: no JSON object in %s", ErrInvalidKeyPoints, excerpt(reply))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(reply[start:end+1]), &obj); err != nil {
		return nil, fmt.Errorf("%w: decode JSON object: %v", ErrInvalidKeyPoints, err)
	}
	raw, ok := obj["key_points"]
	if !ok {
		return nil, fmt.Errorf("%w: no key_points member", ErrInvalidKeyPoints)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, fmt.Errorf("%w: key_points is %s, want an array", ErrInvalidKeyPoints, jsonKind(raw))
	}
	points := make([]string, 0, len(items))
	for i, item := range items {
		var p string
		if !isJSONString(item) || json.Unmarshal(item, &p) != nil {
			return nil, fmt.Errorf("%w: key_points[%d] is %s, want a string", ErrInvalidKeyPoints, i, jsonKind(item))
		}
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%w: key_points[%d] is empty", ErrInvalidKeyPoints, i)
		}
		points = append(points, p)
	}
	return points, nil
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(raw json.RawMessage) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "missing"
	}
	switch s[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// isJSONString reports whether raw is a JSON string (json.Unmarshal would
// leave a string untouched for null).
func isJSONString(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s != "" && s[0] == '"'
}
