package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/progress"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/internal/tokens"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
	"github.com/tarjama/tarjama/prompts"
)

func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "YAML `FILE` that may set any flag (by its long name); tarjama.yaml in the working directory is read when present"},
		altsrc.NewStringFlag(&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "CSV `FILE` with a header row; - reads standard input (required)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "out", Usage: "`DIR` for results.csv, results.json and results.jsonl"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "state", Usage: "the SQLite state `FILE` that makes reruns resumable and pay only for what is new (default: OUTPUT/state.db)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "force", Usage: "ignore the replies kept in the state file and pay for every request again (the new replies replace them)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "retry-failed", Value: true, Usage: "retry the rows that failed in an earlier run; --retry-failed=false writes their earlier failure again"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "format", Value: "csv,json", Usage: "output formats, any of `csv,json,jsonl`"}),
		&umaskFlag{altsrc.NewStringFlag(&cli.StringFlag{Name: "umask", Value: defaultUmask, Usage: "`OCTAL` mask of the modes of the files and directories tarjama creates (outputs, run.json, the state file, batch files): 077 keeps them to their owner (files 0600, directories 0700), 022 lets others read them (0644, 0755)"})},
		altsrc.NewStringFlag(&cli.StringFlag{Name: "base-url", EnvVars: []string{"OPENAI_BASE_URL"}, Usage: "OpenAI-compatible endpoint `URL` (default OpenAI's, https://api.openai.com/v1)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "api-key", EnvVars: []string{"OPENAI_API_KEY"}, Usage: "API `KEY`; never printed, logged or written; may be empty for a local server"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "api-version", EnvVars: []string{"OPENAI_API_VERSION"}, Usage: "Azure OpenAI api-version (`VERSION`); used only for an Azure base URL (default " + llm.DefaultAzureAPIVersion + ")"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "model", EnvVars: []string{"TARJAMA_MODEL"}, Value: jobs.DefaultModel, Usage: "chat `MODEL` for the translation (and the key points unless --summary-model)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "summary-model", EnvVars: []string{"TARJAMA_SUMMARY_MODEL"}, Usage: "chat `MODEL` for the key points (default: --model)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "id-column", Value: "id", Usage: "input `COLUMN` holding the id (rows without one get their row number)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "title-column", Value: "title", Usage: "input `COLUMN` holding the title"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "body-column", Value: "body", Usage: "input `COLUMN` holding the body"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "concurrency", Value: jobs.DefaultConcurrency, Usage: "requests in flight at most (`N`)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-retries", Value: llm.DefaultMaxRetries, Usage: "retries of a request after a 429, 5xx, timeout or dropped connection (`N`)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "request-timeout", Value: llm.DefaultRequestTimeout, Usage: "time one HTTP request may take (`D`)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "prompts", Usage: "`DIR` of templates (translate.tmpl, key_points.tmpl, reduce.tmpl) that override the embedded ones, file by file"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "key-points", Value: jobs.DefaultKeyPoints, Usage: "how many key points per article (`N`)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "glossary", Usage: "CSV `FILE` with columns arabic,english: names and terms the translation must render this way (the entries found in an article are sent with it; misses are counted)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "reasoning-tokens", Value: defaultReasoningTokens, Usage: "`N` more completion tokens for a reasoning model's hidden reasoning, on top of each reply's own limit (sent as max_completion_tokens, which such models read)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-chunk-tokens", Value: jobs.DefaultMaxChunkTokens, Usage: "bodies longer than `N` tokens (estimated) are split on paragraph and sentence bounds and translated piece by piece"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "excel", Usage: "write a byte-order mark and cut cells at Excel's 32,767-character limit in results.csv"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "service-tier", Value: "default", Usage: "`TIER`: default, or flex for OpenAI's flex tier (batch prices, slower, 15m timeout), falling back to the default tier when flex has no capacity"}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: "max-cost", Usage: "stop starting rows when the cost so far plus the rows in flight would pass `USD` at list prices (exit 2; rows not done fail with reason budget)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "limit", Usage: "process only the first `N` rows (0: all)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "rpm", Usage: "client-side limit of `N` requests per minute (0: adapt to the server's rate-limit headers and 429s)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "tpm", Usage: "client-side limit of `N` tokens per minute (0: adapt to the server)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "prices", Usage: "price `FILE`: CSV model,input_per_million,output_per_million (US dollars) over the built-in OpenAI list prices"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "dry-run", Usage: "make no request: print what the run would do, as tarjama estimate"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "json", Usage: "with --dry-run (and estimate): print the plan as JSON"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format on standard error, `text` or json"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log `LEVEL`: debug, info, warn, error"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only errors and the summary"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-progress", Usage: "no progress lines"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "progress-interval", Value: 30 * time.Second, Usage: "time between progress lines (`D`)"}),
	}
}

