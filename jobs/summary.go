package jobs

import (
	"fmt"
	"sort"
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

// price is a model's list price in US dollars per million tokens.
type price struct{ prompt, completion float64 }

// prices are list prices for common OpenAI models (standard tier), used for
// the estimated cost in the summary. A model not listed has no estimate.
var prices = map[string]price{
	"gpt-4.1":      {2.00, 8.00},
	"gpt-4.1-mini": {0.40, 1.60},
	"gpt-4.1-nano": {0.10, 0.40},
	"gpt-4o":       {2.50, 10.00},
	"gpt-4o-mini":  {0.15, 0.60},
}

// knownModels lists the models with a list price.
func knownModels() string {
	names := make([]string, 0, len(prices))
	for m := range prices {
		names = append(names, m)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// EstimatedCost is the cost of u at model's list price, and whether the
// price is known.
func EstimatedCost(model string, u Usage) (float64, bool) {
	p, ok := prices[model]
	if !ok {
		return 0, false
	}
	return (float64(u.PromptTokens)*p.prompt + float64(u.CompletionTokens)*p.completion) / 1e6, true
}

// Report is the closing summary printed at the end of a run.
func (s Summary) Report(model, outDir string) string {
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
	cost := "unknown (no list price for " + model + ")"
	if c, ok := EstimatedCost(model, s.Usage); ok {
		cost = fmt.Sprintf("$%.4f at %s list prices", c, model)
	}
	fmt.Fprintf(&b, "  requests %d (%d retries), tokens %d prompt + %d completion, estimated cost %s, time %s\n",
		s.Requests, s.Retries, s.Usage.PromptTokens, s.Usage.CompletionTokens, cost, s.Elapsed.Round(time.Millisecond))
	if s.Written {
		fmt.Fprintf(&b, "  outputs in %s\n", outDir)
	} else {
		fmt.Fprintf(&b, "  outputs not written: the previous ones in %s are kept\n", outDir)
	}
	return b.String()
}
