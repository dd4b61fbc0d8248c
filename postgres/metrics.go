package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricengine"
)

// Metrics go through the shared engine (package metricengine): this file
// is its SQL. The writer's inserts and updates are pipelined: queued in a
// batch and sent in one round trip before the next read or the commit.
// Several servers may write one series: an update over a version another
// server moved, or a chunk number another server took, is ErrStale, and
// the engine writes the group again from fresh rows. A row read fresh is
// locked until the commit, so that the write after a conflict waits for
// the other server instead of racing it again.

// AppendMetrics appends points; see metricengine.Engine.Append.
func (s *Store) AppendMetrics(ctx context.Context, runID string, batch []trainyard.SeriesPoints) error {
	_, err := s.me.Append(ctx, runID, "", batch)
	return err
}

// AppendMetricsOnce appends points under a batch ID stored once.
func (s *Store) AppendMetricsOnce(ctx context.Context, runID, batchID string, batch []trainyard.SeriesPoints) (bool, error) {
	return s.me.Append(ctx, runID, batchID, batch)
}

// LogBatch writes params, tags, a name and points in one transaction; see
// metricengine.Engine.LogBatch.
func (s *Store) LogBatch(ctx context.Context, runID string, b trainyard.RunBatch) error {
	return s.me.LogBatch(ctx, runID, b)
}

// ReadSeries returns points of one series; see metricengine.Engine.Read.
func (s *Store) ReadSeries(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	return s.me.Read(ctx, runID, key, q)
}

type metricBackend struct{ s *Store }

func (b *metricBackend) RunExists(ctx context.Context, id string) (bool, error) {
	return runExists(ctx, b.s.pool, id)
}

