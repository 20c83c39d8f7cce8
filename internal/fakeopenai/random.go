package fakeopenai

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// The kinds of random fault (Options.FaultRate), as Stats.RandomFaults
// names them.
const (
	kindRateLimitRetryAfter = "429_retry_after" // 429 rate_limit_exceeded, retry after a simulated second
	kindRateLimit           = "429"             // 429 rate_limit_exceeded, no Retry-After
	kindServerError         = "500"             // 500 server_error
	kindBadGatewayHTML      = "502_html"        // 502 with an HTML body, as proxies send
	kindUnavailable         = "503"             // 503 server_error (overloaded)
	kindDrop                = "drop"            // connection closed without a reply
	kindHold                = "hold"            // no reply until the client gives up
	kindTruncate            = "truncate"        // 200, half the body, connection closed
	kindInvalidJSON         = "invalid_json"    // 200 with a malformed body
	kindNonEnglish          = "non_english"     // 200, the reply in Arabic
	kindLength              = "length"          // 200, finish_reason length, content cut
	kindContentFilter       = "content_filter"  // 200, finish_reason content_filter, no content
	kindRefuseText          = "refuse_text"     // 200, RefusalText as the content
)

// randomFaultList is what each kind does. Its order is part of what
// FaultSeed gives: add kinds at the end.
var randomFaultList = []struct {
	kind  string
	fault Fault
}{
	{kindRateLimitRetryAfter, Fault{Status: http.StatusTooManyRequests}}, // the retry-after headers are set by the draw
	{kindRateLimit, Fault{Status: http.StatusTooManyRequests}},
	{kindServerError, Fault{Status: http.StatusInternalServerError}},
	{kindBadGatewayHTML, Fault{HTMLBody: true}},
	{kindUnavailable, Fault{Status: http.StatusServiceUnavailable}},
	{kindDrop, Fault{Drop: true}},
	{kindHold, Fault{}}, // Hold is set to the server's never-closed channel
	{kindTruncate, Fault{Truncate: true}},
	{kindInvalidJSON, Fault{InvalidJSON: true}},
	{kindNonEnglish, Fault{NonEnglish: true}},
	{kindLength, Fault{Length: true}},
	{kindContentFilter, Fault{Refuse: true}},
	{kindRefuseText, Fault{RefuseText: true}},
}

// RandomFaultKinds returns the kinds of random fault that Options.FaultRate
// draws from, each as likely as the others.
func RandomFaultKinds() []string {
	kinds := make([]string, len(randomFaultList))
	for i, f := range randomFaultList {
		kinds[i] = f.kind
	}
	return kinds
}

// randomFaults draws the faults of Options.FaultRate.
type randomFaults struct {
	rate  float64
	rng   *rand.Rand
	never chan struct{} // never closed: the Hold of kindHold
}

// newRandomFaults returns the draws for rate and seed, or nil when rate is
// 0.
func newRandomFaults(rate float64, seed int64) *randomFaults {
	if rate == 0 {
		return nil
	}
	return &randomFaults{
		rate:  rate,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		never: make(chan struct{}),
	}
}

// randomFaultLocked draws the random fault of an admitted chat completion,
// counting it, or returns nil for none; s.mu must be held, so that the
// draws follow the order of admission.
func (s *Server) randomFaultLocked() *Fault {
	rf := s.faults
	if rf == nil || rf.rng.Float64() >= rf.rate {
		return nil
	}
	pick := randomFaultList[rf.rng.IntN(len(randomFaultList))]
	if s.stats.RandomFaults == nil {
		s.stats.RandomFaults = make(map[string]int)
	}
	s.stats.RandomFaults[pick.kind]++
	f := pick.fault
	switch pick.kind {
	case kindRateLimitRetryAfter:
		// One simulated second, in real time as the limits' own 429s
		// give it: whole seconds rounded up, and milliseconds.
		wait := time.Duration(float64(time.Second) / timeScale(s.opts.TimeScale))
		f.RetryAfter = strconv.FormatInt(int64(ceilDuration(wait, time.Second)/time.Second), 10)
		f.RetryAfterMS = strconv.FormatInt(int64(ceilDuration(wait, time.Millisecond)/time.Millisecond), 10)
	case kindHold:
		f.Hold = rf.never
	}
	return &f
}
