package access

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
)

// Mode is how a server lets requests in.
type Mode string

const (
	// ModeOpen: no users and no shared token. Every request is let in as
	// an admin (the server listens on loopback unless told otherwise).
	ModeOpen Mode = "open"
	// ModeToken: no users, a shared token (--token): requests carrying it
	// are let in as an admin.
	ModeToken Mode = "token"
	// ModeUsers: users exist. Requests carry a user's token, a session
	// (the web UI's cookie), a user name and password (HTTP basic auth,
	// as MLflow clients send them), a job's token, or the shared token.
	ModeUsers Mode = "users"
)

// Config wires a Service.
type Config struct {
	// Store is the store itself (not a guarded view).
	Store trainyard.Store
	// SharedToken is --token: a shared admin token, "" for none.
	SharedToken string
	// SessionTTL is how long a web UI login lasts; default 7 days.
	SessionTTL time.Duration
	// CacheTTL is how long a checked credential is trusted before the
	// store is asked again: a token revoked on another server stops
	// working within it (on this server at once); default 2 s.
	CacheTTL time.Duration
	Clock    trainyard.Clock // default time.Now
	Logger   *slog.Logger
}

// Service authenticates requests, manages users and tokens, keeps the
// audit log, and makes the guarded views of the other services (Store,
// Jobs, Artifacts, Logs). It is safe for concurrent use.
type Service struct {
	cfg   Config
	store trainyard.Store
	clock trainyard.Clock
	log   *slog.Logger
	audit *auditor

	mu        sync.Mutex
	usersAt   time.Time // when haveUsers was last asked of the store
	haveUsers bool
	cache     map[string]cached // checked credentials, by kind and hash
	pwOK      map[string]string // hash of (user, password) → the password hash it matched
	fails     map[string]*failures
	key       []byte // the server secret, once read
}

type cached struct {
	id    *trainyard.Identity
	err   error
	until time.Time
}

type failures struct {
	n     int
	since time.Time
}

// New returns a Service; Close stops its audit writer.
func New(cfg Config) *Service {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 7 * 24 * time.Hour
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = 2 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{
		cfg: cfg, store: cfg.Store, clock: cfg.Clock, log: cfg.Logger,
		audit: newAuditor(cfg.Store, cfg.Logger),
		cache: map[string]cached{}, pwOK: map[string]string{}, fails: map[string]*failures{},
	}
}

// Close flushes and stops the audit writer.
func (s *Service) Close() { s.audit.stop() }

// Mode says how the server lets requests in now.
func (s *Service) Mode(ctx context.Context) (Mode, error) {
	users, err := s.usersExist(ctx)
	switch {
	case err != nil:
		return "", err
	case users:
		return ModeUsers, nil
	case s.cfg.SharedToken != "":
		return ModeToken, nil
	}
	return ModeOpen, nil
}

// usersExist asks the store at most once a second (a user added on this
// server is known at once).
func (s *Service) usersExist(ctx context.Context) (bool, error) {
	s.mu.Lock()
	if s.clock().Sub(s.usersAt) < time.Second {
		defer s.mu.Unlock()
		return s.haveUsers, nil
	}
	s.mu.Unlock()
	users, err := s.store.Users(ctx)
	if err != nil {
		return false, fmt.Errorf("look for users: %w", err)
	}
	s.mu.Lock()
	s.haveUsers, s.usersAt = len(users) > 0, s.clock()
	s.mu.Unlock()
	return len(users) > 0, nil
}

// changed forgets what was cached about users and credentials: called
// after every change of users, roles or tokens made here.
func (s *Service) changed() {
	s.mu.Lock()
	s.cache = map[string]cached{}
	s.usersAt = time.Time{}
	s.mu.Unlock()
}

// Credentials are what a request presented: the front door (package http)
// reads them from its headers and cookie.
type Credentials struct {
	Bearer string // Authorization: Bearer
	// Basic is set for Authorization: Basic; Password may hold a token
	// (clients that speak only basic auth send the token as the password).
	Basic          bool
	User, Password string
	Session        string // the session cookie
}

func (c Credentials) empty() bool { return c.Bearer == "" && !c.Basic && c.Session == "" }

var (
	openIdentity   = &trainyard.Identity{Admin: true, Via: "open"}
	sharedIdentity = &trainyard.Identity{Admin: true, Via: "token"}
)

