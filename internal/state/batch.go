package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tarjama/tarjama/jobs"
)

// The Batch API's bookkeeping. Every chat completion request that tarjama
// sends through the Batch API is a batch request, known by its custom_id:
// the request's cache key (jobs.RequestKey). It goes from pending to
// submitted (in a batch) to answered (a reply came) or failed (given up),
// and may go back to pending to be sent again:
//
//	AddBatchRequests      → pending
//	MarkSubmitted         pending → submitted in batch b, attempts+1
//	ReplaceBatch          submitted in b → submitted in b' (b's real id)
//	ReleaseBatch          submitted in b → pending, attempts-1 (b never created)
//	CollectBatch          submitted in b → answered, pending or failed
//	Requeue               any → pending
//
// Each write is one transaction, committed by the writer like PutReply and
// durable when it returns, however many keys it holds. An answered
// request's reply is kept in batch_requests only, never in replies: the
// pipeline checks it and stores it there itself (PutReply), or sends the
// request again (Requeue).

// States of a batch request.
const (
	ReqPending   = "pending"   // to be sent (again)
	ReqSubmitted = "submitted" // in a batch not yet collected
	ReqAnswered  = "answered"  // a reply came; Reply holds it
	ReqFailed    = "failed"    // given up; Error says why ("reason: message")
)

// BatchRequest is one request sent, or to be sent, through the Batch API.
type BatchRequest struct {
	// Key is the request's cache key (jobs.RequestKey), its custom_id in
	// the batch.
	Key, ArticleID, Step string
	// Part is the part of a long article the request is for (from 1), or
	// 0 for a request on the whole article.
	Part int
	// State is ReqPending, ReqSubmitted, ReqAnswered or ReqFailed.
	State    string
	BatchID  string // the batch it was last sent in
	Attempts int    // how many times it was sent
	// Error says why the request is pending again or failed, as
	// "reason: message"; it is empty for a request answered or never sent.
	// A request sent again keeps its last error until a result comes.
	Error string
	Reply jobs.Reply // when answered (Content, FinishReason, Model, Usage)
}

// Batch is one batch created with the Batch API.
type Batch struct {
	ID, InputFileID, OutputFileID, ErrorFileID, Status string
	// Requests is the number of requests (lines) in the batch.
	Requests int
	// Collected is true once the batch's results were applied
	// (CollectBatch).
	Collected bool
	CreatedAt time.Time
}

// BatchResult is what became of one request line.
type BatchResult struct {
	Key   string
	State string     // ReqAnswered, ReqPending (send again) or ReqFailed
	Reply jobs.Reply // for ReqAnswered
	Error string     // for ReqPending and ReqFailed
}

// BatchRequest returns the batch request stored under key, or ok false.
func (s *Store) BatchRequest(ctx context.Context, key string) (req BatchRequest, ok bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return BatchRequest{}, false, fmt.Errorf("read batch request from state file %s: %w", s.path, ErrClosed)
	}
	r := BatchRequest{Key: key}
	var (
		content, finish, model sql.NullString
		prompt, completion     sql.NullInt64
	)
	err = s.db.QueryRowContext(ctx, `SELECT article_id, step, part, state, batch_id, attempts, error,
		content, finish_reason, reply_model, prompt_tokens, completion_tokens
		FROM batch_requests WHERE key = ?`, key).Scan(&r.ArticleID, &r.Step, &r.Part, &r.State, &r.BatchID, &r.Attempts, &r.Error,
		&content, &finish, &model, &prompt, &completion)
	if errors.Is(err, sql.ErrNoRows) {
		return BatchRequest{}, false, nil
	}
	if err != nil {
		return BatchRequest{}, false, fmt.Errorf("read batch request from state file %s: %w", s.path, err)
	}
	if r.State == ReqAnswered {
		r.Reply = jobs.Reply{
			Content:      content.String,
			FinishReason: finish.String,
			Model:        model.String,
			Usage:        jobs.Usage{PromptTokens: int(prompt.Int64), CompletionTokens: int(completion.Int64)},
		}
	}
	return r, true, nil
}

