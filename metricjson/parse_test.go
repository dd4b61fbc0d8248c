package metricjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard"
	"pgregory.net/rapid"
)

// floatTexts are the ways a client may write the double v in JSON: Go's
// and Python's shortest form, printf's %.17g (what C, numpy and many
// loggers write), exponent form with 17 digits, and plain decimals.
func floatTexts(v float64) []string {
	switch {
	case math.IsNaN(v):
		return []string{`"NaN"`}
	case math.IsInf(v, 1):
		return []string{`"Infinity"`}
	case math.IsInf(v, -1):
		return []string{`"-Infinity"`}
	}
	j, _ := json.Marshal(v)
	return []string{
		strconv.FormatFloat(v, 'g', -1, 64),
		strconv.FormatFloat(v, 'g', 17, 64),
		strconv.FormatFloat(v, 'e', 16, 64),
		strconv.FormatFloat(v, 'E', -1, 64),
		strconv.FormatFloat(v, 'f', -1, 64),
		string(j),
		`"` + strconv.FormatFloat(v, 'g', 17, 64) + `"`, // a number written as a string
	}
}

func sameFloat(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Float64bits(a) == math.Float64bits(b)
}

// Every double, however it is written, reads back as exactly that double,
// in both forms. (fastjson's reader, used before for the columnar form,
// misread about 2 % of %.17g doubles in exponent form by one ULP.)
func TestParseMetricsFloatsRoundTripExactly(t *testing.T) {
	check := func(t interface {
		Fatalf(string, ...any)
	}, v float64) {
		for _, text := range floatTexts(v) {
			for _, body := range []string{
				`{"series":[{"key":"k","values":[` + text + `]}]}`,
				`{"points":[{"key":"k","value":` + text + `}]}`,
			} {
				got, n, _, err := Parse([]byte(body), 0)
				if err != nil || n != 1 || !sameFloat(got[0].Values[0], v) {
					var gv float64
					if err == nil {
						gv = got[0].Values[0]
					}
					t.Fatalf("%s: read %v (bits %#x), %v; want %v (bits %#x)", body, gv, math.Float64bits(gv), err, v, math.Float64bits(v))
				}
			}
		}
	}
	// The example, the extremes, and every finite power of two.
	for _, v := range []float64{2.0000000015e+09, 0.1, 1.0 / 3, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64,
		2.2250738585072014e-308, 2.2250738585072009e-308, math.Copysign(0, -1), 9007199254740993, math.NaN(), math.Inf(1), math.Inf(-1)} {
		check(t, v)
	}
	for e := -1074; e <= 1023; e++ {
		check(t, math.Ldexp(1, e))
	}
	rapid.Check(t, func(t *rapid.T) {
		check(t, math.Float64frombits(rapid.Uint64().Draw(t, "bits")))
		// rapid favours small numbers and edges; draw uniform bits too.
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1))
		for range 20 {
			check(t, math.Float64frombits(rng.Uint64()))
		}
	})
}

// Integers (steps and timestamps) read back exactly over all of int64.
func TestParseMetricsIntegersRoundTripExactly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		step, ts := rapid.Int64().Draw(t, "step"), rapid.Int64().Draw(t, "ts")
		for _, body := range []string{
			fmt.Sprintf(`{"series":[{"key":"k","values":[1],"steps":[%d],"timestamps":[%d]}]}`, step, ts),
			fmt.Sprintf(`{"points":[{"key":"k","value":1,"step":%d,"timestamp":%d}]}`, step, ts),
		} {
			got, _, _, err := Parse([]byte(body), 0)
			if err != nil || got[0].Steps[0] != step || got[0].Times[0] != ts {
				t.Fatalf("%s: %+v, %v", body, got, err)
			}
		}
	})
}

