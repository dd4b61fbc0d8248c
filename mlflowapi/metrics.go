package mlflowapi

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
	"github.com/trainyard/trainyard/tracking"
)

// Request messages (service.proto).
var (
	pLogMetric = pmsg{"run_id": fStr, "run_uuid": fStr, "key": fStr, "value": fF64, "timestamp": fI64, "step": fI64,
		"model_id": fStr, "dataset_name": fStr, "dataset_digest": fStr}
	pGetHistory = pmsg{"run_id": fStr, "run_uuid": fStr, "metric_key": fStr, "page_token": fStr, "max_results": fI32}
	pBulk       = pmsg{"run_ids": fRep(fStr), "metric_key": fStr, "start_step": fI32, "end_step": fI32, "max_results": fI32}
)

// MLflow's limits on metric reads.
const (
	mlMaxBulkRuns    = 100   // run_ids of get-history-bulk-interval
	mlMaxBulkResults = 2500  // MAX_RESULTS_PER_RUN
	mlMaxBulkHistory = 25000 // get-history-bulk's max_results
)

// maxLogBatchBytes bounds a log-batch body. The largest batch MLflow's
// limits allow (1,000 metrics with 250-character keys, 100 params of 6,000
// characters, 100 tags of 8,000) is under 2 MB of JSON, or about 12 MB
// with every character escaped.
const maxLogBatchBytes = 16 << 20

func (s *Server) mlLogMetric(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLogMetric)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("key", required, isString), field("value", required, floatLike),
		field("timestamp", intLike, required), field("step", intLike), field("model_id", isString),
		field("dataset_name", isString), field("dataset_digest", isString)); err != nil {
		return err
	}
	raw := map[string]any{}
	for _, k := range []string{"key", "value", "timestamp", "step", "model_id", "dataset_name", "dataset_digest"} {
		if v, ok := q.get(k); ok {
			raw[k] = v
		}
	}
	p, err := pointOf(raw, "")
	if err != nil {
		return err
	}
	id := q.runID()
	if err := s.cfg.Tracking.LogBatch(r.Context(), id, tracking.Batch{One: true, Metrics: []tracking.Point{p}}); err != nil {
		return runErr(err, id)
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// pointOf converts a metric as sent (its key, value, timestamp and step)
// into a point, refusing what is not a double or a 64-bit integer with
// MLflow's words for it (mlflow/utils/validation.py _validate_metric).
// path is "" for log-metric, "metrics[i]" in a batch.
func pointOf(m map[string]any, path string) (tracking.Point, error) {
	return pointFrom(func(k string) any { return m[k] }, path)
}

// metricFields are the fields of one metric of a log-batch, as sent. The
// common case is kept without boxing: a string key, and numbers whose
// text parses as the field needs (a finite double, a 64-bit integer) are
// held as they parse, with their text (a slice of the request body, valid
// while the request is served) for the rare message that quotes it.
// Anything else is kept as scanner.value reads it, for MLflow's checks.
type metricFields struct {
	key, value, timestamp, step, modelID, datasetName, datasetDigest any

	fast                   uint8 // fastKey, fastValue, ...: which fields are held below
	fKey                   string
	fValue                 float64
	fTimestamp, fStep      int64
	rawValue, rawTimestamp []byte
	rawStep                []byte
}

const (
	fastKey = 1 << iota
	fastValue
	fastTimestamp
	fastStep
)

func (m *metricFields) get(k string) any {
	switch k {
	case "key":
		if m.fast&fastKey != 0 {
			return m.fKey
		}
		return m.key
	case "value":
		if m.fast&fastValue != 0 {
			return jsonNumber(string(m.rawValue))
		}
		return m.value
	case "timestamp":
		if m.fast&fastTimestamp != 0 {
			return jsonNumber(string(m.rawTimestamp))
		}
		return m.timestamp
	case "step":
		if m.fast&fastStep != 0 {
			return jsonNumber(string(m.rawStep))
		}
		return m.step
	case "model_id":
		return m.modelID
	case "dataset_name":
		return m.datasetName
	case "dataset_digest":
		return m.datasetDigest
	}
	return nil
}

// present reports whether a required field (key, value, timestamp) is
// there and not empty, as MLflow's _assert_required sees it.
func (m *metricFields) present(k string) bool {
	switch k {
	case "key":
		if m.fast&fastKey != 0 {
			return m.fKey != ""
		}
	case "value":
		if m.fast&fastValue != 0 {
			return true
		}
	case "timestamp":
		if m.fast&fastTimestamp != 0 {
			return true
		}
	}
	x := m.get(k)
	return x != nil && x != ""
}

// scanField reads the value of field k of a metric object, keeping the
// common case unboxed.
func (m *metricFields) scanField(sc *scanner, k []byte, keys map[string]string) error {
	switch string(k) {
	case "key":
		if sc.peek() == '"' {
			raw, err := sc.keyBytes()
			if err != nil {
				return err
			}
			// A batch repeats a few keys: one string each.
			s, ok := keys[string(raw)]
			if !ok {
				s = string(raw)
				keys[s] = s
			}
			m.fKey, m.key = s, nil
			m.fast |= fastKey
			return nil
		}
		m.fast &^= fastKey
		return m.scanAny(sc, &m.key)
	case "value":
		m.fast &^= fastValue
		if isNumStart(sc.peek()) {
			raw, err := sc.numBytes()
			if err != nil {
				return err
			}
			if f, err := strconv.ParseFloat(string(raw), 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				m.fValue, m.rawValue, m.value = f, raw, nil
				m.fast |= fastValue
			} else {
				m.value = jsonNumber(string(raw))
			}
			return nil
		}
		return m.scanAny(sc, &m.value)
	case "timestamp", "step":
		bit, dst, raw, slot := uint8(fastTimestamp), &m.fTimestamp, &m.rawTimestamp, &m.timestamp
		if k[0] == 's' {
			bit, dst, raw, slot = fastStep, &m.fStep, &m.rawStep, &m.step
		}
		m.fast &^= bit
		if isNumStart(sc.peek()) {
			b, err := sc.numBytes()
			if err != nil {
				return err
			}
			if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
				*dst, *raw, *slot = n, b, nil
				m.fast |= bit
			} else {
				*slot = jsonNumber(string(b))
			}
			return nil
		}
		return m.scanAny(sc, slot)
	case "model_id":
		return m.scanAny(sc, &m.modelID)
	case "dataset_name":
		return m.scanAny(sc, &m.datasetName)
	case "dataset_digest":
		return m.scanAny(sc, &m.datasetDigest)
	case "run_id":
		return sc.skip() // a metric's own run_id is ignored, though parsed
	}
	return sc.skip()
}

