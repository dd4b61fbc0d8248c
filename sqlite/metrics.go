package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
)

// compactAfter is how many chunks may pile up at a series' tail before the
// writer merges them into full chunks.
const compactAfter = 16

// maxGroupPoints bounds the points folded into one transaction.
const maxGroupPoints = 4 << 20

// AppendMetrics encodes the batch in the caller's goroutine, then hands it
// to the writer, which commits it with whatever else is waiting.
func (s *Store) AppendMetrics(ctx context.Context, runID string, batch []trainyard.SeriesPoints) error {
	_, err := s.AppendMetricsOnce(ctx, runID, "", batch)
	return err
}

// AppendMetricsOnce records the batch ID in the same transaction as the
// points, so a batch is stored exactly once however often it is sent.
func (s *Store) AppendMetricsOnce(ctx context.Context, runID, batchID string, batch []trainyard.SeriesPoints) (bool, error) {
	if batchID != "" {
		if err := trainyard.ValidateID("batch_id", batchID); err != nil {
			return false, err
		}
	}
	if err := trainyard.ValidateBatch(batch); err != nil {
		return false, err
	}
	if err := s.mw.checkRun(ctx, runID); err != nil {
		return false, err
	}
	req := &appendReq{runID: runID, batchID: batchID, done: make(chan error, 1)}
	for i := range batch {
		sp := &batch[i]
		if sp.Len() == 0 {
			continue
		}
		e := encodedSeries{key: sp.Key}
		e.sum.Observe(sp.Steps, sp.Values, sp.Times)
		for lo := 0; lo < sp.Len(); lo += chunk.TargetSize {
			hi := min(lo+chunk.TargetSize, sp.Len())
			data, meta := chunk.Encode(nil, sp.Steps[lo:hi], sp.Values[lo:hi], sp.Times[lo:hi])
			lod := chunk.EncodeLOD(nil, sp.Steps[lo:hi], sp.Values[lo:hi], sp.Times[lo:hi])
			e.chunks = append(e.chunks, encodedChunk{data: data, lod: lod, meta: meta})
		}
		req.points += sp.Len()
		req.series = append(req.series, e)
	}
	if len(req.series) == 0 && batchID == "" {
		return false, nil
	}
	err := s.mw.submit(ctx, req)
	return req.dup, err
}

type appendReq struct {
	runID   string
	batchID string
	series  []encodedSeries
	points  int
	dup     bool // set by the writer before done: the batch ID was stored before
	done    chan error
}

type encodedSeries struct {
	key    string
	chunks []encodedChunk
	sum    trainyard.MetricSummary
}

type encodedChunk struct {
	data []byte
	lod  []byte
	meta chunk.Meta
}

type seriesKey struct{ run, key string }

// seriesState mirrors a series row; owned by the writer goroutine.
type seriesState struct {
	id        int64
	key       seriesKey
	sum       trainyard.MetricSummary
	nextSeq   int64
	tailStart int64 // first chunk not yet sealed by compaction
	tailN     int64 // chunks from tailStart on
}

// metricWriter is the one goroutine that writes metrics: it folds
// concurrent appends into one transaction (group commit) and compacts
// series tails when idle.
type metricWriter struct {
	s    *Store
	reqs chan *appendReq
	quit chan struct{}
	done chan struct{}

	mu   sync.Mutex
	runs map[string]struct{} // runs known to exist

	series  map[seriesKey]*seriesState // writer goroutine only
	compact map[int64]*seriesState     // writer goroutine only

	// Statements prepared once on the single write connection.
	insChunk, updSeries, selSeries, insSeries, selTail, delTail, insBatch *sql.Stmt
}

var writerStatements = []struct {
	dst func(w *metricWriter) **sql.Stmt
	sql string
}{
	{func(w *metricWriter) **sql.Stmt { return &w.insChunk }, `INSERT INTO chunks (series_id, seq, count, min_step, max_step, lod, data) VALUES (?, ?, ?, ?, ?, ?, ?)`},
	{func(w *metricWriter) **sql.Stmt { return &w.updSeries }, `UPDATE series SET summary = ?, next_seq = ?, tail_start = ?, tail_small = ? WHERE id = ?`},
	{func(w *metricWriter) **sql.Stmt { return &w.selSeries }, `SELECT id, summary, next_seq, tail_start, tail_small FROM series WHERE run_id = ? AND key = ?`},
	{func(w *metricWriter) **sql.Stmt { return &w.insSeries }, `INSERT INTO series (run_id, key, summary) VALUES (?, ?, '{}')`},
	{func(w *metricWriter) **sql.Stmt { return &w.selTail }, `SELECT data FROM chunks WHERE series_id = ? AND seq >= ? ORDER BY seq`},
	{func(w *metricWriter) **sql.Stmt { return &w.delTail }, `DELETE FROM chunks WHERE series_id = ? AND seq >= ?`},
	{func(w *metricWriter) **sql.Stmt { return &w.insBatch }, `INSERT OR IGNORE INTO metric_batches (run_id, batch_id) VALUES (?, ?)`},
}

