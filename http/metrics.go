package http

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/trainyard/trainyard"
	"github.com/valyala/fastjson"
)

// Metric batches are the hot path (a million points a second), so they are
// parsed with fastjson, without reflection, into columns. The body is
//
//	{"points": [{"key": "loss", "step": 1, "value": 0.5, "timestamp": 1700000000000}, ...],
//	 "series": [{"key": "loss", "steps": [...], "values": [...], "timestamps": [...]}]}
//
// Both lists are optional. step defaults to 0 and timestamp (Unix ms) to the
// time of the request; value may be "NaN", "Infinity" or "-Infinity". An
// optional "batch_id" makes the batch idempotent: sent again, it is not
// stored again.

var parsers fastjson.ParserPool

var bodyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func (s *Server) appendMetrics(w http.ResponseWriter, r *http.Request) error {
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
	batch, n, batchID, err := parseMetrics(body, s.cfg.Clock().UnixMilli())
	if err != nil {
		return err
	}
	dup, err := s.cfg.Store.AppendMetricsOnce(r.Context(), r.PathValue("id"), batchID, batch)
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
	w.Write([]byte("}\n"))
	return nil
}

func readBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// parseMetrics reads a metric batch; errors name the element at fault,
// such as points[3].value.
func parseMetrics(body []byte, now int64) ([]trainyard.SeriesPoints, int, string, error) {
	if out, n, batchID, ok := parseRowsFast(body, now); ok {
		return out, n, batchID, nil
	}
	return parseMetricsTree(body, now)
}

// parseMetricsTree parses any batch with fastjson; its errors name the
// element at fault.
func parseMetricsTree(body []byte, now int64) ([]trainyard.SeriesPoints, int, string, error) {
	p := parsers.Get()
	defer parsers.Put(p)
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, 0, "", trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON: %v", err)
	}
	obj, err := v.Object()
	if err != nil {
		return nil, 0, "", trainyard.Errorf(trainyard.EINVALID, "body must be a JSON object with \"points\" or \"series\"")
	}
	var (
		out     []trainyard.SeriesPoints
		index   = map[string]int{} // key → position in out, for points
		n       int
		batchID string
		perr    error
	)
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if perr != nil {
			return
		}
		switch string(k) {
		case "points":
			perr = parsePoints(v, now, &out, index, &n)
		case "series":
			perr = parseSeries(v, now, &out, &n)
		case "batch_id":
			b, err := v.StringBytes()
			if err != nil {
				perr = trainyard.FieldError("batch_id", "must be a string")
				return
			}
			batchID = string(b)
		default:
			perr = trainyard.FieldError(string(k), "unknown field %q (want \"points\", \"series\" or \"batch_id\")", k)
		}
	})
	if perr != nil {
		return nil, 0, "", perr
	}
	return out, n, batchID, nil
}

func parsePoints(v *fastjson.Value, now int64, out *[]trainyard.SeriesPoints, index map[string]int, n *int) error {
	arr, err := v.Array()
	if err != nil {
		return trainyard.FieldError("points", "must be an array of {key, value, step, timestamp}")
	}
	// Field names for errors are formatted only on error: this loop runs
	// for every point.
	var (
		badField string
		badValue *fastjson.Value
	)
	for i, pv := range arr {
		o, err := pv.Object()
		if err != nil {
			return trainyard.FieldError(fmt.Sprintf("points[%d]", i), "must be an object")
		}
		var (
			key          []byte
			hasKey, hasV bool
			step         int64
			ts           = now
			val          float64
			ok           = true
		)
		o.Visit(func(k []byte, fv *fastjson.Value) {
			if !ok {
				return
			}
			switch string(k) {
			case "key":
				hasKey = true
				if fv.Type() != fastjson.TypeString {
					ok, badField, badValue = false, "key", fv
					return
				}
				key, _ = fv.StringBytes()
			case "value":
				hasV = true
				if val, ok = fastFloat(fv); !ok {
					badField, badValue = "value", fv
				}
			case "step":
				if step, ok = fastInt(fv); !ok {
					badField, badValue = "step", fv
				}
			case "timestamp":
				if ts, ok = fastInt(fv); !ok {
					badField, badValue = "timestamp", fv
				}
			default:
				ok, badField, badValue = false, string(k), nil
			}
		})
		if !ok {
			field := fmt.Sprintf("points[%d].%s", i, badField)
			switch badField {
			case "key":
				return trainyard.FieldError(field, "must be a string")
			case "value":
				_, err := floatValue(badValue, field)
				return err
			case "step", "timestamp":
				_, err := intValue(badValue, field)
				return err
			}
			return trainyard.FieldError(field, "unknown field (want key, value, step, timestamp)")
		}
		if !hasKey || !hasV {
			return trainyard.FieldError(fmt.Sprintf("points[%d]", i), "needs \"key\" and \"value\"")
		}
		pos, found := index[string(key)]
		if !found {
			pos = len(*out)
			index[string(key)] = pos
			*out = append(*out, trainyard.SeriesPoints{Key: string(key)})
		}
		sp := &(*out)[pos]
		sp.Steps = append(sp.Steps, step)
		sp.Values = append(sp.Values, val)
		sp.Times = append(sp.Times, ts)
		*n++
	}
	return nil
}

