package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
)

// Users, their roles and tokens, the server's secret and the audit log
// (migration 00004_users.sql), as sqlite/users.go keeps them.

var (
	_ trainyard.UserStore  = (*Store)(nil)
	_ trainyard.AuditStore = (*Store)(nil)
)

// querier is what both the pool and a transaction answer.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CreateUser stores a new user and its roles.
func (s *Store) CreateUser(ctx context.Context, u *trainyard.User) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (name, admin, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
			u.Name, u.Admin, u.PasswordHash, toMicros(u.CreatedAt), toMicros(u.UpdatedAt))
		if isUniqueViolation(err) {
			return trainyard.Errorf(trainyard.ECONFLICT, "user %q already exists", u.Name)
		}
		if err != nil {
			return wrap(err, "insert user %s", u.Name)
		}
		return setRoles(ctx, tx, u.Name, u.Roles)
	})
}

func setRoles(ctx context.Context, tx pgx.Tx, user string, roles map[string]trainyard.Role) error {
	for _, p := range trainyard.SortedKeys(roles) {
		var err error
		if r := roles[p]; r == trainyard.RoleNone {
			_, err = tx.Exec(ctx, `DELETE FROM user_roles WHERE user_name = $1 AND project = $2`, user, p)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO user_roles (user_name, project, role) VALUES ($1, $2, $3)
				ON CONFLICT (user_name, project) DO UPDATE SET role = excluded.role`, user, p, string(r))
		}
		if err != nil {
			return wrap(err, "set role of %s in %s", user, p)
		}
	}
	return nil
}

const userColumns = `name, admin, password_hash, created_at, updated_at`

func scanUser(row pgx.Row) (*trainyard.User, error) {
	var u trainyard.User
	var created, updated int64
	if err := row.Scan(&u.Name, &u.Admin, &u.PasswordHash, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.Roles = map[string]trainyard.Role{}
	return &u, nil
}

// User returns one user with its roles.
func (s *Store) User(ctx context.Context, name string) (*trainyard.User, error) {
	return user(ctx, s.pool, name, "")
}

// user reads a user; lock is "" or " FOR UPDATE".
func user(ctx context.Context, q querier, name, lock string) (*trainyard.User, error) {
	u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`+lock, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", name)
	}
	if err != nil {
		return nil, wrap(err, "read user %s", name)
	}
	if err := loadRoles(ctx, q, map[string]*trainyard.User{u.Name: u}, `WHERE user_name = $1`, name); err != nil {
		return nil, err
	}
	return u, nil
}

func loadRoles(ctx context.Context, q querier, users map[string]*trainyard.User, where string, args ...any) error {
	rows, err := q.Query(ctx, `SELECT user_name, project, role FROM user_roles `+where, args...)
	if err != nil {
		return wrap(err, "read roles")
	}
	defer rows.Close()
	for rows.Next() {
		var user, project, role string
		if err := rows.Scan(&user, &project, &role); err != nil {
			return wrap(err, "read roles")
		}
		if u := users[user]; u != nil {
			u.Roles[project] = trainyard.Role(role)
		}
	}
	return wrap(rows.Err(), "read roles")
}

// Users lists every user, by name.
func (s *Store) Users(ctx context.Context) ([]*trainyard.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "list users")
	}
	var out []*trainyard.User
	byName := map[string]*trainyard.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(err, "list users")
		}
		out = append(out, u)
		byName[u.Name] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list users")
	}
	if len(out) == 0 {
		return out, nil
	}
	return out, loadRoles(ctx, s.pool, byName, ``)
}

// UpdateUser applies u.
func (s *Store) UpdateUser(ctx context.Context, name string, u trainyard.UserUpdate) (*trainyard.User, error) {
	var cur *trainyard.User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if cur, err = user(ctx, tx, name, " FOR UPDATE"); err != nil {
			return err
		}
		if u.PasswordHash != nil {
			cur.PasswordHash = *u.PasswordHash
		}
		if u.Admin != nil {
			cur.Admin = *u.Admin
		}
		cur.UpdatedAt = s.now()
		if _, err := tx.Exec(ctx, `UPDATE users SET admin = $1, password_hash = $2, updated_at = $3 WHERE name = $4`,
			cur.Admin, cur.PasswordHash, toMicros(cur.UpdatedAt), name); err != nil {
			return wrap(err, "update user %s", name)
		}
		if err := setRoles(ctx, tx, name, u.Roles); err != nil {
			return err
		}
		for p, r := range u.Roles {
			if r == trainyard.RoleNone {
				delete(cur.Roles, p)
			} else {
				cur.Roles[p] = r
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cur, nil
}

// DeleteUser removes a user; its roles and tokens go with it.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM users WHERE name = $1`, name)
	if err != nil {
		return wrap(err, "delete user %s", name)
	}
	if tag.RowsAffected() == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", name)
	}
	return nil
}