func (m *metricFields) scanAny(sc *scanner, slot *any) error {
	v, err := sc.value()
	*slot = v
	return err
}

// isNumStart reports whether c starts a JSON number.
func isNumStart(c byte) bool { return c == '-' || (c >= '0' && c <= '9') }

// point is pointFrom(m.get), without boxing in the common case.
func (m *metricFields) point(path string) (tracking.Point, error) {
	const all = fastKey | fastValue | fastTimestamp
	if m.fast&all == all && (m.fast&fastStep != 0 || m.step == nil) {
		p := tracking.Point{Key: m.fKey, Value: m.fValue, Timestamp: m.fTimestamp, Step: m.fStep}
		var ok1, ok2, ok3 bool
		p.ModelID, ok1 = m.modelID.(string)
		p.DatasetName, ok2 = m.datasetName.(string)
		p.DatasetDigest, ok3 = m.datasetDigest.(string)
		if (ok1 || m.modelID == nil) && (ok2 || m.datasetName == nil) && (ok3 || m.datasetDigest == nil) {
			return p, nil
		}
	}
	return pointFrom(m.get, path)
}

// protoOK is parseOK for one metric.
func (m *metricFields) protoOK() bool {
	// Fields held unboxed parsed as their type needs; the boxed ones are
	// nil then.
	for _, f := range [...]struct {
		v any
		f pfield
	}{{m.key, fStr}, {m.value, fF64}, {m.timestamp, fI64}, {m.step, fI64}, {m.modelID, fStr}, {m.datasetName, fStr}, {m.datasetDigest, fStr}} {
		if f.v != nil && !scalarOK(f.v, f.f) {
			return false
		}
	}
	return true
}