// Authenticate establishes who presents c. On an open server everyone is
// let in as an admin and credentials are not looked at. Returns
// EUNAUTHORIZED with a message that says what is missing or wrong.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (*trainyard.Identity, error) {
	mode, err := s.Mode(ctx)
	if err != nil {
		return nil, err
	}
	if mode == ModeOpen {
		return openIdentity, nil
	}
	switch {
	case c.Bearer != "":
		return s.token(ctx, c.Bearer, "")
	case c.Basic:
		if looksLikeToken(c.Password) || (s.cfg.SharedToken != "" && c.Password == s.cfg.SharedToken) {
			return s.token(ctx, c.Password, "")
		}
		if mode != ModeUsers {
			return nil, unauthorized("this server has no users: send its token (--token) as a bearer token or as the basic-auth password")
		}
		return s.password(ctx, c.User, c.Password)
	case c.Session != "":
		return s.token(ctx, c.Session, trainyard.TokenSession)
	}
	if mode == ModeToken {
		return nil, unauthorized("missing token: this server was started with --token; send Authorization: Bearer <token> (TRAINYARD_TOKEN, MLFLOW_TRACKING_TOKEN)")
	}
	return nil, unauthorized("authentication required: this server has users; send Authorization: Bearer <token> (TRAINYARD_TOKEN or MLFLOW_TRACKING_TOKEN; `trainyard token create` makes one), MLflow's MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or log in to the web UI")
}

func unauthorized(format string, args ...any) *trainyard.Error {
	return trainyard.Errorf(trainyard.EUNAUTHORIZED, format, args...)
}

func looksLikeToken(s string) bool {
	for _, p := range []string{PrefixAPI, PrefixSession, PrefixJob} {
		if len(s) > len(p) && s[:len(p)] == p {
			return true
		}
	}
	return false
}

// token checks a bearer secret: the shared token, a job's token, or a
// stored token (of kind want, when set).
func (s *Service) token(ctx context.Context, secret string, want trainyard.TokenKind) (*trainyard.Identity, error) {
	if s.cfg.SharedToken != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.SharedToken)) == 1 {
		if want == trainyard.TokenSession {
			return nil, unauthorized("the session cookie holds no session: log in again")
		}
		return sharedIdentity, nil
	}
	hash := hashSecret(secret)
	key := "t:" + string(want) + ":" + hash
	if id, err, ok := s.cached(key); ok {
		return id, err
	}
	var id *trainyard.Identity
	var err error
	if len(secret) > len(PrefixJob) && secret[:len(PrefixJob)] == PrefixJob {
		id, err = s.jobIdentity(ctx, secret)
	} else {
		id, err = s.storedToken(ctx, secret, hash, want)
	}
	if err != nil && !trainyard.IsCode(err, trainyard.EUNAUTHORIZED) {
		return nil, err // a fault of the store: not cached
	}
	s.remember(key, id, err)
	return id, err
}

func (s *Service) storedToken(ctx context.Context, secret, hash string, want trainyard.TokenKind) (*trainyard.Identity, error) {
	t, err := s.store.TokenByHash(ctx, hash)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		if want == trainyard.TokenSession {
			return nil, unauthorized("your session has ended: log in again")
		}
		return nil, unauthorized("token refused: %s is not a token of this server (check TRAINYARD_TOKEN or MLFLOW_TRACKING_TOKEN)", displayPrefix(secret)+"…")
	}
	if err != nil {
		return nil, err
	}
	now := s.clock()
	switch {
	case want != "" && t.Kind != want:
		return nil, unauthorized("the session cookie holds a %s token, not a session: log in again", t.Kind)
	case want == "" && t.Kind == trainyard.TokenSession:
		return nil, unauthorized("a session is sent as the web UI's cookie, not as a bearer token; use an API token (`trainyard token create`)")
	case !t.RevokedAt.IsZero() && t.Kind == trainyard.TokenSession:
		return nil, unauthorized("you logged out: log in again")
	case !t.RevokedAt.IsZero():
		return nil, unauthorized("token %s (%s) was revoked on %s: ask for a new one (`trainyard token create`)", t.ID, t.Prefix+"…", t.RevokedAt.UTC().Format(time.RFC3339))
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) && t.Kind == trainyard.TokenSession:
		return nil, unauthorized("your session expired: log in again")
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return nil, unauthorized("token %s (%s) expired on %s: make a new one (`trainyard token create`)", t.ID, t.Prefix+"…", t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	u, err := s.store.User(ctx, t.User)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, unauthorized("token %s belongs to user %s, who no longer exists", t.ID, t.User)
	}
	if err != nil {
		return nil, err
	}
	via := "api"
	if t.Kind == trainyard.TokenSession {
		via = "session"
	}
	return &trainyard.Identity{User: u.Name, Admin: u.Admin, Roles: u.Roles, Project: t.Project, MaxRole: t.Role, Via: via, TokenID: t.ID}, nil
}

