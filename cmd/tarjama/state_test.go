package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

// writeArticles writes arts as an input CSV in dir.
func writeArticles(t *testing.T, dir string, arts []article) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "title", "body", "url", "published_at", "source"})
	for _, a := range arts {
		w.Write([]string{a.id, a.title, a.body, a.url, a.published, a.source})
	}
	w.Flush()
	p := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// newRequests runs tarjama and returns how many requests the server saw.
func newRequests(t *testing.T, srv *fakeopenai.Server, args ...string) (int, cliResult) {
	t.Helper()
	before := srv.Stats().Requests
	res := runCLI(t, context.Background(), "", args...)
	return srv.Stats().Requests - before, res
}

func TestRerunPaysOnlyForWhatChanged(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	arts := readFixtures(t, fixtures)[:10]
	in := writeArticles(t, t.TempDir(), arts)
	n, res := newRequests(t, srv, runArgs(srv, out, "-i", in)...)
	if res.code != 0 || n != 20 {
		t.Fatalf("first run: exit %d, %d requests; stderr:\n%s", res.code, n, res.stderr)
	}
	first, _ := os.ReadFile(filepath.Join(out, "results.json"))
	firstCSV, _ := os.ReadFile(filepath.Join(out, "results.csv"))

	t.Run("the same input pays nothing and writes the same outputs", func(t *testing.T) {
		n, res := newRequests(t, srv, runArgs(srv, out, "-i", in)...)
		if res.code != 0 || n != 0 {
			t.Fatalf("exit %d, %d requests; want 0", res.code, n)
		}
		again, _ := os.ReadFile(filepath.Join(out, "results.json"))
		againCSV, _ := os.ReadFile(filepath.Join(out, "results.csv"))
		if !bytes.Equal(first, again) || !bytes.Equal(firstCSV, againCSV) {
			t.Error("the rerun wrote different outputs")
		}
		if !strings.Contains(res.stderr, "10 ok, 0 skipped, 0 failed, 10 cached") || !strings.Contains(res.stderr, "requests 0 (0 retries), tokens 0 prompt + 0 completion") {
			t.Errorf("summary:\n%s", res.stderr)
		}
	})
	t.Run("one changed article pays for its requests only", func(t *testing.T) {
		changed := append([]article(nil), arts...)
		changed[3].body += "\nفقرة جديدة."
		in2 := writeArticles(t, t.TempDir(), changed)
		if n, res := newRequests(t, srv, runArgs(srv, out, "-i", in2)...); res.code != 0 || n != 2 {
			t.Errorf("exit %d, %d requests; want 2 (its translation and its key points)", res.code, n)
		}
	})
	t.Run("the same article under another id pays nothing", func(t *testing.T) {
		renamed := append([]article(nil), arts...)
		for i := range renamed {
			renamed[i].id = "new-" + renamed[i].id
		}
		in3 := writeArticles(t, t.TempDir(), renamed)
		if n, res := newRequests(t, srv, runArgs(srv, out, "-i", in3)...); res.code != 0 || n != 0 {
			t.Errorf("exit %d, %d requests; want 0", res.code, n)
		}
	})
	t.Run("a changed template pays for its step only", func(t *testing.T) {
		dir := t.TempDir()
		src := runCLI(t, context.Background(), "", "prompts", "show", "key_points").stdout
		os.WriteFile(filepath.Join(dir, "key_points.tmpl"), []byte(strings.Replace(src, "You are a news editor.", "You are a careful news editor.", 1)), 0o644)
		n, res := newRequests(t, srv, runArgs(srv, out, "-i", in, "--prompts", dir)...)
		if res.code != 0 || n != 10 {
			t.Errorf("exit %d, %d requests; want 10 (key points only)", res.code, n)
		}
	})
	t.Run("another model pays for everything", func(t *testing.T) {
		args := runArgs(srv, out, "-i", in)
		args[6] = "fake-model-2"
		if n, res := newRequests(t, srv, args...); res.code != 0 || n != 20 {
			t.Errorf("exit %d, %d requests; want 20", res.code, n)
		}
	})
	t.Run("force pays again, then the rerun pays nothing", func(t *testing.T) {
		if n, res := newRequests(t, srv, runArgs(srv, out, "-i", in, "--force")...); res.code != 0 || n != 20 {
			t.Errorf("--force: exit %d, %d requests; want 20", res.code, n)
		}
		if n, res := newRequests(t, srv, runArgs(srv, out, "-i", in)...); res.code != 0 || n != 0 {
			t.Errorf("after --force: exit %d, %d requests; want 0", res.code, n)
		}
	})
}

func TestRetryFailedRows(t *testing.T) {
	arts := readFixtures(t, fixtures)[:3]
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	srv.Script(fakeopenai.Rule{Match: fakeopenai.TranslateTitle(arts[1].title), Step: fakeopenai.StepKeyPoints, Times: 1,
		Fault: fakeopenai.Fault{Status: 400, Message: "bad request"}})
	out := t.TempDir()
	in := writeArticles(t, t.TempDir(), arts)
	if n, res := newRequests(t, srv, runArgs(srv, out, "-i", in)...); res.code != 2 || n != 6 {
		t.Fatalf("first run: exit %d, %d requests", res.code, n)
	}
	n, res := newRequests(t, srv, runArgs(srv, out, "-i", in, "--retry-failed=false")...)
	if rows := readJSON(t, filepath.Join(out, "results.json")); res.code != 2 || n != 0 || !strings.HasPrefix(rows[1].Error, "http_400: ") {
		t.Errorf("--retry-failed=false: exit %d, %d requests, row 2 %q; want the failure kept without a request", res.code, n, rows[1].Error)
	}
	n, res = newRequests(t, srv, runArgs(srv, out, "-i", in)...)
	if rows := readJSON(t, filepath.Join(out, "results.json")); res.code != 0 || n != 1 || rows[1].Status != "ok" {
		t.Errorf("retry: exit %d, %d requests, row 2 %s; want 1 request (its key points) and ok", res.code, n, rows[1].Status)
	}
}

