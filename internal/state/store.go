package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/tarjama/tarjama/internal/dirs"
	"github.com/tarjama/tarjama/jobs"
)

var _ jobs.Store = (*Store)(nil)

// DefaultPerm is the mode of a state file that Open creates when
// Options.Perm is 0: readable and writable by its owner only.
const DefaultPerm os.FileMode = 0o600

// DefaultDirPerm is the mode of the directories Open creates when
// Options.DirPerm is 0: open to their owner only.
const DefaultDirPerm os.FileMode = 0o700

// maxBatch bounds the writes committed in one transaction.
const maxBatch = 256

// Connection settings, applied by the driver to every connection it opens.
//
//   - busy_timeout=5000: wait up to 5 s for a lock rather than fail at once
//     (the flock keeps other tarjama runs out, not another program that
//     opens the file, the sqlite3 shell or a backup, for a moment).
//   - foreign_keys=ON: no foreign keys today; on so that a later schema can
//     rely on them.
//   - synchronous=FULL: in WAL mode, every commit fsyncs the WAL, so a
//     committed reply survives a power loss (NORMAL would only survive a
//     crash of the process).
//   - _txlock=immediate: a transaction takes the write lock when it begins,
//     so it never fails half-way with SQLITE_BUSY on upgrading its lock.
//   - mode=rw: SQLite never creates the file; Open does, with its mode.
//
// journal_mode=WAL is set once by Open (it is kept in the file): readers do
// not block the writer, and a commit is one sequential append and fsync.
const (
	rwParams = "mode=rw&_txlock=immediate&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	roParams = "mode=ro&_pragma=busy_timeout(5000)"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Logger receives what the store has to say (schema created or
	// updated, a WAL that could not be used); nil discards it.
	Logger *slog.Logger
	// Perm is the mode of a state file that Open creates, and of its lock
	// file (PATH.lock) when Open creates that; 0 means DefaultPerm (0600).
	// It is set exactly: the process's umask does not narrow it. SQLite
	// gives PATH-wal and PATH-shm the state file's mode. An existing state
	// file keeps its mode.
	Perm os.FileMode
	// DirPerm is the mode of the missing parent directories Open creates,
	// set exactly as Perm is; 0 means DefaultDirPerm (0700).
	DirPerm os.FileMode
	// Now returns the time written in created_at and updated_at; nil means
	// time.Now.
	Now func() time.Time

	// hooks, for tests only.
	hooks *testHooks
}

// testHooks let tests observe and stall the writer.
type testHooks struct {
	// enqueued is called after a write is queued.
	enqueued func()
	// batch is called by the writer before it commits a batch of n writes.
	batch func(n int)
}

