package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
)

// Store keeps what a run has paid for, so that a rerun pays only for what is
// new or changed. internal/state implements it with a SQLite file.
//
// Put is durable when it returns: the pipeline calls it before any work
// that depends on the reply goes on, so that a crash at any moment loses at
// most the requests in flight.
type Store interface {
	// GetReply returns the reply stored under key, or ok false.
	GetReply(ctx context.Context, key string) (reply Reply, ok bool, err error)
	// PutReply stores a checked, successful reply under key, replacing any
	// reply stored there.
	PutReply(ctx context.Context, key string, req Request, reply Reply) error
	// GetRow returns the outcome of the row last done with this input and
	// prompt version, or ok false.
	GetRow(ctx context.Context, inputSHA256, promptVersion string) (row RowRecord, ok bool, err error)
	// PutRow records a row's outcome (ok or failed, with its reason).
	PutRow(ctx context.Context, row RowRecord) error
	// PutOriginal keeps the text of an article as it was in the input,
	// before the clean-up changed what was sent; an original already kept
	// under the same InputSHA256 is left as it is.
	PutOriginal(ctx context.Context, o Original) error
	// GetOriginal returns the original kept under inputSHA256, or ok false.
	GetOriginal(ctx context.Context, inputSHA256 string) (o Original, ok bool, err error)
}

// Original is an article's text as the input gave it, kept when the
// clean-up (see package cleanup) changed it. InputSHA256 is the hash of
// the original title and body, as in Result.
type Original struct {
	InputSHA256 string
	ID          string
	Title, Body string
	// Removed is the number of characters (runes) the clean-up removed.
	Removed int
}

// RowRecord is the outcome of one article in an earlier run.
type RowRecord struct {
	InputSHA256   string
	PromptVersion string
	ID            string
	Status        Status
	Error         string
}

// RequestKey is the cache key of req: a hash of everything sent that can
// change the reply (model, messages with the article in them, the reply
// schema, the token limit, the temperature). The article id is not part of
// it: the same article under another id is the same request.
func RequestKey(req Request) string {
	h := sha256.New()
	field := func(name, value string) {
		io.WriteString(h, name)
		io.WriteString(h, "=")
		io.WriteString(h, strconv.Itoa(len(value)))
		io.WriteString(h, ":")
		io.WriteString(h, value)
		io.WriteString(h, "\n")
	}
	field("model", req.Model)
	for _, m := range req.Messages {
		field("role", m.Role)
		field("content", m.Content)
	}
	if req.Schema != nil {
		field("schema_name", req.Schema.Name)
		field("schema", string(compactJSON(req.Schema.JSON)))
	}
	field("max_tokens", strconv.Itoa(req.MaxTokens))
	field("temperature", strconv.FormatFloat(float64(req.Temperature), 'g', -1, 32))
	return hex.EncodeToString(h.Sum(nil))
}

// compactJSON drops the insignificant white space of a schema, so that
// reformatting it does not change the key.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}
