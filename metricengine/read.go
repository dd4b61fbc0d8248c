package metricengine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
)

// errStop ends a walk over chunks early.
var errStop = errors.New("stop")

var pointsPool = sync.Pool{New: func() any { return new(chunk.Points) }}

func getPoints() *chunk.Points { return pointsPool.Get().(*chunk.Points) }

func putPoints(p *chunk.Points) {
	p.Reset()
	pointsPool.Put(p)
}

// Read returns points of one series: raw pages, or downsampled with min
// and max kept (see trainyard.SeriesQuery). It reads in one snapshot, so
// a concurrent compaction cannot tear the answer. Returns ENOTFOUND if the
// run or the key does not exist.
func (e *Engine) Read(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	tx, err := e.b.BeginRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	defer tx.Close()
	id, found, err := tx.SeriesID(ctx, runID, key)
	if err != nil {
		return nil, fmt.Errorf("look up series %s/%s: %w", runID, key, err)
	}
	if !found {
		if ok, err := tx.RunExists(ctx, runID); err == nil && !ok {
			return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", runID)
		}
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no metric %q", runID, key)
	}

	lo, hi := int64(-1<<63), int64(1<<63-1)
	if q.StartStep != nil {
		lo = *q.StartStep
	}
	if q.EndStep != nil {
		hi = *q.EndStep
	}
	metas, err := tx.Chunks(ctx, id, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read chunk index of series %d: %w", id, err)
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
			total += m.Count
		}
		out.Total = total
		first, last, skip := pageChunks(metas, int64(max(q.Offset, 0)), int64(q.Limit))
		if first > last {
			return out, nil
		}
		p := getPoints()
		defer putPoints(p)
		if err := decodeRange(ctx, tx, id, metas[first].Seq, metas[last].Seq, p); err != nil {
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

	minStep, maxStep := metas[0].MinStep, metas[0].MaxStep
	var count int64
	for _, m := range metas {
		minStep, maxStep = min(minStep, m.MinStep), max(maxStep, m.MaxStep)
		count += m.Count
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
		p := getPoints()
		defer putPoints(p)
		err = tx.ChunkData(ctx, id, metas[0].Seq, metas[len(metas)-1].Seq, func(data []byte) error {
			p.Reset()
			if err := chunk.Decode(p, data); err != nil {
				return fmt.Errorf("series %d: %w", id, err)
			}
			d.Add(p.Steps, p.Values, p.Times)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read chunks of series %d: %w", id, err)
		}
		res, mn, mx, total = d.Result()
		out.Total, out.Downsampled = total, true
		out.Steps, out.Values, out.Times, out.Min, out.Max = res.Steps, res.Values, res.Times, mn, mx
		return out, nil
	}

	p := getPoints()
	defer putPoints(p)
	if err := decodeRange(ctx, tx, id, metas[0].Seq, metas[len(metas)-1].Seq, p); err != nil {
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

// pageChunks finds the chunks that hold points [offset, offset+limit) and
// how many points of the first to skip. limit 0 means to the end.
func pageChunks(metas []ChunkMeta, offset, limit int64) (first, last int, skip int64) {
	first, last = len(metas), -1
	var pos int64
	for i, m := range metas {
		end := pos + m.Count
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

func decodeRange(ctx context.Context, tx ReadTx, id, fromSeq, toSeq int64, p *chunk.Points) error {
	err := tx.ChunkData(ctx, id, fromSeq, toSeq, func(data []byte) error {
		if err := chunk.Decode(p, data); err != nil {
			return fmt.Errorf("series %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read chunks of series %d: %w", id, err)
	}
	return nil
}

// downsampleLOD downsamples from the chunks' levels of detail when that is
// exact and worth it: the series has at least two blocks a bucket, its steps
// never decrease (buckets of consecutive blocks are then ranges of steps),
// and every chunk has its summary. ok is false when it does not apply.
func downsampleLOD(ctx context.Context, tx ReadTx, id int64, metas []ChunkMeta, maxPoints int) (p chunk.Points, mn, mx []float64, total int64, ok bool, err error) {
	blocks := 0
	for i, m := range metas {
		blocks += int(m.Count+chunk.BlockSize-1) / chunk.BlockSize
		if i > 0 && m.MinStep < metas[i-1].MaxStep {
			return p, nil, nil, 0, false, nil
		}
	}
	if blocks < 2*maxPoints { // a bucket of one block is too coarse a cut: decode instead
		return p, nil, nil, 0, false, nil
	}
	all := make([]chunk.Block, 0, blocks)
	i := 0
	usable := true
	err = tx.ChunkLODs(ctx, id, metas[0].Seq, metas[len(metas)-1].Seq, func(seq int64, lod []byte) error {
		if i >= len(metas) || seq != metas[i].Seq || lod == nil {
			usable = false // a chunk written before summaries
			return errStop
		}
		var mono bool
		var err error
		if all, mono, err = chunk.DecodeLOD(all, lod); err != nil {
			return fmt.Errorf("series %d chunk %d: %w", id, seq, err)
		}
		if !mono {
			usable = false
			return errStop
		}
		i++
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return p, nil, nil, 0, false, fmt.Errorf("read chunk summaries of series %d: %w", id, err)
	}
	if !usable || i != len(metas) {
		return p, nil, nil, 0, false, nil
	}
	p, mn, mx, total = chunk.DownsampleBlocks(all, maxPoints)
	return p, mn, mx, total, true, nil
}
