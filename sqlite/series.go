package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
)

var pointsPool = sync.Pool{New: func() any { return new(chunk.Points) }}

type chunkMeta struct {
	seq              int64
	count            int64
	minStep, maxStep int64
}

// ReadSeries returns points of one series: raw pages, or downsampled with
// min/max kept. It reads in one snapshot, so a concurrent compaction cannot
// tear the answer.
func (s *Store) ReadSeries(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	var id int64
	err = tx.QueryRowContext(ctx, `SELECT id FROM series WHERE run_id = ? AND key = ?`, runID, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", runID)
		}
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no metric %q", runID, key)
	}
	if err != nil {
		return nil, fmt.Errorf("look up series %s/%s: %w", runID, key, err)
	}

	lo, hi := int64(-1<<63), int64(1<<63-1)
	if q.StartStep != nil {
		lo = *q.StartStep
	}
	if q.EndStep != nil {
		hi = *q.EndStep
	}
	metas, err := readMetas(ctx, tx, id, lo, hi)
	if err != nil {
		return nil, err
	}
	out := &trainyard.Series{Key: key, Steps: []int64{}, Values: []float64{}, Times: []int64{}}
	if len(metas) == 0 {
		return out, nil
	}
	filtered := q.StartStep != nil || q.EndStep != nil

	// Raw pages without a step filter skip whole chunks by count.
	if q.MaxPoints <= 0 && !filtered {
		var total int64
		for _, m := range metas {
			total += m.count
		}
		out.Total = total
		first, last, skip := pageChunks(metas, int64(max(q.Offset, 0)), int64(q.Limit))
		if first > last {
			return out, nil
		}
		p := pointsPool.Get().(*chunk.Points)
		defer func() { p.Reset(); pointsPool.Put(p) }()
		if err := decodeRange(ctx, tx, id, metas[first].seq, metas[last].seq, p); err != nil {
			return nil, err
		}
		end := int64(p.Len())
		if q.Limit > 0 {
			end = min(end, skip+int64(q.Limit))
		}
		skip = min(skip, end)
		out.Steps = append(out.Steps, p.Steps[skip:end]...)
		out.Values = append(out.Values, p.Values[skip:end]...)
		out.Times = append(out.Times, p.Times[skip:end]...)
		return out, nil
	}

	minStep, maxStep := metas[0].minStep, metas[0].maxStep
	var count int64
	for _, m := range metas {
		minStep, maxStep = min(minStep, m.minStep), max(maxStep, m.maxStep)
		count += m.count
	}
	lo, hi = max(lo, minStep), min(hi, maxStep)
	if !filtered && q.MaxPoints > 0 && count > int64(q.MaxPoints) {
		// A long series in step order is drawn from its chunks' levels of
		// detail, without decoding a point.
		res, mn, mx, total, ok, err := downsampleLOD(ctx, tx, id, metas, q.MaxPoints)
		if err != nil {
			return nil, err
		}
		if ok {
			out.Total, out.Downsampled = total, true
			out.Steps, out.Values, out.Times, out.Min, out.Max = res.Steps, res.Values, res.Times, mn, mx
			return out, nil
		}
		// Otherwise: stream chunk by chunk through the downsampler, a
		// chunk's points hot in cache, none kept.
		d := chunk.NewDownsampler(q.MaxPoints, lo, hi)
		if err := downsampleRange(ctx, tx, id, metas[0].seq, metas[len(metas)-1].seq, d); err != nil {
			return nil, err
		}
		res, mn, mx, total = d.Result()
		out.Total, out.Downsampled = total, true
		out.Steps, out.Values, out.Times, out.Min, out.Max = res.Steps, res.Values, res.Times, mn, mx
		return out, nil
	}

	p := pointsPool.Get().(*chunk.Points)
	defer func() { p.Reset(); pointsPool.Put(p) }()
	if err := decodeRange(ctx, tx, id, metas[0].seq, metas[len(metas)-1].seq, p); err != nil {
		return nil, err
	}
	var inRange int64
	if filtered {
		for _, st := range p.Steps {
			if st >= lo && st <= hi {
				inRange++
			}
		}
	} else {
		inRange = int64(p.Len())
	}
	out.Total = inRange
	if q.MaxPoints <= 0 || inRange <= int64(q.MaxPoints) {
		// Raw points in write order, filtered by step, then paged.
		skip, limit := int64(max(q.Offset, 0)), int64(q.Limit)
		if q.MaxPoints > 0 {
			skip, limit = 0, 0
		}
		var seen int64
		for i, st := range p.Steps {
			if st < lo || st > hi {
				continue
			}
			seen++
			if seen <= skip {
				continue
			}
			if limit > 0 && int64(len(out.Values)) >= limit {
				break
			}
			out.Steps = append(out.Steps, st)
			out.Values = append(out.Values, p.Values[i])
			out.Times = append(out.Times, p.Times[i])
		}
		return out, nil
	}
	d := chunk.NewDownsampler(q.MaxPoints, lo, hi)
	d.Add(p.Steps, p.Values, p.Times)
	res, mn, mx, _ := d.Result()
	out.Downsampled = true
	out.Steps, out.Values, out.Times, out.Min, out.Max = res.Steps, res.Values, res.Times, mn, mx
	return out, nil
}

