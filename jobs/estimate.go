package jobs

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/tarjama/tarjama/prompts"
)

// TokenCounter counts tokens offline (internal/tokens implements it).
type TokenCounter interface {
	// Messages counts a request's prompt tokens as the provider bills them.
	Messages(model string, msgs []prompts.Message) int
	// Text counts the tokens of s.
	Text(model, s string) int
}

// Limits are the client-side rate limits a run would keep to; 0 = unset.
type Limits struct {
	RPM, TPM int
}

// Plan is what a run would do, worked out offline: no request is made.
type Plan struct {
	Rows int `json:"rows"`
	// Articles are the rows that need requests: not skipped and not a
	// repeat of an earlier row.
	Articles   int `json:"articles"`
	Skipped    int `json:"skipped"`
	Duplicates int `json:"duplicates"`
	// Cached articles have every request in the state file; New ones have
	// at least one to pay for.
	Cached int `json:"cached"`
	New    int `json:"new"`
	// Requests, PromptTokens and CompletionTokens are what the new
	// articles would send and get back (completions are estimated).
	Requests         int `json:"requests"`
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	// Minutes is the time the requests take at the limits, or 0 when no
	// limit is set (the server's pace decides).
	Minutes float64 `json:"minutes"`
	Limits  struct {
		RPM int `json:"rpm"`
		TPM int `json:"tpm"`
	} `json:"limits"`
	// Cost is the estimated cost in US dollars at the price table, when
	// the models' prices are known.
	Cost      float64 `json:"cost_usd"`
	CostKnown bool    `json:"cost_known"`
	Model     string  `json:"model"`
	Summary   string  `json:"summary_model"`
	// Chunks counts the translation requests of articles split by
	// --max-chunk-tokens.
	Chunks int `json:"chunks"`
}

// englishPerArabic is the tokens of an English translation per token of its
// Arabic source (o200k_base: 532 for 620 on a 366-word article).
const englishPerArabic = 0.86

// tokensPerKeyPoint is the expected length of one key point.
const tokensPerKeyPoint = 40

