//go:build unix

package jobs_test

// Benchmarks of the whole pipeline (jobs.Run with the real output writers),
// for the targets: under 1 ms of CPU per article of tarjama's own
// overhead, and memory that does not grow with the row count.
//
//	go test -run '^$' -bench 'RunInProcess|RunHTTP' -benchmem -benchtime 3x ./jobs/
//	go test -run '^$' -bench RunMemory -benchmem -benchtime 1x ./jobs/
//
// The input is built from the real articles in testdata/articles.csv, each
// row made unique so that the same-article dedupe does not kick in. The
// build constraint is for syscall.Getrusage.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tarjama/tarjama/internal/fakeopenai"
	"github.com/tarjama/tarjama/internal/llm"
	"github.com/tarjama/tarjama/internal/state"
	"github.com/tarjama/tarjama/internal/testinput"
	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/output"
	"github.com/tarjama/tarjama/prompts"
)

// benchRows is the number of rows of one iteration of the throughput
// benchmarks: large enough that the per-run costs (checking the input,
// opening, fsyncing and renaming the outputs) are a small share, small
// enough that -benchtime 3x stays within seconds.
const benchRows = 2000

// benchConcurrency is the pool size of every benchmark (the default).
const benchConcurrency = 8

// benchModel is the model every request names; the test server's one model.
const benchModel = "fake-model"

// BenchmarkRunInProcess measures tarjama's own overhead without HTTP: the
// whole of jobs.Run (checking and reading the CSV, rendering the prompts,
// parsing and checking the replies, writing results.csv and results.json)
// with a Completer that answers at once from precomputed replies.
func BenchmarkRunInProcess(b *testing.B) {
	path := benchInput(b, benchRows)
	c := newInProcessCompleter(b)
	b.Run(fmt.Sprintf("rows=%d", benchRows), func(b *testing.B) {
		benchThroughput(b, path, benchRows, c)
	})
}

// BenchmarkRunHTTP is BenchmarkRunInProcess with the real chat client
// (internal/llm over go-openai) against the test server with zero latency.
//
// The test server runs in this process, so the cpu-µs/article figure
// includes its CPU too (decoding the requests, making and encoding the
// replies, its half of every HTTP exchange): it is an upper bound of the
// client side's cost.
func BenchmarkRunHTTP(b *testing.B) {
	path := benchInput(b, benchRows)
	srv := fakeopenai.New(fakeopenai.Options{NoRecord: true})
	b.Cleanup(srv.Close)
	c, err := llm.New(llm.Config{BaseURL: srv.URL(), Model: benchModel})
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("rows=%d", benchRows), func(b *testing.B) {
		benchThroughput(b, path, benchRows, c)
	})
}

// BenchmarkRunMemory measures the peak heap of one whole run over 10,000 and
// 100,000 rows. With memory that does not grow with the input, both peaks
// are about the same.
func BenchmarkRunMemory(b *testing.B) {
	c := newInProcessCompleter(b)
	for _, rows := range []int{10_000, 100_000} {
		skip := rows > 10_000 && testing.Short()
		var path string
		if !skip {
			path = benchInput(b, rows) // once, for every run of the sub-benchmark
		}
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			if skip {
				b.Skip("skipped in -short mode")
			}
			opts := benchOptions(b, path)
			outDir := b.TempDir()
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				runtime.GC() // start each run from the live heap only
				b.StartTimer()
				p := peakHeapDuring(func() { runBench(b, opts, c, outDir, rows) })
				peak = max(peak, p)
			}
			b.StopTimer()
			b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

// benchThroughput runs jobs.Run over the rows of path b.N times and reports
// the time and the process CPU per article.
func benchThroughput(b *testing.B, path string, rows int, c jobs.Completer) {
	opts := benchOptions(b, path)
	outDir := b.TempDir()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for range b.N {
		runBench(b, opts, c, outDir, rows)
	}
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	articles := float64(b.N * rows)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/articles, "ns/article")
	b.ReportMetric(articles/b.Elapsed().Seconds(), "articles/s")
	b.ReportMetric(float64(cpu.Microseconds())/articles, "cpu-µs/article")
}