// A body over the point limit is refused as soon as the parser counts
// one point too many, and costs no more memory than the limit's worth:
// before, the whole body became a tree of values first (a 60 MB body of
// 15M values took 6 GB and 35 s before its 413).
func TestParseMetricsStopsAtTheLimit(t *testing.T) {
	const values = 1_000_000
	var b bytes.Buffer
	b.WriteString(`{"series":[{"key":"k","values":[`)
	for i := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("0.5")
	}
	b.WriteString(`]}]}`)
	body := b.Bytes()
	for _, limit := range []int{1000, values - 1} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, _, _, err := ParseLimit(body, 0, limit)
		runtime.ReadMemStats(&after)
		if trainyard.ErrorCode(err) != trainyard.ETOOLARGE || !strings.Contains(err.Error(), fmt.Sprintf("series[0].values[%d]", limit)) {
			t.Fatalf("limit %d: err = %v; want too_large naming series[0].values[%d]", limit, err, limit)
		}
		// Columns of at most limit values, grown by append (×1.25 for
		// large slices: every size it passed through adds up to 5 × 8
		// bytes a point), plus a little.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(48*limit+64<<10) {
			t.Errorf("limit %d: parsing allocated %d bytes; want at most %d", limit, alloc, 48*limit+64<<10)
		}
	}
	// The same body within the limit is read whole.
	if _, n, _, err := ParseLimit(body, 0, values); err != nil || n != values {
		t.Fatalf("at the limit: n=%d, %v", n, err)
	}
	// The row form counts too, and so do steps and timestamps, which may
	// come before the values they go with.
	rows := `{"points":[` + strings.Repeat(`{"key":"a","value":1},`, 10) + `{"key":"a","value":1}]}`
	if _, _, _, err := ParseLimit([]byte(rows), 0, 10); trainyard.ErrorCode(err) != trainyard.ETOOLARGE || !strings.Contains(err.Error(), "points[10]") {
		t.Errorf("rows: %v", err)
	}
	steps := `{"series":[{"key":"a","steps":[` + strings.Repeat("1,", 20) + `1],"values":[]}]}`
	if _, _, _, err := ParseLimit([]byte(steps), 0, 10); trainyard.ErrorCode(err) != trainyard.ETOOLARGE || !strings.Contains(err.Error(), "series[0].steps[20]") {
		t.Errorf("steps: %v", err)
	}
}

func TestParseMetricsRefusesWhatIsNotExactly(t *testing.T) {
	for body, want := range map[string]string{
		``: "body is empty",
		`{"points": [{"key": "a", "value": 1e999}]}`:                          `points[0].value: 1e999 is beyond the range of a 64-bit float`,
		`{"series": [{"key": "a", "values": [-1e400]}]}`:                      `series[0].values[0]: -1e400 is beyond the range`,
		`{"points": [{"key": "a", "value": 1, "step": 9223372036854775808}]}`: `points[0].step: 9223372036854775808 is beyond the range of a 64-bit integer`,
		`{"series": [{"key": "a", "values": [1], "steps": [1e3]}]}`:           `series[0].steps[0]: 1e3 is not an integer`,
		`{"points": [{"key": "a", "value": NaN}]}`:                            `not valid JSON`,
		`{"points": [{"key": "a", "value": 1, "value": 2}]}`:                  `points[0].value: appears twice`,
		`{"series": [{"key": "a", "values": [1], "values": [2]}]}`:            `series[0].values: appears twice`,
		`{"points": [], "points": []}`:                                        `points: appears twice`,
		`{"batch_id": 5}`:                                                     `batch_id: must be a string, not a number`,
		`{"points": []} {}`:                                                   `data after the object`,
		`{"series": [{"key": "a", "values": [1], "extra": 1}]}`:               `series[0].extra: unknown field`,
		`{"points": [{"key": "a", "value": true}]}`:                           `points[0].value: must be a number, not a boolean`,
		`{"points": [{"key": "a\u0000", "value": 1}]}` + "\x01":               `data after the object`,
		"{\"points\": [{\"key\": \"a\x01\", \"value\": 1}]}":                  `points[0].key`,
	} {
		_, _, _, err := Parse([]byte(body), 0)
		if err == nil || !strings.Contains(trainyard.ErrorMessage(err), want) || trainyard.ErrorCode(err) != trainyard.EINVALID {
			t.Errorf("Parse(%s) = %v; want invalid naming %q", body, err, want)
		}
	}
	// Escapes are JSON: legal in names and keys.
	got, _, id, err := Parse([]byte(`{"po\u0069nts": [{"k\u0065y": "l\u00f6ss\/x", "value": "N\u0061N"}], "batch_id": "b\u002d1"}`), 7)
	if err != nil || got[0].Key != "löss/x" || !math.IsNaN(got[0].Values[0]) || id != "b-1" || got[0].Times[0] != 7 {
		t.Fatalf("escapes: %+v %q %v", got, id, err)
	}
}