func runExists(ctx context.Context, q rowQuerierOne, id string) (bool, error) {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (b *metricBackend) BeginWrite(ctx context.Context) (metricengine.WriteTx, error) {
	tx, err := b.s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &writeTx{tx: tx}, nil
}

// writeTx queues writes that return nothing and sends them together.
type writeTx struct {
	tx     pgx.Tx
	batch  pgx.Batch
	checks []func(pgconn.CommandTag, error) error
}

func (w *writeTx) queue(check func(pgconn.CommandTag, error) error, sql string, args ...any) {
	w.batch.Queue(sql, args...)
	w.checks = append(w.checks, check)
}

// flush sends the queued statements and checks each one's outcome.
func (w *writeTx) flush(ctx context.Context) error {
	if len(w.checks) == 0 {
		return nil
	}
	br := w.tx.SendBatch(ctx, &w.batch)
	var first error
	for _, check := range w.checks {
		tag, err := br.Exec()
		if err := check(tag, err); err != nil && first == nil {
			first = err
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	w.batch, w.checks = pgx.Batch{}, nil
	return staleIfDeadlock(first)
}

// staleIfDeadlock makes a deadlock between writers of two servers (each
// locking runs of its group) ErrStale: the engine writes the group again.
func staleIfDeadlock(err error) error {
	if pgCode(err) == "40P01" {
		return fmt.Errorf("%w: %v", metricengine.ErrStale, err)
	}
	return err
}

func staleIfTaken(tag pgconn.CommandTag, err error) error {
	if isUniqueViolation(err) {
		return metricengine.ErrStale
	}
	return err
}

func staleIfNone(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() == 0 {
		return metricengine.ErrStale
	}
	return err
}

func plain(_ pgconn.CommandTag, err error) error { return err }

func (w *writeTx) RecordBatch(ctx context.Context, runID, batchID string) (bool, error) {
	if err := w.flush(ctx); err != nil {
		return false, err
	}
	tag, err := w.tx.Exec(ctx, `INSERT INTO metric_batches (run_id, batch_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, runID, batchID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

func (w *writeTx) Series(ctx context.Context, runID, key string) (metricengine.SeriesRow, bool, error) {
	var row metricengine.SeriesRow
	if err := w.flush(ctx); err != nil {
		return row, false, err
	}
	var last, mn, mx float64
	err := w.tx.QueryRow(ctx, `SELECT id, count, last, last_step, last_time, min, max, next_seq, tail_start, tail_small, version,
			(SELECT coalesce(max(max_step), -9223372036854775808) FROM chunks WHERE series_id = series.id),
			(SELECT coalesce(max(max_time), -9223372036854775808) FROM chunks WHERE series_id = series.id)
		FROM series WHERE run_id = $1 AND key = $2 FOR UPDATE`, runID, key).Scan(
		&row.ID, &row.Summary.Count, &last, &row.Summary.LastStep, &row.Summary.LastTime, &mn, &mx, &row.NextSeq, &row.TailStart, &row.TailN, &row.Version,
		&row.MaxStep, &row.MaxTime)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, false, nil
	}
	if err != nil {
		return row, false, staleIfDeadlock(err)
	}
	row.Summary.Last, row.Summary.Min, row.Summary.Max = trainyard.Float(last), trainyard.Float(mn), trainyard.Float(mx)
	return row, true, nil
}

func (w *writeTx) Run(ctx context.Context, runID string) (map[string]any, map[string]string, bool, error) {
	if err := w.flush(ctx); err != nil {
		return nil, nil, false, err
	}
	var config, tags string
	err := w.tx.QueryRow(ctx, `SELECT config, tags FROM runs WHERE id = $1 FOR UPDATE`, runID).Scan(&config, &tags)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, staleIfDeadlock(err)
	}
	var cfg map[string]any
	var tg map[string]string
	if err := decodeJSONColumns("run "+runID, config, &cfg, tags, &tg); err != nil {
		return nil, nil, false, err
	}
	return cfg, tg, true, nil
}

func (w *writeTx) UpdateRun(ctx context.Context, runID string, f metricengine.RunFields) error {
	cb, err := json.Marshal(f.Config)
	if err != nil {
		return trainyard.FieldError("params", "cannot be stored as JSON: %v", err)
	}
	tb, _ := json.Marshal(f.Tags)
	if f.Name != nil {
		_, err = w.tx.Exec(ctx, `UPDATE runs SET config = $1, tags = $2, name = $3, name_lower = $4 WHERE id = $5`,
			string(cb), string(tb), *f.Name, strings.ToLower(*f.Name), runID)
	} else {
		_, err = w.tx.Exec(ctx, `UPDATE runs SET config = $1, tags = $2 WHERE id = $3`, string(cb), string(tb), runID)
	}
	if err != nil {
		return staleIfDeadlock(err)
	}
	if err := writeParams(ctx, w.tx, runID, f.NewParams, false); err != nil {
		return err
	}
	return writeTags(ctx, w.tx, runID, f.NewTags, false)
}

func (w *writeTx) CreateSeries(ctx context.Context, runID, key string) (int64, error) {
	if err := w.flush(ctx); err != nil {
		return 0, err
	}
	var id int64
	err := w.tx.QueryRow(ctx, `INSERT INTO series (run_id, key) VALUES ($1, $2) RETURNING id`, runID, key).Scan(&id)
	if isUniqueViolation(err) {
		return 0, metricengine.ErrStale // another server made it meanwhile
	}
	return id, err
}

func (w *writeTx) InsertChunk(ctx context.Context, seriesID int64, c metricengine.Chunk) error {
	w.queue(staleIfTaken, `INSERT INTO chunks (series_id, seq, count, min_step, max_step, lod, data, min_time, max_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		seriesID, c.Seq, c.Meta.Count, c.Meta.MinStep, c.Meta.MaxStep, c.LOD, c.Data, c.MinTime, c.MaxTime)
	return nil
}

func (w *writeTx) NearChunks(ctx context.Context, seriesID, minStep, maxStep, minTime, maxTime int64, fn func(data []byte) error) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	rows, err := w.tx.Query(ctx, `SELECT data FROM chunks WHERE series_id = $1 AND max_step >= $2 AND min_step <= $3 AND max_time >= $4 AND min_time <= $5 ORDER BY seq`,
		seriesID, minStep, maxStep, minTime, maxTime)
	if err != nil {
		return err
	}
	return eachBytes(rows, func(_ int64, data []byte) error { return fn(data) }, false)
}

func (w *writeTx) TailChunks(ctx context.Context, seriesID, fromSeq int64, fn func(data []byte) error) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	rows, err := w.tx.Query(ctx, `SELECT data FROM chunks WHERE series_id = $1 AND seq >= $2 ORDER BY seq`, seriesID, fromSeq)
	if err != nil {
		return err
	}
	return eachBytes(rows, func(_ int64, data []byte) error { return fn(data) }, false)
}

// eachBytes calls fn with the bytea column of each row (and the bigint
// before it, when withSeq), without copying it when it came in binary.
func eachBytes(rows pgx.Rows, fn func(seq int64, data []byte) error, withSeq bool) error {
	defer rows.Close()
	col := 0
	if withSeq {
		col = 1
	}
	binary := len(rows.FieldDescriptions()) > col && rows.FieldDescriptions()[col].Format == pgx.BinaryFormatCode
	for rows.Next() {
		var seq int64
		var data []byte
		if withSeq || !binary {
			var scanned []byte
			dst := []any{&scanned}
			if withSeq {
				dst = []any{&seq, &scanned}
			}
			if err := rows.Scan(dst...); err != nil {
				return err
			}
			data = scanned
		} else {
			data = rows.RawValues()[col]
		}
		if err := fn(seq, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (w *writeTx) DeleteChunks(ctx context.Context, seriesID, fromSeq int64) error {
	w.queue(plain, `DELETE FROM chunks WHERE series_id = $1 AND seq >= $2`, seriesID, fromSeq)
	return nil
}

func (w *writeTx) UpdateSeries(ctx context.Context, row metricengine.SeriesRow) error {
	m := row.Summary
	w.queue(staleIfNone, `UPDATE series SET count = $1, last = $2, last_step = $3, last_time = $4, min = $5, max = $6,
		next_seq = $7, tail_start = $8, tail_small = $9, version = $10 WHERE id = $11 AND version = $12`,
		m.Count, float64(m.Last), m.LastStep, m.LastTime, float64(m.Min), float64(m.Max), row.NextSeq, row.TailStart, row.TailN, row.Version, row.ID, row.Version-1)
	return nil
}

func (w *writeTx) Commit(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	return wrap(w.tx.Commit(ctx), "commit")
}

func (w *writeTx) Rollback() { w.tx.Rollback(context.Background()) }

func (b *metricBackend) BeginRead(ctx context.Context) (metricengine.ReadTx, error) {
	tx, err := b.s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	return readTx{tx}, nil
}

type readTx struct{ tx pgx.Tx }

func (r readTx) SeriesID(ctx context.Context, runID, key string) (int64, bool, error) {
	var id int64
	err := r.tx.QueryRow(ctx, `SELECT id FROM series WHERE run_id = $1 AND key = $2`, runID, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (r readTx) RunExists(ctx context.Context, runID string) (bool, error) {
	return runExists(ctx, r.tx, runID)
}

func (r readTx) Chunks(ctx context.Context, id, lo, hi int64) ([]metricengine.ChunkMeta, error) {
	rows, err := r.tx.Query(ctx, `SELECT seq, count, min_step, max_step FROM chunks
		WHERE series_id = $1 AND max_step >= $2 AND min_step <= $3 ORDER BY seq`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var metas []metricengine.ChunkMeta
	for rows.Next() {
		var m metricengine.ChunkMeta
		var count int32
		if err := rows.Scan(&m.Seq, &count, &m.MinStep, &m.MaxStep); err != nil {
			return nil, err
		}
		m.Count = int64(count)
		metas = append(metas, m)
	}
	return metas, rows.Err()
}

func (r readTx) ChunkData(ctx context.Context, id, fromSeq, toSeq int64, fn func(data []byte) error) error {
	rows, err := r.tx.Query(ctx, `SELECT data FROM chunks WHERE series_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return fmt.Errorf("read chunks of series %d: %w", id, err)
	}
	return eachBytes(rows, func(_ int64, data []byte) error { return fn(data) }, false)
}

func (r readTx) ChunkLODs(ctx context.Context, id, fromSeq, toSeq int64, fn func(seq int64, lod []byte) error) error {
	rows, err := r.tx.Query(ctx, `SELECT seq, lod FROM chunks WHERE series_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return err
	}
	return eachBytes(rows, fn, true)
}

func (r readTx) Close() { r.tx.Rollback(context.Background()) }
