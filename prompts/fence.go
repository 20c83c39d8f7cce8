package prompts

import (
	"crypto/sha256"
	"encoding/hex"
)

// Fence returns text between a begin and an end line that carry label and a
// nonce:
//
//	<<<BEGIN LABEL NONCE>>>
//	text
//	<<<END LABEL NONCE>>>
//
// The nonce is the first 16 hex characters of the SHA-256 of text. It is
// deterministic, so a rendered prompt is a stable cache key, and text cannot
// contain its own hash, so it cannot close the fence early. Text is kept as
// given.
func Fence(label, text string) string {
	sum := sha256.Sum256([]byte(text))
	nonce := hex.EncodeToString(sum[:])[:16]
	return "<<<BEGIN " + label + " " + nonce + ">>>\n" +
		text + "\n" +
		"<<<END " + label + " " + nonce + ">>>"
}