func pointFrom(get func(string) any, path string) (tracking.Point, error) {
	m := map[string]any{"key": get("key"), "value": get("value"), "timestamp": get("timestamp")}
	if v := get("step"); v != nil {
		m["step"] = v
	}
	join := func(f string) string {
		if path == "" {
			return f
		}
		return path + "." + f
	}
	key, _ := m["key"].(string)
	p := tracking.Point{Key: key}
	p.ModelID, _ = get("model_id").(string)
	p.DatasetName, _ = get("dataset_name").(string)
	p.DatasetDigest, _ = get("dataset_digest").(string)
	ts, tsOK := pyInt(m["timestamp"], 64)
	// Non-finite values are the strings "NaN", "Infinity", "-Infinity";
	// a bare NaN token or a number beyond a double (1e999) is refused, as
	// protobuf's parser refuses them for MLflow.
	value, ok := pyFloatOf(m["value"])
	if !ok {
		return p, trainyard.Errorf(trainyard.EINVALID, "%s", invalidValue(join("value"), pyValue(m["value"]),
			"(timestamp="+pyTimestamp(m["timestamp"])+"). Please specify value as a valid double (64-bit floating point)"))
	}
	p.Value = value
	if !tsOK {
		return p, trainyard.Errorf(trainyard.EINVALID, "%s", invalidValue(join("timestamp"), pyValue(m["timestamp"]),
			"metric '"+key+"' (value="+pyFloat(value)+"). Timestamp must be a nonnegative long (64-bit integer) "))
	}
	p.Timestamp = ts
	if v, present := m["step"]; present && v != nil {
		step, ok := pyInt(v, 64)
		if !ok {
			return p, trainyard.Errorf(trainyard.EINVALID, "%s", invalidValue(join("step"), pyValue(v),
				"metric '"+key+"' (value="+pyFloat(value)+"). Step must be a valid long (64-bit integer)."))
		}
		p.Step = step
	}
	return p, nil
}

func pyTimestamp(v any) string {
	if n, ok := pyInt(v, 64); ok {
		return strconv.FormatInt(n, 10)
	}
	return pyDumps(pyValue(v))
}

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// mlLogBatch is the hot path of MLflow logging. The body is read (at most
// maxLogBatchBytes, within the server's memory budget when it has one)
// and scanned once: metrics, params and tags are counted as they are
// read, and a batch over MLflow's limits is refused there, so that a
// request's memory is bounded by its body and by the limits, whatever it
// holds.
func (s *Server) mlLogBatch(w http.ResponseWriter, r *http.Request) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	body, release, err := s.logBatchBody(w, r)
	if err != nil {
		return err
	}
	defer release()
	b, err := scanLogBatch(body)
	if err != nil {
		return err
	}
	defer b.release()
	if err := b.validate(); err != nil {
		return err
	}
	batch := tracking.Batch{Params: b.params, Tags: b.tags, Metrics: make([]tracking.Point, 0, len(b.metrics))}
	for i := range b.metrics {
		p, err := b.metrics[i].point("metrics[" + strconv.Itoa(i) + "]")
		if err != nil {
			return err
		}
		batch.Metrics = append(batch.Metrics, p)
	}
	if err := s.cfg.Tracking.LogBatch(r.Context(), b.runID(), batch); err != nil {
		return runErr(err, b.runID())
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write([]byte("{}"))
	return err
}

// logBatchBody reads a log-batch body: through the server's budget when
// it has one, else into a pooled buffer.
func (s *Server) logBatchBody(w http.ResponseWriter, r *http.Request) ([]byte, func(), error) {
	if s.cfg.Bodies != nil {
		return s.cfg.Bodies.ReadBody(w, r, maxLogBatchBytes, costLogBatch)
	}
	bp := bodyBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	if n := r.ContentLength; n > int64(cap(buf)) && n <= maxLogBatchBytes {
		buf = make([]byte, 0, n+1) // read in one go, not by doubling
	}
	body, err := httpkit.ReadBody(http.MaxBytesReader(w, r.Body, maxLogBatchBytes), buf)
	release := func() {
		if cap(body) <= 1<<20 { // larger buffers go back to the collector
			*bp = body[:0]
			bodyBufs.Put(bp)
		}
	}
	if err != nil {
		release()
		return nil, nil, httpkit.TooLarge(err)
	}
	return body, release, nil
}

