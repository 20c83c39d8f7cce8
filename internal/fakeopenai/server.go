package fakeopenai

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ModelID is the one model listed by GET /v1/models.
const ModelID = "fake-model"

// maxBody bounds the size of a request body.
const maxBody = 32 << 20

// Options configures a Server.
type Options struct {
	// APIKey, when not empty, is required on every request as
	// "Authorization: Bearer <APIKey>"; other requests get 401.
	APIKey string
	// Latency is waited before every reply, in real time (TimeScale does not
	// apply): a benchmark that wants a simulated latency L sets
	// L/TimeScale. The wait ends early, without a reply, when the request's
	// context ends.
	Latency time.Duration
	// NoJSONSchema makes requests with a response_format of type
	// json_schema fail with 400, like models without structured outputs.
	NoJSONSchema bool
	// NoJSONMode makes requests with a response_format of type json_object
	// fail with 400, like models without JSON mode.
	NoJSONMode bool
	// NoRecord keeps only the counters (Stats, Paid) and the latency
	// histogram (Latencies), not every request: for benchmarks with many
	// requests. Memory then grows only by Paid's entry (about 100 bytes)
	// per distinct prompt.
	NoRecord bool
	// MaxOutputRunes is the output cap of the model, in runes of reply
	// content; 0 means none. A translation whose reply content would be
	// longer is answered, as a real model with an output cap does, with
	// finish_reason "length" and the content cut to MaxOutputRunes runes
	// (a 200 with usage, counted in Stats.OK and Paid). Key-points replies
	// are not capped.
	MaxOutputRunes int
	// ReasoningTokens makes the model a reasoning one: every chat reply
	// first spends this many completion tokens on reasoning that is not in
	// its content, and counts them in usage.completion_tokens. A request
	// whose max_completion_tokens (or max_tokens) leaves less than the
	// reply needs after the reasoning is answered with finish_reason
	// "length" and its content cut to what is left, which is nothing when
	// the limit is at most ReasoningTokens. 0 means no reasoning.
	ReasoningTokens int
	// Gullible makes the server obey instructions outside the fences: a
	// recognised request whose content, with the fenced blocks removed,
	// contains (in any case) "ignore previous instructions", "ignore all
	// previous instructions" or "تجاهل التعليمات" is answered
	// "TITLE: HACKED\nBODY:\nHACKED" (a translation) or
	// {"key_points":["HACKED"]} (key points). Text inside fences never
	// triggers it; the client's own instructions outside the fences (system
	// prompt included) do, so they must not quote these phrases.
	Gullible bool

	// RPM and TPM are rate limits, in requests and tokens per simulated
	// minute (see TimeScale), enforced on every chat completion request
	// that passes the API key check and decodes; 0 means no limit. A
	// request costs 1 request and PromptTokens of its messages plus its
	// max_completion_tokens (or max_tokens; when neither is set, the
	// completion tokens of the reply it would get), charged when it
	// arrives and not given back, whatever the reply. See the package
	// documentation for how the limits work and what a refused request
	// gets.
	RPM, TPM int
	// BareLimits makes the limits answer as some OpenAI-compatible servers
	// and gateways do (LiteLLM, vLLM behind a proxy): no reply carries
	// x-ratelimit-* headers, 200 or not, and a 429 from the limits has no
	// retry-after or retry-after-ms, only its status and error body, so a
	// client learns neither the limit nor when to retry. The limits work as
	// without it. Scripted and random faults still send the headers their
	// Fault sets (RetryAfter, RetryAfterMS, Header).
	BareLimits bool
	// TimeScale is how many simulated seconds pass in one real second; 0
	// and 1 mean real time. With TimeScale 60 a real second is a simulated
	// minute, so the limits allow RPM*60 requests per real minute (and a
	// client's own limit must be set to that). Only the limits are scaled:
	// Latency, Fault.Delay, the timestamps and everything in the replies'
	// headers are real time; x-ratelimit-limit-requests is RPM*TimeScale.
	TimeScale float64
	// Now is the clock of the rate limits, of Recorded's timestamps and
	// the latencies, and of the timestamps of files and batches; time.Now
	// when nil. Tests of the limits set it to a clock they move by hand.
	Now func() time.Time

	// MaxFileBytes bounds the file uploaded by POST /v1/files, in bytes;
	// 0 means DefaultMaxFileBytes (200 MB). A larger file gets 400.
	MaxFileBytes int64
	// MaxBatchLines bounds the requests of a batch input file; 0 means
	// DefaultMaxBatchLines (50,000). A batch whose file has more fails
	// validation (code "too_many_tasks").
	MaxBatchLines int
	// BatchPolls is the retrieve (GET /v1/batches/{id}) on which a batch
	// completes; 0 and 1 mean the first. Server.FinishBatches completes
	// every open batch without retrieves. See the package documentation.
	BatchPolls int

	// FaultRate is the probability, from 0 to 1, that a chat completion
	// admitted by the rate limits, and fired on by no scripted Rule, gets a
	// random fault: one of RandomFaultKinds, drawn uniformly (see the
	// package documentation). 0 means none. Batch lines get none.
	FaultRate float64
	// FaultSeed seeds the random faults: with the same seed, the n-th
	// request that may get one gets the same fault (or none), whatever
	// the run.
	FaultSeed int64
}

