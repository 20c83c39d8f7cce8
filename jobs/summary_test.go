package jobs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/internal/testfs"
)

// TestRunListsFailedRows fails rows 3, 6, 9, ... of 75 and checks that the
// summary lists the first MaxFailedRows in input order and counts the rest.
func TestRunListsFailedRows(t *testing.T) {
	var in strings.Builder
	in.WriteString("id,body\n")
	for i := 1; i <= 75; i++ {
		fmt.Fprintf(&in, "A-%d,%s %d\n", i, ar, i)
	}
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		var n int
		fmt.Sscanf(req.ArticleID, "A-%d", &n)
		if n%3 == 0 {
			return Reply{}, &CallError{Reason: "http_400", Status: 400, Message: fmt.Sprintf("bad request %d", n), Attempts: 1}
		}
		return goodReply(req), nil
	})
	sum, sink, err := runWith(t, context.Background(), testOptions(t, writeCSV(t, in.String())), c)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 25 || len(sum.FailedRows) != MaxFailedRows || sum.FailedMore != 5 {
		t.Fatalf("failed=%d, %d listed + %d more; want 25 = 20 + 5", sum.Failed, len(sum.FailedRows), sum.FailedMore)
	}
	for i, f := range sum.FailedRows {
		n := 3 * (i + 1)
		want := FailedRow{Row: n, ID: fmt.Sprintf("A-%d", n), Error: fmt.Sprintf("http_400: translate request: HTTP 400: bad request %d", n)}
		if f != want {
			t.Errorf("FailedRows[%d]=%+v, want %+v", i, f, want)
		}
		if r := sink.rows[n-1]; r.Error != f.Error {
			t.Errorf("row %d error %q in the outputs, %q in the summary", n, r.Error, f.Error)
		}
	}
}

