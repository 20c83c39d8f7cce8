package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/tarjama/tarjama/glossary"
	"github.com/tarjama/tarjama/prompts"
)

// row is the work on one article: its result so far and where its replies
// came from. The parts of a long article are asked for concurrently, so it
// is guarded by mu.
type row struct {
	mu  sync.Mutex
	res *Result
	// live and cached count the replies used, sent for or found in the
	// store.
	live, cached int
}

// process makes the requests of one article, translation first (the parts
// of a long article concurrently), then the key points from the
// translation, and turns the outcome into its Result. fromStore reports
// that every reply came from the store (or that the row's earlier failure
// was kept), so the row cost nothing.
func (r *runner) process(p prepared, base Result) (res Result, fromStore bool) {
	a := p.art
	log := r.opts.Logger.With("article_id", a.ID)
	w := &row{res: &base}
	if prev, ok := r.keptFailure(base); ok {
		return prev, true
	}
	defer func() {
		fromStore = w.live == 0 && w.cached > 0
		r.keepOriginal(p, base, w)
		r.record(res)
	}()
	if len(p.parts) > 1 {
		log.Debug("article split", "parts", len(p.parts), "via_notes", p.viaNotes)
	}
	title, parts, err := r.translate(w, p)
	if err != nil {
		logFailure(log, StepTranslate, err)
		return fail(base, err.reason, err.msg), false
	}
	var body strings.Builder
	for i, t := range parts {
		body.WriteString(t)
		body.WriteString(p.seps[i])
	}
	translation := body.String()
	r.checkGlossary(log, p, title+"\n"+translation)

	kp, err := r.keyPoints(w, p, title, translation, parts)
	if err != nil {
		logFailure(log, StepKeyPoints, err)
		return fail(base, err.reason, err.msg), false
	}
	base.TitleEN, base.Translation = title, translation
	base.KeyPoints = kp
	base.Status = StatusOK
	return base, false
}

// logFailure logs a failed row: its reason at warn level, and the message,
// which may quote article text (an excerpt of a reply not in English), at
// debug level only. The outputs have the whole message.
func logFailure(log *slog.Logger, step Step, err *rowError) {
	log.Warn("row failed", "step", step, "reason", err.reason)
	log.Debug("row failed: details", "step", step, "reason", err.reason, "err", err.msg)
}

// translate translates the parts of an article, concurrently, and returns
// the title and each part's translation.
func (r *runner) translate(w *row, p prepared) (title string, parts []string, _ *rowError) {
	n := len(p.parts)
	outs := make([]translation, n)
	errs := make([]*rowError, n)
	each(n, func(i int) { outs[i], errs[i] = r.translatePart(w, p.art.ID, p.parts[i]) })
	for i, err := range errs {
		if err != nil {
			if n > 1 {
				err.msg = fmt.Sprintf("chunk %d of %d: %s", i+1, n, err.msg)
			}
			return "", nil, err
		}
	}
	parts = make([]string, n)
	for i, t := range outs {
		parts[i] = t.body
	}
	return outs[0].title, parts, nil
}

