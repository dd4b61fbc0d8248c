package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/access"
)

// The front door's last check: who is asking. With Config.Access, package
// access decides from the request's credentials (a bearer token, basic
// auth, or the UI's session cookie) and the request goes on carrying the
// identity (trainyard.WithIdentity) for the services to check; without
// it, only Config.Token guards the server, as before users existed.
//
// Requests authenticated by the session cookie that change state must
// also carry the session's CSRF token in X-CSRF-Token (besides passing
// CrossOriginProtection): a page of another origin can make the browser
// send the cookie, but cannot read the token.

// sessionCookie holds a web UI session.
const sessionCookie = "trainyard_session"

// csrfHeader carries a session's CSRF token.
const csrfHeader = "X-CSRF-Token"

var (
	legacyOpen  = &trainyard.Identity{Admin: true, Via: "open"}
	legacyToken = &trainyard.Identity{Admin: true, Via: "token"}
)

// authenticate answers 401 (or 403) and returns false when the request
// may not go on; otherwise it returns the request carrying its identity.
// The UI's shell and the login endpoints are public: they go on without
// one when the request carries no good credential.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	public := s.isUIShell(r) || isPublicAuthRoute(r)
	if s.cfg.Access == nil {
		if s.cfg.Token == "" {
			return r.WithContext(trainyard.WithIdentity(r.Context(), legacyOpen)), true
		}
		if s.authorized(r) {
			return r.WithContext(trainyard.WithIdentity(r.Context(), legacyToken)), true
		}
		if public {
			return r, true
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="trainyard"`)
		s.refuse(w, r, &trainyard.Error{Code: codeUnauthorized, Message: "missing or wrong token: send Authorization: Bearer <token> (TRAINYARD_TOKEN)"})
		return r, false
	}
	creds := credentials(r)
	id, err := s.cfg.Access.Authenticate(r.Context(), creds)
	if err != nil {
		if public && trainyard.IsCode(err, trainyard.EUNAUTHORIZED) {
			return r, true
		}
		if trainyard.IsCode(err, trainyard.EUNAUTHORIZED) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trainyard"`)
		}
		s.refuse(w, r, err)
		return r, false
	}
	if id.Via == "session" && changesState(r.Method) && !isPublicAuthRoute(r) && !access.CheckCSRF(creds.Session, r.Header.Get(csrfHeader)) {
		s.refuse(w, r, &trainyard.Error{Code: codeForbidden, Message: "missing or wrong " + csrfHeader + " header: a request with the session cookie that changes state must carry the session's CSRF token (GET /api/v1/auth/me gives it)"})
		return r, false
	}
	return r.WithContext(trainyard.WithIdentity(r.Context(), id)), true
}

// refuse answers a refused request: in a mounted API's own error shape on
// its paths, in ours elsewhere.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	for _, m := range s.cfg.Mounts {
		if m.WriteError != nil && mountCovers(m, r.URL.Path) {
			m.WriteError(w, r, err)
			return
		}
	}
	writeError(w, r, err, s.log)
}

func mountCovers(m Mount, path string) bool {
	for _, p := range m.Patterns {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// credentials reads what a request presents.
func credentials(r *http.Request) access.Credentials {
	var c access.Credentials
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		c.Bearer = strings.TrimSpace(bearer)
	} else if user, pw, ok := r.BasicAuth(); ok {
		c.Basic, c.User, c.Password = true, user, pw
	}
	if ck, err := r.Cookie(sessionCookie); err == nil {
		c.Session = ck.Value
	}
	return c
}

func changesState(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// isPublicAuthRoute: how the server lets people in, logging in and out.
func isPublicAuthRoute(r *http.Request) bool {
	switch r.Method + " " + r.URL.Path {
	case "GET /api/v1/auth/config", "POST /api/v1/auth/login", "POST /api/v1/auth/logout":
		return true
	}
	return false
}

func (s *Server) authRoutes() []route {
	return []route{
		{"GET /api/v1/auth/config", s.authConfig},
		{"POST /api/v1/auth/login", s.login},
		{"POST /api/v1/auth/logout", s.logout},
		{"GET /api/v1/auth/me", s.me},
		{"GET /api/v1/users", s.listUsers},
		{"POST /api/v1/users", s.addUser},
		{"PATCH /api/v1/users/{name}", s.updateUser},
		{"DELETE /api/v1/users/{name}", s.deleteUser},
		{"PUT /api/v1/users/{name}/password", s.setPassword},
		{"GET /api/v1/tokens", s.listTokens},
		{"POST /api/v1/tokens", s.createToken},
		{"DELETE /api/v1/tokens/{id}", s.revokeToken},
		{"GET /api/v1/audit", s.listAudit},
	}
}

// mode is how the server lets requests in.
func (s *Server) mode(r *http.Request) (access.Mode, error) {
	if s.cfg.Access != nil {
		return s.cfg.Access.Mode(r.Context())
	}
	if s.cfg.Token != "" {
		return access.ModeToken, nil
	}
	return access.ModeOpen, nil
}

// needAccess refuses the user routes of a server wired without access
// control (tests of other packages).
func (s *Server) needAccess() error {
	if s.cfg.Access == nil {
		return trainyard.Errorf(trainyard.ENOTFOUND, "this server has no user management")
	}
	return nil
}

// authConfig tells the UI how to let the user in: nothing to do (open), a
// token to ask for (token), or a login page (users).
func (s *Server) authConfig(w http.ResponseWriter, r *http.Request) error {
	mode, err := s.mode(r)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"mode": mode})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	var body struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	if mode, err := s.mode(r); err != nil {
		return err
	} else if mode != access.ModeUsers {
		return trainyard.FieldError("user", "this server has no users to log in as (mode %s)", mode)
	}
	if body.User == "" {
		return trainyard.FieldError("user", "is missing")
	}
	sess, err := s.cfg.Access.Login(r.Context(), body.User, body.Password)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.Secret, Path: "/", Expires: sess.ExpiresAt,
		MaxAge: int(time.Until(sess.ExpiresAt).Seconds()), HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r),
	})
	return writeJSON(w, http.StatusOK, map[string]any{"user": sess.User, "csrf_token": sess.CSRF, "expires_at": sess.ExpiresAt})
}