// TestRunListsRowsNotDone checks that rows failed by an interrupt are
// listed with the others.
func TestRunListsRowsNotDone(t *testing.T) {
	in := "id,body\n1," + ar + " 1\n2," + ar + " 2\n3," + ar + " 3\n4," + ar + " 4\n"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := completerFunc(func(callCtx context.Context, req Request) (Reply, error) {
		if req.ArticleID == "2" && req.Step == StepTranslate {
			cancel()
			return Reply{}, callCtx.Err()
		}
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, in))
	opts.Concurrency = 1
	sum, _, err := runWith(t, ctx, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range sum.FailedRows {
		got = append(got, fmt.Sprintf("%d %s %s", f.Row, f.ID, f.Error[:strings.Index(f.Error, ":")]))
	}
	if want := []string{"3 3 interrupted", "4 4 interrupted"}; !sum.Interrupted || !cmp.Equal(got[len(got)-2:], want) || sum.FailedMore != 0 || len(got) != sum.Failed {
		t.Errorf("interrupted=%v failed=%d rows %q (+%d), want rows 3 and 4 interrupted", sum.Interrupted, sum.Failed, got, sum.FailedMore)
	}
	rec := sum.Record()
	if rec.Status != RunInterrupted || rec.Model != "m" || rec.SummaryModel != "m" || rec.StartedAt.IsZero() ||
		!rec.FinishedAt.Equal(rec.StartedAt.Add(sum.Elapsed)) || len(rec.FailedRows) != sum.Failed {
		t.Errorf("Record()=%+v", rec)
	}
}

func TestSummaryAddFailedBounded(t *testing.T) {
	var s Summary
	long := "truncated: " + strings.Repeat("كلمة ", 1000)
	for i := 1; i <= 1000; i++ {
		s.addFailed(Result{Row: i, ID: fmt.Sprint(i), Status: StatusFailed, Error: long})
	}
	if len(s.FailedRows) != MaxFailedRows || cap(s.FailedRows) > 2*MaxFailedRows || s.FailedMore != 1000-MaxFailedRows {
		t.Errorf("%d listed (cap %d), %d more; want %d listed, %d more", len(s.FailedRows), cap(s.FailedRows), s.FailedMore, MaxFailedRows, 1000-MaxFailedRows)
	}
	if got := len([]rune(s.FailedRows[0].Error)); got != maxFailedError {
		t.Errorf("error kept is %d characters, want %d", got, maxFailedError)
	}
}

func TestSummaryRecord(t *testing.T) {
	started := time.Date(2025, 3, 14, 2, 0, 0, 0, time.UTC)
	s := goldenSummaries()["budget"]
	s.Started = started
	got := s.Record()
	want := RunRecord{
		Tool: "tarjama", Status: RunBudget,
		StartedAt: started, FinishedAt: started.Add(s.Elapsed), ElapsedSeconds: s.Elapsed.Seconds(),
		Model: "gpt-4.1-mini", SummaryModel: "gpt-4.1-mini",
		Rows: 15, OK: 11, Failed: 4, Requests: 22, PromptTokens: 1650, CompletionTokens: 330,
		CostUSD: 0.001188, CostKnown: true,
		FailedRows: s.FailedRows,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Record() (-want +got):\n%s", diff)
	}
	if got := (Summary{}).Record().FailedRows; got == nil || len(got) != 0 {
		t.Errorf("Record().FailedRows=%#v with no failed row, want []", got)
	}
	if got := (Summary{Interrupted: true, BudgetReached: true}).Record().Status; got != RunInterrupted {
		t.Errorf("Status=%q, want %q", got, RunInterrupted)
	}
	stopped := goldenSummaries()["stopped"].Record()
	if stopped.Status != RunStopped || stopped.Error != "http_401: translate request: HTTP 401: Incorrect API key provided" {
		t.Errorf("stopped run: Status=%q Error=%q", stopped.Status, stopped.Error)
	}
}

// goldenSummaries are the summaries of the golden files, by name.
func goldenSummaries() map[string]Summary {
	var many []FailedRow
	for i := 1; i <= MaxFailedRows; i++ {
		many = append(many, FailedRow{Row: 3 * i, ID: fmt.Sprintf("JA-%d", 3*i), Error: "interrupted: not done: the run was interrupted before this row; run tarjama again to finish it"})
	}
	many[0] = FailedRow{Row: 3, ID: "JA-3", Error: "truncated: the reply was cut off by the token limit (finish_reason length) after 4096 tokens; lower --max-chunk-tokens so that each piece fits the model's output limit, or choose a model with a larger one"}
	many[1] = FailedRow{Row: 6, ID: "مقال\t٦\n", Error: "not_english:\nthe reply is not English:\r\n\x1b[31mمرحبا"}
	return map[string]Summary{
		"done": {
			Rows: 60, OK: 60, Requests: 120, Usage: Usage{PromptTokens: 90000, CompletionTokens: 18000},
			Cost: 0.0648, CostKnown: true, Elapsed: 83*time.Second + 417*time.Millisecond, Written: true,
			GlossaryTerms: 12, GlossaryMisses: 1,
			Model: "gpt-4.1-mini", SummaryModel: "gpt-4.1-mini",
		},
		"interrupted": {
			Rows: 80, OK: 40, Skipped: 3, Failed: 37, Cached: 5, Requests: 90, Retries: 7,
			Usage:   Usage{PromptTokens: 61000, CompletionTokens: 12000},
			Elapsed: 42 * time.Second, Interrupted: true, Written: true,
			FailedRows: many, FailedMore: 17,
			Model: "local", SummaryModel: "local",
		},
		"budget": {
			Rows: 15, OK: 11, Failed: 4, Requests: 22, Usage: Usage{PromptTokens: 1650, CompletionTokens: 330},
			Cost: 0.001188, CostKnown: true, Elapsed: 2 * time.Second, BudgetReached: true, Written: true,
			FailedRows: []FailedRow{
				{Row: 12, ID: "12", Error: "budget: not done: the next rows would pass --max-cost $0.0012"},
				{Row: 13, ID: "13", Error: "budget: not done: the next rows would pass --max-cost $0.0012"},
				{Row: 14, ID: "14", Error: "budget: not done: the next rows would pass --max-cost $0.0012"},
				{Row: 15, ID: "15", Error: "budget: not done: the next rows would pass --max-cost $0.0012"},
			},
			Model: "gpt-4.1-mini", SummaryModel: "gpt-4.1-mini",
		},
		// A rejected key before any reply: the previous outputs are kept.
		"stopped": {
			Rows: 3, Failed: 3, Requests: 1, CostKnown: true, Elapsed: 310 * time.Millisecond,
			Stopped: "http_401: translate request: HTTP 401: Incorrect API key provided",
			FailedRows: []FailedRow{
				{Row: 1, ID: "JA-1", Error: "http_401: translate request: HTTP 401: Incorrect API key provided"},
				{Row: 2, ID: "JA-2", Error: "http_401: not done: the run stopped early (http_401: translate request: HTTP 401: Incorrect API key provided)"},
				{Row: 3, ID: "JA-3", Error: "http_401: not done: the run stopped early (http_401: translate request: HTTP 401: Incorrect API key provided)"},
			},
			Model: "gpt-4.1-mini", SummaryModel: "gpt-4.1-nano",
		},
	}
}

// TestSummaryGolden checks Report and Table against
// testdata/summary_NAME.{report,table}.golden.
func TestSummaryGolden(t *testing.T) {
	for name, s := range goldenSummaries() {
		t.Run(name, func(t *testing.T) {
			report, table := s.Report("out/nightly"), s.Table("out/nightly")
			checkGolden(t, "summary_"+name+".report.golden", report)
			checkGolden(t, "summary_"+name+".table.golden", table)
			// Every failed row is on one line of its own.
			for _, text := range []string{report, table} {
				lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
				for _, l := range lines {
					if strings.ContainsAny(l, "\t\r\x1b") || len([]rune(l)) > 240 {
						t.Errorf("line %q: a tab, carriage return or escape, or too long", l)
					}
				}
			}
		})
	}
}

// TestReportKeepsItsLines checks the lines that other programs and tests
// read.
func TestReportKeepsItsLines(t *testing.T) {
	s := goldenSummaries()["done"]
	got := s.Report("out")
	for _, want := range []string{
		"tarjama: done: 60 rows: 60 ok, 0 skipped, 0 failed, 0 cached\n",
		"  requests 120 (0 retries), tokens 90000 prompt + 18000 completion, estimated cost $0.0648, time 1m23.417s\n",
		"  outputs in out\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Report()=%q, want it to hold %q", got, want)
		}
	}
	if strings.Contains(got, "failed rows") {
		t.Errorf("Report()=%q lists failed rows with none", got)
	}
}