// Store is a tarjama state file, open for one run. Its methods are safe for
// concurrent use.
type Store struct {
	path  string
	log   *slog.Logger
	now   func() time.Time
	hooks testHooks
	db    *sql.DB
	lock  *fileLock

	getReplyStmt, getRowStmt, getOriginalStmt *sql.Stmt
	putReplyStmt, putRowStmt, putOriginalStmt *sql.Stmt

	// mu guards closed and the sends on writes: Close takes it to close
	// writes once no Put is sending.
	mu         sync.RWMutex
	closed     bool
	writes     chan *write
	writerDone chan struct{}

	// commits counts committed write transactions.
	commits atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

// write is one queued PutReply, PutRow or PutOriginal, or one write of
// the Batch API's bookkeeping (batch.go).
type write struct {
	key   string // PutReply
	req   jobs.Request
	reply jobs.Reply
	row   *jobs.RowRecord // PutRow
	orig  *jobs.Original  // PutOriginal
	// op, when set, does the write in tx, with at as its timestamp; its
	// error fails the transaction.
	op   func(ctx context.Context, tx *sql.Tx, at string) error
	at   string
	done chan error // buffered: the writer never waits for the caller
}

// Open opens the state file at path, creating it (and its parent
// directory) when missing, and brings its schema up to SchemaVersion.
//
// Open fails with a *LockedError when another run has the file open, a
// *DamagedError when the file is not a tarjama state file or fails SQLite's
// quick_check (the file is then left untouched), and a *SchemaVersionError
// when a newer tarjama wrote it. The quick_check reads the whole file, so
// Open takes time in proportion to its size (about 0.5 s for 100,000
// replies, a 420 MB file, in the page cache).
//
// The caller must Close the Store: Close commits what is queued and releases
// the lock.
func Open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	if path == "" {
		return nil, errors.New("open state file: no path given")
	}
	s := &Store{
		path:       path,
		log:        opts.Logger,
		now:        opts.Now,
		writes:     make(chan *write, maxBatch),
		writerDone: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.hooks != nil {
		s.hooks = *opts.hooks
	}
	perm, dirPerm := opts.Perm.Perm(), opts.DirPerm.Perm()
	if perm == 0 {
		perm = DefaultPerm
	}
	if dirPerm == 0 {
		dirPerm = DefaultDirPerm
	}

	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	dir := filepath.Dir(abs)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := dirs.MkdirAll(dir, dirPerm); err != nil {
			return nil, fmt.Errorf("create directory of state file %s: %w", path, err)
		}
	}

	if s.lock, err = lockState(path, perm); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if s.db != nil {
				s.db.Close()
			}
			s.lock.release()
		}
	}()

	if err := createFile(path, perm); err != nil {
		return nil, err
	}

	// Check the file read-only first: SQLite must write nothing to a file
	// that is damaged or not ours, not even a checkpoint when it closes.
	if err := s.check(ctx, abs); err != nil {
		return nil, err
	}

	s.db, err = sql.Open("sqlite", fileURI(abs, rwParams))
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and one connection
	// keeps the per-connection pragmas in force for every statement.
	s.db.SetMaxOpenConns(1)
	s.db.SetMaxIdleConns(1)
	s.db.SetConnMaxLifetime(0)
	s.db.SetConnMaxIdleTime(0)

	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return nil, s.openError(err)
	}
	if !strings.EqualFold(mode, "wal") {
		// Still durable (synchronous=FULL with a rollback journal), only
		// slower: a file system without shared memory (NFS) can refuse WAL.
		s.log.Warn("state file cannot use a write-ahead log; commits will be slower", "path", path, "journal_mode", mode)
	}
	if err := s.fixSidecarModes(abs); err != nil {
		return nil, err
	}

	if err := s.migrate(ctx, migrations, SchemaVersion); err != nil {
		var verr *SchemaVersionError
		if errors.As(err, &verr) {
			return nil, err
		}
		return nil, s.openError(err)
	}

	if err := s.prepare(ctx); err != nil {
		return nil, s.openError(err)
	}
	go s.writer()
	return s, nil
}

// createFile creates path with perm (exactly, whatever the umask) unless it
// exists, and refuses anything but a regular file.
func createFile(path string, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err == nil {
		err = f.Chmod(perm)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("create state file %s: %w", path, err)
		}
		// The new name must survive a power loss too.
		_ = dirs.Sync(filepath.Dir(path)) // best effort: see dirs.Sync
		return nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create state file %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state file %s is not a regular file", path)
	}
	return nil
}

// fileURI returns the SQLite URI of the file at abs with the query params.
// The path is percent-escaped, so a name with '?', '#' or '%' in it names
// that file.
func fileURI(abs, params string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows volume: file:///C:/...
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath() + "?" + params
}

// check opens the file read-only and refuses it unless it passes
// quick_check and is an empty file or a tarjama state file of a schema
// version this tarjama knows. A refused file is left as it was, and so is
// its directory: the PATH-wal and PATH-shm that SQLite may have created
// beside it for the check are removed.
func (s *Store) check(ctx context.Context, abs string) error {
	var created []string
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Lstat(abs + suffix); errors.Is(err, fs.ErrNotExist) {
			created = append(created, abs+suffix)
		}
	}
	err := s.checkFile(ctx, abs)
	if err != nil {
		for _, name := range created {
			os.Remove(name)
		}
	}
	return err
}