// checkContentType is MLflow's _validate_content_type for a JSON body.
func checkContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type header is missing.")
	}
	if strings.TrimSpace(strings.Split(ct, ";")[0]) != "application/json" {
		return trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type must be one of ['application/json'].")
	}
	return nil
}

// logBatch is a scanned log-batch request.
type logBatch struct {
	fields  map[string]any // run_id, run_uuid, and metrics/params/tags when not lists
	metrics []metricFields
	params  []tracking.KV
	tags    []tracking.KV
	missing string // the first item without a required field, as MLflow names it
	protoOK bool
}

func (b *logBatch) runID() string {
	if s, _ := b.fields["run_id"].(string); s != "" {
		return s
	}
	s, _ := b.fields["run_uuid"].(string)
	return s
}

// scanLogBatch reads a log-batch body. A body that is not a JSON object
// reads as {} (as Flask's get_json(silent=True) does for MLflow). Items
// past MLflow's limits are counted, for the error, but not kept.
func scanLogBatch(body []byte) (*logBatch, error) {
	b := &logBatch{fields: map[string]any{}, protoOK: true}
	if p, ok := metricSlices.Get().(*[]metricFields); ok {
		b.metrics = (*p)[:0]
	}
	sc := &scanner{b: body}
	if sc.peek() != '{' {
		return b, nil
	}
	var n [3]int // metrics, params, tags seen
	keys := map[string]string{}
	over := func() bool {
		return n[0] > tracking.MaxBatchMetrics || n[1] > tracking.MaxBatchParams || n[2] > tracking.MaxBatchTags ||
			n[0]+n[1]+n[2] > tracking.MaxBatchItems
	}
	err := sc.object(func(k string) error {
		switch k {
		case "run_id", "run_uuid":
			v, err := sc.value()
			b.fields[k] = v
			if _, ok := v.(string); !ok && v != nil {
				b.protoOK = false
			}
			return err
		case "metrics":
			if sc.peek() != '[' {
				v, err := sc.value()
				b.fields[k], b.protoOK = v, b.protoOK && v == nil
				return err
			}
			return sc.array(func(i int) error {
				if n[0]++; over() {
					return sc.skip()
				}
				b.metrics = append(b.metrics, metricFields{})
				m := &b.metrics[len(b.metrics)-1]
				if sc.peek() == '{' {
					if err := sc.objectKeys(func(k []byte) error { return m.scanField(sc, k, keys) }); err != nil {
						return err
					}
				} else if err := sc.skip(); err != nil {
					return err
				} else {
					b.protoOK = false
				}
				if !m.protoOK() {
					b.protoOK = false
				}
				if b.missing == "" {
					for _, f := range [...]string{"key", "value", "timestamp"} {
						if !m.present(f) {
							b.missing = "metrics[" + strconv.Itoa(i) + "]." + f
							break
						}
					}
				}
				return nil
			})
		case "params", "tags":
			dst, c := &b.params, &n[1]
			if k == "tags" {
				dst, c = &b.tags, &n[2]
			}
			if sc.peek() != '[' {
				v, err := sc.value()
				b.fields[k], b.protoOK = v, b.protoOK && v == nil
				return err
			}
			return sc.array(func(i int) error {
				if *c++; over() {
					return sc.skip()
				}
				v, err := sc.value()
				m, ok := v.(map[string]any)
				if !ok || !parseOK(m, pKV) {
					b.protoOK = false
				}
				key, _ := m["key"].(string)
				value, _ := m["value"].(string)
				if b.missing == "" && (m["key"] == nil || m["key"] == "") {
					b.missing = k + "[" + strconv.Itoa(i) + "].key"
				}
				*dst = append(*dst, tracking.KV{Key: key, Value: value})
				return err
			})
		}
		return sc.skip()
	})
	if err != nil || sc.end() != nil {
		return &logBatch{fields: map[string]any{}, protoOK: true}, nil // not JSON: read as {}
	}
	if over() {
		return nil, tracking.CheckBatchSize(n[0], n[1], n[2])
	}
	return b, nil
}

// metricSlices keeps the metrics slices of log-batches for reuse: at
// 1,000 metrics a request, they are most of its garbage.
var metricSlices sync.Pool

