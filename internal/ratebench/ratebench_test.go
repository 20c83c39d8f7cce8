package ratebench

// BenchmarkRateLimit runs the whole pipeline (jobs.Run, the real chat
// client, the real output writers) against the test server with rate
// limits, on a clock sped up timeScale times:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./internal/ratebench/
//
// The configurations, all with a simulated latency of simLatency per reply:
//
//   - rpm-bound: the server allows 500 requests and 10M tokens per simulated
//     minute, and the client is told the same (in real time: times
//     timeScale). Requests bind.
//   - tpm-bound: as rpm-bound, but the token limit is half of what 500
//     requests would use (from a calibration run), so tokens bind at about
//     250 requests per simulated minute.
//   - latency-bound: no limits and --concurrency 8 (the default): at most 8
//     requests are in flight, so at most 8/simLatency requests pass.
//   - adaptive-rpm and adaptive-tpm: the server limits of rpm-bound and
//     tpm-bound, and a client without --rpm/--tpm, which must find the
//     rate from the rate-limit headers and the 429s.
//   - adaptive-bare-rpm and adaptive-bare-tpm: as adaptive-rpm and
//     adaptive-tpm, but the server has fakeopenai's BareLimits, as some
//     OpenAI-compatible gateways (LiteLLM, vLLM behind a proxy) do: no
//     x-ratelimit-* headers on any reply, and 429s without retry-after. The
//     client has only the 429s to go by (AIMD), and its retries wait its
//     own backoff, which is real time, not scaled: 500 ms real is 7.5 s
//     simulated.
//
// The limit-bound configurations run 64 rows at a time, which allows
// 64/simLatency = 1,280 requests per simulated minute, 2.5 times the request
// limit: concurrency is not what binds them.
//
// The client's token count of a prompt (llm.Config.EstimatePrompt) is the
// server's own (fakeopenai.PromptTokens), so the two agree on what a
// request costs; a real provider's count differs, and that difference is
// not what these benchmarks measure.
//
// Metrics (simulated time unless said otherwise):
//
//	req/sim-min      requests admitted per simulated minute, whole run
//	tok/sim-min      tokens charged per simulated minute, whole run
//	limit-fraction   the share of what the server would have admitted that
//	                 the client used, for the binding limit (the higher of
//	                 the two shares): from the start to the last request,
//	                 admitted / (refill + held at the start - held at the
//	                 end), from fakeopenai's Quota; for latency-bound, the
//	                 requests per simulated minute over concurrency/latency
//	bound-req/sim-min the binding rate in requests per simulated minute
//	429-share        share of the chat completion requests answered 429 by
//	                 the limits
//	p50-ms, p99-ms   server-side latency of the 200 replies, arrival to reply
//	                 written, in simulated milliseconds (simLatency plus the
//	                 server's own time)
//	call-p50-ms,     the time of one Complete call as the pipeline sees it:
//	call-p99-ms      waits for the client's limits and retries included,
//	                 in simulated milliseconds
//	cuts             the client's AIMD cuts (llm.RateStats.Decreases)
//	sim-min          simulated minutes the run took
//	rows             input rows, each made unique
//
// The server's buckets start full: a client that has not sent anything for
// a minute may send a minute's quota at once (see internal/fakeopenai). The
// whole-run rates of a short run may therefore pass the limit without a
// single 429, which is why limit-fraction counts what the buckets held: it
// is 1 when the client used every request (or token) the server would have
// let through, and it cannot pass 1. Whether the client tried to pass the
// limit shows in 429-share.
//
// A run must cover at least 3 simulated minutes: each configuration gets
// the rows for runMinutes at its binding rate, which takes up to a minute
// less when the start is a burst.

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/testinput"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
	"github.com/tarjama/tarjama/prompts"
)

const (
	// timeScale is simulated seconds per real second: 4 simulated minutes
	// take 16 real seconds, and 500 requests per simulated minute are 125
	// per real second, well within what two cores serve.
	timeScale = 15
	// simLatency is the simulated time the server takes for every reply.
	simLatency = 3 * time.Second
	// runMinutes is the simulated time of the work given to each
	// configuration, at its binding rate.
	runMinutes = 4
	// model is the model every request names: the test server's one model.
	model = fakeopenai.ModelID

	// limitRPM is the request limit of the limit-bound configurations, and
	// hugeTPM a token limit that does not bind.
	limitRPM = 500
	hugeTPM  = 10_000_000
	// limitConcurrency runs enough rows at once for 64/simLatency = 1,280
	// requests per simulated minute.
	limitConcurrency = 64
	// latencyConcurrency is the default --concurrency.
	latencyConcurrency = jobs.DefaultConcurrency
)

