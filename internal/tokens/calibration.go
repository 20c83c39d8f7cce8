package tokens

import (
	"fmt"
	"slices"
	"sync"
)

// Calibration compares a Counter's prompt estimates with the prompt_tokens
// the server reports, per model. The zero value is ready to use, and it is
// safe for concurrent use.
type Calibration struct {
	mu     sync.Mutex
	models map[string]*observed
}

type observed struct {
	estimated, reported int64
	n                   int
}

// Observe records one request to model: the prompt tokens the Counter
// estimated and those the server reported. An observation where either is
// zero or less is ignored: many OpenAI-compatible servers send no usage, or
// zeros.
func (c *Calibration) Observe(model string, estimated, reported int) {
	if estimated <= 0 || reported <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.models == nil {
		c.models = make(map[string]*observed)
	}
	o := c.models[model]
	if o == nil {
		o = &observed{}
		c.models[model] = o
	}
	o.estimated += int64(estimated)
	o.reported += int64(reported)
	o.n++
}

// Ratio returns the reported tokens over the estimated tokens, each summed
// over model's observations, and the number of observations. The ratio is 1
// when there are none. For a model counted with OtherModelFactor, the
// factor times the ratio is the factor its observations call for.
func (c *Calibration) Ratio(model string) (ratio float64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.models[model]
	if o == nil {
		return 1, 0
	}
	return float64(o.reported) / float64(o.estimated), o.n
}

// Report returns one line per observed model, sorted by model, for the run
// summary:
//
//	gpt-4.1-mini: estimates were within +2.1% of the server's prompt_tokens over 120 requests
//
// The percentage is how far the summed estimates were from the summed
// reported tokens: positive when the estimates were too high, negative when
// too low. It is the overall bias, not the worst single request.
func (c *Calibration) Report() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	models := make([]string, 0, len(c.models))
	for m := range c.models {
		models = append(models, m)
	}
	slices.Sort(models)
	lines := make([]string, 0, len(models))
	for _, m := range models {
		o := c.models[m]
		pct := (float64(o.estimated)/float64(o.reported) - 1) * 100
		requests := "requests"
		if o.n == 1 {
			requests = "request"
		}
		lines = append(lines, fmt.Sprintf("%s: estimates were within %+.1f%% of the server's prompt_tokens over %d %s", m, pct, o.n, requests))
	}
	return lines
}
