package http_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	nethttp "net/http"

	"github.com/trainyard/trainyard/http"
)

// A job can run any command: a web page the user visits must not be able
// to submit one (CSRF), nor reach the API through DNS rebinding.
func TestRequestsFromOtherOriginsAndHostsAreRefused(t *testing.T) {
	a := newAPIRig(t, "localhost", "127.0.0.1")
	for _, tc := range []struct {
		name    string
		method  string
		host    string
		headers map[string]string
		status  int
	}{
		{"loopback name", "GET", "127.0.0.1:8080", nil, 200},
		{"localhost", "GET", "localhost:8080", nil, 200},
		{"DNS rebinding", "GET", "evil.example:8080", nil, 403},
		{"cross-site POST from a browser", "POST", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain"}, 403},
		{"foreign Origin", "POST", "127.0.0.1:8080", map[string]string{"Origin": "https://evil.example"}, 403},
		{"same-origin POST from the UI", "POST", "127.0.0.1:8080", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1:8080"}, 400},
		{"a CLI POST (no browser headers)", "POST", "127.0.0.1:8080", nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/v1/health"
			if tc.method == "POST" {
				path = "/api/v1/runs" // 400: empty body, once past the checks
			}
			req := httptest.NewRequest(tc.method, path, strings.NewReader(""))
			req.Host = tc.host
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			a.api.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 403 && !strings.Contains(rec.Body.String(), `"code":"forbidden"`) {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
	_ = http.Routes
}

// A mounted API (the MLflow REST API) sits behind the same checks as the
// native one, and gets paths with dot segments as they were sent.
func TestMountsAreBehindTheChecks(t *testing.T) {
	var got []string
	mounted := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		got = append(got, r.URL.Path)
		w.WriteHeader(299)
	})
	api := http.New(http.Config{Token: "tok", AllowedHosts: []string{"localhost"},
		Mounts: []http.Mount{{Patterns: []string{"/api/2.0/mlflow/", "/health"}, Handler: mounted}}})
	for _, tc := range []struct {
		name, method, path, host, token string
		status                          int
	}{
		{"no token", "GET", "/api/2.0/mlflow/runs/get", "localhost", "", 401},
		{"foreign host", "GET", "/api/2.0/mlflow/runs/get", "evil.example", "tok", 403},
		{"mounted", "GET", "/api/2.0/mlflow/runs/get", "localhost", "tok", 299},
		{"exact pattern", "GET", "/health", "localhost", "tok", 299},
		{"dot segments reach the mount uncleaned", "PUT", "/api/2.0/mlflow/a/../b", "localhost", "tok", 299},
		{"not mounted", "GET", "/api/2.0/other", "localhost", "tok", 404},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Host = tc.host
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, rec.Code, tc.status, rec.Body)
		}
	}
	if want := []string{"/api/2.0/mlflow/runs/get", "/health", "/api/2.0/mlflow/a/../b"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("mounted handler saw %v, want %v", got, want)
	}
}
