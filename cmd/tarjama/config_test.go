package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/tarjama/tarjama/jobs"
)

// configEnv is every variable a flag of run reads.
var configEnv = []string{"OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_VERSION", "TARJAMA_MODEL", "TARJAMA_SUMMARY_MODEL"}

// setConfigEnv sets the variables in env and unsets the other variables
// of configEnv, for the test's duration.
func setConfigEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, name := range configEnv {
		t.Setenv(name, env[name]) // restored after the test
		if _, ok := env[name]; !ok {
			os.Unsetenv(name)
		}
	}
}

// writeConfig writes a config file in a new directory and returns its path.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type shownValue struct {
	Value  interface{} `json:"value"`
	Source string      `json:"source"`
}

// configShowJSON runs config show --json and decodes its output.
func configShowJSON(t *testing.T, args ...string) map[string]shownValue {
	t.Helper()
	res := runCLI(t, context.Background(), "", append([]string{"config", "show", "--json"}, args...)...)
	if res.code != 0 {
		t.Fatalf("config show --json %q: exit %d\n%s", args, res.code, res.stderr)
	}
	var got map[string]shownValue
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil {
		t.Fatalf("config show --json: %v\n%s", err, res.stdout)
	}
	return got
}

func TestConfigShowPrecedence(t *testing.T) {
	const (
		fileKey = "sk-file-0123456789abcd"
		envKey  = "sk-env-0123456789wxyz"
		flagKey = "sk-flag-0123456789FLAG"
	)
	file := writeConfig(t, "team.yaml", "model: m-file\nconcurrency: 3\napi-key: "+fileKey+"\nformat: jsonl\n")
	fileSrc := "file " + file
	defaultModel, defaultConc := jobs.DefaultModel, float64(jobs.DefaultConcurrency)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want map[string]shownValue // by flag
	}{
		{
			name: "defaults",
			want: map[string]shownValue{
				"model":       {defaultModel, "default"},
				"concurrency": {defaultConc, "default"},
				"api-key":     {"(none)", "default"},
				"format":      {"csv,json", "default"},
				"config":      {"", "default"},
			},
		},
		{
			name: "file over defaults",
			args: []string{"--config", file},
			want: map[string]shownValue{
				"model":       {"m-file", fileSrc},
				"concurrency": {3.0, fileSrc},
				"api-key":     {"sk-…abcd", fileSrc},
				"format":      {"jsonl", fileSrc},
				"config":      {file, "flag"},
				"output":      {"out", "default"},
			},
		},
		{
			name: "env over file",
			env:  map[string]string{"TARJAMA_MODEL": "m-env", "OPENAI_API_KEY": envKey},
			args: []string{"--config", file},
			want: map[string]shownValue{
				"model":       {"m-env", "env TARJAMA_MODEL"},
				"concurrency": {3.0, fileSrc},
				"api-key":     {"sk-…wxyz", "env OPENAI_API_KEY"},
				"format":      {"jsonl", fileSrc},
			},
		},
		{
			name: "an empty variable is set",
			env:  map[string]string{"OPENAI_API_KEY": ""},
			args: []string{"--config", file},
			want: map[string]shownValue{"api-key": {"(none)", "env OPENAI_API_KEY"}},
		},
		{
			name: "flag over env and file",
			env:  map[string]string{"TARJAMA_MODEL": "m-env", "OPENAI_API_KEY": envKey},
			args: []string{"--config", file, "--model", "m-flag", "--concurrency", "9", "--api-key", flagKey, "--format", "csv"},
			want: map[string]shownValue{
				"model":       {"m-flag", "flag"},
				"concurrency": {9.0, "flag"},
				"api-key":     {"sk-…FLAG", "flag"},
				"format":      {"csv", "flag"},
			},
		},
		{
			name: "a flag that repeats the variable is the flag",
			env:  map[string]string{"TARJAMA_MODEL": "same"},
			args: []string{"--model", "same"},
			want: map[string]shownValue{"model": {"same", "flag"}},
		},
		{
			name: "flag by its alias",
			args: []string{"-o", "elsewhere", "-q"},
			want: map[string]shownValue{"output": {"elsewhere", "flag"}, "quiet": {true, "flag"}},
		},
		{
			name: "durations as text",
			args: []string{"--request-timeout", "90s"},
			want: map[string]shownValue{"request-timeout": {"1m30s", "flag"}, "progress-interval": {"30s", "default"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConfigEnv(t, tt.env)
			t.Chdir(t.TempDir()) // no tarjama.yaml
			got := configShowJSON(t, tt.args...)
			for name, want := range tt.want {
				if got[name] != want {
					t.Errorf("%s = %+v, want %+v", name, got[name], want)
				}
			}
			for _, f := range runFlags() {
				if _, ok := got[f.Names()[0]]; !ok {
					t.Errorf("config show --json lacks %s", f.Names()[0])
				}
			}
		})
	}
}