// realTime returns the real duration of a simulated one.
func realTime(sim time.Duration) time.Duration { return sim / timeScale }

// simMinutes returns the simulated minutes of a real duration.
func simMinutes(d time.Duration) float64 { return d.Minutes() * timeScale }

// config is one benchmark configuration. Limits are per simulated minute.
type config struct {
	name     string
	rpm, tpm int // the server's limits; 0: none
	// clientLimits gives the client the server's limits (converted to real
	// time); without it the client adapts.
	clientLimits bool
	// bare runs the server with BareLimits: no rate-limit headers, and no
	// retry-after on its 429s.
	bare        bool
	concurrency int
}

// boundRPM returns the binding rate of c in requests per simulated minute.
func (c config) boundRPM(cal calibration) float64 {
	if c.rpm == 0 && c.tpm == 0 {
		return float64(c.concurrency) * float64(time.Minute) / float64(simLatency)
	}
	bound := math.Inf(1)
	if c.rpm > 0 {
		bound = float64(c.rpm)
	}
	if c.tpm > 0 {
		bound = math.Min(bound, float64(c.tpm)/cal.tokensPerRequest)
	}
	return bound
}

func BenchmarkRateLimit(b *testing.B) {
	if testing.Short() {
		b.Skip("each configuration takes about 15 s; skipped in -short mode")
	}
	cal := calibrate(b)
	// Tokens bind at half the request limit.
	tokenBound := int(cal.tokensPerRequest * limitRPM / 2)
	configs := []config{
		{name: "rpm-bound", rpm: limitRPM, tpm: hugeTPM, clientLimits: true, concurrency: limitConcurrency},
		{name: "tpm-bound", rpm: limitRPM, tpm: tokenBound, clientLimits: true, concurrency: limitConcurrency},
		{name: "latency-bound", concurrency: latencyConcurrency},
		{name: "adaptive-rpm", rpm: limitRPM, tpm: hugeTPM, concurrency: limitConcurrency},
		{name: "adaptive-tpm", rpm: limitRPM, tpm: tokenBound, concurrency: limitConcurrency},
		{name: "adaptive-bare-rpm", rpm: limitRPM, tpm: hugeTPM, bare: true, concurrency: limitConcurrency},
		{name: "adaptive-bare-tpm", rpm: limitRPM, tpm: tokenBound, bare: true, concurrency: limitConcurrency},
	}
	for _, c := range configs {
		b.Run(c.name, func(b *testing.B) {
			rows := int(math.Ceil(runMinutes * c.boundRPM(cal) / cal.requestsPerRow))
			path := filepath.Join(b.TempDir(), "articles.csv")
			if err := writeInput(path, sourceArticles(b), rows); err != nil {
				b.Fatal(err)
			}
			var results []result
			b.ResetTimer()
			for range b.N {
				results = append(results, runOnce(b, c, cal, path, rows))
			}
			b.StopTimer()
			report(b, c, cal, results)
		})
	}
}

// result is what one run measured.
type result struct {
	rows             int
	simMinutes       float64
	requests, tokens int // admitted and charged by the server
	limited          int // 429s from the limits
	// fraction is limit-fraction.
	fraction         float64
	p50, p99         time.Duration // server side, real
	callP50, callP99 time.Duration // Complete calls, real
	cuts             int64         // the client's AIMD cuts (RateStats.Decreases)
}

