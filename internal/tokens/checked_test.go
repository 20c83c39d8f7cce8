package tokens

import (
	"context"
	"testing"

	"github.com/tarjama/tarjama/jobs"
	"github.com/tarjama/tarjama/prompts"
)

type fixedCompleter int

func (n fixedCompleter) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	return jobs.Reply{Usage: jobs.Usage{PromptTokens: int(n)}}, nil
}

func TestCheckedObservesASample(t *testing.T) {
	counter, cal := New(), &Calibration{}
	req := jobs.Request{Model: "gpt-4o", Messages: []prompts.Message{{Role: "user", Content: "Hello, world!"}}}
	est := counter.Messages("gpt-4o", req.Messages)
	c := Checked(fixedCompleter(2*est), counter, cal)
	const replies = 200
	for range replies {
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	// The first 20, then the 50th, 100th, 150th and 200th.
	if ratio, n := cal.Ratio("gpt-4o"); n != SampleFirst+replies/SampleEvery || ratio != 2 {
		t.Errorf("Ratio = %v over %d, want 2 over %d", ratio, n, SampleFirst+replies/SampleEvery)
	}
}
