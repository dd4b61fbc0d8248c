package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// Users, tokens, logins and the audit log. Every method checks the caller
// (the identity in ctx) itself.

// NewUser is a request to add a user.
type NewUser struct {
	Name     string                    `json:"name"`
	Password string                    `json:"password,omitempty"` // "" makes one, returned once
	Admin    bool                      `json:"admin,omitempty"`
	Roles    map[string]trainyard.Role `json:"roles,omitempty"`
	// Token asks for an API token for the new user too. The first user of
	// an open server always gets one: from then on the server needs one.
	Token bool `json:"token,omitempty"`
}

// AddedUser is what AddUser made.
type AddedUser struct {
	User *trainyard.User `json:"user"`
	// Password is set when the server made it: shown once.
	Password string `json:"password,omitempty"`
	// Token and Secret are set when a token was made: the secret is shown
	// once.
	Token  *trainyard.Token `json:"token,omitempty"`
	Secret string           `json:"secret,omitempty"`
}

// AddUser adds a user (server admins only). On an open server (no users,
// no shared token) anyone who may reach it adds the first user, who must
// be a server admin, so that someone can manage the users that follow,
// and who gets an API token, since the server now needs one.
func (s *Service) AddUser(ctx context.Context, n NewUser) (*AddedUser, error) {
	who := trainyard.IdentityFrom(ctx)
	if err := Authorize(who, "add", Administer, Resource{What: "users"}); err != nil {
		return nil, err
	}
	u := &trainyard.User{Name: n.Name, Admin: n.Admin, Roles: n.Roles}
	if u.Roles == nil {
		u.Roles = map[string]trainyard.Role{}
	}
	errs := []error{u.Validate()}
	out := &AddedUser{User: u}
	if n.Password == "" {
		n.Password = newPassword()
		out.Password = n.Password
	} else {
		errs = append(errs, checkNewPassword("password", n.Password))
	}
	mode, err := s.Mode(ctx)
	if err != nil {
		return nil, err
	}
	if mode == ModeOpen && !n.Admin {
		errs = append(errs, trainyard.FieldError("admin", "the first user must be a server admin (--admin): once a server has a user, every request needs one, and someone must manage the rest"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	u.PasswordHash, u.CreatedAt, u.UpdatedAt = hashPassword(n.Password), now, now
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	s.changed()
	s.record(ctx, "user.add", "user/"+u.Name, "", describeUser(u))
	if n.Token || mode == ModeOpen {
		secret, t, err := s.mintToken(ctx, TokenRequest{User: u.Name, Name: "made with the user"})
		if err != nil {
			return nil, fmt.Errorf("user %s was added, but its token was not: %w", u.Name, err)
		}
		out.Token, out.Secret = t, secret
	}
	return out, nil
}

func describeUser(u *trainyard.User) string {
	var parts []string
	if u.Admin {
		parts = append(parts, "admin")
	}
	for _, p := range trainyard.SortedKeys(u.Roles) {
		parts = append(parts, fmt.Sprintf("%s=%s", p, u.Roles[p]))
	}
	return strings.Join(parts, " ")
}

// Users lists the users (server admins only).
func (s *Service) Users(ctx context.Context) ([]*trainyard.User, error) {
	if err := Authorize(trainyard.IdentityFrom(ctx), "list", Administer, Resource{What: "users"}); err != nil {
		return nil, err
	}
	return s.store.Users(ctx)
}

// DeleteUser removes a user and its tokens (server admins only). The last
// server admin of a server without a shared token cannot be removed while
// other users remain: nobody could manage them.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if err := Authorize(trainyard.IdentityFrom(ctx), "remove", Administer, Resource{What: "user " + name}); err != nil {
		return err
	}
	if err := s.keepAnAdmin(ctx, name, true); err != nil {
		return err
	}
	if err := s.store.DeleteUser(ctx, name); err != nil {
		return err
	}
	s.changed()
	s.record(ctx, "user.remove", "user/"+name, "", "")
	return nil
}

// keepAnAdmin refuses to remove (or demote) the last server admin while
// other users remain and no shared token could stand in.
func (s *Service) keepAnAdmin(ctx context.Context, name string, removing bool) error {
	if s.cfg.SharedToken != "" {
		return nil
	}
	users, err := s.store.Users(ctx)
	if err != nil {
		return err
	}
	admins, others, found := 0, 0, false
	for _, u := range users {
		if u.Name == name {
			found = found || u.Admin
			continue
		}
		others++
		if u.Admin {
			admins++
		}
	}
	if found && admins == 0 && others > 0 {
		what := "remove"
		if !removing {
			what = "take admin from"
		}
		return trainyard.Errorf(trainyard.ECONFLICT, "cannot %s %s: it is the last server admin, and %d other user(s) would be left with nobody to manage them; make another admin first", what, name, others)
	}
	return nil
}

// SetRoles changes a user's roles (RoleNone removes one) and, for server
// admins, whether the user is one. A server admin may set any role; a
// project's admin may set roles in that project.
func (s *Service) SetRoles(ctx context.Context, name string, roles map[string]trainyard.Role, admin *bool) (*trainyard.User, error) {
	who := trainyard.IdentityFrom(ctx)
	var errs []error
	for p, r := range roles {
		if err := trainyard.ValidateRoleProject("project", p); err != nil {
			errs = append(errs, err)
		}
		if !r.Valid() {
			errs = append(errs, trainyard.FieldError("role", "%q is not one of viewer, member, admin, none", r))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if admin != nil || len(roles) == 0 {
		if err := Authorize(who, "change whether a user is a server admin", Administer, Resource{What: "user " + name}); err != nil {
			return nil, err
		}
	}
	for _, p := range trainyard.SortedKeys(roles) {
		if p == trainyard.AllProjects {
			if err := Authorize(who, "give roles in every project", Administer, Resource{What: "user " + name}); err != nil {
				return nil, err
			}
			continue
		}
		if err := Authorize(who, "give roles in", Manage, Resource{What: "project " + p, Project: p}); err != nil {
			return nil, err
		}
	}
	if admin != nil && !*admin {
		if err := s.keepAnAdmin(ctx, name, false); err != nil {
			return nil, err
		}
	}
	u, err := s.store.UpdateUser(ctx, name, trainyard.UserUpdate{Admin: admin, Roles: roles})
	if err != nil {
		return nil, err
	}
	s.changed()
	var parts []string
	if admin != nil {
		parts = append(parts, fmt.Sprintf("admin=%t", *admin))
	}
	for _, p := range trainyard.SortedKeys(roles) {
		r := string(roles[p])
		if r == "" {
			r = "none"
		}
		parts = append(parts, p+"="+r)
	}
	project := ""
	if len(roles) == 1 {
		project = trainyard.SortedKeys(roles)[0]
	}
	s.record(ctx, "user.roles", "user/"+name, project, strings.Join(parts, " "))
	return u, nil
}

// SetPassword changes a user's password: one's own, or anyone's for a
// server admin. Sessions and tokens stay valid.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	who := trainyard.IdentityFrom(ctx)
	if who == nil || who.User != name || who.RunID != "" {
		if err := Authorize(who, "set the password of", Administer, Resource{What: "user " + name}); err != nil {
			return err
		}
	}
	if err := checkNewPassword("password", password); err != nil {
		return err
	}
	h := hashPassword(password)
	if _, err := s.store.UpdateUser(ctx, name, trainyard.UserUpdate{PasswordHash: &h}); err != nil {
		return err
	}
	s.changed()
	s.record(ctx, "user.password", "user/"+name, "", "")
	return nil
}

// TokenRequest asks for an API token.
type TokenRequest struct {
	User string `json:"user,omitempty"` // default: the caller
	Name string `json:"name,omitempty"` // what it is for
	// Project and Role limit the token (see trainyard.Token).
	Project string         `json:"project,omitempty"`
	Role    trainyard.Role `json:"role,omitempty"`
	// ExpiresIn is how long it lasts ("90d", "12h", seconds); 0 means
	// never.
	ExpiresIn trainyard.Duration `json:"expires_in,omitempty"`
}

// Validate reports every problem at once.
func (r *TokenRequest) Validate() error {
	var errs []error
	if r.User != "" {
		errs = append(errs, trainyard.ValidateUserName("user", r.User))
	}
	if r.Project != "" {
		errs = append(errs, trainyard.ValidateProject("project", r.Project))
	}
	if !r.Role.Valid() {
		errs = append(errs, trainyard.FieldError("role", "%q is not one of viewer, member, admin", r.Role))
	}
	if len(r.Name) > 200 {
		errs = append(errs, trainyard.FieldError("name", "is %d characters, more than 200", len(r.Name)))
	}
	if r.ExpiresIn < 0 {
		errs = append(errs, trainyard.FieldError("expires_in", "is negative"))
	}
	return errors.Join(errs...)
}

// CreateToken makes an API token and returns its secret (shown once). A
// user makes tokens for themself, within the limits of the token they use
// (a viewer token cannot make a member token); a server admin makes them
// for anyone. A job's token makes none.
func (s *Service) CreateToken(ctx context.Context, r TokenRequest) (string, *trainyard.Token, error) {
	who := trainyard.IdentityFrom(ctx)
	if err := r.Validate(); err != nil {
		return "", nil, err
	}
	if who != nil && r.User == "" {
		r.User = who.User
	}
	if r.User == "" {
		return "", nil, trainyard.FieldError("user", "is missing: name the user the token is for (this request is not a user's)")
	}
	switch {
	case who == nil || who.RunID != "":
		return "", nil, trainyard.Forbidden("%s may not make tokens: a job's token makes none", who.Actor())
	case who.Unlimited():
	case who.User != r.User:
		if err := Authorize(who, "make tokens for", Administer, Resource{What: "user " + r.User}); err != nil {
			return "", nil, err
		}
	default:
		// Within the limits of the token in use.
		if who.Project != "" && r.Project != who.Project {
			return "", nil, trainyard.Forbidden("this token is limited to project %s: a token it makes must be limited to it too (--project %s)", who.Project, who.Project)
		}
		if who.MaxRole != trainyard.RoleNone && (r.Role == trainyard.RoleNone || r.Role.Rank() > who.MaxRole.Rank()) {
			return "", nil, trainyard.Forbidden("this token is limited to the %s role: a token it makes must be limited to it or less (--role %s)", who.MaxRole, who.MaxRole)
		}
	}
	return s.mintToken(ctx, r)
}

func (s *Service) mintToken(ctx context.Context, r TokenRequest) (string, *trainyard.Token, error) {
	now := s.clock().UTC().Truncate(time.Microsecond)
	secret := newSecret(PrefixAPI)
	t := &trainyard.Token{
		ID: newID(), Hash: hashSecret(secret), Kind: trainyard.TokenAPI, User: r.User, Name: r.Name,
		Prefix: displayPrefix(secret), Project: r.Project, Role: r.Role,
		CreatedBy: trainyard.IdentityFrom(ctx).Actor(), CreatedAt: now,
	}
	if r.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(r.ExpiresIn))
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return "", nil, err
	}
	s.changed()
	detail := fmt.Sprintf("token=%s", t.ID)
	if t.Project != "" {
		detail += " project=" + t.Project
	}
	if t.Role != "" {
		detail += " role=" + string(t.Role)
	}
	if !t.ExpiresAt.IsZero() {
		detail += " expires=" + t.ExpiresAt.Format(time.RFC3339)
	}
	s.record(ctx, "token.create", "user/"+t.User, t.Project, detail)
	return secret, t, nil
}