// AddBatchRequests inserts the requests not yet known as pending, in one
// transaction; known keys are left as they are. Of each request it keeps
// Key, ArticleID, Step and Part: the state, batch, attempts, error and reply
// given are ignored. A key given twice is added once, the first time.
func (s *Store) AddBatchRequests(ctx context.Context, reqs []BatchRequest) error {
	for _, r := range reqs {
		if r.Key == "" {
			return fmt.Errorf("add batch requests to state file %s: request of article %s has an empty key", s.path, r.ArticleID)
		}
	}
	if len(reqs) == 0 {
		return nil
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM batch_requests`).Scan(&seq); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO batch_requests (key, article_id, step, part, state, seq, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, r := range reqs {
			res, err := ins.ExecContext(ctx, r.Key, r.ArticleID, r.Step, r.Part, ReqPending, seq+1, at)
			if err != nil {
				return fmt.Errorf("add batch request %s: %w", r.Key, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				seq++
			}
		}
		return nil
	}})
}

// Requeue sets a request back to pending with a reason (a reply that failed
// its checks is asked for again), whatever its state; the reply it held, if
// any, is dropped. An unknown key is an error.
func (s *Store) Requeue(ctx context.Context, key, reason string) error {
	if key == "" {
		return fmt.Errorf("requeue batch request in state file %s: empty key", s.path)
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		res, err := tx.ExecContext(ctx, `UPDATE batch_requests SET state = ?, error = ?,
			content = NULL, finish_reason = NULL, reply_model = NULL, prompt_tokens = NULL, completion_tokens = NULL,
			updated_at = ? WHERE key = ?`, ReqPending, reason, at, key)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("requeue batch request %s: unknown request", key)
		}
		return nil
	}})
}

// MarkSubmitted records batch b and, in the same transaction, sets each key
// to submitted in b with attempts+1.
//
// A key already marked in b is left as it is, and so is a batch already
// recorded, so calling MarkSubmitted again with the same batch (after a
// context that ended before it returned, say) is harmless. The state of a
// key is not checked: once the batch is created it holds the key's line,
// whatever the state file says. A key given twice counts once. An unknown
// key is an error naming it, and nothing is recorded. Requests 0 is taken
// to be the number of keys, and a zero CreatedAt the time of the call.
func (s *Store) MarkSubmitted(ctx context.Context, b Batch, keys []string) error {
	if b.ID == "" {
		return fmt.Errorf("record batch in state file %s: empty batch id", s.path)
	}
	if len(keys) == 0 {
		return fmt.Errorf("record batch %s in state file %s: no requests", b.ID, s.path)
	}
	if slices.Contains(keys, "") {
		return fmt.Errorf("record batch %s in state file %s: empty request key", b.ID, s.path)
	}
	if b.Requests == 0 {
		b.Requests = len(keys)
	}
	var created string
	if !b.CreatedAt.IsZero() {
		created = formatTime(b.CreatedAt)
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		created := created
		if created == "" {
			created = at
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batches (id, input_file_id, output_file_id, error_file_id, status, requests, collected, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			b.ID, b.InputFileID, b.OutputFileID, b.ErrorFileID, b.Status, b.Requests, b.Collected, created, at); err != nil {
			return fmt.Errorf("record batch %s: %w", b.ID, err)
		}
		// The batch_id test makes a key given twice, or a call made
		// twice, count once.
		mark, err := tx.PrepareContext(ctx, `UPDATE batch_requests SET state = ?, batch_id = ?, attempts = attempts + 1, updated_at = ?
			WHERE key = ? AND batch_id <> ?`)
		if err != nil {
			return err
		}
		defer mark.Close()
		known, err := tx.PrepareContext(ctx, `SELECT count(*) FROM batch_requests WHERE key = ?`)
		if err != nil {
			return err
		}
		defer known.Close()
		for _, key := range keys {
			res, err := mark.ExecContext(ctx, ReqSubmitted, b.ID, at, key, b.ID)
			if err != nil {
				return fmt.Errorf("record batch %s: request %s: %w", b.ID, key, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				continue
			}
			var n int
			if err := known.QueryRowContext(ctx, key).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("record batch %s: unknown request %s", b.ID, key)
			}
		}
		return nil
	}})
}

// UpdateBatch records a batch's latest status and file ids (and Collected),
// as given: an empty file id replaces the one recorded. Its InputFileID,
// Requests and CreatedAt are not changed. An unknown batch is an error.
func (s *Store) UpdateBatch(ctx context.Context, b Batch) error {
	if b.ID == "" {
		return fmt.Errorf("update batch in state file %s: empty batch id", s.path)
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		res, err := tx.ExecContext(ctx, `UPDATE batches SET status = ?, output_file_id = ?, error_file_id = ?, collected = ?, updated_at = ?
			WHERE id = ?`, b.Status, b.OutputFileID, b.ErrorFileID, b.Collected, at, b.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("update batch %s: unknown batch", b.ID)
		}
		return nil
	}})
}

// Batches returns every batch, oldest first (by CreatedAt, then in the
// order they were recorded).
func (s *Store) Batches(ctx context.Context) ([]Batch, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("read batches from state file %s: %w", s.path, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, input_file_id, output_file_id, error_file_id, status, requests, collected, created_at
		FROM batches ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read batches from state file %s: %w", s.path, err)
	}
	defer rows.Close()
	var bs []Batch
	for rows.Next() {
		var b Batch
		var created string
		if err := rows.Scan(&b.ID, &b.InputFileID, &b.OutputFileID, &b.ErrorFileID, &b.Status, &b.Requests, &b.Collected, &created); err != nil {
			return nil, fmt.Errorf("read batches from state file %s: %w", s.path, err)
		}
		if b.CreatedAt, err = time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, fmt.Errorf("read batches from state file %s: batch %s: %w", s.path, b.ID, err)
		}
		bs = append(bs, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read batches from state file %s: %w", s.path, err)
	}
	// RFC 3339 text with its trailing zeros dropped does not sort as the
	// times do.
	slices.SortStableFunc(bs, func(a, b Batch) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return bs, nil
}

// CollectBatch applies the results of batch b and marks it collected, in
// one transaction: answered results keep their reply, pending and failed
// their error. b.ID may be "" (results imported from a file, no batch):
// then only the results are applied. A result whose key is unknown is an
// error naming the key, and nothing is applied. Applying the same results
// twice is harmless (a collect interrupted half way and run again).
//
// A result of batch b applies to a request still submitted in b only: one
// already collected, requeued since or sent again in another batch is left
// as it is. An imported result (b.ID "") applies to any request but never
// takes an answered request's reply away: a pending or failed result for it
// is ignored. Of two results for one key the first applies. b's status and
// file ids, when not empty, are recorded as UpdateBatch does; an unknown
// batch is an error.
func (s *Store) CollectBatch(ctx context.Context, b Batch, results []BatchResult) error {
	for _, r := range results {
		if r.Key == "" {
			return fmt.Errorf("collect batch %s in state file %s: result with an empty key", b.ID, s.path)
		}
		switch r.State {
		case ReqAnswered, ReqPending, ReqFailed:
		default:
			return fmt.Errorf("collect batch %s in state file %s: result for request %s has state %q, want %s, %s or %s",
				b.ID, s.path, r.Key, r.State, ReqAnswered, ReqPending, ReqFailed)
		}
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		if b.ID != "" {
			// A batch collected again is left as it is, updated_at
			// included, unless b says something new.
			res, err := tx.ExecContext(ctx, `UPDATE batches SET collected = 1,
				status = coalesce(nullif(?1, ''), status),
				output_file_id = coalesce(nullif(?2, ''), output_file_id),
				error_file_id = coalesce(nullif(?3, ''), error_file_id),
				updated_at = ?4
				WHERE id = ?5 AND NOT (collected = 1
					AND status = coalesce(nullif(?1, ''), status)
					AND output_file_id = coalesce(nullif(?2, ''), output_file_id)
					AND error_file_id = coalesce(nullif(?3, ''), error_file_id))`,
				b.Status, b.OutputFileID, b.ErrorFileID, at, b.ID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				var known int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM batches WHERE id = ?`, b.ID).Scan(&known); err != nil {
					return err
				}
				if known == 0 {
					return fmt.Errorf("collect batch %s: unknown batch", b.ID)
				}
			}
		}
		set := `UPDATE batch_requests SET state = ?1, error = ?2, content = ?3, finish_reason = ?4, reply_model = ?5,
			prompt_tokens = ?6, completion_tokens = ?7, updated_at = ?8 WHERE key = ?9`
		if b.ID != "" {
			set += ` AND state = '` + ReqSubmitted + `' AND batch_id = ?10`
		} else {
			set += ` AND (state <> '` + ReqAnswered + `' OR ?1 = '` + ReqAnswered + `')`
		}
		apply, err := tx.PrepareContext(ctx, set)
		if err != nil {
			return err
		}
		defer apply.Close()
		known, err := tx.PrepareContext(ctx, `SELECT count(*) FROM batch_requests WHERE key = ?`)
		if err != nil {
			return err
		}
		defer known.Close()
		seen := make(map[string]bool, len(results))
		skipped := 0
		for _, r := range results {
			if seen[r.Key] {
				continue
			}
			seen[r.Key] = true
			args := []any{r.State, r.Error, nil, nil, nil, nil, nil, at, r.Key}
			if r.State == ReqAnswered {
				args[1] = ""
				args[2], args[3], args[4] = r.Reply.Content, r.Reply.FinishReason, r.Reply.Model
				args[5], args[6] = r.Reply.Usage.PromptTokens, r.Reply.Usage.CompletionTokens
			}
			if b.ID != "" {
				args = append(args, b.ID)
			}
			res, err := apply.ExecContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("collect batch %s: request %s: %w", b.ID, r.Key, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				continue
			}
			var n int
			if err := known.QueryRowContext(ctx, r.Key).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("collect batch %s: unknown request %s", b.ID, r.Key)
			}
			skipped++
		}
		if skipped > 0 {
			s.log.Debug("batch results left as they are", "path", s.path, "batch", b.ID, "results", len(results), "skipped", skipped)
		}
		return nil
	}})
}