func TestConfigShowFindsTarjamaYAML(t *testing.T) {
	setConfigEnv(t, nil)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tarjama.yaml"), []byte("model: here\nmax-cost: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	got := configShowJSON(t)
	for name, want := range map[string]shownValue{
		"model":    {"here", "file tarjama.yaml"},
		"max-cost": {5.0, "file tarjama.yaml"},
		"config":   {"tarjama.yaml", "default"},
	} {
		if got[name] != want {
			t.Errorf("%s = %+v, want %+v", name, got[name], want)
		}
	}
	// The table says the same, aligned.
	res := runCLI(t, context.Background(), "", "config", "show")
	if res.code != 0 {
		t.Fatalf("config show: exit %d\n%s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
	if len(lines) != len(runFlags())+1 || !strings.HasPrefix(lines[0], "FLAG") {
		t.Fatalf("config show printed %d lines, want a header and %d flags:\n%s", len(lines), len(runFlags()), res.stdout)
	}
	valueCol, sourceCol := strings.Index(lines[0], "VALUE"), strings.Index(lines[0], "SOURCE")
	for _, line := range lines[1:] {
		if len(line) <= sourceCol || line[valueCol-1] != ' ' || line[valueCol] == ' ' || line[sourceCol-1] != ' ' || line[sourceCol] == ' ' {
			t.Errorf("line %q is not aligned with the header %q", line, lines[0])
		}
		if f := strings.Fields(line); f[0] == "model" && strings.Join(f, " ") != "model here file tarjama.yaml" {
			t.Errorf("model line %q, want here from file tarjama.yaml", line)
		}
	}
}

func TestConfigShowMasksTheKey(t *testing.T) {
	tests := []struct {
		name, key, want string
		how             string // flag, env or file
	}{
		{"long key by flag", "sk-proj-0123456789abcdef", "sk-…cdef", "flag"},
		{"long key by env", "sk-proj-0123456789abcdef", "sk-…cdef", "env"},
		{"long key from the file", "sk-proj-0123456789abcdef", "sk-…cdef", "file"},
		{"twelve characters", "sk-123456789", "sk-…6789", "flag"},
		{"short key", "sk-1234567", "****", "env"},
		{"no key", "", "(none)", "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setConfigEnv(t, nil)
			t.Chdir(t.TempDir())
			var args []string
			switch tt.how {
			case "flag":
				args = []string{"--api-key", tt.key}
			case "env":
				t.Setenv("OPENAI_API_KEY", tt.key)
			case "file":
				args = []string{"--config", writeConfig(t, "k.yaml", "api-key: "+tt.key+"\n")}
			}
			text := runCLI(t, context.Background(), "", append([]string{"config", "show"}, args...)...)
			js := runCLI(t, context.Background(), "", append([]string{"config", "show", "--json"}, args...)...)
			for _, res := range []cliResult{text, js} {
				if res.code != 0 {
					t.Fatalf("exit %d\n%s", res.code, res.stderr)
				}
				if len(tt.key) >= 4 && (strings.Contains(res.stdout, tt.key) || strings.Contains(res.stderr, tt.key)) {
					t.Errorf("the key is printed in full:\n%s%s", res.stdout, res.stderr)
				}
			}
			if !strings.Contains(text.stdout, "api-key ") || !strings.Contains(text.stdout, " "+tt.want+" ") {
				t.Errorf("table lacks the masked key %q:\n%s", tt.want, text.stdout)
			}
			var got map[string]shownValue
			if err := json.Unmarshal([]byte(js.stdout), &got); err != nil {
				t.Fatal(err)
			}
			if got["api-key"].Value != tt.want {
				t.Errorf("json api-key = %v, want %q", got["api-key"].Value, tt.want)
			}
		})
	}
}

func TestConfigMaskKey(t *testing.T) {
	for key, want := range map[string]string{
		"":                         "(none)",
		"abc":                      "****",
		"sk-12345678":              "****",
		"sk-123456789":             "sk-…6789",
		"sk-proj-0123456789abcdef": "sk-…cdef",
	} {
		if got := maskKey(key); got != want {
			t.Errorf("maskKey(%q)=%q, want %q", key, got, want)
		}
	}
}

func TestConfigUnknownKey(t *testing.T) {
	fixtures, err := filepath.Abs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	setConfigEnv(t, nil)
	typo := writeConfig(t, "typo.yaml", "modle: gpt-4.1\nconcurrency: 2\n")
	two := writeConfig(t, "two.yaml", "zzz: 1\nmodle: gpt-4.1\n")
	// Keys of other commands: render's row, batch's batch-max-lines.
	shared := writeConfig(t, "shared.yaml", "model: shared\nrow: 2\nbatch-max-lines: 10\nprompts: \"\"\n")
	tests := []struct {
		name      string
		args      []string
		code      int
		stderr    []string
		stdoutHas string
	}{
		{"run", []string{"run", "-i", fixtures, "--config", typo}, 1, []string{"config file " + typo, `unknown key "modle"`, "Try: model:"}, ""},
		{"estimate", []string{"estimate", "-i", fixtures, "--config", typo}, 1, []string{typo, `"modle"`}, ""},
		{"config show", []string{"config", "show", "--config", typo}, 1, []string{typo, `"modle"`}, ""},
		{"prompts list", []string{"prompts", "list", "--config", typo}, 1, []string{typo, `"modle"`}, ""},
		{"batch status", []string{"batch", "status", "--config", typo}, 1, []string{typo, `"modle"`}, ""},
		{"every unknown key named", []string{"config", "show", "--config", two}, 1, []string{two, `unknown keys "modle", "zzz"`}, ""},
		{"keys of other commands", []string{"config", "show", "--config", shared}, 0, nil, "shared"},
		{"keys of other commands, prompts", []string{"prompts", "list", "--config", shared}, 0, nil, "embedded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			res := runCLI(t, context.Background(), "", tt.args...)
			if res.code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr:\n%s", res.code, tt.code, res.stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
				}
			}
			if !strings.Contains(res.stdout, tt.stdoutHas) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdoutHas, res.stdout)
			}
		})
	}
	// tarjama.yaml found in the working directory is checked too.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tarjama.yaml"), []byte("modle: x\n"), 0o644)
	t.Chdir(dir)
	if res := runCLI(t, context.Background(), "", "prompts", "list"); res.code != 1 || !strings.Contains(res.stderr, `config file tarjama.yaml: unknown key "modle"`) {
		t.Errorf("tarjama.yaml with a typo: exit %d, %q", res.code, res.stderr)
	}
}