// Tokens lists API tokens: the caller's own, or (server admins) anyone's;
// user "" means the caller's, or everyone's for a caller that is no user.
// With inactive, revoked and expired ones too. Sessions are listed as
// tokens of kind session.
func (s *Service) Tokens(ctx context.Context, user string, inactive bool) ([]*trainyard.Token, error) {
	who := trainyard.IdentityFrom(ctx)
	if user == "" && who != nil {
		user = who.User
	}
	if who == nil || who.User != user || who.RunID != "" {
		if err := Authorize(who, "list the tokens of", Administer, Resource{What: strings.TrimSpace("user " + user)}); err != nil {
			return nil, err
		}
	}
	return s.store.Tokens(ctx, trainyard.TokenFilter{User: user, Inactive: inactive, Now: s.clock()})
}

// RevokeToken revokes a token: one's own, or anyone's for a server admin.
func (s *Service) RevokeToken(ctx context.Context, id string) (*trainyard.Token, error) {
	who := trainyard.IdentityFrom(ctx)
	all, err := s.store.Tokens(ctx, trainyard.TokenFilter{Inactive: true})
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(all, func(t *trainyard.Token) bool { return t.ID == id })
	if i < 0 {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "token %s not found", id)
	}
	t := all[i]
	if who == nil || who.User != t.User || who.RunID != "" {
		if err := Authorize(who, "revoke the tokens of", Administer, Resource{What: "user " + t.User}); err != nil {
			return nil, err
		}
	}
	t, err = s.store.RevokeToken(ctx, id, s.clock())
	if err != nil {
		return nil, err
	}
	s.changed()
	s.record(ctx, "token.revoke", "user/"+t.User, t.Project, "token="+t.ID)
	return t, nil
}

