package http_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The batch reads answer what one request per run would, in the order
// asked, with what was not found named in the answer; newAPIRig's do checks
// every request and answer against the OpenAPI document.
func TestBatchReads(t *testing.T) {
	a := newAPIRig(t)
	const js = "application/json"
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		run := a.do("POST", "/api/v1/runs", js, jsonBody(`{"project":"p","name":"`+name+`"}`), 201)
		ids = append(ids, between(string(run), `"id":"`, `"`))
	}
	// a: 1,000 points of loss; b: 3 points, one NaN; c: no loss at all.
	steps, values := make([]int, 1000), make([]float64, 1000)
	for i := range steps {
		steps[i], values[i] = i, float64(i%10)
	}
	values[500] = 99 // a spike the bucket's last value hides
	body, _ := json.Marshal(map[string]any{"series": []any{map[string]any{"key": "loss", "steps": steps, "values": values}}})
	a.do("POST", "/api/v1/runs/"+ids[0]+"/metrics", js, body, 200)
	a.do("POST", "/api/v1/runs/"+ids[1]+"/metrics", js, jsonBody(`{"series":[{"key":"loss","steps":[1,2,3],"values":[0.5,"NaN",0.25]}]}`), 200)
	a.do("POST", "/api/v1/runs/"+ids[2]+"/metrics", js, jsonBody(`{"points":[{"key":"acc","value":1}]}`), 200)

	t.Run("runs", func(t *testing.T) {
		got := a.do("GET", "/api/v1/batch/runs?id="+ids[2]+"&id=nope&id="+ids[0], "", nil, 200)
		var out struct {
			Runs []struct {
				ID, Name string
			}
			Missing []string
		}
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Runs) != 2 || out.Runs[0].Name != "c" || out.Runs[1].Name != "a" || !cmp.Equal(out.Missing, []string{"nope"}) {
			t.Errorf("got %+v, want runs c, a in that order and nope missing", out)
		}
	})

	t.Run("series", func(t *testing.T) {
		got := a.do("GET", "/api/v1/batch/series?key=loss&max_points=10&run="+ids[0]+"&run="+ids[1]+"&run="+ids[2], "", nil, 200)
		var out struct {
			Series []struct {
				RunID       string          `json:"run_id"`
				Key         string          `json:"key"`
				Total       int             `json:"total"`
				Downsampled bool            `json:"downsampled"`
				Steps       []int           `json:"steps"`
				Values      json.RawMessage `json:"values"`
				Max         []float64       `json:"max"`
				Error       *struct{ Code, Message string }
			}
		}
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Series) != 3 {
			t.Fatalf("%d series, want 3: %s", len(out.Series), got)
		}
		s0, s1, s2 := out.Series[0], out.Series[1], out.Series[2]
		if s0.RunID != ids[0] || s0.Total != 1000 || !s0.Downsampled || len(s0.Steps) != 10 || s0.Max[5] != 99 {
			t.Errorf("series of a: %+v; want 1,000 points in 10 buckets, the spike in max[5]", s0)
		}
		if s1.RunID != ids[1] || s1.Total != 3 || s1.Downsampled || string(s1.Values) != `[0.5,"NaN",0.25]` {
			t.Errorf("series of b: %+v values %s; want its 3 raw points", s1, s1.Values)
		}
		if s2.RunID != ids[2] || s2.Key != "loss" || s2.Error == nil || s2.Error.Code != "not_found" || !strings.Contains(s2.Error.Message, "loss") {
			t.Errorf("series of c: %+v; want a not_found error naming the metric", s2)
		}
	})

	t.Run("fields", func(t *testing.T) {
		// A chart by step asks for no timestamps: the answer leaves them out.
		got := a.do("GET", "/api/v1/batch/series?key=loss&max_points=10&fields=steps,values,min,max&run="+ids[0]+"&run="+ids[1], "", nil, 200)
		var out struct {
			Series []map[string]json.RawMessage
		}
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		keys := func(m map[string]json.RawMessage) []string {
			var ks []string
			for k := range m {
				ks = append(ks, k)
			}
			sort.Strings(ks)
			return ks
		}
		if d := cmp.Diff([]string{"downsampled", "key", "max", "min", "run_id", "steps", "total", "values"}, keys(out.Series[0])); d != "" {
			t.Errorf("downsampled series' members (-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"downsampled", "key", "run_id", "steps", "total", "values"}, keys(out.Series[1])); d != "" {
			t.Errorf("raw series' members (-want +got):\n%s", d)
		}
		if string(out.Series[1]["values"]) != `[0.5,"NaN",0.25]` || string(out.Series[1]["steps"]) != `[1,2,3]` {
			t.Errorf("raw series: %s", got)
		}
		// By wall time: timestamps and values only.
		got = a.do("GET", "/api/v1/batch/series?key=loss&max_points=10&fields=timestamps,values&run="+ids[1], "", nil, 200)
		out.Series = nil
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"downsampled", "key", "run_id", "timestamps", "total", "values"}, keys(out.Series[0])); d != "" {
			t.Errorf("members (-want +got):\n%s", d)
		}
		// Without fields, all of them, as before.
		got = a.do("GET", "/api/v1/batch/series?key=loss&max_points=10&run="+ids[0], "", nil, 200)
		out.Series = nil
		if err := json.Unmarshal(got, &out); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]string{"downsampled", "key", "max", "min", "run_id", "steps", "timestamps", "total", "values"}, keys(out.Series[0])); d != "" {
			t.Errorf("members (-want +got):\n%s", d)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, q := range []string{
			"/api/v1/batch/runs",
			"/api/v1/batch/series?key=loss&max_points=10",
			"/api/v1/batch/series?run=" + ids[0] + "&max_points=10",
			"/api/v1/batch/series?run=" + ids[0] + "&key=loss",
			"/api/v1/batch/series?run=" + ids[0] + "&key=loss&max_points=x",
			"/api/v1/batch/runs?id=" + strings.Repeat("x&id=", 1000) + "x",
			"/api/v1/batch/series?run=" + ids[0] + "&key=loss&max_points=10&fields=steps,bogus",
			"/api/v1/batch/series?run=" + ids[0] + "&key=loss&max_points=10&fields=",
		} {
			got := a.do("GET", q, "", nil, 400)
			if strings.Contains(q, "fields=") && !strings.Contains(string(got), `"field":"fields"`) {
				t.Errorf("GET %s: %s; want the error to name fields", q, got)
			}
			if !strings.Contains(string(got), `"invalid"`) {
				t.Errorf("GET %s: %s; want an invalid error", q, got)
			}
		}
	})
}