// benchOptions are the options of every benchmark run.
func benchOptions(b *testing.B, path string) jobs.Options {
	b.Helper()
	set, err := prompts.Load("")
	if err != nil {
		b.Fatal(err)
	}
	return jobs.Options{
		Path:        path,
		Name:        filepath.Base(path),
		Model:       benchModel,
		KeyPoints:   5,
		Concurrency: benchConcurrency,
		Prompts:     set,
	}
}

// runBench is one whole run into outDir (results.csv and results.json, as
// the command writes by default); every row must come out ok.
func runBench(b *testing.B, opts jobs.Options, c jobs.Completer, outDir string, rows int) {
	sum, err := jobs.Run(context.Background(), opts, c, func(columns []string) (jobs.Sink, error) {
		w, err := output.Open(output.Options{Dir: outDir, Formats: []string{"csv", "json"}, Columns: columns})
		if err != nil {
			return nil, err
		}
		return w, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if sum.Rows != rows || sum.OK != rows || sum.Cached != 0 {
		b.Fatalf("run: %d rows, %d ok, %d skipped, %d failed, %d cached; want %d ok and none cached",
			sum.Rows, sum.OK, sum.Skipped, sum.Failed, sum.Cached, rows)
	}
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapObjects is the runtime metric sampled by peakHeapDuring: the bytes of
// heap objects, live or not yet swept (what the heap occupies, not only what
// is reachable).
const heapObjects = "/memory/classes/heap/objects:bytes"

// peakHeapDuring runs run and returns the largest heap seen, sampled every
// 5 ms from another goroutine and once more at the end.
func peakHeapDuring(run func()) uint64 {
	stop := make(chan struct{})
	result := make(chan uint64)
	go func() {
		s := []metrics.Sample{{Name: heapObjects}}
		read := func() uint64 {
			metrics.Read(s)
			return s[0].Value.Uint64()
		}
		peak := read()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				peak = max(peak, read())
			case <-stop:
				result <- max(peak, read())
				return
			}
		}
	}()
	run()
	close(stop)
	return <-result
}

// --- The input ---

// sourceArticle is one row of testdata/articles.csv.
type sourceArticle = testinput.Article

var loadSource = sync.OnceValues(func() ([]sourceArticle, error) {
	return testinput.Load(filepath.Join("..", "testdata", "articles.csv"))
})

func sourceArticles(b *testing.B) []sourceArticle {
	b.Helper()
	arts, err := loadSource()
	if err != nil {
		b.Fatal(err)
	}
	return arts
}

// inputs caches the generated inputs by row count for the whole process.
// A file lives in the b.TempDir of the benchmark that made it, which is
// removed when that benchmark ends; a later benchmark then makes it again.
var inputs struct {
	sync.Mutex
	paths map[int]string
}

// benchInput returns a CSV of rows articles (columns id, title, body, url,
// published_at, source). Row n is source article (n-1) mod 60 with its id
// suffixed "-n" and its body suffixed " " and n in Arabic-Indic digits, so
// that no two rows share an id or a title and body.
func benchInput(b *testing.B, rows int) string {
	b.Helper()
	inputs.Lock()
	defer inputs.Unlock()
	if p, ok := inputs.paths[rows]; ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	arts := sourceArticles(b)
	p := filepath.Join(b.TempDir(), fmt.Sprintf("articles-%d.csv", rows))
	if err := writeInput(p, arts, rows); err != nil {
		b.Fatal(err)
	}
	if inputs.paths == nil {
		inputs.paths = map[int]string{}
	}
	inputs.paths[rows] = p
	return p
}

func writeInput(path string, arts []sourceArticle, rows int) error {
	return testinput.Write(path, arts, rows)
}

// --- The in-process completer ---

// completer is a function-field jobs.Completer.
type completer struct {
	complete func(ctx context.Context, req jobs.Request) (jobs.Reply, error)
}

func (c completer) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	return c.complete(ctx, req)
}

