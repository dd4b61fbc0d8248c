package httpkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestETag(t *testing.T) {
	body := `{"runs":[]}` + "\n"
	jsonHandler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"runs": []any{}})
	})
	h := WithETag(jsonHandler)

	first := etagServe(t, h, "GET", "")
	if first.Code != http.StatusOK || first.Body.String() != body {
		t.Fatalf("first GET: %d %q, want 200 %q", first.Code, first.Body.String(), body)
	}
	tag := first.Header().Get("ETag")
	if !strings.HasPrefix(tag, `"`) || len(tag) < 10 {
		t.Fatalf("ETag = %q, want a quoted hash", tag)
	}

	tests := []struct {
		name        string
		method      string
		ifNoneMatch string
		wantCode    int
		wantBody    string
	}{
		{"same tag", "GET", tag, http.StatusNotModified, ""},
		{"weak form of the tag", "GET", "W/" + tag, http.StatusNotModified, ""},
		{"one of a list", "GET", `"other", ` + tag, http.StatusNotModified, ""},
		{"star", "GET", "*", http.StatusNotModified, ""},
		{"other tag", "GET", `"other"`, http.StatusOK, body},
		{"no tag", "GET", "", http.StatusOK, body},
		{"HEAD with the tag", "HEAD", tag, http.StatusNotModified, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := etagServe(t, h, tt.method, tt.ifNoneMatch)
			if got.Code != tt.wantCode || got.Body.String() != tt.wantBody {
				t.Errorf("%s If-None-Match %q: %d %q, want %d %q", tt.method, tt.ifNoneMatch, got.Code, got.Body.String(), tt.wantCode, tt.wantBody)
			}
			if got.Header().Get("ETag") != tag {
				t.Errorf("ETag = %q, want %q", got.Header().Get("ETag"), tag)
			}
		})
	}
}

func TestETagChangesWithBody(t *testing.T) {
	n := 0
	h := WithETag(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		WriteJSON(w, http.StatusOK, map[string]int{"n": n})
	}))
	a := etagServe(t, h, "GET", "")
	b := etagServe(t, h, "GET", a.Header().Get("ETag"))
	if b.Code != http.StatusOK || b.Body.String() != `{"n":2}`+"\n" {
		t.Fatalf("changed body answered %d %q, want 200 with the new body", b.Code, b.Body.String())
	}
	if a.Header().Get("ETag") == b.Header().Get("ETag") {
		t.Fatalf("ETag did not change with the body: %s", a.Header().Get("ETag"))
	}
}

func TestETagPassesThrough(t *testing.T) {
	big := strings.Repeat("x", maxETagBody+10)
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		code    int
		body    string
	}{
		{"POST", "POST", func(w http.ResponseWriter, r *http.Request) {
			WriteJSON(w, http.StatusCreated, map[string]string{"id": "a"})
		}, http.StatusCreated, `{"id":"a"}` + "\n"},
		{"error", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{}}`)
		}, http.StatusNotFound, `{"error":{}}`},
		{"text", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "line 1\n")
		}, http.StatusOK, "line 1\n"},
		{"over the size limit", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, big[:100])
			io.WriteString(w, big[100:])
		}, http.StatusOK, big},
		{"flushed", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[1,")
			http.NewResponseController(w).Flush()
			io.WriteString(w, "2]")
		}, http.StatusOK, "[1,2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := etagServe(t, WithETag(tt.handler), tt.method, "*")
			if got.Code != tt.code || got.Body.String() != tt.body {
				t.Errorf("got %d %.40q, want %d %.40q", got.Code, got.Body.String(), tt.code, tt.body)
			}
			if e := got.Header().Get("ETag"); e != "" {
				t.Errorf("ETag = %q, want none", e)
			}
		})
	}
}

// A followed log streams through the middleware: the first line arrives
// while the handler is still running.
func TestETagStreams(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(WithETag(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "first\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "second\n")
	})))
	defer srv.Close()
	defer close(release)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
		t.Fatalf("read %q, %v; want the first line before the handler ends", buf, err)
	}
}

func etagServe(t *testing.T, h http.Handler, method, ifNoneMatch string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, "/api/v1/runs", nil)
	if ifNoneMatch != "" {
		r.Header.Set("If-None-Match", ifNoneMatch)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
