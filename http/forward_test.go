package http_test

import (
	"context"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/trainyard/trainyard/http"
	"github.com/trainyard/trainyard/sweep"
)

// leaderStub stands for the leader: it records what it was sent.
type leaderStub struct {
	srv   *httptest.Server
	calls atomic.Int32
	got   chan *nethttp.Request
	body  chan string
}

func newLeaderStub(t *testing.T) *leaderStub {
	l := &leaderStub{got: make(chan *nethttp.Request, 8), body: make(chan string, 8)}
	l.srv = httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		l.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		l.got <- r
		l.body <- string(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(nethttp.StatusCreated)
		io.WriteString(w, `{"id":"from-the-leader"}`)
	}))
	t.Cleanup(l.srv.Close)
	return l
}

// follower is a server that does not run sweeps, whose leader is at url.
func follower(url func(context.Context) (string, error)) *http.Server {
	sw := sweep.New(sweep.Config{Leading: func() bool { return false }})
	return http.New(http.Config{Sweeps: sw, LeaderURL: url, PeerURL: "http://follower:1", MaxJSONBytes: 1 << 10})
}

func post(s *http.Server, path, body string, headers map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// A sweep change on a server that does not run sweeps goes to the leader
// with the caller's credentials, and the leader's answer comes back.
func TestSweepChangeIsForwardedToTheLeader(t *testing.T) {
	l := newLeaderStub(t)
	s := follower(func(context.Context) (string, error) { return l.srv.URL, nil })
	rec := post(s, "/api/v1/sweeps?file=s.yaml", "metric: loss\n", map[string]string{
		"Authorization": "Bearer tok-123", "Cookie": "trainyard_session=abc", "X-CSRF-Token": "csrf-1", "Content-Type": "application/yaml"})
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), "from-the-leader") {
		t.Fatalf("forwarded create: %d %s", rec.Code, rec.Body)
	}
	r, body := <-l.got, <-l.body
	for h, want := range map[string]string{"Authorization": "Bearer tok-123", "Cookie": "trainyard_session=abc", "X-Csrf-Token": "csrf-1",
		"Content-Type": "application/yaml", http.ForwardedHeader: "http://follower:1"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("the leader got %s %q, want %q", h, got, want)
		}
	}
	if r.URL.Path != "/api/v1/sweeps" || r.URL.RawQuery != "file=s.yaml" || r.Host != "example.com" || body != "metric: loss\n" {
		t.Errorf("the leader got %s ?%s Host %q body %q", r.URL.Path, r.URL.RawQuery, r.Host, body)
	}
	for _, p := range []string{"pause", "resume", "stop", "suggest", "report"} {
		if rec := post(s, "/api/v1/sweeps/sw1/"+p, "{}", nil); rec.Code != 201 {
			t.Errorf("forwarded %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if n := l.calls.Load(); n != 6 {
		t.Errorf("the leader got %d requests, want 6", n)
	}
}

// A request another server forwarded is never forwarded again, and a
// leader that cannot be found or reached, or a body over the limit, is a
// clear error from the follower itself.
func TestSweepChangeIsNotForwardedTwice(t *testing.T) {
	l := newLeaderStub(t)
	gone := httptest.NewServer(nethttp.NotFoundHandler())
	gone.Close()
	for _, c := range []struct {
		name    string
		leader  string
		headers map[string]string
		body    string
		status  int
		message string
	}{
		{"already forwarded", l.srv.URL, map[string]string{http.ForwardedHeader: "http://other:2"}, "{}", 503, "already forwarded to it by http://other:2"},
		{"no leader URL", "", nil, "{}", 503, "gave no URL"},
		{"the leader is this server", "http://follower:1", nil, "{}", 503, "no other server leads yet"},
		{"leader unreachable", gone.URL, nil, "{}", 503, "cannot be reached"},
		{"body too large", l.srv.URL, nil, strings.Repeat("x", 2<<10), 413, "larger than 1024 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := follower(func(context.Context) (string, error) { return c.leader, nil })
			rec := post(s, "/api/v1/sweeps/sw1/pause", c.body, c.headers)
			if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.message) || !strings.Contains(rec.Body.String(), `"code"`) {
				t.Errorf("got %d %s, want %d with %q", rec.Code, rec.Body, c.status, c.message)
			}
		})
	}
	if n := l.calls.Load(); n != 0 {
		t.Errorf("the leader got %d requests, want none", n)
	}
}