// each calls fn(0) ... fn(n-1), concurrently when n > 1, and waits.
func each(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

// translatePart translates one part. A reply cut off by the token limit,
// or a request too large for the model, is never taken: the part is split
// smaller and its pieces translated in order, each with the end of the one
// before as context. The part fails only when it cannot be split further.
func (r *runner) translatePart(w *row, id string, in prompts.TranslateInput) (translation, *rowError) {
	tr, err := ask(r, w, Request{
		ArticleID: id,
		Step:      StepTranslate,
		Part:      in.Part,
		Model:     r.opts.Model,
		MaxTokens: translateMaxTokens(in),
	}, func() ([]prompts.Message, error) {
		return r.opts.Prompts.Translate(in)
	}, checkTranslation(in.Body))
	if err == nil || !err.split {
		return tr, err
	}
	pieces := Split(in.Body, EstimateTokens(in.Body)/2)
	if len(pieces) < 2 {
		err.msg += "; the text cannot be split further"
		return tr, err
	}
	r.opts.Logger.Debug("splitting a part smaller", "article_id", id, "pieces", len(pieces), "why", err.reason)
	var out translation
	var body strings.Builder
	for j, piece := range pieces {
		sub := in
		sub.Body = piece.Text
		if j > 0 {
			sub.Title, sub.Context = "", contextOf(pieces[j-1].Text)
		}
		sub.Terms = r.opts.terms(sub.Title + "\n" + sub.Body)
		t, err := r.translatePart(w, id, sub)
		if err != nil {
			return translation{}, err
		}
		if j == 0 {
			out.title = t.title
		}
		body.WriteString(t.body)
		body.WriteString(piece.Sep)
	}
	out.body = body.String()
	return out, nil
}

// keyPoints asks for the key points of the whole translation; for an
// article too long for that, for notes on each part and then for the key
// points of the notes.
func (r *runner) keyPoints(w *row, p prepared, title, translation string, parts []string) ([]string, *rowError) {
	want := r.opts.KeyPoints
	check := func(reply string) ([]string, *rowError) { return checkKeyPoints(reply, want) }
	req := func(step Step) Request {
		return Request{
			ArticleID: p.art.ID,
			Step:      step,
			Model:     r.opts.SummaryModel,
			Schema:    &prompts.KeyPointsSchema,
			MaxTokens: keyPointsMaxTokens(want),
		}
	}
	if !p.viaNotes {
		return ask(r, w, req(StepKeyPoints), func() ([]prompts.Message, error) {
			return r.opts.Prompts.KeyPoints(prompts.KeyPointsInput{Title: title, Translation: translation, Count: want})
		}, check)
	}
	n := len(parts)
	notes := make([][]string, n)
	errs := make([]*rowError, n)
	each(n, func(i int) {
		in := prompts.KeyPointsInput{Title: title, Translation: parts[i], Count: want, Part: i + 1, Parts: n}
		rq := req(StepNotes)
		rq.Part = i + 1
		notes[i], errs[i] = ask(r, w, rq, func() ([]prompts.Message, error) {
			return r.opts.Prompts.KeyPoints(in)
		}, check)
	})
	var lines []string
	for i, err := range errs {
		if err != nil {
			err.msg = fmt.Sprintf("notes on chunk %d of %d: %s", i+1, n, err.msg)
			return nil, err
		}
		lines = append(lines, notes[i]...)
	}
	return ask(r, w, req(StepReduce), func() ([]prompts.Message, error) {
		return r.opts.Prompts.Reduce(prompts.ReduceInput{Title: title, Notes: strings.Join(lines, "\n"), Count: want})
	}, check)
}

// checkGlossary counts the glossary entries of the article that its
// translation does not use.
func (r *runner) checkGlossary(log *slog.Logger, p prepared, english string) {
	if len(p.terms) == 0 {
		return
	}
	missing := glossary.Missing(p.terms, english)
	r.mu.Lock()
	r.glossaryTerms += len(p.terms)
	r.glossaryMisses += len(missing)
	r.mu.Unlock()
	if len(missing) > 0 {
		forms := make([]string, len(missing))
		for i, e := range missing {
			forms[i] = e.English
		}
		log.Warn("translation misses glossary entries", "missing", strings.Join(forms, "; "))
	}
}

// keepOriginal keeps in the store the input text of an article that the
// clean-up changed, once a request has been sent with the cleaned text.
func (r *runner) keepOriginal(p prepared, base Result, w *row) {
	s := r.opts.Store
	if s == nil || w.live == 0 || p.cleaned.Total() == 0 {
		return
	}
	err := s.PutOriginal(context.WithoutCancel(r.workCtx), Original{
		InputSHA256: base.InputSHA256, ID: base.ID,
		Title: p.original.Title, Body: p.original.Body,
		Removed: p.cleaned.Total(),
	})
	if err != nil {
		r.opts.Logger.Error("keep the article's original text in the state file", "article_id", base.ID, "err", err)
	}
}

// The replies' token limits. They bound a runaway reply and are what a
// provider charges against a tokens-per-minute limit up front, so they are
// generous but not huge: an English translation takes about 0.9 times the
// tokens of its Arabic source (o200k_base), and EstimateTokens already errs
// high, so twice the estimate leaves a wide margin; a key point is one
// sentence.
func translateMaxTokens(in prompts.TranslateInput) int {
	// EstimateTokens(in.Title + "\n" + in.Body), without building it.
	runes := utf8.RuneCountInString(in.Title) + 1 + utf8.RuneCountInString(in.Body)
	return 2*((runes+runesPerToken-1)/runesPerToken) + 256
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
		return zero, &rowError{reason: "prompt", msg: fmt.Sprintf("render %s prompt: %v", req.Step, err)}
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
		reply, err := r.complete(req)
		if err != nil {
			return zero, r.callFailed(req, err)
		}
		r.count(reply.Attempts)
		r.reached.Store(true)
		r.paid(req, reply)
		w.use(req, reply, true)
		switch reply.FinishReason {
		case "length":
			// Asking again would be cut at the same place. The reply is
			// kept, so that a rerun splits at once instead of paying for
			// it again.
			if bad := r.keep(key, req, reply); bad != nil {
				return zero, bad
			}
			return zero, cutOff(req, reply)
		case "content_filter":
			last = &rowError{reason: "refused", msg: fmt.Sprintf("the server's content filter stopped the %s reply", req.Step)}
			continue
		}
		v, bad := check(reply.Content)
		if bad != nil {
			last = bad
			continue
		}
		if bad := r.keep(key, req, reply); bad != nil {
			return zero, bad
		}
		return v, nil
	}
	return zero, last
}