func readMetas(ctx context.Context, tx *sql.Tx, id, lo, hi int64) ([]chunkMeta, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, count, min_step, max_step FROM chunks
		WHERE series_id = ? AND max_step >= ? AND min_step <= ? ORDER BY seq`, id, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read chunk index of series %d: %w", id, err)
	}
	defer rows.Close()
	var metas []chunkMeta
	for rows.Next() {
		var m chunkMeta
		if err := rows.Scan(&m.seq, &m.count, &m.minStep, &m.maxStep); err != nil {
			return nil, err
		}
		metas = append(metas, m)
	}
	return metas, rows.Err()
}

// pageChunks finds the chunks that hold points [offset, offset+limit) and
// how many points of the first to skip. limit 0 means to the end.
func pageChunks(metas []chunkMeta, offset, limit int64) (first, last int, skip int64) {
	first, last = len(metas), -1
	var pos int64
	for i, m := range metas {
		end := pos + m.count
		if end > offset && (limit <= 0 || pos < offset+limit) {
			if first == len(metas) {
				first, skip = i, offset-pos
			}
			last = i
		}
		pos = end
	}
	return first, last, skip
}

func decodeRange(ctx context.Context, tx *sql.Tx, id, fromSeq, toSeq int64, p *chunk.Points) error {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return fmt.Errorf("read chunks of series %d: %w", id, err)
	}
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		if err := chunk.Decode(p, data); err != nil {
			return fmt.Errorf("series %d: %w", id, err)
		}
	}
	return rows.Err()
}

// downsampleRange feeds chunks fromSeq..toSeq to d one at a time.
func downsampleRange(ctx context.Context, tx *sql.Tx, id, fromSeq, toSeq int64, d *chunk.Downsampler) error {
	rows, err := tx.QueryContext(ctx, `SELECT data FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`, id, fromSeq, toSeq)
	if err != nil {
		return fmt.Errorf("read chunks of series %d: %w", id, err)
	}
	defer rows.Close()
	p := pointsPool.Get().(*chunk.Points)
	defer func() { p.Reset(); pointsPool.Put(p) }()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return err
		}
		p.Reset()
		if err := chunk.Decode(p, data); err != nil {
			return fmt.Errorf("series %d: %w", id, err)
		}
		d.Add(p.Steps, p.Values, p.Times)
	}
	return rows.Err()
}

// downsampleLOD downsamples from the chunks' levels of detail when that is
// exact and worth it: the series has at least two blocks a bucket, its steps
// never decrease (buckets of consecutive blocks are then ranges of steps),
// and every chunk has its summary. ok is false when it does not apply.
func downsampleLOD(ctx context.Context, tx *sql.Tx, id int64, metas []chunkMeta, maxPoints int) (p chunk.Points, mn, mx []float64, total int64, ok bool, err error) {
	blocks := 0
	for i, m := range metas {
		blocks += int(m.count+chunk.BlockSize-1) / chunk.BlockSize
		if i > 0 && m.minStep < metas[i-1].maxStep {
			return p, nil, nil, 0, false, nil
		}
	}
	if blocks < 2*maxPoints { // a bucket of one block is too coarse a cut: decode instead
		return p, nil, nil, 0, false, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, lod FROM chunks WHERE series_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
		id, metas[0].seq, metas[len(metas)-1].seq)
	if err != nil {
		return p, nil, nil, 0, false, fmt.Errorf("read chunk summaries of series %d: %w", id, err)
	}
	defer rows.Close()
	all := make([]chunk.Block, 0, blocks)
	i := 0
	var data sql.RawBytes
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq, &data); err != nil {
			return p, nil, nil, 0, false, err
		}
		if i >= len(metas) || seq != metas[i].seq || data == nil {
			return p, nil, nil, 0, false, nil // a chunk written before summaries
		}
		var mono bool
		if all, mono, err = chunk.DecodeLOD(all, data); err != nil {
			return p, nil, nil, 0, false, fmt.Errorf("series %d chunk %d: %w", id, seq, err)
		}
		if !mono {
			return p, nil, nil, 0, false, nil
		}
		i++
	}
	if err := rows.Err(); err != nil || i != len(metas) {
		return p, nil, nil, 0, false, err
	}
	p, mn, mx, total = chunk.DownsampleBlocks(all, maxPoints)
	return p, mn, mx, total, true, nil
}
