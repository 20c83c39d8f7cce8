package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const exitCodesHelp = `EXIT STATUS:
   0    every row ok or skipped
   1    nothing could be done: bad flags, unreadable or malformed input,
        no endpoint, a rejected API key or exhausted quota (when replies
        came before the stop, outputs are written for what was done)
   2    some rows failed: outputs written, failed rows marked with a reason
   130  interrupted (Ctrl-C, SIGTERM): requests in flight finish, outputs
        are written for what is done; a second Ctrl-C cancels them too`

func newApp(env *Env) *cli.App {
	runFlags := runFlags()
	return &cli.App{
		Name:      "tarjama",
		Usage:     "translate and summarize a CSV of Arabic news articles through an OpenAI-compatible API",
		Version:   version,
		Reader:    env.Stdin,
		Writer:    env.Stdout,
		ErrWriter: env.Stderr,
		// Exit codes are decided in Main, after cleanup, never inside urfave.
		ExitErrHandler:       func(*cli.Context, error) {},
		HideVersion:          true,
		EnableBashCompletion: false,
		Commands: []*cli.Command{
			{
				Name:        "run",
				Usage:       "translate and summarize every article of the input, write the outputs",
				UsageText:   "tarjama run -i articles.csv [-o out] [flags]",
				Description: "Reads the CSV, checks all of it before any request, sends every article\nfor translation and then for key points, and writes results.csv and\nresults.json (and results.jsonl with --format) in --output.\n\n" + exitCodesHelp,
				Flags:       runFlags,
				Before:      loadConfig(runFlags),
				Action: func(c *cli.Context) error {
					return runCommand(c.Context, runOptionsFrom(c), env)
				},
			},
			estimateCommandDef(env),
			batchCommand(env),
			promptsCommand(env),
			{
				Name:  "version",
				Usage: "print the version, Go version and commit",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(env.Stdout, "tarjama %s (%s, commit %s)\n", version, runtime.Version(), commit())
					return nil
				},
			},
		},
	}
}

// commit is the VCS revision the binary was built from, when Go recorded it.
func commit() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// loadConfig reads --config FILE, or tarjama.yaml in the working directory
// when present, as the lowest layer below flags and environment.
func loadConfig(flags []cli.Flag) cli.BeforeFunc {
	return func(c *cli.Context) error {
		path := c.String("config")
		if path == "" {
			if _, err := os.Stat("tarjama.yaml"); err != nil {
				return nil
			}
			path = "tarjama.yaml"
		}
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("config file %s does not exist", path)
			}
			return fmt.Errorf("read config file: %w", err)
		}
		src, err := configSource(path, flags)
		if err != nil {
			return err
		}
		if err := altsrc.ApplyInputSourceValues(c, src, flags); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		return nil
	}
}

// configSource reads a YAML config file for altsrc, with its values brought
// to the types of the flags they set: altsrc refuses "max-cost: 5" (an
// integer) for a float flag and "model: 4" for a string flag.
func configSource(path string, flags []cli.Flag) (altsrc.InputSourceContext, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	values := map[interface{}]interface{}{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for _, f := range flags {
		for _, name := range f.Names() {
			v, ok := values[name]
			if !ok || v == nil {
				continue
			}
			switch f.(type) {
			case *altsrc.StringFlag:
				values[name] = fmt.Sprint(v)
			case *altsrc.Float64Flag:
				if n, ok := v.(int); ok {
					values[name] = float64(n)
				}
			}
		}
	}
	return altsrc.NewMapInputSource(path, values), nil
}
