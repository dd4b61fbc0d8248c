package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// migrationUsers adds users, their roles and tokens, the audit log, the
// server's secret, and owners of jobs and runs. Roles and tokens go with
// their user (ON DELETE CASCADE).
const migrationUsers = `ALTER TABLE jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
	CREATE TABLE users (
		name TEXT PRIMARY KEY,
		admin INTEGER NOT NULL DEFAULT 0,
		password_hash TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE user_roles (
		user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
		project TEXT NOT NULL,
		role TEXT NOT NULL,
		PRIMARY KEY (user_name, project)
	) WITHOUT ROWID;
	CREATE TABLE tokens (
		id TEXT PRIMARY KEY,
		hash TEXT NOT NULL UNIQUE,
		kind TEXT NOT NULL,
		user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
		name TEXT NOT NULL DEFAULT '',
		prefix TEXT NOT NULL DEFAULT '',
		project TEXT NOT NULL DEFAULT '',
		role TEXT NOT NULL DEFAULT '',
		created_by TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL DEFAULT 0,
		revoked_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX tokens_user ON tokens(user_name, created_at DESC);
	CREATE TABLE audit (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		time INTEGER NOT NULL,
		actor TEXT NOT NULL,
		action TEXT NOT NULL,
		target TEXT NOT NULL,
		project TEXT NOT NULL DEFAULT '',
		detail TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX audit_actor ON audit(actor, seq);
	CREATE INDEX audit_project ON audit(project, seq);
	CREATE TABLE settings (
		key TEXT PRIMARY KEY,
		value BLOB NOT NULL
	) WITHOUT ROWID;`

var (
	_ trainyard.UserStore  = (*Store)(nil)
	_ trainyard.AuditStore = (*Store)(nil)
)

// CreateUser stores a new user and its roles.
func (s *Store) CreateUser(ctx context.Context, u *trainyard.User) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO users (name, admin, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		u.Name, u.Admin, u.PasswordHash, toMicros(u.CreatedAt), toMicros(u.UpdatedAt))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "user %q already exists", u.Name)
	}
	if err != nil {
		return fmt.Errorf("insert user %s: %w", u.Name, err)
	}
	if err := setRoles(ctx, tx, u.Name, u.Roles); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit user %s: %w", u.Name, err)
	}
	return nil
}

