package fakeopenai

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the OpenAI wire format: decoding requests and building
// replies.

// chatRequest is the part of a chat completion request the server reads.
type chatRequest struct {
	Model          string           `json:"model"`
	Messages       []requestMessage `json:"messages"`
	ResponseFormat json.RawMessage  `json:"response_format"`
	Stream         bool             `json:"stream"`
	ServiceTier    string           `json:"service_tier"`
	// MaxTokens and MaxCompletionTokens bound the reply; what a request
	// is charged against Options.TPM depends on them.
	MaxTokens           int `json:"max_tokens"`
	MaxCompletionTokens int `json:"max_completion_tokens"`
}

type requestMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// record is the record of a request as decoded in in, sent with method to
// path with body, arrived at the given time.
func (in *incoming) record(method, path string, body []byte, arrived time.Time) Recorded {
	return Recorded{
		Method:         method,
		Path:           path,
		Step:           in.parsed.Step,
		Model:          in.req.Model,
		Messages:       in.messages,
		ResponseFormat: in.format,
		ServiceTier:    in.req.ServiceTier,
		Fences:         in.fences,
		Body:           body,
		Arrived:        arrived,
	}
}

// incoming is a decoded request.
type incoming struct {
	req      chatRequest
	messages []Message
	format   string
	content  string
	parsed   parsed
	fences   map[string]string // first fence of each label; nil if none
	err      string            // why the body was rejected; "" if it was not
}

// decodeChat decodes a chat completion request body.
func decodeChat(body []byte, readErr error) incoming {
	var in incoming
	if readErr != nil {
		in.err = "could not read the request body: " + readErr.Error()
		return in
	}
	if err := json.Unmarshal(body, &in.req); err != nil {
		in.err = "We could not parse the JSON body of your request. (" + err.Error() + ")"
		return in
	}
	if in.req.Model == "" {
		in.err = "you must provide a model parameter"
		return in
	}
	if len(in.req.Messages) == 0 {
		in.err = "[] is too short - 'messages'"
		return in
	}
	if in.req.Stream {
		in.err = "fakeopenai does not support streaming"
		return in
	}
	switch in.req.ServiceTier {
	case "", "auto", "default", "flex", "priority":
	default:
		in.err = fmt.Sprintf("Invalid value: '%s'. Supported values are: 'auto', 'default', 'flex', and 'priority'.", in.req.ServiceTier)
		return in
	}
	for i, m := range in.req.Messages {
		text, ok := messageText(m.Content)
		if !ok {
			in.err = fmt.Sprintf("Invalid type for 'messages[%d].content'", i)
			return in
		}
		in.messages = append(in.messages, Message{Role: m.Role, Content: text})
	}
	if len(in.req.ResponseFormat) > 0 && string(in.req.ResponseFormat) != "null" {
		var rf struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(in.req.ResponseFormat, &rf); err != nil {
			in.err = "Invalid type for 'response_format'"
			return in
		}
		in.format = rf.Type
	}
	in.content = Content(in.messages)
	in.parsed, in.fences = parseRequest(in.content)
	return in
}

// messageText returns the text of a message's content: a string, null, or
// an array of parts whose "text" parts are concatenated.
func messageText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), true
}

// faultReply decides the reply to a request a rule fired on.
func (s *Server) faultReply(f *Fault, in *incoming, seq int) reply {
	var rep reply
	switch {
	case f.FlexUnavailable:
		// Rules with FlexUnavailable only fire on flex requests.
		rep = errorReply(http.StatusTooManyRequests, apiError{Code: flexUnavailableCode})
	case f.Drop:
		return reply{kind: replyDrop}
	case f.HTMLBody:
		status := f.Status
		if status == 0 {
			status = http.StatusBadGateway
		}
		rep = reply{
			status: status,
			header: http.Header{"Content-Type": {"text/html; charset=utf-8"}},
			body:   []byte("<html><body>502 Bad Gateway</body></html>"),
		}
	case f.Status != 0:
		rep = errorReply(f.Status, apiError{Message: f.Message, Type: f.Type, Code: f.Code})
	case f.InvalidJSON:
		rep = reply{
			status: http.StatusOK,
			header: http.Header{"Content-Type": {"application/json"}},
			body:   []byte(`{"id": "x", "choices": [`),
		}
	default:
		rep = s.chatReply(in, f, seq)
		if f.Truncate && rep.status == http.StatusOK {
			rep.kind = replyTruncate
			rep.ok = false
		}
	}
	if f.RetryAfter != "" {
		rep.header.Set("Retry-After", f.RetryAfter)
	}
	if f.RetryAfterMS != "" {
		rep.header.Set("retry-after-ms", f.RetryAfterMS)
	}
	for k, v := range f.Header {
		rep.header[http.CanonicalHeaderKey(k)] = slices.Clone(v)
	}
	return rep
}