func newMetricWriter(ctx context.Context, s *Store) (*metricWriter, error) {
	w := &metricWriter{
		s: s, reqs: make(chan *appendReq, 1024), quit: make(chan struct{}), done: make(chan struct{}),
		runs: map[string]struct{}{}, series: map[seriesKey]*seriesState{}, compact: map[int64]*seriesState{},
	}
	for _, st := range writerStatements {
		stmt, err := s.w.PrepareContext(ctx, st.sql)
		if err != nil {
			w.closeStatements()
			return nil, fmt.Errorf("prepare %q: %w", st.sql, err)
		}
		*st.dst(w) = stmt
	}
	go w.loop()
	return w, nil
}

func (w *metricWriter) closeStatements() {
	for _, st := range writerStatements {
		if p := *st.dst(w); p != nil {
			p.Close()
		}
	}
}

func (w *metricWriter) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
	w.closeStatements()
}

func (w *metricWriter) knownRun(id string) {
	w.mu.Lock()
	if len(w.runs) > 1_000_000 {
		clear(w.runs)
	}
	w.runs[id] = struct{}{}
	w.mu.Unlock()
}

func (w *metricWriter) checkRun(ctx context.Context, id string) error {
	w.mu.Lock()
	_, ok := w.runs[id]
	w.mu.Unlock()
	if ok {
		return nil
	}
	var one int
	err := w.s.r.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return fmt.Errorf("look up run %s: %w", id, err)
	}
	w.knownRun(id)
	return nil
}

var errClosed = trainyard.Errorf(trainyard.EUNAVAILABLE, "the store is shutting down")

func (w *metricWriter) submit(ctx context.Context, r *appendReq) error {
	select {
	case w.reqs <- r:
	case <-w.quit:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The write may still land; it was not acknowledged.
		return ctx.Err()
	}
}

func (w *metricWriter) loop() {
	defer close(w.done)
	for {
		var first *appendReq
		if len(w.compact) > 0 {
			select {
			case first = <-w.reqs:
			case <-w.quit:
				w.drain()
				return
			default:
				w.compactIdle()
				continue
			}
		} else {
			select {
			case first = <-w.reqs:
			case <-w.quit:
				w.drain()
				return
			}
		}
		group := []*appendReq{first}
		points := first.points
	fill:
		for points < maxGroupPoints && len(group) < 512 {
			select {
			case r := <-w.reqs:
				group = append(group, r)
				points += r.points
			default:
				break fill
			}
		}
		w.commit(group)
	}
}

func (w *metricWriter) drain() {
	for {
		select {
		case r := <-w.reqs:
			r.done <- errClosed
		default:
			return
		}
	}
}

// commit writes a group in one transaction. If the group fails, each
// request is retried alone so that one bad request fails only itself.
func (w *metricWriter) commit(group []*appendReq) {
	err := w.commitGroup(group)
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for _, r := range group {
		r.done <- w.commitGroup([]*appendReq{r})
	}
}

