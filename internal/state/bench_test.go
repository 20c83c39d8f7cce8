package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tarjama/tarjama/jobs"
)

// benchContent is about the size of a translated news article.
var benchContent = strings.Repeat("The minister told reporters on Tuesday that talks would resume. ", 40)

func benchKey(i int) string {
	h := sha256.Sum256([]byte(strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}

// BenchmarkPutReply measures durable writes from many workers at once: each
// PutReply returns once its reply is fsynced, and group commit shares one
// commit among the writes waiting for it.
func BenchmarkPutReply(b *testing.B) {
	req, rep := request(jobs.StepTranslate, "m"), reply(benchContent)
	report := func(b *testing.B, s *Store, before int64) {
		secs := b.Elapsed().Seconds()
		commits := s.commits.Load() - before
		b.ReportMetric(float64(b.N)/secs, "puts/s")
		b.ReportMetric(float64(commits)/secs, "commits/s")
		b.ReportMetric(float64(b.N)/float64(max(commits, 1)), "puts/commit")
	}
	// One writer: one commit, one fsync per put.
	b.Run("writers=1", func(b *testing.B) {
		ctx := context.Background()
		s := openStore(b, newPath(b), Options{})
		before, i := s.commits.Load(), 0
		for b.Loop() {
			i++
			if err := s.PutReply(ctx, benchKey(i), req, rep); err != nil {
				b.Fatal(err)
			}
		}
		report(b, s, before)
	})
	for _, p := range []int{1, 4, 16, 64} {
		writers := p * runtime.GOMAXPROCS(0)
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ctx := context.Background()
			s := openStore(b, newPath(b), Options{})
			var n atomic.Int64
			b.SetParallelism(p)
			before := s.commits.Load()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.PutReply(ctx, benchKey(int(n.Add(1))), req, rep); err != nil {
						b.Error(err)
						return
					}
				}
			})
			report(b, s, before)
		})
	}
}

// fillStore returns the path of a closed state file holding n replies of
// benchContent under benchKey(0..n-1).
func fillStore(b *testing.B, n int) string {
	b.Helper()
	ctx := context.Background()
	path := newPath(b)
	s := openStore(b, path, Options{})
	const perTx = 10000
	for start := 0; start < n; start += perTx {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		stmt := tx.StmtContext(ctx, s.putReplyStmt)
		for i := start; i < min(start+perTx, n); i++ {
			if _, err := stmt.ExecContext(ctx, benchKey(i), "translate", "m", benchContent, "stop", "m-2024", 900, 700, "2025-01-01T00:00:00Z"); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	closeStore(b, s)
	return path
}

// BenchmarkGetReply measures cache look-ups in a state file of 100,000
// replies (about 300 MB), for keys that are there and keys that are not.
func BenchmarkGetReply(b *testing.B) {
	const n = 100_000
	path := fillStore(b, n)
	ctx := context.Background()
	start := time.Now()
	s := openStore(b, path, Options{})
	b.Logf("Open of a state file of %d replies (quick_check included): %v", n, time.Since(start))

	b.Run("hit", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, ok, err := s.GetReply(ctx, benchKey(r.IntN(n))); !ok || err != nil {
				b.Fatalf("GetReply()=_, %v, %v", ok, err)
			}
		}
	})
	b.Run("miss", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 2))
		for b.Loop() {
			if _, ok, err := s.GetReply(ctx, benchKey(n+r.IntN(n))); ok || err != nil {
				b.Fatalf("GetReply()=_, %v, %v", ok, err)
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(rand.Uint64(), 2))
			for pb.Next() {
				if _, ok, err := s.GetReply(ctx, benchKey(r.IntN(n))); !ok || err != nil {
					b.Errorf("GetReply()=_, %v, %v", ok, err)
					return
				}
			}
		})
	})
}

// BenchmarkOpen measures Open and Close of a state file of 100,000 replies:
// mostly the quick_check, which reads the whole file.
func BenchmarkOpen(b *testing.B) {
	path := fillStore(b, 100_000)
	ctx := context.Background()
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(ctx, path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fi.Size())/1e6, "file-MB")
}
