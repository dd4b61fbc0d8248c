package http

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard"
)

func TestParseMetrics(t *testing.T) {
	got, n, id, err := parseMetrics([]byte(`{
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
		_, _, _, err := parseMetrics([]byte(body), 0)
		if err == nil || !strings.Contains(trainyard.ErrorMessage(err), want) || trainyard.ErrorCode(err) != trainyard.EINVALID {
			t.Errorf("parseMetrics(%s) = %v; want invalid naming %q", body, err, want)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add([]byte(`{"points": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1000}]}`))
	f.Add([]byte(`{"series": [{"key": "lr", "values": [0.1, "NaN"], "steps": [5, 6]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, n, _, err := parseMetrics(body, 1)
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
		if _, _, _, err := parseMetrics(body, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "points/s")
}

// Whenever the fast row parser answers, it answers what the fastjson path
// does; it may only decline (and then the fastjson path decides).
func FuzzParseRowsFastAgreesWithTree(f *testing.F) {
	f.Add([]byte(`{"points": [{"key": "loss", "value": 0.5, "step": 1, "timestamp": 1000}, {"key":"a","value":"NaN","step":-3}], "batch_id": "b1"}`))
	f.Add([]byte(`{"points":[{"value":1e-3,"key":"x","timestamp":5,"step":0}]}`))
	f.Add([]byte(`{"points": []}`))
	f.Add([]byte(`{"points":[{"key":"k","value":"Infinity","step":9223372036854775807}]} `))
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, n, id, ok := parseRowsFast(body, 42)
		if !ok {
			return
		}
		tree, tn, tid, err := parseMetricsTree(body, 42)
		if err != nil {
			t.Fatalf("fast parser accepted %q, the tree parser refused it: %v", body, err)
		}
		if diff := cmp.Diff(tree, fast, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" || n != tn || id != tid {
			t.Fatalf("%q: fast and tree parsers differ (n %d/%d, id %q/%q) (-tree +fast):\n%s", body, n, tn, id, tid, diff)
		}
	})
}