func TestStateFileErrors(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	t.Run("damaged", func(t *testing.T) {
		dir := t.TempDir()
		st := filepath.Join(dir, "state.db")
		junk := bytes.Repeat([]byte("not a database "), 100)
		os.WriteFile(st, junk, 0o600)
		res := runCLI(t, context.Background(), "", runArgs(srv, dir, "-i", fixtures, "--limit", "1")...)
		if res.code != 1 || !strings.Contains(res.stderr, st) {
			t.Errorf("exit %d, stderr %q; want 1 naming %s", res.code, res.stderr, st)
		}
		if b, _ := os.ReadFile(st); !bytes.Equal(b, junk) {
			t.Error("the damaged state file was changed")
		}
	})
	t.Run("in use", func(t *testing.T) {
		out := t.TempDir()
		hold := make(chan struct{})
		srv.Script(fakeopenai.Rule{Times: 1, Fault: fakeopenai.Fault{Hold: hold}})
		done := make(chan cliResult)
		go func() {
			done <- runCLI(t, context.Background(), "", runArgs(srv, out, "-i", fixtures, "--limit", "1")...)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.WaitInFlight(ctx, 1); err != nil {
			t.Fatal(err)
		}
		second := runCLI(t, context.Background(), "", runArgs(srv, t.TempDir(), "-i", fixtures, "--limit", "1", "--state", filepath.Join(out, "state.db"))...)
		close(hold)
		if first := <-done; first.code != 0 {
			t.Errorf("the first run: exit %d", first.code)
		}
		if second.code != 1 || !strings.Contains(second.stderr, "is in use by another tarjama run") {
			t.Errorf("second run: exit %d, stderr %q", second.code, second.stderr)
		}
	})
}

// buildBinary builds tarjama once per test that needs the real binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "tarjama")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestKilledRunsPayNothingTwice stops the real binary mid-run with SIGTERM
// and with kill -9, reruns it to the end, and counts what the server was
// paid for each distinct request.
func TestKilledRunsPayNothingTwice(t *testing.T) {
	bin := buildBinary(t)
	arts := readFixtures(t, fixtures)[:12]
	tests := []struct {
		name        string
		sig         syscall.Signal
		concurrency string
		// maxTwice bounds the requests paid twice: none after SIGTERM, at
		// most those in flight at a kill -9.
		maxTwice int
	}{
		{"SIGTERM", syscall.SIGTERM, "3", 0},
		{"kill -9, one at a time", syscall.SIGKILL, "1", 0},
		{"kill -9, four in flight", syscall.SIGKILL, "4", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			hold := make(chan struct{})
			// Article 6's translation is held in flight when the signal comes.
			srv.Script(fakeopenai.Rule{Match: arts[5].title, Step: fakeopenai.StepTranslate, Times: 1, Fault: fakeopenai.Fault{Hold: hold}})
			out := t.TempDir()
			in := writeArticles(t, t.TempDir(), arts)
			args := runArgs(srv, out, "-i", in, "--concurrency", tt.concurrency)
			cmd := exec.Command(bin, args...)
			pipe, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			said := make(chan struct{})
			go func() {
				sc := bufio.NewScanner(pipe)
				once := false
				for sc.Scan() {
					if !once && strings.HasPrefix(sc.Text(), "tarjama: interrupted:") {
						once = true
						close(said)
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := srv.Wait(ctx, func(s fakeopenai.Stats) bool { return s.OK >= 10 && s.InFlight >= 1 }); err != nil {
				cmd.Process.Kill()
				t.Fatalf("never got 10 replies and one in flight: %v", err)
			}
			cmd.Process.Signal(tt.sig)
			if tt.sig == syscall.SIGTERM {
				// It finishes the request in flight once released.
				<-said
				close(hold)
				cmd.Wait()
			} else {
				// Dead before the held request could be answered. The
				// server must see the connection gone before the hold is
				// released, or it would answer into a dead socket and
				// count the request paid: under load it can take a moment.
				cmd.Wait()
				if err := srv.Wait(ctx, func(s fakeopenai.Stats) bool { return s.InFlight == 0 }); err != nil {
					t.Fatalf("the server never saw the killed run's request end: %v", err)
				}
				close(hold)
			}

			// The rerun finishes the job.
			res := runCLI(t, context.Background(), "", args...)
			if res.code != 0 {
				t.Fatalf("rerun: exit %d; stderr:\n%s", res.code, res.stderr)
			}
			rows := readJSON(t, filepath.Join(out, "results.json"))
			csvRows := readCSV(t, filepath.Join(out, "results.csv"))
			for i, a := range arts {
				wantOK(t, i, a, csvRows[i], rows[i])
			}
			twice := 0
			for key, n := range srv.Paid() {
				if n > 2 {
					t.Errorf("request %s paid %d times", key[:12], n)
				}
				twice += n - 1
			}
			if len(srv.Paid()) != 24 || twice > tt.maxTwice {
				t.Errorf("%d distinct requests paid (want 24), %d paid twice (want at most %d)", len(srv.Paid()), twice, tt.maxTwice)
			}
		})
	}
}