// Estimate works out the plan of a run over opts' input without any request:
// the input is checked and read as Run would, every translation request is
// rendered and counted, the key-points requests are estimated from the
// expected length of the translation, and the state file (opts.Store or
// opts.OpenStore) says which requests are already paid for.
func Estimate(ctx context.Context, opts Options, tc TokenCounter, prices Prices, lim Limits) (Plan, error) {
	opts.setDefaults()
	p := Plan{Model: opts.Model, Summary: opts.SummaryModel}
	p.Limits.RPM, p.Limits.TPM = lim.RPM, lim.TPM
	if opts.Prompts == nil {
		return p, fmt.Errorf("estimate: no prompt templates")
	}
	in, err := openPath(opts.Path)
	if err != nil {
		return p, err
	}
	info, err := CheckInput(ctx, opts.Name, in, opts.InputOptions)
	in.Close()
	if err != nil {
		return p, err
	}
	if opts.Store == nil && opts.OpenStore != nil {
		if opts.Store, err = opts.OpenStore(ctx); err != nil {
			return p, err
		}
	}
	in, err = openPath(opts.Path)
	if err != nil {
		return p, err
	}
	defer in.Close()
	var cost, unknown float64
	err = ReadInput(ctx, opts.Name, in, opts.InputOptions, func(a Article) error {
		p.Rows++
		if _, ok := info.SameAs(a.Row); ok {
			p.Duplicates++
			return nil
		}
		if _, skip := skipReason(a, Result{}); skip {
			p.Skipped++
			return nil
		}
		p.Articles++
		ap, err := planArticle(ctx, opts, tc, a)
		if err != nil {
			return err
		}
		if ap.requests == 0 {
			p.Cached++
			return nil
		}
		p.New++
		p.Requests += ap.requests
		p.Chunks += ap.chunks
		for _, r := range ap.reqs {
			p.PromptTokens += r.usage.PromptTokens
			p.CompletionTokens += r.usage.CompletionTokens
			if c, ok := prices.Cost(r.model, r.usage); ok {
				cost += c
			} else {
				unknown++
			}
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	p.Cost, p.CostKnown = cost, unknown == 0
	p.Minutes = lim.minutes(p.Requests, p.PromptTokens+p.CompletionTokens)
	return p, nil
}

// minutes is the time n requests of tokens take at the limits.
func (l Limits) minutes(n, tokens int) float64 {
	var m float64
	if l.RPM > 0 {
		m = float64(n) / float64(l.RPM)
	}
	if l.TPM > 0 {
		m = math.Max(m, float64(tokens)/float64(l.TPM))
	}
	return m
}

type plannedRequest struct {
	model string
	usage Usage
}

type articlePlan struct {
	requests, chunks int
	reqs             []plannedRequest
}

// planArticle counts the requests one article still needs.
func planArticle(ctx context.Context, opts Options, tc TokenCounter, a Article) (articlePlan, error) {
	var ap articlePlan
	chunks := Split(a.Body, opts.MaxChunkTokens)
	if len(chunks) > 1 {
		ap.chunks = len(chunks)
	}
	translationTokens := 0
	var title string
	var translation []string // the stored translations of the chunks
	for i, ch := range chunks {
		in := prompts.TranslateInput{Body: ch.Text}
		if i == 0 {
			in.Title = a.Title
		}
		msgs, err := opts.Prompts.Translate(in)
		if err != nil {
			return ap, fmt.Errorf("render translate prompt for %s: %w", a.ID, err)
		}
		req := Request{Step: StepTranslate, Model: opts.Model, Messages: msgs, MaxTokens: translateMaxTokens(in)}
		out := int(math.Ceil(englishPerArabic * float64(tc.Text(opts.Model, in.Title+"\n"+in.Body))))
		translationTokens += out
		reply, ok, err := lookup(ctx, opts, req)
		if err != nil {
			return ap, err
		}
		if ok {
			if t, body, perr := prompts.ParseTranslation(reply.Content); perr == nil {
				if i == 0 {
					title = t
				}
				translation = append(translation, body+ch.Sep)
				continue
			}
		}
		ap.requests++
		ap.reqs = append(ap.reqs, plannedRequest{opts.Model, Usage{tc.Messages(opts.Model, msgs), out}})
	}
	// The key points. When every chunk's translation is stored, the request
	// is rendered exactly and looked up; otherwise its prompt is the
	// template with a translation of the expected length.
	in := prompts.KeyPointsInput{Title: a.Title, Count: opts.KeyPoints}
	extra := translationTokens
	if len(translation) == len(chunks) {
		in = prompts.KeyPointsInput{Title: title, Translation: strings.Join(translation, ""), Count: opts.KeyPoints}
		extra = 0
	}
	msgs, err := opts.Prompts.KeyPoints(in)
	if err != nil {
		return ap, fmt.Errorf("render key_points prompt for %s: %w", a.ID, err)
	}
	if extra == 0 {
		req := Request{Step: StepKeyPoints, Model: opts.SummaryModel, Messages: msgs, Schema: &prompts.KeyPointsSchema, MaxTokens: keyPointsMaxTokens(opts.KeyPoints)}
		if _, ok, err := lookup(ctx, opts, req); err != nil || ok {
			return ap, err
		}
	}
	ap.requests++
	ap.reqs = append(ap.reqs, plannedRequest{opts.SummaryModel, Usage{tc.Messages(opts.SummaryModel, msgs) + extra, tokensPerKeyPoint * opts.KeyPoints}})
	return ap, nil
}

// lookup finds req in the store, unless there is none or --force.
func lookup(ctx context.Context, opts Options, req Request) (Reply, bool, error) {
	if opts.Store == nil || opts.Force {
		return Reply{}, false, nil
	}
	return opts.Store.GetReply(ctx, RequestKey(req))
}
