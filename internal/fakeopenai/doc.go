// Package fakeopenai is an OpenAI-compatible chat completions server for
// tests. It answers POST /v1/chat/completions and GET /v1/models on
// 127.0.0.1 in the OpenAI wire format (non-streaming), so a real go-openai
// client can be pointed at it with
//
//	cfg := openai.DefaultConfig(key)
//	cfg.BaseURL = srv.URL()
//
// It understands tarjama's request contract: article text is fenced as
//
//	<<<BEGIN LABEL NONCE>>>
//	text
//	<<<END LABEL NONCE>>>
//
// where LABEL is an uppercase word and NONCE 16 hex digits. A request with
// TITLE and BODY fences is a translation; one with TITLE and TRANSLATION
// fences is a key-points request. The replies are deterministic functions of
// the fenced text (TranslateTitle, TranslateBody, KeyPoints), so tests can
// compute the expected output of a whole run. Any other request gets 400.
//
// Faults (HTTP errors, a flex tier without capacity, dropped and truncated
// connections, slow or held replies, malformed or unhelpful content) are
// scripted with Server.Script. Replies echo the service tier: "flex" when
// service_tier "flex" was asked for, "default" otherwise.
// The server records every request and counts replies, including the
// successful ("paid") replies per distinct prompt.
//
// The package imports nothing of tarjama.
package fakeopenai