// runOptions is everything the run command was told.
type runOptions struct {
	Input, Output, Formats      string
	Umask                       string
	State                       string
	Force, RetryFailed          bool
	BaseURL, APIKey, APIVersion string
	Model, SummaryModel         string
	IDColumn, TitleColumn       string
	BodyColumn                  string
	Concurrency, MaxRetries     int
	RequestTimeout              time.Duration
	PromptsDir                  string
	GlossaryFile                string
	KeyPoints, Limit            int
	MaxChunkTokens              int
	ReasoningTokens             int
	RPM, TPM                    int
	PricesFile                  string
	DryRun, JSON                bool
	MaxCost                     float64
	ServiceTier                 string
	Excel                       bool
	LogFormat, LogLevel         string
	Quiet, NoProgress           bool
	ProgressInterval            time.Duration
	idColumnSet, titleColumnSet bool
	bodyColumnSet               bool
}

func runOptionsFrom(c *cli.Context) runOptions {
	return runOptions{
		Input: c.String("input"), Output: c.String("output"), Formats: c.String("format"),
		Umask: c.String("umask"),
		State: c.String("state"), Force: c.Bool("force"), RetryFailed: c.Bool("retry-failed"),
		BaseURL: c.String("base-url"), APIKey: c.String("api-key"), APIVersion: c.String("api-version"),
		Model: c.String("model"), SummaryModel: c.String("summary-model"),
		IDColumn: c.String("id-column"), TitleColumn: c.String("title-column"), BodyColumn: c.String("body-column"),
		idColumnSet: c.IsSet("id-column"), titleColumnSet: c.IsSet("title-column"), bodyColumnSet: c.IsSet("body-column"),
		Concurrency: c.Int("concurrency"), MaxRetries: c.Int("max-retries"),
		RequestTimeout: c.Duration("request-timeout"),
		PromptsDir:     c.String("prompts"), GlossaryFile: c.String("glossary"),
		KeyPoints: c.Int("key-points"), Limit: c.Int("limit"),
		MaxCost: c.Float64("max-cost"), ServiceTier: c.String("service-tier"),
		MaxChunkTokens: c.Int("max-chunk-tokens"), ReasoningTokens: c.Int("reasoning-tokens"),
		RPM: c.Int("rpm"), TPM: c.Int("tpm"),
		PricesFile: c.String("prices"),
		DryRun:     c.Bool("dry-run"), JSON: c.Bool("json"),
		Excel:     c.Bool("excel"),
		LogFormat: c.String("log-format"), LogLevel: c.String("log-level"),
		Quiet: c.Bool("quiet"), NoProgress: c.Bool("no-progress"),
		ProgressInterval: c.Duration("progress-interval"),
	}
}

