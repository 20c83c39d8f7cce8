package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// configFlag is --config, which every command that reads the config file
// has.
func configFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "config", Usage: "YAML `FILE` that may set any flag (by its long name); tarjama.yaml in the working directory is read when present"}
}

// configKeys is every key a config file may have: the names of the flags,
// of any command, that the file can set. One file serves every command, so
// a key only some command reads is no error for the others.
func configKeys() map[string]bool {
	keys := map[string]bool{}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			for _, f := range cmd.Flags {
				if _, ok := f.(altsrc.FlagInputSourceExtension); ok {
					for _, name := range f.Names() {
						keys[name] = true
					}
				}
			}
			walk(cmd.Subcommands)
		}
	}
	walk(newApp(&Env{}).Commands)
	return keys
}

// checkConfigKeys returns an error naming the file and every key of it that
// no command has a flag for: a typo would otherwise be ignored.
func checkConfigKeys(path string, values map[interface{}]interface{}) error {
	known := configKeys()
	var unknown []string
	for k := range values {
		if name := fmt.Sprint(k); !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	quoted := make([]string, len(unknown))
	for i, name := range unknown {
		quoted[i] = strconv.Quote(name)
	}
	noun := "key"
	if len(unknown) > 1 {
		noun = "keys"
	}
	hint := "a key is the long name of a flag: tarjama run --help"
	if len(unknown) == 1 {
		if near := nearestKey(unknown[0], known); near != "" {
			hint = fmt.Sprintf("%s: (the key of --%s)", near, near)
		}
	}
	return &usageError{fmt.Sprintf("config file %s: unknown %s %s: no command has such a flag", path, noun, strings.Join(quoted, ", ")), hint}
}

// nearestKey is the known key within two edits of name, if there is one.
func nearestKey(name string, known map[string]bool) string {
	best, bestD := "", 3
	for k := range known {
		if d := editDistance(name, k); d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// cmdLineRecorder is the --config flag of config show, which keeps the flag
// set urfave parses the command line into. Visiting that set before the
// config file is applied tells a flag given on the command line from one
// the environment set: c.IsSet is true for both.
type cmdLineRecorder struct {
	*cli.StringFlag
	set *flag.FlagSet
}

func (r *cmdLineRecorder) Apply(set *flag.FlagSet) error {
	r.set = set
	return r.StringFlag.Apply(set)
}

// configCommand is `tarjama config`.
func configCommand(env *Env) *cli.Command {
	flags := runFlags()
	rec := &cmdLineRecorder{}
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "config" {
			rec.StringFlag, flags[i] = sf, rec
		}
	}
	if rec.StringFlag == nil {
		rec.StringFlag = configFlag()
		flags = append([]cli.Flag{rec}, flags...)
	}
	return &cli.Command{
		Name:  "config",
		Usage: "show the configuration run would use",
		Subcommands: []*cli.Command{{
			Name:      "show",
			Usage:     "print every flag of run, its value and where it came from",
			UsageText: "tarjama config show [--config FILE] [--json] [flags of run]",
			Description: "Takes the flags of run, reads the environment and the config file as run\n" +
				"does, and prints each flag's value and its source: flag, env VARIABLE,\n" +
				"file PATH or default. Flags beat environment, environment beats the\n" +
				"config file, the file beats defaults. The API key is shown masked.\n" +
				"--json (given on the command line) prints a JSON object\n" +
				"{flag: {value, source}} instead of the table.",
			Flags: flags,
			Action: func(c *cli.Context) error {
				cmdLine := map[string]bool{}
				if rec.set != nil {
					rec.set.Visit(func(f *flag.Flag) { cmdLine[f.Name] = true })
				}
				path, values, err := applyConfig(c, flags)
				if err != nil {
					return err
				}
				rows := configRows(c, flags, cmdLine, path, values)
				if cmdLine["json"] && c.Bool("json") {
					return writeConfigJSON(env.Stdout, rows)
				}
				return writeConfigTable(env.Stdout, rows)
			},
		}},
	}
}

// configRow is one flag as config show prints it.
type configRow struct {
	Name   string
	Value  interface{} // string, int, bool or float64; a duration as text
	Source string      // flag, env VARIABLE, file PATH or default
}

// configRows is the value and source of every flag, in the flags' order.
// cmdLine holds the names given on the command line; path and values are
// the config file's (see applyConfig).
func configRows(c *cli.Context, flags []cli.Flag, cmdLine map[string]bool, path string, values map[interface{}]interface{}) []configRow {
	rows := make([]configRow, 0, len(flags))
	for _, f := range flags {
		name := f.Names()[0]
		row := configRow{Name: name, Value: c.Value(name), Source: valueSource(f, cmdLine, path, values)}
		switch v := row.Value.(type) {
		case time.Duration:
			row.Value = v.String()
		}
		switch name {
		case "api-key":
			row.Value = maskKey(c.String(name))
		case "config":
			row.Value = path // tarjama.yaml when it was found without --config
		}
		rows = append(rows, row)
	}
	return rows
}

// valueSource is where flag f took its value from, by the precedence of
// SPEC.md: flag, environment, config file, default.
func valueSource(f cli.Flag, cmdLine map[string]bool, path string, values map[interface{}]interface{}) string {
	for _, name := range f.Names() {
		if cmdLine[name] {
			return "flag"
		}
	}
	if ef, ok := f.(interface{ GetEnvVars() []string }); ok {
		for _, v := range ef.GetEnvVars() {
			if _, ok := os.LookupEnv(strings.TrimSpace(v)); ok {
				return "env " + v
			}
		}
	}
	if _, ok := f.(altsrc.FlagInputSourceExtension); ok {
		for _, name := range f.Names() {
			if _, ok := values[name]; ok {
				return "file " + path
			}
		}
	}
	return "default"
}

// maskKey shows enough of an API key to tell which it is, never all of it:
// the first 3 and last 4 characters of a key of 12 or more.
func maskKey(key string) string {
	r := []rune(key)
	switch {
	case len(r) == 0:
		return "(none)"
	case len(r) < 12:
		return "****"
	}
	return string(r[:3]) + "…" + string(r[len(r)-4:])
}

func writeConfigTable(w io.Writer, rows []configRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tVALUE\tSOURCE")
	for _, r := range rows {
		v := fmt.Sprint(r.Value)
		if s, ok := r.Value.(string); ok && s == "" {
			v = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, v, r.Source)
	}
	return tw.Flush()
}

func writeConfigJSON(w io.Writer, rows []configRow) error {
	type entry struct {
		Value  interface{} `json:"value"`
		Source string      `json:"source"`
	}
	m := make(map[string]entry, len(rows))
	for _, r := range rows {
		m[r.Name] = entry{r.Value, r.Source}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
