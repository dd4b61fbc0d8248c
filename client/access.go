package client

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
)

// Users, tokens, the audit log and who the client is.

// NewUser is a request to add a user; Roles map a project (or "*") to
// viewer, member or admin.
type NewUser struct {
	Name     string            `json:"name"`
	Password string            `json:"password,omitempty"` // "" lets the server make one
	Admin    bool              `json:"admin,omitempty"`
	Roles    map[string]string `json:"roles,omitempty"`
	Token    bool              `json:"token,omitempty"` // also make an API token
}

// AddedUser is what adding a user made; Password and Secret are shown once.
type AddedUser struct {
	User     *trainyard.User  `json:"user"`
	Password string           `json:"password,omitempty"`
	Token    *trainyard.Token `json:"token,omitempty"`
	Secret   string           `json:"secret,omitempty"`
}

// AddUser adds a user.
func (c *Client) AddUser(ctx context.Context, n NewUser) (*AddedUser, error) {
	var out AddedUser
	return &out, c.Do(ctx, "POST", "/api/v1/users", n, &out)
}

// Users lists users.
func (c *Client) Users(ctx context.Context) ([]*trainyard.User, error) {
	var out struct{ Users []*trainyard.User }
	return out.Users, c.Do(ctx, "GET", "/api/v1/users", nil, &out)
}

// DeleteUser removes a user and its tokens.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.Do(ctx, "DELETE", "/api/v1/users/"+url.PathEscape(name), nil, nil)
}

// SetRoles sets a user's roles by project ("none" removes one) and,
// when admin is not nil, whether the user is a server admin.
func (c *Client) SetRoles(ctx context.Context, name string, roles map[string]string, admin *bool) (*trainyard.User, error) {
	body := map[string]any{"roles": roles}
	if admin != nil {
		body["admin"] = *admin
	}
	var u trainyard.User
	return &u, c.Do(ctx, "PATCH", "/api/v1/users/"+url.PathEscape(name), body, &u)
}

// SetPassword sets a user's password.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.Do(ctx, "PUT", "/api/v1/users/"+url.PathEscape(name)+"/password", map[string]string{"password": password}, nil)
}

// TokenRequest asks for an API token. ExpiresIn 0 means never.
type TokenRequest struct {
	User      string
	Name      string
	Project   string
	Role      string
	ExpiresIn time.Duration
}

// CreateToken makes an API token and returns it with its secret.
func (c *Client) CreateToken(ctx context.Context, r TokenRequest) (*trainyard.Token, string, error) {
	body := map[string]any{}
	for k, v := range map[string]string{"user": r.User, "name": r.Name, "project": r.Project, "role": r.Role} {
		if v != "" {
			body[k] = v
		}
	}
	if r.ExpiresIn > 0 {
		body["expires_in"] = strconv.FormatFloat(r.ExpiresIn.Seconds(), 'f', -1, 64)
	}
	var out struct {
		Token  *trainyard.Token
		Secret string
	}
	err := c.Do(ctx, "POST", "/api/v1/tokens", body, &out)
	return out.Token, out.Secret, err
}

// Tokens lists tokens: user's ("" for the caller's own, or everyone's for
// an admin with no user of its own), with inactive ones when asked.
func (c *Client) Tokens(ctx context.Context, user string, inactive bool) ([]*trainyard.Token, error) {
	q := url.Values{}
	if user != "" {
		q.Set("user", user)
	}
	if inactive {
		q.Set("inactive", "true")
	}
	var out struct{ Tokens []*trainyard.Token }
	return out.Tokens, c.Do(ctx, "GET", "/api/v1/tokens?"+q.Encode(), nil, &out)
}

// RevokeToken revokes a token by ID.
func (c *Client) RevokeToken(ctx context.Context, id string) (*trainyard.Token, error) {
	var t trainyard.Token
	return &t, c.Do(ctx, "DELETE", "/api/v1/tokens/"+url.PathEscape(id), nil, &t)
}

// Audit lists audit entries, newest first.
func (c *Client) Audit(ctx context.Context, f trainyard.AuditFilter) ([]*trainyard.AuditEntry, error) {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "project": f.Project, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.BeforeSeq > 0 {
		q.Set("before", strconv.FormatInt(f.BeforeSeq, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct{ Entries []*trainyard.AuditEntry }
	return out.Entries, c.Do(ctx, "GET", "/api/v1/audit?"+q.Encode(), nil, &out)
}

// Me is who the server takes the client for.
type Me struct {
	Mode    string            `json:"mode"`
	User    string            `json:"user,omitempty"`
	Admin   bool              `json:"admin"`
	Roles   map[string]string `json:"roles"`
	Via     string            `json:"via"`
	Project string            `json:"project,omitempty"`
	MaxRole string            `json:"max_role,omitempty"`
	RunID   string            `json:"run_id,omitempty"`
	TokenID string            `json:"token_id,omitempty"`
}

// WhoAmI asks the server who the client is.
func (c *Client) WhoAmI(ctx context.Context) (*Me, error) {
	var me Me
	return &me, c.Do(ctx, "GET", "/api/v1/auth/me", nil, &me)
}