// usageError is a mistake in the command line, with what to do about it.
type usageError struct{ msg, hint string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Hint() string  { return e.hint }

func (o runOptions) validate() error {
	if _, err := parseUmask(o.Umask); err != nil {
		return err
	}
	switch {
	case o.Input == "":
		return &usageError{"no input", "tarjama run -i articles.csv (or -i - to read standard input)"}
	case o.Concurrency < 1:
		return &usageError{fmt.Sprintf("--concurrency %d: must be at least 1", o.Concurrency), "--concurrency 8"}
	case o.MaxRetries < 0:
		return &usageError{fmt.Sprintf("--max-retries %d: must be 0 or more", o.MaxRetries), "--max-retries 6"}
	case o.RequestTimeout <= 0:
		return &usageError{fmt.Sprintf("--request-timeout %s: must be positive", o.RequestTimeout), "--request-timeout 2m"}
	case o.KeyPoints < 1 || o.KeyPoints > 20:
		return &usageError{fmt.Sprintf("--key-points %d: must be between 1 and 20", o.KeyPoints), "--key-points 5"}
	case o.ServiceTier != "default" && o.ServiceTier != "" && o.ServiceTier != llm.ServiceTierFlex:
		return &usageError{fmt.Sprintf("--service-tier %q: want default or flex", o.ServiceTier), "--service-tier flex"}
	case o.MaxCost < 0:
		return &usageError{fmt.Sprintf("--max-cost %g: must be positive (or 0: no limit)", o.MaxCost), "--max-cost 5"}
	case o.MaxChunkTokens < 50:
		return &usageError{fmt.Sprintf("--max-chunk-tokens %d: must be at least 50", o.MaxChunkTokens), fmt.Sprintf("--max-chunk-tokens %d", jobs.DefaultMaxChunkTokens)}
	case o.ReasoningTokens < 0:
		return &usageError{fmt.Sprintf("--reasoning-tokens %d: must be 0 or more", o.ReasoningTokens), fmt.Sprintf("--reasoning-tokens %d", defaultReasoningTokens)}
	case o.RPM < 0 || o.TPM < 0:
		return &usageError{fmt.Sprintf("--rpm %d --tpm %d: limits must be positive (or 0: adapt to the server)", o.RPM, o.TPM), "--rpm 500 --tpm 200000"}
	case o.Limit < 0:
		return &usageError{fmt.Sprintf("--limit %d: must be 0 (all) or more", o.Limit), "--limit 100"}
	case o.Model == "":
		return &usageError{"--model is empty", "--model gpt-4.1-mini, or set TARJAMA_MODEL"}
	}
	return nil
}

// defaultReasoningTokens is --reasoning-tokens' default: a margin for the
// reasoning of a reasoning model (gpt-5, o-series) on a news article or its
// key points, not a measurement (see the README).
const defaultReasoningTokens = 8192

// defaultUmask is --umask's default: what tarjama creates is its owner's
// alone, since the outputs and the state file hold the articles.
const defaultUmask = "077"

// parseUmask reads --umask: an octal mask from 0 to 0777 ("022", "0022" or
// "0o022") that leaves the owner's bits alone, since tarjama reads and
// writes what it creates.
func parseUmask(s string) (os.FileMode, error) {
	digits := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0o"), "0O")
	m, err := strconv.ParseUint(digits, 8, 32)
	switch {
	case err != nil || digits == "" || m > 0o777:
		return 0, &usageError{fmt.Sprintf("--umask %q: want an octal mask from 0 to 0777", s), "--umask 022 (files 0644, directories 0755)"}
	case m&0o700 != 0:
		return 0, &usageError{fmt.Sprintf("--umask %q: must leave the owner's permissions (tarjama reads and writes what it creates)", s), "--umask 022 (files 0644, directories 0755)"}
	}
	return os.FileMode(m), nil
}

// umaskFlag is --umask, which a config file must give as a string: YAML
// reads "umask: 077" as the number 63 and "umask: 22" as 22, so an integer
// cannot be told back into the digits that were written.
type umaskFlag struct{ *altsrc.StringFlag }

func (f *umaskFlag) ApplyInputSourceValue(c *cli.Context, isc altsrc.InputSourceContext) error {
	if !c.IsSet(f.Name) {
		if _, err := isc.String(f.Name); err != nil {
			return &usageError{"umask: write the mask quoted (YAML reads 077 as the number 63)", `umask: "022"`}
		}
	}
	return f.StringFlag.ApplyInputSourceValue(c, isc)
}

// perms are the modes of the files and directories tarjama creates, from
// --umask (the default's when it does not parse: validate refuses it
// first).
func (o runOptions) perms() (file, dir os.FileMode) {
	mask, err := parseUmask(o.Umask)
	if err != nil {
		mask, _ = parseUmask(defaultUmask)
	}
	return 0o666 &^ mask, 0o777 &^ mask
}

// outputPerm is the modes of the outputs and run.json.
func (o runOptions) outputPerm() output.Perm {
	file, dir := o.perms()
	return output.Perm{File: file, Dir: dir}
}

// stateOptions are the options of the state file.
func (o runOptions) stateOptions(log *slog.Logger) state.Options {
	file, dir := o.perms()
	return state.Options{Logger: log, Perm: file, DirPerm: dir}
}

// newLogger builds the one logger of the process, on standard error.
func newLogger(w io.Writer, format, level string, quiet bool) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, &usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level), "--log-level info"}
	}
	if quiet {
		lv = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &usageError{fmt.Sprintf("--log-format %q: want text or json", format), "--log-format json"}
}