func setRoles(ctx context.Context, tx *sql.Tx, user string, roles map[string]trainyard.Role) error {
	for _, p := range trainyard.SortedKeys(roles) {
		var err error
		if r := roles[p]; r == trainyard.RoleNone {
			_, err = tx.ExecContext(ctx, `DELETE FROM user_roles WHERE user_name = ? AND project = ?`, user, p)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO user_roles (user_name, project, role) VALUES (?, ?, ?)
				ON CONFLICT (user_name, project) DO UPDATE SET role = excluded.role`, user, p, string(r))
		}
		if err != nil {
			return fmt.Errorf("set role of %s in %s: %w", user, p, err)
		}
	}
	return nil
}

const userColumns = `name, admin, password_hash, created_at, updated_at`

func scanUser(sc scanner) (*trainyard.User, error) {
	var u trainyard.User
	var created, updated int64
	if err := sc.Scan(&u.Name, &u.Admin, &u.PasswordHash, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	u.Roles = map[string]trainyard.Role{}
	return &u, nil
}

// User returns one user with its roles.
func (s *Store) User(ctx context.Context, name string) (*trainyard.User, error) {
	return s.user(ctx, s.r, name)
}

func (s *Store) user(ctx context.Context, q querier, name string) (*trainyard.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read user %s: %w", name, err)
	}
	if err := loadRoles(ctx, q, map[string]*trainyard.User{u.Name: u}, `WHERE user_name = ?`, name); err != nil {
		return nil, err
	}
	return u, nil
}

func loadRoles(ctx context.Context, q querier, users map[string]*trainyard.User, where string, args ...any) error {
	rows, err := q.QueryContext(ctx, `SELECT user_name, project, role FROM user_roles `+where, args...)
	if err != nil {
		return fmt.Errorf("read roles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var user, project, role string
		if err := rows.Scan(&user, &project, &role); err != nil {
			return err
		}
		if u := users[user]; u != nil {
			u.Roles[project] = trainyard.Role(role)
		}
	}
	return rows.Err()
}

// Users lists every user, by name.
func (s *Store) Users(ctx context.Context) ([]*trainyard.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	var out []*trainyard.User
	byName := map[string]*trainyard.User{}
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, u)
		byName[u.Name] = u
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	return out, loadRoles(ctx, s.r, byName, ``)
}

// UpdateUser applies u.
func (s *Store) UpdateUser(ctx context.Context, name string, u trainyard.UserUpdate) (*trainyard.User, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	cur, err := s.user(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if u.PasswordHash != nil {
		cur.PasswordHash = *u.PasswordHash
	}
	if u.Admin != nil {
		cur.Admin = *u.Admin
	}
	cur.UpdatedAt = s.clock().UTC().Truncate(time.Microsecond)
	if _, err := tx.ExecContext(ctx, `UPDATE users SET admin = ?, password_hash = ?, updated_at = ? WHERE name = ?`,
		cur.Admin, cur.PasswordHash, toMicros(cur.UpdatedAt), name); err != nil {
		return nil, fmt.Errorf("update user %s: %w", name, err)
	}
	if err := setRoles(ctx, tx, name, u.Roles); err != nil {
		return nil, err
	}
	for p, r := range u.Roles {
		if r == trainyard.RoleNone {
			delete(cur.Roles, p)
		} else {
			cur.Roles[p] = r
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit user %s: %w", name, err)
	}
	return cur, nil
}

// DeleteUser removes a user; its roles and tokens go with it.
func (s *Store) DeleteUser(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", name)
	}
	return nil
}

// CreateToken stores a token.
func (s *Store) CreateToken(ctx context.Context, t *trainyard.Token) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tokens (id, hash, kind, user_name, name, prefix, project, role, created_by, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Hash, string(t.Kind), t.User, t.Name, t.Prefix, t.Project, string(t.Role), t.CreatedBy,
		toMicros(t.CreatedAt), toMicros(t.ExpiresAt), toMicros(t.RevokedAt))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "token %s already exists", t.ID)
	}
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed") {
		return trainyard.Errorf(trainyard.ENOTFOUND, "user %q not found", t.User)
	}
	if err != nil {
		return fmt.Errorf("insert token %s: %w", t.ID, err)
	}
	return nil
}

const tokenColumns = `id, hash, kind, user_name, name, prefix, project, role, created_by, created_at, expires_at, revoked_at`

func scanToken(sc scanner) (*trainyard.Token, error) {
	var t trainyard.Token
	var kind, role string
	var created, expires, revoked int64
	if err := sc.Scan(&t.ID, &t.Hash, &kind, &t.User, &t.Name, &t.Prefix, &t.Project, &role, &t.CreatedBy, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.Kind, t.Role = trainyard.TokenKind(kind), trainyard.Role(role)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &t, nil
}

// TokenByHash returns the token whose secret hashes to hash.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*trainyard.Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "no such token")
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// Tokens lists tokens, newest first.
func (s *Store) Tokens(ctx context.Context, f trainyard.TokenFilter) ([]*trainyard.Token, error) {
	var where []string
	var args []any
	if f.User != "" {
		where = append(where, "user_name = ?")
		args = append(args, f.User)
	}
	if f.Kind != "" {
		where = append(where, "kind = ?")
		args = append(args, string(f.Kind))
	}
	if !f.Inactive {
		now := f.Now
		if now.IsZero() {
			now = s.clock()
		}
		where = append(where, "revoked_at = 0 AND (expires_at = 0 OR expires_at > ?)")
		args = append(args, toMicros(now))
	}
	q := `SELECT ` + tokenColumns + ` FROM tokens`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken marks a token revoked; the first revocation's time stays.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) (*trainyard.Token, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, toMicros(at.UTC().Truncate(time.Microsecond)), id); err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", id, err)
	}
	t, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "token %s not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read token %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit token %s: %w", id, err)
	}
	return t, nil
}

// ServerSecret returns the server's secret key, made on first use.
func (s *Store) ServerSecret(ctx context.Context) ([]byte, error) {
	var key []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'server_secret'`).Scan(&key)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read the server secret: %w", err)
	}
	fresh := make([]byte, 32)
	rand.Read(fresh)
	// The first writer wins; everyone reads what it wrote.
	if _, err := s.w.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('server_secret', ?) ON CONFLICT (key) DO NOTHING`, fresh); err != nil {
		return nil, fmt.Errorf("store the server secret: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = 'server_secret'`).Scan(&key); err != nil {
		return nil, fmt.Errorf("read the server secret: %w", err)
	}
	return key, nil
}

// AppendAudit stores entries in one transaction.
func (s *Store) AppendAudit(ctx context.Context, entries ...*trainyard.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	seqs := make([]int64, len(entries))
	for i, e := range entries {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit (time, actor, action, target, project, detail) VALUES (?, ?, ?, ?, ?, ?)`,
			toMicros(e.Time.UTC().Truncate(time.Microsecond)), e.Actor, e.Action, e.Target, e.Project, e.Detail)
		if err != nil {
			return fmt.Errorf("append audit entry: %w", err)
		}
		if seqs[i], err = res.LastInsertId(); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit audit entries: %w", err)
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
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.Project != "" {
		where = append(where, "project = ?")
		args = append(args, f.Project)
	}
	if len(f.Projects) > 0 {
		where = append(where, "project IN (?"+strings.Repeat(",?", len(f.Projects)-1)+")")
		for _, p := range f.Projects {
			args = append(args, p)
		}
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			// A family: every action that starts with it. Actions hold
			// only letters, '.' and '_', so the range below is exact.
			where = append(where, "action >= ? AND action < ?")
			args = append(args, f.Action, f.Action+"\x7f")
		} else {
			where = append(where, "action = ?")
			args = append(args, f.Action)
		}
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, toMicros(f.Since))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	q := `SELECT seq, time, actor, action, target, project, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limitOrDefault(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.AuditEntry
	for rows.Next() {
		var e trainyard.AuditEntry
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Project, &e.Detail); err != nil {
			return nil, err
		}
		e.Time = fromMicros(at)
		out = append(out, &e)
	}
	return out, rows.Err()
}
