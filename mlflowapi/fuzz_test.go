package mlflowapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// The MLflow request parsers never panic, keep MLflow's limits whatever
// the input, and agree with encoding/json on what is JSON.

func FuzzScanLogBatch(f *testing.F) {
	for _, s := range []string{
		`{"run_id": "r", "metrics": [{"key": "m", "value": 1.5, "timestamp": 1, "step": 2}], "params": [{"key": "p", "value": "v"}], "tags": [{"key": "t", "value": "x"}]}`,
		`{"run_id": "r", "metrics": [{"key": "m", "value": "NaN", "timestamp": "1", "step": 1e3}]}`,
		`{"run_id": 5, "metrics": {"key": "m"}}`,
		`{"run_uuid": "r", "metrics": [{"key": "\u00e9\ud83d\ude00", "value": -1e-320, "timestamp": 0}]}`,
		`"{\"run_id\": \"double-encoded\"}"`,
		`{"metrics": [1, "x", null, [], {}]}`,
		`{"run_id": "r", "unknown": [[[[{"a": [1, 2, {"b": null}]}]]]]}`,
		`not json`, `{"run_id": "r",}`, `{"run_id": NaN}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := scanLogBatch(body)
		if err != nil {
			return // over the limits
		}
		if len(b.metrics) > 1000 || len(b.params) > 100 || len(b.tags) > 100 {
			t.Fatalf("kept %d metrics, %d params, %d tags: over MLflow's limits", len(b.metrics), len(b.params), len(b.tags))
		}
		var v any
		if json.Unmarshal(body, &v) != nil {
			return
		}
		if m, ok := v.(map[string]any); ok {
			if id, ok := m["run_id"].(string); ok && b.fields["run_id"] != id && b.fields["run_id"] != nil {
				t.Fatalf("run_id %q, encoding/json reads %q", b.fields["run_id"], id)
			}
		}
		_ = b.validate()
		for i := range b.metrics {
			path := "metrics[" + strconv.Itoa(i) + "]"
			p, err := pointFrom(b.metrics[i].get, path)
			// The unboxed path reads every metric as the boxed one does.
			if fp, ferr := b.metrics[i].point(path); fmt.Sprint(ferr) != fmt.Sprint(err) ||
				(err == nil && (math.Float64bits(fp.Value) != math.Float64bits(p.Value) || fp.Key != p.Key || fp.Step != p.Step ||
					fp.Timestamp != p.Timestamp || fp.ModelID != p.ModelID || fp.DatasetName != p.DatasetName || fp.DatasetDigest != p.DatasetDigest)) {
				t.Fatalf("metric %d: point() = %+v, %v; pointFrom = %+v, %v", i, fp, ferr, p, err)
			}
			if err == nil && math.IsInf(p.Value, 0) {
				if s, _ := b.metrics[i].value.(string); !strings.Contains(strings.ToLower(s), "inf") {
					t.Fatalf("value %v read as %v", b.metrics[i].value, p.Value)
				}
			}
		}
	})
}

func FuzzReadFields(f *testing.F) {
	for _, s := range []string{
		`{"experiment_id": "1", "max_results": "10", "order_by": ["name"], "view_type": 2}`,
		`{"name": 123, "tags": "5"}`, `{"experimentId": "3"}`, `[1,2]`, `"x"`, ``,
		`{"start_time": 1e30, "status": "DONE", "end_time": "12"}`,
	} {
		f.Add([]byte(s))
	}
	msgs := []pmsg{pCreateExperiment, pSearchExp, pCreateRun, pUpdateRun, pLogMetric, pSearch, pBulk, pCreateVersion, pSearchLogged}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields := decodeBody(body)
		for _, m := range msgs {
			q := &mlreq{fields: fields, protoOK: parseOK(fields, m)}
			_ = q.validate(field("experiment_id", required, isString), field("max_results", intLike, lessEq(50000)),
				field("order_by", isArray, itemsStrings), field("value", floatLike), field("status", isString))
			_, _, _, _ = q.str("name"), q.i64("start_time"), q.f64("value"), q.strs("order_by")
			_ = q.enum("status", pStatus, "")
		}
	})
}

func FuzzSafePath(f *testing.F) {
	for _, s := range []string{"a/b.txt", "../x", "%2e%2e/x", "a/%252e%252e/%252e%252e/x", "/abs", "C:x", "a#b", "file:///etc", "a\\b", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, err := safePath(p)
		if err != nil {
			return
		}
		for _, seg := range strings.Split(got, "/") {
			if seg == ".." {
				t.Fatalf("safePath(%q) = %q keeps a .. segment", p, got)
			}
		}
		if strings.HasPrefix(got, "/") || strings.ContainsAny(got, "\\#") {
			t.Fatalf("safePath(%q) = %q", p, got)
		}
	})
}

func FuzzPyInt(f *testing.F) {
	for _, s := range []string{"1", "-9223372036854775808", "9223372036854775808", "1e3", "1.5", " 1", "+7", "1_000", "0x10", "3.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := pyInt(s, 64)
		if !ok {
			return
		}
		if i, err := strconv.ParseInt(strings.TrimPrefix(s, "+"), 10, 64); err == nil && i != n {
			t.Fatalf("pyInt(%q) = %d, want %d", s, n, i)
		}
		if n32, ok32 := pyInt(s, 32); ok32 && n32 != n {
			t.Fatalf("pyInt(%q) differs between widths", s)
		}
	})
}
