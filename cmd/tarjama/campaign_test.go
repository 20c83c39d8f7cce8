package main

// The fault campaign runs the real tarjama binary over 8 articles against
// a test server that misbehaves in one way per case, then reruns it
// against a well-behaved server on the same state file. For every case it
// checks the exit status, the reasons of the failed rows, that
// results.csv and results.json hold every input id exactly once in input
// order, that the rerun ends with every row ok (exit 0), and that no
// request answered well was paid for twice across both runs.
//
//	fault                                   outcome of the faulted run
//	--------------------------------------  ------------------------------------------------
//	429 with Retry-After: 1, once           retried after the server's delay; exit 0
//	429 without Retry-After, every time     row fails http_429: after --max-retries; exit 2
//	500, every time                         row fails http_500: after --max-retries; exit 2
//	502 with an HTML body (a proxy), always row fails http_502: after --max-retries; exit 2
//	503, once                               retried; exit 0
//	dropped connection, every time          row fails connection: after --max-retries; exit 2
//	reply never comes (--request-timeout)   row fails timeout: after --max-retries; exit 2
//	truncated reply, every time             row fails invalid_reply: after --max-retries; exit 2
//	invalid JSON, once                      retried; exit 0
//	reply in Arabic, every time             row fails not_english: (asked twice); exit 2
//	401 from the 4th article on             run stops: exit 1, "OPENAI_API_KEY" on stderr,
//	                                        rows 1-3 ok, row 4 fails http_401:, the rows not
//	                                        done fail "http_401: not done: the run stopped early"
//	disk full (file size limit) on output   exit 1 naming the output file; the previous
//	                                        outputs stay byte for byte, no temporary file left
//	state file locked by another run        exit 1 "is in use by another tarjama run";
//	                                        the run holding the lock is not disturbed
//	SIGTERM mid-run                         the article in flight is finished, no other is
//	                                        started; exit 130; rows done are ok, the others
//	                                        fail interrupted:
//	kill -9 mid-run                         no results file written (none is half written)
//
// In every case a rerun without the fault ends with every row ok and exit
// 0, pays only for what the faulted run did not get, and removes the
// temporary files a killed run left.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/jobs"
)

// How a campaign case runs the faulted binary.
const (
	modePlain    = iota // one run to the end
	modeSIGTERM         // SIGTERM while a request is held in flight
	modeKill            // kill -9 while a request is held in flight
	modeLocked          // a second run while a first holds the state file
	modeDiskFull        // a run whose output files cannot grow
)

// diskFullBlocks is the file size limit (ulimit -f) of the disk-full case,
// in the shell's blocks: 512 bytes for dash and POSIX shells, 1024 for
// bash, so 256 KB or 512 KB. The state file of 8 articles (under 100 KB)
// fits either way; the outputs of 8 articles with a wide note column (over
// 650 KB) do not, while those of 4 (about 340 KB, written without the
// limit) are the previous outputs.
const (
	diskFullBlocks = 500
	noteBytes      = 80 << 10
)

// notDone401 is the reason of the rows a 401 left not done.
const notDone401 = "http_401: not done: the run stopped early"