// complete sends req when fewer than Concurrency requests are in flight:
// the parts of long articles share the bound with whole articles.
func (r *runner) complete(req Request) (Reply, error) {
	select {
	case r.inflight <- struct{}{}:
	case <-r.workCtx.Done():
		return Reply{}, r.workCtx.Err()
	}
	defer func() { <-r.inflight }()
	return r.c.Complete(r.workCtx, req)
}

// keep stores a paid reply, not cancelled with the run: it was paid for.
func (r *runner) keep(key string, req Request, reply Reply) *rowError {
	s := r.opts.Store
	if s == nil {
		return nil
	}
	if err := s.PutReply(context.WithoutCancel(r.workCtx), key, req, reply); err != nil {
		r.stop(fmt.Errorf("keep a reply in the state file: %w", err))
		return &rowError{reason: "state", msg: fmt.Sprintf("the %s reply could not be kept in the state file: %v", req.Step, err)}
	}
	return nil
}

// cutOff is the error of a reply cut off by the token limit: the caller
// splits the text smaller when it can. Not when most of the completion
// tokens the reply used are not in its text: a reasoning model that spent
// its budget on reasoning would spend the smaller budget of each piece the
// same way, and the split would go on down to single words.
func cutOff(req Request, reply Reply) *rowError {
	e := &rowError{reason: "truncated", split: true,
		msg: fmt.Sprintf("the %s reply was cut off by the token limit (finish_reason length)", req.Step)}
	used := reply.Usage.CompletionTokens
	if shown := len(reply.Content) / 4; used > 0 && shown < used/2 {
		e.split = false
		e.msg = fmt.Sprintf("the %s reply was cut off by the token limit (finish_reason length) with %d completion tokens used and only about %d of them in its text: "+
			"the model spends its budget on reasoning, so splitting the text would not help; raise --reasoning-tokens or use a model that does not reason", req.Step, used, shown)
	}
	return e
}

// fromStore answers req from the store when it holds a reply that still
// passes its check. ok reports that it did; bad that the store failed.
func fromStore[T any](r *runner, w *row, req Request, key string, check func(string) (T, *rowError)) (v T, ok bool, bad *rowError) {
	s := r.opts.Store
	if s == nil || r.opts.Force {
		return v, false, nil
	}
	reply, found, err := s.GetReply(r.workCtx, key)
	if err != nil && r.workCtx.Err() != nil {
		// The run was cut short while reading: the row is not done.
		return v, false, &rowError{reason: "interrupted", msg: fmt.Sprintf("%s: not done: the run was interrupted; run tarjama again to finish this row", req.Step)}
	}
	if err != nil {
		r.stop(fmt.Errorf("read the state file: %w", err))
		return v, false, &rowError{reason: "state", msg: fmt.Sprintf("the state file could not be read: %v", err)}
	}
	if !found {
		return v, false, nil
	}
	if reply.FinishReason == "length" {
		// Kept so that a rerun splits at once.
		w.use(req, reply, false)
		return v, false, cutOff(req, reply)
	}
	v, failed := check(reply.Content)
	if failed != nil { // checks changed since it was stored: ask again
		return v, false, nil
	}
	w.use(req, reply, false)
	return v, true, nil
}

