// Package jobs is the core of tarjama: articles read from a CSV, the
// requests made for each of them, the results written for each row, and the
// pipeline that turns the first into the last.
//
// One article's way: it is cleaned (package cleanup) and cut into parts
// (prepare.go), each part is translated with the glossary entries found in
// it (article.go), the replies are checked and kept in the Store, and the
// key points are made from the whole translation, or from notes on each
// part for a long article.
//
// jobs owns the interfaces it needs from the outside world (Completer for
// the chat API, Sink for the output files) and knows nothing of go-openai,
// CSV writing or the terminal. Implementations live in internal/llm and
// output, and assert that they satisfy these interfaces.
package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/tarjama/tarjama/prompts"
)

// Field is one carried-through input column: a column other than the id,
// title and body columns, kept unchanged for the outputs.
type Field struct {
	Name  string
	Value string
}

// Article is one data row of the input CSV.
type Article struct {
	// Row is the 1-based data row number (the header is not counted).
	Row int
	// Line is the physical line on which the row starts, counting the
	// header as line 1, as an editor shows it.
	Line int
	// ID is the row's id, or its row number when the id cell is empty or
	// the input has no id column.
	ID    string
	Title string
	Body  string
	// Source holds the carried-through columns in input order.
	Source []Field
}

// Status is the outcome of one row.
type Status string

// The statuses a row can end with.
const (
	StatusOK      Status = "ok"
	StatusFailed  Status = "failed"
	StatusSkipped Status = "skipped"
)

// Usage counts the tokens spent on a row (or a request), as the server
// reported them.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Add returns the sum of u and v.
func (u Usage) Add(v Usage) Usage {
	return Usage{u.PromptTokens + v.PromptTokens, u.CompletionTokens + v.CompletionTokens}
}

// Result is what tarjama writes for one input row.
type Result struct {
	Row    int
	ID     string
	Status Status
	// Error is empty for ok rows; otherwise a stable reason code, a colon,
	// and a message a person can act on ("not_arabic: body has no Arabic
	// script").
	Error       string
	TitleEN     string
	Translation string
	KeyPoints   []string
	Source      []Field
	Model       string
	Usage       Usage
	// InputSHA256 is the hex SHA-256 of the article's title and body.
	InputSHA256 string
	// PromptVersion is a short hash of the templates and the options that
	// produced the row.
	PromptVersion string
}

// Step names the kind of request made for an article.
type Step string

// The steps of one article, in the order they are made.
const (
	StepTranslate Step = "translate"
	StepKeyPoints Step = "key_points"
	// StepNotes and StepReduce replace StepKeyPoints for an article too
	// long for one key-points request: notes on each part, then the key
	// points from the notes.
	StepNotes  Step = "notes"
	StepReduce Step = "reduce"
)

// Request is one chat completion that the pipeline needs.
type Request struct {
	// ArticleID is for logs and errors only; it is not sent.
	ArticleID string
	Step      Step
	// Part is the part of a long article the request is for (from 1), or
	// 0 for the whole article; like ArticleID it is not sent.
	Part     int
	Model    string
	Messages []prompts.Message
	// Schema, when set, asks for a JSON reply that validates against it
	// (structured outputs, or JSON mode where the server lacks them).
	Schema *prompts.Schema
	// MaxTokens bounds the reply; 0 leaves it to the server.
	MaxTokens int
	// Temperature is sent as given; the client never sends an exact 0
	// (go-openai would drop it), see internal/llm.
	Temperature float32
}

// Reply is a successful chat completion.
type Reply struct {
	Content      string
	FinishReason string
	// Model is the model the server says answered.
	Model string
	Usage Usage
	// Attempts is the number of HTTP requests made for this reply (1 when
	// no retry was needed).
	Attempts int
}

// ReasonPending is the CallError reason of a request whose reply is not
// there yet and will come later (the Batch API): its row is not done, and
// is not recorded as an outcome.
const ReasonPending = "pending"

// Completer sends one chat completion request. Implementations retry what
// is worth retrying (rate limits, server errors, dropped connections) and
// return a *CallError for a request that finally failed.
type Completer interface {
	Complete(ctx context.Context, req Request) (Reply, error)
}

// Sink receives the results in input order. Write is called once per input
// row; Close commits the outputs (atomically: a reader sees the old files or
// the new ones, never a mix); Abort discards what was written and leaves the
// previous outputs in place.
type Sink interface {
	Write(Result) error
	Close() error
	Abort() error
}

// CallError is a chat request that failed for good, classified so that the
// pipeline can decide between failing the row and stopping the run.
type CallError struct {
	// Reason is the stable code written at the start of the row's error:
	// "http_400", "http_404", "http_429", "http_500", "timeout",
	// "connection", "insufficient_quota", "http_401", ...
	Reason string
	// Status is the HTTP status, or 0 when no response came.
	Status int
	// Message is the server's message or the transport error, without the
	// API key.
	Message string
	// Fatal reports that the run must stop at once (a rejected key,
	// exhausted quota): no other request can succeed either.
	Fatal bool
	// Retryable reports that the request may succeed if sent again later
	// (429, 5xx, timeouts, dropped connections).
	Retryable bool
	// RetryAfter is the delay the server asked for (Retry-After or
	// retry-after-ms), or 0.
	RetryAfter time.Duration
	// Attempts is the number of HTTP requests made before giving up.
	Attempts int
	// Err is the underlying error, if any.
	Err error
}

func (e *CallError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Reason, e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

func (e *CallError) Unwrap() error { return e.Err }
