// Package mlflowapi serves MLflow's REST protocol: the tracking API
// (service.proto) and the model registry (model_registry.proto) as MLflow
// 3.x clients send them, under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/,
// the artifact proxy under /api/2.0/mlflow-artifacts/, /api/3.0/mlflow/
// server-info, /get-artifact, /health and /version. It is a view of the
// same store as the native API (package http), and writes runs through the
// same tracking service (package tracking), so both APIs share one set of
// rules:
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
//
// The server in front (package http) checks the Host, the origin and the
// token before a request reaches this handler; cmd/trainyard mounts it
// there at Patterns().
package mlflowapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
	"github.com/trainyard/trainyard/tracking"
)

// Config wires a Server.
type Config struct {
	// Tracking writes runs: every rule of run writes lives there.
	Tracking *tracking.Service
	// Store is read for runs, experiments and the registry, and written
	// for what only MLflow has (experiments, the registry, logged models).
	Store     trainyard.Store
	Artifacts trainyard.ArtifactStore
	Version   string
	Logger    *slog.Logger
	// MaxBodyBytes bounds JSON request bodies (default 16 MiB, as a
	// log-batch's); artifact uploads, streamed to disk, are bounded by
	// MaxArtifactBytes (default 50 GiB).
	MaxBodyBytes     int64
	MaxArtifactBytes int64
	// Bodies reads request bodies within the server-wide memory budget the
	// native API shares (httplimit.Budget); nil bounds each body by its
	// limit alone.
	Bodies BodyReader
	// Stream is called as an artifact transfer starts, so that it may run
	// as long as it moves instead of under the server's fixed deadlines
	// (httplimit.Stream); nil does nothing.
	Stream func(*http.Request)
	Clock  trainyard.Clock // default time.Now
	// DefaultArtifactRoot is where new experiments keep their runs'
	// artifacts, as MLflow's --default-artifact-root: by default
	// "mlflow-artifacts:/", the server's own artifact store through its
	// proxy. A local directory or another URI makes clients write there
	// themselves.
	DefaultArtifactRoot string
	// Transfers, when the artifact store has them (an object store),
	// lets clients upload in parts and download from presigned URLs
	// themselves; server-info advertises it (see transfers.go).
	Transfers trainyard.ArtifactTransfers
}

// Server is the MLflow REST API as an http.Handler.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	log    *slog.Logger
	orders orderCache // which series are stored in history order
}

// New returns a Server with every MLflow route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = 50 << 30
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.DefaultArtifactRoot == "" {
		cfg.DefaultArtifactRoot = "mlflow-artifacts:/"
	}
	if cfg.Tracking == nil {
		cfg.Tracking = tracking.New(tracking.Config{Store: cfg.Store, Clock: cfg.Clock})
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	for _, r := range s.routes() {
		s.mux.Handle(r.pattern, s.wrap(r.handler)) // no ETags: MLflow's server sends none, and histories are large
	}
	return s
}

// Patterns are the http.ServeMux patterns of the paths this handler
// answers: the server in front routes them here.
func Patterns() []string {
	return []string{
		"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/3.0/mlflow/", "/ajax-api/3.0/mlflow/",
		"/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/",
		"/health", "/version", "/get-artifact", "/model-versions/get-artifact",
	}
}

// ServeHTTP routes an MLflow request. Paths with "." or ".." segments are
// refused before the mux could clean them into another run's path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if httpkit.HasDotSegment(r.URL.Path) {
		s.writeMLError(w, r, trainyard.Errorf(trainyard.EINVALID, "Invalid path"))
		return
	}
	s.mux.ServeHTTP(w, r)
}

type route struct {
	pattern string
	handler handlerFunc
}

// handlerFunc is a handler that returns its error for writeMLError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// wrap turns a handlerFunc into an http.Handler that writes its error in
// MLflow's shape and survives its panics.
func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("mlflow handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				s.writeMLError(w, r, errors.New("panic"))
			}
		}()
		if r.ContentLength != 0 { // a body: what reading it holds is given back on return
			var held *holds
			r, held = withHolds(r)
			defer held.release()
		}
		if err := h(w, r); err != nil {
			s.writeMLError(w, r, err)
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	return httpkit.WriteJSON(w, status, v)
}

// mlflowPrefixes are the roots MLflow clients and MLflow's own UI call.
var mlflowPrefixes = []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"}

