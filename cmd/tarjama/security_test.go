package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/testfs"
)

// TestUmask checks the modes of what run creates: private by default,
// --umask otherwise, for the outputs, run.json, the state file and the
// directories run makes for them.
func TestUmask(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	for _, tt := range []struct {
		name          string
		flags         []string
		file, dir     os.FileMode
		stateFileMode os.FileMode
	}{
		{"default", nil, 0o600, 0o700, 0o600},
		{"022", []string{"--umask", "022"}, 0o644, 0o755, 0o644},
		{"0027", []string{"--umask", "0027"}, 0o640, 0o750, 0o640},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			root := t.TempDir()
			out := filepath.Join(root, "reports", "nightly") // created by run
			stateDir := filepath.Join(root, "state")         // created by run
			args := runArgs(srv, out, append([]string{"-i", fixtures, "--limit", "2", "--format", "csv,json,jsonl",
				"--state", filepath.Join(stateDir, "tarjama.db")}, tt.flags...)...)
			if res := runCLI(t, context.Background(), "", args...); res.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			want := map[string]os.FileMode{
				filepath.Join(root, "reports"):        tt.dir,
				out:                                   tt.dir,
				stateDir:                              tt.dir,
				filepath.Join(stateDir, "tarjama.db"): tt.file,
				filepath.Join(stateDir, "tarjama.db.lock"): tt.file,
			}
			for _, name := range []string{"results.csv", "results.json", "results.jsonl", "run.json"} {
				want[filepath.Join(out, name)] = tt.file
			}
			testfs.WantModes(t, want)
			// No temporary file is left, whatever its mode was.
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), ".") {
					t.Errorf("%s left in the output directory", e.Name())
				}
			}
		})
	}
}

// TestUmaskBatchExport checks that the JSONL files of batch export, and the
// directory it makes for them, are private by default and follow --umask.
func TestUmaskBatchExport(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	for _, tt := range []struct {
		name      string
		flags     []string
		file, dir os.FileMode
	}{
		{"default", nil, 0o600, 0o700},
		{"022", []string{"--umask", "022"}, 0o644, 0o755},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			root := t.TempDir()
			out, files := filepath.Join(root, "out"), filepath.Join(root, "files")
			args := batchArgs(srv, "export", out, append([]string{"-i", fixtures, "--limit", "2", "--out", files}, tt.flags...)...)
			res := runCLI(t, context.Background(), "", args...)
			if res.code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
			}
			exported, _ := filepath.Glob(filepath.Join(files, "*.jsonl"))
			if len(exported) == 0 {
				t.Fatalf("no file exported; stderr:\n%s", res.stderr)
			}
			want := map[string]os.FileMode{files: tt.dir, out: tt.dir, filepath.Join(out, "state.db"): tt.file}
			for _, f := range exported {
				want[f] = tt.file
			}
			testfs.WantModes(t, want)
		})
	}
}

func TestUmaskUsageErrors(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	for _, umask := range []string{"999", "8", "0o1000", "1777", "abc", "", "-22", "0277", "700"} {
		t.Run(umask, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			res := runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--umask", umask)...)
			if res.code != 1 || !strings.Contains(res.stderr, "--umask") {
				t.Errorf("--umask %q: exit %d, want 1 and a message naming --umask; stderr:\n%s", umask, res.code, res.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("--umask %q: the output directory was created", umask)
			}
		})
	}
	if got := srv.Stats().Requests; got != 0 {
		t.Errorf("%d requests sent with a bad --umask, want 0", got)
	}
	for _, umask := range []string{"0", "077", "0o022", "0022", "007"} {
		if _, err := parseUmask(umask); err != nil {
			t.Errorf("parseUmask(%q): %v", umask, err)
		}
	}
}