// Message is one chat message of a recorded request.
type Message struct {
	Role    string
	Content string
}

// Recorded is a request as the server received it.
type Recorded struct {
	Method string
	Path   string
	// Step is StepTranslate, StepKeyPoints or "" (not a chat completion,
	// undecodable, or not recognised).
	Step     string
	Model    string
	Messages []Message
	// ResponseFormat is response_format.type: "", "text", "json_object" or
	// "json_schema".
	ResponseFormat string
	// ServiceTier is service_tier: "" when absent, else e.g. "flex".
	ServiceTier string
	// Fences maps each fence label of the message content (TITLE, BODY,
	// CONTEXT, GLOSSARY, ...) to the text of the first fence with that
	// label; nil when the request had no fence or did not decode.
	Fences map[string]string
	Header http.Header
	// Body is the raw request body.
	Body []byte
	// Status is the HTTP status answered; 0 when the connection was
	// dropped or no reply was sent.
	Status int
	// Arrived is when the request arrived and Replied when its reply was
	// written (zero when none was), by Options.Now.
	Arrived, Replied time.Time
	// Tokens is what the request was charged against the token limit (see
	// Options.TPM); 0 when it was not charged: refused by the limits, or
	// not a chat completion that decoded. It is counted with or without a
	// limit set.
	Tokens int
	// Limited is LimitRequests or LimitTokens when the rate limits refused
	// the request (with a 429), "" otherwise.
	Limited string
}

// Key returns the key of the request in Server.Paid.
func (r Recorded) Key() string { return PaidKey(r.Model, r.Messages) }

// Stats counts what the server did.
type Stats struct {
	// Requests counts every request received, on any path.
	Requests int
	// OK counts chat completion replies with status 200 that were sent in
	// full with a well-formed body. Replies altered by Length, NonEnglish,
	// BadKeyPoints, Refuse, RefuseText, RefusalField, Short, IgnoreGlossary
	// and Options.MaxOutputRunes count; Truncate and InvalidJSON do not.
	OK int
	// ByStatus counts the statuses sent, whole replies or not.
	ByStatus map[int]int
	// Dropped counts connections closed without a reply (Fault.Drop).
	Dropped int
	// Canceled counts requests that got no reply because the client went
	// away or the server closed while they waited.
	Canceled int
	// InFlight is the number of requests being handled.
	InFlight int

	// Charged counts the chat completion requests charged against the
	// rate limits (admitted by them, or no limit set), and ChargedTokens
	// what they were charged in tokens (see Options.TPM).
	Charged, ChargedTokens int
	// LimitedRequests and LimitedTokens count the 429 replies sent by the
	// rate limits, by kind. LimitedTokens includes requests too large for
	// the whole TPM.
	LimitedRequests, LimitedTokens int
	// RandomFaults counts the faults of Options.FaultRate by kind (see
	// RandomFaultKinds); nil when none fired.
	RandomFaults map[string]int
}

// Server is an OpenAI-compatible test server. It is safe for concurrent use.
type Server struct {
	opts      Options
	ts        *httptest.Server
	done      chan struct{} // closed by Close
	closeOnce sync.Once

	mu      sync.Mutex
	rules   []*ruleState
	reqs    []Recorded
	stats   Stats
	paid    map[string]int
	seq     int
	changed chan struct{} // closed and replaced whenever stats change
	limits  *limiter
	latency Histogram     // of the chat completions counted in Stats.OK
	batch   batchStore    // the Files and Batch API (batch.go)
	faults  *randomFaults // Options.FaultRate; nil when 0 (random.go)
}

