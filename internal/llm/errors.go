package llm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	openai "github.com/sashabaranov/go-openai"

	"github.com/tarjama/tarjama/jobs"
)

// Reason codes of the *jobs.CallError values that are not "http_<status>".
const (
	ReasonInsufficientQuota = "insufficient_quota"
	ReasonTimeout           = "timeout"
	ReasonConnection        = "connection"
	ReasonInvalidReply      = "invalid_reply"
	ReasonInvalidRequest    = "invalid_request"
)

// maxExcerpt bounds the part of a non-JSON error body kept in a message.
const maxExcerpt = 200

// serverError is what an error reply said, whatever its shape.
type serverError struct {
	status  int
	message string
	param   string
	code    string
	typ     string
	html    bool // the body was not JSON: message is an excerpt
}

// parseServerError extracts the server's message from a go-openai error:
// an *openai.APIError (OpenAI's {"error": {...}}), or an *openai.RequestError
// whose body is vLLM's top-level {"message": ...}, Ollama's {"error": "..."},
// or HTML from a proxy. ok is false when err carries no HTTP reply.
func parseServerError(err error) (se serverError, ok bool) {
	// A RequestError may wrap a half-decoded APIError (Ollama's
	// {"error": "text"}): look at its body first.
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		return parseBody(reqErr.HTTPStatusCode, reqErr.Body), true
	}
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode == 0 {
		return serverError{}, false
	}
	se = serverError{status: apiErr.HTTPStatusCode, message: apiErr.Message, typ: apiErr.Type}
	if apiErr.Param != nil {
		se.param = *apiErr.Param
	}
	switch code := apiErr.Code.(type) {
	case nil:
	case int:
		// go-openai decodes "code": null as 0.
		if code != 0 {
			se.code = strconv.Itoa(code)
		}
	case string:
		se.code = code
	default:
		se.code = fmt.Sprint(code)
	}
	return se, true
}

// parseBody reads an error body that go-openai could not decode.
func parseBody(status int, b []byte) serverError {
	se := serverError{status: status}
	var body struct {
		Message any             `json:"message"`
		Error   json.RawMessage `json:"error"`
		Param   any             `json:"param"`
		Code    any             `json:"code"`
		Type    any             `json:"type"`
		Detail  any             `json:"detail"`
	}
	if json.Unmarshal(b, &body) == nil {
		var s string
		switch {
		case len(body.Error) > 0 && json.Unmarshal(body.Error, &s) == nil:
			se.message = s
		case body.Message != nil:
			se.message = jsonText(body.Message)
		case body.Detail != nil:
			se.message = jsonText(body.Detail)
		}
		se.param, se.code, se.typ = jsonText(body.Param), jsonText(body.Code), jsonText(body.Type)
		if se.message != "" {
			return se
		}
	}
	se.html = true
	se.message = excerpt(b)
	return se
}