// CreateToken stores a token.
func (s *Store) CreateToken(ctx context.Context, t *trainyard.Token) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO tokens (id, hash, kind, user_name, name, prefix, project, role, created_by, created_at, expires_at, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		t.ID, t.Hash, string(t.Kind), t.User, t.Name, t.Prefix, t.Project, string(t.Role), t.CreatedBy,
		toMicros(t.CreatedAt), toMicros(t.ExpiresAt), toMicros(t.RevokedAt))
	switch {
	case isUniqueViolation(err):
		return trainyard.Errorf(trainyard.ECONFLICT, "token %s already exists", t.ID)
	case pgCode(err) == "23503": // foreign_key_violation
		return trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", t.User)
	}
	return wrap(err, "insert token %s", t.ID)
}

const tokenColumns = `id, hash, kind, user_name, name, prefix, project, role, created_by, created_at, expires_at, revoked_at`

func scanToken(row pgx.Row) (*trainyard.Token, error) {
	var t trainyard.Token
	var kind, role string
	var created, expires, revoked int64
	if err := row.Scan(&t.ID, &t.Hash, &kind, &t.User, &t.Name, &t.Prefix, &t.Project, &role, &t.CreatedBy, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.Kind, t.Role = trainyard.TokenKind(kind), trainyard.Role(role)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &t, nil
}

// TokenByHash returns the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*trainyard.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "no such token")
	}
	if err != nil {
		return nil, wrap(err, "read token")
	}
	return t, nil
}

// Tokens lists tokens, newest first.
func (s *Store) Tokens(ctx context.Context, f trainyard.TokenFilter) ([]*trainyard.Token, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.User != "" {
		where = append(where, "user_name = "+arg(f.User))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(string(f.Kind)))
	}
	if !f.Inactive {
		now := f.Now
		if now.IsZero() {
			now = s.clock()
		}
		where = append(where, "revoked_at = 0 AND (expires_at = 0 OR expires_at > "+arg(toMicros(now))+")")
	}
	q := `SELECT ` + tokenColumns + ` FROM tokens`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	defer rows.Close()
	var out []*trainyard.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap(err, "list tokens")
		}
		out = append(out, t)
	}
	return out, wrap(rows.Err(), "list tokens")
}

// RevokeToken marks a token revoked; the first revocation's time stays.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) (*trainyard.Token, error) {
	var t *trainyard.Token
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0`, toMicros(at.UTC().Truncate(time.Microsecond)), id); err != nil {
			return wrap(err, "revoke token %s", id)
		}
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "token %s not found", id)
		}
		return wrap(err, "read token %s", id)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ServerSecret returns the server's secret key, made on first use: the
// first server to store one wins, and every server reads that one.
func (s *Store) ServerSecret(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh)
	if _, err := s.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('server_secret', $1) ON CONFLICT (key) DO NOTHING`, fresh); err != nil {
		return nil, wrap(err, "store the server secret")
	}
	var key []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'server_secret'`).Scan(&key); err != nil {
		return nil, wrap(err, "read the server secret")
	}
	return key, nil
}

// AppendAudit stores entries in one transaction.
func (s *Store) AppendAudit(ctx context.Context, entries ...*trainyard.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	seqs := make([]int64, len(entries))
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for i, e := range entries {
			if err := tx.QueryRow(ctx, `INSERT INTO audit (time, actor, action, target, project, detail) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
				toMicros(e.Time.UTC().Truncate(time.Microsecond)), e.Actor, e.Action, e.Target, e.Project, e.Detail).Scan(&seqs[i]); err != nil {
				return wrap(err, "append audit entry")
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, e := range entries {
		e.Seq = seqs[i]
	}
	return nil
}

// Audit lists audit entries, newest first.
func (s *Store) Audit(ctx context.Context, f trainyard.AuditFilter) ([]*trainyard.AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Project != "" {
		where = append(where, "project = "+arg(f.Project))
	}
	if len(f.Projects) > 0 {
		where = append(where, "project = ANY("+arg(f.Projects)+")")
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			where = append(where, "starts_with(action, "+arg(f.Action)+")")
		} else {
			where = append(where, "action = "+arg(f.Action))
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= "+arg(toMicros(f.Since)))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < "+arg(f.BeforeSeq))
	}
	q := `SELECT seq, time, actor, action, target, project, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT " + arg(limitOrDefault(f.Limit))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list audit entries")
	}
	defer rows.Close()
	var out []*trainyard.AuditEntry
	for rows.Next() {
		var e trainyard.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Project, &e.Detail); err != nil {
			return nil, wrap(err, "list audit entries")
		}
		e.Time = fromMicros(at)
		out = append(out, &e)
	}
	return out, wrap(rows.Err(), "list audit entries")
}
