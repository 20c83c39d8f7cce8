package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/tarjama/tarjama/internal/tokens"
	"github.com/tarjama/tarjama/jobs"
)

func estimateCommandDef(env *Env) *cli.Command {
	flags := runFlags()
	return &cli.Command{
		Name:      "estimate",
		Usage:     "what a run would do, without any request: articles, requests, tokens, time and cost",
		UsageText: "tarjama estimate -i articles.csv [--rpm N] [--tpm N] [--json] [flags of run]",
		Description: "Takes the flags of run and makes no API call: the input is checked and\n" +
			"read, every request is rendered and its prompt counted offline, the\n" +
			"state file (if it exists) says which articles are already done, and\n" +
			"the time is worked out at --rpm/--tpm and the cost at the price table.",
		Flags:  flags,
		Before: loadConfig(flags),
		Action: func(c *cli.Context) error {
			return estimateCommand(c.Context, runOptionsFrom(c), env)
		},
	}
}

// estimateCommand is `tarjama estimate` and `tarjama run --dry-run`.
func estimateCommand(ctx context.Context, o runOptions, env *Env) error {
	opts, _, cleanup, err := prepare(o, env, false)
	if err != nil {
		return err
	}
	defer cleanup()
	counter := tokens.New()
	plan, err := jobs.Estimate(ctx, opts, counter, opts.Prices, jobs.Limits{RPM: o.RPM, TPM: o.TPM})
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	writePlan(env.Stdout, plan, counter.Encoding(opts.Model), opts.Prices)
	return nil
}

// writePlan prints the plan as a table.
func writePlan(w io.Writer, p jobs.Plan, encoding string, prices jobs.Prices) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rows\t%d\t(%d skipped, %d repeat an earlier row)\n", p.Rows, p.Skipped, p.Duplicates)
	fmt.Fprintf(tw, "articles\t%d\t(%d new, %d already done in the state file)\n", p.Articles, p.New, p.Cached)
	split := ""
	if p.Chunks > 0 {
		split = fmt.Sprintf(", %d translation requests for articles split by --max-chunk-tokens", p.Chunks)
	}
	fmt.Fprintf(tw, "requests\t%d\t(translation and key points%s)\n", p.Requests, split)
	fmt.Fprintf(tw, "prompt tokens\t%d\t(counted offline: %s; key-point prompts assume a translation 0.86 times the Arabic)\n", p.PromptTokens, encoding)
	fmt.Fprintf(tw, "completion tokens\t%d\t(estimated)\n", p.CompletionTokens)
	switch {
	case p.Limits.RPM == 0 && p.Limits.TPM == 0:
		fmt.Fprintf(tw, "time\t-\t(no --rpm or --tpm: the server's limits decide)\n")
	default:
		fmt.Fprintf(tw, "time\t%.1f min\t(at --rpm %d --tpm %d)\n", p.Minutes, p.Limits.RPM, p.Limits.TPM)
	}
	if p.CostKnown {
		pr := prices[p.Model]
		fmt.Fprintf(tw, "cost\t$%.4f\t(%s at $%.2f input / $%.2f output per million tokens)\n", p.Cost, p.Model, pr.Input, pr.Output)
	} else {
		fmt.Fprintf(tw, "cost\t-\t(no price for %s or %s: give one with --prices FILE)\n", p.Model, p.Summary)
	}
	tw.Flush()
}
