package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricengine"
)

// Metrics go through the shared engine (package metricengine): this file
// is its SQL. SQLite has one writer (the data directory's lock keeps a
// second server out, and the store has one write connection), so series
// rows carry no version: an update never finds another writer's.

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

// metricBackend is the engine's view of the store.
type metricBackend struct {
	s *Store
	// Statements prepared once on the single write connection.
	insChunk, updSeries, selSeries, insSeries, selTail, delTail, insBatch, selRange, selNear *sql.Stmt
}

var writerStatements = []struct {
	dst func(b *metricBackend) **sql.Stmt
	sql string
}{
	{func(b *metricBackend) **sql.Stmt { return &b.insChunk }, `INSERT INTO chunks (series_id, seq, count, min_step, max_step, lod, data, min_time, max_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	{func(b *metricBackend) **sql.Stmt { return &b.updSeries }, `UPDATE series SET summary = ?, next_seq = ?, tail_start = ?, tail_small = ? WHERE id = ?`},
	{func(b *metricBackend) **sql.Stmt { return &b.selSeries }, `SELECT id, summary, next_seq, tail_start, tail_small FROM series WHERE run_id = ? AND key = ?`},
	{func(b *metricBackend) **sql.Stmt { return &b.insSeries }, `INSERT INTO series (run_id, key, summary) VALUES (?, ?, '{}')`},
	{func(b *metricBackend) **sql.Stmt { return &b.selTail }, `SELECT data FROM chunks WHERE series_id = ? AND seq >= ? ORDER BY seq`},
	{func(b *metricBackend) **sql.Stmt { return &b.delTail }, `DELETE FROM chunks WHERE series_id = ? AND seq >= ?`},
	{func(b *metricBackend) **sql.Stmt { return &b.insBatch }, `INSERT OR IGNORE INTO metric_batches (run_id, batch_id) VALUES (?, ?)`},
	// The largest step and time stored; chunks from before migration 5
	// have no time range, which makes the time unknown (MaxInt64).
	{func(b *metricBackend) **sql.Stmt { return &b.selRange }, `SELECT coalesce(max(max_step), -9223372036854775808), CASE WHEN count(*) = count(max_time) THEN coalesce(max(max_time), -9223372036854775808) ELSE 9223372036854775807 END FROM chunks WHERE series_id = ?`},
	{func(b *metricBackend) **sql.Stmt { return &b.selNear }, `SELECT data FROM chunks WHERE series_id = ? AND max_step >= ? AND min_step <= ? AND (max_time IS NULL OR (max_time >= ? AND min_time <= ?)) ORDER BY seq`},
}

func newMetricBackend(ctx context.Context, s *Store) (*metricBackend, error) {
	b := &metricBackend{s: s}
	for _, st := range writerStatements {
		stmt, err := s.w.PrepareContext(ctx, st.sql)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("prepare %q: %w", st.sql, err)
		}
		*st.dst(b) = stmt
	}
	return b, nil
}

func (b *metricBackend) close() {
	for _, st := range writerStatements {
		if p := *st.dst(b); p != nil {
			p.Close()
		}
	}
}

func (b *metricBackend) RunExists(ctx context.Context, id string) (bool, error) {
	return runExists(ctx, b.s.r, id)
}

func runExists(ctx context.Context, q querier, id string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (b *metricBackend) BeginWrite(ctx context.Context) (metricengine.WriteTx, error) {
	tx, err := b.s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &writeTx{b: b, tx: tx}, nil
}

type writeTx struct {
	b  *metricBackend
	tx *sql.Tx
	// Statements bound to tx, made on first use.
	ins, upd *sql.Stmt
}

func (w *writeTx) RecordBatch(ctx context.Context, runID, batchID string) (bool, error) {
	res, err := w.tx.StmtContext(ctx, w.b.insBatch).ExecContext(ctx, runID, batchID)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (w *writeTx) Series(ctx context.Context, runID, key string) (metricengine.SeriesRow, bool, error) {
	var row metricengine.SeriesRow
	var sum string
	err := w.tx.StmtContext(ctx, w.b.selSeries).QueryRowContext(ctx, runID, key).Scan(&row.ID, &sum, &row.NextSeq, &row.TailStart, &row.TailN)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	if err != nil {
		return row, false, err
	}
	if err := json.Unmarshal([]byte(sum), &row.Summary); err != nil {
		return row, false, fmt.Errorf("decode summary: %w", err)
	}
	if err := w.tx.StmtContext(ctx, w.b.selRange).QueryRowContext(ctx, row.ID).Scan(&row.MaxStep, &row.MaxTime); err != nil {
		return row, false, fmt.Errorf("read the ranges of series %d: %w", row.ID, err)
	}
	return row, true, nil
}

func (w *writeTx) Run(ctx context.Context, runID string) (map[string]any, map[string]string, bool, error) {
	var config, tags string
	err := w.tx.QueryRowContext(ctx, `SELECT config, tags FROM runs WHERE id = ?`, runID).Scan(&config, &tags)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	var cfg map[string]any
	var tg map[string]string
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		return nil, nil, false, fmt.Errorf("decode config of run %s: %w", runID, err)
	}
	if err := json.Unmarshal([]byte(tags), &tg); err != nil {
		return nil, nil, false, fmt.Errorf("decode tags of run %s: %w", runID, err)
	}
	return cfg, tg, true, nil
}

func (w *writeTx) UpdateRun(ctx context.Context, runID string, f metricengine.RunFields) error {
	cb, err := json.Marshal(f.Config)
	if err != nil {
		return trainyard.FieldError("params", "cannot be stored as JSON: %v", err)
	}
	tb, _ := json.Marshal(f.Tags)
	q, args := `UPDATE runs SET config = ?, tags = ? WHERE id = ?`, []any{cb, tb, runID}
	if f.Name != nil {
		q, args = `UPDATE runs SET config = ?, tags = ?, name = ? WHERE id = ?`, []any{cb, tb, *f.Name, runID}
	}
	_, err = w.tx.ExecContext(ctx, q, args...)
	return err
}

func (w *writeTx) CreateSeries(ctx context.Context, runID, key string) (int64, error) {
	res, err := w.tx.StmtContext(ctx, w.b.insSeries).ExecContext(ctx, runID, key)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func (w *writeTx) InsertChunk(ctx context.Context, seriesID int64, c metricengine.Chunk) error {
	if w.ins == nil {
		w.ins = w.tx.StmtContext(ctx, w.b.insChunk)
	}
	_, err := w.ins.ExecContext(ctx, seriesID, c.Seq, c.Meta.Count, c.Meta.MinStep, c.Meta.MaxStep, c.LOD, c.Data, c.MinTime, c.MaxTime)
	return err
}

func (w *writeTx) NearChunks(ctx context.Context, seriesID, minStep, maxStep, minTime, maxTime int64, fn func(data []byte) error) error {
	rows, err := w.tx.StmtContext(ctx, w.b.selNear).QueryContext(ctx, seriesID, minStep, maxStep, minTime, maxTime)
	if err != nil {
		return err
	}
	return eachBlob(rows, fn)
}

func (w *writeTx) TailChunks(ctx context.Context, seriesID, fromSeq int64, fn func(data []byte) error) error {
	rows, err := w.tx.StmtContext(ctx, w.b.selTail).QueryContext(ctx, seriesID, fromSeq)
	if err != nil {
		return err
	}
	return eachBlob(rows, fn)
}

func eachBlob(rows *sql.Rows, fn func(data []byte) error) error {
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		if err := fn(data); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (w *writeTx) DeleteChunks(ctx context.Context, seriesID, fromSeq int64) error {
	_, err := w.tx.StmtContext(ctx, w.b.delTail).ExecContext(ctx, seriesID, fromSeq)
	return err
}

func (w *writeTx) UpdateSeries(ctx context.Context, row metricengine.SeriesRow) error {
	if w.upd == nil {
		w.upd = w.tx.StmtContext(ctx, w.b.updSeries)
	}
	sum := appendSummary(make([]byte, 0, 128), &row.Summary)
	_, err := w.upd.ExecContext(ctx, sum, row.NextSeq, row.TailStart, row.TailN, row.ID)
	return err
}

// appendSummary appends m as json.Marshal writes it, without reflection:
// the writer writes one for every series a commit touches.
func appendSummary(b []byte, m *trainyard.MetricSummary) []byte {
	b = strconv.AppendInt(append(b, `{"count":`...), m.Count, 10)
	b = trainyard.AppendFloat(append(b, `,"last":`...), float64(m.Last))
	b = strconv.AppendInt(append(b, `,"last_step":`...), m.LastStep, 10)
	b = strconv.AppendInt(append(b, `,"last_time":`...), m.LastTime, 10)
	b = trainyard.AppendFloat(append(b, `,"min":`...), float64(m.Min))
	b = trainyard.AppendFloat(append(b, `,"max":`...), float64(m.Max))
	return append(b, '}')
}

func (w *writeTx) Commit(ctx context.Context) error { return w.tx.Commit() }
func (w *writeTx) Rollback()                        { w.tx.Rollback() }

func (b *metricBackend) BeginRead(ctx context.Context) (metricengine.ReadTx, error) {
	tx, err := b.s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	return readTx{tx}, nil
}

type readTx struct{ tx *sql.Tx }

func (r readTx) SeriesID(ctx context.Context, runID, key string) (int64, bool, error) {
	var id int64
	err := r.tx.QueryRowContext(ctx, `SELECT id FROM series WHERE run_id = ? AND key = ?`, runID, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (r readTx) RunExists(ctx context.Context, runID string) (bool, error) {
	return runExists(ctx, r.tx, runID)
}

func (r readTx) Chunks(ctx context.Context, id, lo, hi int64) ([]metricengine.ChunkMeta, error) {
	rows, err := r.tx.QueryContext(ctx, `SELECT seq, count, min_step, max_step FROM chunks
		WHERE series_id = ? AND max_step >= ? AND min_step <= ? ORDER BY seq`, id, lo, hi)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var metas []metricengine.ChunkMeta
	for rows.Next() {
		var m metricengine.ChunkMeta
		if err := rows.Scan(&m.Seq, &m.Count, &m.MinStep, &m.MaxStep); err != nil {
			return nil, err
		}
		metas = append(metas, m)
	}
	return metas, rows.Err()
}

func (r readTx) ChunkData(ctx context.Context, id, fromSeq, toSeq int64, fn func(data []byte) error) error {
	rows, err := r.tx.QueryContext(ctx, `SELECT data FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return err
	}
	return eachBlob(rows, fn)
}

func (r readTx) ChunkLODs(ctx context.Context, id, fromSeq, toSeq int64, fn func(seq int64, lod []byte) error) error {
	rows, err := r.tx.QueryContext(ctx, `SELECT seq, lod FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	var lod sql.RawBytes
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq, &lod); err != nil {
			return err
		}
		if err := fn(seq, lod); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (r readTx) Close() { r.tx.Rollback() }
