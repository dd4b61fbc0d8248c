package http

import (
	"net/http"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricjson"
)

// appendMetrics answers POST /api/v1/runs/{id}/metrics. The body is held
// under the server's memory budget from before it is read until the batch
// is stored, and parsed in one pass that stops at the point limit. The
// answer is {"accepted": n, "duplicate": false}, with "directive":
// "stop" or "pause" when the run is a sweep's trial that its searcher
// wants stopped (the SDK's should_stop).
func (s *Server) appendMetrics(w http.ResponseWriter, r *http.Request) error {
	body, release, err := s.cfg.Budget.ReadBody(w, r, s.cfg.MaxBodyBytes, costMetrics)
	if err != nil {
		return err
	}
	defer release()
	batch, n, batchID, err := metricjson.Parse(body, s.cfg.Clock().UnixMilli())
	if err != nil {
		return err
	}
	dup, err := s.cfg.Tracking.AppendMetrics(r.Context(), r.PathValue("id"), batchID, batch)
	if err != nil {
		return err
	}
	if dup {
		n = 0
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(strconv.AppendInt([]byte(`{"accepted":`), int64(n), 10))
	w.Write([]byte(`,"duplicate":`))
	w.Write(strconv.AppendBool(nil, dup))
	if s.cfg.Sweeps != nil {
		// A trial's code learns here that its searcher wants it to stop or
		// pause (the SDK's should_stop); for other runs this is one map read.
		if d := s.cfg.Sweeps.Directive(r.PathValue("id")); d != "" {
			w.Write([]byte(`,"directive":"` + d + `"`))
		}
	}
	w.Write([]byte("}\n"))
	return nil
}

// readMetric answers GET /api/v1/runs/{id}/metrics/{key}, encoding the
// columns by hand: a downsampled million-point series is the chart's
// critical path.
func (s *Server) readMetric(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var sq trainyard.SeriesQuery
	var err error
	if sq.MaxPoints, err = intParam(q.Get("max_points"), "max_points", 0, 1_000_000); err != nil {
		return err
	}
	if sq.Offset, err = intParam(q.Get("offset"), "offset", 0, 1<<31-1); err != nil {
		return err
	}
	if sq.Limit, err = intParam(q.Get("limit"), "limit", 0, 10_000_000); err != nil {
		return err
	}
	if sq.StartStep, err = int64Param(q.Get("start_step"), "start_step"); err != nil {
		return err
	}
	if sq.EndStep, err = int64Param(q.Get("end_step"), "end_step"); err != nil {
		return err
	}
	key := r.PathValue("key")
	if key == "" {
		return trainyard.FieldError("key", "is empty: name the metric, e.g. /metrics/loss")
	}
	ser, err := s.cfg.Store.ReadSeries(r.Context(), r.PathValue("id"), key, sq)
	if err != nil {
		return err
	}
	b := encodeSeries(make([]byte, 0, 64+len(ser.Values)*48), ser)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

func encodeSeries(b []byte, s *trainyard.Series) []byte {
	b = append(b, `{"key":`...)
	b = strconv.AppendQuote(b, s.Key)
	b = append(b, `,"total":`...)
	b = strconv.AppendInt(b, s.Total, 10)
	b = append(b, `,"downsampled":`...)
	b = strconv.AppendBool(b, s.Downsampled)
	b = appendInts(append(b, `,"steps":`...), s.Steps)
	b = appendFloats(append(b, `,"values":`...), s.Values)
	b = appendInts(append(b, `,"timestamps":`...), s.Times)
	if s.Downsampled {
		b = appendFloats(append(b, `,"min":`...), s.Min)
		b = appendFloats(append(b, `,"max":`...), s.Max)
	}
	return append(b, "}\n"...)
}

func appendInts(b []byte, v []int64) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, x, 10)
	}
	return append(b, ']')
}

func appendFloats(b []byte, v []float64) []byte {
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = trainyard.AppendFloat(b, x)
	}
	return append(b, ']')
}