func (s *Store) checkFile(ctx context.Context, abs string) error {
	db, err := sql.Open("sqlite", fileURI(abs, roParams))
	if err != nil {
		return fmt.Errorf("open state file %s: %w", s.path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	rows, err := db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return s.openError(err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return s.openError(err)
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return s.openError(err)
	}
	if len(problems) > 0 {
		return &DamagedError{Path: s.path, Err: fmt.Errorf("quick_check: %s", strings.Join(problems, "; "))}
	}

	var appID, version int
	if err := db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return s.openError(err)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return s.openError(err)
	}
	var tables []string
	rows, err = db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		return s.openError(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return s.openError(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		return s.openError(err)
	}
	switch {
	case appID == applicationID && version > SchemaVersion:
		return &SchemaVersionError{Path: s.path, Version: version, Supported: SchemaVersion}
	case appID == applicationID:
		return nil
	case appID == 0 && version == 0 && len(tables) == 0:
		return nil // empty: Open creates the schema
	case appID != 0:
		return &DamagedError{Path: s.path, Err: fmt.Errorf("it is a SQLite database of another program (application_id %#x)", appID)}
	default:
		if len(tables) > 5 {
			tables = append(tables[:5], "...")
		}
		return &DamagedError{Path: s.path, Err: fmt.Errorf("it is a SQLite database of another program (tables %s)", strings.Join(tables, ", "))}
	}
}

// openError reports err from opening the state file, as a *DamagedError
// when SQLite found the file damaged or not a database.
func (s *Store) openError(err error) error {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() & 0xff {
		case sqliteCorrupt, sqliteNotADB:
			return &DamagedError{Path: s.path, Err: err}
		}
	}
	return fmt.Errorf("open state file %s: %w", s.path, err)
}

// SQLite primary result codes.
const (
	sqliteCorrupt = 11
	sqliteFull    = 13
	sqliteNotADB  = 26
)

// fixSidecarModes gives PATH-wal and PATH-shm the state file's mode. SQLite
// does so when it creates them; this covers files left by an older run or
// another program.
func (s *Store) fixSidecarModes(abs string) error {
	fi, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", s.path, err)
	}
	want := fi.Mode().Perm()
	for _, suffix := range []string{"-wal", "-shm"} {
		sfi, err := os.Lstat(abs + suffix)
		if err != nil || !sfi.Mode().IsRegular() || sfi.Mode().Perm() == want {
			continue
		}
		if err := os.Chmod(abs+suffix, want); err != nil {
			return fmt.Errorf("open state file %s: %w", s.path, err)
		}
	}
	return nil
}

