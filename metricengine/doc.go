// Package metricengine stores metric series for any SQL store: the
// encoding into chunks (package chunk), each chunk's level of detail, tail
// compaction, group commit, and reads (raw pages, or downsampled with min
// and max kept). A store supplies a Backend — rows of series and chunks in
// transactions, its SQL and nothing else — and forwards its MetricStore
// methods to an Engine. SQLite and PostgreSQL share it.
//
//	Append (caller's goroutine): validate, check the run, encode chunks + LOD
//	   │
//	   ▼ channel
//	writer goroutine: take every waiting request (group commit)
//	   BeginWrite ─▶ per request: RecordBatch (batch IDs) ─▶ per series:
//	   Series/CreateSeries (cached) ─▶ InsertChunk … ─▶ compact long tails
//	   ─▶ UpdateSeries (summary, tail, version+1) ─▶ Commit (one fsync)
//	   ─▶ answer every request of the group; OnCommit(runs)
//	   idle: compact one queued series per transaction
//
// Tables the backend keeps (names are the backend's):
//
//	series  (id, run_id, key, summary, next_seq, tail_start, tail_small, version)
//	chunks  (series_id, seq, count, min_step, max_step, lod, data)
//	batches (run_id, batch_id)
//
// Several processes may write one database (several servers on one
// PostgreSQL). The writer caches series rows; every update of a row
// checks that its version is the one the writer read, and a chunk's
// sequence number is unique per series, so a writer whose cache went stale
// gets ErrStale from the backend, drops what it cached of the group's
// series and writes the group again. With one process this never happens.
package metricengine