// Stand-ins for altered replies.
const (
	// arabicTranslation and arabicKeyPoint are the NonEnglish replies.
	arabicTranslation = "TITLE: عنوان\nBODY:\nهذا نص عربي"
	arabicKeyPoint    = "النقطة الرئيسية رقم %d من المقال مذكورة هنا."
	// hackedTranslation and hackedKeyPoint are what a gullible server
	// replies to an injected instruction.
	hackedTranslation = "TITLE: HACKED\nBODY:\nHACKED"
	hackedKeyPoint    = "HACKED"
)

// RefusalText is the content of a Fault.RefuseText reply: a chat model
// declining in text.
const RefusalText = "I'm sorry, but I can't help with that request."

// RefusalMessage is message.refusal of a Fault.RefusalField reply: a model
// declining through the structured outputs' refusal field.
const RefusalMessage = "I'm sorry, I cannot assist with that."

// replyContent returns the content, finish_reason and message.refusal of the
// 200 reply to a recognised request p, altered by the content fields of f.
// With a zero f it is the normal reply, on which Options.TPM charges
// requests without a max_tokens.
func replyContent(opts *Options, p *parsed, f *Fault) (content, finish string, refusal *string) {
	hacked := opts.Gullible && p.Injected
	switch p.Step {
	case StepTranslate:
		glossary := p.Glossary
		if f.IgnoreGlossary {
			glossary = nil
		}
		switch {
		case hacked:
			content = hackedTranslation
		case f.NonEnglish:
			content = arabicTranslation
		case f.Short:
			content = "TITLE: " + TranslateTitle(p.Title) + "\nBODY:\n" + shortBody(p.Body)
		default:
			content = TranslationReplyGlossary(p.Title, p.Body, glossary)
		}
	case StepKeyPoints:
		points := KeyPoints(p.Title, p.Translation, p.N)
		switch {
		case hacked:
			content = keyPointsJSON([]string{hackedKeyPoint})
		case f.NonEnglish:
			for i := range points {
				points[i] = fmt.Sprintf(arabicKeyPoint, i+1)
			}
			content = keyPointsJSON(points)
		case f.BadKeyPoints:
			var b strings.Builder
			b.WriteString("Here are the points:")
			for i, pt := range points {
				fmt.Fprintf(&b, "\n%d. %s", i+1, pt)
			}
			content = b.String()
		default:
			content = keyPointsJSON(points)
		}
	}
	finish = "stop"
	switch {
	case f.Refuse:
		return "", "content_filter", nil
	case f.RefusalField:
		msg := RefusalMessage
		return "", "stop", &msg
	case f.RefuseText:
		return RefusalText, "stop", nil
	case f.Length:
		r := []rune(content)
		content, finish = string(r[:len(r)/2]), "length"
	}
	if p.Step == StepTranslate && opts.MaxOutputRunes > 0 {
		if r := []rune(content); len(r) > opts.MaxOutputRunes {
			content, finish = string(r[:opts.MaxOutputRunes]), "length"
		}
	}
	return content, finish, refusal
}

// reason spends r reasoning tokens before content, within the request's
// limit on completion tokens: it returns the content and finish reason
// left, and the reasoning tokens spent.
func reason(r int, req chatRequest, content, finish string) (string, string, int) {
	limit := req.MaxCompletionTokens
	if limit == 0 {
		limit = req.MaxTokens
	}
	if limit == 0 || r+completionTokens(content) <= limit {
		return content, finish, r
	}
	if limit <= r {
		return "", "length", limit
	}
	// What is left after the reasoning, at completionTokens' 4 bytes a
	// token, cut at a rune boundary.
	keep := min((limit-r-1)*4, len(content))
	for keep > 0 && !utf8.RuneStart(content[keep]) {
		keep--
	}
	return content[:keep], "length", r
}

// chatReply decides the normal reply to a decoded chat completion request,
// altered by f's content fields if f is not nil.
func (s *Server) chatReply(in *incoming, f *Fault, seq int) reply {
	switch in.format {
	case "", "text":
	case "json_object":
		if s.opts.NoJSONMode {
			return unsupportedFormat("json_object")
		}
	case "json_schema":
		if s.opts.NoJSONSchema {
			return unsupportedFormat("json_schema")
		}
	default:
		return errorReply(http.StatusBadRequest, apiError{
			Message: fmt.Sprintf("Invalid value: '%s'. Supported values are: 'json_object', 'json_schema', and 'text'.", in.format),
			Type:    "invalid_request_error",
			Param:   "response_format.type",
			Code:    "invalid_value",
		})
	}
	p := in.parsed
	if p.Step == "" {
		return errorReply(http.StatusBadRequest, apiError{
			Message: "unrecognised request",
			Type:    "invalid_request_error",
		})
	}
	if f == nil {
		f = &Fault{}
	}
	content, finish, refusal := replyContent(&s.opts, &p, f)
	reasoning := 0
	if r := s.opts.ReasoningTokens; r > 0 {
		content, finish, reasoning = reason(r, in.req, content, finish)
	}

	written := completionTokens(content)
	if reasoning > 0 && content == "" {
		written = 0 // the reasoning took every token
	}
	usage := completionUsage{PromptTokens: PromptTokens(in.messages), CompletionTokens: reasoning + written}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	resp := completion{
		ID:          fmt.Sprintf("chatcmpl-fake-%d", seq),
		Object:      "chat.completion",
		Created:     time.Now().Unix(),
		Model:       in.req.Model,
		ServiceTier: servedTier(in.req.ServiceTier),
		Choices: []choice{{
			Index:        0,
			Message:      replyMessage{Role: "assistant", Content: content, Refusal: refusal},
			FinishReason: finish,
		}},
		Usage: usage,
	}
	return reply{
		status: http.StatusOK,
		header: http.Header{"Content-Type": {"application/json"}},
		body:   mustJSON(resp),
		ok:     true,
		key:    PaidKey(in.req.Model, in.messages),
	}
}

