// Package fakeopenai is an OpenAI-compatible chat completions server for
// tests. It answers POST /v1/chat/completions and GET /v1/models, and the
// Files and Batch API (see below), on 127.0.0.1 in the OpenAI wire format
// (non-streaming), so a real go-openai client can be pointed at it with
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
// (finish_reason "length", content cut). Options.ReasoningTokens makes it a
// reasoning model, whose hidden reasoning counts in usage and in the limit
// on completion tokens (a limit it spends whole comes back "length" with no
// content). With Options.Gullible the server
// is a model that obeys prompt injection: an "ignore previous instructions"
// outside the fences gets a HACKED reply, while the same text inside a
// fence is translated as article text.
//
// Faults (HTTP errors, a flex tier without capacity, dropped and truncated
// connections, slow or held replies, malformed or unhelpful content,
// refusals, a summary instead of a translation, an ignored glossary) are
// scripted with Server.Script. Replies echo the service tier: "flex" when
// service_tier "flex" was asked for, "default" otherwise.
//
// Options.FaultRate adds random faults: each chat completion that the rate
// limits admit and no scripted Rule fires on gets, with that probability, a
// fault drawn uniformly from a fixed list of every kind (RandomFaultKinds;
// Stats.RandomFaults counts them by kind): 429 rate_limit_exceeded asking to
// retry after one simulated second ("429_retry_after": retry-after and
// retry-after-ms in real time, as the limits' own 429s give them), 429
// without retry-after ("429"), 500, 502 with an HTML body ("502_html"), 503,
// a dropped connection ("drop"), a reply that never comes, held until the
// client gives up or the server closes ("hold"), a truncated reply
// ("truncate"), a malformed body ("invalid_json"), a reply in Arabic
// ("non_english"), finish_reason "length" ("length"), finish_reason
// "content_filter" ("content_filter") and a refusal in text ("refuse_text").
// Each is the Fault of that name (Status, HTMLBody, Drop, Hold, Truncate,
// InvalidJSON, NonEnglish, Length, Refuse, RefuseText) and counts as it
// does: the four altered 200 replies count in Stats.OK and Paid, as a
// provider bills them. The draws are made in the order requests are
// admitted, from a generator seeded with Options.FaultSeed, so the same seed
// gives the same sequence of faults; which request gets which depends on the
// order they arrive in. Requests refused by the limits draw nothing, and
// batch lines get no random fault.
//
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
// With Options.BareLimits the limits work the same but say nothing about
// themselves, as some OpenAI-compatible servers and gateways (LiteLLM, vLLM
// behind a proxy) do: no reply carries x-ratelimit-* headers, and a 429
// from the limits has only its status and error body, with no retry-after
// or retry-after-ms. A client must then find the rate from the 429s alone.
// The headers a Fault sets (scripted, or random such as "429_retry_after")
// are still sent.
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
// # Files and Batch API
//
// The server runs OpenAI's batch cycle (go-openai's UploadBatchFile,
// CreateBatch, ListBatch, RetrieveBatch, CancelBatch, GetFileContent) for
// chat completions. Every path checks the API key as chat completions do
// (401 otherwise), is recorded in Requests and counted in Stats (Requests,
// ByStatus, or Dropped for a lost reply, see LoseCreateReplies; never OK),
// and waits Options.Latency. Errors have the body
// {"error":{"message","type","param","code"}} as elsewhere; a 404 for an
// unknown id has type "invalid_request_error" and code null. Ids are
// "file-fake<n>", "batch_fake<n>", "batch_req_fake<n>" and "req_fake<n>";
// times are Unix seconds by Options.Now.
//
// POST /v1/files takes multipart/form-data with the fields "purpose" (any
// non-empty value, kept as it is) and "file" (the bytes, and its filename)
// and answers 200 with the File object
//
//	{"id":"file-fake1","object":"file","bytes":1234,"created_at":1740830400,"filename":"@batchinput.jsonl","purpose":"batch"}
//
// A missing field, a body that is not multipart/form-data, or a file over
// Options.MaxFileBytes (0: DefaultMaxFileBytes, 200 MB) gets 400 (codes
// "missing_required_parameter", null, "file_too_large"). GET
// /v1/files/{id} answers the File object and GET /v1/files/{id}/content the
// bytes (Content-Type application/octet-stream), for uploaded files and for
// the output and error files of batches (purpose "batch_output", filename
// "<batch id>_output.jsonl" or "<batch id>_error.jsonl"); an unknown id gets
// 404 "No such File object: <id>".
//
// POST /v1/batches takes {"input_file_id","endpoint","completion_window",
// "metadata"}. It answers 400 when input_file_id is missing, endpoint is not
// "/v1/chat/completions" (BatchEndpoint), completion_window is not "24h",
// metadata is neither an object nor null, or the file's purpose is not
// "batch"; 404 when the file is unknown. Otherwise it creates the batch and
// answers 200 with the Batch object, status "validating":
//
//	{"id":"batch_fake1","object":"batch","endpoint":"/v1/chat/completions","errors":null,
//	 "input_file_id":"file-fake1","completion_window":"24h","status":"validating",
//	 "output_file_id":null,"error_file_id":null,"created_at":1740830400,
//	 "in_progress_at":null,"expires_at":1740916800,"finalizing_at":null,
//	 "completed_at":null,"failed_at":null,"expired_at":null,"cancelling_at":null,
//	 "cancelled_at":null,"request_counts":{"total":0,"completed":0,"failed":0},
//	 "metadata":{"run":"r1"}}
//
// expires_at is created_at plus 24 hours; metadata is echoed (null when
// none). Server.LoseCreateReplies(n) makes the next n creates that would
// get this 200 lose their reply: the batch is created all the same (it
// counts in BatchStats.Batches, is listed and moves on as any other), but
// the connection is closed without a response, as Fault.Drop does (counted
// in Stats.Dropped, Recorded.Status 0), as when OpenAI carried out a create
// whose reply was then lost. Calls add up; creates that get an error do not
// use it up. The input file is validated when the batch is created. Its lines
// blank after trimming are skipped (a final newline is fine) but counted in
// the line numbers, which start at 1. Each other line must be a JSON object
// {"custom_id","method":"POST","url":"/v1/chat/completions","body":{...}}
// with a custom_id unique in the file, and the bodies that name a model
// must all name the same one. A file that breaks these rules is not refused:
// the batch fails at its first step (see below) with status "failed",
// failed_at, request_counts all 0 and
//
//	"errors":{"object":"list","data":[{"code":"duplicate_custom_id","message":"...","param":"custom_id","line":3}]}
//
// with one entry per bad line, code "invalid_json_line" (param null),
// "missing_required_parameter" (param the field), "duplicate_custom_id",
// "invalid_value" (a method other than POST), "url_mismatch" or
// "model_mismatch"; or a single entry with line null, code "empty_file"
// (no line) or "too_many_tasks" (more lines than Options.MaxBatchLines, 0:
// DefaultMaxBatchLines, 50,000). A body that is an object but not a valid
// chat completion is not a validation error: its line is answered 400.
//
// A batch moves on only when it is retrieved (GET /v1/batches/{id}, which
// answers the Batch object), never by a timer. With Options.BatchPolls = P,
// the k-th retrieve sets status "in_progress" (in_progress_at, and
// request_counts.total to the number of lines) for k < P, except that with
// P ≥ 3 the (P-1)-th sets "finalizing" (finalizing_at); the P-th (the first
// when P is 0 or 1) completes the batch: status "completed", completed_at,
// and the lines answered. Server.FinishBatches does the last step at once
// for every open batch. A batch whose file failed validation fails at its
// first retrieve, whatever P. Server.ExpireBatches(n) makes the next n
// batches to complete end "expired" (expired_at) instead, with only the
// first half of their lines (rounded down) answered and no line at all for
// the others. POST /v1/batches/{id}/cancel on an open batch sets
// "cancelling" (cancelling_at) and answers the Batch object; the next
// retrieve (or FinishBatches) makes it "cancelled" (cancelled_at), with the
// first half of its lines answered as for an expired batch. Cancelling a
// cancelling batch answers it unchanged; cancelling a finished one gets
// 400. An unknown batch id gets 404 "No batch found with id '<id>'.".
//
// GET /v1/batches lists the batches newest first, by creation order (not
// by created_at, which has one-second resolution), each as GET
// /v1/batches/{id} renders it, and moves none of them on:
//
//	{"object":"list","data":[{...batch_fake3...},{...batch_fake2...}],"first_id":"batch_fake3","last_id":"batch_fake2","has_more":true}
//
// The query parameter limit (default 20) bounds the batches in data; a
// limit that is not an integer from 1 to 100 gets 400 invalid_request_error
// with param "limit". after, a batch id, lists only the batches after it in
// this order, i.e. created before it, so a client pages with
// after=<last_id> while has_more is true; an unknown id gets 400
// invalid_request_error with param "after". An empty limit or after counts
// as absent. first_id and last_id are the ids of the first and last batch
// in data, null when it is empty; has_more says whether batches are left
// after last_id.
//
// The lines of a batch are answered when it completes, in input order, each
// as the same request sent live would be: the rules of Server.Script match
// and fire on them (their waiting and header fields do nothing), and the
// content options (MaxOutputRunes, Gullible, NoJSONMode, NoJSONSchema)
// apply; the rate limits do not, and charge nothing. A line answered 200
// counts in Paid under the same key as the live request, so a test can
// check that nothing was paid twice across live and batch requests, but not
// in Stats.OK or Latencies. A line whose reply has a JSON body (200, or an
// error status such as Fault.Status) goes to the output file:
//
//	{"id":"batch_req_fake1","custom_id":"a1","response":{"status_code":200,"request_id":"req_fake1","body":{...the chat.completion object...}},"error":null}
//
// with, for an error, the OpenAI error object as body. A line whose fault
// leaves no JSON reply (Drop, Truncate, InvalidJSON, HTMLBody) goes to the
// error file instead:
//
//	{"id":"batch_req_fake2","custom_id":"a2","response":null,"error":{"code":"server_error","message":"The server had an error while processing your request. Sorry about that!"}}
//
// Each file is JSON lines, each ending in "\n". output_file_id and
// error_file_id are set only when their file has a line (null otherwise).
// request_counts.completed counts the lines answered 200, failed the
// others answered (a non-200 status_code, or in the error file).
// Server.BatchStats counts files uploaded and downloaded, batches created,
// retrieves, cancels, lists and lines answered; Server.BatchLines records each
// answered line as a request (Step, Model, Messages, Fences, Body, Status).
//
// The package imports nothing of tarjama.
package fakeopenai
