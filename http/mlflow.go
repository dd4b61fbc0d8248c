package http

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// The MLflow-compatible API: MLflow's REST protocol (service.proto and
// model_registry.proto, as MLflow 3.x clients send it) under
// /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, the artifact proxy under
// /api/2.0/mlflow-artifacts/, and /api/3.0/mlflow/server-info. It is a view
// of the same store as the native API:
//
//	MLflow                      trainyard
//	experiment (id, name)       project (experiments table; "0"/"Default" = "default")
//	run_id, run_name            run ID, name
//	status                      state (FINISHED=SUCCEEDED, KILLED=CANCELED, SCHEDULED=QUEUED)
//	params                      config (flattened; rendered as strings)
//	tags                        tags (mlflow.user holds user_id)
//	metrics                     metric series; latest = the summary's last point
//	lifecycle_stage deleted     Run.Deleted, Experiment.Deleted
//	artifact_uri                mlflow-artifacts:/<experiment>/<run>/artifacts → ArtifactStore(run)
//
// Requests are read leniently, as MLflow's server reads them: unknown fields
// are ignored and int64 fields may be numbers or strings; GET requests carry
// their fields in the query. Errors answer {"error_code", "message"} with
// MLflow's statuses (mlflowStatus); a client mistake is never a 5xx, which
// the client would retry for minutes.

// mlflowPrefixes are the roots MLflow clients and MLflow's own UI call.
var mlflowPrefixes = []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"}

// mlflowRoutes lists the MLflow routes, each under both prefixes.
func (s *Server) mlflowRoutes() []route {
	type ep struct {
		method, path string
		h            func(w http.ResponseWriter, r *http.Request) error
	}
	eps := []ep{
		{"POST", "/experiments/create", s.mlCreateExperiment},
		{"GET", "/experiments/get", s.mlGetExperiment},
		{"GET", "/experiments/get-by-name", s.mlGetExperimentByName},
		{"POST", "/experiments/search", s.mlSearchExperiments},
		{"GET", "/experiments/search", s.mlSearchExperiments},
		{"GET", "/experiments/list", s.mlSearchExperiments},
		{"POST", "/experiments/update", s.mlUpdateExperiment},
		{"POST", "/experiments/delete", s.mlDeleteExperiment},
		{"POST", "/experiments/restore", s.mlRestoreExperiment},
		{"POST", "/experiments/set-experiment-tag", s.mlSetExperimentTag},
		{"POST", "/experiments/delete-experiment-tag", s.mlDeleteExperimentTag},

		{"POST", "/runs/create", s.mlCreateRun},
		{"GET", "/runs/get", s.mlGetRun},
		{"POST", "/runs/update", s.mlUpdateRun},
		{"POST", "/runs/delete", s.mlDeleteRun},
		{"POST", "/runs/restore", s.mlRestoreRun},
		{"POST", "/runs/search", s.mlSearchRuns},
		{"POST", "/runs/log-metric", s.mlLogMetric},
		{"POST", "/runs/log-parameter", s.mlLogParam},
		{"POST", "/runs/set-tag", s.mlSetTag},
		{"POST", "/runs/delete-tag", s.mlDeleteTag},
		{"POST", "/runs/log-batch", s.mlLogBatch},
		{"POST", "/runs/log-inputs", s.mlLogInputs},
		{"POST", "/runs/log-model", s.mlLogModel},
		{"POST", "/runs/outputs", s.mlLogOutputs},
		{"GET", "/metrics/get-history", s.mlGetMetricHistory},
		{"GET", "/metrics/get-history-bulk-interval", s.mlGetMetricHistoryBulkInterval},
		{"GET", "/artifacts/list", s.mlListRunArtifacts},

		{"POST", "/registered-models/create", s.mlCreateRegisteredModel},
		{"GET", "/registered-models/get", s.mlGetRegisteredModel},
		{"POST", "/registered-models/rename", s.mlRenameRegisteredModel},
		{"PATCH", "/registered-models/update", s.mlUpdateRegisteredModel},
		{"DELETE", "/registered-models/delete", s.mlDeleteRegisteredModel},
		{"GET", "/registered-models/search", s.mlSearchRegisteredModels},
		{"POST", "/registered-models/get-latest-versions", s.mlGetLatestVersions},
		{"GET", "/registered-models/get-latest-versions", s.mlGetLatestVersions},
		{"POST", "/registered-models/set-tag", s.mlSetRegisteredModelTag},
		{"DELETE", "/registered-models/delete-tag", s.mlDeleteRegisteredModelTag},
		{"POST", "/registered-models/alias", s.mlSetAlias},
		{"DELETE", "/registered-models/alias", s.mlDeleteAlias},
		{"GET", "/registered-models/alias", s.mlGetByAlias},
		{"POST", "/model-versions/create", s.mlCreateModelVersion},
		{"GET", "/model-versions/get", s.mlGetModelVersion},
		{"PATCH", "/model-versions/update", s.mlUpdateModelVersion},
		{"DELETE", "/model-versions/delete", s.mlDeleteModelVersion},
		{"GET", "/model-versions/search", s.mlSearchModelVersions},
		{"POST", "/model-versions/transition-stage", s.mlTransitionStage},
		{"GET", "/model-versions/get-download-uri", s.mlGetDownloadURI},
		{"POST", "/model-versions/set-tag", s.mlSetModelVersionTag},
		{"DELETE", "/model-versions/delete-tag", s.mlDeleteModelVersionTag},

		{"POST", "/logged-models", s.mlCreateLoggedModel},
		{"POST", "/logged-models/search", s.mlSearchLoggedModels},
		{"GET", "/logged-models/{model_id}", s.mlGetLoggedModel},
		{"PATCH", "/logged-models/{model_id}", s.mlFinalizeLoggedModel},
		{"DELETE", "/logged-models/{model_id}", s.mlDeleteLoggedModel},
		{"PATCH", "/logged-models/{model_id}/tags", s.mlSetLoggedModelTags},
		{"DELETE", "/logged-models/{model_id}/tags/{tag_key}", s.mlDeleteLoggedModelTag},
		{"POST", "/logged-models/{model_id}/params", s.mlLogLoggedModelParams},
		{"GET", "/logged-models/{model_id}/artifacts/directories", s.mlListLoggedModelArtifacts},
	}
	var out []route
	for _, p := range mlflowPrefixes {
		for _, e := range eps {
			out = append(out, route{e.method + " " + p + e.path, s.ml(e.h)})
		}
		// Anything else under the prefix (traces, gateway, ...) is an
		// endpoint trainyard does not serve.
		out = append(out, route{p + "/", s.ml(s.mlNotFound)})
	}
	for _, p := range []string{"/api/3.0/mlflow", "/ajax-api/3.0/mlflow"} {
		out = append(out,
			route{"GET " + p + "/server-info", s.ml(s.mlServerInfo)},
			route{p + "/", s.ml(s.mlNotFound)})
	}
	const arts = "/api/2.0/mlflow-artifacts/artifacts"
	out = append(out,
		route{"GET " + arts, s.ml(s.mlListArtifacts)},
		route{"GET " + arts + "/{path...}", s.ml(s.mlDownloadArtifact)},
		route{"PUT " + arts + "/{path...}", s.ml(s.mlUploadArtifact)},
		route{"DELETE " + arts + "/{path...}", s.ml(s.mlDeleteArtifact)},
		route{"/api/2.0/mlflow-artifacts/", s.ml(s.mlNotFound)},
		route{"GET /health", s.mlHealth},
		route{"GET /version", s.mlVersion},
	)
	return out
}

