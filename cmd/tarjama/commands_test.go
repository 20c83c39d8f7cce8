package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

func TestRunHelpDocumentsFlagsEnvAndExitCodes(t *testing.T) {
	res := runCLI(t, context.Background(), "", "run", "--help")
	if res.code != 0 {
		t.Fatalf("exit %d", res.code)
	}
	for _, f := range runFlags() {
		for _, name := range f.Names() {
			if !strings.Contains(res.stdout, "--"+name) && !strings.Contains(res.stdout, "-"+name+",") {
				t.Errorf("--help does not mention %s", name)
			}
		}
	}
	for _, want := range []string{"$OPENAI_API_KEY", "$OPENAI_BASE_URL", "$TARJAMA_MODEL", "EXIT STATUS", "130"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run"}, "tarjama: no input\nTry: tarjama run -i articles.csv"},
		{[]string{"run", "-i", fixtures, "--concurrency", "0"}, "--concurrency 0: must be at least 1"},
		{[]string{"run", "-i", fixtures, "--format", "csv,xml"}, "--format: "},
		{[]string{"run", "-i", fixtures, "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"run", "-i", fixtures, "--key-points", "0"}, "--key-points 0"},
		{[]string{"run", "-i", fixtures, "--reasoning-tokens", "-1"}, "--reasoning-tokens -1: must be 0 or more\nTry: --reasoning-tokens 8192"},
		{[]string{"run", "-i", "does-not-exist.csv", "--api-key", "sk-x"}, "open input: open does-not-exist.csv: no such file or directory"},
		{[]string{"run", "-i", fixtures}, "no API key for api.openai.com: set OPENAI_API_KEY or --api-key"},
		{[]string{"run", "-i", fixtures, "--prompts", "no-such-dir"}, "no-such-dir"},
		{[]string{"run", "-i", fixtures, "--config", "no-such.yaml"}, "config file no-such.yaml does not exist"},
		{[]string{"run", "-i", fixtures, "--base-url", "::not a url"}, "::not a url"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := runCLI(t, context.Background(), "", append(tt.args, "-o", t.TempDir())...)
			if res.code != 1 || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", res.code, res.stderr, tt.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	res := runCLI(t, context.Background(), "", "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "tarjama dev (go1.") || !strings.Contains(res.stdout, "commit ") {
		t.Errorf("version: exit %d, %q", res.code, res.stdout)
	}
}

func TestPromptsCommands(t *testing.T) {
	t.Run("list", func(t *testing.T) {
		res := runCLI(t, context.Background(), "", "prompts", "list")
		if res.code != 0 || !strings.Contains(res.stdout, "key_points   embedded") || !strings.Contains(res.stdout, "translate    embedded") {
			t.Errorf("exit %d:\n%s", res.code, res.stdout)
		}
	})
	t.Run("show", func(t *testing.T) {
		res := runCLI(t, context.Background(), "", "prompts", "show", "translate")
		if res.code != 0 || !strings.Contains(res.stdout, `{{define "system"}}`) {
			t.Errorf("exit %d:\n%s", res.code, res.stdout)
		}
		if res := runCLI(t, context.Background(), "", "prompts", "show", "nope"); res.code != 1 || !strings.Contains(res.stderr, "nope") {
			t.Errorf("unknown template: exit %d, %q", res.code, res.stderr)
		}
	})
	t.Run("render is what is sent", func(t *testing.T) {
		srv := newServer(t, fakeopenai.Options{APIKey: testKey})
		if res := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", fixtures, "--limit", "2", "--concurrency", "1")...); res.code != 0 {
			t.Fatalf("run: exit %d", res.code)
		}
		var sent []fakeopenai.Message
		for _, r := range srv.Requests() {
			if r.Step == fakeopenai.StepTranslate && strings.Contains(fakeopenai.Content(r.Messages), readFixtures(t, fixtures)[1].title) {
				sent = r.Messages
			}
		}
		res := runCLI(t, context.Background(), "", "prompts", "render", "translate", "--input", fixtures, "--row", "2")
		if res.code != 0 || len(sent) != 2 {
			t.Fatalf("render: exit %d, %d messages sent", res.code, len(sent))
		}
		want := "=== system ===\n" + sent[0].Content + "\n=== user ===\n" + sent[1].Content + "\n"
		if res.stdout != want {
			t.Errorf("render printed:\n%s\nbut the run sent:\n%s", res.stdout, want)
		}
	})
	t.Run("render of a long article with a glossary is what is sent", func(t *testing.T) {
		srv := newServer(t, fakeopenai.Options{APIKey: testKey})
		flags := []string{"--max-chunk-tokens", "200", "--glossary", exampleGlossary}
		// Row 12 is long and names a glossary entry.
		const row = 12
		arts := readFixtures(t, fixtures)
		in := filepath.Join(t.TempDir(), "one.csv")
		if err := os.WriteFile(in, []byte("id,title,body\n"+arts[row-1].id+",\""+arts[row-1].title+"\",\""+strings.ReplaceAll(arts[row-1].body, `"`, `""`)+"\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if res := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), append([]string{"-i", in, "--concurrency", "1"}, flags...)...)...); res.code != 0 {
			t.Fatalf("run: exit %d\n%s", res.code, res.stderr)
		}
		// The parts are sent concurrently: put them in order.
		var want strings.Builder
		var parts []string
		for _, r := range srv.Requests() {
			if r.Step == fakeopenai.StepTranslate {
				parts = append(parts, "=== system ===\n"+r.Messages[0].Content+"\n=== user ===\n"+r.Messages[1].Content+"\n")
			}
		}
		for i := range parts {
			for _, p := range parts {
				if strings.Contains(p, fmt.Sprintf("Translate part %d of %d ", i+1, len(parts))) {
					fmt.Fprintf(&want, "--- part %d of %d ---\n%s", i+1, len(parts), p)
				}
			}
		}
		res := runCLI(t, context.Background(), "", append([]string{"prompts", "render", "translate", "--input", fixtures, "--row", strconv.Itoa(row)}, flags...)...)
		if res.code != 0 || len(parts) < 3 || !strings.Contains(res.stdout, "<<<BEGIN GLOSSARY") {
			t.Fatalf("render: exit %d, %d parts sent, stdout:\n%s", res.code, len(parts), res.stdout)
		}
		if res.stdout != want.String() {
			t.Errorf("render printed:\n%s\nbut the run sent:\n%s", res.stdout, want.String())
		}
	})
	t.Run("render a row that does not exist", func(t *testing.T) {
		res := runCLI(t, context.Background(), "", "prompts", "render", "translate", "--input", fixtures, "--row", "61")
		if res.code != 1 || !strings.Contains(res.stderr, "has no data row 61") {
			t.Errorf("exit %d, %q", res.code, res.stderr)
		}
	})
	t.Run("override from a directory", func(t *testing.T) {
		dir := t.TempDir()
		tmpl := `{{define "system"}}Translate.{{end}}{{define "user"}}{{fence "TITLE" .Title}}
{{fence "BODY" .Body}}{{end}}`
		os.WriteFile(filepath.Join(dir, "translate.tmpl"), []byte(tmpl), 0o644)
		res := runCLI(t, context.Background(), "", "prompts", "render", "translate", "--prompts", dir, "--input", fixtures, "--row", "1")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "=== system ===\nTranslate.\n=== user ===\n<<<BEGIN TITLE ") {
			t.Errorf("exit %d:\n%s", res.code, res.stdout)
		}
		list := runCLI(t, context.Background(), "", "prompts", "list", "--prompts", dir)
		if !strings.Contains(list.stdout, filepath.Join(dir, "translate.tmpl")) {
			t.Errorf("list does not name the override:\n%s", list.stdout)
		}
	})
}

func TestConfigPrecedence(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tarjama.yaml")
	// max-cost as a YAML integer for a float flag; nothing has a price, so
	// 0 (no limit) is the only value that lets the run go on.
	os.WriteFile(cfg, []byte("model: from-file\nkey-points: 3\nlimit: 1\nmax-cost: 0\n"), 0o644)
	model := func(t *testing.T, env string, args ...string) string {
		t.Helper()
		t.Setenv("TARJAMA_MODEL", env)
		if env == "" {
			os.Unsetenv("TARJAMA_MODEL")
		}
		before := len(srv.Requests())
		base := []string{"run", "--base-url", srv.URL(), "--api-key", testKey, "-i", fixtures, "-o", t.TempDir(), "--config", cfg}
		res := runCLI(t, context.Background(), "", append(base, args...)...)
		reqs := srv.Requests()[before:]
		if res.code != 0 || len(reqs) != 2 {
			t.Fatalf("exit %d, %d requests (want 2: --limit 1 from the file); stderr:\n%s", res.code, len(reqs), res.stderr)
		}
		if !strings.Contains(fakeopenai.Content(reqs[1].Messages), "3 key points") {
			t.Errorf("key-points from the file not used")
		}
		return reqs[0].Model
	}
	// A number given to a string flag is taken as its text.
	numeric := filepath.Join(dir, "numeric.yaml")
	os.WriteFile(numeric, []byte("id-column: 7\n"), 0o644)
	if res := runCLI(t, context.Background(), "", "run", "-i", fixtures, "-o", t.TempDir(), "--api-key", testKey, "--config", numeric); res.code != 1 || !strings.Contains(res.stderr, `no column "7"`) {
		t.Errorf("id-column: 7 from a config file: exit %d, %q", res.code, res.stderr)
	}
	if got := model(t, ""); got != "from-file" {
		t.Errorf("file only: model %q, want from-file", got)
	}
	if got := model(t, "from-env"); got != "from-env" {
		t.Errorf("env over file: model %q, want from-env", got)
	}
	if got := model(t, "from-env", "--model", "from-flag"); got != "from-flag" {
		t.Errorf("flag over env: model %q, want from-flag", got)
	}
}

// TestBinaryInterrupt runs the real binary and sends it SIGINT while a
// request is in flight.
func TestBinaryInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tarjama")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	arts := readFixtures(t, fixtures)
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	hold := make(chan struct{})
	srv.Script(fakeopenai.Rule{Match: arts[1].title, Step: fakeopenai.StepTranslate, Times: 1, Fault: fakeopenai.Fault{Hold: hold}})
	out := t.TempDir()
	cmd := exec.Command(bin, runArgs(srv, out, "-i", fixtures, "--limit", "4", "--concurrency", "1")...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The run says when it has taken the signal.
	var stderr strings.Builder
	interrupted := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !said && strings.HasPrefix(sc.Text(), "tarjama: interrupted:") {
				said = true
				close(interrupted)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Wait(ctx, func(s fakeopenai.Stats) bool { return s.OK == 2 && s.InFlight == 1 }); err != nil {
		cmd.Process.Kill()
		t.Fatalf("row 2 never got in flight: %v", err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	// The request in flight is released only once the signal is taken, so
	// that row 3 cannot start before it.
	select {
	case <-interrupted:
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatal("the binary never said it was interrupted")
	}
	close(hold)
	<-readDone // all of standard error is read before Wait closes the pipe
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, want status 130; stderr:\n%s", err, stderr.String())
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	if len(rows) != 4 || rows[0].Status != "ok" || rows[1].Status != "ok" ||
		!strings.HasPrefix(rows[2].Error, "interrupted: ") || !strings.HasPrefix(rows[3].Error, "interrupted: ") {
		t.Errorf("rows after SIGINT: %+v", rows)
	}
	if n := srv.Stats().Requests; n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

func TestRunMaxCost(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	args := runArgs(srv, out, "-i", fixtures, "--concurrency", "1", "--max-cost", "0.01")
	args[6] = "gpt-4.1-mini" // --model: one with a list price
	res := runCLI(t, context.Background(), "", args...)
	if res.code != 2 || !strings.Contains(res.stderr, "stopped at --max-cost") {
		t.Fatalf("exit %d, want 2 with the budget named; stderr:\n%s", res.code, res.stderr)
	}
	rows := readJSON(t, filepath.Join(out, "results.json"))
	var ok, budget int
	for _, r := range rows {
		switch {
		case r.Status == "ok":
			ok++
		case strings.HasPrefix(r.Error, "budget: "):
			budget++
		}
	}
	if len(rows) != 60 || ok == 0 || budget == 0 || ok+budget != 60 {
		t.Errorf("%d rows: %d ok, %d stopped by the budget", len(rows), ok, budget)
	}
	if got := srv.Stats().Requests; got != 2*ok {
		t.Errorf("%d requests for %d rows done", got, ok)
	}

	res = runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", fixtures, "--max-cost", "1")...)
	if res.code != 1 || !strings.Contains(res.stderr, `knows none for model "fake-model"`) {
		t.Errorf("--max-cost with an unpriced model: exit %d, %q", res.code, res.stderr)
	}
}
