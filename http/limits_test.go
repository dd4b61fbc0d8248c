package http_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// The native API keeps the tracking rules the MLflow API keeps (package
// tracking): a config value as long as an MLflow param at most (6,000
// characters as MLflow shows it), a tag value 8,000, values nested 16 deep
// at most, keys the key grammar, and a config key, once set, keeps its
// value. Each refusal is a 400 naming the key.
func TestNativeWritesKeepTheTrackingLimits(t *testing.T) {
	a := newAPIRig(t)
	const js = "application/json"
	var run struct{ ID string }
	json.Unmarshal(a.do("POST", "/api/v1/runs", js, []byte(`{"project": "limits", "config": {"lr": 0.1}}`), 201), &run)
	nested := strings.Repeat(`{"a":`, 20) + "1" + strings.Repeat("}", 20)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"7 MB config value", "PATCH", "/api/v1/runs/" + run.ID, `{"config": {"big": "` + strings.Repeat("x", 7<<20) + `"}}`, 400, `value of \"big\" is 7340032 characters, more than 6000`},
		{"6,000 characters are fine", "PATCH", "/api/v1/runs/" + run.ID, `{"config": {"ok": "` + strings.Repeat("x", 6000) + `"}}`, 200, ""},
		{"a long tag", "PATCH", "/api/v1/runs/" + run.ID, `{"tags": {"t": "` + strings.Repeat("x", 8001) + `"}}`, 400, "more than 8000"},
		{"deep config", "PATCH", "/api/v1/runs/" + run.ID, `{"config": {"deep": ` + nested + `}}`, 400, "more than 16"},
		{"a long summary value", "PATCH", "/api/v1/runs/" + run.ID, `{"summary": {"s": "` + strings.Repeat("x", 70000) + `"}}`, 400, "more than 65536"},
		{"a changed config value", "PATCH", "/api/v1/runs/" + run.ID, `{"config": {"lr": 0.2}}`, 400, "immutable"},
		{"the same value again", "PATCH", "/api/v1/runs/" + run.ID, `{"config": {"lr": 0.1, "new": 1}}`, 200, ""},
		{"a 7 MB config at creation", "POST", "/api/v1/runs", `{"config": {"big": "` + strings.Repeat("x", 7<<20) + `"}}`, 400, "more than 6000"},
		{"a body over the JSON cap (8 MiB)", "POST", "/api/v1/runs", `{"config": {"big": "` + strings.Repeat("x", 9<<20) + `"}}`, 413, "larger than 8388608 bytes"},
		{"a path-like key", "POST", "/api/v1/runs", `{"tags": {"a/../b": "x"}}`, 400, "a/../b"},
	} {
		got := string(a.do(tc.method, tc.path, js, []byte(tc.body), tc.status))
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: answer %.300s, want %q", tc.name, got, tc.want)
		}
	}
}
