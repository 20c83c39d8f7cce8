package jobs

import (
	"fmt"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
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

// MaxFailedRows is how many failed rows a Summary lists; the others are
// only counted (Summary.FailedMore), so that memory stays bounded.
const MaxFailedRows = 20

const (
	// maxFailedError bounds the error text a Summary keeps for a failed
	// row; results.csv and results.json hold it whole.
	maxFailedError = 1000
	// reportError and reportID bound the error and id of a failed row in
	// Report and Table, which put each row on one line.
	reportError = 160
	reportID    = 40
)

// FailedRow is a failed row as the closing summary lists it.
type FailedRow struct {
	Row   int    `json:"row"`   // 1-based row number in the input
	ID    string `json:"id"`    // the row's id
	Error string `json:"error"` // reason code and message, as in results.csv
}

// addFailed lists r, a failed row, or counts it in FailedMore once
// MaxFailedRows are listed.
func (s *Summary) addFailed(r Result) {
	if len(s.FailedRows) >= MaxFailedRows {
		s.FailedMore++
		return
	}
	s.FailedRows = append(s.FailedRows, FailedRow{Row: r.Row, ID: r.ID, Error: clip(r.Error, maxFailedError)})
}

// state is how the run ended, in the words of the summary's first line.
func (s Summary) state() string {
	switch {
	case s.Interrupted:
		return "interrupted"
	case s.BudgetReached:
		return "stopped at --max-cost"
	case s.Stopped != "":
		return "stopped"
	}
	return "done"
}

// cost is the estimated cost as the summary prints it.
func (s Summary) cost() string {
	if s.CostKnown {
		return fmt.Sprintf("$%.4f", s.Cost)
	}
	return "unknown (a model has no price; see --prices)"
}

// moreFailed is the line that counts the failed rows not listed, or "".
func (s Summary) moreFailed() string {
	if s.FailedMore == 0 {
		return ""
	}
	return fmt.Sprintf("... and %d more (see results.csv)", s.FailedMore)
}

// Report is the closing summary printed at the end of a run: its first
// lines give the counts, the cost and where the outputs are, then come
// the failed rows (the first MaxFailedRows, each on one line with its error
// shortened).
func (s Summary) Report(outDir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tarjama: %s: %d rows: %d ok, %d skipped, %d failed, %d cached\n",
		s.state(), s.Rows, s.OK, s.Skipped, s.Failed, s.Cached)
	fmt.Fprintf(&b, "  requests %d (%d retries), tokens %d prompt + %d completion, estimated cost %s, time %s\n",
		s.Requests, s.Retries, s.Usage.PromptTokens, s.Usage.CompletionTokens, s.cost(), s.Elapsed.Round(time.Millisecond))
	if s.GlossaryTerms > 0 {
		fmt.Fprintf(&b, "  glossary: %d of %d entries found in the articles were missing from their translation\n",
			s.GlossaryMisses, s.GlossaryTerms)
	}
	if s.Written {
		fmt.Fprintf(&b, "  outputs in %s\n", outDir)
	} else {
		fmt.Fprintf(&b, "  outputs not written: the previous ones in %s are kept\n", outDir)
	}
	if len(s.FailedRows) > 0 {
		b.WriteString("  failed rows:\n")
		for _, f := range s.FailedRows {
			fmt.Fprintf(&b, "    row %d (id %s): %s\n", f.Row, oneLine(f.ID, reportID), oneLine(f.Error, reportError))
		}
		if more := s.moreFailed(); more != "" {
			fmt.Fprintf(&b, "    %s\n", more)
		}
	}
	return b.String()
}

// Table is the closing summary as tables, for a terminal: one figure a
// line, then the failed rows (the first MaxFailedRows) with their errors
// shortened.
func (s Summary) Table(outDir string) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	status := s.state()
	if s.Stopped != "" {
		status = "stopped: " + oneLine(s.Stopped, reportError)
	}
	fmt.Fprintf(tw, "status\t%s\n", status)
	fmt.Fprintf(tw, "rows\t%d\n", s.Rows)
	fmt.Fprintf(tw, "ok\t%d\n", s.OK)
	fmt.Fprintf(tw, "skipped\t%d\n", s.Skipped)
	fmt.Fprintf(tw, "failed\t%d\n", s.Failed)
	fmt.Fprintf(tw, "cached\t%d\n", s.Cached)
	fmt.Fprintf(tw, "requests\t%d\n", s.Requests)
	fmt.Fprintf(tw, "retries\t%d\n", s.Retries)
	fmt.Fprintf(tw, "prompt tokens\t%d\n", s.Usage.PromptTokens)
	fmt.Fprintf(tw, "completion tokens\t%d\n", s.Usage.CompletionTokens)
	fmt.Fprintf(tw, "estimated cost\t%s\n", s.cost())
	fmt.Fprintf(tw, "time\t%s\n", s.Elapsed.Round(time.Millisecond))
	if s.GlossaryTerms > 0 {
		fmt.Fprintf(tw, "glossary misses\t%d of %d entries\n", s.GlossaryMisses, s.GlossaryTerms)
	}
	if s.Written {
		fmt.Fprintf(tw, "outputs\t%s\n", outDir)
	} else {
		fmt.Fprintf(tw, "outputs\tnot written: the previous ones in %s are kept\n", outDir)
	}
	tw.Flush()
	if len(s.FailedRows) == 0 {
		return b.String()
	}
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ROW\tID\tERROR\n")
	for _, f := range s.FailedRows {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", f.Row, oneLine(f.ID, reportID), oneLine(f.Error, reportError))
	}
	tw.Flush()
	if more := s.moreFailed(); more != "" {
		fmt.Fprintf(&b, "%s\n", more)
	}
	return b.String()
}

// oneLine puts s on one line for a terminal: control characters (line
// breaks, tabs, escapes) become spaces, each run of spaces one space, and
// the text is cut to max characters, the last one "…" (max 0: no cut).
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return clip(strings.Join(strings.Fields(s), " "), max)
}

// clip cuts s to max characters, the last one "…" (max 0: no cut).
func clip(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}
