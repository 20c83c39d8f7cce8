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
// fences is a key-points request, and so is one with TITLE and NOTES fences
// (a reduce step that merges notes; TRANSLATION wins over NOTES, and either
// over BODY). The replies are deterministic functions of the fenced text
// (TranslateTitle, TranslateBody, KeyPoints), so tests can compute the
// expected output of a whole run. Any other request gets 400. Server.Requests
// records the first fence of each label (Recorded.Fences).
//
// A translation is made from BODY alone: each non-blank line becomes a
// paragraph "This is the English text of paragraph <k> (<h8>)." padded with
// a filler sentence (" The text of the article goes on here and
// continues.") to at least ceil(EnglishPerArabicRune × the runes of the
// line) runes, so the translation is about as long as a real one. A CONTEXT
// fence (the end of the previous chunk, for context) does not change the
// reply. A GLOSSARY fence of "arabic = english" lines (ParseGlossary) is
// obeyed: a paragraph whose line contains glossary Arabic forms says
// " Names: <english>, ..." after its first sentence, before the filler
// (TranslateBodyGlossary, TranslationReplyGlossary); an entry no line
// contains as it is written (the client matched a variant spelling) is
// named in the first paragraph.
//
// Options.MaxOutputRunes caps translations as a model's output limit does
// (finish_reason "length", content cut). With Options.Gullible the server
// is a model that obeys prompt injection: an "ignore previous instructions"
// outside the fences gets a HACKED reply, while the same text inside a
// fence is translated as article text.
//
// Faults (HTTP errors, a flex tier without capacity, dropped and truncated
// connections, slow or held replies, malformed or unhelpful content,
// refusals, a summary instead of a translation, an ignored glossary) are
// scripted with Server.Script. Replies echo the service tier: "flex" when
// service_tier "flex" was asked for, "default" otherwise.
// The server records every request with its arrival and reply times and
// counts replies, including the successful ("paid") replies per distinct
// prompt, and the latencies of successful replies (Server.Latencies).
//
// # Rate limits
//
// Options.RPM and Options.TPM limit chat completions per simulated minute;
// Options.TimeScale says how many simulated seconds pass per real second, so
// that a benchmark can cover simulated minutes in real seconds. Each limit
// is a token bucket that holds one minute's worth (RPM requests, TPM
// tokens), starts full, and refills continuously at the limit per simulated
// minute. A chat completion is charged when it arrives: 1 request, and
// PromptTokens of its messages plus max_completion_tokens, max_tokens or
// (neither set) the tokens of the reply it would get. It is charged only if
// both buckets hold enough, the request limit being checked first;
// otherwise it gets, at once and without Options.Latency, a 429 with
//
//	{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}
//
// (or "... for tokens", type "tokens") and retry-after (whole seconds,
// rounded up) and retry-after-ms giving the real time until the bucket
// holds enough. A refused request costs nothing and uses up no Rule. A
// request that costs more tokens than TPM can never pass: its 429 says
// "Request too large for tokens per min (TPM)" and has no retry-after.
// Every reply to a metered request (a chat completion that passed the key
// check and decoded), 200 or not, carries x-ratelimit-limit-requests,
// x-ratelimit-remaining-requests (whole requests left) and
// x-ratelimit-reset-requests (the real time until the bucket is full again,
// in the form of FormatReset: "120ms", "1s", "6m0s"), and the same three for
// -tokens; a limit that is not set sends none of its headers.
//
// Everything on the wire is in real time, so a client needs to know nothing
// of TimeScale: the limit headers give the limit per real minute,
// RPM*TimeScale and TPM*TimeScale, which is also what a client's own limits
// must be set to. Seen from the wire, a server with a TimeScale is an
// OpenAI server whose limit is TimeScale times higher and is enforced over
// periods of 60/TimeScale seconds (its bucket holds RPM, not RPM*TimeScale),
// as OpenAI may do (see below).
//
// A bucket the size of a minute is what OpenAI's headers describe (the reset
// time counts down a continuous refill, 60/RPM seconds per request), and it
// lets a client that waited a minute send a minute's quota at once: in any
// one simulated minute up to twice the limit can pass, the full bucket and
// then its refill. Over a run of T minutes at most the limit times T+1
// passes. OpenAI may also enforce a limit over shorter periods (60,000 RPM
// as 1,000 requests per second), so it can refuse a burst that this server
// takes; a client that paces itself at the limit sees no difference. OpenAI
// also says that refused requests count against the limit; here they do
// not, so a client that retries too soon is not punished for it.
//
// The package imports nothing of tarjama.
package fakeopenai