func TestFaultCampaign(t *testing.T) {
	bin := buildBinary(t)
	arts := readFixtures(t, fixtures)[:8]
	for i, a := range arts {
		if e := expect(a, jobs.DefaultMaxChunkTokens); e.parts != 1 {
			t.Fatalf("fixture %d (%s) is split in %d parts; the campaign wants one request per step", i+1, a.id, e.parts)
		}
	}
	// tr and kp match the translation and the key points of article i.
	tr := func(i, times int, f fakeopenai.Fault) fakeopenai.Rule {
		return fakeopenai.Rule{Match: arts[i].title, Step: fakeopenai.StepTranslate, Times: times, Fault: f}
	}
	kp := func(i, times int, f fakeopenai.Fault) fakeopenai.Rule {
		return fakeopenai.Rule{Match: fakeopenai.TranslateTitle(arts[i].title), Step: fakeopenai.StepKeyPoints, Times: times, Fault: f}
	}
	// never is a hold that is never released: the reply never comes (the
	// server lets go when it closes).
	never := make(chan struct{})
	tests := []struct {
		name  string
		mode  int
		rules []fakeopenai.Rule
		args  []string
		// code is the faulted run's exit status.
		code int
		// failed maps the rows (from 0) that fail to their reason's prefix;
		// the others must be ok. For modeLocked it is about the run that
		// holds the lock.
		failed map[int]string
		// stderr is in the faulted run's standard error.
		stderr string
		// minTook is the least the faulted run may take.
		minTook time.Duration
		// held is the row whose translation is held in flight when the
		// signal, or the second run, comes.
		held int
		// maxTwice bounds the requests paid twice across both runs, not
		// counting the replies the fault spoiled (see spoiledReplies).
		maxTwice int
	}{
		// A 429 also slows every later request down (the adaptive rate
		// limit), so these fall on the last article to keep the test short.
		{name: "429 with Retry-After once",
			rules: []fakeopenai.Rule{tr(7, 1, fakeopenai.Fault{Status: 429, RetryAfter: "1"})},
			code:  0, minTook: time.Second},
		{name: "429 without Retry-After every time",
			rules: []fakeopenai.Rule{tr(7, 0, fakeopenai.Fault{Status: 429})},
			args:  []string{"--max-retries", "2"}, code: 2, failed: map[int]string{7: "http_429: "}},
		{name: "500 every time",
			rules: []fakeopenai.Rule{kp(2, 0, fakeopenai.Fault{Status: 500})},
			args:  []string{"--max-retries", "1"}, code: 2, failed: map[int]string{2: "http_500: "}},
		{name: "502 HTML from a proxy every time",
			rules: []fakeopenai.Rule{tr(2, 0, fakeopenai.Fault{Status: 502, HTMLBody: true})},
			args:  []string{"--max-retries", "1"}, code: 2, failed: map[int]string{2: "http_502: "}},
		{name: "503 once",
			rules: []fakeopenai.Rule{tr(2, 1, fakeopenai.Fault{Status: 503})},
			code:  0},
		{name: "dropped connection every time",
			rules: []fakeopenai.Rule{tr(2, 0, fakeopenai.Fault{Drop: true})},
			args:  []string{"--max-retries", "1"}, code: 2, failed: map[int]string{2: "connection: "}},
		{name: "reply never comes",
			rules: []fakeopenai.Rule{tr(2, 0, fakeopenai.Fault{Hold: never})},
			args:  []string{"--max-retries", "1", "--request-timeout", "2s"}, code: 2, failed: map[int]string{2: "timeout: "},
			minTook: 4 * time.Second},
		{name: "truncated reply every time",
			rules: []fakeopenai.Rule{kp(2, 0, fakeopenai.Fault{Truncate: true})},
			args:  []string{"--max-retries", "1"}, code: 2, failed: map[int]string{2: "invalid_reply: "}},
		{name: "invalid JSON once",
			rules: []fakeopenai.Rule{tr(2, 1, fakeopenai.Fault{InvalidJSON: true})},
			code:  0},
		{name: "reply not in English every time",
			rules: []fakeopenai.Rule{tr(2, 0, fakeopenai.Fault{NonEnglish: true})},
			code:  2, failed: map[int]string{2: "not_english: "}},
		{name: "401 mid-run",
			rules: []fakeopenai.Rule{tr(3, 0, fakeopenai.Fault{Status: 401, Code: "invalid_api_key", Message: "Incorrect API key provided"})},
			args:  []string{"--concurrency", "1"}, code: 1, stderr: "OPENAI_API_KEY",
			failed: map[int]string{3: "http_401: ", 4: notDone401, 5: notDone401, 6: notDone401, 7: notDone401}},
		// The write error stops the run and cancels the requests in flight
		// (two at --concurrency 2): a reply the server had already sent is
		// lost, and the rerun pays for it again.
		{name: "disk full on the output", mode: modeDiskFull, code: 1, stderr: "file too large"},
		{name: "state file locked", mode: modeLocked, held: 2,
			code: 1, stderr: "is in use by another tarjama run"},
		{name: "SIGTERM mid-run", mode: modeSIGTERM, held: 5, args: []string{"--concurrency", "1"},
			code: 130, failed: map[int]string{6: "interrupted: ", 7: "interrupted: "}},
		{name: "kill -9 mid-run", mode: modeKill, held: 5, args: []string{"--concurrency", "1"}, code: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			srv := newServer(t, fakeopenai.Options{APIKey: testKey})
			srv.Script(tt.rules...)
			hold := make(chan struct{})
			if tt.mode == modeSIGTERM || tt.mode == modeKill || tt.mode == modeLocked {
				srv.Script(tr(tt.held, 1, fakeopenai.Fault{Hold: hold}))
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			in := writeArticles(t, t.TempDir(), arts)
			args := runArgs(srv, out, append([]string{"-i", in, "--concurrency", "2"}, tt.args...)...)

			var res binResult
			switch tt.mode {
			case modePlain:
				res = runBin(t, bin, dir, args...)
			case modeDiskFull:
				// Disk full, simulated with a file size limit rather than
				// permissions (root ignores those) or a small file system
				// (mounting one needs privileges): sh sets ulimit -f, then
				// execs tarjama. A write past the limit raises SIGXFSZ and
				// fails with EFBIG ("file too large"). The Go runtime
				// catches SIGXFSZ and, unless signal.Notify asked for it,
				// takes no action (os/signal: "Other signals will be caught
				// but no action will be taken"), so the write error is what
				// tarjama sees; it does so without the trap too, which is
				// there so that the process is not killed should that ever
				// change (an exit status of 1 and the EFBIG message below
				// would then fail). The limit applies to every file, so the
				// input carries a wide note column that only the outputs
				// hold: the state file stays under it.
				in = writeWideArticles(t, t.TempDir(), arts, noteBytes)
				args = runArgs(srv, out, append([]string{"-i", in, "--concurrency", "2"}, tt.args...)...)
				if prev := runBin(t, bin, dir, append(args, "--limit", "4")...); prev.code != 0 {
					t.Fatalf("the previous run: exit %d; stderr:\n%s", prev.code, prev.stderr)
				}
				before := snapshot(t, out, "results.csv", "results.json")
				res = runBin(t, "sh", dir, append([]string{"-c", `trap "" XFSZ; ulimit -f "$0"; exec "$@"`,
					strconv.Itoa(diskFullBlocks), bin}, args...)...)
				if !strings.Contains(res.stderr, "write "+filepath.Join(out, "results.")) {
					t.Errorf("stderr does not name the output file in %s:\n%s", out, res.stderr)
				}
				if after := snapshot(t, out, "results.csv", "results.json"); !maps.EqualFunc(before, after, bytes.Equal) {
					t.Error("the previous outputs were changed by the run that could not write")
				}
				if tmps, _ := filepath.Glob(filepath.Join(out, ".results.*")); len(tmps) != 0 {
					t.Errorf("temporary files left: %v", tmps)
				}
			case modeLocked:
				first := startBin(t, bin, dir, args...)
				if err := srv.WaitInFlight(ctx, 1); err != nil {
					first.kill()
					t.Fatal(err)
				}
				// Same output directory and state file, another server: it
				// must make no request at all.
				other := newServer(t, fakeopenai.Options{APIKey: testKey})
				res = runBin(t, bin, dir, runArgs(other, out, append([]string{"-i", in, "--concurrency", "2"}, tt.args...)...)...)
				if n := other.Stats().Requests; n != 0 {
					t.Errorf("the run without the lock made %d requests", n)
				}
				close(hold)
				if r := first.wait(); r.code != 0 {
					t.Errorf("the run holding the lock: exit %d; stderr:\n%s", r.code, r.stderr)
				}
			case modeSIGTERM, modeKill:
				run := startBin(t, bin, dir, args...)
				// Rows before the held one are done and its translation is
				// in flight.
				if err := srv.Wait(ctx, func(s fakeopenai.Stats) bool { return s.OK >= 2*tt.held && s.InFlight >= 1 }); err != nil {
					run.kill()
					t.Fatalf("row %d never got in flight: %v", tt.held+1, err)
				}
				if tt.mode == modeSIGTERM {
					run.cmd.Process.Signal(syscall.SIGTERM)
					// The request in flight is let go once the signal is
					// taken, so that no other row can start before it.
					select {
					case <-run.interrupted:
					case <-ctx.Done():
						run.kill()
						t.Fatal("the binary never said it was interrupted")
					}
					close(hold)
					res = run.wait()
				} else {
					run.cmd.Process.Kill()
					res = run.wait()
					// The server must see the request gone before the hold
					// is released, or it would answer into a dead socket and
					// count it paid.
					if err := srv.WaitIdle(ctx); err != nil {
						t.Fatalf("the server never saw the killed run's request end: %v", err)
					}
					close(hold)
					for _, name := range []string{"results.csv", "results.json"} {
						if _, err := os.Stat(filepath.Join(out, name)); !errors.Is(err, os.ErrNotExist) {
							t.Errorf("%s after kill -9: %v, want none", name, err)
						}
					}
				}
			}

			if res.code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", res.code, tt.code, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, res.stderr)
			}
			if res.took < tt.minTook {
				t.Errorf("the run took %v, want at least %v", res.took, tt.minTook)
			}
			if tt.mode != modeDiskFull && tt.mode != modeKill {
				checkOutputs(t, out, arts, tt.failed)
			}
			srv.Verify(t)
			spoiled := spoiledReplies(srv, tt.rules)

			// The rerun, without the fault, on the same state file.
			clean := newServer(t, fakeopenai.Options{APIKey: testKey})
			cleanArgs := runArgs(clean, out, "-i", in, "--concurrency", "2")
			if r := runBin(t, bin, dir, cleanArgs...); r.code != 0 {
				t.Fatalf("rerun: exit %d; stderr:\n%s", r.code, r.stderr)
			}
			checkOutputs(t, out, arts, nil)
			// The rerun removes what a killed run left too.
			if tmps, _ := filepath.Glob(filepath.Join(out, ".results.*")); len(tmps) != 0 {
				t.Errorf("temporary files left after the rerun: %v", tmps)
			}

			// Every request paid once, across both runs (and the previous
			// run of the disk-full case), but for the replies the fault
			// spoiled.
			paid := srv.Paid()
			for k, n := range clean.Paid() {
				paid[k] += n
			}
			want := 0
			for _, a := range arts {
				want += expect(a, jobs.DefaultMaxChunkTokens).requests
			}
			if len(paid) != want {
				t.Errorf("%d distinct requests paid, want %d", len(paid), want)
			}
			twice := 0
			for k, n := range paid {
				if n > 2+spoiled[k] {
					t.Errorf("request %s paid %d times (%d spoiled replies)", k[:12], n, spoiled[k])
				}
				twice += max(0, n-1-spoiled[k])
			}
			if twice > tt.maxTwice {
				t.Errorf("%d requests paid twice, want at most %d", twice, tt.maxTwice)
			}
		})
	}
}

