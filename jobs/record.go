package jobs

import "time"

// How a run ended, as RunRecord.Status gives it.
const (
	RunDone        = "done"        // every row was done (some may have failed)
	RunInterrupted = "interrupted" // cancelled (Ctrl-C, SIGTERM) before every row was done
	RunStopped     = "stopped"     // stopped early by an error (ErrStopped: a rejected key, exhausted quota)
	RunBudget      = "budget"      // --max-cost stopped it
)

// RunRecord is run.json: the account of one run for monitors and nightly
// reports, written beside the outputs. Summary.Record fills what the
// summary knows; the caller sets the rest (Version, Command, ExitCode,
// Input, Output, and Error when the run ended with an error the summary
// does not know).
type RunRecord struct {
	Tool    string `json:"tool"`    // always "tarjama"
	Version string `json:"version"` // tarjama's version
	Command string `json:"command"` // "run", "batch collect", ...
	Status  string `json:"status"`  // RunDone, RunInterrupted, RunStopped or RunBudget
	// ExitCode is the process's exit status (SPEC.md: 0, 1, 2 or 130).
	ExitCode int `json:"exit_code"`
	// Error is why the run stopped, if it did.
	Error string `json:"error,omitempty"`
	// Input is the input file as messages name it, Output the output
	// directory.
	Input  string `json:"input"`
	Output string `json:"output"`

	StartedAt      time.Time `json:"started_at"`
	FinishedAt     time.Time `json:"finished_at"`
	ElapsedSeconds float64   `json:"elapsed_seconds"`

	Model        string `json:"model"`
	SummaryModel string `json:"summary_model"`

	Rows    int `json:"rows"`
	OK      int `json:"ok"`
	Skipped int `json:"skipped"`
	Failed  int `json:"failed"`
	Cached  int `json:"cached"`

	Requests int `json:"requests"`
	Retries  int `json:"retries"`

	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// CostUSD is the estimated cost at the price table; CostKnown is false
	// when a model has no price (CostUSD then counts only the priced ones).
	CostUSD   float64 `json:"cost_usd"`
	CostKnown bool    `json:"cost_known"`

	// GlossaryEntries counts the glossary entries found in the articles,
	// GlossaryMisses those their translation did not use.
	GlossaryEntries int `json:"glossary_entries"`
	GlossaryMisses  int `json:"glossary_misses"`

	// FailedRows are the first MaxFailedRows failed rows in input order
	// (never null), FailedMore how many more failed.
	FailedRows []FailedRow `json:"failed_rows"`
	FailedMore int         `json:"failed_rows_more"`
}

// Record is s as run.json: Tool, Status, Error (why the run stopped), the
// times, models, counts, tokens, cost, glossary figures and failed rows.
// The caller sets the rest.
func (s Summary) Record() RunRecord {
	status := RunDone
	switch {
	case s.Stopped != "":
		status = RunStopped
	case s.Interrupted:
		status = RunInterrupted
	case s.BudgetReached:
		status = RunBudget
	}
	rec := RunRecord{
		Tool:             "tarjama",
		Status:           status,
		Error:            s.Stopped,
		ElapsedSeconds:   s.Elapsed.Seconds(),
		Model:            s.Model,
		SummaryModel:     s.SummaryModel,
		Rows:             s.Rows,
		OK:               s.OK,
		Skipped:          s.Skipped,
		Failed:           s.Failed,
		Cached:           s.Cached,
		Requests:         s.Requests,
		Retries:          s.Retries,
		PromptTokens:     s.Usage.PromptTokens,
		CompletionTokens: s.Usage.CompletionTokens,
		CostUSD:          s.Cost,
		CostKnown:        s.CostKnown,
		GlossaryEntries:  s.GlossaryTerms,
		GlossaryMisses:   s.GlossaryMisses,
		FailedRows:       append([]FailedRow{}, s.FailedRows...),
		FailedMore:       s.FailedMore,
	}
	if !s.Started.IsZero() {
		rec.StartedAt = s.Started
		rec.FinishedAt = s.Started.Add(s.Elapsed)
	}
	return rec
}