func (s *Store) prepare(ctx context.Context) error {
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&s.getReplyStmt, `SELECT content, finish_reason, reply_model, prompt_tokens, completion_tokens FROM replies WHERE key = ?`},
		{&s.getRowStmt, `SELECT id, status, error FROM rows WHERE input_sha256 = ? AND prompt_version = ?`},
		{&s.getOriginalStmt, `SELECT id, title, body, removed FROM originals WHERE input_sha256 = ?`},
		{&s.putReplyStmt, `INSERT OR REPLACE INTO replies (key, step, model, content, finish_reason, reply_model, prompt_tokens, completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.putRowStmt, `INSERT INTO rows (input_sha256, prompt_version, id, status, error, updated_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (input_sha256, prompt_version) DO UPDATE SET id = excluded.id, status = excluded.status, error = excluded.error, updated_at = excluded.updated_at`},
		{&s.putOriginalStmt, `INSERT INTO originals (input_sha256, id, title, body, removed, created_at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (input_sha256) DO NOTHING`},
	} {
		stmt, err := s.db.PrepareContext(ctx, p.sql)
		if err != nil {
			return err
		}
		*p.stmt = stmt
	}
	return nil
}

// Path returns the state file's path, as given to Open.
func (s *Store) Path() string { return s.path }

// Close commits the writes still queued, checkpoints the write-ahead log
// into the state file, closes it and releases the lock. Calls after the
// first return the first one's result. The Store's other methods return
// ErrClosed once Close has begun.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Store) close() error {
	// Taking mu waits for Puts that are sending; after it none can send.
	s.mu.Lock()
	s.closed = true
	close(s.writes)
	s.mu.Unlock()
	<-s.writerDone

	var errs []error
	var busy, walFrames, checkpointed int
	err := s.db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &walFrames, &checkpointed)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("checkpoint state file %s: %w", s.path, err))
	case busy != 0:
		// Nothing is lost: the log stays beside the file and SQLite reads it.
		s.log.Warn("state file checkpoint incomplete; its write-ahead log stays beside it", "path", s.path)
	}
	for _, stmt := range []*sql.Stmt{s.getReplyStmt, s.getRowStmt, s.getOriginalStmt, s.putReplyStmt, s.putRowStmt, s.putOriginalStmt} {
		stmt.Close()
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close state file %s: %w", s.path, err))
	}
	if err := s.lock.release(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// GetReply returns the reply stored under key, or ok false. A stored reply
// has Attempts 0: no request was made for it in this run.
func (s *Store) GetReply(ctx context.Context, key string) (reply jobs.Reply, ok bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return jobs.Reply{}, false, fmt.Errorf("read reply from state file %s: %w", s.path, ErrClosed)
	}
	var r jobs.Reply
	err = s.getReplyStmt.QueryRowContext(ctx, key).Scan(&r.Content, &r.FinishReason, &r.Model, &r.Usage.PromptTokens, &r.Usage.CompletionTokens)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Reply{}, false, nil
	}
	if err != nil {
		return jobs.Reply{}, false, fmt.Errorf("read reply from state file %s: %w", s.path, err)
	}
	return r, true, nil
}

// GetRow returns the outcome of the row last done with this input and
// prompt version, or ok false.
func (s *Store) GetRow(ctx context.Context, inputSHA256, promptVersion string) (row jobs.RowRecord, ok bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return jobs.RowRecord{}, false, fmt.Errorf("read row from state file %s: %w", s.path, ErrClosed)
	}
	r := jobs.RowRecord{InputSHA256: inputSHA256, PromptVersion: promptVersion}
	err = s.getRowStmt.QueryRowContext(ctx, inputSHA256, promptVersion).Scan(&r.ID, &r.Status, &r.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.RowRecord{}, false, nil
	}
	if err != nil {
		return jobs.RowRecord{}, false, fmt.Errorf("read row from state file %s: %w", s.path, err)
	}
	return r, true, nil
}

// GetOriginal returns the original kept under inputSHA256, or ok false.
func (s *Store) GetOriginal(ctx context.Context, inputSHA256 string) (o jobs.Original, ok bool, err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return jobs.Original{}, false, fmt.Errorf("read original from state file %s: %w", s.path, ErrClosed)
	}
	r := jobs.Original{InputSHA256: inputSHA256}
	err = s.getOriginalStmt.QueryRowContext(ctx, inputSHA256).Scan(&r.ID, &r.Title, &r.Body, &r.Removed)
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Original{}, false, nil
	}
	if err != nil {
		return jobs.Original{}, false, fmt.Errorf("read original from state file %s: %w", s.path, err)
	}
	return r, true, nil
}

// PutReply stores reply under key, replacing any reply stored there. Of
// req it keeps the step and the model only. It returns once the reply is
// committed to disk, or when ctx ends: the reply may then still be
// committed.
func (s *Store) PutReply(ctx context.Context, key string, req jobs.Request, reply jobs.Reply) error {
	if key == "" {
		return fmt.Errorf("store reply in state file %s: empty key", s.path)
	}
	return s.put(ctx, &write{key: key, req: req, reply: reply})
}

// PutRow records a row's outcome, replacing any stored for the same input
// and prompt version. It returns once the row is committed to disk, or when
// ctx ends: the row may then still be committed.
func (s *Store) PutRow(ctx context.Context, row jobs.RowRecord) error {
	if row.InputSHA256 == "" {
		return fmt.Errorf("store row %s in state file %s: empty input hash", row.ID, s.path)
	}
	return s.put(ctx, &write{row: &row})
}

// PutOriginal keeps an article's original text under its input hash. An
// original already kept under the same hash is left as it is, and
// PutOriginal then returns nil. It returns once the original is committed
// to disk, or when ctx ends: the original may then still be committed.
func (s *Store) PutOriginal(ctx context.Context, o jobs.Original) error {
	if o.InputSHA256 == "" {
		return fmt.Errorf("store original of article %s in state file %s: empty input hash", o.ID, s.path)
	}
	return s.put(ctx, &write{orig: &o})
}

// put queues w for the writer and waits until it is committed.
func (s *Store) put(ctx context.Context, w *write) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write to state file %s: %w", s.path, err)
	}
	w.at = s.now().UTC().Format(time.RFC3339Nano)
	w.done = make(chan error, 1)

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("write to state file %s: %w", s.path, ErrClosed)
	}
	select {
	case s.writes <- w:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("write to state file %s: %w", s.path, ctx.Err())
	}
	if s.hooks.enqueued != nil {
		s.hooks.enqueued()
	}

	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		// The write stays queued and will be committed (by Close at the
		// latest); the caller only stops waiting for it.
		return fmt.Errorf("write to state file %s: %w", s.path, ctx.Err())
	}
}

// writer commits the queued writes: it takes one, adds every other that is
// waiting (up to maxBatch), commits them in one transaction (one fsync) and
// tells each caller. It returns when writes is closed and drained.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*write, 0, maxBatch)
	for {
		w, ok := <-s.writes
		if !ok {
			return
		}
		batch = append(batch[:0], w)
	fill:
		for len(batch) < maxBatch {
			select {
			case w, ok := <-s.writes:
				if !ok {
					break fill
				}
				batch = append(batch, w)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		clear(batch)
	}
}

// commitBatch commits batch and sends each write its outcome. When the
// batch fails, each write is tried again alone, so that one write that
// cannot be stored does not fail the others; a full disk fails them all.
func (s *Store) commitBatch(batch []*write) {
	if s.hooks.batch != nil {
		s.hooks.batch(len(batch))
	}
	err := s.commit(batch)
	if err != nil && len(batch) > 1 {
		s.log.Debug("state file batch failed; committing its writes one by one", "path", s.path, "writes", len(batch), "err", err)
		for _, w := range batch {
			w.done <- s.writeError(s.commit([]*write{w}))
		}
		return
	}
	err = s.writeError(err)
	for _, w := range batch {
		w.done <- err
	}
}

func (s *Store) writeError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("write to state file %s: %w", s.path, err)
}

// commit writes batch in one transaction.
func (s *Store) commit(batch []*write) error {
	// Not a caller's context: the batch belongs to many callers, and a
	// write is committed even when its caller stopped waiting.
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	putReply := tx.StmtContext(ctx, s.putReplyStmt)
	putRow := tx.StmtContext(ctx, s.putRowStmt)
	putOriginal := tx.StmtContext(ctx, s.putOriginalStmt)
	for _, w := range batch {
		switch {
		case w.op != nil:
			err = w.op(ctx, tx, w.at)
		case w.row != nil:
			r := w.row
			_, err = putRow.ExecContext(ctx, r.InputSHA256, r.PromptVersion, r.ID, string(r.Status), r.Error, w.at)
		case w.orig != nil:
			o := w.orig
			_, err = putOriginal.ExecContext(ctx, o.InputSHA256, o.ID, o.Title, o.Body, o.Removed, w.at)
		default:
			_, err = putReply.ExecContext(ctx, w.key, string(w.req.Step), w.req.Model,
				w.reply.Content, w.reply.FinishReason, w.reply.Model,
				w.reply.Usage.PromptTokens, w.reply.Usage.CompletionTokens, w.at)
		}
		if err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.commits.Add(1)
	return nil
}

// Stats counts what a state file holds.
type Stats struct {
	// Replies is the number of stored replies.
	Replies int
	// Rows is the number of stored row outcomes by status; a status with
	// no rows is absent.
	Rows map[jobs.Status]int
}

// Stats counts the replies and the rows by status.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Stats{}, fmt.Errorf("count state file %s: %w", s.path, ErrClosed)
	}
	st := Stats{Rows: map[jobs.Status]int{}}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM replies`).Scan(&st.Replies); err != nil {
		return Stats{}, fmt.Errorf("count state file %s: %w", s.path, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM rows GROUP BY status`)
	if err != nil {
		return Stats{}, fmt.Errorf("count state file %s: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var status jobs.Status
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return Stats{}, fmt.Errorf("count state file %s: %w", s.path, err)
		}
		st.Rows[status] = n
	}
	if err := rows.Err(); err != nil {
		return Stats{}, fmt.Errorf("count state file %s: %w", s.path, err)
	}
	return st, nil
}
