// Package llm is tarjama's client for OpenAI-compatible chat APIs (OpenAI,
// Azure OpenAI, OpenRouter, Groq, Ollama, vLLM, llama.cpp).
//
// Client implements jobs.Completer on top of go-openai, which is imported by
// this package only. It adds what go-openai lacks: an HTTP client with
// timeouts, retries with backoff and jitter that honour Retry-After, a
// classification of failures into *jobs.CallError, fall-backs for servers
// that reject structured outputs, max_tokens or temperature, and OpenAI's
// flex tier with a longer timeout and a fall-back to the default tier when
// flex has no capacity, and client-side rate limiting: request and token
// buckets that every HTTP attempt waits for, set from Config.RPM and
// Config.TPM or adapted to the server's x-ratelimit-* headers, 429s and
// Retry-After (see ratelimit.go; Client.RateStats reports on them).
//
// The Batch API (batch.go): Client.BatchLine builds an input line whose body
// is the request Complete would send; UploadBatchFile, CreateBatch,
// FindBatch, RetrieveBatch, CancelBatch and FileContent go through the same
// retries and error classification (a create retried looks first for the
// batch an attempt whose reply was lost may have created); ReadBatchResults reads output and error files
// (and vLLM run_batch output) into BatchResult values.
//
// The API key is never logged, and is scrubbed from every error message.
// New warns (Config.Logger) about a base URL in plain http to another
// machine (InsecureURL). Replies are bounded: the request timeout, dial,
// TLS-handshake and idle timeouts, 1 MiB of headers and MaxReplyBytes of
// body.
package llm