// Session is a login to the web UI.
type Session struct {
	Secret    string    // the cookie's value
	CSRF      string    // sent back in X-CSRF-Token with requests that change state
	User      string    //
	ExpiresAt time.Time //
}

// Login checks a user's password and opens a session. Failed logins are
// recorded in the audit log and throttled per user name.
func (s *Service) Login(ctx context.Context, name, password string) (*Session, error) {
	if err := s.throttled(name); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, name)
	if err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, err
	}
	if u == nil || u.PasswordHash == "" || !checkPassword(u.PasswordHash, password) {
		s.failed(name)
		s.audit.append(&trainyard.AuditEntry{Time: s.clock().UTC(), Actor: name, Action: "user.login_failed", Target: "user/" + name})
		return nil, unauthorized("wrong user name or password")
	}
	now := s.clock().UTC().Truncate(time.Microsecond)
	secret := newSecret(PrefixSession)
	t := &trainyard.Token{
		ID: newID(), Hash: hashSecret(secret), Kind: trainyard.TokenSession, User: u.Name, Name: "web UI login",
		Prefix: displayPrefix(secret), CreatedBy: u.Name, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
	}
	if err := s.store.CreateToken(ctx, t); err != nil {
		return nil, err
	}
	s.audit.append(&trainyard.AuditEntry{Time: now, Actor: u.Name, Action: "user.login", Target: "user/" + u.Name, Detail: "session=" + t.ID})
	return &Session{Secret: secret, CSRF: csrfToken(secret), User: u.Name, ExpiresAt: t.ExpiresAt}, nil
}

