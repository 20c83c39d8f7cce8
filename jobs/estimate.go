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
		pa := prepare(a, &opts)
		if _, skip := skipReason(pa, Result{}); skip {
			p.Skipped++
			return nil
		}
		p.Articles++
		ap, err := planArticle(ctx, opts, tc, pa)
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

// planArticle counts the requests one article still needs. A request whose
// input is known (every translation; key points once the translations they
// need are stored) is rendered, counted and looked up in the store; the
// others are estimated from the expected length of the translation.
func planArticle(ctx context.Context, opts Options, tc TokenCounter, p prepared) (articlePlan, error) {
	var ap articlePlan
	if len(p.parts) > 1 {
		ap.chunks = len(p.parts)
	}
	add := func(model string, msgs []prompts.Message, extraPrompt, completion int) {
		ap.requests++
		ap.reqs = append(ap.reqs, plannedRequest{model, Usage{tc.Messages(model, msgs) + extraPrompt, completion}})
	}
	var title string
	// stored[i] is part i's stored translation; outTokens[i] its
	// expected tokens when it is not stored.
	stored := make([]string, len(p.parts))
	known := 0
	outTokens := make([]int, len(p.parts))
	for i, in := range p.parts {
		msgs, err := opts.Prompts.Translate(in)
		if err != nil {
			return ap, fmt.Errorf("render translate prompt for %s: %w", p.art.ID, err)
		}
		req := Request{Step: StepTranslate, Model: opts.Model, Messages: msgs, MaxTokens: translateMaxTokens(in)}
		outTokens[i] = int(math.Ceil(englishPerArabic * float64(tc.Text(opts.Model, in.Title+"\n"+in.Body))))
		reply, ok, err := lookup(ctx, opts, req)
		if err != nil {
			return ap, err
		}
		if ok && reply.FinishReason != "length" {
			if t, body, perr := prompts.ParseTranslation(reply.Content); perr == nil {
				if i == 0 {
					title = t
				}
				stored[i] = body
				known++
				outTokens[i] = 0
				continue
			}
		}
		add(opts.Model, msgs, 0, outTokens[i])
	}
	allKnown := known == len(p.parts)
	kpReq := func(step Step, msgs []prompts.Message) Request {
		return Request{Step: step, Model: opts.SummaryModel, Messages: msgs, Schema: &prompts.KeyPointsSchema, MaxTokens: keyPointsMaxTokens(opts.KeyPoints)}
	}
	// plan adds a key-points request, rendered from in when its input is
	// known (and then only when it is not stored), else estimated with
	// extra prompt tokens for the unknown translation.
	plan := func(step Step, msgs []prompts.Message, known bool, extra int) error {
		if known {
			if _, ok, err := lookup(ctx, opts, kpReq(step, msgs)); err != nil || ok {
				return err
			}
		}
		add(opts.SummaryModel, msgs, extra, tokensPerKeyPoint*opts.KeyPoints)
		return nil
	}
	if !p.viaNotes {
		in := prompts.KeyPointsInput{Title: p.art.Title, Count: opts.KeyPoints}
		if allKnown {
			var b strings.Builder
			for i, t := range stored {
				b.WriteString(t)
				b.WriteString(p.seps[i])
			}
			in = prompts.KeyPointsInput{Title: title, Translation: b.String(), Count: opts.KeyPoints}
		}
		msgs, err := opts.Prompts.KeyPoints(in)
		if err != nil {
			return ap, fmt.Errorf("render key_points prompt for %s: %w", p.art.ID, err)
		}
		return ap, plan(StepKeyPoints, msgs, allKnown, sum(outTokens))
	}
	// Notes on each part, then the reduce step, which is looked up only
	// when every note is stored (its input is then known).
	n := len(p.parts)
	var notes []string
	notesKnown := allKnown
	for i := range p.parts {
		in := prompts.KeyPointsInput{Title: title, Translation: stored[i], Count: opts.KeyPoints, Part: i + 1, Parts: n}
		if !allKnown {
			in.Title = p.art.Title
		}
		msgs, err := opts.Prompts.KeyPoints(in)
		if err != nil {
			return ap, fmt.Errorf("render key_points prompt for %s: %w", p.art.ID, err)
		}
		if allKnown {
			reply, ok, err := lookup(ctx, opts, kpReq(StepNotes, msgs))
			if err != nil {
				return ap, err
			}
			if ok {
				if pts, perr := prompts.ParseKeyPoints(reply.Content); perr == nil {
					notes = append(notes, pts...)
					continue
				}
			}
		}
		notesKnown = false
		add(opts.SummaryModel, msgs, outTokens[i], tokensPerKeyPoint*opts.KeyPoints)
	}
	in := prompts.ReduceInput{Title: p.art.Title, Count: opts.KeyPoints}
	if notesKnown {
		in = prompts.ReduceInput{Title: title, Notes: strings.Join(notes, "\n"), Count: opts.KeyPoints}
	}
	msgs, err := opts.Prompts.Reduce(in)
	if err != nil {
		return ap, fmt.Errorf("render reduce prompt for %s: %w", p.art.ID, err)
	}
	extra := 0
	if !notesKnown {
		extra = n * opts.KeyPoints * tokensPerKeyPoint
	}
	return ap, plan(StepReduce, msgs, notesKnown, extra)
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// lookup finds req in the store, unless there is none or --force.
func lookup(ctx context.Context, opts Options, req Request) (Reply, bool, error) {
	if opts.Store == nil || opts.Force {
		return Reply{}, false, nil
	}
	return opts.Store.GetReply(ctx, RequestKey(req))
}