// servedTier returns the service_tier of a reply: "flex" when flex was
// asked for, "default" otherwise.
func servedTier(asked string) string {
	if asked == "flex" {
		return "flex"
	}
	return "default"
}

func keyPointsJSON(points []string) string {
	return string(mustJSON(struct {
		KeyPoints []string `json:"key_points"`
	}{points}))
}

// completion is an OpenAI chat completion object.
type completion struct {
	ID          string          `json:"id"`
	Object      string          `json:"object"`
	Created     int64           `json:"created"`
	Model       string          `json:"model"`
	Choices     []choice        `json:"choices"`
	Usage       completionUsage `json:"usage"`
	ServiceTier string          `json:"service_tier"`
}

type choice struct {
	Index        int          `json:"index"`
	Message      replyMessage `json:"message"`
	FinishReason string       `json:"finish_reason"`
}

// replyMessage is the message of a choice. Refusal is null unless the
// model refused through the structured outputs' refusal field.
type replyMessage struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type completionUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func modelsReply() reply {
	body := mustJSON(map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id":       ModelID,
			"object":   "model",
			"created":  0,
			"owned_by": "fakeopenai",
		}},
	})
	return reply{
		status: http.StatusOK,
		header: http.Header{"Content-Type": {"application/json"}},
		body:   body,
	}
}

// apiError is the "error" object of an OpenAI error body. Empty Param and
// Code are sent as null.
type apiError struct {
	Message string
	Type    string
	Param   string
	Code    string
}

func (e apiError) MarshalJSON() ([]byte, error) {
	nullable := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return json.Marshal(struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	}{e.Message, e.Type, nullable(e.Param), nullable(e.Code)})
}

// errorReply returns an OpenAI error reply, filling in the empty fields of e
// with defaults for status.
func errorReply(status int, e apiError) reply {
	typ, code, msg := errorDefaults(status, e.Code)
	if e.Type == "" {
		e.Type = typ
	}
	if e.Code == "" {
		e.Code = code
	}
	if e.Message == "" {
		e.Message = msg
	}
	return reply{
		status: status,
		header: http.Header{"Content-Type": {"application/json"}},
		body: mustJSON(struct {
			Error apiError `json:"error"`
		}{e}),
	}
}

// errorDefaults returns the usual error type, code and message for a status.
// For a 429 they depend on the error code asked for.
func errorDefaults(status int, code string) (typ, defCode, msg string) {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error", "", "Bad request."
	case http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key", "Incorrect API key provided"
	case http.StatusForbidden:
		return "invalid_request_error", "", "You are not allowed to access this model."
	case http.StatusNotFound:
		return "invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."
	case http.StatusTooManyRequests:
		switch code {
		case "insufficient_quota":
			return "insufficient_quota", "", "You exceeded your current quota, please check your plan and billing details."
		case flexUnavailableCode:
			return "invalid_request_error", "", "Resource Unavailable"
		}
		return "requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."
	case http.StatusInternalServerError:
		return "server_error", "", "The server had an error while processing your request. Sorry about that!"
	case http.StatusBadGateway:
		return "server_error", "", "Bad gateway."
	case http.StatusServiceUnavailable:
		return "server_error", "", "The engine is currently overloaded, please try again later."
	case http.StatusGatewayTimeout:
		return "server_error", "", "Gateway timeout."
	}
	if status >= 500 {
		return "server_error", "", http.StatusText(status)
	}
	return "invalid_request_error", "", http.StatusText(status)
}

// flexUnavailableCode is error.code of the 429 sent when the flex tier has
// no capacity.
const flexUnavailableCode = "resource_unavailable"

func unsupportedFormat(typ string) reply {
	return errorReply(http.StatusBadRequest, apiError{
		Message: fmt.Sprintf("Invalid parameter: 'response_format' of type '%s' is not supported with this model", typ),
		Type:    "invalid_request_error",
		Param:   "response_format",
	})
}

func methodNotAllowed(r *http.Request) reply {
	return errorReply(http.StatusMethodNotAllowed, apiError{
		Message: fmt.Sprintf("Method %s not allowed on %s.", r.Method, r.URL.Path),
		Type:    "invalid_request_error",
	})
}

// mustJSON marshals v, which cannot fail for the types used here.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("fakeopenai: " + err.Error())
	}
	return b
}