// use adds a reply, sent for (live) or found in the store, to the row's
// usage and model.
func (w *row) use(req Request, reply Reply, live bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if live {
		w.live++
	} else {
		w.cached++
	}
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
	r.opts.Progress.paid(reply.Usage, c)
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
	for _, notDone := range []string{"interrupted:", "budget:", "state:", "stopped:", "http_401:", "insufficient_quota:", ReasonPending + ":"} {
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
		return &rowError{reason: ce.Reason, msg: fmt.Sprintf("%s request: %s", req.Step, callMessage(ce)), split: tooLarge(ce)}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &rowError{reason: "interrupted", msg: fmt.Sprintf("%s request cancelled: the run was interrupted; run tarjama again to finish this row", req.Step)}
	}
	return &rowError{reason: "error", msg: fmt.Sprintf("%s request: %v", req.Step, err)}
}

// tooLarge reports a request refused for being longer than the model's
// context window: its text is split smaller, as for a reply cut off.
func tooLarge(ce *CallError) bool {
	if ce.Status != 400 {
		return false
	}
	m := strings.ToLower(ce.Message)
	return strings.Contains(m, "context_length_exceeded") || strings.Contains(m, "maximum context length") ||
		strings.Contains(m, "context window")
}

func callMessage(ce *CallError) string {
	if ce.Status != 0 {
		return fmt.Sprintf("HTTP %d: %s", ce.Status, ce.Message)
	}
	return ce.Message
}

// translation is a checked translation reply.
type translation struct{ title, body string }

// A translation under minTranslationRatio times its source's length (in
// characters) has left text out or summarised. Faithful English
// translations of the fixture articles run from 1.06 to 1.36 times the
// Arabic (median 1.24; paragraphs of 80 characters or more from 0.85):
// testdata/reference. Sources under minRatioSource characters are not
// checked: a short line of figures or names can translate much shorter.
const (
	minTranslationRatio = 0.5
	minRatioSource      = 200
)

// checkTranslation returns the check of a translation of src: the reply
// parses, is not a refusal, is English and is not far shorter than src.
func checkTranslation(src string) func(reply string) (translation, *rowError) {
	srcRunes := utf8.RuneCountInString(strings.TrimSpace(src))
	return func(reply string) (translation, *rowError) {
		title, body, err := prompts.ParseTranslation(reply)
		if err != nil {
			switch {
			case isRefusal(reply):
				return translation{}, &rowError{reason: "refused", msg: "the model declined to translate: " + excerpt(reply)}
			case errors.Is(err, prompts.ErrEmptyBody):
				return translation{}, &rowError{reason: "empty_translation", msg: "the reply has no translation after BODY:"}
			}
			return translation{}, &rowError{reason: "invalid_translation", msg: fmt.Sprintf("the reply is not in the asked form: %v", err)}
		}
		n := utf8.RuneCountInString(body)
		short := srcRunes >= minRatioSource && float64(n) < minTranslationRatio*float64(srcRunes)
		if short && isRefusal(body) {
			return translation{}, &rowError{reason: "refused", msg: "the model declined to translate: " + excerpt(body)}
		}
		if !looksEnglish(body) || (title != "" && !looksEnglish(title)) {
			return translation{}, &rowError{reason: "not_english", msg: "the translation is not in English: " + excerpt(body)}
		}
		if short {
			return translation{}, &rowError{reason: "too_short", msg: fmt.Sprintf(
				"the translation has %d characters for %d in the Arabic (under %.0f%%; faithful translations run above 100%%): the model left text out or summarised",
				n, srcRunes, 100*minTranslationRatio)}
		}
		return translation{title, body}, nil
	}
}

// checkKeyPoints parses a key-points reply and checks the count and the
// language of every point.
func checkKeyPoints(reply string, want int) ([]string, *rowError) {
	points, err := prompts.ParseKeyPoints(reply)
	if err != nil && isRefusal(reply) {
		return nil, &rowError{reason: "refused", msg: "the model declined to write the key points: " + excerpt(reply)}
	}
	if err != nil {
		return nil, &rowError{reason: "invalid_summary", msg: fmt.Sprintf("the key points are not the asked JSON: %v", err)}
	}
	if len(points) != want {
		return nil, &rowError{reason: "invalid_summary", msg: fmt.Sprintf("%d key points, want %d", len(points), want)}
	}
	for i, p := range points {
		if !looksEnglish(p) {
			return nil, &rowError{reason: "not_english", msg: fmt.Sprintf("key point %d is not in English: %s", i+1, excerpt(p))}
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
