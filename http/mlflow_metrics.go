package http

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/valyala/fastjson"
)

func (s *Server) mlLogMetric(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Key       string          `json:"key"`
		Value     trainyard.Float `json:"value"`
		Timestamp mlInt           `json:"timestamp"`
		Step      mlInt           `json:"step"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateMLKey("metric", req.Key); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), req.id()); err != nil {
		return err
	}
	ts := req.Timestamp.V
	if !req.Timestamp.Set {
		ts = s.cfg.Clock().UnixMilli()
	}
	batch := []trainyard.SeriesPoints{{Key: req.Key, Steps: []int64{req.Step.V}, Values: []float64{float64(req.Value)}, Times: []int64{ts}}}
	if err := s.cfg.Store.AppendMetrics(r.Context(), req.id(), batch); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// mlBatch is a parsed log-batch request.
type mlBatch struct {
	runID   string
	metrics []trainyard.SeriesPoints
	points  int
	params  []mlKV
	tags    []mlKV
}

// mlLogBatch is the hot path of MLflow logging: the body is parsed with
// fastjson into columns per metric key, without reflection.
func (s *Server) mlLogBatch(w http.ResponseWriter, r *http.Request) error {
	bp := bodyBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<20 {
			*bp = (*bp)[:0]
			bodyBufs.Put(bp)
		}
	}()
	body, err := readBody(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes), (*bp)[:0])
	*bp = body
	if err != nil {
		return err
	}
	b, err := parseLogBatch(body)
	if err != nil {
		return err
	}
	if err := b.validate(); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), b.runID); err != nil {
		return err
	}
	if len(b.params) > 0 {
		params := make(map[string]string, len(b.params))
		for _, p := range b.params {
			if old, ok := params[p.Key]; ok && old != p.Value {
				return trainyard.FieldError("params", "Duplicate parameter keys have been submitted: %q with values %q and %q", p.Key, old, p.Value)
			}
			params[p.Key] = p.Value
		}
		if err := s.cfg.Store.SetParams(r.Context(), b.runID, params); err != nil {
			return err
		}
	}
	if b.points > 0 {
		if err := s.cfg.Store.AppendMetrics(r.Context(), b.runID, b.metrics); err != nil {
			return err
		}
	}
	if len(b.tags) > 0 {
		if err := s.setTags(r.Context(), b.runID, kvMap(b.tags)); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write([]byte("{}\n"))
	return err
}

func (b *mlBatch) validate() error {
	switch {
	case b.points > mlMaxBatchMetric:
		return trainyard.FieldError("metrics", "A batch logging request can contain at most %d metrics. Got %d metrics.", mlMaxBatchMetric, b.points)
	case len(b.params) > mlMaxBatchParams:
		return trainyard.FieldError("params", "A batch logging request can contain at most %d params. Got %d params.", mlMaxBatchParams, len(b.params))
	case len(b.tags) > mlMaxBatchTags:
		return trainyard.FieldError("tags", "A batch logging request can contain at most %d tags. Got %d tags.", mlMaxBatchTags, len(b.tags))
	case b.points+len(b.params)+len(b.tags) > mlMaxBatchTotal:
		return trainyard.FieldError("metrics", "A batch logging request can contain at most %d metrics, params and tags in all. Got %d.", mlMaxBatchTotal, b.points+len(b.params)+len(b.tags))
	}
	for _, s := range b.metrics {
		if err := validateMLKey("metric", s.Key); err != nil {
			return err
		}
	}
	for _, p := range b.params {
		if err := validateParam(p.Key, p.Value); err != nil {
			return err
		}
	}
	for _, t := range b.tags {
		if err := validateTag(t.Key, t.Value); err != nil {
			return err
		}
	}
	return nil
}

func parseLogBatch(body []byte) (*mlBatch, error) {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, trainyard.Errorf(trainyard.EINVALID, "request is not valid JSON: %v", err)
	}
	if v.Type() != fastjson.TypeObject {
		return nil, trainyard.Errorf(trainyard.EINVALID, "request must be a JSON object")
	}
	b := &mlBatch{}
	b.runID = jsonString(v.Get("run_id"))
	if b.runID == "" {
		b.runID = jsonString(v.Get("run_uuid"))
	}
	index := map[string]int{}
	if ms := v.Get("metrics"); ms != nil {
		arr, err := ms.Array()
		if err != nil {
			return nil, trainyard.FieldError("metrics", "must be a list of {key, value, timestamp, step}")
		}
		for i, m := range arr {
			key := jsonString(m.Get("key"))
			val, ok := jsonFloat(m.Get("value"))
			if !ok {
				return nil, trainyard.FieldError("metrics", "metrics[%d].value must be a number or one of \"NaN\", \"Infinity\", \"-Infinity\"", i)
			}
			ts, ok1 := jsonInt(m.Get("timestamp"))
			step, ok2 := jsonInt(m.Get("step"))
			if !ok1 || !ok2 {
				return nil, trainyard.FieldError("metrics", "metrics[%d]: timestamp and step must be integers", i)
			}
			k, seen := index[key]
			if !seen {
				k = len(b.metrics)
				index[key] = k
				b.metrics = append(b.metrics, trainyard.SeriesPoints{Key: key})
			}
			sp := &b.metrics[k]
			sp.Steps = append(sp.Steps, step)
			sp.Values = append(sp.Values, val)
			sp.Times = append(sp.Times, ts)
			b.points++
		}
	}
	for _, f := range []struct {
		name string
		dst  *[]mlKV
	}{{"params", &b.params}, {"tags", &b.tags}} {
		l := v.Get(f.name)
		if l == nil {
			continue
		}
		arr, err := l.Array()
		if err != nil {
			return nil, trainyard.FieldError(f.name, "must be a list of {key, value}")
		}
		for _, kv := range arr {
			*f.dst = append(*f.dst, mlKV{jsonString(kv.Get("key")), jsonString(kv.Get("value"))})
		}
	}
	return b, nil
}

// jsonString reads a string, or a number or bool written as one.
func jsonString(v *fastjson.Value) string {
	if v == nil {
		return ""
	}
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeNull:
		return ""
	}
	return v.String()
}

func jsonFloat(v *fastjson.Value) (float64, bool) {
	if v == nil {
		return 0, true
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := v.Float64()
		return f, err == nil
	case fastjson.TypeString:
		return trainyard.ParseSpecialFloat(string(v.GetStringBytes()))
	}
	return 0, false
}

// jsonInt reads a proto int64: a number or a string; absent is 0.
func jsonInt(v *fastjson.Value) (int64, bool) {
	if v == nil {
		return 0, true
	}
	switch v.Type() {
	case fastjson.TypeNumber:
		if n, err := v.Int64(); err == nil {
			return n, true
		}
		f, err := v.Float64()
		return int64(f), err == nil && f == math.Trunc(f)
	case fastjson.TypeString:
		n, err := strconv.ParseInt(string(v.GetStringBytes()), 10, 64)
		return n, err == nil
	case fastjson.TypeNull:
		return 0, true
	}
	return 0, false
}

// appendMLMetric appends {"key":...,"value":...,"timestamp":...,"step":...}
// (with run_id when given) without reflection: histories are long.
func appendMLMetric(b []byte, key, runID string, v float64, ts, step int64) []byte {
	b = append(b, `{"key":`...)
	b = strconv.AppendQuote(b, key)
	b = append(b, `,"value":`...)
	b = trainyard.AppendFloat(b, v)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"step":`...)
	b = strconv.AppendInt(b, step, 10)
	if runID != "" {
		b = append(b, `,"run_id":`...)
		b = strconv.AppendQuote(b, runID)
	}
	return append(b, '}')
}