// binResult is how one run of the binary ended.
type binResult struct {
	// code is the exit status, -1 when a signal ended the process.
	code   int
	stderr string
	took   time.Duration
}

// runBin runs prog (the binary, or sh running it) with args in dir, where
// no tarjama.yaml is, to the end.
func runBin(t *testing.T, prog, dir string, args ...string) binResult {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	return binResult{code: exitOf(t, err), stderr: stderr.String(), took: time.Since(start)}
}

// exitOf returns the exit status of a finished command.
func exitOf(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("run tarjama: %v", err)
	return 0
}

// started is a run of the binary in the background.
type started struct {
	t     *testing.T
	cmd   *exec.Cmd
	start time.Time
	// interrupted is closed when the run says it took a signal.
	interrupted chan struct{}
	stderr      strings.Builder
	readDone    chan struct{}
}

func startBin(t *testing.T, bin, dir string, args ...string) *started {
	t.Helper()
	s := &started{t: t, cmd: exec.Command(bin, args...), interrupted: make(chan struct{}), readDone: make(chan struct{})}
	s.cmd.Dir = dir
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.start = time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.readDone)
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			s.stderr.WriteString(sc.Text() + "\n")
			if !said && strings.HasPrefix(sc.Text(), "tarjama: interrupted:") {
				said = true
				close(s.interrupted)
			}
		}
	}()
	return s
}