// cannedReplies are the replies for one source article.
type cannedReplies struct {
	translate, keyPoints jobs.Reply
}

// newInProcessCompleter answers every request at once with precomputed
// replies of realistic size: the English text of each paragraph is about
// 1.2 times as long (in characters) as the Arabic one. The article is found
// from the row number at the end of the request's ArticleID, so the
// completer keeps nothing per row.
func newInProcessCompleter(b *testing.B) jobs.Completer {
	arts := sourceArticles(b)
	canned := make([]cannedReplies, len(arts))
	for i, a := range arts {
		canned[i] = cannedFor(b, i, a)
	}
	return completer{complete: func(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
		n, err := strconv.Atoi(req.ArticleID[strings.LastIndexByte(req.ArticleID, '-')+1:])
		if err != nil || n < 1 {
			return jobs.Reply{}, fmt.Errorf("article id %q: no row number", req.ArticleID)
		}
		c := canned[(n-1)%len(canned)]
		switch req.Step {
		case jobs.StepTranslate:
			return c.translate, nil
		case jobs.StepKeyPoints:
			return c.keyPoints, nil
		}
		return jobs.Reply{}, fmt.Errorf("unexpected step %q", req.Step)
	}}
}

func cannedFor(b *testing.B, i int, a sourceArticle) cannedReplies {
	var body []string
	for k, para := range strings.Split(a.Body, "\n") {
		if strings.TrimSpace(para) == "" {
			body = append(body, "")
			continue
		}
		body = append(body, englishText(i+k, utf8.RuneCountInString(para)*6/5))
	}
	title := englishTitle(i, utf8.RuneCountInString(a.Title)*6/5)
	tr := "TITLE: " + title + "\nBODY:\n" + strings.Join(body, "\n")

	points := make([]string, 5)
	for k := range points {
		points[k] = englishSentences[(i+2*k)%len(englishSentences)]
	}
	kp, err := json.Marshal(struct {
		KeyPoints []string `json:"key_points"`
	}{points})
	if err != nil {
		b.Fatal(err)
	}
	// Rough token counts: the prompts carry the templates besides the text.
	return cannedReplies{
		translate: jobs.Reply{Content: tr, FinishReason: "stop", Model: benchModel, Attempts: 1,
			Usage: jobs.Usage{PromptTokens: 700 + len(a.Title+a.Body)/3, CompletionTokens: len(tr) / 4}},
		keyPoints: jobs.Reply{Content: string(kp), FinishReason: "stop", Model: benchModel, Attempts: 1,
			Usage: jobs.Usage{PromptTokens: 500 + len(tr)/4, CompletionTokens: len(kp) / 4}},
	}
}

var englishSentences = []string{
	"The minister said on Monday that the government would present the new budget to parliament before the end of the month.",
	"According to the statement, the festival will bring together more than forty radio and television channels from across the region.",
	"Officials at the ministry of health confirmed that the number of cases had fallen for the third week in a row.",
	"The national team will play its next qualifying match in Tunis on Saturday evening, the federation announced.",
	"He added that the talks with the unions had reached an advanced stage and that an agreement was expected soon.",
	"The central bank kept its key interest rate unchanged, citing the continued pressure of prices on household budgets.",
	"Witnesses told the radio station that the fire broke out in the early hours and was brought under control by noon.",
	"The court postponed the case to a later session at the request of the defence, which asked for more time to study the file.",
	"In a press conference, the director of the company said that exports had risen by twelve percent compared with last year.",
	"The organisers said that the exhibition is open to the public free of charge until the end of next week.",
	"The president received the foreign minister at the palace, where they discussed ways of strengthening bilateral cooperation.",
	"Farmers in the south are worried that the lack of rain this winter will reduce the olive harvest considerably.",
}