// newClient is the chat API client the run command was told to use; its
// rate limiter counts prompts with counter.
func newClient(o runOptions, log *slog.Logger, env *Env, counter *tokens.Counter) (*llm.Client, error) {
	retries := o.MaxRetries
	if retries == 0 {
		retries = -1 // llm.Config reads 0 as "the default"
	}
	tier := o.ServiceTier
	if tier == "default" {
		tier = ""
	}
	return llm.New(llm.Config{
		BaseURL:         o.BaseURL,
		APIKey:          o.APIKey,
		APIVersion:      o.APIVersion,
		Model:           o.Model,
		ServiceTier:     tier,
		RequestTimeout:  o.RequestTimeout,
		MaxRetries:      retries,
		ReasoningTokens: o.ReasoningTokens,
		RPM:             o.RPM,
		TPM:             o.TPM,
		EstimatePrompt:  estimatePrompt(o, counter),
		Logger:          log,
		Sleep:           env.Sleep,
		Clock:           env.Clock,
	})
}

// inputOptions names only the columns given on the command line: the
// defaults are optional for id and title (see jobs.InputOptions).
func (o runOptions) inputOptions() jobs.InputOptions {
	in := jobs.InputOptions{Limit: o.Limit}
	if o.idColumnSet {
		in.IDColumn = o.IDColumn
	}
	if o.titleColumnSet {
		in.TitleColumn = o.TitleColumn
	}
	if o.bodyColumnSet {
		in.BodyColumn = o.BodyColumn
	}
	return in
}

// stateOpener opens the state file when jobs.Run asks (once the input has
// passed its check), and closes it when the command is done.
func stateOpener(path string, opts state.Options) (open func(context.Context) (jobs.Store, error), close func()) {
	var store *state.Store
	log := opts.Logger
	open = func(ctx context.Context) (jobs.Store, error) {
		s, err := state.Open(ctx, path, opts)
		if err != nil {
			return nil, err
		}
		store = s
		return s, nil
	}
	close = func() {
		if store == nil {
			return
		}
		if err := store.Close(); err != nil {
			log.Error("close the state file", "path", path, "err", err)
		}
	}
	return open, close
}

