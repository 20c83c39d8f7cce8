package state

import (
	"context"
	"database/sql"
	"fmt"
)

// SchemaVersion is the schema version this tarjama writes and the newest it
// reads. It is kept in the file's PRAGMA user_version.
const SchemaVersion = 3

// applicationID marks a SQLite file as a tarjama state file (PRAGMA
// application_id, "trjm").
const applicationID = 0x74726a6d

// migrations[i] brings a state file from schema version i to i+1. Each runs
// in its own transaction, together with the user_version update that
// records it, so a crash leaves the file at one version or the next. To add
// a version: append its function and raise SchemaVersion. A step never
// changes once released: files of its version exist.
var migrations = []func(ctx context.Context, tx *sql.Tx) error{
	createV1,
	addOriginalsV2,
	addBatchesV3,
}

// createV1 creates the tables of an empty file.
//
// replies holds checked replies by request key (jobs.RequestKey); rows holds
// the outcome of each article by input hash and prompt version. Neither
// holds the request itself: nothing sent to the server (headers, API key,
// messages) is stored.
func createV1(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		`CREATE TABLE replies (
			key TEXT PRIMARY KEY,
			step TEXT NOT NULL,
			model TEXT NOT NULL,
			content TEXT NOT NULL,
			finish_reason TEXT NOT NULL,
			reply_model TEXT NOT NULL,
			prompt_tokens INTEGER NOT NULL,
			completion_tokens INTEGER NOT NULL,
			created_at TEXT NOT NULL
		)`,
		`CREATE TABLE rows (
			input_sha256 TEXT NOT NULL,
			prompt_version TEXT NOT NULL,
			id TEXT NOT NULL,
			status TEXT NOT NULL,
			error TEXT NOT NULL,
			updated_at TEXT NOT NULL,
			PRIMARY KEY (input_sha256, prompt_version)
		)`,
		fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// addOriginalsV2 adds the originals table: the title and body of an article
// as the input gave it, by input hash, kept when the clean-up changed what
// was sent (jobs.Original). Removed is the number of runes the clean-up
// removed. An original is written once and never replaced.
func addOriginalsV2(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `CREATE TABLE originals (
		input_sha256 TEXT PRIMARY KEY,
		id TEXT NOT NULL,
		title TEXT NOT NULL,
		body TEXT NOT NULL,
		removed INTEGER NOT NULL,
		created_at TEXT NOT NULL
	)`)
	return err
}

// addBatchesV3 adds the bookkeeping of the Batch API (batch.go).
//
// batch_requests holds each chat completion request sent, or to be sent,
// through the Batch API, by request key (the line's custom_id), with its
// state, the batch it was last sent in and, once answered, its reply; seq
// is the order in which the requests were added. The request itself is not
// kept, as in replies. batches holds each batch created, with its files and
// its last known status.
func addBatchesV3(ctx context.Context, tx *sql.Tx) error {
	for _, q := range []string{
		`CREATE TABLE batch_requests (
			key TEXT PRIMARY KEY,
			article_id TEXT NOT NULL,
			step TEXT NOT NULL,
			part INTEGER NOT NULL DEFAULT 0,
			state TEXT NOT NULL,
			batch_id TEXT NOT NULL DEFAULT '',
			attempts INTEGER NOT NULL DEFAULT 0,
			error TEXT NOT NULL DEFAULT '',
			content TEXT,
			finish_reason TEXT,
			reply_model TEXT,
			prompt_tokens INTEGER,
			completion_tokens INTEGER,
			seq INTEGER NOT NULL,
			updated_at TEXT NOT NULL
		)`,
		`CREATE INDEX batch_requests_state ON batch_requests (state)`,
		`CREATE INDEX batch_requests_batch_id ON batch_requests (batch_id)`,
		`CREATE TABLE batches (
			id TEXT PRIMARY KEY,
			input_file_id TEXT NOT NULL,
			output_file_id TEXT NOT NULL DEFAULT '',
			error_file_id TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL,
			requests INTEGER NOT NULL,
			collected INTEGER NOT NULL DEFAULT 0,
			created_at TEXT NOT NULL,
			updated_at TEXT NOT NULL
		)`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// migrate brings the state file to version target by steps, one step and
// one transaction at a time (Open passes migrations and SchemaVersion).
func (s *Store) migrate(ctx context.Context, steps []func(context.Context, *sql.Tx) error, target int) error {
	if len(steps) != target {
		panic(fmt.Sprintf("state: %d migrations for schema version %d", len(steps), target))
	}
	from := -1 // the version found, once a step was made
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		if v >= target {
			tx.Rollback()
			if v > target {
				return &SchemaVersionError{Path: s.path, Version: v, Supported: target}
			}
			switch {
			case from == 0:
				s.log.Info("state file created", "path", s.path, "schema_version", v)
			case from > 0:
				s.log.Info("state file schema updated", "path", s.path, "from", from, "to", v)
			}
			return nil
		}
		if from < 0 {
			from = v
		}
		if err := steps[v](ctx, tx); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate schema from version %d to %d: %w", v, v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate schema from version %d to %d: %w", v, v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate schema from version %d to %d: %w", v, v+1, err)
		}
	}
}
