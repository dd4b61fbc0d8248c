// Package http serves trainyard's JSON API under /api/v1 (described by the
// OpenAPI document at /api/v1/openapi.json) and the embedded web UI at /.
//
// Handlers return errors; one function (writeError) turns a trainyard error
// code into an HTTP status and the body {"error": {"code", "message"}}.
package http

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// LogStore reads and appends run logs.
type LogStore interface {
	Open(runID string, offset int64) (io.ReadCloser, int64, error)
	Append(runID string, data []byte) error
}

// Config wires a Server.
type Config struct {
	Jobs      trainyard.JobService
	Store     trainyard.Store
	Artifacts trainyard.ArtifactStore
	Logs      LogStore
	// Machine returns what this machine has, with live GPU readings when it
	// can get them; default: Jobs.Machine().
	Machine func(ctx context.Context) trainyard.Machine
	Version string
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request.
	Token string
	// AllowedHosts, when set, are the only Host header names answered (with
	// any port): a server on loopback allows only loopback names, so a web
	// page cannot reach it through DNS rebinding.
	AllowedHosts []string
	Logger       *slog.Logger
	// MaxBodyBytes bounds JSON request bodies (default 64 MiB); artifact
	// uploads are bounded by MaxArtifactBytes (default 50 GiB).
	MaxBodyBytes     int64
	MaxArtifactBytes int64
	// LogPollInterval is how often a followed log is checked for growth.
	LogPollInterval time.Duration
	Clock           trainyard.Clock  // default time.Now
	NewID           trainyard.IDFunc // IDs of runs created through the API; default trainyard.NewID
}

// Server is the HTTP face of trainyard.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	log  *slog.Logger
	csrf *http.CrossOriginProtection
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = 50 << 30
	}
	if cfg.LogPollInterval <= 0 {
		cfg.LogPollInterval = 200 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = trainyard.NewID
	}
	if cfg.Machine == nil {
		cfg.Machine = func(context.Context) trainyard.Machine { return cfg.Jobs.Machine() }
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, csrf: http.NewCrossOriginProtection()}
	for _, r := range s.routes() {
		s.mux.Handle(r.pattern, withETag(s.wrap(r.handler)))
	}
	s.mux.Handle("/", s.uiHandler())
	return s
}

type route struct {
	pattern string
	handler handlerFunc
}

// handlerFunc is a handler that returns its error for writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// routes lists every API route; the OpenAPI test checks the document
// against this list.
func (s *Server) routes() []route {
	return append([]route{
		{"GET /api/v1/health", s.health},
		{"GET /api/v1/openapi.json", s.openAPI},
		{"GET /api/v1/machine", s.machine},
		{"POST /api/v1/jobs", s.submitJob},
		{"GET /api/v1/jobs", s.listJobs},
		{"GET /api/v1/jobs/{id}", s.getJob},
		{"POST /api/v1/jobs/{id}/cancel", s.cancelJob},
		{"GET /api/v1/jobs/{id}/logs", s.readLogs},
		{"GET /api/v1/projects", s.listProjects},
		{"POST /api/v1/runs", s.createRun},
		{"GET /api/v1/runs", s.listRuns},
		{"GET /api/v1/runs/{id}", s.getRun},
		{"PATCH /api/v1/runs/{id}", s.updateRun},
		{"POST /api/v1/runs/{id}/metrics", s.appendMetrics},
		{"GET /api/v1/runs/{id}/metrics/{key...}", s.readMetric},
		{"GET /api/v1/batch/runs", s.batchRuns},
		{"GET /api/v1/batch/series", s.batchSeries},
		{"GET /api/v1/runs/{id}/logs", s.readLogs},
		{"POST /api/v1/runs/{id}/logs", s.appendLogs},
		{"GET /api/v1/runs/{id}/artifacts", s.listArtifacts},
		{"GET /api/v1/runs/{id}/artifacts/{path...}", s.getArtifact},
		{"PUT /api/v1/runs/{id}/artifacts/{path...}", s.putArtifact},
		{"DELETE /api/v1/runs/{id}/artifacts/{path...}", s.deleteArtifact},
	}, s.mlflowRoutes()...)
}

// Routes lists the patterns of every API route ("GET /api/v1/runs/{id}").
func Routes() []string {
	var s Server
	var out []string
	for _, r := range s.routes() {
		if strings.Contains(r.pattern, " /api/v1/") { // MLflow's routes are described by MLflow
			out = append(out, r.pattern)
		}
	}
	return out
}

// ServeHTTP checks the Host, the origin and the token, then routes.
//
// A job can run any command, so a request that changes state must come
// from a client of ours, not from a web page the user happens to visit:
// cross-origin browser requests that change state are refused (CSRF), and
// so is a Host name that is not allowed (DNS rebinding).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		writeError(w, r, &trainyard.Error{Code: codeForbidden, Message: fmt.Sprintf("host %q is not allowed; start the server with --allowed-hosts to add it", r.Host)}, s.log)
		return
	}
	if err := s.csrf.Check(r); err != nil {
		writeError(w, r, &trainyard.Error{Code: codeForbidden, Message: "cross-origin request refused: " + err.Error()}, s.log)
		return
	}
	if s.cfg.Token != "" && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="trainyard"`)
		writeError(w, r, &trainyard.Error{Code: codeUnauthorized, Message: "missing or wrong token: send Authorization: Bearer <token> (TRAINYARD_TOKEN)"}, s.log)
		return
	}
	if isMLflowPath(r.URL.Path) && hasDotSegment(r.URL.Path) {
		s.writeMLError(w, r, trainyard.FieldError("path", "%q has . or .. segments", r.URL.Path))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// An unknown API path answers JSON, not the UI.
		if _, pattern := s.mux.Handler(r); pattern == "/" {
			writeError(w, r, trainyard.Errorf(trainyard.ENOTFOUND, "no API route %s %s; see /api/v1/openapi.json", r.Method, r.URL.Path), s.log)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) hostAllowed(host string) bool {
	if len(s.cfg.AllowedHosts) == 0 {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, a := range s.cfg.AllowedHosts {
		if a == "*" || strings.EqualFold(a, host) {
			return true
		}
	}
	return false
}

func (s *Server) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// Basic auth with the token as password, for clients that only speak Basic.
		_, pw, basic := r.BasicAuth()
		got, ok = pw, basic
	}
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// wrap turns a handlerFunc into an http.Handler that writes its error and
// survives its panics.
func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeError(w, r, errors.New("panic"), s.log)
			}
		}()
		if err := h(w, r); err != nil {
			writeError(w, r, err, s.log)
		}
	})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.cfg.Machine(r.Context()))
}