// runCommand is `tarjama run`.
func runCommand(ctx context.Context, o runOptions, env *Env) error {
	if o.DryRun {
		return estimateCommand(ctx, o, env)
	}
	formats, err := output.ParseFormats(o.Formats)
	if err != nil {
		return &usageError{fmt.Sprintf("--format: %v", err), "--format csv,json,jsonl"}
	}
	opts, log, cleanup, err := prepare(o, env, true)
	if err != nil {
		return err
	}
	defer cleanup()
	counter, cal := tokens.New(), &tokens.Calibration{}
	client, err := newClient(o, log, env, counter)
	if err != nil {
		return err
	}
	stop := showProgress(ctx, o, env, log, opts.Progress)
	sum, err := jobs.Run(ctx, opts, tokens.Checked(client, counter, cal), func(columns []string) (jobs.Sink, error) {
		return output.Open(output.Options{Dir: o.Output, Formats: formats, Excel: o.Excel, Columns: columns, Perm: o.outputPerm()})
	})
	stop()
	if err != nil && !errors.Is(err, jobs.ErrStopped) {
		return err
	}
	printSummary(env, o, sum)
	fmt.Fprint(env.Stderr, rateReport(client.RateStats(), cal))
	code := exitOK
	switch {
	case err != nil:
		fmt.Fprintf(env.Stderr, "tarjama: %v\n", err)
		if hint := stopHint(err, o); hint != "" {
			fmt.Fprintf(env.Stderr, "Try: %s\n", hint)
		}
		code = exitFatal
	case sum.Interrupted:
		code = exitInterrupted
	case sum.Failed > 0:
		code = exitRowsFailed
	}
	writeRunRecord(env, log, o, "run", sum.Record(), code)
	if code != exitOK {
		return exitStatus(code)
	}
	return nil
}

// showProgress starts the progress display of a run, unless --quiet or
// --no-progress: a live bar on a terminal, a log line every
// --progress-interval elsewhere. stop ends it before the summary is printed.
func showProgress(ctx context.Context, o runOptions, env *Env, log *slog.Logger, p *jobs.Progress) (stop func()) {
	if o.NoProgress || o.Quiet {
		return func() {}
	}
	return progress.Start(ctx, p, progress.Options{
		Out: env.BarOut, Terminal: env.Terminal, Logs: env.logs,
		Logger: log, Interval: o.ProgressInterval,
	})
}

// printSummary prints the closing summary: a table on a terminal, lines
// that a log keeps well otherwise.
func printSummary(env *Env, o runOptions, sum jobs.Summary) {
	if env.Terminal {
		fmt.Fprint(env.Stderr, sum.Table(o.Output))
		return
	}
	fmt.Fprint(env.Stderr, sum.Report(o.Output))
}

// writeRunRecord writes run.json beside the outputs, for a nightly report or
// a monitor. A failure to write it is told, and changes nothing else.
func writeRunRecord(env *Env, log *slog.Logger, o runOptions, command string, rec jobs.RunRecord, code int) {
	rec.Version, rec.Command, rec.ExitCode = version, command, code
	rec.Input, rec.Output = o.Input, o.Output
	if err := output.WriteRunRecord(o.Output, rec, o.outputPerm()); err != nil {
		log.Error("write run.json", "dir", o.Output, "err", err)
	}
}

// stopHint is what to do about the error that stopped a run.
func stopHint(err error, o runOptions) string {
	var ce *jobs.CallError
	if !errors.As(err, &ce) {
		return ""
	}
	switch {
	case ce.Reason == "connection":
		base := o.BaseURL
		if base == "" {
			base = llm.DefaultBaseURL
		}
		return fmt.Sprintf("check --base-url (now %s; OPENAI_BASE_URL) and that the server is up and reachable from here", base)
	case ce.Reason == "http_401":
		return "check the key: OPENAI_API_KEY or --api-key, for the server at --base-url"
	case ce.Reason == llm.ReasonInsufficientQuota:
		return "add credit or raise the limit at your provider; a rerun then pays only for the rows not done"
	case ce.Status == 404:
		return fmt.Sprintf("check --model (now %s) against the models the server lists", o.Model)
	}
	return ""
}

// estimatePrompt is how the rate limiter counts a prompt: with the offline
// tokenizer when --tpm is given, where the count decides the pace; else
// llm's quick estimate (bytes / 4, which errs high on Arabic and is settled
// from the reply's usage), since counting costs about 1 ms of CPU per 2 KB.
func estimatePrompt(o runOptions, counter *tokens.Counter) func(jobs.Request) int {
	if o.TPM == 0 {
		return nil
	}
	return func(req jobs.Request) int { return counter.Messages(req.Model, req.Messages) }
}

