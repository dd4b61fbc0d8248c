package metricengine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
	"github.com/trainyard/trainyard/runquery"
)

// CompactAfter is how many chunks may pile up at a series' tail before the
// writer merges them into full chunks.
const CompactAfter = 16

// maxGroupPoints bounds the points folded into one transaction.
const maxGroupPoints = 4 << 20

// maxGroupRequests bounds the requests folded into one transaction.
const maxGroupRequests = 512

// staleRetries is how often a group is written again after another process
// changed one of its series.
const staleRetries = 8

// Options tune an Engine. The zero value is the default.
type Options struct {
	// OnCommit, when set, is called by the writer after each commit with
	// the runs whose series it changed (a store's search index learns of
	// new summaries this way). It must not block.
	OnCommit func(runIDs []string)
	Logger   *slog.Logger
}

// Engine writes and reads the metric series of one store. Create it with
// New; it runs one writer goroutine until Close.
type Engine struct {
	b    Backend
	opt  Options
	reqs chan *appendReq
	quit chan struct{}
	done chan struct{}

	mu   sync.Mutex
	runs map[string]struct{} // runs known to exist (runs are never removed)

	series  map[seriesKey]*SeriesRow // committed rows; writer goroutine only
	compact map[seriesKey]*SeriesRow // rows whose tail is long; writer goroutine only
}

// ErrClosed answers appends after Close.
var ErrClosed = trainyard.Errorf(trainyard.EUNAVAILABLE, "the store is shutting down")

// New starts an engine over b.
func New(b Backend, opt Options) *Engine {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	e := &Engine{
		b: b, opt: opt, reqs: make(chan *appendReq, 1024), quit: make(chan struct{}), done: make(chan struct{}),
		runs: map[string]struct{}{}, series: map[seriesKey]*SeriesRow{}, compact: map[seriesKey]*SeriesRow{},
	}
	go e.loop()
	return e
}

// Close stops the writer: appends waiting for it fail with ErrClosed.
func (e *Engine) Close() {
	select {
	case <-e.quit:
	default:
		close(e.quit)
	}
	<-e.done
}

// KnownRun tells the engine that a run exists, sparing the look-up of its
// first append.
func (e *Engine) KnownRun(id string) {
	e.mu.Lock()
	if len(e.runs) > 1_000_000 {
		clear(e.runs)
	}
	e.runs[id] = struct{}{}
	e.mu.Unlock()
}

func (e *Engine) checkRun(ctx context.Context, id string) error {
	e.mu.Lock()
	_, ok := e.runs[id]
	e.mu.Unlock()
	if ok {
		return nil
	}
	ok, err := e.b.RunExists(ctx, id)
	if err != nil {
		return fmt.Errorf("look up run %s: %w", id, err)
	}
	if !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	e.KnownRun(id)
	return nil
}

// Append encodes the batch in the caller's goroutine, then hands it to the
// writer, which commits it with whatever else is waiting (group commit)
// and answers once it is durable. A batchID (optional) is recorded in the
// same transaction: a batch the run already stored stores nothing and
// reports dup. A point identical to one the series holds (step, time and
// value; NaN equals NaN), or to an earlier one of the batch, is stored
// once, as MLflow's store keeps it. See trainyard.MetricStore.
func (e *Engine) Append(ctx context.Context, runID, batchID string, batch []trainyard.SeriesPoints) (dup bool, err error) {
	req, err := e.request(ctx, runID, batchID, batch)
	if err != nil {
		return false, err
	}
	if len(req.series) == 0 && batchID == "" {
		return false, nil
	}
	err = e.submit(ctx, req)
	return req.dup, err
}

// LogBatch writes a batch's params, tags, name and points to a run in one
// transaction (with whatever else is waiting): all of it or nothing. A
// param that holds another value refuses the whole batch (EINVALID,
// naming it); see trainyard.TrackingStore.
func (e *Engine) LogBatch(ctx context.Context, runID string, b trainyard.RunBatch) error {
	req, err := e.request(ctx, runID, "", b.Metrics)
	if err != nil {
		return err
	}
	req.params, req.tags, req.name = b.Params, b.Tags, b.Name
	if len(req.series) == 0 && !req.hasFields() {
		return nil
	}
	return e.submit(ctx, req)
}