// englishText returns whole sentences from englishSentences, starting at
// seed, up to about n characters (at least one sentence).
func englishText(seed, n int) string {
	var sb strings.Builder
	for k := seed; sb.Len() == 0 || sb.Len() < n; k++ {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(englishSentences[k%len(englishSentences)])
	}
	return sb.String()
}

// englishTitle returns the words of a sentence up to about n characters,
// without the final period.
func englishTitle(seed, n int) string {
	words := strings.Fields(englishSentences[seed%len(englishSentences)])
	var sb strings.Builder
	for _, w := range words {
		if sb.Len() >= n {
			break
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strings.TrimSuffix(w, "."))
	}
	return sb.String()
}

// --- The state file ---

// countCalls counts the requests that reach c.
type countCalls struct {
	c     jobs.Completer
	calls atomic.Int64
}

func (cc *countCalls) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	cc.calls.Add(1)
	return cc.c.Complete(ctx, req)
}

// BenchmarkRunState measures what the SQLite state file costs: a fresh run
// that stores every reply (compare its cpu-µs/article with
// BenchmarkRunInProcess), and a rerun over rows that are all done, which
// must make no request.
func BenchmarkRunState(b *testing.B) {
	c := newInProcessCompleter(b)
	b.Run(fmt.Sprintf("fresh/rows=%d", benchRows), func(b *testing.B) {
		path := benchInput(b, benchRows)
		opts := benchOptions(b, path)
		outDir := b.TempDir()
		b.ReportAllocs()
		b.ResetTimer()
		cpu0 := processCPU(b)
		for i := range b.N {
			st := openState(b, filepath.Join(outDir, fmt.Sprintf("state-%d.db", i)))
			opts.Store = st
			sum := runStateBench(b, opts, c, outDir)
			st.Close()
			if sum.OK != benchRows || sum.Cached != 0 {
				b.Fatalf("fresh run: %+v", sum)
			}
		}
		cpu := processCPU(b) - cpu0
		b.StopTimer()
		articles := float64(b.N * benchRows)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/articles, "ns/article")
		b.ReportMetric(float64(cpu.Microseconds())/articles, "cpu-µs/article")
	})
	rows := 100_000
	if testing.Short() {
		rows = 10_000
	}
	b.Run(fmt.Sprintf("rerun/rows=%d", rows), func(b *testing.B) {
		path := benchInput(b, rows)
		opts := benchOptions(b, path)
		outDir := b.TempDir()
		st := openState(b, filepath.Join(outDir, "state.db"))
		defer st.Close()
		opts.Store = st
		runStateBench(b, opts, c, outDir) // the run that pays, not timed
		counted := &countCalls{c: c}
		var peak uint64
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			runtime.GC()
			b.StartTimer()
			var sum jobs.Summary
			p := peakHeapDuring(func() { sum = runStateBench(b, opts, counted, outDir) })
			peak = max(peak, p)
			if sum.Cached != rows || sum.Requests != 0 {
				b.Fatalf("rerun: %+v", sum)
			}
		}
		b.StopTimer()
		if n := counted.calls.Load(); n != 0 {
			b.Fatalf("the rerun made %d requests, want 0", n)
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/rerun")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/article")
		b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
		b.ReportMetric(0, "requests")
	})
}

func openState(b *testing.B, path string) *state.Store {
	b.Helper()
	st, err := state.Open(context.Background(), path, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// runStateBench is one whole run into outDir with opts.Store.
func runStateBench(b *testing.B, opts jobs.Options, c jobs.Completer, outDir string) jobs.Summary {
	sum, err := jobs.Run(context.Background(), opts, c, func(columns []string) (jobs.Sink, error) {
		return output.Open(output.Options{Dir: outDir, Formats: []string{"csv", "json"}, Columns: columns})
	})
	if err != nil {
		b.Fatal(err)
	}
	return sum
}
