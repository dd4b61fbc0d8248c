package trainyard

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Users, roles, API tokens and the audit log. A server with no users is
// open (on loopback, everything is allowed, as before users existed); once
// one exists, every request must carry a token or a session. Package
// access holds the rules; the store keeps these records.

// Role is what a user may do in a project. Roles are ordered: each allows
// what the one before allows.
type Role string

const (
	RoleNone   Role = ""
	RoleViewer Role = "viewer" // reads runs, jobs, metrics, logs and artifacts
	RoleMember Role = "member" // also creates runs and jobs, and changes and cancels their own
	RoleAdmin  Role = "admin"  // also changes and cancels anyone's, and renames or deletes the project
)

// Rank orders roles: none 0, viewer 1, member 2, admin 3; -1 for an
// unknown role.
func (r Role) Rank() int {
	switch r {
	case RoleNone:
		return 0
	case RoleViewer:
		return 1
	case RoleMember:
		return 2
	case RoleAdmin:
		return 3
	}
	return -1
}

// Valid reports whether r is one of the roles (none included).
func (r Role) Valid() bool { return r.Rank() >= 0 }

// ParseRole reads a role name; "none" and "" are RoleNone.
func ParseRole(field, s string) (Role, error) {
	if s == "none" {
		return RoleNone, nil
	}
	if r := Role(s); r.Valid() {
		return r, nil
	}
	return RoleNone, FieldError(field, "%q is not one of viewer, member, admin (or none)", s)
}

// MinRole returns the lower of two roles.
func MinRole(a, b Role) Role {
	if a.Rank() < b.Rank() {
		return a
	}
	return b
}

// AllProjects is the project of a role binding that applies to every
// project, existing or not.
const AllProjects = "*"