// runOnce runs the pipeline over path once against a new server.
func runOnce(b *testing.B, c config, cal calibration, path string, rows int) result {
	srv := fakeopenai.New(fakeopenai.Options{
		RPM: c.rpm, TPM: c.tpm, TimeScale: timeScale, BareLimits: c.bare,
		Latency:  realTime(simLatency),
		NoRecord: true,
	})
	defer srv.Close()
	cfg := llm.Config{BaseURL: srv.URL(), Model: model, EstimatePrompt: estimatePrompt}
	if c.clientLimits {
		cfg.RPM, cfg.TPM = c.rpm*timeScale, c.tpm*timeScale
	}
	client, err := llm.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	timed := &timedCompleter{c: client}

	smp := startSampler(srv)
	start := time.Now()
	sum, err := runJob(b, path, c.concurrency, timed)
	elapsed := time.Since(start)
	samples := smp.stop()
	if err != nil {
		b.Fatal(err)
	}
	if sum.Rows != rows || sum.OK != rows {
		b.Fatalf("run: %d rows, %d ok, %d skipped, %d failed; want %d ok", sum.Rows, sum.OK, sum.Skipped, sum.Failed, rows)
	}
	if err := srv.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	st := srv.Stats()
	lat := srv.Latencies()
	calls := timed.latencies()
	r := result{
		rows:       rows,
		simMinutes: simMinutes(elapsed),
		requests:   st.Charged,
		tokens:     st.ChargedTokens,
		limited:    st.LimitedRequests + st.LimitedTokens,
		p50:        lat.Quantile(0.5),
		p99:        lat.Quantile(0.99),
		callP50:    calls.Quantile(0.5),
		callP99:    calls.Quantile(0.99),
		cuts:       client.RateStats().Decreases,
	}
	r.fraction = limitFraction(c, cal, samples)
	return r
}

// report averages the runs' results into the benchmark's metrics.
func report(b *testing.B, c config, cal calibration, results []result) {
	var m struct {
		reqRate, tokRate, fraction, share, minutes float64
		p50, p99, callP50, callP99                 float64
		cuts                                       float64
	}
	for _, r := range results {
		m.reqRate += float64(r.requests) / r.simMinutes
		m.tokRate += float64(r.tokens) / r.simMinutes
		m.share += float64(r.limited) / float64(r.requests+r.limited)
		m.minutes += r.simMinutes
		m.p50 += simMS(r.p50)
		m.p99 += simMS(r.p99)
		m.callP50 += simMS(r.callP50)
		m.callP99 += simMS(r.callP99)
		m.fraction += r.fraction
		m.cuts += float64(r.cuts)
	}
	n := float64(len(results))
	b.ReportMetric(m.reqRate/n, "req/sim-min")
	b.ReportMetric(m.tokRate/n, "tok/sim-min")
	b.ReportMetric(m.fraction/n, "limit-fraction")
	b.ReportMetric(c.boundRPM(cal), "bound-req/sim-min")
	b.ReportMetric(m.share/n, "429-share")
	b.ReportMetric(m.cuts/n, "cuts")
	b.ReportMetric(m.p50/n, "p50-ms")
	b.ReportMetric(m.p99/n, "p99-ms")
	b.ReportMetric(m.callP50/n, "call-p50-ms")
	b.ReportMetric(m.callP99/n, "call-p99-ms")
	b.ReportMetric(m.minutes/n, "sim-min")
	b.ReportMetric(float64(results[0].rows), "rows")
	if m.minutes/n < 3 {
		b.Logf("the run covered %.2f simulated minutes, fewer than 3: give it more rows", m.minutes/n)
	}
}

// simMS returns the simulated milliseconds of a real duration.
func simMS(d time.Duration) float64 {
	return float64(d) * timeScale / float64(time.Millisecond)
}

// estimatePrompt counts a request's prompt tokens as the test server does.
func estimatePrompt(req jobs.Request) int {
	msgs := make([]fakeopenai.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = fakeopenai.Message{Role: m.Role, Content: m.Content}
	}
	return fakeopenai.PromptTokens(msgs)
}

// runJob runs jobs.Run over path with c into a new output directory.
func runJob(b *testing.B, path string, concurrency int, c jobs.Completer) (jobs.Summary, error) {
	set, err := prompts.Load("")
	if err != nil {
		b.Fatal(err)
	}
	opts := jobs.Options{
		Path:        path,
		Name:        filepath.Base(path),
		Model:       model,
		KeyPoints:   jobs.DefaultKeyPoints,
		Concurrency: concurrency,
		Prompts:     set,
	}
	outDir := b.TempDir()
	return jobs.Run(context.Background(), opts, c, func(columns []string) (jobs.Sink, error) {
		return output.Open(output.Options{Dir: outDir, Formats: []string{"csv", "json"}, Columns: columns})
	})
}

// --- Calibration ---

// calibration is what one row costs, measured once per process by a run
// over the 60 source articles against a server without limits or latency.
type calibration struct {
	requestsPerRow   float64
	tokensPerRequest float64 // charged: prompt plus max_tokens
}

var calibrated struct {
	sync.Mutex
	cal *calibration
}

