package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/jobs"
)

func estimate(t *testing.T, args ...string) (jobs.Plan, cliResult) {
	t.Helper()
	res := runCLI(t, context.Background(), "", append([]string{"estimate", "--json"}, args...)...)
	var p jobs.Plan
	if res.code == 0 {
		if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
			t.Fatalf("estimate --json: %v\n%s", err, res.stdout)
		}
	}
	return p, res
}

func TestEstimateMatchesTheRun(t *testing.T) {
	srv := newServer(t, fakeopenai.Options{APIKey: testKey})
	out := t.TempDir()
	common := []string{"-i", fixtures, "-o", out, "--model", fakeopenai.ModelID, "--max-chunk-tokens", "400"}

	plan, res := estimate(t, append(common, "--rpm", "60")...)
	if res.code != 0 {
		t.Fatalf("estimate: exit %d; stderr:\n%s", res.code, res.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "state.db")); !os.IsNotExist(err) {
		t.Errorf("estimate created a state file (%v)", err)
	}
	if n, res := newRequests(t, srv, runArgs(srv, out, "-i", fixtures, "--max-chunk-tokens", "400")...); res.code != 0 || n != plan.Requests {
		t.Errorf("the run made %d requests, the estimate said %d", n, plan.Requests)
	}
	if plan.Articles != 60 || plan.New != 60 || plan.Chunks == 0 || plan.PromptTokens <= 0 || plan.CompletionTokens <= 0 {
		t.Errorf("plan %+v", plan)
	}
	if want := float64(plan.Requests) / 60; plan.Minutes != want {
		t.Errorf("minutes %v at --rpm 60, want %v", plan.Minutes, want)
	}
	if plan.CostKnown {
		t.Errorf("a cost for %s, which has no price", fakeopenai.ModelID)
	}

	t.Run("after the run everything is done", func(t *testing.T) {
		before := srv.Stats().Requests
		plan, res := estimate(t, common...)
		if res.code != 0 || plan.Cached != 60 || plan.New != 0 || plan.Requests != 0 {
			t.Errorf("exit %d, plan %+v; want 60 cached and no request", res.code, plan)
		}
		if srv.Stats().Requests != before {
			t.Error("estimate made a request")
		}
	})
	t.Run("a price file", func(t *testing.T) {
		prices := filepath.Join(t.TempDir(), "prices.csv")
		os.WriteFile(prices, []byte("model,input_per_million,output_per_million\nfake-model,1.00,2.00\n"), 0o644)
		plan, res := estimate(t, append(common, "--force", "--prices", prices)...)
		want := (float64(plan.PromptTokens)*1 + float64(plan.CompletionTokens)*2) / 1e6
		if res.code != 0 || !plan.CostKnown || plan.Cost < want*0.999 || plan.Cost > want*1.001 {
			t.Errorf("exit %d, cost %v known %v; want %v", res.code, plan.Cost, plan.CostKnown, want)
		}
		os.WriteFile(prices, []byte("model,input_per_million,output_per_million\nfake-model,cheap,2.00\n"), 0o644)
		if _, res := estimate(t, append(common, "--prices", prices)...); res.code != 1 || !strings.Contains(res.stderr, `line 2, column "input_per_million"`) {
			t.Errorf("bad price file: exit %d, %q", res.code, res.stderr)
		}
	})
	t.Run("run --dry-run prints the table and writes nothing", func(t *testing.T) {
		dir := t.TempDir()
		before := srv.Stats().Requests
		res := runCLI(t, context.Background(), "", runArgs(srv, dir, "-i", fixtures, "--dry-run", "--rpm", "100")...)
		if res.code != 0 || !strings.Contains(res.stdout, "articles           60") || !strings.Contains(res.stdout, "at --rpm 100") {
			t.Errorf("exit %d:\n%s%s", res.code, res.stdout, res.stderr)
		}
		if srv.Stats().Requests != before {
			t.Error("--dry-run made a request")
		}
		if files, _ := os.ReadDir(dir); len(files) != 0 {
			t.Errorf("--dry-run wrote %d files", len(files))
		}
	})
}
