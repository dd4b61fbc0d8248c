package access

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
)

var ctx = context.Background()

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rig struct {
	t     *testing.T
	store *sqlite.Store
	clk   *clock
	s     *Service
}

func newRig(t *testing.T, shared string) *rig {
	t.Helper()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	s := New(Config{Store: store, SharedToken: shared, Clock: clk.now})
	t.Cleanup(s.Close)
	return &rig{t: t, store: store, clk: clk, s: s}
}

// as returns ctx carrying id.
func as(id *trainyard.Identity) context.Context { return trainyard.WithIdentity(ctx, id) }

func (r *rig) addUser(n NewUser) *AddedUser {
	r.t.Helper()
	mode, _ := r.s.Mode(ctx)
	caller := sharedIdentity
	if mode == ModeOpen {
		caller = openIdentity
	}
	a, err := r.s.AddUser(as(caller), n)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

func (r *rig) token(user string, req TokenRequest) string {
	r.t.Helper()
	req.User = user
	secret, _, err := r.s.CreateToken(as(sharedIdentity), req)
	if err != nil {
		r.t.Fatal(err)
	}
	return secret
}

func wantCode(t *testing.T, err error, code string, words ...string) {
	t.Helper()
	if got := trainyard.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	for _, w := range words {
		if !strings.Contains(trainyard.ErrorMessage(err), w) {
			t.Errorf("message %q lacks %q", trainyard.ErrorMessage(err), w)
		}
	}
}

func TestModes(t *testing.T) {
	r := newRig(t, "")
	id, err := r.s.Authenticate(ctx, Credentials{})
	if err != nil || !id.Unlimited() || id.Via != "open" {
		t.Fatalf("open server: %+v, %v; want everyone let in as an admin", id, err)
	}
	// An open server does not look at credentials at all.
	if id, err := r.s.Authenticate(ctx, Credentials{Bearer: "tya_bogus"}); err != nil || !id.Unlimited() {
		t.Fatalf("open server with a bogus token: %+v, %v", id, err)
	}
	// The first user turns access control on, at once.
	added := r.addUser(NewUser{Name: "root", Admin: true})
	if added.Secret == "" || added.Password == "" {
		t.Fatalf("the first user got no token or password: %+v", added)
	}
	if m, _ := r.s.Mode(ctx); m != ModeUsers {
		t.Fatalf("mode after the first user: %s", m)
	}
	_, err = r.s.Authenticate(ctx, Credentials{})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "this server has users", "TRAINYARD_TOKEN", "MLFLOW_TRACKING_TOKEN")
	id, err = r.s.Authenticate(ctx, Credentials{Bearer: added.Secret})
	if err != nil || id.User != "root" || !id.Unlimited() || id.Via != "api" {
		t.Fatalf("root's token: %+v, %v", id, err)
	}

	// A shared token: token mode without users, an admin with them.
	r2 := newRig(t, "s3cret")
	if m, _ := r2.s.Mode(ctx); m != ModeToken {
		t.Fatalf("mode with --token: %s", m)
	}
	_, err = r2.s.Authenticate(ctx, Credentials{})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "--token")
	_, err = r2.s.Authenticate(ctx, Credentials{Bearer: "wrong"})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "not a token of this server")
	for _, c := range []Credentials{{Bearer: "s3cret"}, {Basic: true, User: "anything", Password: "s3cret"}} {
		if id, err := r2.s.Authenticate(ctx, c); err != nil || !id.Unlimited() || id.Via != "token" {
			t.Fatalf("shared token %+v: %+v, %v", c, id, err)
		}
	}
	// With --token the first user need not be an admin, and gets no token
	// unasked.
	a, err := r2.s.AddUser(as(sharedIdentity), NewUser{Name: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}})
	if err != nil || a.Secret != "" {
		t.Fatalf("first user with --token: %+v, %v", a, err)
	}
	if id, err := r2.s.Authenticate(ctx, Credentials{Bearer: "s3cret"}); err != nil || !id.Unlimited() {
		t.Fatalf("shared token with users: %+v, %v", id, err)
	}
}