// readMLSeries reads a series; a run without the metric has an empty one
// (as in MLflow), a missing run is RESOURCE_DOES_NOT_EXIST.
func (s *Server) readMLSeries(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	ser, err := s.cfg.Store.ReadSeries(ctx, runID, key, q)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		if _, err := s.mlRunOf(ctx, runID); err != nil {
			return nil, err
		}
		return &trainyard.Series{Key: key}, nil
	}
	return ser, err
}

func (s *Server) mlGetMetricHistory(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		MetricKey  string `json:"metric_key"`
		MaxResults mlInt  `json:"max_results"`
		PageToken  string `json:"page_token"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("run_id", req.id()); err != nil {
		return err
	}
	if err := requireField("metric_key", req.MetricKey); err != nil {
		return err
	}
	offset, err := decodePageToken(req.PageToken)
	if err != nil {
		return err
	}
	limit := 0
	if req.MaxResults.Set && req.MaxResults.V > 0 {
		limit = int(req.MaxResults.V)
	}
	ser, err := s.readMLSeries(r.Context(), req.id(), req.MetricKey, trainyard.SeriesQuery{Offset: offset, Limit: limit})
	if err != nil {
		return err
	}
	b := make([]byte, 0, 64+len(ser.Values)*80)
	b = append(b, `{"metrics":[`...)
	for i := range ser.Values {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMLMetric(b, req.MetricKey, "", ser.Values[i], ser.Times[i], ser.Steps[i])
	}
	b = append(b, ']')
	if limit > 0 && int64(offset+len(ser.Values)) < ser.Total {
		b = append(b, `,"next_page_token":`...)
		b = strconv.AppendQuote(b, encodePageToken(offset+len(ser.Values)))
	}
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// mlMaxBulkRuns and mlMaxBulkResults are MLflow's limits for
// get-history-bulk-interval.
const (
	mlMaxBulkRuns    = 100
	mlMaxBulkResults = 2500
)

// mlGetMetricHistoryBulkInterval samples a metric of several runs at up to
// max_results steps each, as MLflow does: the steps logged in the range,
// evenly thinned, always keeping the first and the last.
func (s *Server) mlGetMetricHistoryBulkInterval(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RunIDs     mlStrings `json:"run_ids"`
		MetricKey  string    `json:"metric_key"`
		StartStep  mlInt     `json:"start_step"`
		EndStep    mlInt     `json:"end_step"`
		MaxResults mlInt     `json:"max_results"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if len(req.RunIDs) == 0 {
		return requireField("run_ids", "")
	}
	if len(req.RunIDs) > mlMaxBulkRuns {
		return trainyard.FieldError("run_ids", "GetMetricHistoryBulkInterval request must specify at most %d run_ids. Received %d run_ids.", mlMaxBulkRuns, len(req.RunIDs))
	}
	if err := requireField("metric_key", req.MetricKey); err != nil {
		return err
	}
	maxResults := mlMaxBulkResults
	if req.MaxResults.Set {
		if req.MaxResults.V < 1 || req.MaxResults.V > mlMaxBulkResults {
			return trainyard.FieldError("max_results", "must be between 1 and %d, got %d", mlMaxBulkResults, req.MaxResults.V)
		}
		maxResults = int(req.MaxResults.V)
	}
	if req.StartStep.Set != req.EndStep.Set {
		return trainyard.FieldError("start_step", "If either start step or end step are specified, both must be specified.")
	}
	if req.StartStep.Set && req.StartStep.V > req.EndStep.V {
		return trainyard.FieldError("start_step", "end_step must be greater than start_step. Found start_step=%d and end_step=%d.", req.StartStep.V, req.EndStep.V)
	}
	q := trainyard.SeriesQuery{}
	if req.StartStep.Set {
		q.StartStep, q.EndStep = &req.StartStep.V, &req.EndStep.V
	}
	ids := slices.Clone([]string(req.RunIDs))
	slices.Sort(ids)
	ids = slices.Compact(ids)
	b := []byte(`{"metrics":[`)
	first := true
	for _, id := range ids {
		ser, err := s.readMLSeries(r.Context(), id, req.MetricKey, q)
		if err != nil {
			return err
		}
		keep := sampleSteps(ser.Steps, maxResults)
		type pt struct {
			step, ts int64
			v        float64
		}
		var pts []pt
		for i, st := range ser.Steps {
			if keep[st] {
				pts = append(pts, pt{st, ser.Times[i], ser.Values[i]})
			}
		}
		slices.SortStableFunc(pts, func(a, b pt) int {
			if a.step != b.step {
				return int(a.step - b.step)
			}
			return int(a.ts - b.ts)
		})
		for _, p := range pts {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendMLMetric(b, req.MetricKey, id, p.v, p.ts, p.step)
		}
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(b)
	return err
}

// sampleSteps picks at most n of the distinct steps, evenly spaced, with
// the smallest and the largest always kept.
func sampleSteps(steps []int64, n int) map[int64]bool {
	distinct := slices.Clone(steps)
	slices.Sort(distinct)
	distinct = slices.Compact(distinct)
	keep := make(map[int64]bool, min(n, len(distinct)))
	if len(distinct) <= n {
		for _, st := range distinct {
			keep[st] = true
		}
		return keep
	}
	if n == 1 {
		keep[distinct[0]] = true
		return keep
	}
	for i := 0; i < n; i++ {
		keep[distinct[i*(len(distinct)-1)/(n-1)]] = true
	}
	return keep
}