// referenceParse is the batch grammar written the plain way, on
// encoding/json's tokenizer: the oracle that the fuzz test holds the
// one-pass parser to. ok is false for a body the grammar refuses.
func referenceParse(body []byte, now int64) (out []trainyard.SeriesPoints, n int, batchID string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	delim := func(want json.Delim) bool { t, err := dec.Token(); return err == nil && t == want }
	name := func(seen map[string]bool) (string, bool) {
		t, err := dec.Token()
		s, isStr := t.(string)
		if err != nil || !isStr || seen[s] {
			return "", false
		}
		seen[s] = true
		return s, true
	}
	integer := func() (int64, bool) {
		t, err := dec.Token()
		num, isNum := t.(json.Number)
		if err != nil || !isNum || strings.ContainsAny(string(num), ".eE") {
			return 0, false
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		return v, err == nil
	}
	float := func() (float64, bool) {
		t, err := dec.Token()
		if err != nil {
			return 0, false
		}
		switch x := t.(type) {
		case json.Number:
			v, err := strconv.ParseFloat(string(x), 64)
			return v, err == nil
		case string:
			return trainyard.ParseSpecialFloat(x)
		}
		return 0, false
	}
	index := map[string]int{}
	if !delim('{') {
		return nil, 0, "", false
	}
	top := map[string]bool{}
	for dec.More() {
		k, good := name(top)
		if !good {
			return nil, 0, "", false
		}
		switch k {
		case "batch_id":
			t, err := dec.Token()
			s, isStr := t.(string)
			if err != nil || !isStr {
				return nil, 0, "", false
			}
			batchID = s
		case "points":
			if !delim('[') {
				return nil, 0, "", false
			}
			for dec.More() {
				if !delim('{') {
					return nil, 0, "", false
				}
				var (
					key          string
					hasK, hasV   bool
					step, ts     = int64(0), now
					val          float64
					fields       = map[string]bool{}
					good2, isStr bool
				)
				for dec.More() {
					f, good := name(fields)
					if !good {
						return nil, 0, "", false
					}
					switch f {
					case "key":
						t, err := dec.Token()
						if key, isStr = t.(string); err != nil || !isStr {
							return nil, 0, "", false
						}
						hasK = true
					case "value":
						if val, good2 = float(); !good2 {
							return nil, 0, "", false
						}
						hasV = true
					case "step":
						if step, good2 = integer(); !good2 {
							return nil, 0, "", false
						}
					case "timestamp":
						if ts, good2 = integer(); !good2 {
							return nil, 0, "", false
						}
					default:
						return nil, 0, "", false
					}
				}
				if !delim('}') || !hasK || !hasV {
					return nil, 0, "", false
				}
				pos, found := index[key]
				if !found {
					pos = len(out)
					index[key] = pos
					out = append(out, trainyard.SeriesPoints{Key: key})
				}
				sp := &out[pos]
				sp.Steps, sp.Values, sp.Times = append(sp.Steps, step), append(sp.Values, val), append(sp.Times, ts)
				n++
			}
			if !delim(']') {
				return nil, 0, "", false
			}
		case "series":
			if !delim('[') {
				return nil, 0, "", false
			}
			for dec.More() {
				if !delim('{') {
					return nil, 0, "", false
				}
				var sp trainyard.SeriesPoints
				var hasS, hasT bool
				fields := map[string]bool{}
				ints := func() ([]int64, bool) {
					if !delim('[') {
						return nil, false
					}
					var a []int64
					for dec.More() {
						v, good := integer()
						if !good {
							return nil, false
						}
						a = append(a, v)
					}
					return a, delim(']')
				}
				for dec.More() {
					f, good := name(fields)
					if !good {
						return nil, 0, "", false
					}
					switch f {
					case "key":
						t, err := dec.Token()
						s, isStr := t.(string)
						if err != nil || !isStr {
							return nil, 0, "", false
						}
						sp.Key = s
					case "steps":
						if sp.Steps, good = ints(); !good {
							return nil, 0, "", false
						}
						hasS = true
					case "timestamps":
						if sp.Times, good = ints(); !good {
							return nil, 0, "", false
						}
						hasT = true
					case "values":
						if !delim('[') {
							return nil, 0, "", false
						}
						for dec.More() {
							v, good := float()
							if !good {
								return nil, 0, "", false
							}
							sp.Values = append(sp.Values, v)
						}
						if !delim(']') {
							return nil, 0, "", false
						}
					default:
						return nil, 0, "", false
					}
				}
				if !delim('}') || sp.Key == "" {
					return nil, 0, "", false
				}
				if !hasS {
					sp.Steps = make([]int64, len(sp.Values))
				}
				if !hasT {
					sp.Times = make([]int64, len(sp.Values))
					for i := range sp.Times {
						sp.Times[i] = now
					}
				}
				if len(sp.Steps) != len(sp.Values) || len(sp.Times) != len(sp.Values) {
					return nil, 0, "", false
				}
				n += len(sp.Values)
				out = append(out, sp)
			}
			if !delim(']') {
				return nil, 0, "", false
			}
		default:
			return nil, 0, "", false
		}
	}
	if !delim('}') {
		return nil, 0, "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, "", false
	}
	return out, n, batchID, true
}

var fuzzSeeds = []string{
	`{"points": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1000}, {"key":"a","value":"NaN","step":-3}], "batch_id": "b1"}`,
	`{"points":[{"value":1e-3,"key":"x","timestamp":5,"step":0}]}`,
	`{"points": []}`,
	`{"points":[{"key":"k","value":"Infinity","step":9223372036854775807}]} `,
	`{"series": [{"key": "lr", "values": [0.1, "NaN", 2.0000000015e+09], "steps": [5, 6, 7], "timestamps": [1, 2, 3]}], "batch_id": "x"}`,
	`{"series": [{"key": "a", "values": [1, 2]}, {"key": "b", "values": []}], "points": [{"key": "a", "value": -0}]}`,
	`{"series":[{"key":"k\u00e9","values":[1e308,-4.9e-324]}]}`,
	` { "points" : [ { "key" : "a" , "value" : 1 } ] } `,
}

// The one-pass parser accepts exactly what the plain reading of the
// grammar on encoding/json accepts, and reads the same columns from it.
func FuzzParseMetricsAgreesWithReference(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, n, id, err := Parse(body, 42)
		if err != nil && trainyard.ErrorCode(err) != trainyard.EINVALID {
			t.Fatalf("%q: error %v has code %s", body, err, trainyard.ErrorCode(err))
		}
		if !utf8.Valid(body) {
			return // encoding/json replaces invalid bytes; the parser keeps them for ValidateKey to refuse
		}
		ref, rn, rid, ok := referenceParse(body, 42)
		if ok != (err == nil) {
			t.Fatalf("%q: parser error %v, reference accepts: %v", body, err, ok)
		}
		if !ok {
			return
		}
		if diff := cmp.Diff(ref, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" || n != rn || id != rid {
			t.Fatalf("%q: parser and reference differ (n %d/%d, id %q/%q) (-reference +parser):\n%s", body, n, rn, id, rid, diff)
		}
	})
}