func TestTokens(t *testing.T) {
	r := newRig(t, "s3cret")
	r.addUser(NewUser{Name: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}})
	day := r.token("alice", TokenRequest{Name: "short", ExpiresIn: trainyard.Duration(24 * time.Hour)})
	limited := r.token("alice", TokenRequest{Project: "p", Role: trainyard.RoleViewer})
	if !strings.HasPrefix(day, PrefixAPI) || len(day) != len(PrefixAPI)+43 {
		t.Fatalf("token %q: want tya_ and 32 random bytes", day)
	}
	id, err := r.s.Authenticate(ctx, Credentials{Bearer: day})
	if err != nil || id.User != "alice" || id.RoleIn("p") != trainyard.RoleMember || id.Admin {
		t.Fatalf("alice's token: %+v, %v", id, err)
	}
	id, err = r.s.Authenticate(ctx, Credentials{Bearer: limited})
	if err != nil || id.Project != "p" || id.MaxRole != trainyard.RoleViewer || id.RoleIn("p") != trainyard.RoleViewer {
		t.Fatalf("limited token: %+v, %v", id, err)
	}
	// Basic auth with a token as the password (any user name).
	if id, err := r.s.Authenticate(ctx, Credentials{Basic: true, User: "x", Password: day}); err != nil || id.User != "alice" {
		t.Fatalf("token as a basic-auth password: %+v, %v", id, err)
	}
	// The store keeps only the hash.
	ts, _ := r.store.Tokens(ctx, trainyard.TokenFilter{User: "alice"})
	for _, tk := range ts {
		if strings.Contains(tk.Hash, day[4:]) || tk.Hash == day || len(tk.Hash) != 64 {
			t.Fatalf("stored token %+v: want only the SHA-256 of the secret", tk)
		}
	}

	// Expiry.
	r.clk.add(25 * time.Hour)
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: day})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "expired on 2026-12-02T12:00:00Z", "trainyard token create")

	// Revocation here takes effect at once, even over a cached check.
	if _, err := r.s.Authenticate(ctx, Credentials{Bearer: limited}); err != nil {
		t.Fatal(err)
	}
	tid := ts[0].ID
	if ts[0].Name == "short" {
		tid = ts[1].ID
	}
	if _, err := r.s.RevokeToken(as(&trainyard.Identity{User: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, Via: "api"}), tid); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: limited})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "was revoked on")

	// Revoked on another server (straight in the store): trusted for at
	// most the cache's TTL.
	other := r.token("alice", TokenRequest{})
	if _, err := r.s.Authenticate(ctx, Credentials{Bearer: other}); err != nil {
		t.Fatal(err)
	}
	tk, _ := r.store.TokenByHash(ctx, hashSecret(other))
	if _, err := r.store.RevokeToken(ctx, tk.ID, r.clk.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Authenticate(ctx, Credentials{Bearer: other}); err != nil {
		t.Fatalf("within the cache's TTL: %v", err)
	}
	r.clk.add(3 * time.Second)
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: other})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "revoked")

	// A deleted user's tokens go with it.
	keep := r.token("alice", TokenRequest{})
	if err := r.s.DeleteUser(as(sharedIdentity), "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: keep})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "not a token of this server")
}