func (w *metricWriter) commitGroup(group []*appendReq) (err error) {
	ctx := context.Background()
	tx, err := w.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin metrics: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	ins := tx.StmtContext(ctx, w.insChunk)
	touched := map[seriesKey]*seriesState{}
	var order []*seriesState
	for _, r := range group {
		r.dup = false
		if r.batchID != "" {
			res, err := tx.StmtContext(ctx, w.insBatch).ExecContext(ctx, r.runID, r.batchID)
			if err != nil {
				return fmt.Errorf("record batch %s of run %s: %w", r.batchID, r.runID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				r.dup = true
				continue
			}
		}
		for i := range r.series {
			e := &r.series[i]
			k := seriesKey{r.runID, e.key}
			st := touched[k]
			if st == nil {
				base, err := w.lookup(ctx, tx, k)
				if err != nil {
					return err
				}
				cp := *base
				st = &cp
				touched[k] = st
				order = append(order, st)
			}
			for _, c := range e.chunks {
				if _, err := ins.ExecContext(ctx, st.id, st.nextSeq, c.meta.Count, c.meta.MinStep, c.meta.MaxStep, c.lod, c.data); err != nil {
					return fmt.Errorf("insert chunk of %s/%s: %w", k.run, k.key, err)
				}
				if st.tailN == 0 && c.meta.Count == chunk.TargetSize {
					st.tailStart = st.nextSeq + 1 // a full chunk at a clean tail is sealed at once
				} else {
					st.tailN++
				}
				st.nextSeq++
			}
			st.sum.Merge(e.sum)
		}
	}
	// Long tails are merged in the same transaction: one fsync for both.
	for i, st := range order {
		if st.tailN >= compactAfter {
			next, err := w.compactSeries(ctx, tx, st)
			if err != nil {
				return err
			}
			order[i] = next
		}
	}
	for _, st := range order {
		if err := w.updateSeries(ctx, tx, st); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit metrics: %w", err)
	}
	for _, st := range order {
		w.remember(st)
		w.s.index.changed(st.key.run)
	}
	return nil
}

func (w *metricWriter) updateSeries(ctx context.Context, tx *sql.Tx, st *seriesState) error {
	sum, _ := json.Marshal(st.sum)
	_, err := tx.StmtContext(ctx, w.updSeries).ExecContext(ctx, sum, st.nextSeq, st.tailStart, st.tailN, st.id)
	if err != nil {
		return fmt.Errorf("update series %s/%s: %w", st.key.run, st.key.key, err)
	}
	return nil
}

// remember caches a committed series state and queues it for compaction
// when its tail is long.
func (w *metricWriter) remember(st *seriesState) {
	if len(w.series) > 200_000 {
		clear(w.series) // reloaded on demand
	}
	w.series[st.key] = st
	if st.tailN >= compactAfter {
		w.compact[st.id] = st
	}
}

// lookup returns the committed state of a series, creating its row (inside
// tx) if it is new. The caller must copy before changing it.
func (w *metricWriter) lookup(ctx context.Context, tx *sql.Tx, k seriesKey) (*seriesState, error) {
	if st, ok := w.series[k]; ok {
		return st, nil
	}
	st := &seriesState{key: k}
	var sum string
	err := tx.StmtContext(ctx, w.selSeries).QueryRowContext(ctx, k.run, k.key).Scan(&st.id, &sum, &st.nextSeq, &st.tailStart, &st.tailN)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err := tx.StmtContext(ctx, w.insSeries).ExecContext(ctx, k.run, k.key)
		if err != nil {
			return nil, fmt.Errorf("create series %s/%s: %w", k.run, k.key, err)
		}
		if st.id, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		// Not cached until the transaction commits: the caller's copy is.
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("load series %s/%s: %w", k.run, k.key, err)
	}
	if err := json.Unmarshal([]byte(sum), &st.sum); err != nil {
		return nil, fmt.Errorf("decode summary of %s/%s: %w", k.run, k.key, err)
	}
	w.remember(st)
	return st, nil
}

// compactIdle merges the tail of one queued series in a transaction of
// its own; the writer calls it only when no append is waiting.
func (w *metricWriter) compactIdle() {
	var st *seriesState
	for id, s := range w.compact {
		st = s
		delete(w.compact, id)
		break
	}
	if st == nil || w.series[st.key] != st {
		return // replaced by a newer state, which requeues itself
	}
	ctx := context.Background()
	err := func() error {
		tx, err := w.s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		next, err := w.compactSeries(ctx, tx, st)
		if err != nil {
			return err
		}
		if err := w.updateSeries(ctx, tx, next); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		w.remember(next)
		return nil
	}()
	if err != nil {
		slog.Error("compact metric series", "run", st.key.run, "key", st.key.key, "err", err)
		delete(w.series, st.key) // reload from the database next time
	}
}

// compactSeries rewrites the chunks from st.tailStart on as full chunks,
// inside tx, and returns the new state; the caller writes the series row.
func (w *metricWriter) compactSeries(ctx context.Context, tx *sql.Tx, st *seriesState) (*seriesState, error) {
	rows, err := tx.StmtContext(ctx, w.selTail).QueryContext(ctx, st.id, st.tailStart)
	if err != nil {
		return nil, fmt.Errorf("read tail of series %d: %w", st.id, err)
	}
	var p chunk.Points
	for rows.Next() {
		var data sql.RawBytes
		if err := rows.Scan(&data); err != nil {
			rows.Close()
			return nil, err
		}
		if err := chunk.Decode(&p, data); err != nil {
			rows.Close()
			return nil, fmt.Errorf("chunk of series %d: %w", st.id, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.StmtContext(ctx, w.delTail).ExecContext(ctx, st.id, st.tailStart); err != nil {
		return nil, fmt.Errorf("delete tail of series %d: %w", st.id, err)
	}
	next := *st
	next.nextSeq = st.tailStart
	ins := tx.StmtContext(ctx, w.insChunk)
	var buf, lod []byte
	for lo := 0; lo < p.Len(); lo += chunk.TargetSize {
		hi := min(lo+chunk.TargetSize, p.Len())
		var meta chunk.Meta
		buf, meta = chunk.Encode(buf[:0], p.Steps[lo:hi], p.Values[lo:hi], p.Times[lo:hi])
		lod = chunk.EncodeLOD(lod[:0], p.Steps[lo:hi], p.Values[lo:hi], p.Times[lo:hi])
		if _, err := ins.ExecContext(ctx, st.id, next.nextSeq, meta.Count, meta.MinStep, meta.MaxStep, lod, buf); err != nil {
			return nil, fmt.Errorf("write compacted chunk of series %d: %w", st.id, err)
		}
		next.nextSeq++
		if meta.Count == chunk.TargetSize {
			next.tailStart, next.tailN = next.nextSeq, 0
		} else {
			next.tailStart, next.tailN = next.nextSeq-1, 1
		}
	}
	return &next, nil
}
