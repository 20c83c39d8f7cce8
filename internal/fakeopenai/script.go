package fakeopenai

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Rule scripts a fault. Rules are checked in the order they were added, on
// every chat completion request that passed the API key check, the rate
// limits and could be decoded, and on every batch line as it is answered;
// the first rule that matches and has uses left fires. On a batch line the
// waiting and header fields of the Fault do nothing (see the package
// documentation).
type Rule struct {
	// Match restricts the rule to requests whose concatenated message
	// content contains Match. "" matches every request.
	Match string
	// Step restricts the rule to one kind of request: StepTranslate or
	// StepKeyPoints. "" matches every kind, unrecognised requests included.
	Step string
	// Times is how many requests the rule fires on; 0 means every time.
	// A rule whose Fault has FlexUnavailable only fires on (and only
	// counts) requests with service_tier "flex".
	Times int
	// Fault is what happens to the requests the rule fires on.
	Fault Fault
}

// Fault describes how a reply goes wrong. Waiting fields (Delay, Hold) come
// first and combine with anything else. Then the first of these that is set
// decides the reply: FlexUnavailable, Drop, HTMLBody, Status, InvalidJSON.
// Otherwise the reply is the normal one (with Options.Gullible, the reply to
// an injected instruction), altered by the content fields: first
// IgnoreGlossary, then the first of NonEnglish, BadKeyPoints and Short that
// applies (a gullible server's injected reply wins over the three), then the
// first of Refuse, RefusalField, RefuseText and Length, then
// Options.MaxOutputRunes and Truncate. The header fields (RetryAfter,
// RetryAfterMS, Header) are sent with any reply but Drop.
//
// A Fault with only waiting fields replies normally after the wait.
type Fault struct {
	// FlexUnavailable refuses a flex request as OpenAI does when the flex
	// tier has no capacity: 429 with the body
	// {"error":{"message":"Resource Unavailable","type":"invalid_request_error","param":null,"code":"resource_unavailable"}}.
	// The rule passes over requests without service_tier "flex", which
	// get the reply they would get without it.
	FlexUnavailable bool
	// Status makes the reply this HTTP status with an OpenAI error body,
	// {"error":{"message","type","param","code"}}.
	Status int
	// Code is error.code in the body, e.g. "insufficient_quota",
	// "rate_limit_exceeded", "invalid_api_key". "" gives a default per
	// status, or null.
	Code string
	// Type is error.type in the body; "" gives a default per status.
	Type string
	// Message is error.message in the body; "" gives a default per status.
	Message string
	// RetryAfter is the value of the Retry-After header ("2" or an HTTP
	// date); "" sends none.
	RetryAfter string
	// RetryAfterMS is the value of the retry-after-ms header; "" sends none.
	RetryAfterMS string
	// Header holds extra reply headers, e.g. x-ratelimit-remaining-requests.
	Header http.Header
	// HTMLBody makes the body "<html><body>502 Bad Gateway</body></html>"
	// with Content-Type text/html, as proxies send. The status is Status,
	// or 502 if Status is 0.
	HTMLBody bool
	// Drop closes the connection without a reply.
	Drop bool
	// Truncate sends status 200 and the Content-Length of the full normal
	// reply, then only the first half of the body, then closes the
	// connection.
	Truncate bool
	// InvalidJSON sends status 200 with the malformed body
	// {"id": "x", "choices": [
	InvalidJSON bool
	// Delay waits this long before replying; the wait ends early, without
	// a reply, when the request's context ends.
	Delay time.Duration
	// Hold blocks the reply until the channel is closed, then goes on; the
	// wait ends early, without a reply, when the request's context ends or
	// the server is closed. Use Server.WaitInFlight to know that requests
	// are held.
	Hold <-chan struct{}
	// Length sends the normal reply with finish_reason "length" and the
	// content cut to its first half (in runes).
	Length bool
	// NonEnglish sends a reply of the normal shape in Arabic: for a
	// translation "TITLE: عنوان\nBODY:\nهذا نص عربي", for key points the
	// asked JSON with Arabic sentences.
	NonEnglish bool
	// BadKeyPoints makes a key-points reply plain text ("Here are the
	// points: 1. ...") instead of the asked JSON. It has no effect on
	// translation requests, so pair it with Step: StepKeyPoints.
	BadKeyPoints bool
	// Refuse sends finish_reason "content_filter" with empty content.
	Refuse bool
	// RefuseText declines in text, as chat models do: finish_reason
	// "stop" and the content RefusalText ("I'm sorry, but I can't help
	// with that request."), with no TITLE or BODY markers and no JSON.
	RefuseText bool
	// RefusalField declines as structured outputs do: finish_reason
	// "stop", content "" and message.refusal RefusalMessage ("I'm sorry,
	// I cannot assist with that.").
	RefusalField bool
	// Short makes a translation reply only the first sentence of its first
	// paragraph, "TITLE: <title>\nBODY:\nThis is the English text of
	// paragraph 1 (<h8>).", as a model that summarised instead of
	// translating. It has no effect on key-points requests.
	Short bool
	// IgnoreGlossary makes a translation reply as if the request had no
	// GLOSSARY fence: no "Names: ..." sentences.
	IgnoreGlossary bool
}

// ruleState is a scripted rule and how often it fired.
type ruleState struct {
	Rule
	fired int
}

// matches reports whether the rule applies to a request and has uses left.
func (r *ruleState) matches(content, step, tier string) bool {
	if r.Times > 0 && r.fired >= r.Times {
		return false
	}
	if r.Fault.FlexUnavailable && tier != "flex" {
		return false
	}
	if r.Step != "" && r.Step != step {
		return false
	}
	return r.Match == "" || strings.Contains(content, r.Match)
}

// Script appends fault rules. It panics on a Step other than "",
// StepTranslate and StepKeyPoints, or on a negative Times, since either is a
// mistake in the test.
func (s *Server) Script(rules ...Rule) {
	for _, r := range rules {
		switch r.Step {
		case "", StepTranslate, StepKeyPoints:
		default:
			panic(fmt.Sprintf("fakeopenai: rule step %q, want %q, %q or %q", r.Step, "", StepTranslate, StepKeyPoints))
		}
		if r.Times < 0 {
			panic(fmt.Sprintf("fakeopenai: rule times %d is negative", r.Times))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rules {
		s.rules = append(s.rules, &ruleState{Rule: r})
	}
}

// TB is the part of testing.TB that Verify needs.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Verify reports, through t.Errorf, every scripted rule that did not play
// out: a rule with Times > 0 that fired fewer than Times times, and a rule
// with Times == 0 that never fired.
func (s *Server) Verify(t TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range s.rules {
		switch {
		case r.Times > 0 && r.fired < r.Times:
			t.Errorf("fakeopenai: rule %d (match %q, step %q) fired %d of %d times", i, r.Match, r.Step, r.fired, r.Times)
		case r.Times == 0 && r.fired == 0:
			t.Errorf("fakeopenai: rule %d (match %q, step %q) never fired", i, r.Match, r.Step)
		}
	}
}