// TestUmaskInConfigFile checks that a config file gives --umask as a
// string: YAML reads 077 as 63, which would read back as the mask 063.
func TestUmaskInConfigFile(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	for _, tt := range []struct {
		yaml string
		code int
	}{
		{"umask: 077\n", 1},
		{"umask: 22\n", 1},
		{"umask: \"022\"\n", 0},
	} {
		out := filepath.Join(t.TempDir(), "out")
		cfg := writeConfig(t, "tarjama.yaml", tt.yaml)
		res := runCLI(t, context.Background(), "", runArgs(srv, out, "--config", cfg, "-i", fixtures, "--limit", "1")...)
		if res.code != tt.code {
			t.Errorf("%q: exit %d, want %d; stderr:\n%s", tt.yaml, res.code, tt.code, res.stderr)
		}
		if tt.code != 0 && !strings.Contains(res.stderr, "umask: write the mask quoted") {
			t.Errorf("%q: stderr lacks the reason:\n%s", tt.yaml, res.stderr)
		}
		if tt.code == 0 && runtime.GOOS != "windows" {
			testfs.WantModes(t, map[string]os.FileMode{out: 0o755, filepath.Join(out, "results.csv"): 0o644})
		}
	}
}

const insecureWarning = "unencrypted"

// TestPlainHTTPWarning checks that a base URL in plain http to another
// machine is warned about on standard error before any request, and that
// a loopback one is not.
func TestPlainHTTPWarning(t *testing.T) {
	// A loopback server: no warning.
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	res := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", fixtures, "--limit", "1")...)
	if res.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stderr, insecureWarning) {
		t.Errorf("warning for a loopback server %s:\n%s", srv.URL(), res.stderr)
	}

	// Another machine. The input lacks a body column, so the run stops
	// before its first request: the warning comes before any.
	in := filepath.Join(t.TempDir(), "in.csv")
	if err := os.WriteFile(in, []byte("id,text\n1,نص\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res = runCLI(t, context.Background(), "", "run", "--base-url", "http://10.1.2.3/v1", "--api-key", testKey,
		"--model", fakeopenai.ModelID, "-o", t.TempDir(), "--no-progress", "-i", in)
	if res.code != 1 || !strings.Contains(res.stderr, "body") {
		t.Errorf("exit %d, want 1 for an input without a body column; stderr:\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stderr, insecureWarning) || !strings.Contains(res.stderr, "level=WARN") || !strings.Contains(res.stderr, "host=10.1.2.3") {
		t.Errorf("no warning for http://10.1.2.3/v1; stderr:\n%s", res.stderr)
	}
	if strings.Contains(res.stderr, testKey) {
		t.Errorf("the key appears on standard error:\n%s", res.stderr)
	}
}

// TestAPIKeyNeverInLogsOrRunRecord adds to TestAPIKeyNeverWritten: debug
// logs in both formats, run.json (which must be among the files searched),
// and a server that echoes the key in a 401.
func TestAPIKeyNeverInLogsOrRunRecord(t *testing.T) {
	const secret = "sk-proj-SECRETKEY-logs-0123456789"
	for _, tt := range []struct {
		name  string
		fault fakeopenai.Fault
		code  int
	}{
		{"500 echoing the key", fakeopenai.Fault{Status: 500, Message: "upstream said " + secret}, 0},
		{"401 echoing the key", fakeopenai.Fault{Status: 401, Message: "Incorrect API key provided: " + secret}, 1},
	} {
		for _, format := range []string{"text", "json"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				srv := newServer(t, fakeopenai.Options{APIKey: secret})
				srv.Script(fakeopenai.Rule{Times: 1, Fault: tt.fault})
				out := t.TempDir()
				args := runArgs(srv, out, "-i", fixtures, "--limit", "2", "--log-level", "debug", "--log-format", format, "--max-retries", "1")
				args[4] = secret
				res := runCLI(t, context.Background(), "", args...)
				if res.code != tt.code {
					t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
				}
				debug := map[string]string{"text": "level=DEBUG", "json": `"level":"DEBUG"`}[format]
				if !strings.Contains(res.stderr, debug) {
					t.Fatalf("no debug line on standard error: the search proves little:\n%s", res.stderr)
				}
				if strings.Contains(res.stdout+res.stderr, secret) {
					t.Errorf("the API key appears in the command's output:\n%s", res.stderr)
				}
				files, _ := filepath.Glob(filepath.Join(out, "*"))
				searched := map[string]bool{}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						continue
					}
					searched[filepath.Base(f)] = true
					if bytes.Contains(b, []byte(secret)) {
						t.Errorf("the API key appears in %s", f)
					}
				}
				if !searched["run.json"] || !searched["state.db"] {
					t.Errorf("searched %v, want run.json and state.db among them", searched)
				}
			})
		}
	}
}