func TestPasswordsAndSessions(t *testing.T) {
	r := newRig(t, "")
	root := r.addUser(NewUser{Name: "root", Admin: true, Password: "root password"})
	_ = root
	r.addUser(NewUser{Name: "alice", Password: "correct horse", Roles: map[string]trainyard.Role{"p": trainyard.RoleViewer}})

	// Basic auth with a password, as MLflow clients send it.
	id, err := r.s.Authenticate(ctx, Credentials{Basic: true, User: "alice", Password: "correct horse"})
	if err != nil || id.User != "alice" || id.Via != "password" {
		t.Fatalf("basic auth: %+v, %v", id, err)
	}
	_, err = r.s.Authenticate(ctx, Credentials{Basic: true, User: "alice", Password: "wrong horse"})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "wrong user name or password")
	_, err = r.s.Authenticate(ctx, Credentials{Basic: true, User: "nobody", Password: "correct horse"})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "wrong user name or password")
	// A changed password is checked afresh, even when the old one was
	// remembered.
	if err := r.s.SetPassword(as(id), "alice", "battery staple"); err != nil {
		t.Fatal(err)
	}
	r.clk.add(3 * time.Second)
	_, err = r.s.Authenticate(ctx, Credentials{Basic: true, User: "alice", Password: "correct horse"})
	wantCode(t, err, trainyard.EUNAUTHORIZED)
	if _, err := r.s.Authenticate(ctx, Credentials{Basic: true, User: "alice", Password: "battery staple"}); err != nil {
		t.Fatal(err)
	}

	// Sessions: a cookie, never a bearer token; logging out ends it.
	sess, err := r.s.Login(ctx, "alice", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sess.Secret, PrefixSession) || sess.CSRF == "" || !sess.ExpiresAt.Equal(r.clk.now().Add(7*24*time.Hour)) {
		t.Fatalf("session %+v", sess)
	}
	if id, err := r.s.Authenticate(ctx, Credentials{Session: sess.Secret}); err != nil || id.User != "alice" || id.Via != "session" {
		t.Fatalf("session cookie: %+v, %v", id, err)
	}
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: sess.Secret})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "cookie")
	if !CheckCSRF(sess.Secret, sess.CSRF) || CheckCSRF(sess.Secret, "") || CheckCSRF(sess.Secret, CSRF("tys_other")) {
		t.Fatal("the CSRF check accepts what it should not, or refuses the right token")
	}
	if err := r.s.Logout(ctx, sess.Secret); err != nil {
		t.Fatal(err)
	}
	_, err = r.s.Authenticate(ctx, Credentials{Session: sess.Secret})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "logged out")
	// An API token in the cookie is not a session.
	tok := r.token("alice", TokenRequest{})
	_, err = r.s.Authenticate(ctx, Credentials{Session: tok})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "not a session")
	// A session expires.
	sess, _ = r.s.Login(ctx, "alice", "battery staple")
	r.clk.add(7*24*time.Hour + time.Second)
	_, err = r.s.Authenticate(ctx, Credentials{Session: sess.Secret})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "session expired")

	// Wrong passwords are throttled per user name; a minute later they are
	// tried again. Each wrong password is in the audit log (a refused
	// attempt is not: it checked nothing).
	for i := 0; i < maxFailures; i++ {
		if _, err := r.s.Login(ctx, "alice", "guess"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	_, err = r.s.Login(ctx, "alice", "battery staple")
	wantCode(t, err, trainyard.EUNAUTHORIZED, "too many wrong passwords")
	r.clk.add(61 * time.Second)
	if _, err := r.s.Login(ctx, "alice", "battery staple"); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
	es, _ := r.store.Audit(ctx, trainyard.AuditFilter{Action: "user.login_failed"})
	if len(es) != maxFailures || es[0].Actor != "alice" {
		t.Fatalf("failed logins audited: %d entries; want %d", len(es), maxFailures)
	}
}

func TestJobTokens(t *testing.T) {
	r := newRig(t, "")
	r.addUser(NewUser{Name: "root", Admin: true})
	r.addUser(NewUser{Name: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember, "q": trainyard.RoleViewer}})
	j := &trainyard.Job{JobSpec: trainyard.JobSpec{Project: "p", Command: []string{"true"}}, ID: "j1", Owner: "alice", State: trainyard.StateRunning, SubmittedAt: r.clk.now()}
	if err := r.store.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	env, err := r.s.JobEnv(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimPrefix(env[0], "TRAINYARD_TOKEN=")
	if !strings.HasPrefix(secret, PrefixJob+"j1.") || env[1] != "MLFLOW_TRACKING_TOKEN="+secret {
		t.Fatalf("job env %v", env)
	}
	id, err := r.s.Authenticate(ctx, Credentials{Bearer: secret})
	if err != nil || id.User != "alice" || id.RunID != "j1" || id.Admin || id.RoleIn("q") != trainyard.RoleViewer {
		t.Fatalf("job token: %+v, %v", id, err)
	}
	// A forged MAC, another job's ID with this MAC: refused.
	for _, bad := range []string{secret[:len(secret)-2] + "xx", strings.Replace(secret, "j1.", "j2.", 1), PrefixJob + "j1"} {
		_, err := r.s.Authenticate(ctx, Credentials{Bearer: bad})
		wantCode(t, err, trainyard.EUNAUTHORIZED, "not a job token of this server")
	}
	// The job ends: its token stops working (after the cache's TTL).
	j.State, j.EndedAt = trainyard.StateSucceeded, r.clk.now()
	if err := r.store.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	r.clk.add(3 * time.Second)
	_, err = r.s.Authenticate(ctx, Credentials{Bearer: secret})
	wantCode(t, err, trainyard.EUNAUTHORIZED, "job j1", "ended (SUCCEEDED)", "trainyard sync")

	// A job with no owner still reads its project and writes its run.
	free := &trainyard.Job{JobSpec: trainyard.JobSpec{Project: "p", Command: []string{"true"}}, ID: "j3", State: trainyard.StateQueued, SubmittedAt: r.clk.now()}
	if err := r.store.CreateJob(ctx, free); err != nil {
		t.Fatal(err)
	}
	env, _ = r.s.JobEnv(ctx, free)
	id, err = r.s.Authenticate(ctx, Credentials{Bearer: strings.TrimPrefix(env[0], "TRAINYARD_TOKEN=")})
	if err != nil || id.User != "" || id.RunID != "j3" || id.RoleIn("p") != trainyard.RoleViewer {
		t.Fatalf("token of an ownerless job: %+v, %v", id, err)
	}

	// With only a shared token, jobs get the shared token, as before users.
	r2 := newRig(t, "s3cret")
	if env, _ := r2.s.JobEnv(ctx, j); env[0] != "TRAINYARD_TOKEN=s3cret" {
		t.Fatalf("job env with --token and no users: %v", env)
	}
}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want argon2id at OWASP's parameters", h)
	}
	if h2 := hashPassword("correct horse"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not fresh")
	}
	if !checkPassword(h, "correct horse") || checkPassword(h, "correct horsE") || checkPassword(h, "") {
		t.Fatal("checkPassword gets it wrong")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA", "plain"} {
		if checkPassword(bad, "x") {
			t.Errorf("checkPassword accepted the hash %q", bad)
		}
	}
	// Hashes made by the reference implementation (libargon2, through
	// argon2-cffi 25.1.0: PasswordHasher(time_cost=3, memory_cost=8192,
	// parallelism=1).hash("password", salt=b"somesaltsomesalt")) check,
	// whatever their parameters.
	if !checkPassword("$argon2id$v=19$m=8192,t=3,p=1$c29tZXNhbHRzb21lc2FsdA$ApULVYDZxJCfeJZ/s6a/6fCDntZLkysRiroh7IlwWyk", "password") {
		t.Error("a hash of other parameters does not check")
	}
}
