// Package state is tarjama's state file: a SQLite database that keeps every
// reply a run has paid for and the outcome of every row, so that a rerun pays
// only for what is new or changed. *Store implements jobs.Store.
//
// What the state file promises:
//
//   - A write is durable when PutReply or PutRow returns (WAL journal,
//     synchronous=FULL): a crash or a power loss after that loses nothing.
//     Concurrent writers share commits (group commit), so durability does
//     not cost one fsync per reply.
//   - One process uses a state file at a time: Open takes an exclusive lock
//     on PATH.lock and fails with a *LockedError while another run holds it.
//     The kernel releases the lock when the process ends, however it ends.
//     The lock file stays beside the state file; it holds the pid of the run
//     that has the state file open, and is empty otherwise.
//   - A file that is not a tarjama state file, or is damaged, is refused
//     with a *DamagedError and left exactly as it is; a file written by a
//     newer tarjama is refused with a *SchemaVersionError.
//   - The file holds replies and row outcomes only: never the request sent
//     (headers, API key, messages), only its step and model.
//   - The state file and the files SQLite keeps beside it (PATH-wal,
//     PATH-shm) and the lock file are readable by their owner only.
package state