// jobIdentity checks a job's token: the job runs, and the MAC is the
// server's. The job acts for its owner: it reads what the owner may read
// (and always its own project), and writes only its own run.
func (s *Service) jobIdentity(ctx context.Context, secret string) (*trainyard.Identity, error) {
	key, err := s.secret(ctx)
	if err != nil {
		return nil, err
	}
	jobID, ok := parseJobToken(key, secret)
	if !ok {
		return nil, unauthorized("token refused: %s… is not a job token of this server", secret[:min(len(secret), 14)])
	}
	j, err := s.store.Job(ctx, jobID)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, unauthorized("the token of job %s is no longer valid: the job does not exist", jobID)
	}
	if err != nil {
		return nil, err
	}
	if j.State.Terminal() {
		return nil, unauthorized("the token of job %s is no longer valid: the job ended (%s); upload what it left with a user's token (`trainyard sync`)", jobID, j.State)
	}
	roles := map[string]trainyard.Role{}
	if j.Owner != "" {
		if u, err := s.store.User(ctx, j.Owner); err == nil {
			for p, r := range u.Roles {
				roles[p] = r
			}
			if u.Admin {
				roles[trainyard.AllProjects] = trainyard.RoleViewer
			}
		} else if !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return nil, err
		}
	}
	if roles[j.Project].Rank() < trainyard.RoleViewer.Rank() {
		roles[j.Project] = trainyard.RoleViewer
	}
	return &trainyard.Identity{User: j.Owner, Roles: roles, RunID: j.ID, Via: "job"}, nil
}

// password checks a user name and password (HTTP basic auth). The slow
// hash runs once per password: a match is remembered by the password hash
// it matched, so a changed password is checked afresh.
func (s *Service) password(ctx context.Context, name, pw string) (*trainyard.Identity, error) {
	h := sha256.Sum256([]byte(name + "\x00" + pw))
	key := "p:" + hex.EncodeToString(h[:])
	if id, err, ok := s.cached(key); ok {
		return id, err
	}
	if err := s.throttled(name); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, name)
	if err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, err
	}
	s.mu.Lock()
	matched := u != nil && u.PasswordHash != "" && s.pwOK[key] == u.PasswordHash
	s.mu.Unlock()
	if !matched {
		if u == nil || u.PasswordHash == "" || !checkPassword(u.PasswordHash, pw) {
			s.failed(name)
			return nil, unauthorized("wrong user name or password")
		}
		s.mu.Lock()
		if len(s.pwOK) > 10000 {
			s.pwOK = map[string]string{}
		}
		s.pwOK[key] = u.PasswordHash
		s.mu.Unlock()
	}
	id := &trainyard.Identity{User: u.Name, Admin: u.Admin, Roles: u.Roles, Via: "password"}
	s.remember(key, id, nil)
	return id, nil
}

// Logins are throttled per user name: after maxFailures wrong passwords
// within failureWindow, more attempts are refused until it has passed.
const (
	maxFailures   = 10
	failureWindow = time.Minute
)

func (s *Service) throttled(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fails[name]
	if f == nil || s.clock().Sub(f.since) > failureWindow {
		return nil
	}
	if f.n >= maxFailures {
		return unauthorized("too many wrong passwords for %s: wait a minute and try again", name)
	}
	return nil
}

func (s *Service) failed(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	f := s.fails[name]
	if f == nil || now.Sub(f.since) > failureWindow {
		if len(s.fails) > 10000 {
			s.fails = map[string]*failures{}
		}
		f = &failures{since: now}
		s.fails[name] = f
	}
	f.n++
}

func (s *Service) cached(key string) (*trainyard.Identity, error, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[key]
	if !ok || !s.clock().Before(c.until) {
		return nil, nil, false
	}
	return c.id, c.err, true
}

func (s *Service) remember(key string, id *trainyard.Identity, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) > 10000 {
		s.cache = map[string]cached{}
	}
	s.cache[key] = cached{id: id, err: err, until: s.clock().Add(s.cfg.CacheTTL)}
}

// secret returns the server secret, read once.
func (s *Service) secret(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	key := s.key
	s.mu.Unlock()
	if key != nil {
		return key, nil
	}
	key, err := s.store.ServerSecret(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the server secret: %w", err)
	}
	s.mu.Lock()
	s.key = key
	s.mu.Unlock()
	return key, nil
}

// JobEnv is what a job's environment gets to reach this server as its
// owner: TRAINYARD_TOKEN and MLFLOW_TRACKING_TOKEN. With users (or on an
// open server, which may get users while the job runs) that is the job's
// own token, which writes only the job's run and stops working when the
// job ends; on a server with only a shared token, the shared token.
func (s *Service) JobEnv(ctx context.Context, j *trainyard.Job) ([]string, error) {
	mode, err := s.Mode(ctx)
	if err != nil {
		return nil, err
	}
	tok := s.cfg.SharedToken
	if mode != ModeToken {
		key, err := s.secret(ctx)
		if err != nil {
			return nil, err
		}
		tok = jobToken(key, j.ID)
	}
	return []string{"TRAINYARD_TOKEN=" + tok, "MLFLOW_TRACKING_TOKEN=" + tok}, nil
}

// CSRF is the token a UI session sends in X-CSRF-Token with requests that
// change state.
func CSRF(session string) string { return csrfToken(session) }

// CheckCSRF reports whether got is the CSRF token of session.
func CheckCSRF(session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(session))) == 1
}