// secure reports whether the client reached us over TLS (here, or at a
// proxy in front): the session cookie is then sent over TLS only.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	if ck, err := r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		if err := s.cfg.Access.Logout(r.Context(), ck.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secure(r)})
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// me describes the caller; a session also gets its CSRF token.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Access == nil {
		mode, _ := s.mode(r)
		id := trainyard.IdentityFrom(r.Context())
		return writeJSON(w, http.StatusOK, access.Me{Mode: mode, Admin: true, Roles: map[string]trainyard.Role{}, Via: id.Via})
	}
	me, err := s.cfg.Access.WhoAmI(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		*access.Me
		CSRF string `json:"csrf_token,omitempty"`
	}{Me: me}
	if me.Via == "session" {
		if ck, err := r.Cookie(sessionCookie); err == nil {
			out.CSRF = access.CSRF(ck.Value)
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	us, err := s.cfg.Access.Users(r.Context())
	if err != nil {
		return err
	}
	if us == nil {
		us = []*trainyard.User{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"users": us})
}

// rolesParam reads {"project": "role"} where "" and "none" remove a role.
func rolesParam(in map[string]string) (map[string]trainyard.Role, error) {
	out := make(map[string]trainyard.Role, len(in))
	for _, p := range trainyard.SortedKeys(in) {
		r, err := trainyard.ParseRole("roles", in[p])
		if err != nil {
			return nil, err
		}
		out[p] = r
	}
	return out, nil
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	var body struct {
		Name     string            `json:"name"`
		Password string            `json:"password"`
		Admin    bool              `json:"admin"`
		Roles    map[string]string `json:"roles"`
		Token    bool              `json:"token"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	roles, err := rolesParam(body.Roles)
	if err != nil {
		return err
	}
	for p, role := range roles {
		if role == trainyard.RoleNone {
			delete(roles, p)
		}
	}
	added, err := s.cfg.Access.AddUser(r.Context(), access.NewUser{Name: body.Name, Password: body.Password, Admin: body.Admin, Roles: roles, Token: body.Token})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/users/"+added.User.Name)
	return writeJSON(w, http.StatusCreated, added)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	var body struct {
		Admin *bool             `json:"admin"`
		Roles map[string]string `json:"roles"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	roles, err := rolesParam(body.Roles)
	if err != nil {
		return err
	}
	u, err := s.cfg.Access.SetRoles(r.Context(), r.PathValue("name"), roles, body.Admin)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	if err := s.cfg.Access.DeleteUser(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) setPassword(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := s.cfg.Access.SetPassword(r.Context(), r.PathValue("name"), body.Password); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	q := r.URL.Query()
	inactive, err := boolParam(q.Get("inactive"), "inactive")
	if err != nil {
		return err
	}
	ts, err := s.cfg.Access.Tokens(r.Context(), q.Get("user"), inactive)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []*trainyard.Token{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	var req access.TokenRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	secret, t, err := s.cfg.Access.CreateToken(r.Context(), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"token": t, "secret": secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	t, err := s.cfg.Access.RevokeToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	if err := s.needAccess(); err != nil {
		return err
	}
	q := r.URL.Query()
	f := trainyard.AuditFilter{Actor: q.Get("actor"), Project: q.Get("project"), Action: q.Get("action")}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", 0, 100_000); err != nil {
		return err
	}
	before, err := int64Param(q.Get("before"), "before")
	if err != nil {
		return err
	}
	if before != nil {
		f.BeforeSeq = *before
	}
	if v := q.Get("since"); v != "" {
		if f.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return trainyard.FieldError("since", "%q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
		}
	}
	es, err := s.cfg.Access.Audit(r.Context(), f)
	if err != nil {
		return err
	}
	if es == nil {
		es = []*trainyard.AuditEntry{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}