// wait waits for the run to end, having read all of its standard error.
func (s *started) wait() binResult {
	s.t.Helper()
	<-s.readDone
	err := s.cmd.Wait()
	return binResult{code: exitOf(s.t, err), stderr: s.stderr.String(), took: time.Since(s.start)}
}

// kill ends the run at once, when the test gives up on it.
func (s *started) kill() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

// checkOutputs checks that results.json and results.csv in out hold every
// article exactly once, in input order, the rows in failed failed with
// their reason's prefix and the others ok with what the server answers.
func checkOutputs(t *testing.T, out string, arts []article, failed map[int]string) {
	t.Helper()
	rows := readJSON(t, filepath.Join(out, "results.json"))
	_, csvRows := readCSVAny(t, filepath.Join(out, "results.csv"))
	if len(rows) != len(arts) || len(csvRows) != len(arts) {
		t.Fatalf("%d json rows, %d csv rows, want %d each", len(rows), len(csvRows), len(arts))
	}
	for i, a := range arts {
		j, c := rows[i], csvRows[i]
		if j.ID != a.id || c["id"] != a.id {
			t.Errorf("row %d: id %q in results.json, %q in results.csv, want %q", i+1, j.ID, c["id"], a.id)
			continue
		}
		if c["status"] != j.Status || c["error"] != j.Error {
			t.Errorf("row %d: results.csv says %s %q, results.json %s %q", i+1, c["status"], c["error"], j.Status, j.Error)
		}
		if reason, ok := failed[i]; ok {
			if j.Status != "failed" || !strings.HasPrefix(j.Error, reason) {
				t.Errorf("row %d = %s %q, want failed %q...", i+1, j.Status, j.Error, reason)
			}
			continue
		}
		e := expect(a, jobs.DefaultMaxChunkTokens)
		if j.Status != "ok" || j.Error != "" || j.TitleEN != e.title || j.Translation != e.body ||
			strings.Join(j.KeyPoints, "\n") != strings.Join(e.points, "\n") || c["translation"] != e.body {
			t.Errorf("row %d = %s %q, want ok with the server's translation and key points", i+1, j.Status, j.Error)
		}
	}
}

// writeWideArticles writes arts as an input CSV in dir with a note column
// of n bytes per row, which the outputs carry through.
func writeWideArticles(t *testing.T, dir string, arts []article, n int) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"id", "title", "body", "url", "published_at", "source", "note"})
	note := strings.Repeat("n", n)
	for _, a := range arts {
		w.Write([]string{a.id, a.title, a.body, a.url, a.published, a.source, note})
	}
	w.Flush()
	p := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// snapshot reads the named files of dir.
func snapshot(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		m[n] = b
	}
	return m
}

// spoiledReplies counts, per paid key, the replies of status 200 that a
// content fault of rules spoiled (a reply not in English is paid for like a
// good one, and asking again is right).
func spoiledReplies(srv *fakeopenai.Server, rules []fakeopenai.Rule) map[string]int {
	m := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Status != 200 {
			continue
		}
		content := fakeopenai.Content(r.Messages)
		for _, rule := range rules {
			if rule.Fault.NonEnglish && (rule.Step == "" || rule.Step == r.Step) && strings.Contains(content, rule.Match) {
				m[r.Key()]++
				break
			}
		}
	}
	return m
}
