// Command fakeopenai serves the project's OpenAI-compatible test server on
// a loopback address, so that tarjama can be tried without an API key:
//
//	go run ./internal/fakeopenai/cmd/fakeopenai -addr 127.0.0.1:8089
//	go run ./cmd/tarjama run -i testdata/articles.csv --base-url http://127.0.0.1:8089/v1
//
// With -rpm and -tpm it enforces rate limits as OpenAI does (see the
// package documentation); -time-scale runs their minutes faster, and
// -bare-limits sends no x-ratelimit-* or retry-after headers with them, as
// some OpenAI-compatible gateways do.
// -max-output-runes caps translations as a model's output limit does, and
// -gullible makes the server obey "ignore previous instructions" outside the
// fences, to try tarjama's prompt-injection defences.
//
// Its "translations" are deterministic placeholders, not English prose.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/tarjama/tarjama/internal/fakeopenai"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8089", "loopback address to listen on")
	latency := flag.Duration("latency", 0, "delay added to every reply (real time)")
	rpm := flag.Int("rpm", 0, "requests per simulated minute; 0 for no limit")
	tpm := flag.Int("tpm", 0, "tokens per simulated minute; 0 for no limit")
	bare := flag.Bool("bare-limits", false, "send no x-ratelimit-* headers, and no retry-after with the limits' 429s")
	scale := flag.Float64("time-scale", 0, "simulated seconds per real second for the limits; 0 or 1 for real time")
	maxOut := flag.Int("max-output-runes", 0, "cut translations longer than this many runes (finish_reason length); 0 for no cap")
	gullible := flag.Bool("gullible", false, "obey \"ignore previous instructions\" found outside the fences")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		fmt.Fprintf(os.Stderr, "fakeopenai: -addr %s: want a loopback address such as 127.0.0.1:8089\n", *addr)
		os.Exit(1)
	}
	if *rpm < 0 || *tpm < 0 || *scale < 0 || *maxOut < 0 {
		fmt.Fprintln(os.Stderr, "fakeopenai: -rpm, -tpm, -time-scale and -max-output-runes must not be negative")
		os.Exit(1)
	}
	srv, err := fakeopenai.Listen(*addr, fakeopenai.Options{
		Latency: *latency, NoRecord: true,
		RPM: *rpm, TPM: *tpm, TimeScale: *scale, BareLimits: *bare,
		MaxOutputRunes: *maxOut, Gullible: *gullible,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeopenai: %v\n", err)
		os.Exit(1)
	}
	defer srv.Close()
	fmt.Printf("fakeopenai: serving %s (Ctrl-C to stop)\n", srv.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	st := srv.Stats()
	fmt.Printf("fakeopenai: %d requests, %d ok, %d refused by the request limit, %d by the token limit, at %s\n",
		st.Requests, st.OK, st.LimitedRequests, st.LimitedTokens, time.Now().Format(time.RFC3339))
}
