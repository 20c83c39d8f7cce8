//go:build unix && !aix && (!solaris || illumos)

package state

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tarjama/tarjama/jobs"
)

func TestLockConflictInOneProcess(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	first := openStore(t, path, Options{})
	if err := first.PutReply(ctx, "k", request(jobs.StepTranslate, "m"), reply("x")); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, path)

	// flock locks belong to the open file description, so a second Open in
	// the same process conflicts too.
	second, err := Open(ctx, path, Options{})
	if err == nil {
		second.Close()
		t.Fatal("second Open: no error")
	}
	var lerr *LockedError
	if !errors.As(err, &lerr) {
		t.Fatalf("second Open()=%v, want a *LockedError", err)
	}
	want := fmt.Sprintf("state file %s is in use by another tarjama run (pid %d); wait for it to finish, or give this run its own --state FILE", path, os.Getpid())
	if err.Error() != want {
		t.Errorf("second Open()=%q\nwant %q", err, want)
	}
	if !bytes.Equal(before, fileBytes(t, path)) {
		t.Error("the refused Open changed the state file")
	}

	// The first Store is unharmed, and once it is closed the file opens.
	if err := first.PutReply(ctx, "k2", request(jobs.StepTranslate, "m"), reply("y")); err != nil {
		t.Fatalf("PutReply after the refused Open: %v", err)
	}
	closeStore(t, first)
	again := openStore(t, path, Options{})
	if _, ok, err := again.GetReply(ctx, "k2"); !ok || err != nil {
		t.Errorf("GetReply()=_, %v, %v; want ok", ok, err)
	}
}

const helperEnv = "TARJAMA_STATE_TEST_HELPER"

// TestHelperProcess is not a test: run by TestKilledRun in a child process,
// it opens the state file named in the environment, stores a reply, says
// "ready" and waits to be killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestKilledRun")
	}
	ctx := context.Background()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stdout, "error:", err)
		os.Exit(1)
	}
	if err := s.PutReply(ctx, "paid", request(jobs.StepTranslate, "m"), reply("paid for")); err != nil {
		fmt.Fprintln(os.Stdout, "error:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stdout, "ready")
	// Block until killed: stdin stays open until then.
	bufio.NewReader(os.Stdin).ReadString('\n')
	os.Exit(3)
}

// TestKilledRun checks, across processes, that a running tarjama keeps
// others out with its pid in the message, that kill -9 releases the lock,
// and that a reply committed before the kill is there afterwards.
func TestKilledRun(t *testing.T) {
	ctx := context.Background()
	path := newPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err = Open(ctx, path, Options{})
	var lerr *LockedError
	if !errors.As(err, &lerr) || lerr.PID != cmd.Process.Pid {
		t.Fatalf("Open while another process runs = %v, want a *LockedError with pid %d", err, cmd.Process.Pid)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no checkpoint
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true

	s := openStore(t, path, Options{})
	got, ok, err := s.GetReply(ctx, "paid")
	if err != nil || !ok || got.Content != "paid for" {
		t.Errorf("after kill -9: GetReply()=%q, %v, %v; want the reply committed before", got.Content, ok, err)
	}
}