// SubmittedKeys returns the keys still submitted in batch id (an expired or
// cancelled batch's unanswered lines), in the order they were added. To
// send them again, collect them as ReqPending results of the batch: one
// transaction for all of them, where Requeue is one per key.
func (s *Store) SubmittedKeys(ctx context.Context, batchID string) ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("read batch %s from state file %s: %w", batchID, s.path, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT key FROM batch_requests WHERE batch_id = ? AND state = ? ORDER BY seq`, batchID, ReqSubmitted)
	if err != nil {
		return nil, fmt.Errorf("read batch %s from state file %s: %w", batchID, s.path, err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			return nil, fmt.Errorf("read batch %s from state file %s: %w", batchID, s.path, err)
		}
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read batch %s from state file %s: %w", batchID, s.path, err)
	}
	return keys, nil
}

// BatchCounts returns how many requests are in each state; a state with no
// requests is absent.
func (s *Store) BatchCounts(ctx context.Context) (map[string]int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("count batch requests in state file %s: %w", s.path, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM batch_requests GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("count batch requests in state file %s: %w", s.path, err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("count batch requests in state file %s: %w", s.path, err)
		}
		counts[state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count batch requests in state file %s: %w", s.path, err)
	}
	return counts, nil
}

// BatchUsage returns the tokens of the answered batch requests, by step
// (translate, key_points, ...): what the Batch API charged for the
// replies the job keeps.
func (s *Store) BatchUsage(ctx context.Context) (map[string]jobs.Usage, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("sum batch usage in state file %s: %w", s.path, ErrClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT step, sum(coalesce(prompt_tokens, 0)), sum(coalesce(completion_tokens, 0))
		FROM batch_requests WHERE state = ? GROUP BY 1`, ReqAnswered)
	if err != nil {
		return nil, fmt.Errorf("sum batch usage in state file %s: %w", s.path, err)
	}
	defer rows.Close()
	usage := map[string]jobs.Usage{}
	for rows.Next() {
		var step string
		var u jobs.Usage
		if err := rows.Scan(&step, &u.PromptTokens, &u.CompletionTokens); err != nil {
			return nil, fmt.Errorf("sum batch usage in state file %s: %w", s.path, err)
		}
		usage[step] = u
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum batch usage in state file %s: %w", s.path, err)
	}
	return usage, nil
}