// New starts a Server on 127.0.0.1. Close it when done.
func New(opts Options) *Server {
	s := newServer(opts)
	s.ts = httptest.NewServer(s)
	return s
}

// Listen starts a Server on the given loopback address (for trying tarjama
// by hand, see cmd/fakeopenai). Close it when done.
func Listen(addr string, opts Options) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := newServer(opts)
	s.ts = httptest.NewUnstartedServer(s)
	s.ts.Listener.Close()
	s.ts.Listener = l
	s.ts.Start()
	return s, nil
}

func newServer(opts Options) *Server {
	switch {
	case opts.RPM < 0 || opts.TPM < 0:
		panic(fmt.Sprintf("fakeopenai: negative rate limit (RPM %d, TPM %d)", opts.RPM, opts.TPM))
	case opts.MaxOutputRunes < 0:
		panic(fmt.Sprintf("fakeopenai: negative MaxOutputRunes %d", opts.MaxOutputRunes))
	case opts.ReasoningTokens < 0:
		panic(fmt.Sprintf("fakeopenai: negative ReasoningTokens %d", opts.ReasoningTokens))
	case opts.TimeScale < 0 || math.IsNaN(opts.TimeScale) || math.IsInf(opts.TimeScale, 0):
		panic(fmt.Sprintf("fakeopenai: time scale %v, want a positive number or 0", opts.TimeScale))
	case opts.MaxFileBytes < 0 || opts.MaxBatchLines < 0 || opts.BatchPolls < 0:
		panic(fmt.Sprintf("fakeopenai: negative batch option (MaxFileBytes %d, MaxBatchLines %d, BatchPolls %d)",
			opts.MaxFileBytes, opts.MaxBatchLines, opts.BatchPolls))
	case !(opts.FaultRate >= 0 && opts.FaultRate <= 1):
		panic(fmt.Sprintf("fakeopenai: fault rate %v, want a number from 0 to 1", opts.FaultRate))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		done:    make(chan struct{}),
		paid:    make(map[string]int),
		changed: make(chan struct{}),
		batch:   newBatchStore(),
	}
	s.stats.ByStatus = make(map[int]int)
	s.limits = newLimiter(opts, opts.Now())
	s.faults = newRandomFaults(opts.FaultRate, opts.FaultSeed)
	return s
}

// URL returns the base URL of the API including "/v1", ready for go-openai's
// ClientConfig.BaseURL.
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// Close ends waiting and held requests without a reply, shuts the server
// down and waits for its handlers to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
	s.ts.Close()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Server) statsLocked() Stats {
	st := s.stats
	st.ByStatus = maps.Clone(s.stats.ByStatus)
	st.RandomFaults = maps.Clone(s.stats.RandomFaults)
	return st
}

// Latencies returns the latencies of the chat completions counted in
// Stats.OK: from arrival to the reply written, by Options.Now, in real time.
// It is kept with or without NoRecord.
func (s *Server) Latencies() Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency.clone()
}

// Requests returns every request received, in arrival order.
func (s *Server) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Recorded, len(s.reqs))
	for i, r := range s.reqs {
		r.Header = r.Header.Clone()
		r.Messages = slices.Clone(r.Messages)
		r.Body = slices.Clone(r.Body)
		r.Fences = maps.Clone(r.Fences)
		out[i] = r
	}
	return out
}

// Paid returns how many successful replies (those counted in Stats.OK, and
// the batch lines answered with status_code 200, BatchStats.LinesOK) were
// sent per distinct request, keyed by PaidKey of the request's model and
// messages. A count above 1 means the same prompt was paid for twice, live,
// in a batch, or once each way.
func (s *Server) Paid() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.paid)
}

// PaidKey returns the key of a request in Server.Paid: the hex SHA-256 of
// the concatenated message content (see Content) followed by the model.
func PaidKey(model string, messages []Message) string {
	sum := sha256.Sum256([]byte(Content(messages) + model))
	return hex.EncodeToString(sum[:])
}

