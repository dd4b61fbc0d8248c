package trainyard

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
)

// Float is a float64 that keeps NaN and ±Inf through JSON, written as the
// strings "NaN", "Infinity" and "-Infinity" (as MLflow does).
type Float float64

// MarshalJSON writes finite values as numbers and the rest as strings.
func (f Float) MarshalJSON() ([]byte, error) { return AppendFloat(nil, float64(f)), nil }

// AppendFloat appends v in Float's JSON form.
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// UnmarshalJSON reads a number or one of "NaN", "Infinity", "-Infinity".
func (f *Float) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, ok := ParseSpecialFloat(s)
		if !ok {
			return errors.New("want a number or one of \"NaN\", \"Infinity\", \"-Infinity\", got " + strconv.Quote(s))
		}
		*f = Float(v)
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New("want a number, got " + string(b))
	}
	*f = Float(v)
	return nil
}

// ParseSpecialFloat reads the string forms of non-finite values, and any
// number written as a string.
func ParseSpecialFloat(s string) (float64, bool) {
	switch s {
	case "NaN", "nan":
		return math.NaN(), true
	case "Infinity", "inf", "Inf", "+Infinity":
		return math.Inf(1), true
	case "-Infinity", "-inf", "-Inf":
		return math.Inf(-1), true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// SeriesPoints is a batch of points of one metric, in columns. Times are
// Unix milliseconds. The three slices have the same length.
type SeriesPoints struct {
	Key    string
	Steps  []int64
	Values []float64
	Times  []int64
}

// Len is the number of points.
func (s *SeriesPoints) Len() int { return len(s.Values) }

// MaxPointsPerBatch bounds one append request.
const MaxPointsPerBatch = 1 << 20

// ValidateBatch checks an append batch, naming the series at fault.
func ValidateBatch(batch []SeriesPoints) error {
	var errs []error
	total := 0
	for i := range batch {
		s := &batch[i]
		if err := ValidateKey("metrics", s.Key); err != nil {
			errs = append(errs, err)
		}
		if len(s.Steps) != len(s.Values) || len(s.Times) != len(s.Values) {
			errs = append(errs, FieldError("metrics", "series %q has %d steps, %d values and %d times; they must be equal", s.Key, len(s.Steps), len(s.Values), len(s.Times)))
		}
		total += len(s.Values)
	}
	if total > MaxPointsPerBatch {
		errs = append(errs, &Error{Code: ETOOLARGE, Field: "metrics", Message: "metrics: batch has " + strconv.Itoa(total) + " points, more than " + strconv.Itoa(MaxPointsPerBatch) + "; send smaller batches"})
	}
	return errors.Join(errs...)
}

// MetricSummary is what the store keeps per metric of a run: the latest point
// and the extremes. Min and Max ignore NaN; they are NaN when every value was.
type MetricSummary struct {
	Count    int64 `json:"count"`
	Last     Float `json:"last"`
	LastStep int64 `json:"last_step"`
	LastTime int64 `json:"last_time"` // Unix ms
	Min      Float `json:"min"`
	Max      Float `json:"max"`
}

// Observe folds points into the summary. "Last" is the point with the
// highest step; among equal steps, the latest timestamp; then the larger
// value (MLflow's latest metric); then the one written later.
func (m *MetricSummary) Observe(steps []int64, values []float64, times []int64) {
	for i, v := range values {
		if m.Count == 0 {
			m.Min, m.Max = Float(math.NaN()), Float(math.NaN())
		}
		if m.Count == 0 || !laterThan(m.LastStep, m.LastTime, float64(m.Last), steps[i], times[i], v) {
			m.Last, m.LastStep, m.LastTime = Float(v), steps[i], times[i]
		}
		m.Count++
		if math.IsNaN(v) {
			continue
		}
		if math.IsNaN(float64(m.Min)) || v < float64(m.Min) {
			m.Min = Float(v)
		}
		if math.IsNaN(float64(m.Max)) || v > float64(m.Max) {
			m.Max = Float(v)
		}
	}
}

// SeriesQuery selects points of one series.
type SeriesQuery struct {
	// MaxPoints > 0 downsamples to at most that many buckets in step
	// order, each reported with its last point and its min and max, so that
	// spikes survive. A long series whose steps never decrease is cut into
	// buckets of consecutive points (equal counts, read from the chunks'
	// summaries); otherwise buckets are equal ranges of steps.
	MaxPoints int
	// StartStep and EndStep bound the steps, inclusive, when set.
	StartStep, EndStep *int64
	// Offset and Limit page through raw points in the order they were
	// written; they apply when MaxPoints is 0. Limit 0 means no limit.
	Offset, Limit int
}

// Series is the answer to a SeriesQuery. Min and Max are set only when
// Downsampled: bucket i covers points whose step lies in that bucket, and
// Steps[i], Values[i], Times[i] are its last point (by step).
type Series struct {
	Key         string    `json:"key"`
	Total       int64     `json:"total"` // points in the selected step range
	Downsampled bool      `json:"downsampled"`
	Steps       []int64   `json:"steps"`
	Values      []float64 `json:"-"`
	Times       []int64   `json:"times"`
	Min         []float64 `json:"-"`
	Max         []float64 `json:"-"`
}

// Merge folds o, a summary of points written after m's, into m.
func (m *MetricSummary) Merge(o MetricSummary) {
	if o.Count == 0 {
		return
	}
	if m.Count == 0 {
		*m = o
		return
	}
	if !laterThan(m.LastStep, m.LastTime, float64(m.Last), o.LastStep, o.LastTime, float64(o.Last)) {
		m.Last, m.LastStep, m.LastTime = o.Last, o.LastStep, o.LastTime
	}
	m.Count += o.Count
	if mn := float64(o.Min); mn == mn && (float64(m.Min) != float64(m.Min) || mn < float64(m.Min)) {
		m.Min = o.Min
	}
	if mx := float64(o.Max); mx == mx && (float64(m.Max) != float64(m.Max) || mx > float64(m.Max)) {
		m.Max = o.Max
	}
}

// laterThan reports whether point a (step, time, value) comes after point
// b in the order of "latest": by step, then time, then value (NaN lowest).
func laterThan(aStep, aTime int64, aValue float64, bStep, bTime int64, bValue float64) bool {
	switch {
	case aStep != bStep:
		return aStep > bStep
	case aTime != bTime:
		return aTime > bTime
	case aValue != aValue:
		return false
	case bValue != bValue:
		return true
	}
	return aValue > bValue
}