// mlflowRoutes lists the MLflow routes, each under both prefixes.
func (s *Server) routes() []route {
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
			out = append(out, route{e.method + " " + p + e.path, e.h})
		}
		// Anything else under the prefix (traces, gateway, ...) is an
		// endpoint trainyard does not serve.
		out = append(out, route{p + "/", s.mlNotFound})
	}
	// Routes MLflow's UI calls under /ajax-api only.
	const ajax = "/ajax-api/2.0/mlflow"
	out = append(out,
		route{"GET " + ajax + "/metrics/get-history-bulk", s.mlGetMetricHistoryBulk},
		route{"POST " + ajax + "/experiments/search-datasets", s.mlSearchDatasets},
		route{"POST " + ajax + "/upload-artifact", s.mlUploadArtifactAjax},
		route{"GET " + ajax + "/logged-models/{model_id}/artifacts/files", s.mlLoggedModelFile},
		route{"GET /get-artifact", s.mlGetArtifact},
		route{"GET /model-versions/get-artifact", s.mlGetModelVersionArtifact},
	)
	for _, p := range []string{"/api/3.0/mlflow", "/ajax-api/3.0/mlflow"} {
		out = append(out,
			route{"GET " + p + "/server-info", s.mlServerInfo},
			route{p + "/", s.mlNotFound})
	}
	out = append(out, s.transferRoutes()...)
	const arts = "/api/2.0/mlflow-artifacts/artifacts"
	out = append(out,
		route{"GET " + arts, s.mlListArtifacts},
		route{"GET " + arts + "/{path...}", s.mlDownloadArtifact},
		route{"PUT " + arts + "/{path...}", s.mlUploadArtifact},
		route{"DELETE " + arts + "/{path...}", s.mlDeleteArtifact},
		route{"/api/2.0/mlflow-artifacts/", s.mlNotFound},
		route{"GET /health", s.mlHealth},
		route{"GET /version", s.mlVersion},
	)
	return out
}

// mlNotFound answers a path no route serves: 405 when the path is served
// for another method (as Flask answers), 501 for MLflow's GenAI APIs
// (traces and the 3.0 API), ENDPOINT_NOT_FOUND otherwise.
func (s *Server) mlNotFound(w http.ResponseWriter, r *http.Request) error {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodPut} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && !strings.HasSuffix(pattern, "mlflow/") {
			return mlErrorf("BAD_REQUEST", "The method is not allowed for the requested URL.").(*mlError).withStatus(http.StatusMethodNotAllowed)
		}
	}
	if strings.Contains(r.URL.Path, "/traces") || strings.Contains(r.URL.Path, "/3.0/") {
		return errNotImplemented("%s %s is not implemented by trainyard", r.Method, r.URL.Path)
	}
	return &mlError{code: "ENDPOINT_NOT_FOUND", msg: fmt.Sprintf("no MLflow endpoint %s %s in trainyard", r.Method, r.URL.Path)}
}

// mlSearchDatasets is the UI's search of the data sets an experiment's
// runs read.
func (s *Server) mlSearchDatasets(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pmsg{"experiment_ids": fRep(fStr)})
	if err != nil {
		return err
	}
	ids := q.strs("experiment_ids")
	if len(ids) == 0 {
		return trainyard.Errorf(trainyard.EINVALID, "SearchDatasets request must specify at least one experiment_id.")
	}
	if len(ids) > 20 {
		return trainyard.Errorf(trainyard.EINVALID, "SearchDatasets request cannot specify more than 20 experiment_ids. Received %d experiment_ids.", len(ids))
	}
	type summary struct {
		ExperimentID string `json:"experiment_id"`
		Name         string `json:"name"`
		Digest       string `json:"digest"`
		Context      string `json:"context,omitempty"`
	}
	var out []summary
	seen := map[summary]bool{}
	for _, id := range ids {
		e, err := s.cfg.Store.Experiment(r.Context(), id)
		if err != nil {
			continue
		}
		runs, _, err := s.cfg.Store.SearchRuns(r.Context(), trainyard.RunSearch{Projects: []string{e.Name}, View: trainyard.ViewAll, Limit: 1 << 30})
		if err != nil {
			return err
		}
		for _, run := range runs {
			io, err := s.cfg.Store.RunIO(r.Context(), run.ID)
			if err != nil {
				return err
			}
			for _, d := range io.Datasets {
				x := summary{ExperimentID: e.ID, Name: d.Name, Digest: d.Digest, Context: d.Tags["mlflow.data.context"]}
				if !seen[x] {
					seen[x] = true
					out = append(out, x)
				}
			}
		}
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["dataset_summaries"] = out
	}
	return writeJSON(w, http.StatusOK, resp)
}

// mlServerInfo tells 3.x clients what this server supports: multipart
// and presigned transfers when the artifact store has them (transfers.go),
// else the simple proxied path.
func (s *Server) mlServerInfo(w http.ResponseWriter, r *http.Request) error {
	direct := s.cfg.Transfers != nil
	return writeJSON(w, http.StatusOK, map[string]any{
		"store_type":                          "SqlStore",
		"workspaces_enabled":                  false,
		"trace_archival_enabled":              false,
		"multipart_uploads_enabled":           direct,
		"multipart_downloads_enabled":         direct,
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

// Routes lists the MLflow routes this handler serves, "METHOD PATTERN",
// each under its first prefix only (the /ajax-api/ twins are the same
// handlers), without the catch-alls that answer ENDPOINT_NOT_FOUND.
func Routes() []string {
	var s Server
	seen := map[string]bool{}
	var out []string
	for _, r := range s.routes() {
		method, p, ok := strings.Cut(r.pattern, " ")
		if !ok || strings.HasPrefix(p, "/ajax-api/") && seen[method+" "+strings.Replace(p, "/ajax-api/", "/api/", 1)] {
			continue
		}
		seen[r.pattern] = true
		out = append(out, method+" "+p)
	}
	return out
}