// Content returns the concatenated content of messages, joined with "\n".
// Rule.Match and the request parser look at this text.
func Content(messages []Message) string {
	parts := make([]string, len(messages))
	for i, m := range messages {
		parts[i] = m.Content
	}
	return strings.Join(parts, "\n")
}

// InFlight returns the number of requests being handled.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.InFlight
}

// WaitInFlight waits until at least n requests are being handled, or ctx
// ends.
func (s *Server) WaitInFlight(ctx context.Context, n int) error {
	return s.Wait(ctx, func(st Stats) bool { return st.InFlight >= n })
}

// WaitIdle waits until no request is being handled, or ctx ends. When it
// returns nil, the counters and records of every finished request are final.
func (s *Server) WaitIdle(ctx context.Context) error {
	return s.Wait(ctx, func(st Stats) bool { return st.InFlight == 0 })
}

// Wait waits until cond holds for the counters, or ctx ends. cond is called
// on every change, without the server's lock held.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st := s.statsLocked()
		ch := s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("fakeopenai: wait: %w", ctx.Err())
		}
	}
}

// notifyLocked wakes the waiters; s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// replyKind says how a reply is written.
type replyKind int

const (
	replyWrite    replyKind = iota // status, headers and body
	replyDrop                      // close the connection
	replyTruncate                  // full Content-Length, half the body, close
)

// reply is a decided answer to a request.
type reply struct {
	kind   replyKind
	status int
	header http.Header
	body   []byte
	ok     bool   // a chat completion that counts in Stats.OK
	key    string // its PaidKey
}

// admission is what the rate limits made of a request.
type admission struct {
	arrived time.Time
	tokens  int    // charged; 0 when not
	limited string // LimitRequests, LimitTokens or ""
	header  http.Header
	reply   *reply // the 429 of a refused request
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	adm := admission{arrived: s.opts.Now()}
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyLimit(r)))
	isChat := r.URL.Path == "/v1/chat/completions" && r.Method == http.MethodPost
	var in incoming
	if isChat {
		in = decodeChat(body, readErr)
	}
	authorized := s.opts.APIKey == "" || r.Header.Get("Authorization") == "Bearer "+s.opts.APIKey
	metered := isChat && authorized && in.err == "" // put to the rate limits
	var cost int
	if metered {
		cost = chargedTokens(&s.opts, &in)
	}

	s.mu.Lock()
	idx := len(s.reqs)
	rec := in.record(r.Method, r.URL.Path, body, adm.arrived)
	rec.Header = r.Header.Clone()
	if metered {
		s.admitLocked(&adm, cost)
		rec.Tokens, rec.Limited = adm.tokens, adm.limited
	}
	if s.opts.NoRecord {
		idx = -1
	} else {
		s.reqs = append(s.reqs, rec)
	}
	s.stats.Requests++
	s.stats.InFlight++
	s.seq++
	seq := s.seq
	var f *Fault
	if metered && adm.reply == nil {
		f = s.fireLocked(&in)
		if f == nil {
			f = s.randomFaultLocked()
		}
	}
	s.notifyLocked()
	s.mu.Unlock()

	var rep reply
	switch {
	case !authorized:
		rep = errorReply(http.StatusUnauthorized, apiError{
			Message: "Incorrect API key provided",
			Type:    "invalid_request_error",
			Code:    "invalid_api_key",
		})
	case r.URL.Path == "/v1/chat/completions":
		switch {
		case r.Method != http.MethodPost:
			rep = methodNotAllowed(r)
		case in.err != "":
			rep = errorReply(http.StatusBadRequest, apiError{Message: in.err, Type: "invalid_request_error"})
		case adm.reply != nil:
			rep = *adm.reply
		default:
			rep = s.answer(&in, f, seq)
		}
	case r.URL.Path == "/v1/models":
		if r.Method != http.MethodGet {
			rep = methodNotAllowed(r)
		} else {
			rep = modelsReply()
		}
	case isBatchPath(r.URL.Path):
		rep = s.batchAPI(r, body, readErr)
	default:
		rep = unknownURL(r)
	}

	// The limits' headers go with every reply to a request they saw,
	// unless a scripted fault set its own.
	for k, v := range adm.header {
		if _, ok := rep.header[k]; !ok && rep.header != nil {
			rep.header[k] = v
		}
	}

	// A request refused by the limits is answered at once, as OpenAI does.
	delay := s.opts.Latency
	if adm.reply != nil {
		delay = 0
	}
	var hold <-chan struct{}
	if f != nil {
		delay += f.Delay
		hold = f.Hold
	}
	if !s.wait(r.Context(), hold, delay) {
		dropConn(w)
		s.finish(idx, reply{}, false, true, adm.arrived)
		return
	}
	sent := rep.write(w)
	s.finish(idx, rep, sent, false, adm.arrived)
}