// ml adapts an MLflow handler: its error is answered in MLflow's shape.
func (s *Server) ml(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := h(w, r); err != nil {
			s.writeMLError(w, r, err)
		}
		return nil
	}
}

// mlError is an error that carries an MLflow error code of its own, for
// the codes that trainyard's domain has no word for.
type mlError struct {
	code string
	msg  string
}

func (e *mlError) Error() string { return e.msg }

func errNotImplemented(format string, args ...any) error {
	return &mlError{"NOT_IMPLEMENTED", fmt.Sprintf(format, args...)}
}

// mlflowStatus maps an error to MLflow's error code and HTTP status: the
// one place that does for the MLflow routes. Client mistakes are 4xx; only
// real faults are 5xx, since MLflow clients retry 5xx for minutes.
func mlflowStatus(err error) (code string, status int) {
	var me *mlError
	if errors.As(err, &me) {
		switch me.code {
		case "NOT_IMPLEMENTED":
			return me.code, http.StatusNotImplemented
		case "ENDPOINT_NOT_FOUND", "RESOURCE_DOES_NOT_EXIST":
			return me.code, http.StatusNotFound
		case "RESOURCE_CONFLICT":
			return me.code, http.StatusConflict
		}
		return me.code, http.StatusBadRequest
	}
	switch trainyard.ErrorCode(translate(err)) {
	case trainyard.EINVALID, trainyard.ETOOLARGE, trainyard.EUNSATISFIABLE:
		return "INVALID_PARAMETER_VALUE", http.StatusBadRequest
	case trainyard.ENOTFOUND:
		return "RESOURCE_DOES_NOT_EXIST", http.StatusNotFound
	case trainyard.ECONFLICT:
		return "RESOURCE_ALREADY_EXISTS", http.StatusBadRequest
	case codeUnauthorized:
		return "UNAUTHENTICATED", http.StatusUnauthorized
	case trainyard.EUNAVAILABLE:
		return "TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable
	}
	return "INTERNAL_ERROR", http.StatusInternalServerError
}