// rateReport is the summary's lines on rate limits and token estimates.
func rateReport(st llm.RateStats, cal *tokens.Calibration) string {
	var b strings.Builder
	if st.Waits > 0 || st.RateLimited > 0 {
		fmt.Fprintf(&b, "  rate limits: %d requests waited %s in all, %d answered 429\n",
			st.Waits, st.Waited.Round(time.Millisecond), st.RateLimited)
	}
	for _, line := range cal.Report() {
		fmt.Fprintf(&b, "  token estimate: %s\n", line)
	}
	return b.String()
}

// prepare turns what the command was told into the options of a run (or an
// estimate): logger, templates, prices, the input (standard input spooled to
// a file) and the state file, opened when the input has passed its check.
// createState false leaves a state file that does not exist yet uncreated.
// cleanup closes and removes what prepare opened.
func prepare(o runOptions, env *Env, createState bool) (opts jobs.Options, log *slog.Logger, cleanup func(), err error) {
	var cleanups []func()
	cleanup = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if err = o.validate(); err != nil {
		return opts, nil, cleanup, err
	}
	if log, err = newLogger(env.Stderr, o.LogFormat, o.LogLevel, o.Quiet); err != nil {
		return opts, nil, cleanup, err
	}
	set, err := prompts.Load(o.PromptsDir)
	if err != nil {
		return opts, log, cleanup, fmt.Errorf("load prompts: %w", err)
	}
	var gloss *glossary.Glossary
	if o.GlossaryFile != "" {
		if gloss, err = glossary.ReadFile(o.GlossaryFile); err != nil {
			return opts, log, cleanup, fmt.Errorf("--glossary: %w", err)
		}
	}
	prices, err := o.prices()
	if err != nil {
		return opts, log, cleanup, err
	}
	path, name := o.Input, o.Input
	if o.Input == "-" {
		p, done, err := jobs.SpoolStdin(env.Stdin, "")
		if err != nil {
			return opts, log, cleanup, fmt.Errorf("read standard input: %w", err)
		}
		cleanups = append(cleanups, done)
		path, name = p, "standard input"
	}
	statePath := o.State
	if statePath == "" {
		statePath = filepath.Join(o.Output, "state.db")
	}
	var openStore func(context.Context) (jobs.Store, error)
	if _, statErr := os.Stat(statePath); createState || statErr == nil {
		var closeStore func()
		openStore, closeStore = stateOpener(statePath, o.stateOptions(log))
		cleanups = append(cleanups, closeStore)
	}
	return jobs.Options{
		Path:           path,
		Name:           name,
		InputOptions:   o.inputOptions(),
		Model:          o.Model,
		SummaryModel:   o.SummaryModel,
		KeyPoints:      o.KeyPoints,
		Concurrency:    o.Concurrency,
		MaxChunkTokens: o.MaxChunkTokens,
		MaxCost:        o.MaxCost,
		Prices:         prices,
		OpenStore:      openStore,
		Force:          o.Force,
		KeepFailed:     !o.RetryFailed,
		Prompts:        set,
		Glossary:       gloss,
		ReplyRetries:   jobs.DefaultReplyRetries,
		Abort:          env.Abort,
		Logger:         log,
		Progress:       &jobs.Progress{},
	}, log, cleanup, nil
}

// prices is the price table: the built-in list prices, under a --prices
// file, halved on the flex tier.
func (o runOptions) prices() (jobs.Prices, error) {
	prices := jobs.DefaultPrices()
	if o.PricesFile != "" {
		f, err := os.Open(o.PricesFile)
		if err != nil {
			return nil, fmt.Errorf("open price file: %w", err)
		}
		defer f.Close()
		if prices, err = jobs.ReadPrices(f, o.PricesFile, prices); err != nil {
			return nil, err
		}
	}
	if o.ServiceTier == llm.ServiceTierFlex {
		prices = prices.Scaled(0.5)
	}
	return prices, nil
}