func calibrate(b *testing.B) calibration {
	b.Helper()
	calibrated.Lock()
	defer calibrated.Unlock()
	if calibrated.cal != nil {
		return *calibrated.cal
	}
	arts := sourceArticles(b)
	path := filepath.Join(b.TempDir(), "calibration.csv")
	if err := writeInput(path, arts, len(arts)); err != nil {
		b.Fatal(err)
	}
	srv := fakeopenai.New(fakeopenai.Options{NoRecord: true})
	defer srv.Close()
	client, err := llm.New(llm.Config{BaseURL: srv.URL(), Model: model})
	if err != nil {
		b.Fatal(err)
	}
	sum, err := runJob(b, path, latencyConcurrency, client)
	if err != nil {
		b.Fatal(err)
	}
	if sum.OK != len(arts) {
		b.Fatalf("calibration run: %+v, want %d ok", sum, len(arts))
	}
	st := srv.Stats()
	cal := calibration{
		requestsPerRow:   float64(st.Charged) / float64(len(arts)),
		tokensPerRequest: float64(st.ChargedTokens) / float64(st.Charged),
	}
	calibrated.cal = &cal
	b.Logf("calibration: %.3f requests per row, %.0f tokens charged per request", cal.requestsPerRow, cal.tokensPerRequest)
	return cal
}

// --- Measuring ---

// timedCompleter times every Complete call.
type timedCompleter struct {
	c  jobs.Completer
	mu sync.Mutex
	h  fakeopenai.Histogram
}

func (t *timedCompleter) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	start := time.Now()
	reply, err := t.c.Complete(ctx, req)
	d := time.Since(start)
	t.mu.Lock()
	t.h.Add(d)
	t.mu.Unlock()
	return reply, err
}

// latencies returns the histogram of the calls; call it once they are done.
func (t *timedCompleter) latencies() fakeopenai.Histogram {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

// sampler reads the server's Quota every simulated second.
type sampler struct {
	srv    *fakeopenai.Server
	done   chan struct{}
	result chan []fakeopenai.Quota
}

// startSampler takes a first sample and starts sampling.
func startSampler(srv *fakeopenai.Server) *sampler {
	s := &sampler{srv: srv, done: make(chan struct{}), result: make(chan []fakeopenai.Quota)}
	first := srv.Quota()
	go func() {
		t := time.NewTicker(realTime(time.Second))
		defer t.Stop()
		samples := []fakeopenai.Quota{first}
		for {
			select {
			case <-t.C:
				samples = append(samples, s.srv.Quota())
			case <-s.done:
				s.result <- append(samples, s.srv.Quota())
				return
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the samples, the last one taken now.
func (s *sampler) stop() []fakeopenai.Quota {
	close(s.done)
	return <-s.result
}

// limitFraction returns the limit-fraction of a run from its samples, over
// the time from the first sample to the first that has every request of
// the run.
func limitFraction(c config, cal calibration, samples []fakeopenai.Quota) float64 {
	first, last := samples[0], samples[len(samples)-1]
	for _, q := range samples {
		if q.Charged == last.Charged {
			last = q
			break
		}
	}
	minutes := simMinutes(last.At.Sub(first.At))
	if minutes <= 0 {
		return 0
	}
	if c.rpm == 0 && c.tpm == 0 {
		return float64(last.Charged-first.Charged) / minutes / c.boundRPM(cal)
	}
	// share is used over what the bucket could give: its refill over the
	// window and what it held at the start, less what it still holds.
	share := func(limit int, used int, held0, held1 float64) float64 {
		return float64(used) / (float64(limit)*minutes + held0 - held1)
	}
	var f float64
	if c.rpm > 0 {
		f = share(c.rpm, last.Charged-first.Charged, first.Requests, last.Requests)
	}
	if c.tpm > 0 {
		f = math.Max(f, share(c.tpm, last.ChargedTokens-first.ChargedTokens, first.Tokens, last.Tokens))
	}
	return f
}

// --- The input ---

// sourceArticle is one row of testdata/articles.csv.
type sourceArticle = testinput.Article

var loadSource = sync.OnceValues(func() ([]sourceArticle, error) {
	return testinput.Load(filepath.Join("..", "..", "testdata", "articles.csv"))
})

func sourceArticles(b *testing.B) []sourceArticle {
	b.Helper()
	arts, err := loadSource()
	if err != nil {
		b.Fatal(err)
	}
	return arts
}

func writeInput(path string, arts []sourceArticle, rows int) error {
	return testinput.Write(path, arts, rows)
}
