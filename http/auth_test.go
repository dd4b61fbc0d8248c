package http_test

import (
	"encoding/json"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
)

// call sends a request to the rig's server with the given headers and
// returns the status, the body and the answer's headers.
func (a *apiRig) call(method, path, body string, headers map[string]string) (int, string, nethttp.Header) {
	a.t.Helper()
	req, _ := nethttp.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// The front door of a server with users: every route but the UI's shell
// and the login routes needs a credential; refusals say what is missing;
// the UI's session is a cookie that is HttpOnly and SameSite, and requests
// that change state with it carry its CSRF token.
func TestFrontDoorWithUsers(t *testing.T) {
	a := newAPIRig(t)
	// Open: everything is allowed, and the first user gets a token.
	status, body, _ := a.call("POST", "/api/v1/users", `{"name":"root","admin":true}`, nil)
	if status != 201 {
		t.Fatalf("first user: %d %s", status, body)
	}
	var root struct{ Secret string }
	json.Unmarshal([]byte(body), &root)
	status, body, _ = a.call("POST", "/api/v1/users", `{"name":"vera","password":"vera's password","roles":{"p":"viewer"},"token":true}`, bearer(root.Secret))
	if status != 201 {
		t.Fatalf("second user: %d %s", status, body)
	}
	var vera struct{ Secret string }
	json.Unmarshal([]byte(body), &vera)

	t.Run("no credential", func(t *testing.T) {
		for _, path := range []string{"/api/v1/runs", "/api/v1/health", "/api/v1/jobs", "/api/v1/users"} {
			status, body, h := a.call("GET", path, "", nil)
			if status != 401 || !strings.Contains(body, `"code":"unauthorized"`) || !strings.Contains(body, "this server has users") || !strings.Contains(body, "TRAINYARD_TOKEN") {
				t.Errorf("GET %s: %d %s", path, status, body)
			}
			if h.Get("WWW-Authenticate") != `Bearer realm="trainyard"` {
				t.Errorf("GET %s: WWW-Authenticate %q", path, h.Get("WWW-Authenticate"))
			}
		}
	})
	t.Run("public routes", func(t *testing.T) {
		for _, tc := range []struct{ method, path string }{{"GET", "/"}, {"GET", "/runs/abc"}, {"GET", "/api/v1/auth/config"}, {"POST", "/api/v1/auth/logout"}} {
			if status, body, _ := a.call(tc.method, tc.path, "", map[string]string{"Cookie": "trainyard_session=tys_stale"}); status != 200 {
				t.Errorf("%s %s with a stale cookie: %d %s", tc.method, tc.path, status, body)
			}
		}
		if _, body, _ := a.call("GET", "/api/v1/auth/config", "", nil); !strings.Contains(body, `"mode":"users"`) {
			t.Errorf("auth config: %s", body)
		}
	})
	t.Run("wrong or unknown token", func(t *testing.T) {
		status, body, _ := a.call("GET", "/api/v1/runs", "", bearer("tya_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
		if status != 401 || !strings.Contains(body, "is not a token of this server") {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("forbidden says what is missing", func(t *testing.T) {
		status, body, _ := a.call("POST", "/api/v1/jobs", `{"project":"p","command":["true"]}`, bearer(vera.Secret))
		if status != 403 || !strings.Contains(body, `"code":"forbidden"`) || !strings.Contains(body, "vera may not submit jobs to project p: that needs the member role in project p, and vera is a viewer there") {
			t.Errorf("%d %s", status, body)
		}
		status, body, _ = a.call("GET", "/api/v1/runs?project=q", "", bearer(vera.Secret))
		if status != 403 || !strings.Contains(body, "viewer role in project q") {
			t.Errorf("%d %s", status, body)
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		req, _ := nethttp.NewRequest("GET", a.srv.URL+"/api/v1/auth/me", nil)
		req.SetBasicAuth("vera", "vera's password")
		resp, err := nethttp.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), `"user":"vera"`) || !strings.Contains(string(b), `"via":"password"`) {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
	t.Run("session cookie", func(t *testing.T) {
		status, body, h := a.call("POST", "/api/v1/auth/login", `{"user":"vera","password":"vera's password"}`, nil)
		if status != 200 {
			t.Fatalf("login: %d %s", status, body)
		}
		ck := h.Get("Set-Cookie")
		for _, want := range []string{"trainyard_session=tys_", "Path=/", "HttpOnly", "SameSite=Lax", "Max-Age="} {
			if !strings.Contains(ck, want) {
				t.Errorf("Set-Cookie %q lacks %s", ck, want)
			}
		}
		if strings.Contains(ck, "Secure") {
			t.Errorf("Set-Cookie %q over plain HTTP is Secure: the browser would not send it back", ck)
		}
		var login struct {
			CSRF string `json:"csrf_token"`
		}
		json.Unmarshal([]byte(body), &login)
		cookie := strings.SplitN(ck, ";", 2)[0]
		withCookie := map[string]string{"Cookie": cookie}
		if status, body, _ := a.call("GET", "/api/v1/runs", "", withCookie); status != 200 {
			t.Errorf("GET with the cookie: %d %s", status, body)
		}
		_, body, _ = a.call("GET", "/api/v1/auth/me", "", withCookie)
		if !strings.Contains(body, `"csrf_token":"`+login.CSRF+`"`) || !strings.Contains(body, `"via":"session"`) {
			t.Errorf("me: %s; want the session's CSRF token %s", body, login.CSRF)
		}
		// A change of state with the cookie needs the CSRF token.
		status, body, _ = a.call("POST", "/api/v1/runs", `{"project":"p"}`, withCookie)
		if status != 403 || !strings.Contains(body, "X-CSRF-Token") {
			t.Errorf("POST with the cookie and no CSRF token: %d %s", status, body)
		}
		status, _, _ = a.call("POST", "/api/v1/runs", `{"project":"p"}`, map[string]string{"Cookie": cookie, "X-CSRF-Token": "wrong"})
		if status != 403 {
			t.Errorf("POST with a wrong CSRF token: %d", status)
		}
		status, body, _ = a.call("POST", "/api/v1/runs", `{"project":"p"}`, map[string]string{"Cookie": cookie, "X-CSRF-Token": login.CSRF})
		if status != 403 || !strings.Contains(body, "member role") { // past the front door; vera is a viewer
			t.Errorf("POST with the CSRF token: %d %s", status, body)
		}
		// A page of another origin cannot log in, even with the password.
		status, _, _ = a.call("POST", "/api/v1/auth/login", `{"user":"vera","password":"vera's password"}`, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
		if status != 403 {
			t.Errorf("cross-site login: %d", status)
		}
		// Behind a TLS proxy the cookie is Secure.
		_, _, h = a.call("POST", "/api/v1/auth/login", `{"user":"vera","password":"vera's password"}`, map[string]string{"X-Forwarded-Proto": "https"})
		if !strings.Contains(h.Get("Set-Cookie"), "Secure") {
			t.Errorf("Set-Cookie behind TLS: %q", h.Get("Set-Cookie"))
		}
		// Logging out ends the session and clears the cookie.
		status, _, h = a.call("POST", "/api/v1/auth/logout", "", withCookie)
		if status != 200 || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("logout: %d, Set-Cookie %q", status, h.Get("Set-Cookie"))
		}
		status, body, _ = a.call("GET", "/api/v1/runs", "", withCookie)
		if status != 401 || !strings.Contains(body, "logged out") {
			t.Errorf("after logout: %d %s", status, body)
		}
	})
}
