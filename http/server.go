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
	"github.com/trainyard/trainyard/access"
	"github.com/trainyard/trainyard/httpkit"
	"github.com/trainyard/trainyard/httplimit"
	"github.com/trainyard/trainyard/sweep"
	"github.com/trainyard/trainyard/tracking"
)

// LogStore reads and appends run logs; ctx carries the caller's identity
// (package access's guarded view checks it).
type LogStore interface {
	// ReadLog opens a run's log at offset, or one rank's own output when
	// rank is not negative, and returns its size.
	ReadLog(ctx context.Context, runID string, rank int, offset int64) (io.ReadCloser, int64, error)
	AppendLog(ctx context.Context, runID string, data []byte) error
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
	// every request (without Access; with it, Access knows the token).
	Token string
	// Access, when set, authenticates requests (users' tokens, sessions,
	// job tokens, the shared token) and serves the users, tokens and audit
	// routes; Jobs, Store, Artifacts, Logs and Tracking should then be its
	// guarded views, which check what each identity may do.
	Access *access.Service
	// AllowedHosts, when set, are the only Host header names answered (with
	// any port): a server on loopback allows only loopback names, so a web
	// page cannot reach it through DNS rebinding.
	AllowedHosts []string
	Logger       *slog.Logger
	// MaxBodyBytes bounds metric batches and MLflow request bodies
	// (default 64 MiB); MaxJSONBytes the other JSON bodies and appended
	// log text (default 8 MiB). Artifact uploads, streamed to disk, are
	// bounded by MaxArtifactBytes (default 50 GiB).
	MaxBodyBytes     int64
	MaxJSONBytes     int64
	MaxArtifactBytes int64
	// Budget bounds the memory that request bodies hold at once, server
	// wide; handlers read bodies through it (default: DefaultBudget bytes,
	// a request waits up to 30 s for its share). Pass the same Budget to
	// every API the process serves.
	Budget *httplimit.Budget
	// Timeouts bound how long a client may take to send a request or take
	// an answer (defaults: httplimit's).
	Timeouts httplimit.Timeouts
	// LogPollInterval is how often a followed log is checked for growth.
	LogPollInterval time.Duration
	Clock           trainyard.Clock  // default time.Now
	NewID           trainyard.IDFunc // IDs of runs created through the API; default trainyard.NewID
	// Tracking writes runs (both APIs share its rules); default: a
	// service on Store with Clock and NewID.
	Tracking *tracking.Service
	// Mounts are other APIs served behind the same Host, origin and token
	// checks: the MLflow REST API, which cmd/trainyard mounts here.
	Mounts []Mount
	// Sweeps serves /api/v1/sweeps and tells trials, in the answers to
	// their metric batches, whether to stop; nil: the sweep routes answer
	// 503.
	Sweeps *sweep.Service
	// LeaderURL, with several servers on one database, returns the API
	// URL of the server that runs sweeps: this one forwards sweep changes
	// there while it does not (see leaderOnly). nil: it refuses them with
	// EUNAVAILABLE.
	LeaderURL func(ctx context.Context) (string, error)
	// PeerURL is this server's own URL as the others reach it (it names
	// the forwarder in ForwardedHeader).
	PeerURL string
}

// Mount routes the requests whose paths match Patterns (http.ServeMux
// patterns such as "/api/2.0/mlflow/") to Handler.
type Mount struct {
	Patterns []string
	Handler  http.Handler
	// WriteError, when set, answers the requests to these paths that the
	// front door refuses (401, 403) in the mounted API's own error shape.
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
}

// DefaultBudget is the default memory budget for request bodies: room for
// two maximum metric batches (64 MiB, parsed) at once, or hundreds of the
// usual ones.
const DefaultBudget = 256 << 20

// Cost of a body byte in memory while its handler works (see
// httplimit.Budget.ReadBody): a metric batch and its columns; JSON decoded
// into maps of values; text kept as is.
const (
	costMetrics = 2
	costJSON    = 8
	costText    = 1
)

