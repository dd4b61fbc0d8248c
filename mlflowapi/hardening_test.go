package mlflowapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// post sends a JSON body as an MLflow client does.
func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// history reads a metric's points back as raw JSON numbers.
func historyValues(t *testing.T, base, run, key string) []json.RawMessage {
	t.Helper()
	resp, err := http.Get(base + "/api/2.0/mlflow/metrics/get-history?run_id=" + run + "&metric_key=" + key)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Metrics []struct {
			Value json.RawMessage `json:"value"`
			Step  int64           `json:"step"`
		} `json:"metrics"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	vals := make([]json.RawMessage, len(out.Metrics))
	for _, m := range out.Metrics {
		vals[m.Step] = m.Value
	}
	return vals
}

func newRunID(t *testing.T, base string) string {
	t.Helper()
	status, out := post(t, base+"/api/2.0/mlflow/runs/create", `{"experiment_id": "0", "start_time": 1700000000000}`)
	if status != 200 {
		t.Fatalf("create run: %d %v", status, out)
	}
	return out["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
}

// Every double sent through log-batch or log-metric, written the ways
// clients write numbers (%.17g, the shortest form, exponent notation),
// reads back bit for bit: parsing is correctly rounded.
func TestMetricValuesRoundTripExactly(t *testing.T) {
	srv := mlRig(t)
	run := newRunID(t, srv.URL)
	formats := []func(float64) string{
		func(f float64) string { return strconv.FormatFloat(f, 'g', 17, 64) },
		func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) },
		func(f float64) string { return strconv.FormatFloat(f, 'e', 16, 64) },
	}
	batch := 0
	rapid.Check(t, func(rt *rapid.T) {
		n := 200
		bits := rapid.SliceOfN(rapid.Uint64(), n, n).Draw(rt, "bits")
		format := rapid.IntRange(0, len(formats)-1).Draw(rt, "format")
		key := fmt.Sprintf("v%d", batch)
		batch++
		var b strings.Builder
		want := make([]float64, n)
		b.WriteString(`{"run_id": "` + run + `", "metrics": [`)
		for i, x := range bits {
			f := math.Float64frombits(x)
			if math.IsNaN(f) || math.IsInf(f, 0) {
				f = math.Float64frombits(x >> 2) // a finite double of the same spread
			}
			want[i] = f
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"key": %q, "value": %s, "timestamp": 1700000000000, "step": %d}`, key, formats[format](f), i)
		}
		b.WriteString("]}")
		if status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", b.String()); status != 200 {
			rt.Fatalf("log-batch: %d %v", status, out)
		}
		// log-metric: the first value again, under another key.
		one := fmt.Sprintf(`{"run_id": %q, "key": %q, "value": %s, "timestamp": 1, "step": 0}`, run, key+"-one", formats[format](want[0]))
		if status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-metric", one); status != 200 {
			rt.Fatalf("log-metric: %d %v", status, out)
		}
		got := historyValues(t, srv.URL, run, key)
		for i, raw := range got {
			v, err := strconv.ParseFloat(string(raw), 64)
			if err != nil || math.Float64bits(v) != math.Float64bits(want[i]) {
				rt.Fatalf("value %d: sent %s (%x), read back %s", i, formats[format](want[i]), math.Float64bits(want[i]), raw)
			}
		}
		if g := historyValues(t, srv.URL, run, key+"-one"); len(g) != 1 || string(g[0]) != strconv.FormatFloat(want[0], 'g', -1, 64) {
			rt.Fatalf("log-metric read back %s, want %v", g, want[0])
		}
	})
}