// release gives b's metrics slice back for reuse; b must not be used after.
func (b *logBatch) release() {
	if cap(b.metrics) == 0 || cap(b.metrics) > 2*tracking.MaxBatchMetrics {
		return
	}
	m := b.metrics[:cap(b.metrics)]
	clear(m)
	m = m[:0]
	b.metrics = nil
	metricSlices.Put(&m)
}

// validate is log-batch's schema (handlers.py _log_batch).
func (b *logBatch) validate() error {
	q := &mlreq{fields: b.fields, protoOK: b.protoOK}
	if err := q.validate(field("run_id", isString, required), field("metrics", isArray), field("params", isArray), field("tags", isArray)); err != nil {
		return err
	}
	if b.missing != "" {
		return trainyard.Errorf(trainyard.EINVALID, "%s See the API docs for more information about request parameters.", missingValue(b.missing))
	}
	return nil
}

// appendMLMetric appends {"key":...,"value":...,"timestamp":...,"step":...}
// (with run_id when given) without reflection: histories are long.
func appendMLMetric(b []byte, key, runID string, v float64, ts, step int64) []byte {
	b = append(b, `{"key":`...)
	b = appendJSONString(b, key)
	b = append(b, `,"value":`...)
	b = trainyard.AppendFloat(b, v)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, step, 10)
	if runID != "" {
		b = append(b, `,"run_id":`...)
		b = appendJSONString(b, runID)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, `\u00`...)
				b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// history reads a run's whole series in MLflow's order (timestamp, step,
// value); a run without the metric, or no such run, has none (as MLflow's
// store answers).
func (s *Server) history(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	ser, err := s.cfg.Store.ReadSeries(ctx, runID, key, q)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return &trainyard.Series{Key: key}, nil
	}
	if err != nil {
		return nil, err
	}
	sorted := sortPoints(ser, historyOrder)
	s.orders.note(runID, key, int64(len(ser.Values)), sorted)
	return ser, nil
}

func historyOrder(a, b point) int {
	if a.ts != b.ts {
		return cmpInt(a.ts, b.ts)
	}
	if a.step != b.step {
		return cmpInt(a.step, b.step)
	}
	return cmpValue(a.v, b.v)
}

// historyPage reads points [offset, offset+limit) of a series in MLflow's
// order. A series written in that order (nearly all: timestamps grow) is
// paged straight from the store, which reads only the chunks a page
// covers; whether it is is learned once per series and length.
func (s *Server) historyPage(ctx context.Context, runID, key string, offset, limit int) (*trainyard.Series, int, error) {
	page, err := s.cfg.Store.ReadSeries(ctx, runID, key, trainyard.SeriesQuery{Offset: offset, Limit: limit})
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return &trainyard.Series{Key: key}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if s.orders.sorted(runID, key, page.Total) {
		return page, int(page.Total), nil
	}
	all, err := s.history(ctx, runID, key, trainyard.SeriesQuery{})
	if err != nil {
		return nil, 0, err
	}
	n := len(all.Values)
	lo, hi := min(offset, n), min(offset+limit, n)
	all.Steps, all.Values, all.Times = all.Steps[lo:hi], all.Values[lo:hi], all.Times[lo:hi]
	return all, n, nil
}

// orderCache remembers which series (at which length) are stored in
// MLflow's history order.
type orderCache struct {
	mu sync.Mutex
	m  map[string]orderState
}

type orderState struct {
	n      int64
	sorted bool
}

func (c *orderCache) note(run, key string, n int64, sorted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) > 10_000 {
		c.m = map[string]orderState{}
	}
	c.m[run+"\x00"+key] = orderState{n, sorted}
}

func (c *orderCache) sorted(run, key string, n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.m[run+"\x00"+key]
	return ok && st.n == n && st.sorted
}

