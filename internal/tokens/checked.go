package tokens

import (
	"context"

	"github.com/tarjama/tarjama/jobs"
)

// Checked wraps c so that every reply's prompt_tokens is compared with the
// counter's estimate of its prompt, in cal; the run reports cal at the end.
func Checked(c jobs.Completer, counter *Counter, cal *Calibration) jobs.Completer {
	return checked{c, counter, cal}
}

type checked struct {
	c       jobs.Completer
	counter *Counter
	cal     *Calibration
}

func (k checked) Complete(ctx context.Context, req jobs.Request) (jobs.Reply, error) {
	reply, err := k.c.Complete(ctx, req)
	if err == nil {
		k.cal.Observe(req.Model, k.counter.Messages(req.Model, req.Messages), reply.Usage.PromptTokens)
	}
	return reply, err
}
