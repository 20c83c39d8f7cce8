// Package prompts holds the chat templates tarjama sends, renders them into
// messages, and parses and validates the replies they ask for.
//
// The templates are embedded in the binary and may be overridden file by
// file from a directory. prompts is a leaf: it imports nothing of tarjama.
package prompts

import "encoding/json"

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Schema is a JSON schema for a structured reply.
type Schema struct {
	// Name is the schema's name as structured outputs want it.
	Name string
	// JSON is the schema document.
	JSON json.RawMessage
}
