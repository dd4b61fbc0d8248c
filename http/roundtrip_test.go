package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	nethttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/http"
	"github.com/trainyard/trainyard/sqlite"
	"pgregory.net/rapid"
)

// Every double a client sends through a native input path reads back as
// exactly that double, through the real store: the columnar form, the row
// form, and numeric config and summary values. Values are drawn as random
// bit patterns and written the ways clients write them (shortest, %.17g,
// exponent form).
func TestNativeInputsRoundTripEveryDouble(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	srv := httptest.NewServer(http.New(http.Config{Store: store, Artifacts: arts}))
	defer srv.Close()
	do := func(t *rapid.T, method, path string, body []byte, out any) {
		req, _ := nethttp.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s: %v", b, err)
			}
		}
	}
	formats := []func(float64) string{
		func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) },
		func(v float64) string { return strconv.FormatFloat(v, 'g', 17, 64) },
		func(v float64) string { return strconv.FormatFloat(v, 'e', 16, 64) },
	}
	text := func(v float64, f int) string {
		switch {
		case math.IsNaN(v):
			return `"NaN"`
		case math.IsInf(v, 0):
			return string(trainyard.AppendFloat(nil, v))
		}
		return formats[f%len(formats)](v)
	}
	same := func(a, b float64) bool {
		if math.IsNaN(a) || math.IsNaN(b) {
			return math.IsNaN(a) && math.IsNaN(b)
		}
		return math.Float64bits(a) == math.Float64bits(b)
	}
	rapid.Check(t, func(t *rapid.T) {
		// Edge cases from rapid's generator, and bit patterns drawn
		// uniformly (about 2 % of those were misread before).
		vals := rapid.SliceOfN(rapid.Uint64().AsAny(), 1, 10).Draw(t, "bits")
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 1))
		for range 40 {
			vals = append(vals, rng.Uint64())
		}
		var run struct{ ID string }
		// Config and summary: JSON numbers, so finite values only.
		var cfg, sum []string
		for i, b := range vals {
			v := math.Float64frombits(b.(uint64))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			cfg = append(cfg, fmt.Sprintf(`"c%d": %s`, i, text(v, i)))
			sum = append(sum, fmt.Sprintf(`"s%d": %s`, i, text(v, i+1)))
		}
		do(t, "POST", "/api/v1/runs", []byte(`{"project":"floats","config":{`+strings.Join(cfg, ",")+`}}`), &run)
		do(t, "PATCH", "/api/v1/runs/"+run.ID, []byte(`{"summary":{`+strings.Join(sum, ",")+`}}`), nil)
		var steps, values, rows []string
		for i, b := range vals {
			v := math.Float64frombits(b.(uint64))
			steps = append(steps, strconv.Itoa(i))
			values = append(values, text(v, i))
			rows = append(rows, fmt.Sprintf(`{"key":"rows","step":%d,"value":%s}`, i, text(v, i+2)))
		}
		do(t, "POST", "/api/v1/runs/"+run.ID+"/metrics", []byte(`{"series":[{"key":"columns","steps":[`+strings.Join(steps, ",")+`],"values":[`+strings.Join(values, ",")+`]}]}`), nil)
		do(t, "POST", "/api/v1/runs/"+run.ID+"/metrics", []byte(`{"points":[`+strings.Join(rows, ",")+`]}`), nil)
		for _, key := range []string{"columns", "rows"} {
			var ser struct{ Values []trainyard.Float }
			do(t, "GET", "/api/v1/runs/"+run.ID+"/metrics/"+key, nil, &ser)
			if len(ser.Values) != len(vals) {
				t.Fatalf("%s: %d values, want %d", key, len(ser.Values), len(vals))
			}
			for i, b := range vals {
				if v := math.Float64frombits(b.(uint64)); !same(float64(ser.Values[i]), v) {
					t.Fatalf("%s[%d]: sent %v (%#x), read %v (%#x)", key, i, v, b, float64(ser.Values[i]), math.Float64bits(float64(ser.Values[i])))
				}
			}
		}
		var got struct {
			Config, Summary map[string]json.Number
		}
		do(t, "GET", "/api/v1/runs/"+run.ID, nil, &got)
		for j, b := range vals {
			v := math.Float64frombits(b.(uint64))
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			for what, m := range map[string]map[string]json.Number{"config": got.Config, "summary": got.Summary} {
				key := fmt.Sprintf("c%d", j)
				if what == "summary" {
					key = fmt.Sprintf("s%d", j)
				}
				r, err := strconv.ParseFloat(string(m[key]), 64)
				if err != nil || !same(r, v) {
					t.Fatalf("%s %s: sent %v (%#x), read %s", what, key, v, b, m[key])
				}
			}
		}
	})
}