func BenchmarkParseMetricsSeries(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"series":[`)
	for k := range 10 {
		if k > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"key":"m%d","steps":[`, k)
		for i := range 1000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(100000 + i))
		}
		sb.WriteString(`],"values":[`)
		for i := range 1000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatFloat(float64(i)*0.001+1.0/3, 'g', 17, 64))
		}
		sb.WriteString(`],"timestamps":[`)
		for i := range 1000 {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.Itoa(1700000000000 + i))
		}
		sb.WriteString(`]}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, err := Parse(body, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "points/s")
}

func TestParseMetrics(t *testing.T) {
	got, n, id, err := Parse([]byte(`{
		"batch_id": "b-1",
		"points": [
			{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1000},
			{"key": "acc", "value": "NaN", "step": 1},
			{"key": "loss", "value": "-Infinity", "step": 2, "timestamp": 2000}
		],
		"series": [{"key": "lr", "values": [0.1, "Infinity"], "steps": [5, 6], "timestamps": [7, 8]}, {"key": "x", "values": [1]}]
	}`), 99)
	if err != nil {
		t.Fatal(err)
	}
	want := []trainyard.SeriesPoints{
		{Key: "loss", Steps: []int64{1, 2}, Values: []float64{0.5, math.Inf(-1)}, Times: []int64{1000, 2000}},
		{Key: "acc", Steps: []int64{1}, Values: []float64{math.NaN()}, Times: []int64{99}},
		{Key: "lr", Steps: []int64{5, 6}, Values: []float64{0.1, math.Inf(1)}, Times: []int64{7, 8}},
		{Key: "x", Steps: []int64{0}, Values: []float64{1}, Times: []int64{99}},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" || n != 6 || id != "b-1" {
		t.Fatalf("n=%d (-want +got):\n%s", n, diff)
	}
}

func TestParseMetricsErrorsNameTheElement(t *testing.T) {
	for body, want := range map[string]string{
		`[]`:                         "JSON object",
		`{"pointz": []}`:             "pointz",
		`{"points": {}}`:             "points: must be an array",
		`{"points": [1]}`:            "points[0]: must be an object",
		`{"points": [{"key": "a"}]}`: `points[0]: needs "key" and "value"`,
		`{"points": [{"key": "a", "value": "x"}]}`:                   `points[0].value: "x" is not a number`,
		`{"points": [{"key": "a", "value": null}]}`:                  `points[0].value: must be a number`,
		`{"points": [{"key": 1, "value": 1}]}`:                       `points[0].key: must be a string`,
		`{"points": [{"key": "a", "value": 1, "step": 1.5}]}`:        `points[0].step: 1.5 is not an integer`,
		`{"points": [{"key": "a", "value": 1, "extra": 1}]}`:         `points[0].extra`,
		`{"series": [{"key": "a", "values": [1, 2], "steps": [1]}]}`: `series[0]: has 1 steps, 2 values`,
		`{"series": [{"values": [1]}]}`:                              `series[0].key`,
		`{"series": [{"key": "a", "values": [1, "y"]}]}`:             `series[0].values[1]`,
		`{"points": [`: "not valid JSON",
	} {
		_, _, _, err := Parse([]byte(body), 0)
		if err == nil || !strings.Contains(trainyard.ErrorMessage(err), want) || trainyard.ErrorCode(err) != trainyard.EINVALID {
			t.Errorf("Parse(%s) = %v; want invalid naming %q", body, err, want)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte(`{"points": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1000}]}`))
	f.Add([]byte(`{"series": [{"key": "lr", "values": [0.1, "NaN"], "steps": [5, 6]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, n, _, err := Parse(body, 1)
		if err != nil {
			return
		}
		total := 0
		for _, s := range got {
			if len(s.Steps) != len(s.Values) || len(s.Times) != len(s.Values) {
				t.Fatalf("ragged series %+v", s)
			}
			total += len(s.Values)
		}
		if total != n {
			t.Fatalf("counted %d points, series hold %d", n, total)
		}
	})
}

func BenchmarkParseMetricsPoints(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"points":[`)
	for i := range 10000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"key":"loss","value":0.123456789,"step":`)
		sb.WriteString(strings.Repeat("1", 1+i%5))
		sb.WriteString(`,"timestamp":1700000000000}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, _, err := Parse(body, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "points/s")
}
