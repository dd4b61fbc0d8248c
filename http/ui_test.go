package http

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The binary serves the web UI at / (and at its client-side routes, such
// as /runs/abc), or, in a Go-only build without web/'s output, a page that
// says the UI was not built.
func TestUIAtRoot(t *testing.T) {
	s := New(Config{})
	for _, path := range []string{"/", "/runs/abc123", "/projects/vision?q=x"} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if UIBuilt() {
			if !strings.Contains(body, `<div id="root">`) || !strings.Contains(body, "/assets/") {
				t.Errorf("GET %s: want the built UI's index.html, got %.200s", path, body)
			}
		} else if !strings.Contains(body, "built without the web UI") {
			t.Errorf("GET %s: want the Go-only note, got %.200s", path, body)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/nope", nil))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Errorf("an unknown API path answered %d %s; want a JSON 404, not the UI", rec.Code, rec.Body)
	}
}

// With --token, the UI's shell (index.html at any client-side route, and
// its static assets) loads without the token, so that the UI can ask for
// it; every API route, MLflow's included, still needs it.
func TestTokenGuardsEverythingButTheUIShell(t *testing.T) {
	const token = "s3cret"
	// MLflow's paths are mounted, as cmd/trainyard mounts them.
	mlflow := Mount{Patterns: []string{"/api/2.0/mlflow/", "/ajax-api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/health", "/version"},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("OK")) })}
	s := New(Config{Token: token, Version: "test", Mounts: []Mount{mlflow}})
	asset := "/" // without the built UI, the placeholder page is all there is
	if UIBuilt() {
		entries, err := fs.ReadDir(ui, "ui/dist/assets")
		if err != nil || len(entries) == 0 {
			t.Fatalf("the built UI has no assets: %v", err)
		}
		asset = "/assets/" + entries[0].Name()
	}
	for _, tc := range []struct {
		method, path, auth string
		status             int
	}{
		{"GET", "/", "", 200},
		{"HEAD", "/", "", 200},
		{"GET", "/runs/abc123", "", 200},
		{"GET", "/projects/vision?q=x", "", 200},
		{"GET", asset, "", 200},
		{"POST", "/", "", 401},
		{"GET", "/api", "", 401},
		{"GET", "/api/v1/health", "", 401},
		{"GET", "/api/v1/openapi.json", "", 401},
		{"GET", "/api/v1/runs", "", 401},
		{"GET", "/api/v1/nope", "", 401},
		{"GET", "//api/v1/runs", "", 401},
		{"GET", "/api/v1/../v1/runs", "", 401},
		{"GET", "/api/2.0/mlflow/experiments/search", "", 401},
		{"GET", "/ajax-api/2.0/mlflow/experiments/search", "", 401},
		{"GET", "/api/2.0/mlflow-artifacts/artifacts", "", 401},
		{"GET", "/health", "", 401},
		{"GET", "/version", "", 401},
		{"GET", "/api/v1/health", "Bearer wrong", 401},
		{"GET", "/api/v1/health", "Bearer " + token, 200},
		{"GET", "/", "Bearer wrong", 200},
	} {
		t.Run(tc.method+" "+tc.path+" "+tc.auth, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "http://127.0.0.1:8080/", nil)
			req.URL.Path = tc.path // as sent, uncleaned
			if i := strings.IndexByte(tc.path, '?'); i >= 0 {
				req.URL.Path, req.URL.RawQuery = tc.path[:i], tc.path[i+1:]
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.200s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 401 && (rec.Header().Get("WWW-Authenticate") == "" || !strings.Contains(rec.Body.String(), `"unauthorized"`)) {
				t.Errorf("a 401 without WWW-Authenticate or the JSON error: %v %s", rec.Header(), rec.Body)
			}
			if tc.status == 200 && tc.method == "GET" && tc.path != asset && !strings.HasPrefix(tc.path, "/api/") && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q, want the UI's HTML", rec.Header().Get("Content-Type"))
			}
		})
	}
}

// A path that is neither an API route nor a page of the UI answers a JSON
// 404 to a program (an MLflow client calling a route trainyard lacks), and
// the UI (which shows "no such page") only to a browser's navigation.
func TestUnknownPathsAreNotTheUI(t *testing.T) {
	s := New(Config{})
	for _, tc := range []struct {
		path, accept string
		status       int
	}{
		{"/no/such/page", "", 404},
		{"/ajax-api/2.0/mlflow/unknown", "*/*", 404},
		{"/runs/abc/extra", "", 404},
		{"/no/such/page", "text/html,application/xhtml+xml", 200},
		{"/compare", "", 200},
		{"/models/iris", "", 200},
		{"/sweeps", "", 200},
		{"/sweeps/abc123", "", 200},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("GET %s (Accept %q): %d, want %d", tc.path, tc.accept, rec.Code, tc.status)
		}
		if tc.status == 404 && !strings.Contains(rec.Body.String(), `"not_found"`) {
			t.Errorf("GET %s: %s, want a JSON error", tc.path, rec.Body)
		}
	}
}
