package http_test

import (
	"net/http/httptest"
	"strings"
	"testing"

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
