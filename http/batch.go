package http

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/trainyard/trainyard"
)

// Batch reads for the web UI's compare page, which shows up to a hundred
// runs at once: one request instead of one per run, read concurrently on
// the server (a browser opens at most six connections to a host), and one
// body to parse.
//
//	GET /api/v1/batch/runs?id=A&id=B                  → {"runs": [...], "missing": [...]}
//	GET /api/v1/batch/series?key=K&run=A&run=B&max_points=W[&start_step=&end_step=][&fields=steps,values,min,max]
//	                                                  → {"series": [{"run_id", ...Series} | {"run_id", "key", "error"}]}
//
// Answers keep the order asked for. A run or metric that is not found is
// reported in the answer, not as a failure of the whole request. fields
// names the arrays of each series to send (default all five): a chart by
// step has no use for the timestamps, nearly half of the answer.

// maxBatch bounds the runs one batch request names.
const maxBatch = 1000

func (s *Server) batchRuns(w http.ResponseWriter, r *http.Request) error {
	ids := r.URL.Query()["id"]
	if err := checkBatch("id", ids); err != nil {
		return err
	}
	runs := make([]*trainyard.Run, len(ids))
	errs := make([]error, len(ids))
	forEach(r.Context(), len(ids), func(ctx context.Context, i int) {
		runs[i], errs[i] = s.cfg.Store.Run(ctx, ids[i])
	})
	out := struct {
		Runs    []*trainyard.Run `json:"runs"`
		Missing []string         `json:"missing"`
	}{Runs: []*trainyard.Run{}, Missing: []string{}}
	for i, err := range errs {
		switch {
		case err == nil:
			out.Runs = append(out.Runs, runs[i])
		case trainyard.IsCode(err, trainyard.ENOTFOUND):
			out.Missing = append(out.Missing, ids[i])
		default:
			return err
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) batchSeries(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	ids := q["run"]
	if err := checkBatch("run", ids); err != nil {
		return err
	}
	key := q.Get("key")
	if key == "" {
		return trainyard.FieldError("key", "is missing: name the metric, e.g. key=loss")
	}
	var sq trainyard.SeriesQuery
	var err error
	if sq.MaxPoints, err = intParam(q.Get("max_points"), "max_points", 0, 100_000); err != nil {
		return err
	}
	if sq.StartStep, err = int64Param(q.Get("start_step"), "start_step"); err != nil {
		return err
	}
	if sq.EndStep, err = int64Param(q.Get("end_step"), "end_step"); err != nil {
		return err
	}
	fields, err := parseSeriesFields(q["fields"])
	if err != nil {
		return err
	}
	if sq.MaxPoints == 0 {
		// Raw series of many runs could be gigabytes; a chart wants its width.
		return trainyard.FieldError("max_points", "is required (1 to 100000): a batch returns downsampled series")
	}
	parts := make([][]byte, len(ids))
	var failed error
	var mu sync.Mutex
	forEach(r.Context(), len(ids), func(ctx context.Context, i int) {
		ser, err := s.cfg.Store.ReadSeries(ctx, ids[i], key, sq)
		size := 64
		if ser != nil {
			size += len(ser.Values) * 64 // about what the five arrays take
		}
		head := strconv.AppendQuote(append(make([]byte, 0, size), `{"run_id":`...), ids[i])
		if err != nil {
			if code := trainyard.ErrorCode(err); code == trainyard.ENOTFOUND {
				b := strconv.AppendQuote(append(head, `,"key":`...), key)
				b = strconv.AppendQuote(append(b, `,"error":{"code":"not_found","message":`...), trainyard.ErrorMessage(err))
				parts[i] = append(b, "}}"...)
				return
			}
			mu.Lock()
			failed = err
			mu.Unlock()
			return
		}
		parts[i] = appendBatchSeries(append(head, ','), ser, fields)
	})
	if failed != nil {
		return failed
	}
	size := 16
	for _, p := range parts {
		size += len(p) + 1
	}
	b := append(make([]byte, 0, size), `{"series":[`...)
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p...)
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
	return nil
}

// seriesFields is a set of the arrays of a series.
type seriesFields uint8

const (
	fieldSteps seriesFields = 1 << iota
	fieldValues
	fieldTimestamps
	fieldMin
	fieldMax
	allSeriesFields = fieldSteps | fieldValues | fieldTimestamps | fieldMin | fieldMax
)

var seriesFieldNames = []struct {
	name string
	f    seriesFields
}{{"steps", fieldSteps}, {"values", fieldValues}, {"timestamps", fieldTimestamps}, {"min", fieldMin}, {"max", fieldMax}}

// parseSeriesFields reads fields=a,b (or fields=a&fields=b); none means all.
func parseSeriesFields(params []string) (seriesFields, error) {
	if len(params) == 0 {
		return allSeriesFields, nil
	}
	var set seriesFields
	for _, p := range params {
		for _, name := range strings.Split(p, ",") {
			name = strings.TrimSpace(name)
			found := false
			for _, f := range seriesFieldNames {
				if f.name == name {
					set |= f.f
					found = true
				}
			}
			if !found {
				return 0, trainyard.FieldError("fields", "%q is not an array of a series: name some of steps, values, timestamps, min, max", name)
			}
		}
	}
	return set, nil
}

// appendBatchSeries appends the members of a series' JSON object after
// its run_id (key, total, downsampled, then the arrays in fields; min and
// max only when downsampled) and the closing brace.
func appendBatchSeries(b []byte, s *trainyard.Series, fields seriesFields) []byte {
	b = strconv.AppendQuote(append(b, `"key":`...), s.Key)
	b = strconv.AppendInt(append(b, `,"total":`...), s.Total, 10)
	b = strconv.AppendBool(append(b, `,"downsampled":`...), s.Downsampled)
	if fields&fieldSteps != 0 {
		b = appendInts(append(b, `,"steps":`...), s.Steps)
	}
	if fields&fieldValues != 0 {
		b = appendFloats(append(b, `,"values":`...), s.Values)
	}
	if fields&fieldTimestamps != 0 {
		b = appendInts(append(b, `,"timestamps":`...), s.Times)
	}
	if s.Downsampled && fields&fieldMin != 0 {
		b = appendFloats(append(b, `,"min":`...), s.Min)
	}
	if s.Downsampled && fields&fieldMax != 0 {
		b = appendFloats(append(b, `,"max":`...), s.Max)
	}
	return append(b, '}')
}

func checkBatch(field string, ids []string) error {
	if len(ids) == 0 {
		return trainyard.FieldError(field, "is missing: name one or more runs, e.g. ?%s=abc&%s=def", field, field)
	}
	if len(ids) > maxBatch {
		return trainyard.FieldError(field, "names %d runs, more than %d", len(ids), maxBatch)
	}
	return nil
}

// forEach calls f for 0..n-1 on as many goroutines as there are CPUs.
func forEach(ctx context.Context, n int, f func(ctx context.Context, i int)) {
	workers := min(n, runtime.GOMAXPROCS(0))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(ctx, i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