// Server is the HTTP face of trainyard.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	log  *slog.Logger
	csrf *http.CrossOriginProtection
	h    http.Handler // serve, under deadlines
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	if cfg.MaxJSONBytes <= 0 {
		cfg.MaxJSONBytes = 8 << 20
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = 50 << 30
	}
	if cfg.Budget == nil {
		cfg.Budget = httplimit.NewBudget(DefaultBudget, 30*time.Second)
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
	if cfg.Tracking == nil {
		cfg.Tracking = tracking.New(tracking.Config{Store: cfg.Store, Clock: cfg.Clock, NewID: cfg.NewID})
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, csrf: http.NewCrossOriginProtection()}
	for _, r := range s.routes() {
		s.mux.Handle(r.pattern, httpkit.WithETag(s.wrap(r.handler)))
	}
	for _, m := range cfg.Mounts {
		for _, p := range m.Patterns {
			s.mux.Handle(p, m.Handler)
		}
	}
	s.mux.Handle("/", s.uiHandler())
	s.h = httplimit.Deadlines(http.HandlerFunc(s.serve), cfg.Timeouts)
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
		{"GET /api/v1/executor", s.executor},
		{"POST /api/v1/jobs", s.submitJob},
		{"GET /api/v1/jobs", s.listJobs},
		{"POST /api/v1/jobs/cancel", s.cancelJobs},
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
		{"POST /api/v1/sweeps", s.leaderOnly(s.createSweep)},
		{"GET /api/v1/sweeps", s.listSweeps},
		{"GET /api/v1/sweeps/{id}", s.getSweep},
		{"POST /api/v1/sweeps/{id}/pause", s.leaderOnly(s.controlSweep)},
		{"POST /api/v1/sweeps/{id}/resume", s.leaderOnly(s.controlSweep)},
		{"POST /api/v1/sweeps/{id}/stop", s.leaderOnly(s.controlSweep)},
		{"POST /api/v1/sweeps/{id}/suggest", s.leaderOnly(s.suggestTrials)},
		{"POST /api/v1/sweeps/{id}/report", s.leaderOnly(s.reportTrial)},
	}, s.authRoutes()...)
}

// Routes lists the patterns of every API route ("GET /api/v1/runs/{id}").
func Routes() []string {
	var s Server
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.pattern)
	}
	return out
}

// ServeHTTP checks the Host, the origin and the credentials, then routes,
// under deadlines for reading the request and writing the answer
// (httplimit.Deadlines; streaming routes lift them as they progress). With
// a token or users, only the web UI's shell loads without credentials
// (isUIShell): the UI then asks for them.
//
// A job can run any command, so a request that changes state must come
// from a client of ours, not from a web page the user happens to visit:
// cross-origin browser requests that change state are refused (CSRF), and
// so is a Host name that is not allowed (DNS rebinding).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		writeError(w, r, &trainyard.Error{Code: codeForbidden, Message: fmt.Sprintf("host %q is not allowed; start the server with --allowed-hosts to add it", r.Host)}, s.log)
		return
	}
	if err := s.csrf.Check(r); err != nil {
		writeError(w, r, &trainyard.Error{Code: codeForbidden, Message: "cross-origin request refused: " + err.Error()}, s.log)
		return
	}
	r, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if isMLflowArtifactTransfer(r) {
		// Uploads and downloads of MLflow artifacts run as long as they
		// move, like the native ones.
		httplimit.Stream(r)
	}
	if httpkit.HasDotSegment(r.URL.Path) {
		// The mux would clean the path and redirect to another one; a
		// mounted API judges such paths itself.
		if m := s.mountOf(r.URL.Path); m != nil {
			m.ServeHTTP(w, r)
			return
		}
	}
	if strings.HasPrefix(r.URL.Path, "/api/v1/") && !cleanPath(r.URL.Path) {
		// Keys and artifact paths are read as written: the router would
		// redirect x//y to x/y, another series or file.
		writeError(w, r, trainyard.FieldError("path", "%q has an empty, \".\" or \"..\" segment; keys and artifact paths have none (%s)", r.URL.Path, trainyard.KeyGrammar), s.log)
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

// cleanPath reports whether p has no empty ("//"), "." or ".." segment.
func cleanPath(p string) bool {
	if strings.Contains(p, "//") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// isMLflowArtifactTransfer reports a download or upload of an MLflow
// artifact (the MLflow handlers' streams).
func isMLflowArtifactTransfer(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodPut) &&
		(strings.HasPrefix(r.URL.Path, "/api/2.0/mlflow-artifacts/artifacts/") ||
			strings.HasPrefix(r.URL.Path, "/ajax-api/2.0/mlflow-artifacts/artifacts/"))
}

// mountOf returns the mounted handler whose pattern covers path, if any.
func (s *Server) mountOf(path string) http.Handler {
	for _, m := range s.cfg.Mounts {
		for _, p := range m.Patterns {
			if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
				return m.Handler
			}
		}
	}
	return nil
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
	out := map[string]string{"status": "ok", "version": s.cfg.Version}
	if l, ok := s.cfg.Jobs.(interface{ Leading() bool }); ok {
		out["role"] = "follower" // another server on the same database schedules
		if l.Leading() {
			out["role"] = "leader"
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) machine(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.cfg.Machine(r.Context()))
}

// executor describes where jobs run: the executor's kind and its nodes.
func (s *Server) executor(w http.ResponseWriter, r *http.Request) error {
	info, err := s.cfg.Jobs.Executor(r.Context())
	if err != nil {
		return err
	}
	if info.Nodes == nil {
		info.Nodes = []trainyard.Node{}
	}
	return writeJSON(w, http.StatusOK, info)
}