// Numbers at the edges of log-batch and log-metric, one rule: a step or a
// timestamp must be a 64-bit integer, a value a finite double or one of
// "NaN", "Infinity", "-Infinity" as a string; anything else is a 400 that
// names the item, and nothing of the request is stored.
func TestNumbersAtTheEdges(t *testing.T) {
	srv := mlRig(t)
	run := newRunID(t, srv.URL)
	batch := func(metric string) string {
		return `{"run_id": "` + run + `", "params": [{"key": "edge", "value": "x"}], "metrics": [` + metric + `]}`
	}
	for _, tc := range []struct {
		name, metric string
		status       int
		msg          string
	}{
		{"step 1e30", `{"key": "m", "value": 1, "timestamp": 1, "step": 1e30}`, 400, "for parameter 'metrics[0].step'"},
		{"step 2^63", `{"key": "m", "value": 1, "timestamp": 1, "step": 9223372036854775808}`, 400, "for parameter 'metrics[0].step'"},
		{"step -2^63-1", `{"key": "m", "value": 1, "timestamp": 1, "step": -9223372036854775809}`, 400, "metrics[0].step"},
		{"bare NaN", `{"key": "m", "value": NaN, "timestamp": 1}`, 400, "metrics[0].value"},
		{"bare Infinity", `{"key": "m", "value": -Infinity, "timestamp": 1}`, 400, "metrics[0].value"},
		{"1e999", `{"key": "m", "value": 1e999, "timestamp": 1}`, 400, "metrics[0].value"},
		{"negative timestamp", `{"key": "m", "value": 1, "timestamp": -1}`, 400, "Timestamp must be a nonnegative long"},
		{"bare nan is not JSON", `{"key": "m", "value": nan, "timestamp": 1}`, 400, "Missing value for required parameter 'run_id'"},
		{"step 2^63-1 is fine", `{"key": "m", "value": 1, "timestamp": 1, "step": 9223372036854775807}`, 200, ""},
		{"step as an integral float is fine", `{"key": "m2", "value": "NaN", "timestamp": 1, "step": 3.0}`, 200, ""},
	} {
		status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", batch(tc.metric))
		if status != tc.status || !strings.Contains(fmt.Sprint(out["message"]), tc.msg) {
			t.Errorf("%s: %d %v, want %d with %q", tc.name, status, out, tc.status, tc.msg)
		}
	}
	// Nothing of a refused batch was stored: its param is there only from
	// the two accepted ones.
	resp, _ := http.Get(srv.URL + "/api/2.0/mlflow/metrics/get-history?run_id=" + run + "&metric_key=m")
	var h struct{ Metrics []map[string]any }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if len(h.Metrics) != 1 {
		t.Errorf("metric m holds %v, want the one accepted point", h.Metrics)
	}
	// get-history-bulk-interval orders steps across the whole int64 range.
	post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", `{"run_id": "`+run+`", "metrics": [
		{"key": "wide", "value": 1, "timestamp": 1, "step": 9000000000000000000},
		{"key": "wide", "value": 2, "timestamp": 1, "step": -9000000000000000000},
		{"key": "wide", "value": 3, "timestamp": 1, "step": 0}]}`)
	resp, _ = http.Get(srv.URL + "/api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids=" + run + "&metric_key=wide")
	var bulk struct{ Metrics []struct{ Step int64 } }
	json.NewDecoder(resp.Body).Decode(&bulk)
	resp.Body.Close()
	if len(bulk.Metrics) != 3 || bulk.Metrics[0].Step != -9e18 || bulk.Metrics[1].Step != 0 || bulk.Metrics[2].Step != 9e18 {
		t.Errorf("bulk interval steps %v, want [-9e18 0 9e18]", bulk.Metrics)
	}
}

// A log-batch of any size costs bounded memory: items past MLflow's limits
// are counted without being kept, and a body over the cap is refused as
// it is read.
func TestLogBatchMemoryIsBounded(t *testing.T) {
	srv := mlRig(t)
	run := newRunID(t, srv.URL)
	var b bytes.Buffer
	b.WriteString(`{"run_id": "` + run + `", "metrics": [`)
	for i := 0; b.Len() < 15<<20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key":"m","value":1,"timestamp":1,"step":` + strconv.Itoa(i) + `}`)
	}
	b.WriteString("]}")
	body := b.Bytes()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", string(body))
	runtime.ReadMemStats(&after)
	if status != 400 || !strings.Contains(fmt.Sprint(out["message"]), "at most 1000 metrics") {
		t.Fatalf("a 15 MB batch: %d %v", status, out)
	}
	// The body itself is read into one buffer (and the client holds a
	// copy); what parsing allocates on top must stay small.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*uint64(len(body))+16<<20 {
		t.Errorf("a %d-byte batch allocated %d bytes", len(body), alloc)
	}
	big := strings.Repeat(" ", 17<<20)
	if status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", `{"run_id": "`+run+`"`+big+`}`); status != 413 && status != 400 {
		t.Fatalf("a 17 MB body: %d %v", status, out)
	}
}

// get-history pages in MLflow's order (timestamp, step, value) whatever the
// order points were written in.
func TestHistoryPagesInMLflowOrder(t *testing.T) {
	srv := mlRig(t)
	run := newRunID(t, srv.URL)
	post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", `{"run_id": "`+run+`", "metrics": [
		{"key": "m", "value": 3, "timestamp": 30, "step": 0}, {"key": "m", "value": 1, "timestamp": 10, "step": 5},
		{"key": "m", "value": 2, "timestamp": 20, "step": 1}, {"key": "m", "value": 0, "timestamp": 10, "step": 4}]}`)
	var got []float64
	token := ""
	for {
		u := srv.URL + "/api/2.0/mlflow/metrics/get-history?run_id=" + run + "&metric_key=m&max_results=1"
		if token != "" {
			u += "&page_token=" + token
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Metrics []struct{ Value float64 }
			Next    string `json:"next_page_token"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		for _, m := range out.Metrics {
			got = append(got, m.Value)
		}
		if token = out.Next; token == "" {
			break
		}
		token = strings.ReplaceAll(token, "=", "%3D")
	}
	if fmt.Sprint(got) != "[0 1 2 3]" {
		t.Fatalf("pages read %v, want [0 1 2 3] (by timestamp, then step)", got)
	}
}
