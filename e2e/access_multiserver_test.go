package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/pgtest"
)

// Users, tokens and sessions are in the database: with two servers on one
// PostgreSQL, a token or a login made through one works on the other, and
// a token revoked (or a session logged out) on one stops working on the
// other within the credential cache's 2 s. This runs on PostgreSQL
// whatever TRAINYARD_TEST_DB says: several servers need it.
func TestUsersAcrossServers(t *testing.T) {
	db := pgtest.NewDatabase(t)
	a, b := startServer(t, "--db="+db), startServer(t, "--db="+db)
	dir := t.TempDir()
	out, stderr, code := a.cli(dir, "user", "add", "root", "--admin")
	if code != 0 {
		t.Fatalf("user add root: exit %d %s", code, stderr)
	}
	root := tokenRe.FindString(out)
	// call sends a JSON request with root's token.
	call := func(method, path, body string, v any) {
		t.Helper()
		req, _ := http.NewRequest(method, a.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+root)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 || json.Unmarshal(b, v) != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	var added struct{ Secret string }
	call("POST", "/api/v1/users", `{"name":"alice","password":"alice: correct horse battery","roles":{"vision":"member"},"token":true}`, &added)
	alice := added.Secret

	// me asks a server who the credentials are: the status and the user.
	me := func(s *server, header, value string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/auth/me", nil)
		req.Header.Set(header, value)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var m struct{ User string }
		json.Unmarshal(body, &m)
		if resp.StatusCode != 200 {
			return resp.StatusCode, string(body)
		}
		return resp.StatusCode, m.User
	}
	bearer := func(tok string) string { return "Bearer " + tok }
	eventuallyRefused := func(what, header, value string) {
		t.Helper()
		start := time.Now()
		eventually(t, 5*time.Second, what+" refused on the other server", func() bool {
			code, _ := me(b, header, value)
			return code == 401
		})
		t.Logf("%s refused on the other server after %v", what, time.Since(start).Round(10*time.Millisecond))
	}

	// The first user turns access control on on every server: the others
	// ask the database whether users exist at most once a second.
	start := time.Now()
	eventually(t, 3*time.Second, "the other server to need credentials", func() bool {
		code, _ := me(b, "X-None", "")
		return code == 401
	})
	t.Logf("the other server needed credentials after %v", time.Since(start).Round(10*time.Millisecond))
	for _, tc := range []struct{ tok, user string }{{root, "root"}, {alice, "alice"}} {
		if code, who := me(b, "Authorization", bearer(tc.tok)); code != 200 || who != tc.user {
			t.Fatalf("%s's token on the other server: %d %s", tc.user, code, who)
		}
	}

	// A login on one server is a session on both.
	resp, err := http.Post(a.URL+"/api/v1/auth/login", "application/json", strings.NewReader(`{"user":"alice","password":"alice: correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "trainyard_session" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if code, who := me(b, "Cookie", cookie); code != 200 || who != "alice" {
		t.Fatalf("alice's session on the other server: %d %s", code, who)
	}

	// Revoked on one, refused on the other.
	var toks struct {
		Tokens []struct{ ID, Kind string }
	}
	call("GET", "/api/v1/tokens?user=alice", "", &toks) // her API token and her session
	for _, tk := range toks.Tokens {
		if tk.Kind != "api" {
			continue
		}
		if _, stderr, code := a.as(root).cli(dir, "token", "revoke", tk.ID); code != 0 {
			t.Fatalf("token revoke %s: %s", tk.ID, stderr)
		}
	}
	eventuallyRefused("a revoked token", "Authorization", bearer(alice))

	// Logged out on one, refused on the other.
	req, _ := http.NewRequest("POST", a.URL+"/api/v1/auth/logout", nil)
	req.Header.Set("Cookie", cookie)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("logout: %v %v", err, resp)
	}
	eventuallyRefused("a logged-out session", "Cookie", cookie)
	if code, who := me(b, "Authorization", bearer(root)); code != 200 || who != "root" {
		t.Errorf("root's token after alice's were revoked: %d %s", code, who)
	}
}
