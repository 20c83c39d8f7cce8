package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tarjama/tarjama/internal/batch"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/internal/tokens"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
)

// batchCommand is `tarjama batch`: the job through the Batch API.
func batchCommand(env *Env) *cli.Command {
	sub := func(name, usage, usageText, description string, extra []cli.Flag, action func(context.Context, *cli.Context, runOptions, batchFlags) error) *cli.Command {
		flags := append(runFlags(), batchFlagDefs()...)
		flags = append(flags, extra...)
		return &cli.Command{
			Name: name, Usage: usage, UsageText: usageText,
			Description: description + "\n\n" + exitCodesHelp,
			Flags:       flags,
			Before:      loadConfig(flags),
			Action: func(c *cli.Context) error {
				return action(c.Context, c, runOptionsFrom(c), batchFlagsFrom(c))
			},
		}
	}
	return &cli.Command{
		Name:  "batch",
		Usage: "the same job through the provider's Batch API (half price, results within 24 hours), or offline engines that read its JSONL",
		Description: "submit sends the first phase (the translations); collect, run from cron as\n" +
			"often as you like, reads the batches that finished, sends the next phase\n" +
			"(key points need the translations) and, once every row is done, writes the\n" +
			"same outputs as run. status shows the batches. export and import do the\n" +
			"same with files instead of uploads, for vLLM's run_batch.",
		Subcommands: []*cli.Command{
			sub("submit", "send the articles not done yet as batches",
				"tarjama batch submit -i articles.csv [-o out] [flags of run]",
				"Checks the input, and sends every request that the state file does not\nhold a reply for as lines of JSONL input files (at most --batch-max-lines\nlines and --batch-max-bytes bytes each), one batch per file.",
				nil, func(ctx context.Context, c *cli.Context, o runOptions, b batchFlags) error {
					return batchRun(ctx, o, b, env, "submit")
				}),
			sub("collect", "read finished batches, send the next phase, write the outputs when all is done",
				"tarjama batch collect -i articles.csv [-o out] [flags of run]",
				"Safe to run at any time: batches still in flight are left alone. Lines\nthat failed are sent again up to --max-retries times; the lines of an\nexpired or cancelled batch are sent again.",
				nil, func(ctx context.Context, c *cli.Context, o runOptions, b batchFlags) error {
					return batchRun(ctx, o, b, env, "collect")
				}),
			sub("status", "show the batches and where the job stands",
				"tarjama batch status [-o out | --state FILE]",
				"Asks the API for the state of every batch not yet collected.",
				nil, func(ctx context.Context, c *cli.Context, o runOptions, b batchFlags) error {
					return batchStatus(ctx, o, env)
				}),
			sub("export", "write the requests as Batch API JSONL files, without uploading",
				"tarjama batch export -i articles.csv --out DIR [flags of run]",
				"For an engine that reads the Batch API's input format offline, such as\nvLLM's run_batch. Read the results back with tarjama batch import, then\nexport again for the next phase until the outputs are written.",
				[]cli.Flag{altsrc.NewStringFlag(&cli.StringFlag{Name: "out", Usage: "`DIR` for the JSONL input files"})},
				func(ctx context.Context, c *cli.Context, o runOptions, b batchFlags) error {
					b.Out = c.String("out")
					return batchRun(ctx, o, b, env, "export")
				}),
			sub("import", "read Batch API result files (as vLLM's run_batch writes them) into the state file",
				"tarjama batch import -i articles.csv [flags of run] FILE...",
				"Reads the result lines into the state file and makes a pass: when every\nrow is done the outputs are written; else export the next phase.",
				nil, func(ctx context.Context, c *cli.Context, o runOptions, b batchFlags) error {
					b.Files = c.Args().Slice()
					return batchRun(ctx, o, b, env, "import")
				}),
		},
	}
}

// batchFlags are the flags of the batch commands beyond those of run.
type batchFlags struct {
	MaxLines, MaxBytes int
	Out                string
	Files              []string
}