// User is a person (or a robot) that logs in and owns jobs and runs.
type User struct {
	Name string `json:"name"`
	// Admin is the server-wide admin: manages users and tokens, reads the
	// audit log, and is an admin in every project.
	Admin bool `json:"admin"`
	// Roles maps a project (or AllProjects) to the user's role there.
	Roles map[string]Role `json:"roles"`
	// PasswordHash is the PHC string of the password (argon2id); empty
	// when the user has none and logs in with tokens only.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// RoleIn returns the user's role in project: the higher of the binding for
// the project and the one for AllProjects. A server admin is an admin
// everywhere.
func (u *User) RoleIn(project string) Role {
	if u.Admin {
		return RoleAdmin
	}
	r := u.Roles[AllProjects]
	if p := u.Roles[project]; p.Rank() > r.Rank() {
		r = p
	}
	return r
}

var userNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ValidateUserName checks a user name: 1-64 letters, digits, '.', '_',
// '@' or '-', starting with a letter or digit.
func ValidateUserName(field, name string) error {
	if !userNameRe.MatchString(name) {
		return FieldError(field, "%q must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", name)
	}
	return nil
}

// ValidateRoleProject checks the project of a role binding: a project name
// or AllProjects.
func ValidateRoleProject(field, p string) error {
	if p == AllProjects {
		return nil
	}
	return ValidateProject(field, p)
}

// UserUpdate changes a user. Nil fields are left alone.
type UserUpdate struct {
	PasswordHash *string
	Admin        *bool
	// Roles sets the user's role in each project named; RoleNone removes
	// the binding.
	Roles map[string]Role
}

// TokenKind says what a token is for; its secret's prefix says it too.
type TokenKind string

const (
	TokenAPI     TokenKind = "api"     // made by `trainyard token create`: CLI, SDK, MLflow clients
	TokenSession TokenKind = "session" // made by logging in to the web UI; sent as a cookie
)

// Token is a stored credential. The secret itself is never stored: Hash is
// the hex SHA-256 of it, and the secret is shown once, when made.
type Token struct {
	ID   string    `json:"id"`
	Hash string    `json:"-"`
	Kind TokenKind `json:"kind"`
	User string    `json:"user"`
	Name string    `json:"name,omitempty"` // what it is for, as its maker said
	// Prefix is the start of the secret, shown so that people can tell
	// their tokens apart.
	Prefix string `json:"prefix"`
	// Project, when set, limits the token to that project; Role, when
	// set, caps the role it acts with (a viewer token of an admin reads).
	Project   string    `json:"project,omitempty"`
	Role      Role      `json:"role,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt time.Time `json:"revoked_at,omitzero"` // zero: not revoked
}

// Active reports whether the token may be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt))
}

// TokenFilter selects tokens to list.
type TokenFilter struct {
	User string    // only this user's
	Kind TokenKind // only this kind
	// Inactive includes revoked and expired tokens.
	Inactive bool
	Now      time.Time // what "expired" is measured against; default the store's clock
}

// UserStore keeps users, their roles and their tokens.
type UserStore interface {
	// CreateUser stores a new user with its roles. Returns ECONFLICT if the
	// name is taken.
	CreateUser(ctx context.Context, u *User) error
	// User returns a user with its roles; ENOTFOUND if there is none.
	User(ctx context.Context, name string) (*User, error)
	// Users lists every user with its roles, by name.
	Users(ctx context.Context) ([]*User, error)
	// UpdateUser applies u and returns the user as it now is. Returns
	// ENOTFOUND if there is no such user.
	UpdateUser(ctx context.Context, name string, u UserUpdate) (*User, error)
	// DeleteUser removes a user with its roles and tokens. Returns
	// ENOTFOUND if there is no such user. What the user owns keeps its
	// owner's name.
	DeleteUser(ctx context.Context, name string) error
	// CreateToken stores a token. Returns ECONFLICT if its ID or hash is
	// taken, ENOTFOUND if its user does not exist.
	CreateToken(ctx context.Context, t *Token) error
	// TokenByHash returns the token whose secret hashes to hash, revoked
	// or expired ones included; ENOTFOUND if there is none.
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// Tokens lists tokens, newest first.
	Tokens(ctx context.Context, f TokenFilter) ([]*Token, error)
	// RevokeToken marks a token revoked at the given time; revoking it
	// again keeps the first time. Returns ENOTFOUND if there is none.
	RevokeToken(ctx context.Context, id string, at time.Time) (*Token, error)
	// ServerSecret returns the server's 32-byte secret key (for tokens
	// that are derived rather than stored, such as a job's), made at
	// random on first use: every call, from every server on the same
	// database, returns the same key.
	ServerSecret(ctx context.Context) ([]byte, error)
}

// AuditEntry records one change of state: who did what, to what, when.
type AuditEntry struct {
	Seq    int64     `json:"seq"` // assigned by the store, increasing
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`  // the user, "token" (the shared token), "local" (an open server) or "job:ID"
	Action string    `json:"action"` // such as job.submit, run.delete, user.add
	// Target names what was changed: "job/abc123", "user/alice".
	Target  string `json:"target"`
	Project string `json:"project,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	Actor    string
	Project  string
	Projects []string // any of these projects (with Project, both apply)
	Action   string   // an action ("job.cancel") or a family ("job.")
	Since    time.Time
	// BeforeSeq pages back: only entries older than this sequence number.
	BeforeSeq int64
	Limit     int // 0 means DefaultListLimit
}

// AuditStore keeps the audit log: append-only.
type AuditStore interface {
	// AppendAudit stores entries in one transaction, assigning each its
	// Seq; it returns once they are durable.
	AppendAudit(ctx context.Context, entries ...*AuditEntry) error
	// Audit lists entries, newest first.
	Audit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// Identity is who makes a request, as the front door established it, with
// what its credential allows. Package access decides what it may do.
type Identity struct {
	// User is the user's name; "" when the request is not a user's (an
	// open server, the shared token, the job token of a job with no owner).
	User string
	// Admin: the server admin (an admin user with an unlimited token, the
	// shared token, anyone on an open server).
	Admin bool
	// Roles are the user's roles by project (AllProjects for all).
	Roles map[string]Role
	// Project and MaxRole are the limits of the token used: only that
	// project, at most that role. Empty: none.
	Project string
	MaxRole Role
	// RunID is set for a job's token: it writes only this run (the job's),
	// and reads only what the job's owner may read, and the job's project.
	RunID string
	// Via says how the request was authenticated: "open", "token" (the
	// shared token), "api" (a user's API token), "session" (the UI's
	// cookie), "password" (HTTP basic auth), "job" (a job's token).
	Via string
	// TokenID is the stored token used, if any.
	TokenID string
}

// Actor names the identity in the audit log and in messages.
func (id *Identity) Actor() string {
	switch {
	case id == nil:
		return "nobody"
	case id.RunID != "" && id.User != "":
		return id.User + " (job " + id.RunID + ")"
	case id.RunID != "":
		return "job " + id.RunID
	case id.User != "":
		return id.User
	case id.Via == "token":
		return "token"
	}
	return "local"
}

// RoleIn is the identity's role in a project, within its token's limits.
func (id *Identity) RoleIn(project string) Role {
	if id == nil || (id.Project != "" && id.Project != project) {
		return RoleNone
	}
	r := RoleNone
	if id.Admin {
		r = RoleAdmin
	} else {
		r = id.Roles[AllProjects]
		if p := id.Roles[project]; p.Rank() > r.Rank() {
			r = p
		}
	}
	if id.MaxRole != RoleNone {
		r = MinRole(r, id.MaxRole)
	}
	return r
}

// Unlimited reports whether the identity is a server admin whose token
// sets no limit: it may do anything.
func (id *Identity) Unlimited() bool {
	return id != nil && id.Admin && id.Project == "" && id.MaxRole == RoleNone && id.RunID == ""
}

type identityKey struct{}

// WithIdentity returns ctx carrying id: the front door sets it for each
// request, and services read it to check and to record owners.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity ctx carries, nil if none.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// OwnerFrom is the user that things created under ctx belong to: the
// identity's user, "" when there is none.
func OwnerFrom(ctx context.Context) string {
	if id := IdentityFrom(ctx); id != nil {
		return id.User
	}
	return ""
}

// Forbidden returns an EFORBIDDEN error with a message that says what is
// missing.
func Forbidden(format string, args ...any) *Error {
	return &Error{Code: EFORBIDDEN, Message: fmt.Sprintf(format, args...)}
}

// Validate reports every problem with a new user at once.
func (u *User) Validate() error {
	errs := []error{ValidateUserName("name", u.Name)}
	for p, r := range u.Roles {
		errs = append(errs, ValidateRoleProject("roles", p))
		if !r.Valid() || r == RoleNone {
			errs = append(errs, FieldError("roles", "%q in project %q is not one of viewer, member, admin", r, p))
		}
	}
	return errors.Join(errs...)
}
