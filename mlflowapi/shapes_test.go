package mlflowapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/mlflowapi"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/tracking"
)

// mlRig is a server with a real store and artifact store; MLflow's routes
// need no dispatcher.
func mlRig(t *testing.T) *httptest.Server {
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	n := 0
	newID := func() string {
		n++
		return "run" + strings.Repeat("0", 8) + string(rune('a'+n))
	}
	srv := httptest.NewServer(mlflowapi.New(mlflowapi.Config{Store: store, Artifacts: arts, Version: "test",
		Tracking: tracking.New(tracking.Config{Store: store, NewID: newID})}))
	t.Cleanup(srv.Close)
	return srv
}

func mlDo(t *testing.T, srv *httptest.Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json") // as every MLflow client sends it
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

// TestMLflowShapes drives one run through the MLflow routes, checking each
// answer's status and shape, and every error's code and status.
func TestMLflowShapes(t *testing.T) {
	srv := mlRig(t)
	const api = "/api/2.0/mlflow"
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     map[string]any // top-level fields that must match (JSON-decoded)
		code                     string         // error_code, for errors
	}{
		{"default experiment", "GET", api + "/experiments/get?experiment_id=0", "", 200,
			map[string]any{"experiment": map[string]any{"experiment_id": "0", "name": "Default", "artifact_location": "mlflow-artifacts:/0",
				"lifecycle_stage": "active", "creation_time": nil, "last_update_time": nil}}, ""},
		{"create experiment", "POST", api + "/experiments/create", `{"name": "exp", "tags": [{"key": "k", "value": "v"}], "unknown": 1}`, 200,
			map[string]any{"experiment_id": "1"}, ""},
		{"duplicate experiment", "POST", api + "/experiments/create", `{"name": "exp"}`, 400, nil, "RESOURCE_ALREADY_EXISTS"},
		{"experiment without name", "POST", api + "/experiments/create", `{}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"missing experiment", "GET", api + "/experiments/get?experiment_id=77", "", 404, nil, "RESOURCE_DOES_NOT_EXIST"},
		{"by name", "GET", api + "/experiments/get-by-name?experiment_name=exp", "", 200, nil, ""},
		{"create run, int64 as string", "POST", api + "/runs/create", `{"experiment_id": "1", "start_time": "1700000000000", "run_name": "r", "user_id": "ana"}`, 200, nil, ""},
		{"get run", "GET", api + "/runs/get?run_id=run00000000b", "", 200,
			map[string]any{"run": map[string]any{
				"info": map[string]any{"run_id": "run00000000b", "run_uuid": "run00000000b", "run_name": "r", "experiment_id": "1", "user_id": "ana",
					"status": "RUNNING", "start_time": 1700000000000.0, "artifact_uri": "mlflow-artifacts:/1/run00000000b/artifacts", "lifecycle_stage": "active"},
				"data":    map[string]any{"tags": []any{map[string]any{"key": "mlflow.runName", "value": "r"}, map[string]any{"key": "mlflow.user", "value": "ana"}}},
				"inputs":  map[string]any{},
				"outputs": map[string]any{}}}, ""},
		{"missing run", "GET", api + "/runs/get?run_id=nope", "", 404, nil, "RESOURCE_DOES_NOT_EXIST"},
		{"log param", "POST", api + "/runs/log-parameter", `{"run_id": "run00000000b", "key": "lr", "value": "0.1"}`, 200, map[string]any{}, ""},
		{"same param again", "POST", api + "/runs/log-parameter", `{"run_id": "run00000000b", "key": "lr", "value": "0.1"}`, 200, map[string]any{}, ""},
		{"changed param", "POST", api + "/runs/log-parameter", `{"run_id": "run00000000b", "key": "lr", "value": "0.2"}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"log metric NaN", "POST", api + "/runs/log-metric", `{"run_id": "run00000000b", "key": "loss", "value": "NaN", "timestamp": 5, "step": "2"}`, 200, map[string]any{}, ""},
		{"log batch", "POST", api + "/runs/log-batch", `{"run_id": "run00000000b", "metrics": [{"key": "loss", "value": 0.5, "timestamp": 6, "step": 3}], "tags": [{"key": "t", "value": "1"}]}`, 200, map[string]any{}, ""},
		{"history", "GET", api + "/metrics/get-history?run_id=run00000000b&metric_key=loss", "", 200,
			map[string]any{"metrics": []any{
				map[string]any{"key": "loss", "value": "NaN", "timestamp": 5.0, "step": 2.0},
				map[string]any{"key": "loss", "value": 0.5, "timestamp": 6.0, "step": 3.0}}}, ""},
		{"history page", "GET", api + "/metrics/get-history?run_id=run00000000b&metric_key=loss&max_results=1", "", 200,
			map[string]any{"metrics": []any{map[string]any{"key": "loss", "value": "NaN", "timestamp": 5.0, "step": 2.0}},
				"next_page_token": "eyJvZmZzZXQiOiAxfQ=="}, ""},
		{"history of no metric", "GET", api + "/metrics/get-history?run_id=run00000000b&metric_key=none", "", 200, map[string]any{}, ""}, // MLflow leaves an empty list out
		{"bulk interval", "GET", api + "/metrics/get-history-bulk-interval?run_ids=run00000000b&metric_key=loss&max_results=1", "", 200,
			// MLflow keeps the last point when max_results is 1
			map[string]any{"metrics": []any{map[string]any{"key": "loss", "value": 0.5, "timestamp": 6.0, "step": 3.0, "run_id": "run00000000b"}}}, ""},
		{"search with filter", "POST", api + "/runs/search", `{"experiment_ids": ["1"], "filter": "metrics.loss = 0.5 and params.lr = '0.1' and attributes.status = 'RUNNING'", "max_results": 10}`, 200, nil, ""},
		{"search bad filter", "POST", api + "/runs/search", `{"experiment_ids": ["1"], "filter": "metrics.loss ~ 1"}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"search too many", "POST", api + "/runs/search", `{"experiment_ids": ["1"], "max_results": 50001}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"search bad token", "POST", api + "/runs/search", `{"experiment_ids": ["1"], "page_token": "%%%"}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"update run", "POST", api + "/runs/update", `{"run_id": "run00000000b", "status": "KILLED", "end_time": 1700000001000}`, 200, nil, ""},
		{"unknown status is ignored", "POST", api + "/runs/update", `{"run_id": "run00000000b", "status": "DONE"}`, 200, nil, ""}, // as MLflow's protobuf parser ignores it
		{"delete missing tag", "POST", api + "/runs/delete-tag", `{"run_id": "run00000000b", "key": "nope"}`, 404, nil, "RESOURCE_DOES_NOT_EXIST"},
		{"delete run", "POST", api + "/runs/delete", `{"run_id": "run00000000b"}`, 200, map[string]any{}, ""},
		{"log to deleted run", "POST", api + "/runs/log-metric", `{"run_id": "run00000000b", "key": "x", "value": 1}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"deleted runs are hidden", "POST", api + "/runs/search", `{"experiment_ids": ["1"]}`, 200, map[string]any{}, ""}, // MLflow leaves an empty list out
		{"unknown endpoint", "POST", api + "/runs/frobnicate", `{}`, 404, nil, "ENDPOINT_NOT_FOUND"},
		{"wrong method", "GET", api + "/runs/create", "", 405, nil, "BAD_REQUEST"}, // Flask's 405, as MLflow's server
		{"traces", "POST", api + "/traces", `{}`, 501, nil, "NOT_IMPLEMENTED"},
		{"ajax prefix", "GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=1", "", 200, nil, ""},
		{"server info", "GET", "/api/3.0/mlflow/server-info", "", 200, map[string]any{"multipart_uploads_enabled": false}, ""},
		{"artifact escape", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/run00000000b/artifacts/../../x/artifacts/f", "evil", 400, nil, "INVALID_PARAMETER_VALUE"},
		{"artifact of no run", "PUT", "/api/2.0/mlflow-artifacts/artifacts/1/nope/artifacts/f", "x", 200, nil, ""}, // any relative path, as MLflow's proxy
		{"registered model", "POST", api + "/registered-models/create", `{"name": "m"}`, 200, nil, ""},
		{"duplicate model", "POST", api + "/registered-models/create", `{"name": "m"}`, 400, nil, "RESOURCE_ALREADY_EXISTS"},
		{"version", "POST", api + "/model-versions/create", `{"name": "m", "source": "mlflow-artifacts:/1/run00000000b/artifacts/model", "run_id": "run00000000b"}`, 200,
			map[string]any{"model_version": map[string]any{"name": "m", "version": "1", "status": "READY", "current_stage": "None",
				"source": "mlflow-artifacts:/1/run00000000b/artifacts/model", "creation_timestamp": nil, "last_updated_timestamp": nil}}, ""},
		{"bad stage", "POST", api + "/model-versions/transition-stage", `{"name": "m", "version": "1", "stage": "Prod"}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"reserved alias", "POST", api + "/registered-models/alias", `{"name": "m", "alias": "v1", "version": "1"}`, 400, nil, "INVALID_PARAMETER_VALUE"},
		{"missing version", "GET", api + "/model-versions/get?name=m&version=9", "", 404, nil, "RESOURCE_DOES_NOT_EXIST"},
		{"logged model of no experiment", "POST", api + "/logged-models", `{"experiment_id": "99"}`, 404, nil, "RESOURCE_DOES_NOT_EXIST"},
	}
	for _, st := range steps {
		status, got := mlDo(t, srv, st.method, st.path, st.body)
		if status != st.status {
			t.Fatalf("%s: status %d, want %d; body %v", st.name, status, st.status, got)
		}
		if st.code != "" {
			if got["error_code"] != st.code || got["message"] == "" {
				t.Fatalf("%s: error %v, want error_code %s with a message", st.name, got, st.code)
			}
			continue
		}
		if st.want != nil {
			if err := subset("", st.want, got); err != "" {
				t.Fatalf("%s: %s\nanswer: %v", st.name, err, got)
			}
		}
	}
}

// subset checks that got holds everything want does: maps may hold more
// keys, lists must have the same length, and nil in want stands for any
// value that is present.
func subset(path string, want, got any) string {
	switch w := want.(type) {
	case nil:
		return ""
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path + ": want an object, got " + fmt.Sprint(got)
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				return path + "." + k + ": missing"
			}
			if err := subset(path+"."+k, wv, gv); err != "" {
				return err
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("%s: want %d items, got %v", path, len(w), got)
		}
		for i := range w {
			if err := subset(fmt.Sprintf("%s[%d]", path, i), w[i], g[i]); err != "" {
				return err
			}
		}
		return ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return path + ": (-want +got)\n" + diff
	}
	return ""
}
