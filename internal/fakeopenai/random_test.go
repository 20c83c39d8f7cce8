package fakeopenai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

// TestRandomFaults sends the same requests one at a time to two servers
// with the same FaultRate and FaultSeed: both must fault the same requests
// the same way, every kind must come up, and Stats.RandomFaults must count
// what the client saw.
func TestRandomFaults(t *testing.T) {
	const n, rate, seed = 150, 0.6, 42
	var runs [2][]string
	for i := range runs {
		srv := newServer(t, fakeopenai.Options{FaultRate: rate, FaultSeed: seed})
		seen := map[string]int{}
		for j := range n {
			kind := sendRandom(t, srv, translationRequest(arTitle, fmt.Sprintf("%s %d", arBody, j)))
			runs[i] = append(runs[i], kind)
			if kind != "none" {
				seen[kind]++
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		st := srv.Stats()
		if diff := cmp.Diff(seen, st.RandomFaults); diff != "" {
			t.Errorf("run %d: Stats().RandomFaults differs from the faults seen (-seen +stats):\n%s", i, diff)
		}
		for _, kind := range fakeopenai.RandomFaultKinds() {
			if seen[kind] == 0 {
				t.Errorf("run %d: no %q fault in %d requests", i, kind, n)
			}
		}
		faults := 0
		for _, c := range seen {
			faults += c
		}
		// Binomial(150, 0.6): mean 90, sd 6.
		if faults < 65 || faults > 115 {
			t.Errorf("run %d: %d of %d requests faulted, want about %d", i, faults, n, int(rate*n))
		}
	}
	if diff := cmp.Diff(runs[0], runs[1]); diff != "" {
		t.Errorf("the same seed gave other faults (-first +second):\n%s", diff)
	}

	for _, bad := range []float64{-0.1, 1.5} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with FaultRate %v did not panic", bad)
				}
			}()
			fakeopenai.New(fakeopenai.Options{FaultRate: bad}).Close()
		}()
	}
}

// sendRandom sends req and names the random fault its reply shows, or
// "none". A held request is cancelled as soon as the server counts a new
// hold fault.
func sendRandom(tb testing.TB, srv *fakeopenai.Server, req any) string {
	tb.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	holds := srv.Stats().RandomFaults["hold"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if srv.Wait(ctx, func(st fakeopenai.Stats) bool { return st.RandomFaults["hold"] > holds }) == nil {
			cancel()
		}
	}()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(hreq)
	switch {
	case errors.Is(err, context.Canceled):
		return "hold"
	case err != nil:
		return "drop"
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "truncate"
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if resp.Header.Get("Retry-After") != "" {
			// A simulated second, in real time: TimeScale is 0.
			if ra, ms := resp.Header.Get("Retry-After"), resp.Header.Get("Retry-After-Ms"); ra != "1" || ms != "1000" {
				return fmt.Sprintf("429 with retry-after %q, retry-after-ms %q", ra, ms)
			}
			return "429_retry_after"
		}
		return "429"
	case http.StatusBadGateway:
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return "502_html"
		}
	case http.StatusOK:
		var c struct {
			Choices []struct {
				Message      struct{ Content string }
				FinishReason string `json:"finish_reason"`
			}
		}
		if json.Unmarshal(b, &c) != nil || len(c.Choices) != 1 {
			return "invalid_json"
		}
		ch := c.Choices[0]
		switch {
		case ch.FinishReason == "length":
			return "length"
		case ch.FinishReason == "content_filter":
			return "content_filter"
		case ch.Message.Content == fakeopenai.RefusalText:
			return "refuse_text"
		case strings.ContainsFunc(ch.Message.Content, func(r rune) bool { return unicode.Is(unicode.Arabic, r) }):
			return "non_english"
		}
		return "none"
	}
	return fmt.Sprint(resp.StatusCode)
}
