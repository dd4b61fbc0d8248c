package http

import (
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
