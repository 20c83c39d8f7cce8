package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/tarjama/tarjama/prompts"
)

// row is the work on one article: its result so far and where its replies
// came from.
type row struct {
	res *Result
	// live and cached count the replies used, sent for or found in the
	// store.
	live, cached int
}

// process makes the requests of one article, translation first, then the
// key points from the translation, and turns the outcome into its Result.
// fromStore reports that every reply came from the store (or that the
// row's earlier failure was kept), so the row cost nothing.
func (r *runner) process(a Article, base Result) (res Result, fromStore bool) {
	log := r.opts.Logger.With("article_id", a.ID)
	w := &row{res: &base}
	if prev, ok := r.keptFailure(base); ok {
		return prev, true
	}
	defer func() {
		fromStore = w.live == 0 && w.cached > 0
		r.record(res)
	}()
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
		tr, err := ask(r, w, Request{
			ArticleID: a.ID,
			Step:      StepTranslate,
			Model:     r.opts.Model,
			MaxTokens: translateMaxTokens(in),
		}, func() ([]prompts.Message, error) {
			return r.opts.Prompts.Translate(in)
		}, checkTranslation)
		if err != nil {
			if len(chunks) > 1 {
				err.msg = fmt.Sprintf("chunk %d of %d: %s", i+1, len(chunks), err.msg)
			}
			log.Warn("row failed", "step", StepTranslate, "err", err.msg)
			return fail(base, err.reason, err.msg), false
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
	kp, err := ask(r, w, Request{
		ArticleID: a.ID,
		Step:      StepKeyPoints,
		Model:     r.opts.SummaryModel,
		Schema:    &prompts.KeyPointsSchema,
		MaxTokens: keyPointsMaxTokens(want),
	}, func() ([]prompts.Message, error) {
		return r.opts.Prompts.KeyPoints(prompts.KeyPointsInput{Title: title, Translation: translation, Count: want})
	}, func(reply string) ([]string, *rowError) { return checkKeyPoints(reply, want) })
	if err != nil {
		log.Warn("row failed", "step", StepKeyPoints, "err", err.msg)
		base.TitleEN, base.Translation = "", ""
		return fail(base, err.reason, err.msg), false
	}
	base.KeyPoints = kp
	base.Status = StatusOK
	return base, false
}

// The replies' token limits. They bound a runaway reply and are what a
// provider charges against a tokens-per-minute limit up front, so they are
// generous but not huge: an English translation takes about 0.9 times the
// tokens of its Arabic source (o200k_base), and EstimateTokens already errs
// high, so twice the estimate leaves a wide margin; a key point is one
// sentence.
func translateMaxTokens(in prompts.TranslateInput) int {
	return 2*EstimateTokens(in.Title+"\n"+in.Body) + 256
}

func keyPointsMaxTokens(points int) int { return 120*points + 200 }

// ask renders a request and answers it from the store, or sends it and
// checks the reply; a reply that fails its check (or is refused) is asked
// for again up to ReplyRetries times. A checked reply is stored before ask
// returns, so that nothing depends on a reply a crash could lose. ask adds
// the usage of every reply to the row and returns the checked value, or why
// the row fails.
func ask[T any](r *runner, w *row, req Request, render func() ([]prompts.Message, error),
	check func(string) (T, *rowError)) (T, *rowError) {
	var zero T
	msgs, err := render()
	if err != nil {
		return zero, &rowError{"prompt", fmt.Sprintf("render %s prompt: %v", req.Step, err)}
	}
	req.Messages = msgs
	key := RequestKey(req)
	if v, ok, bad := fromStore(r, w, req, key, check); bad != nil || ok {
		return v, bad
	}
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
		r.paid(req, reply)
		w.live++
		w.use(req, reply)
		switch reply.FinishReason {
		case "length":
			// Asking again would be cut at the same place.
			return zero, &rowError{"truncated", fmt.Sprintf("the %s reply was cut off by the token limit (finish_reason length)", req.Step)}
		case "content_filter":
			last = &rowError{"refused", fmt.Sprintf("the server's content filter stopped the %s reply", req.Step)}
			continue
		}
		v, bad := check(reply.Content)
		if bad != nil {
			last = bad
			continue
		}
		if s := r.opts.Store; s != nil {
			// Not cancelled with the run: a paid reply is kept.
			if err := s.PutReply(context.WithoutCancel(r.workCtx), key, req, reply); err != nil {
				r.stop(fmt.Errorf("keep a reply in the state file: %w", err))
				return zero, &rowError{"state", fmt.Sprintf("the %s reply could not be kept in the state file: %v", req.Step, err)}
			}
		}
		return v, nil
	}
	return zero, last
}