// request checks and encodes a batch of points for the writer, in the
// caller's goroutine.
func (e *Engine) request(ctx context.Context, runID, batchID string, batch []trainyard.SeriesPoints) (*appendReq, error) {
	if batchID != "" {
		if err := trainyard.ValidateID("batch_id", batchID); err != nil {
			return nil, err
		}
	}
	if err := trainyard.ValidateBatch(batch); err != nil {
		return nil, err
	}
	if err := e.checkRun(ctx, runID); err != nil {
		return nil, err
	}
	req := &appendReq{runID: runID, batchID: batchID, done: make(chan error, 1)}
	for i := range batch {
		sp := &batch[i]
		if sp.Len() == 0 {
			continue
		}
		steps, values, times := dedupBatch(sp.Steps, sp.Values, sp.Times)
		req.points += len(values)
		req.series = append(req.series, encodeSeries(sp.Key, steps, values, times))
	}
	return req, nil
}

type appendReq struct {
	runID   string
	batchID string
	series  []encodedSeries
	points  int
	dup     bool // set by the writer before done: the batch ID was stored before
	done    chan error
	// A log-batch's params, tags and name, written with its points.
	params, tags map[string]string
	name         *string
}

func (r *appendReq) hasFields() bool { return len(r.params) > 0 || len(r.tags) > 0 || r.name != nil }

type encodedSeries struct {
	key    string
	chunks []encodedChunk
	sum    trainyard.MetricSummary
	// The ranges of the points, to tell whether any can equal a stored
	// one.
	minStep, maxStep, minTime, maxTime int64
}

type encodedChunk struct {
	data             []byte
	lod              []byte
	meta             chunk.Meta
	minTime, maxTime int64
}

// encodeSeries encodes points of one series into chunks. The points are
// not kept (the caller may reuse its slices once Append returns, even
// early): what the writer needs of them again it decodes from the chunks.
func encodeSeries(key string, steps []int64, values []float64, times []int64) encodedSeries {
	e := encodedSeries{key: key, minStep: math.MaxInt64, maxStep: math.MinInt64, minTime: math.MaxInt64, maxTime: math.MinInt64}
	e.sum.Observe(steps, values, times)
	for lo := 0; lo < len(values); lo += chunk.TargetSize {
		hi := min(lo+chunk.TargetSize, len(values))
		data, meta := chunk.Encode(nil, steps[lo:hi], values[lo:hi], times[lo:hi])
		lod := chunk.EncodeLOD(nil, steps[lo:hi], values[lo:hi], times[lo:hi])
		c := encodedChunk{data: data, lod: lod, meta: meta}
		c.minTime, c.maxTime = timeRange(times[lo:hi])
		e.chunks = append(e.chunks, c)
		e.minStep, e.maxStep = min(e.minStep, meta.MinStep), max(e.maxStep, meta.MaxStep)
		e.minTime, e.maxTime = min(e.minTime, c.minTime), max(e.maxTime, c.maxTime)
	}
	return e
}

func timeRange(times []int64) (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, t := range times {
		lo, hi = min(lo, t), max(hi, t)
	}
	return lo, hi
}

// pointKey identifies a point as MLflow's store does: step, timestamp and
// value, every NaN alike.
type pointKey struct {
	step, time int64
	bits       uint64
}

func keyOf(step, time int64, v float64) pointKey {
	if v != v {
		v = math.NaN()
	}
	return pointKey{step, time, math.Float64bits(v)}
}

// dedupBatch drops points identical to an earlier one of the same batch.
// Batches whose steps or times only grow (nearly all) cannot hold one and
// are returned as they are.
func dedupBatch(steps []int64, values []float64, times []int64) ([]int64, []float64, []int64) {
	stepsGrow, timesGrow := true, true
	for i := 1; i < len(steps) && (stepsGrow || timesGrow); i++ {
		stepsGrow = stepsGrow && steps[i] > steps[i-1]
		timesGrow = timesGrow && times[i] > times[i-1]
	}
	if stepsGrow || timesGrow {
		return steps, values, times
	}
	seen := make(map[pointKey]struct{}, len(values))
	keep := make([]bool, len(values))
	n := 0
	for i := range values {
		k := keyOf(steps[i], times[i], values[i])
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			keep[i] = true
			n++
		}
	}
	if n == len(values) {
		return steps, values, times
	}
	s, v, t := make([]int64, 0, n), make([]float64, 0, n), make([]int64, 0, n)
	for i := range values {
		if keep[i] {
			s, v, t = append(s, steps[i]), append(v, values[i]), append(t, times[i])
		}
	}
	return s, v, t
}