type point struct {
	step, ts int64
	v        float64
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpValue orders values as MLflow's SQL store does: NaN is stored as 0
// (with is_nan set), so it sorts with zero.
func cmpValue(a, b float64) int {
	if math.IsNaN(a) {
		a = 0
	}
	if math.IsNaN(b) {
		b = 0
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortPoints sorts a series' points by cmp (stably), leaving an already
// sorted series as it is; it reports whether it was.
func sortPoints(ser *trainyard.Series, cmp func(a, b point) int) bool {
	n := len(ser.Values)
	sorted := true
	for i := 1; i < n && sorted; i++ {
		sorted = cmp(point{ser.Steps[i-1], ser.Times[i-1], ser.Values[i-1]}, point{ser.Steps[i], ser.Times[i], ser.Values[i]}) <= 0
	}
	if sorted {
		return true
	}
	pts := make([]point, n)
	for i := range pts {
		pts[i] = point{ser.Steps[i], ser.Times[i], ser.Values[i]}
	}
	slices.SortStableFunc(pts, cmp)
	for i, p := range pts {
		ser.Steps[i], ser.Times[i], ser.Values[i] = p.step, p.ts, p.v
	}
	return false
}

func (s *Server) mlGetMetricHistory(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pGetHistory)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", isString, required), field("metric_key", isString, required), field("page_token", isString)); err != nil {
		return err
	}
	limit := -1
	if q.has("max_results") {
		n := q.i64("max_results")
		if n <= 0 {
			return trainyard.Errorf(trainyard.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer.", n)
		}
		limit = int(n)
	}
	offset, err := decodePageToken(q.str("page_token"))
	if err != nil {
		return err
	}
	key := q.str("metric_key")
	var ser *trainyard.Series
	next := ""
	if limit >= 0 {
		var n int
		if ser, n, err = s.historyPage(r.Context(), q.runID(), key, offset, limit); err != nil {
			return err
		}
		if end := min(offset, n) + len(ser.Values); end < n {
			next = encodePageToken(end)
		}
	} else {
		if ser, err = s.history(r.Context(), q.runID(), key, trainyard.SeriesQuery{}); err != nil {
			return err
		}
		n := len(ser.Values)
		lo := min(offset, n)
		ser.Steps, ser.Values, ser.Times = ser.Steps[lo:], ser.Values[lo:], ser.Times[lo:]
	}
	// Histories are long: each point is written by hand after a prefix
	// made once, {"key":"<key>","value":.
	prefix := appendJSONString([]byte(`{"key":`), key)
	prefix = append(prefix, `,"value":`...)
	b := make([]byte, 0, 64+len(ser.Values)*(len(prefix)+80))
	b = append(b, '{')
	if len(ser.Values) > 0 {
		b = append(b, `"metrics":[`...)
		for i, v := range ser.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, prefix...)
			b = trainyard.AppendFloat(b, v)
			b = append(b, `,"timestamp":`...)
			b = strconv.AppendInt(b, ser.Times[i], 10)
			b = append(b, `,"step":`...)
			b = strconv.AppendInt(b, ser.Steps[i], 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if next != "" {
		if len(ser.Values) > 0 {
			b = append(b, ',')
		}
		b = append(b, `"next_page_token":`...)
		b = appendJSONString(b, next)
	}
	b = append(b, "}"...)
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// mlGetMetricHistoryBulkInterval samples a metric of several runs at up to
// max_results points each, as MLflow 3.17's SQL store does: the run's
// points in the step range, ordered by (step, timestamp, value), cut into
// max_results buckets as SQL's NTILE cuts them; the first point of each
// bucket, and the last point of all in place of the last sample.
func (s *Server) mlGetMetricHistoryBulkInterval(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pBulk)
	if err != nil {
		return err
	}
	if err := q.validate(
		field("run_ids", required, isArray, itemsStrings, custom(func(v any) string {
			if l, ok := v.([]any); ok && len(l) > mlMaxBulkRuns {
				return "GetMetricHistoryBulkInterval request must specify at most " + strconv.Itoa(mlMaxBulkRuns) +
					" run_ids. Received " + strconv.Itoa(len(l)) + " run_ids."
			}
			return ""
		})),
		field("metric_key", required, isString),
		field("start_step", intLike), field("end_step", intLike),
		field("max_results", intLike, custom(func(v any) string {
			if n, ok := pyInt(v, 64); !ok || n < 1 || n > mlMaxBulkResults {
				return "max_results must be between 1 and " + strconv.Itoa(mlMaxBulkResults) + "."
			}
			return ""
		}))); err != nil {
		return err
	}
	maxResults := mlMaxBulkResults
	if q.has("max_results") {
		maxResults = int(q.i64("max_results"))
	}
	var lo, hi *int64
	switch {
	case q.has("start_step") && q.has("end_step"):
		a, b := q.i64("start_step"), q.i64("end_step")
		if a > b {
			return trainyard.Errorf(trainyard.EINVALID, "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", a, b)
		}
		lo, hi = &a, &b
	case q.has("start_step") || q.has("end_step"):
		return trainyard.Errorf(trainyard.EINVALID, "If either start step or end step are specified, both must be specified.")
	}
	key := q.str("metric_key")
	b := []byte("{")
	first := true
	for _, id := range q.strs("run_ids") {
		ser, err := s.history(r.Context(), id, key, trainyard.SeriesQuery{})
		if err != nil {
			return err
		}
		pts := make([]point, 0, len(ser.Values))
		for i, st := range ser.Steps {
			if lo == nil || (st >= *lo && st <= *hi) {
				pts = append(pts, point{st, ser.Times[i], ser.Values[i]})
			}
		}
		slices.SortStableFunc(pts, func(a, b point) int {
			if c := cmpInt(a.step, b.step); c != 0 {
				return c
			}
			if c := cmpInt(a.ts, b.ts); c != 0 {
				return c
			}
			return cmpValue(a.v, b.v)
		})
		for _, p := range ntileSample(pts, maxResults) {
			if first {
				b = append(b, `"metrics":[`...)
			} else {
				b = append(b, ',')
			}
			first = false
			b = appendMLMetric(b, key, id, p.v, p.ts, p.step)
		}
	}
	if !first {
		b = append(b, ']')
	}
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// ntileSample is MLflow's sampling: the first point of each of n buckets
// (SQL NTILE: the first N mod n buckets hold one point more), then the
// last point, replacing the last sample when there are n already.
func ntileSample(pts []point, n int) []point {
	if len(pts) == 0 {
		return nil
	}
	n = max(n, 1)
	var out []point
	if len(pts) <= n {
		out = append(out, pts...)
	} else {
		q, r := len(pts)/n, len(pts)%n
		for i, start := 0, 0; i < n; i++ {
			out = append(out, pts[start])
			start += q
			if i < r {
				start++
			}
		}
	}
	last := pts[len(pts)-1]
	if o := out[len(out)-1]; o.step != last.step || o.ts != last.ts || cmpValue(o.v, last.v) != 0 || math.IsNaN(o.v) != math.IsNaN(last.v) {
		if len(out) >= n {
			out[len(out)-1] = last
		} else {
			out = append(out, last)
		}
	}
	return out
}

// mlGetMetricHistoryBulk is the UI's /ajax-api/2.0/mlflow/metrics/get-history-bulk:
// the histories of a metric of several runs, each ordered by (timestamp,
// step, value), at most 25,000 points in all.
func (s *Server) mlGetMetricHistoryBulk(w http.ResponseWriter, r *http.Request) error {
	args := r.URL.Query()
	ids := args["run_id"]
	if len(ids) == 0 {
		return trainyard.Errorf(trainyard.EINVALID, "GetMetricHistoryBulk request must specify at least one run_id.")
	}
	if len(ids) > mlMaxBulkRuns {
		return trainyard.Errorf(trainyard.EINVALID, "GetMetricHistoryBulk request cannot specify more than %d run_ids. Received %d run_ids.", mlMaxBulkRuns, len(ids))
	}
	if !args.Has("metric_key") {
		return trainyard.Errorf(trainyard.EINVALID, "GetMetricHistoryBulk request must specify a metric_key.")
	}
	key := args.Get("metric_key")
	maxResults := mlMaxBulkHistory
	if v := args.Get("max_results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return trainyard.Errorf(trainyard.EINVALID, "max_results: %q is not an integer", v)
		}
		maxResults = min(n, mlMaxBulkHistory)
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	type row struct {
		id string
		p  point
	}
	var rows []row
	for _, id := range ids {
		ser, err := s.history(r.Context(), id, key, trainyard.SeriesQuery{})
		if err != nil {
			return err
		}
		for i := range ser.Values {
			if i >= maxResults {
				break
			}
			rows = append(rows, row{id, point{ser.Steps[i], ser.Times[i], ser.Values[i]}})
		}
	}
	if len(rows) > maxResults {
		rows = rows[:max(maxResults, 0)]
	}
	b := []byte(`{"metrics":[`)
	for i, x := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMLMetric(b, key, x.id, x.p.v, x.p.ts, x.p.step)
	}
	b = append(b, "]}"...)
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(b)
	return err
}