// fastFloat reads a number or "NaN", "Infinity", "-Infinity".
func fastFloat(v *fastjson.Value) (float64, bool) {
	switch v.Type() {
	case fastjson.TypeNumber:
		f, err := v.Float64()
		return f, err == nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return trainyard.ParseSpecialFloat(string(b))
	}
	return 0, false
}

func fastInt(v *fastjson.Value) (int64, bool) {
	if v.Type() != fastjson.TypeNumber {
		return 0, false
	}
	n, err := v.Int64()
	return n, err == nil
}

func parseSeries(v *fastjson.Value, now int64, out *[]trainyard.SeriesPoints, n *int) error {
	arr, err := v.Array()
	if err != nil {
		return trainyard.FieldError("series", "must be an array of {key, steps, values, timestamps}")
	}
	for i, sv := range arr {
		o, err := sv.Object()
		if err != nil {
			return trainyard.FieldError(fmt.Sprintf("series[%d]", i), "must be an object")
		}
		var (
			sp    trainyard.SeriesPoints
			times bool
			ferr  error
		)
		o.Visit(func(k []byte, fv *fastjson.Value) {
			if ferr != nil {
				return
			}
			field := fmt.Sprintf("series[%d].%s", i, k)
			switch string(k) {
			case "key":
				var b []byte
				b, ferr = fv.StringBytes()
				sp.Key = string(b)
				if ferr != nil {
					ferr = trainyard.FieldError(field, "must be a string")
				}
			case "steps":
				sp.Steps, ferr = intArray(fv, field)
			case "timestamps":
				sp.Times, ferr = intArray(fv, field)
				times = true
			case "values":
				var a []*fastjson.Value
				if a, ferr = fv.Array(); ferr != nil {
					ferr = trainyard.FieldError(field, "must be an array of numbers")
					return
				}
				sp.Values = make([]float64, len(a))
				for j, e := range a {
					var ok bool
					if sp.Values[j], ok = fastFloat(e); !ok {
						_, ferr = floatValue(e, fmt.Sprintf("%s[%d]", field, j))
						return
					}
				}
			default:
				ferr = trainyard.FieldError(field, "unknown field")
			}
		})
		if ferr != nil {
			return ferr
		}
		if sp.Key == "" {
			return trainyard.FieldError(fmt.Sprintf("series[%d].key", i), "is missing or empty")
		}
		if sp.Steps == nil {
			sp.Steps = make([]int64, len(sp.Values)) // step 0, as MLflow does
		}
		if !times {
			sp.Times = make([]int64, len(sp.Values))
			for j := range sp.Times {
				sp.Times[j] = now
			}
		}
		if len(sp.Steps) != len(sp.Values) || len(sp.Times) != len(sp.Values) {
			return trainyard.FieldError(fmt.Sprintf("series[%d]", i), "has %d steps, %d values and %d timestamps; they must be equal", len(sp.Steps), len(sp.Values), len(sp.Times))
		}
		*n += len(sp.Values)
		*out = append(*out, sp)
	}
	return nil
}

func floatValue(v *fastjson.Value, field string) (float64, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return v.Float64()
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if f, ok := trainyard.ParseSpecialFloat(string(b)); ok {
			return f, nil
		}
		return 0, trainyard.FieldError(field, "%q is not a number (use \"NaN\", \"Infinity\" or \"-Infinity\" for those)", b)
	}
	return 0, trainyard.FieldError(field, "must be a number, not %s", v.Type())
}

func intValue(v *fastjson.Value, field string) (int64, error) {
	if v.Type() != fastjson.TypeNumber {
		return 0, trainyard.FieldError(field, "must be an integer, not %s", v.Type())
	}
	n, err := v.Int64()
	if err != nil {
		return 0, trainyard.FieldError(field, "%s is not an integer", v.String())
	}
	return n, nil
}

func intArray(v *fastjson.Value, field string) ([]int64, error) {
	a, err := v.Array()
	if err != nil {
		return nil, trainyard.FieldError(field, "must be an array of integers")
	}
	out := make([]int64, len(a))
	for j, e := range a {
		var ok bool
		if out[j], ok = fastInt(e); !ok {
			_, err := intValue(e, fmt.Sprintf("%s[%d]", field, j))
			return nil, err
		}
	}
	return out, nil
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