// formatTime is how the state file writes a time: RFC 3339 in UTC.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// ReplaceBatch puts batch b in the place of the batch recorded as oldID, in
// one transaction: the requests in oldID move to b, and oldID is removed.
// It is how a batch recorded before its create was sent (under an id of
// the caller's making) gets its real id. b.Requests 0 and a zero CreatedAt
// keep oldID's. Calling it again once done is harmless; an oldID unknown
// when b is not recorded either is an error.
func (s *Store) ReplaceBatch(ctx context.Context, oldID string, b Batch) error {
	if oldID == "" || b.ID == "" {
		return fmt.Errorf("replace batch %q by %q in state file %s: empty batch id", oldID, b.ID, s.path)
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		var (
			requests int
			created  string
		)
		err := tx.QueryRowContext(ctx, `SELECT requests, created_at FROM batches WHERE id = ?`, oldID).Scan(&requests, &created)
		if errors.Is(err, sql.ErrNoRows) {
			var known int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM batches WHERE id = ?`, b.ID).Scan(&known); err != nil {
				return err
			}
			if known == 0 {
				return fmt.Errorf("replace batch %s by %s: unknown batch", oldID, b.ID)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if b.Requests > 0 {
			requests = b.Requests
		}
		if !b.CreatedAt.IsZero() {
			created = formatTime(b.CreatedAt)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batches (id, input_file_id, output_file_id, error_file_id, status, requests, collected, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			b.ID, b.InputFileID, b.OutputFileID, b.ErrorFileID, b.Status, requests, b.Collected, created, at); err != nil {
			return fmt.Errorf("replace batch %s by %s: %w", oldID, b.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE batch_requests SET batch_id = ?, updated_at = ? WHERE batch_id = ?`, b.ID, at, oldID); err != nil {
			return fmt.Errorf("replace batch %s by %s: %w", oldID, b.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM batches WHERE id = ?`, oldID); err != nil {
			return fmt.Errorf("replace batch %s by %s: %w", oldID, b.ID, err)
		}
		return nil
	}})
}

// ReleaseBatch removes batch id, which was never created at the provider,
// and sets the requests still submitted in it back to pending, in one
// transaction: their attempts are taken back (they were never sent) and
// their error is reason. Releasing a batch no longer recorded does nothing.
func (s *Store) ReleaseBatch(ctx context.Context, id, reason string) error {
	if id == "" {
		return fmt.Errorf("release batch in state file %s: empty batch id", s.path)
	}
	return s.put(ctx, &write{op: func(ctx context.Context, tx *sql.Tx, at string) error {
		if _, err := tx.ExecContext(ctx, `UPDATE batch_requests SET state = ?, batch_id = '', attempts = max(attempts - 1, 0),
			error = ?, updated_at = ? WHERE batch_id = ? AND state = ?`, ReqPending, reason, at, id, ReqSubmitted); err != nil {
			return fmt.Errorf("release batch %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM batches WHERE id = ?`, id); err != nil {
			return fmt.Errorf("release batch %s: %w", id, err)
		}
		return nil
	}})
}