func batchFlagDefs() []cli.Flag {
	return []cli.Flag{
		altsrc.NewIntFlag(&cli.IntFlag{Name: "batch-max-lines", Value: batch.DefaultMaxLines, Usage: "requests per batch input file at most (`N`; the provider's limit)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "batch-max-bytes", Value: batch.DefaultMaxBytes, Usage: "bytes per batch input file at most (`N`; the provider's limit)"}),
	}
}

func batchFlagsFrom(c *cli.Context) batchFlags {
	return batchFlags{MaxLines: c.Int("batch-max-lines"), MaxBytes: c.Int("batch-max-bytes")}
}

// batchOptions builds what every batch command needs: the job, the state
// file, the client and the outputs. done closes what it opened.
func batchOptions(ctx context.Context, o runOptions, b batchFlags, env *Env, mustExist bool) (bo batch.Options, done func(), err error) {
	if b.MaxLines < 1 || b.MaxBytes < 1024 {
		return bo, func() {}, &usageError{fmt.Sprintf("--batch-max-lines %d, --batch-max-bytes %d: want at least 1 line and 1024 bytes", b.MaxLines, b.MaxBytes), fmt.Sprintf("--batch-max-lines %d", batch.DefaultMaxLines)}
	}
	formats, err := output.ParseFormats(o.Formats)
	if err != nil {
		return bo, func() {}, &usageError{fmt.Sprintf("--format: %v", err), "--format csv,json,jsonl"}
	}
	o.ServiceTier = "default" // flex is for live calls
	opts, log, cleanup, err := prepare(o, env, false)
	if err != nil {
		return bo, func() {}, err
	}
	statePath := o.State
	if statePath == "" {
		statePath = filepath.Join(o.Output, "state.db")
	}
	if _, serr := os.Stat(statePath); mustExist && serr != nil {
		cleanup()
		return bo, func() {}, &usageError{fmt.Sprintf("no state file at %s: nothing was submitted from there", statePath), "tarjama batch submit -i articles.csv -o " + o.Output}
	}
	store, err := state.Open(ctx, statePath, o.stateOptions(log))
	if err != nil {
		cleanup()
		return bo, func() {}, err
	}
	client, err := newClient(o, log, env, tokens.New())
	if err != nil {
		store.Close()
		cleanup()
		return bo, func() {}, err
	}
	// Batch requests cost half the list price.
	opts.Prices = opts.Prices.Scaled(0.5)
	bo = batch.Options{
		Job: opts, Store: store, API: client,
		OpenSink: func(columns []string) (jobs.Sink, error) {
			return output.Open(output.Options{Dir: o.Output, Formats: formats, Excel: o.Excel, Columns: columns, Perm: o.outputPerm()})
		},
		MaxRetries: o.MaxRetries,
		MaxLines:   b.MaxLines, MaxBytes: b.MaxBytes,
		SpoolDir: filepath.Join(filepath.Dir(statePath), "batch-files"),
		Logger:   log,
	}
	bo.FileMode, bo.DirMode = o.perms()
	return bo, func() {
		if err := store.Close(); err != nil {
			log.Error("close the state file", "path", statePath, "err", err)
		}
		cleanup()
	}, nil
}

// batchRun is `tarjama batch submit|collect|export|import`.
func batchRun(ctx context.Context, o runOptions, b batchFlags, env *Env, cmd string) error {
	switch {
	case cmd == "export" && b.Out == "":
		return &usageError{"batch export: no --out DIR", "tarjama batch export -i articles.csv --out batches/"}
	case cmd == "import" && len(b.Files) == 0:
		return &usageError{"batch import: no result file", "tarjama batch import -i articles.csv results.jsonl"}
	}
	bo, done, err := batchOptions(ctx, o, b, env, cmd == "collect")
	if err != nil {
		return err
	}
	defer done()
	var rep batch.Report
	switch cmd {
	case "submit":
		rep, err = batch.Submit(ctx, bo)
	case "collect":
		rep, err = batch.Collect(ctx, bo)
	case "export":
		rep, err = batch.Export(ctx, bo, b.Out)
	case "import":
		rep, err = batch.Import(ctx, bo, b.Files)
	}
	if err != nil && !errors.Is(err, jobs.ErrStopped) {
		return err
	}
	printBatchReport(env, o, cmd, rep)
	code := exitOK
	switch {
	case err != nil:
		fmt.Fprintf(env.Stderr, "tarjama: %v\n", err)
		code = exitFatal
	case !rep.Done:
		return nil
	case rep.Summary.Interrupted:
		code = exitInterrupted
	case rep.Summary.Failed > 0:
		code = exitRowsFailed
	}
	if rep.Done {
		// run.json counts the whole job, not only the last pass.
		rec := rep.Summary.Record()
		rec.PromptTokens, rec.CompletionTokens = rep.Usage.PromptTokens, rep.Usage.CompletionTokens
		rec.CostUSD, rec.CostKnown = rep.Cost, rep.CostKnown
		rec.Requests = rep.Requests[state.ReqAnswered]
		writeRunRecord(env, bo.Logger, o, "batch "+cmd, rec, code)
	}
	if code != exitOK {
		return exitStatus(code)
	}
	return nil
}

// printBatchReport tells what a batch command did and what comes next.
func printBatchReport(env *Env, o runOptions, cmd string, rep batch.Report) {
	w := env.Stderr
	for _, b := range rep.Collected {
		fmt.Fprintf(w, "tarjama: collected batch %s (%s)\n", b.ID, b.Status)
	}
	for _, b := range rep.Submitted {
		fmt.Fprintf(w, "tarjama: submitted batch %s: %d requests\n", b.ID, b.Requests)
	}
	if cmd == "import" {
		fmt.Fprintf(w, "tarjama: imported %d result lines\n", rep.Imported)
	}
	if cmd == "export" {
		for _, f := range rep.Files {
			fmt.Fprintf(w, "tarjama: wrote %s\n", f)
		}
	}
	if rep.Done {
		printSummary(env, o, rep.Summary)
		cost := "unknown (a model has no price; see --prices)"
		if rep.CostKnown {
			cost = fmt.Sprintf("$%.4f", rep.Cost)
		}
		fmt.Fprintf(w, "  the whole job: %d batch requests answered, tokens %d prompt + %d completion, estimated cost %s at batch prices\n",
			rep.Requests[state.ReqAnswered], rep.Usage.PromptTokens, rep.Usage.CompletionTokens, cost)
		return
	}
	fmt.Fprintf(w, "tarjama: not done yet: requests %s; %d batches in flight\n", countsText(rep.Requests), rep.Waiting)
	switch cmd {
	case "export", "import":
		fmt.Fprintln(w, "  next: run the exported files through the engine, tarjama batch import the results, then tarjama batch export again")
	default:
		fmt.Fprintln(w, "  next: tarjama batch collect (from cron, e.g. every hour) until the outputs are written")
	}
}

// countsText shows request counts by state in a fixed order.
func countsText(counts map[string]int) string {
	var parts []string
	for _, st := range []string{state.ReqPending, state.ReqSubmitted, state.ReqAnswered, state.ReqFailed} {
		parts = append(parts, fmt.Sprintf("%d %s", counts[st], st))
	}
	return strings.Join(parts, ", ")
}

// batchStatus is `tarjama batch status`. It needs no input: only the state
// file and the API.
func batchStatus(ctx context.Context, o runOptions, env *Env) error {
	log, err := newLogger(env.Stderr, o.LogFormat, o.LogLevel, o.Quiet)
	if err != nil {
		return err
	}
	if _, err := parseUmask(o.Umask); err != nil {
		return err
	}
	statePath := o.State
	if statePath == "" {
		statePath = filepath.Join(o.Output, "state.db")
	}
	if _, err := os.Stat(statePath); err != nil {
		return &usageError{fmt.Sprintf("no state file at %s: nothing was submitted from there", statePath), "tarjama batch status -o DIR (the --output of the submit)"}
	}
	store, err := state.Open(ctx, statePath, o.stateOptions(log))
	if err != nil {
		return err
	}
	defer store.Close()
	client, err := newClient(o, log, env, tokens.New())
	if err != nil {
		return err
	}
	bs, counts, err := batch.Status(ctx, batch.Options{Store: store, API: client, Logger: log})
	if errors.Is(err, batch.ErrNoState) {
		fmt.Fprintln(env.Stdout, "no batch yet: tarjama batch submit sends the first")
		return nil
	}
	if err != nil {
		return err
	}
	sort.SliceStable(bs, func(i, j int) bool { return bs[i].CreatedAt.Before(bs[j].CreatedAt) })
	tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BATCH\tSTATUS\tREQUESTS\tCOMPLETED\tFAILED\tCREATED\tCOLLECTED")
	for _, b := range bs {
		status := b.Status
		if b.Err != nil {
			status += " (" + b.Err.Error() + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%v\n", b.ID, status, b.Requests, b.Completed, b.Failed,
			b.CreatedAt.UTC().Format(time.RFC3339), b.Collected)
	}
	tw.Flush()
	fmt.Fprintf(env.Stdout, "requests: %s\n", countsText(counts))
	return nil
}