type seriesKey struct{ run, key string }

func (e *Engine) submit(ctx context.Context, r *appendReq) error {
	select {
	case e.reqs <- r:
	case <-e.quit:
		return ErrClosed
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

func (e *Engine) loop() {
	defer close(e.done)
	for {
		var first *appendReq
		if len(e.compact) > 0 {
			select {
			case first = <-e.reqs:
			case <-e.quit:
				e.drain()
				return
			default:
				e.compactIdle()
				continue
			}
		} else {
			select {
			case first = <-e.reqs:
			case <-e.quit:
				e.drain()
				return
			}
		}
		group := []*appendReq{first}
		points := first.points
	fill:
		for points < maxGroupPoints && len(group) < maxGroupRequests {
			select {
			case r := <-e.reqs:
				group = append(group, r)
				points += r.points
			default:
				break fill
			}
		}
		e.commit(group)
	}
}

func (e *Engine) drain() {
	for {
		select {
		case r := <-e.reqs:
			r.done <- ErrClosed
		default:
			return
		}
	}
}

// commit writes a group in one transaction. If the group fails, each
// request is retried alone so that one bad request fails only itself.
func (e *Engine) commit(group []*appendReq) {
	err := e.commitRetrying(group)
	if err == nil || len(group) == 1 {
		for _, r := range group {
			r.done <- err
		}
		return
	}
	for _, r := range group {
		r.done <- e.commitRetrying([]*appendReq{r})
	}
}

// commitRetrying writes a group, again when another process changed one of
// its series meanwhile (the cache of those series is dropped first).
func (e *Engine) commitRetrying(group []*appendReq) error {
	for attempt := 0; ; attempt++ {
		touched, err := e.commitGroup(group)
		if err == nil || !errors.Is(err, ErrStale) || attempt == staleRetries {
			return err
		}
		for _, k := range touched {
			delete(e.series, k)
			delete(e.compact, k)
		}
	}
}

// commitGroup writes a group in one transaction and returns the series it
// touched.
func (e *Engine) commitGroup(group []*appendReq) (touchedKeys []seriesKey, err error) {
	ctx := context.Background()
	tx, err := e.b.BeginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin metrics: %w", err)
	}
	defer tx.Rollback()
	touched := map[seriesKey]*SeriesRow{}
	var order []*SeriesRow
	var keys []seriesKey
	var fieldRuns []string // runs whose row a log-batch changed
	for _, r := range group {
		r.dup = false
		if r.batchID != "" {
			fresh, err := tx.RecordBatch(ctx, r.runID, r.batchID)
			if err != nil {
				return keys, fmt.Errorf("record batch %s of run %s: %w", r.batchID, r.runID, err)
			}
			if !fresh {
				r.dup = true
				continue
			}
		}
		if r.hasFields() {
			if err := applyRunFields(ctx, tx, r); err != nil {
				return keys, err
			}
			fieldRuns = append(fieldRuns, r.runID)
		}
		for i := range r.series {
			es := &r.series[i]
			k := seriesKey{r.runID, es.key}
			st := touched[k]
			if st == nil {
				keys = append(keys, k)
				base, err := e.lookup(ctx, tx, k)
				if err != nil {
					return keys, err
				}
				cp := *base
				cp.Version++
				st = &cp
				touched[k] = st
				order = append(order, st)
			}
			if es.minStep <= st.MaxStep && es.minTime <= st.MaxTime {
				// Some point may equal a stored one: MLflow's store keeps
				// one copy of a point (mlflow.<flavor>.log_model logs the
				// run's metrics again). Rare: read the chunks that could
				// hold one, and drop the points found. The request keeps
				// its points, should this transaction be written again.
				kept, err := dropStored(ctx, tx, st.ID, es)
				if err != nil {
					return keys, err
				}
				es = &kept
			}
			if len(es.chunks) == 0 {
				continue
			}
			st.MaxStep, st.MaxTime = max(st.MaxStep, es.maxStep), max(st.MaxTime, es.maxTime)
			for _, c := range es.chunks {
				if err := tx.InsertChunk(ctx, st.ID, Chunk{Seq: st.NextSeq, Meta: c.meta, LOD: c.lod, Data: c.data, MinTime: c.minTime, MaxTime: c.maxTime}); err != nil {
					return keys, fmt.Errorf("insert chunk of %s/%s: %w", k.run, k.key, err)
				}
				if st.TailN == 0 && c.meta.Count == chunk.TargetSize {
					st.TailStart = st.NextSeq + 1 // a full chunk at a clean tail is sealed at once
				} else {
					st.TailN++
				}
				st.NextSeq++
			}
			st.Summary.Merge(es.sum)
		}
	}
	// Long tails are merged in the same transaction: one fsync for both.
	for i, st := range order {
		if st.TailN >= CompactAfter {
			next, err := compactSeries(ctx, tx, st)
			if err != nil {
				return keys, err
			}
			order[i] = next
		}
	}
	for i, st := range order {
		if err := tx.UpdateSeries(ctx, *st); err != nil {
			return keys, fmt.Errorf("update series %s/%s: %w", keys[i].run, keys[i].key, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return keys, fmt.Errorf("commit metrics: %w", err)
	}
	runs := make([]string, 0, len(order)+len(fieldRuns))
	for i, st := range order {
		e.remember(keys[i], st)
		if len(runs) == 0 || runs[len(runs)-1] != keys[i].run {
			runs = append(runs, keys[i].run)
		}
	}
	runs = append(runs, fieldRuns...)
	if e.opt.OnCommit != nil && len(runs) > 0 {
		slices.Sort(runs)
		e.opt.OnCommit(slices.Compact(runs))
	}
	return keys, nil
}

// remember caches a committed series row and queues it for compaction
// when its tail is long.
func (e *Engine) remember(k seriesKey, st *SeriesRow) {
	if len(e.series) > 200_000 {
		clear(e.series) // reloaded on demand
		clear(e.compact)
	}
	e.series[k] = st
	if st.TailN >= CompactAfter {
		e.compact[k] = st
	} else {
		delete(e.compact, k)
	}
}

// lookup returns the committed row of a series, creating it (inside tx)
// if it is new. The caller must copy before changing it.
func (e *Engine) lookup(ctx context.Context, tx WriteTx, k seriesKey) (*SeriesRow, error) {
	if st, ok := e.series[k]; ok {
		return st, nil
	}
	row, found, err := tx.Series(ctx, k.run, k.key)
	if err != nil {
		return nil, fmt.Errorf("load series %s/%s: %w", k.run, k.key, err)
	}
	if !found {
		id, err := tx.CreateSeries(ctx, k.run, k.key)
		if err != nil {
			return nil, fmt.Errorf("create series %s/%s: %w", k.run, k.key, err)
		}
		// Not cached until the transaction commits: the caller's copy is.
		return &SeriesRow{ID: id, MaxStep: math.MinInt64, MaxTime: math.MinInt64}, nil
	}
	st := &row
	e.remember(k, st)
	return st, nil
}

// compactIdle merges the tail of one queued series in a transaction of
// its own; the writer calls it only when no append is waiting.
func (e *Engine) compactIdle() {
	var k seriesKey
	var st *SeriesRow
	for key, s := range e.compact {
		k, st = key, s
		delete(e.compact, key)
		break
	}
	if st == nil || e.series[k] != st {
		return // replaced by a newer row, which requeues itself
	}
	ctx := context.Background()
	err := func() error {
		tx, err := e.b.BeginWrite(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		cp := *st
		cp.Version++
		next, err := compactSeries(ctx, tx, &cp)
		if err != nil {
			return err
		}
		if err := tx.UpdateSeries(ctx, *next); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		e.remember(k, next)
		return nil
	}()
	if err != nil {
		if !errors.Is(err, ErrStale) {
			e.opt.Logger.Error("compact metric series", "run", k.run, "key", k.key, "err", err)
		}
		delete(e.series, k) // reload from the database next time
	}
}

// compactSeries rewrites the chunks from st.TailStart on as full chunks,
// inside tx, and returns the new row; the caller writes it.
func compactSeries(ctx context.Context, tx WriteTx, st *SeriesRow) (*SeriesRow, error) {
	var p chunk.Points
	err := tx.TailChunks(ctx, st.ID, st.TailStart, func(data []byte) error {
		if err := chunk.Decode(&p, data); err != nil {
			return fmt.Errorf("chunk of series %d: %w", st.ID, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tail of series %d: %w", st.ID, err)
	}
	if err := tx.DeleteChunks(ctx, st.ID, st.TailStart); err != nil {
		return nil, fmt.Errorf("delete tail of series %d: %w", st.ID, err)
	}
	next := *st
	next.NextSeq = st.TailStart
	for lo := 0; lo < p.Len(); lo += chunk.TargetSize {
		hi := min(lo+chunk.TargetSize, p.Len())
		// Fresh buffers: a pipelining backend may hold them until commit.
		data, meta := chunk.Encode(nil, p.Steps[lo:hi], p.Values[lo:hi], p.Times[lo:hi])
		lod := chunk.EncodeLOD(nil, p.Steps[lo:hi], p.Values[lo:hi], p.Times[lo:hi])
		minTime, maxTime := timeRange(p.Times[lo:hi])
		if err := tx.InsertChunk(ctx, st.ID, Chunk{Seq: next.NextSeq, Meta: meta, LOD: lod, Data: data, MinTime: minTime, MaxTime: maxTime}); err != nil {
			return nil, fmt.Errorf("write compacted chunk of series %d: %w", st.ID, err)
		}
		next.NextSeq++
		if meta.Count == chunk.TargetSize {
			next.TailStart, next.TailN = next.NextSeq, 0
		} else {
			next.TailStart, next.TailN = next.NextSeq-1, 1
		}
	}
	return &next, nil
}

// dropStored returns es without the points the series already holds,
// encoded again when any were dropped (no chunks when none is left).
func dropStored(ctx context.Context, tx WriteTx, seriesID int64, es *encodedSeries) (encodedSeries, error) {
	stored := map[pointKey]struct{}{}
	var p chunk.Points
	err := tx.NearChunks(ctx, seriesID, es.minStep, es.maxStep, es.minTime, es.maxTime, func(data []byte) error {
		p.Reset()
		if err := chunk.Decode(&p, data); err != nil {
			return fmt.Errorf("chunk of series %d: %w", seriesID, err)
		}
		for i := range p.Values {
			if p.Steps[i] >= es.minStep && p.Steps[i] <= es.maxStep && p.Times[i] >= es.minTime && p.Times[i] <= es.maxTime {
				stored[keyOf(p.Steps[i], p.Times[i], p.Values[i])] = struct{}{}
			}
		}
		return nil
	})
	if err != nil {
		return *es, fmt.Errorf("read chunks of series %d: %w", seriesID, err)
	}
	if len(stored) == 0 {
		return *es, nil
	}
	var steps, times []int64
	var values []float64
	dropped := false
	for _, c := range es.chunks {
		p.Reset()
		if err := chunk.Decode(&p, c.data); err != nil {
			return *es, fmt.Errorf("decode a new chunk: %w", err)
		}
		for i := range p.Values {
			if _, dup := stored[keyOf(p.Steps[i], p.Times[i], p.Values[i])]; dup {
				dropped = true
				continue
			}
			steps, values, times = append(steps, p.Steps[i]), append(values, p.Values[i]), append(times, p.Times[i])
		}
	}
	if !dropped {
		return *es, nil
	}
	if len(values) == 0 {
		return encodedSeries{key: es.key}, nil
	}
	return encodeSeries(es.key, steps, values, times), nil
}

// applyRunFields writes a log-batch's params, tags and name to its run,
// inside the writer's transaction. A param that holds another value
// refuses the whole request.
func applyRunFields(ctx context.Context, tx WriteTx, r *appendReq) error {
	config, tags, found, err := tx.Run(ctx, r.runID)
	if err != nil {
		return fmt.Errorf("read run %s: %w", r.runID, err)
	}
	if !found {
		return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", r.runID)
	}
	if config == nil {
		config = map[string]any{}
	}
	if tags == nil {
		tags = map[string]string{}
	}
	added, err := runquery.MergeParams(r.runID, config, r.params)
	if err != nil {
		return err
	}
	maps.Copy(tags, r.tags)
	f := RunFields{Config: config, Tags: tags, Name: r.name, NewParams: added, NewTags: r.tags}
	if err := tx.UpdateRun(ctx, r.runID, f); err != nil {
		return fmt.Errorf("update run %s: %w", r.runID, err)
	}
	return nil
}