// Logout ends the session whose secret is given; an unknown one is no
// error.
func (s *Service) Logout(ctx context.Context, secret string) error {
	t, err := s.store.TokenByHash(ctx, hashSecret(secret))
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.Kind != trainyard.TokenSession {
		return trainyard.FieldError("session", "is not a session")
	}
	if _, err := s.store.RevokeToken(ctx, t.ID, s.clock()); err != nil {
		return err
	}
	s.changed()
	s.audit.append(&trainyard.AuditEntry{Time: s.clock().UTC(), Actor: t.User, Action: "user.logout", Target: "user/" + t.User, Detail: "session=" + t.ID})
	return nil
}

// Me describes the caller, for the UI and `trainyard whoami`.
type Me struct {
	Mode    Mode                      `json:"mode"`
	User    string                    `json:"user,omitempty"`
	Admin   bool                      `json:"admin"` // may do anything
	Roles   map[string]trainyard.Role `json:"roles"`
	Via     string                    `json:"via"`
	Project string                    `json:"project,omitempty"`  // the token's limit
	MaxRole trainyard.Role            `json:"max_role,omitempty"` // the token's limit
	RunID   string                    `json:"run_id,omitempty"`   // a job's token
	TokenID string                    `json:"token_id,omitempty"`
}

// WhoAmI describes the caller.
func (s *Service) WhoAmI(ctx context.Context) (*Me, error) {
	who := trainyard.IdentityFrom(ctx)
	if who == nil {
		return nil, unauthorized("the request carries no identity")
	}
	mode, err := s.Mode(ctx)
	if err != nil {
		return nil, err
	}
	roles := who.Roles
	if roles == nil {
		roles = map[string]trainyard.Role{}
	}
	return &Me{Mode: mode, User: who.User, Admin: who.Unlimited(), Roles: roles, Via: who.Via,
		Project: who.Project, MaxRole: who.MaxRole, RunID: who.RunID, TokenID: who.TokenID}, nil
}

// Audit lists audit entries: all of them for a server admin; a project's
// admin sees that project's.
func (s *Service) Audit(ctx context.Context, f trainyard.AuditFilter) ([]*trainyard.AuditEntry, error) {
	who := trainyard.IdentityFrom(ctx)
	if who.Unlimited() {
		return s.store.Audit(ctx, f)
	}
	if f.Project != "" {
		if err := Authorize(who, "read the audit log of", Manage, Resource{What: "project " + f.Project, Project: f.Project}); err != nil {
			return nil, err
		}
		return s.store.Audit(ctx, f)
	}
	var mine []string
	if who != nil && who.RunID == "" {
		for p := range who.Roles {
			if p != trainyard.AllProjects && who.RoleIn(p) == trainyard.RoleAdmin {
				mine = append(mine, p)
			}
		}
	}
	if len(mine) == 0 {
		return nil, Authorize(who, "read", Administer, Resource{What: "the audit log"})
	}
	slices.Sort(mine)
	f.Projects = mine
	return s.store.Audit(ctx, f)
}
