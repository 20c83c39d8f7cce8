package tokens

import (
	"context"
	"sync/atomic"

	"github.com/tarjama/tarjama/jobs"
)

// Checked wraps c so that replies' prompt_tokens are compared with the
// counter's estimate of their prompts, in cal; the run reports cal at the
// end. Counting a prompt costs about 1 ms of CPU per 2 KB, more than the
// rest of tarjama's work on a request, so only the first SampleFirst
// replies and then one in SampleEvery are checked.
func Checked(c jobs.Completer, counter *Counter, cal *Calibration) jobs.Completer {
	return &checked{c: c, counter: counter, cal: cal}
}

// The sample of replies that Checked compares.
const (
	SampleFirst = 20
	SampleEvery = 50
)

type checked struct {
	c       jobs.Completer
	counter *Counter
	cal     *Calibration
	n       atomic.Int64
}

func (k *checked) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	reply, err := k.c.Complete(ctx, req)
	if err != nil {
		return reply, err
	}
	if n := k.n.Add(1); n <= SampleFirst || n%SampleEvery == 0 {
		k.cal.Observe(req.Model, k.counter.Messages(req.Model, req.Messages), reply.Usage.PromptTokens)
	}
	return reply, err
}
