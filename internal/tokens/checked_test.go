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

func TestCheckedObservesEveryReply(t *testing.T) {
	counter, cal := New(), &Calibration{}
	req := jobs.Request{Model: "gpt-4o", Messages: []prompts.Message{{Role: "user", Content: "Hello, world!"}}}
	est := counter.Messages("gpt-4o", req.Messages)
	c := Checked(fixedCompleter(2*est), counter, cal)
	for range 3 {
		if _, err := c.Complete(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if ratio, n := cal.Ratio("gpt-4o"); n != 3 || ratio != 2 {
		t.Errorf("Ratio = %v over %d, want 2 over 3", ratio, n)
	}
}
