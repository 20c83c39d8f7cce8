package jobs

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Progress is the running count of a run, safe to read from another
// goroutine while the run goes on.
type Progress struct {
	total, rows, ok, failed, skipped atomic.Int64
	requests, retries                atomic.Int64
	promptTokens, completionTokens   atomic.Int64
	// microUSD is the cost so far in millionths of a dollar.
	microUSD atomic.Int64
}

// ProgressSnapshot is Progress at one moment.
type ProgressSnapshot struct {
	Total, Rows, OK, Failed, Skipped, Requests, Retries int64
	// PromptTokens and CompletionTokens are the tokens paid so far, Cost
	// their cost in US dollars at the price table.
	PromptTokens, CompletionTokens int64
	Cost                           float64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() ProgressSnapshot {
	return ProgressSnapshot{
		Total: p.total.Load(), Rows: p.rows.Load(), OK: p.ok.Load(),
		Failed: p.failed.Load(), Skipped: p.skipped.Load(),
		Requests: p.requests.Load(), Retries: p.retries.Load(),
		PromptTokens: p.promptTokens.Load(), CompletionTokens: p.completionTokens.Load(),
		Cost: float64(p.microUSD.Load()) / 1e6,
	}
}

// paid adds a paid reply's tokens and cost.
func (p *Progress) paid(u Usage, cost float64) {
	p.promptTokens.Add(int64(u.PromptTokens))
	p.completionTokens.Add(int64(u.CompletionTokens))
	p.microUSD.Add(int64(cost*1e6 + 0.5))
}

// EstimatedCost is the cost of u at model's list price (DefaultPrices),
// and whether the price is known.
func EstimatedCost(model string, u Usage) (float64, bool) {
	return DefaultPrices().Cost(model, u)
}

// Report is the closing summary printed at the end of a run.
func (s Summary) Report(outDir string) string {
	var b strings.Builder
	state := "done"
	switch {
	case s.Interrupted:
		state = "interrupted"
	case s.BudgetReached:
		state = "stopped at --max-cost"
	}
	fmt.Fprintf(&b, "tarjama: %s: %d rows: %d ok, %d skipped, %d failed, %d cached\n",
		state, s.Rows, s.OK, s.Skipped, s.Failed, s.Cached)
	cost := "unknown (a model has no price; see --prices)"
	if s.CostKnown {
		cost = fmt.Sprintf("$%.4f", s.Cost)
	}
	fmt.Fprintf(&b, "  requests %d (%d retries), tokens %d prompt + %d completion, estimated cost %s, time %s\n",
		s.Requests, s.Retries, s.Usage.PromptTokens, s.Usage.CompletionTokens, cost, s.Elapsed.Round(time.Millisecond))
	if s.GlossaryTerms > 0 {
		fmt.Fprintf(&b, "  glossary: %d of %d entries found in the articles were missing from their translation\n",
			s.GlossaryMisses, s.GlossaryTerms)
	}
	if s.Written {
		fmt.Fprintf(&b, "  outputs in %s\n", outDir)
	} else {
		fmt.Fprintf(&b, "  outputs not written: the previous ones in %s are kept\n", outDir)
	}
	return b.String()
}
