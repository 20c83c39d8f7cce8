// Package ratebench benchmarks the whole pipeline at a provider's rate
// limit: jobs.Run with the real chat client (internal/llm) and the real
// output writers, against the test server (internal/fakeopenai) enforcing
// OpenAI-like request and token limits on a sped-up clock. It holds only
// benchmarks:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./internal/ratebench/
//
// Each sub-benchmark covers 3 to 4 simulated minutes in about 12 to 16 real
// seconds, more when the client falls short of the limit (hence the
// -timeout); all are skipped under -short. See ratebench_test.go for the configurations and
// the metrics.
package ratebench