// fromStore answers req from the store when it holds a reply that still
// passes its check. ok reports that it did; bad that the store failed.
func fromStore[T any](r *runner, w *row, req Request, key string, check func(string) (T, *rowError)) (v T, ok bool, bad *rowError) {
	s := r.opts.Store
	if s == nil || r.opts.Force {
		return v, false, nil
	}
	reply, found, err := s.GetReply(r.workCtx, key)
	if err != nil {
		r.stop(fmt.Errorf("read the state file: %w", err))
		return v, false, &rowError{"state", fmt.Sprintf("the state file could not be read: %v", err)}
	}
	if !found {
		return v, false, nil
	}
	v, failed := check(reply.Content)
	if failed != nil { // checks changed since it was stored: ask again
		return v, false, nil
	}
	w.cached++
	w.use(req, reply)
	return v, true, nil
}

// use adds a reply to the row's usage and model.
func (w *row) use(req Request, reply Reply) {
	w.res.Usage = w.res.Usage.Add(reply.Usage)
	if w.res.Model == "" {
		w.res.Model = reply.Model
		if w.res.Model == "" {
			w.res.Model = req.Model
		}
	}
}

// paid counts a reply that was paid for in this run.
func (r *runner) paid(req Request, reply Reply) {
	c, ok := r.opts.Prices.Cost(req.Model, reply.Usage)
	r.mu.Lock()
	r.paidUsage = r.paidUsage.Add(reply.Usage)
	r.paidCost += c
	r.unpricedPay = r.unpricedPay || !ok
	r.mu.Unlock()
	if r.budget != nil {
		r.budget.spend(c)
	}
}

// keptFailure is the row's failure from an earlier run when failed rows are
// not to be retried (--retry-failed=false).
func (r *runner) keptFailure(base Result) (Result, bool) {
	s := r.opts.Store
	if s == nil || !r.opts.KeepFailed || r.opts.Force {
		return base, false
	}
	rec, ok, err := s.GetRow(r.workCtx, base.InputSHA256, base.PromptVersion)
	if err != nil || !ok || rec.Status != StatusFailed {
		return base, false
	}
	base.Status, base.Error = StatusFailed, rec.Error
	return base, true
}

// record keeps a failed row's outcome in the store, for --retry-failed,
// and clears it once the row is ok. An ok row with no failure on record is
// not written: its stored replies say it is done, and a write costs a
// commit. Rows not done (interrupted, stopped, over budget) are not
// outcomes.
func (r *runner) record(res Result) {
	s := r.opts.Store
	if s == nil || res.Status == StatusSkipped || !isOutcome(res.Error) {
		return
	}
	ctx := context.WithoutCancel(r.workCtx)
	if res.Status == StatusOK {
		prev, ok, err := s.GetRow(ctx, res.InputSHA256, res.PromptVersion)
		if err == nil && (!ok || prev.Status == StatusOK) {
			return
		}
	}
	err := s.PutRow(ctx, RowRecord{
		InputSHA256: res.InputSHA256, PromptVersion: res.PromptVersion,
		ID: res.ID, Status: res.Status, Error: res.Error,
	})
	if err != nil {
		r.opts.Logger.Error("keep the row's outcome in the state file", "article_id", res.ID, "err", err)
	}
}

// isOutcome reports whether a row's error is an outcome of its own
// requests, rather than work not done or a failure of the whole run (a
// rejected key, no quota) that says nothing of the row.
func isOutcome(rowErr string) bool {
	for _, notDone := range []string{"interrupted:", "budget:", "state:", "stopped:", "http_401:", "insufficient_quota:"} {
		if strings.HasPrefix(rowErr, notDone) {
			return false
		}
	}
	return true
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
