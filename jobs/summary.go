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
}

// ProgressSnapshot is Progress at one moment.
type ProgressSnapshot struct {
	Total, Rows, OK, Failed, Skipped, Requests, Retries int64
}

// Snapshot reads the counters.
func (p *Progress) Snapshot() ProgressSnapshot {
	return ProgressSnapshot{
		Total: p.total.Load(), Rows: p.rows.Load(), OK: p.ok.Load(),
		Failed: p.failed.Load(), Skipped: p.skipped.Load(),
		Requests: p.requests.Load(), Retries: p.retries.Load(),
	}
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