// jsonText renders a decoded JSON value as text ("" for null).
func jsonText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// excerpt returns the start of a non-JSON body as one line of text, with
// HTML tags removed.
func excerpt(body []byte) string {
	var b strings.Builder
	inTag, space := false, false
	for _, r := range string(body) {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag, space = false, true
		case inTag:
		case unicode.IsSpace(r):
			space = true
		default:
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	s := b.String()
	if utf8.RuneCountInString(s) > maxExcerpt {
		s = string([]rune(s)[:maxExcerpt]) + "…"
	}
	return s
}

// classify turns the error of one attempt into a *jobs.CallError. status and
// header are what the transport saw of the reply (0 and nil when none came).
// The caller has already checked that its own context is not done.
func (c *Client) classify(err error, status int, header http.Header) *jobs.CallError {
	ce := &jobs.CallError{Status: status, Err: c.redact(err)}
	if header != nil {
		ce.RetryAfter = retryAfter(header, c.now())
	}
	if se, ok := parseServerError(err); ok {
		ce.Status = se.status
		ce.Message = se.message
		if se.html {
			ce.Message = strings.TrimSpace(http.StatusText(se.status) + ": " + se.message)
		} else if se.code != "" && se.code != strconv.Itoa(se.status) && !strings.Contains(se.message, se.code) {
			// The code tells apart 400s the pipeline treats differently
			// (context_length_exceeded).
			ce.Message += " (code " + se.code + ")"
		}
		if se.code == ReasonInsufficientQuota || se.typ == ReasonInsufficientQuota {
			ce.Reason, ce.Fatal = ReasonInsufficientQuota, true
			ce.Message = c.scrub(ce.Message)
			return ce
		}
		c.byStatus(ce)
		if modelNotFound(se) {
			// No other request can do better: the run stops at once.
			ce.Fatal = true
			ce.Message = "the server has no such model (check --model or TARJAMA_MODEL; for Azure, the deployment name): " + ce.Message
		}
		return ce
	}

	switch {
	case errors.Is(err, errReplyTooLarge) && status >= 300:
		ce.Message = "read error reply: " + errReplyTooLarge.Error()
		c.byStatus(ce)
	case errors.Is(err, errReplyTooLarge):
		// Not retried: the same reply would come again.
		ce.Reason, ce.Message = ReasonInvalidReply, errReplyTooLarge.Error()
	case isTimeout(err):
		ce.Reason, ce.Retryable = ReasonTimeout, true
		ce.Message = "no reply within the request timeout: " + err.Error()
	case status >= 300:
		// go-openai could not read the error body.
		ce.Message = "read error reply: " + err.Error()
		c.byStatus(ce)
	case status >= 200:
		// A 2xx whose body did not decode: truncated, malformed, or cut
		// off by a dropped connection.
		ce.Reason, ce.Retryable = ReasonInvalidReply, true
		ce.Message = "undecodable reply: " + err.Error()
	case isTransport(err):
		ce.Reason = ReasonConnection
		ce.Retryable = connectionRetryable(err)
		ce.Message = err.Error()
	default:
		// Refused before sending: a request go-openai will not build.
		ce.Reason, ce.Message = ReasonInvalidRequest, err.Error()
	}
	ce.Message = c.scrub(ce.Message)
	return ce
}

// byStatus sets Reason, Fatal and Retryable from ce.Status, and scrubs the
// message.
func (c *Client) byStatus(ce *jobs.CallError) {
	s := ce.Status
	ce.Reason = "http_" + strconv.Itoa(s)
	if ce.Message == "" {
		ce.Message = http.StatusText(s)
	}
	switch {
	case s == http.StatusUnauthorized:
		ce.Fatal = true
		ce.Message = "the API key was rejected (check OPENAI_API_KEY or --api-key): " + ce.Message
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout, s == http.StatusConflict, s >= 500:
		ce.Retryable = true
	}
	ce.Message = c.scrub(ce.Message)
}

// modelNotFound reports a 404 that says the model (or Azure deployment)
// does not exist, as OpenAI, Azure, Ollama and vLLM put it. A 404 that
// names no model (a wrong path) fails only its row.
func modelNotFound(se serverError) bool {
	if se.status != http.StatusNotFound {
		return false
	}
	if se.code == "model_not_found" || se.code == "DeploymentNotFound" {
		return true
	}
	m := strings.ToLower(se.message)
	return strings.Contains(m, "model") || strings.Contains(m, "deployment")
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isTransport reports whether err comes from the connection rather than from
// go-openai building the request.
func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// connectionRetryable reports whether a transport failure may pass: a reset,
// dropped or refused connection may; an unknown host or a certificate that
// does not verify will not.
func connectionRetryable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr) || errors.As(err, &invalidCert) {
		return false
	}
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, http.ErrSchemeMismatch) {
		return false
	}
	return true
}

// retryAfter returns the delay asked for by retry-after-ms (preferred) or
// Retry-After (seconds or an HTTP date), capped at maxServerDelay; 0 when
// neither is present or valid.
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			d = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); d == 0 && v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				d = time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	switch {
	case d < 0:
		return 0
	case d > maxServerDelay:
		return maxServerDelay
	}
	return d
}

// redactMin is the shortest key that is scrubbed from messages: shorter
// ones are placeholders of local servers, not secrets, and replacing them
// would garble every message.
const redactMin = 4

const redacted = "[REDACTED]"

// scrub removes the API key from s.
func (c *Client) scrub(s string) string {
	if len(c.key) < redactMin {
		return s
	}
	return strings.ReplaceAll(s, c.key, redacted)
}

// redact returns err with the API key scrubbed from its text. errors.As
// still reaches the go-openai error types beneath, whose messages are
// scrubbed in place.
func (c *Client) redact(err error) error {
	if err == nil || len(c.key) < redactMin {
		return err
	}
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		apiErr.Message = c.scrub(apiErr.Message)
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		reqErr.Body = []byte(c.scrub(string(reqErr.Body)))
	}
	return &redactedError{msg: c.scrub(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
