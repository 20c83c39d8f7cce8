// Package state is tarjama's state file: a SQLite database that keeps every
// reply a run has paid for and the outcome of every row, so that a rerun pays
// only for what is new or changed, and the original text of every article
// the clean-up changed. *Store implements jobs.Store.
//
// Its tables (schema version 2; see SchemaVersion and the migrations in
// schema.go):
//
//   - replies: checked replies by request key (jobs.RequestKey), with the
//     step and model of the request.
//   - rows: the outcome of each article by input hash and prompt version.
//   - originals: an article's title and body as the input gave them, by
//     input hash, written once and never replaced (since version 2).
//
// What the state file promises:
//
//   - A write is durable when PutReply, PutRow or PutOriginal returns (WAL
//     journal, synchronous=FULL): a crash or a power loss after that loses
//     nothing.
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
//   - The file holds replies, row outcomes and original articles only:
//     never the request sent (headers, API key, prompts, messages), only
//     its step and model. An original holds the article's text from the
//     input, before the clean-up; it is not what was sent.
//   - The state file and the files SQLite keeps beside it (PATH-wal,
//     PATH-shm) and the lock file are readable by their owner only.
package state