func (s *Server) writeMLError(w http.ResponseWriter, r *http.Request, err error) {
	code, status := mlflowStatus(err)
	msg := err.Error()
	var me *mlError
	if !errors.As(err, &me) {
		msg = trainyard.ErrorMessage(translate(err))
	}
	if status >= 500 && status != http.StatusNotImplemented {
		s.log.Error("mlflow request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"error_code": code, "message": msg})
}

func (s *Server) mlNotFound(w http.ResponseWriter, r *http.Request) error {
	if strings.Contains(r.URL.Path, "/traces") || strings.Contains(r.URL.Path, "/3.0/") {
		return errNotImplemented("%s %s is not implemented by trainyard", r.Method, r.URL.Path)
	}
	return &mlError{"ENDPOINT_NOT_FOUND", fmt.Sprintf("no MLflow endpoint %s %s in trainyard", r.Method, r.URL.Path)}
}

// mlServerInfo tells 3.x clients what this server supports: no multipart
// or presigned transfers, so they take the simple proxied path.
func (s *Server) mlServerInfo(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{
		"store_type":                          nil,
		"workspaces_enabled":                  false,
		"trace_archival_enabled":              false,
		"multipart_uploads_enabled":           false,
		"multipart_downloads_enabled":         false,
		"presigned_upload_run_id_supported":   false,
		"presigned_upload_model_id_supported": false,
		"features_enabled":                    map[string]bool{"gateway": false},
	})
}

func (s *Server) mlHealth(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, "OK")
	return err
}

func (s *Server) mlVersion(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, s.cfg.Version)
	return err
}

// decodeML reads an MLflow request into v: the query of a GET, the JSON
// body otherwise (falling back to the query when the body is empty).
// Unknown fields are ignored.
func (s *Server) decodeML(w http.ResponseWriter, r *http.Request, v any) error {
	var body []byte
	if r.Method != http.MethodGet {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
		if err != nil {
			return err
		}
		body = b
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		m := map[string]any{}
		for k, vs := range r.URL.Query() {
			if len(vs) == 1 {
				m[k] = vs[0]
			} else {
				m[k] = vs
			}
		}
		body, _ = json.Marshal(m)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return trainyard.Errorf(trainyard.EINVALID, "invalid value for parameter %q: want %s, got JSON %s", typ.Field, typ.Type, typ.Value)
		}
		return trainyard.Errorf(trainyard.EINVALID, "request is not valid JSON: %v", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// mlInt is a proto int64: a JSON number or a string holding one.
type mlInt struct {
	V   int64
	Set bool
}

func (i *mlInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	s = strings.Trim(s, `"`)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) {
			return fmt.Errorf("want an integer, got %s", b)
		}
		v = int64(f)
	}
	i.V, i.Set = v, true
	return nil
}

// mlBool is a proto bool: true/false or their strings.
type mlBool bool

func (b *mlBool) UnmarshalJSON(d []byte) error {
	switch strings.ToLower(strings.Trim(string(d), `"`)) {
	case "true", "1":
		*b = true
	case "false", "0", "", "null":
		*b = false
	default:
		return fmt.Errorf("want true or false, got %s", d)
	}
	return nil
}

// mlStrings is a repeated string: a list, or one string (a GET query with
// the field once).
type mlStrings []string

func (l *mlStrings) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = []string{s}
		return nil
	}
	var xs []string
	if err := json.Unmarshal(b, &xs); err != nil {
		return err
	}
	*l = xs
	return nil
}

// mlKV is a tag or a param.
type mlKV struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func kvList(m map[string]string) []mlKV {
	out := make([]mlKV, 0, len(m))
	for _, k := range trainyard.SortedKeys(m) {
		out = append(out, mlKV{k, m[k]})
	}
	return out
}

func kvMap(l []mlKV) map[string]string {
	m := make(map[string]string, len(l))
	for _, kv := range l {
		m[kv.Key] = kv.Value
	}
	return m
}

// Page tokens are opaque to clients: base64 of {"offset": n}, as MLflow's.
func encodePageToken(offset int) string {
	return base64.StdEncoding.EncodeToString([]byte(`{"offset": ` + strconv.Itoa(offset) + `}`))
}

func decodePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		b, err = base64.URLEncoding.DecodeString(tok)
	}
	var v struct {
		Offset *int `json:"offset"`
	}
	if err != nil || json.Unmarshal(b, &v) != nil || v.Offset == nil || *v.Offset < 0 {
		return 0, trainyard.FieldError("page_token", "%q is not a page token this server gave", tok)
	}
	return *v.Offset, nil
}

// page cuts a page out of n items: the bounds and the next token ("" at
// the end).
func page(n, offset, limit int) (lo, hi int, next string) {
	lo = min(offset, n)
	hi = min(lo+limit, n)
	if hi < n {
		next = encodePageToken(hi)
	}
	return lo, hi, next
}

func millis(t interface{ UnixMilli() int64 }) int64 { return t.UnixMilli() }

// requireField reports a missing required field as MLflow does.
func requireField(name, v string) error {
	if v == "" {
		return trainyard.FieldError(name, "missing value for required parameter '%s'", name)
	}
	return nil
}

// isMLflowPath reports whether a path belongs to the MLflow API.
func isMLflowPath(p string) bool {
	return strings.HasPrefix(p, "/api/2.0/mlflow") || strings.HasPrefix(p, "/ajax-api/2.0/mlflow") ||
		strings.HasPrefix(p, "/api/3.0/mlflow") || strings.HasPrefix(p, "/ajax-api/3.0/mlflow")
}