// Every flag of every command may be set from the config file, by each of
// its names.
func TestConfigSetsEveryFlag(t *testing.T) {
	notInFile := map[string]bool{
		"config": true, // names the file
	}
	keys := configKeys()
	var walk func(path string, cmds []*cli.Command)
	walk = func(path string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			p := strings.TrimSpace(path + " " + cmd.Name)
			// config show reads the file in its action, after noting
			// which flags the command line gave.
			if len(cmd.Flags) > 0 && cmd.Before == nil && p != "tarjama config show" {
				t.Errorf("%s: the config file is not read (no Before)", p)
			}
			for _, f := range cmd.Flags {
				name := f.Names()[0]
				if notInFile[name] {
					continue
				}
				if _, ok := f.(altsrc.FlagInputSourceExtension); !ok {
					t.Errorf("%s --%s: not settable from the config file", p, name)
				}
				for _, n := range f.Names() {
					if !keys[n] {
						t.Errorf("%s --%s: %q is not a config key", p, name, n)
					}
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	walk("tarjama", newApp(&Env{}).Commands)
}

func TestConfigPromptsFromFile(t *testing.T) {
	fixtures, err := filepath.Abs(fixtures)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tmpl := `{{define "system"}}From the config file.{{end}}{{define "user"}}{{fence "TITLE" .Title}}
{{fence "BODY" .Body}}{{end}}`
	os.WriteFile(filepath.Join(dir, "translate.tmpl"), []byte(tmpl), 0o644)
	cfg := "prompts: " + strconv.Quote(dir) + "\nrow: 2\n"
	tests := []struct {
		name string
		cfg  string // written to tarjama.yaml in the working directory, or to --config
		args []string
	}{
		{"tarjama.yaml", "tarjama.yaml", nil},
		{"--config", "team.yaml", []string{"--config", "team.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := t.TempDir()
			os.WriteFile(filepath.Join(wd, tt.cfg), []byte(cfg), 0o644)
			t.Chdir(wd)
			res := runCLI(t, context.Background(), "", append([]string{"prompts", "render", "translate", "--input", fixtures}, tt.args...)...)
			if res.code != 0 || !strings.HasPrefix(res.stdout, "=== system ===\nFrom the config file.\n=== user ===\n<<<BEGIN TITLE ") {
				t.Errorf("render: exit %d, stderr %q:\n%s", res.code, res.stderr, res.stdout)
			}
			if title := readFixtures(t, fixtures)[1].title; !strings.Contains(res.stdout, title) {
				t.Errorf("render: row: 2 from the file not used (no %q):\n%s", title, res.stdout)
			}
			list := runCLI(t, context.Background(), "", append([]string{"prompts", "list"}, tt.args...)...)
			if !strings.Contains(list.stdout, filepath.Join(dir, "translate.tmpl")) {
				t.Errorf("list does not name the override:\n%s", list.stdout)
			}
			show := runCLI(t, context.Background(), "", append(append([]string{"prompts", "show"}, tt.args...), "translate")...)
			if show.stdout != tmpl {
				t.Errorf("show printed %q, want the override", show.stdout)
			}
			// A flag beats the file.
			flag := runCLI(t, context.Background(), "", append([]string{"prompts", "render", "translate", "--input", fixtures, "--prompts", ""}, tt.args...)...)
			if flag.code != 0 || strings.Contains(flag.stdout, "From the config file.") {
				t.Errorf("--prompts \"\" over the file: exit %d:\n%s", flag.code, flag.stdout)
			}
		})
	}
}

func TestConfigShowHelp(t *testing.T) {
	res := runCLI(t, context.Background(), "", "config", "show", "--help")
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	for _, f := range runFlags() {
		if !strings.Contains(res.stdout, "--"+f.Names()[0]) {
			t.Errorf("config show --help does not mention --%s", f.Names()[0])
		}
	}
	for _, want := range []string{"$OPENAI_API_KEY", "Flags beat environment", "masked", "--json"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("config show --help lacks %q:\n%s", want, res.stdout)
		}
	}
}
