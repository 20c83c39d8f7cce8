package llm

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tarjama/tarjama/jobs"
)

// Backoff: full jitter over an exponential ceiling. The n-th retry (n from
// 0) waits rand * min(backoffCap, backoffBase * 2^n), or the server's
// Retry-After when that is longer (capped at maxServerDelay).
const (
	backoffBase    = 500 * time.Millisecond
	backoffCap     = 60 * time.Second
	maxServerDelay = 5 * time.Minute
)

// backoff returns the jittered delay before retry n (n from 0).
func (c *Client) backoff(n int) time.Duration {
	ceiling := backoffCap
	if n < 16 { // 500ms * 2^7 already passes the cap; avoid overflow
		if d := backoffBase << n; d < ceiling {
			ceiling = d
		}
	}
	return time.Duration(c.rand() * float64(ceiling))
}

// retry calls attempt until it succeeds, fails for good, or ctx ends. It is
// the only retry layer: attempt sends one request (plus its fall-back
// re-sends) and returns nil, ctx's error, or a *jobs.CallError whose
// Retryable and RetryAfter decide what happens next. At most
// c.maxRetries retries are made.
func (c *Client) retry(ctx context.Context, log *slog.Logger, attempt func(context.Context) error) error {
	for n := 0; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ce *jobs.CallError
		if !errors.As(err, &ce) || !ce.Retryable || n >= c.maxRetries {
			return err
		}
		d := c.backoff(n)
		if ce.RetryAfter > d {
			d = ce.RetryAfter
		}
		if deadline, ok := ctx.Deadline(); ok && deadline.Sub(c.now()) < d {
			// The caller would give up during the wait: say why now.
			return err
		}
		log.Debug("retrying chat completion", "retry", n+1, "max_retries", c.maxRetries,
			"delay", d, "reason", ce.Reason, "status", ce.Status, "error", ce.Message)
		if err := c.sleep(ctx, d); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