// fireLocked returns the fault of the first rule that matches a decoded chat
// completion request and has uses left, counting the use, or nil when none
// does; s.mu must be held. Live requests admitted by the rate limits and
// batch lines go through it alike.
func (s *Server) fireLocked(in *incoming) *Fault {
	for _, rule := range s.rules {
		if rule.matches(in.content, in.parsed.Step, in.req.ServiceTier) {
			rule.fired++
			fault := rule.Fault
			return &fault
		}
	}
	return nil
}

// answer decides the reply to a decoded chat completion request: the
// fault's reply when a rule fired (f not nil), the normal one otherwise. A
// live request and a batch line get the same answer.
func (s *Server) answer(in *incoming, f *Fault, seq int) reply {
	if f != nil {
		return s.faultReply(f, in, seq)
	}
	return s.chatReply(in, nil, seq)
}

// unknownURL is the 404 of a path the server does not serve.
func unknownURL(r *http.Request) reply {
	return errorReply(http.StatusNotFound, apiError{
		Message: fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path),
		Type:    "invalid_request_error",
		Code:    "unknown_url",
	})
}

// admitLocked puts a decoded chat completion request that costs tokens to
// the rate limits and fills in adm; s.mu must be held.
func (s *Server) admitLocked(adm *admission, tokens int) {
	v := s.limits.take(adm.arrived, tokens)
	if len(v.header) > 0 && !s.opts.BareLimits {
		adm.header = v.header
	}
	switch v.limited {
	case "":
		adm.tokens = tokens
		s.stats.Charged++
		s.stats.ChargedTokens += tokens
		return
	case LimitRequests:
		s.stats.LimitedRequests++
	case LimitTokens:
		s.stats.LimitedTokens++
	}
	adm.limited = v.limited
	rep := limitReply(v, tokens, s.opts.TPM, s.opts.BareLimits)
	adm.reply = &rep
}

// wait waits for hold to be closed (if not nil), then for delay. It returns
// false if the request's context ended or the server closed first.
func (s *Server) wait(ctx context.Context, hold <-chan struct{}, delay time.Duration) bool {
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return false
		case <-s.done:
			return false
		}
	}
	if delay <= 0 {
		return true
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// finish records the outcome of request idx, which arrived at arrived, and
// marks it no longer in flight.
func (s *Server) finish(idx int, rep reply, sent, canceled bool, arrived time.Time) {
	var replied time.Time
	if !canceled && rep.kind != replyDrop {
		replied = s.opts.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case canceled:
		s.stats.Canceled++
	case rep.kind == replyDrop:
		s.stats.Dropped++
	default:
		if idx >= 0 {
			s.reqs[idx].Status = rep.status
			s.reqs[idx].Replied = replied
		}
		s.stats.ByStatus[rep.status]++
		if rep.ok && sent {
			s.stats.OK++
			s.paid[rep.key]++
			s.latency.Add(replied.Sub(arrived))
		}
	}
	s.stats.InFlight--
	s.notifyLocked()
}

// write sends the reply and reports whether all of it was written.
func (rep reply) write(w http.ResponseWriter) bool {
	switch rep.kind {
	case replyDrop:
		dropConn(w)
		return false
	case replyTruncate:
		conn, bufrw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return false
		}
		defer conn.Close()
		h := rep.header.Clone()
		h.Set("Content-Length", strconv.Itoa(len(rep.body)))
		fmt.Fprintf(bufrw, "HTTP/1.1 %d %s\r\n", rep.status, http.StatusText(rep.status))
		h.Write(bufrw)
		bufrw.WriteString("\r\n")
		bufrw.Write(rep.body[:len(rep.body)/2])
		bufrw.Flush()
		return false
	}
	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(rep.status)
	_, err := w.Write(rep.body)
	return err == nil
}

// dropConn closes the connection of w without a reply.
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (e.g. HTTP/2): abort the response instead.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
