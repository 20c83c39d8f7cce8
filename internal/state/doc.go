// Package state is tarjama's state file: a SQLite database that keeps every
// reply a run has paid for and the outcome of every row, so that a rerun pays
// only for what is new or changed, and the original text of every article
// the clean-up changed. *Store implements jobs.Store.
//
// Its tables (schema version 3; see SchemaVersion and the migrations in
// schema.go):
//
//   - replies: checked replies by request key (jobs.RequestKey), with the
//     step and model of the request.
//   - rows: the outcome of each article by input hash and prompt version.
//   - originals: an article's title and body as the input gave them, by
//     input hash, written once and never replaced (since version 2).
//   - batch_requests: each request sent, or to be sent, through the Batch
//     API, by request key (its custom_id): its article and step, its state
//     (pending, submitted, answered, failed), the batch it was last sent
//     in, how many times it was sent, its last error and, once answered,
//     its reply, which the pipeline checks before it stores it in replies
//     (since version 3; see batch.go).
//   - batches: each batch created, with its input, output and error files,
//     its last known status and whether its results were collected (since
//     version 3).
//
// What the state file promises:
//
//   - A write is durable when it returns (WAL journal, synchronous=FULL):
//     a crash or a power loss after PutReply, PutRow, PutOriginal or a
//     batch write (AddBatchRequests, MarkSubmitted, UpdateBatch,
//     CollectBatch, Requeue) returns loses nothing. A batch write is one
//     transaction, however many requests it holds.
//     Concurrent writers share commits (group commit), so durability does
//     not cost one fsync per reply.
//   - One process uses a state file at a time: Open takes an exclusive lock
//     on PATH.lock and fails with a *LockedError while another run holds it.
//     The kernel releases the lock when the process ends, however it ends.
//     The lock file stays beside the state file; it holds the pid of the run
//     that has the state file open, and is empty otherwise.
//   - A file that is not a tarjama state file, or is damaged, is refused
//     with a *DamagedError and left exactly as it is; a file written by a
//     newer tarjama is refused with a *SchemaVersionError. A file written
//     by an older tarjama is brought to SchemaVersion by Open, one version
//     and one transaction at a time.
//   - The file holds replies, row outcomes, original articles and the
//     Batch API's bookkeeping only: never the request sent (headers, API
//     key, prompts, messages), only its key, step and model. An original holds the article's text from the
//     input, before the clean-up; it is not what was sent.
//   - The state file and the files SQLite keeps beside it (PATH-wal,
//     PATH-shm) and the lock file are readable by their owner only.
package state