func TestOneLine(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "http_400: bad", 160, "http_400: bad"},
		{"line breaks and tabs", "a:\n\tb\r\nc  d", 160, "a: b c d"},
		{"escape", "a\x1b[31mb", 160, "a [31mb"},
		{"cut", "abcdefghij", 5, "abcd…"},
		{"arabic cut by characters", "مرحبا بالعالم", 6, "مرحبا…"},
		{"no cut", strings.Repeat("x", 500), 0, strings.Repeat("x", 500)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := oneLine(tt.in, tt.max); got != tt.want {
				t.Errorf("oneLine(%q, %d)=%q, want %q", tt.in, tt.max, got, tt.want)
			}
		})
	}
}

// TestRunRecordsWhyItStopped checks that a run stopped by a rejected key
// says so in its record, and lists the rows not done.
func TestRunRecordsWhyItStopped(t *testing.T) {
	in := "id,body\n1," + ar + " 1\n2," + ar + " 2\n3," + ar + " 3\n"
	c := completerFunc(func(ctx context.Context, req Request) (Reply, error) {
		if req.ArticleID == "2" {
			return Reply{}, &CallError{Reason: "http_401", Status: 401, Message: "key rejected", Fatal: true, Attempts: 1}
		}
		return goodReply(req), nil
	})
	opts := testOptions(t, writeCSV(t, in))
	opts.Concurrency = 1
	sum, _, err := runWith(t, context.Background(), opts, c)
	if err == nil {
		t.Fatal("no error after a rejected key")
	}
	rec := sum.Record()
	if rec.Status != RunStopped || !strings.Contains(rec.Error, "key rejected") || !strings.HasSuffix(err.Error(), rec.Error) {
		t.Errorf("Status=%q Error=%q, want stopped with the run's error %q", rec.Status, rec.Error, err)
	}
	var rows []int
	for _, f := range rec.FailedRows {
		rows = append(rows, f.Row)
	}
	if !cmp.Equal(rows, []int{2, 3}) {
		t.Errorf("failed rows %v, want [2 3]", rows)
	}
}

// checkGolden compares got with testdata/name, or rewrites the file with
// -update.
func checkGolden(t *testing.T, name string, got string) {
	t.Helper()
	testfs.Golden(t, filepath.Join("testdata", name), []byte(got))
}
