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
			configCommand(env),
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
		_, _, err := applyConfig(c, flags)
		return err
	}
}

// applyConfig sets the flags that neither the command line nor the
// environment set from the config file, and returns the file's path and
// values ("" and nil when there is no file).
func applyConfig(c *cli.Context, flags []cli.Flag) (path string, values map[interface{}]interface{}, err error) {
	path = c.String("config")
	if path == "" {
		if _, err := os.Stat("tarjama.yaml"); err != nil {
			return "", nil, nil
		}
		path = "tarjama.yaml"
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("config file %s does not exist", path)
		}
		return "", nil, fmt.Errorf("read config file: %w", err)
	}
	values, err = readConfigFile(path)
	if err != nil {
		return "", nil, err
	}
	if err := altsrc.ApplyInputSourceValues(c, configSource(path, values, flags), flags); err != nil {
		return "", nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return path, values, nil
}

// readConfigFile reads a YAML config file: every key must be the name of a
// flag of some command (see checkConfigKeys).
func readConfigFile(path string) (map[interface{}]interface{}, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	values := map[interface{}]interface{}{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := checkConfigKeys(path, values); err != nil {
		return nil, err
	}
	return values, nil
}

// configSource is the config file's values for altsrc, brought to the types
// of the flags they set: altsrc refuses "max-cost: 5" (an integer) for a
// float flag and "model: 4" for a string flag. values is left as it is.
func configSource(path string, values map[interface{}]interface{}, flags []cli.Flag) altsrc.InputSourceContext {
	typed := make(map[interface{}]interface{}, len(values))
	for k, v := range values {
		typed[k] = v
	}
	for _, f := range flags {
		for _, name := range f.Names() {
			v, ok := typed[name]
			if !ok || v == nil {
				continue
			}
			switch f.(type) {
			case *altsrc.StringFlag:
				typed[name] = fmt.Sprint(v)
			case *altsrc.Float64Flag:
				if n, ok := v.(int); ok {
					typed[name] = float64(n)
				}
			}
		}
	}
	return altsrc.NewMapInputSource(path, typed)
}
