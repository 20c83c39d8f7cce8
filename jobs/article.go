package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/tarjama/tarjama/prompts"
)

// process makes the requests of one article, translation first, then the
// key points from the translation, and turns the outcome into its Result.
func (r *runner) process(a Article, base Result) Result {
	log := r.opts.Logger.With("article_id", a.ID)
	chunks := Split(a.Body, r.opts.MaxChunkTokens)
	if len(chunks) > 1 {
		log.Debug("article split", "chunks", len(chunks))
	}
	var title string
	var body strings.Builder
	for i, ch := range chunks {
		// The title goes with the first chunk; the others come untitled.
		in := prompts.TranslateInput{Body: ch.Text}
		if i == 0 {
			in.Title = a.Title
		}
		tr, err := ask(r, Request{
			ArticleID: a.ID,
			Step:      StepTranslate,
			Model:     r.opts.Model,
		}, func() ([]prompts.Message, error) {
			return r.opts.Prompts.Translate(in)
		}, checkTranslation, &base)
		if err != nil {
			if len(chunks) > 1 {
				err.msg = fmt.Sprintf("chunk %d of %d: %s", i+1, len(chunks), err.msg)
			}
			log.Warn("row failed", "step", StepTranslate, "err", err.msg)
			return fail(base, err.reason, err.msg)
		}
		if i == 0 {
			title = tr.title
		}
		body.WriteString(tr.body)
		body.WriteString(ch.Sep)
	}
	base.TitleEN, base.Translation = title, body.String()
	translation := base.Translation

	want := r.opts.KeyPoints
	kp, err := ask(r, Request{
		ArticleID: a.ID,
		Step:      StepKeyPoints,
		Model:     r.opts.SummaryModel,
		Schema:    &prompts.KeyPointsSchema,
	}, func() ([]prompts.Message, error) {
		return r.opts.Prompts.KeyPoints(prompts.KeyPointsInput{Title: title, Translation: translation, Count: want})
	}, func(reply string) ([]string, *rowError) { return checkKeyPoints(reply, want) }, &base)
	if err != nil {
		log.Warn("row failed", "step", StepKeyPoints, "err", err.msg)
		base.TitleEN, base.Translation = "", ""
		return fail(base, err.reason, err.msg)
	}
	base.KeyPoints = kp
	base.Status = StatusOK
	return base
}

// ask renders a request, sends it, and checks the reply; a reply that fails
// its check (or is refused) is asked for again up to ReplyRetries times. It
// adds the usage of every reply to res and returns the checked value, or why
// the row fails.
func ask[T any](r *runner, req Request, render func() ([]prompts.Message, error),
	check func(string) (T, *rowError), res *Result) (T, *rowError) {
	var zero T
	msgs, err := render()
	if err != nil {
		return zero, &rowError{"prompt", fmt.Sprintf("render %s prompt: %v", req.Step, err)}
	}
	req.Messages = msgs
	var last *rowError
	for try := 0; try <= r.opts.ReplyRetries; try++ {
		if try > 0 {
			r.countRetry()
		}
		reply, err := r.c.Complete(r.workCtx, req)
		if err != nil {
			return zero, r.callFailed(req, err)
		}
		r.count(reply.Attempts)
		r.reached.Store(true)
		res.Usage = res.Usage.Add(reply.Usage)
		if r.budget != nil {
			c, _ := EstimatedCost(req.Model, reply.Usage)
			r.budget.spend(c)
		}
		if res.Model == "" {
			res.Model = reply.Model
			if res.Model == "" {
				res.Model = req.Model
			}
		}
		switch reply.FinishReason {
		case "length":
			// Asking again would be cut at the same place.
			return zero, &rowError{"truncated", fmt.Sprintf("the %s reply was cut off by the token limit (finish_reason length)", req.Step)}
		case "content_filter":
			last = &rowError{"refused", fmt.Sprintf("the server's content filter stopped the %s reply", req.Step)}
			continue
		}
		v, bad := check(reply.Content)
		if bad == nil {
			return v, nil
		}
		last = bad
	}
	return zero, last
}

// callFailed turns a request's final error into the row's reason, and stops
// the run when the error says no other request can succeed.
func (r *runner) callFailed(req Request, err error) *rowError {
	var ce *CallError
	if errors.As(err, &ce) {
		r.count(ce.Attempts)
		if ce.Fatal {
			r.stop(ce)
		} else if ce.Reason == "connection" && !r.reached.Load() {
			// No reply has come yet and the endpoint cannot be reached:
			// no other request will do better.
			r.stop(fmt.Errorf("cannot reach the API endpoint: %w", ce))
		}
		return &rowError{ce.Reason, fmt.Sprintf("%s request: %s", req.Step, callMessage(ce))}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &rowError{"interrupted", fmt.Sprintf("%s request cancelled: the run was interrupted; run tarjama again to finish this row", req.Step)}
	}
	return &rowError{"error", fmt.Sprintf("%s request: %v", req.Step, err)}
}

func callMessage(ce *CallError) string {
	if ce.Status != 0 {
		return fmt.Sprintf("HTTP %d: %s", ce.Status, ce.Message)
	}
	return ce.Message
}

// translation is a checked translation reply.
type translation struct{ title, body string }

// checkTranslation parses a translation reply and checks it is English.
func checkTranslation(reply string) (translation, *rowError) {
	title, body, err := prompts.ParseTranslation(reply)
	if err != nil {
		return translation{}, &rowError{"invalid_translation", fmt.Sprintf("the reply is not in the asked form: %v", err)}
	}
	if !looksEnglish(body) || (title != "" && !looksEnglish(title)) {
		return translation{}, &rowError{"not_english", "the translation is not in English: " + excerpt(body)}
	}
	return translation{title, body}, nil
}

// checkKeyPoints parses a key-points reply and checks the count and the
// language of every point.
func checkKeyPoints(reply string, want int) ([]string, *rowError) {
	points, err := prompts.ParseKeyPoints(reply)
	if err != nil {
		return nil, &rowError{"invalid_summary", fmt.Sprintf("the key points are not the asked JSON: %v", err)}
	}
	if len(points) != want {
		return nil, &rowError{"invalid_summary", fmt.Sprintf("%d key points, want %d", len(points), want)}
	}
	for i, p := range points {
		if !looksEnglish(p) {
			return nil, &rowError{"not_english", fmt.Sprintf("key point %d is not in English: %s", i+1, excerpt(p))}
		}
	}
	return points, nil
}

// excerpt shortens s for an error message.
func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	const max = 80
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "…"
	}
	return s
}

func isBlank(s string) bool {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
	}) == ""
}
