package jobs

import (
	"fmt"
	"sync"
)

// budget is the --max-cost fuse: a row starts only when the cost so far,
// the estimated cost of the rows in flight and its own estimate stay within
// max. Costs are list prices (see EstimatedCost) applied to the usage the
// server reports.
type budget struct {
	max    float64
	prices Prices

	mu       sync.Mutex
	spent    float64         // every reply so far
	reserved map[int]float64 // estimates of the rows in flight
	rowsDone int             // rows finished with at least one reply
	rowCost  float64         // their cost, for the average
	blown    bool
}

func newBudget(max float64, prices Prices) *budget {
	return &budget{max: max, prices: prices, reserved: map[int]float64{}}
}

// Per-article estimate, before any row has finished to give an average:
// the templates add about templateTokens to each prompt, an article costs
// about one token per bytesPerToken of UTF-8 (Arabic letters are two bytes;
// o200k_base spends about 1.7 tokens per Arabic word), and its English
// translation about as many tokens again. On the fixtures this
// overestimates, which is the safe side for a fuse.
const (
	templateTokens  = 700
	bytesPerToken   = 4
	keyPointsTokens = 250
)

// estimate is the expected cost of one article.
func (b *budget) estimate(a Article, model, summaryModel string) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rowsDone > 0 {
		return b.rowCost / float64(b.rowsDone)
	}
	n := (len(a.Title) + len(a.Body)) / bytesPerToken
	tr, _ := b.prices.Cost(model, Usage{PromptTokens: templateTokens + n, CompletionTokens: n})
	kp, _ := b.prices.Cost(summaryModel, Usage{PromptTokens: templateTokens + n, CompletionTokens: keyPointsTokens})
	return tr + kp
}

// reserve books est for row, or reports that the budget would be passed;
// from then on every reserve fails.
func (b *budget) reserve(row int, est float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.blown {
		return false
	}
	total := b.spent + est
	for _, r := range b.reserved {
		total += r
	}
	if total > b.max {
		b.blown = true
		return false
	}
	b.reserved[row] = est
	return true
}

// spend adds the cost of one reply.
func (b *budget) spend(cost float64) {
	b.mu.Lock()
	b.spent += cost
	b.mu.Unlock()
}

// done releases row's reservation; cost is what the row spent.
func (b *budget) done(row int, cost float64) {
	b.mu.Lock()
	delete(b.reserved, row)
	if cost > 0 {
		b.rowsDone++
		b.rowCost += cost
	}
	b.mu.Unlock()
}

func (b *budget) reason() *rowError {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &rowError{reason: "budget", msg: fmt.Sprintf("not done: the next rows would pass --max-cost $%.4f (spent $%.4f so far); run again with a higher --max-cost to finish", b.max, b.spent)}
}

// Spent is the cost so far.
func (b *budget) Spent() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// cost is a row's cost at the translation model's price: near enough for
// the average that estimates the rows to come.
func (r *runner) cost(u Usage, model string) float64 {
	if model == "" {
		model = r.opts.Model
	}
	c, ok := r.opts.Prices.Cost(model, u)
	if !ok {
		c, _ = r.opts.Prices.Cost(r.opts.Model, u)
	}
	return c
}
