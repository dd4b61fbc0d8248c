package http_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/access"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/http"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/sweep"
	"github.com/trainyard/trainyard/tracking"
)

// The test binary doubles as the job shim, as the trainyard binary does.
const shimEnv = "TRAINYARD_HTTP_TEST_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(shimEnv) == "1" {
		os.Exit(local.ShimMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	b, err := http.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	return doc
}

// TestDocumentNamesEveryRoute checks the document against the server's
// route table, both ways.
func TestDocumentNamesEveryRoute(t *testing.T) {
	doc := loadDoc(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	rest := regexp.MustCompile(`\{(\w+)\.\.\.\}`)
	for _, p := range http.Routes() {
		served[rest.ReplaceAllString(p, "{$1}")] = true
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes the document does not describe: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("documented routes the server does not serve: %v", extra)
	}
}

type apiRig struct {
	t      *testing.T
	header nethttp.Header // sent with every request
	api    *http.Server
	srv    *httptest.Server
	router routers.Router
	seen   map[string]bool // operations exercised
}

func newAPIRig(t *testing.T, allowedHosts ...string) *apiRig {
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	logs, _ := disk.NewLogs(filepath.Join(dir, "logs"))
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	m := trainyard.Machine{Hostname: "h", CPUs: 2, Memory: 4 << 30, GPUs: []trainyard.GPU{{Index: 0, UUID: "GPU-0", Name: "fake", MemoryTotal: 1 << 30, Utilization: -1}}, Source: "test"}
	exec, err := local.New(local.Config{ShimCommand: []string{os.Args[0]}, StateDir: filepath.Join(dir, "state"), Node: m.Node()})
	if err != nil {
		t.Fatal(err)
	}
	acc := access.New(access.Config{Store: store})
	t.Cleanup(acc.Close)
	var sweeps *sweep.Service
	d := dispatch.New(dispatch.Config{Machine: m, BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: dir,
		OnChange: func(j *trainyard.Job) { sweeps.OnJob(j) }}, store, exec, logs)
	sweeps = sweep.New(sweep.Config{Store: store, Jobs: d, CheckpointDir: filepath.Join(dir, "ckpt"), Authorize: access.Sweeps, Audit: acc.RecordSweep})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := sweeps.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sweeps.Close)
	tracker := tracking.New(tracking.Config{Store: acc.Store(), OnMetrics: sweeps.ObserveMetrics})
	api := http.New(http.Config{Jobs: acc.Jobs(d), Store: acc.Store(), Artifacts: acc.Artifacts(arts), Logs: acc.Logs(logs), Access: acc,
		Version: "test", LogPollInterval: 20 * time.Millisecond, AllowedHosts: allowedHosts, Tracking: tracker, Sweeps: sweeps})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	doc := loadDoc(t)
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiRig{t: t, api: api, srv: srv, router: router, seen: map[string]bool{}, header: nethttp.Header{}}
}

// do sends a request, checks request and answer against the document and
// the expected status, and returns the body.
func (a *apiRig) do(method, path, contentType string, body []byte, status int) []byte {
	a.t.Helper()
	req, _ := nethttp.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	// Paths end in {key...} or {path...}, which may hold slashes; the
	// router wants one segment, so it is asked with them escaped.
	find := req.Clone(context.Background())
	for _, seg := range []string{"/artifacts/", "/metrics/"} {
		if i := strings.Index(find.URL.Path, seg); i >= 0 {
			rest := find.URL.Path[i+len(seg):]
			find.URL.RawPath = find.URL.Path[:i+len(seg)] + strings.ReplaceAll(rest, "/", "%2F")
		}
	}
	route, params, err := a.router.FindRoute(find)
	if err != nil {
		a.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	a.seen[route.Method+" "+route.Path] = true
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && status < 400 {
		a.t.Errorf("%s %s: request does not match the document: %v", method, path, err)
	}
	req, _ = nethttp.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, vs := range a.header {
		req.Header[k] = vs
	}
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, got)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(got)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		a.t.Errorf("%s %s: answer does not match the document: %v\n%s", method, path, err, truncate(got))
	}
	return got
}

func truncate(b []byte) string {
	if len(b) > 500 {
		return string(b[:500]) + "…"
	}
	return string(b)
}

func jsonBody(s string) []byte { return []byte(s) }

// TestAnswersMatchTheDocument drives every operation and validates each
// request and answer, errors included, against the document.
func TestAnswersMatchTheDocument(t *testing.T) {
	a := newAPIRig(t)
	const js = "application/json"
	a.do("GET", "/api/v1/health", "", nil, 200)
	a.do("GET", "/api/v1/openapi.json", "", nil, 200)
	a.do("GET", "/api/v1/machine", "", nil, 200)
	a.do("GET", "/api/v1/executor", "", nil, 200)

	job := a.do("POST", "/api/v1/jobs", js, jsonBody(`{"name":"j","command":["sh","-c","echo hi; sleep 0.2"],"resources":{"gpus":1,"cpus":1,"memory":"1GiB"},"config":{"a":{"b":1}},"tags":{"t":"v"}}`), 201)
	id := between(string(job), `"id":"`, `"`)
	a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["true"],"bogus":1}`), 400)
	a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["true"],"resources":{"gpus":5}}`), 422)
	waiting := a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["sleep","30"],"resources":{"gpus":1}}`), 201)
	wid := between(string(waiting), `"id":"`, `"`)
	a.do("GET", "/api/v1/jobs", "", nil, 200)
	a.do("GET", "/api/v1/jobs?active=true&limit=5", "", nil, 200)
	a.do("GET", "/api/v1/jobs?state=BOGUS", "", nil, 400)
	a.do("GET", "/api/v1/jobs/"+id, "", nil, 200)
	a.do("GET", "/api/v1/jobs/nope", "", nil, 404)
	a.do("GET", "/api/v1/jobs/"+id+"/logs?follow=true", "", nil, 200) // returns when the job ends
	a.do("GET", "/api/v1/jobs/"+id+"/logs?rank=0", "", nil, 200)
	a.do("GET", "/api/v1/jobs/"+id+"/logs?rank=1", "", nil, 400)
	a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["true"],"nodes":2}`), 422)
	a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["true"],"launch":"mpi"}`), 400)
	a.do("GET", "/api/v1/jobs?id_prefix="+wid[:4], "", nil, 200)
	a.do("GET", "/api/v1/jobs?id_prefix=a%20b", "", nil, 400)
	w2 := between(string(a.do("POST", "/api/v1/jobs", js, jsonBody(`{"command":["sleep","30"],"resources":{"gpus":1}}`), 201)), `"id":"`, `"`)
	a.do("POST", "/api/v1/jobs/cancel", js, jsonBody(`{"ids":["`+w2+`","nope"]}`), 404)
	a.do("POST", "/api/v1/jobs/cancel", js, jsonBody(`{"ids":[]}`), 400)
	a.do("POST", "/api/v1/jobs/cancel", js, jsonBody(`{"ids":["`+w2+`"]}`), 200)
	a.do("POST", "/api/v1/jobs/"+wid+"/cancel", "", nil, 200)
	a.do("POST", "/api/v1/jobs/"+id+"/cancel", "", nil, 409)

	run := a.do("POST", "/api/v1/runs", js, jsonBody(`{"project":"p","name":"r","config":{"lr":0.1},"tags":{"k":"v"},"git":{"commit":"abc","dirty":false}}`), 201)
	rid := between(string(run), `"id":"`, `"`)
	a.do("POST", "/api/v1/runs", js, jsonBody(`{"id":"`+rid+`"}`), 409)
	a.do("GET", "/api/v1/runs", "", nil, 200)
	a.do("GET", "/api/v1/runs?project=p&filter="+urlq("metrics.loss < 1")+"&order_by="+urlq("metrics.loss DESC"), "", nil, 200)
	if got := a.do("GET", "/api/v1/runs?id_prefix="+rid[:5], "", nil, 200); !strings.Contains(string(got), rid) {
		t.Errorf("runs?id_prefix=%s lacks run %s: %s", rid[:5], rid, got)
	}
	a.do("GET", "/api/v1/runs?filter="+urlq("metrics.loss <"), "", nil, 400)
	a.do("GET", "/api/v1/runs/"+rid, "", nil, 200)
	a.do("PATCH", "/api/v1/runs/"+rid, js, jsonBody(`{"summary":{"best":1},"tags":{"x":"y"},"delete_tags":["k"]}`), 200)
	a.do("PATCH", "/api/v1/runs/"+id, js, jsonBody(`{"state":"FAILED"}`), 400) // a job's run
	a.do("POST", "/api/v1/runs/"+rid+"/metrics", js, jsonBody(`{"points":[{"key":"loss","value":0.5,"step":1},{"key":"loss","value":"NaN","step":2}],"series":[{"key":"acc","values":[0.1,0.2],"steps":[1,2]}]}`), 200)
	a.do("POST", "/api/v1/runs/"+rid+"/metrics", js, jsonBody(`{"points":[{"key":"loss","value":true}]}`), 400)
	a.do("GET", "/api/v1/runs/"+rid+"/metrics/loss", "", nil, 200)
	a.do("GET", "/api/v1/runs/"+rid+"/metrics/acc?max_points=1", "", nil, 200)
	a.do("GET", "/api/v1/runs/"+rid+"/metrics/nope", "", nil, 404)
	a.do("GET", "/api/v1/batch/runs?id="+rid+"&id=nope", "", nil, 200)
	a.do("GET", "/api/v1/batch/series?key=loss&max_points=10&run="+rid+"&run=nope", "", nil, 200)
	a.do("GET", "/api/v1/batch/series?key=loss&run="+rid, "", nil, 400)
	a.do("POST", "/api/v1/runs/"+rid+"/logs", "text/plain", []byte("hello\n"), 200)
	a.do("GET", "/api/v1/runs/"+rid+"/logs?offset=0", "", nil, 200)
	a.do("PUT", "/api/v1/runs/"+rid+"/artifacts/dir/a.txt", "application/octet-stream", []byte("A"), 201)
	a.do("PUT", "/api/v1/runs/"+rid+"/artifacts/..%2Fescape", "application/octet-stream", []byte("A"), 400)
	a.do("GET", "/api/v1/runs/"+rid+"/artifacts?recursive=true", "", nil, 200)
	a.do("GET", "/api/v1/runs/"+rid+"/artifacts/dir/a.txt", "", nil, 200)
	a.do("DELETE", "/api/v1/runs/"+rid+"/artifacts/dir", "", nil, 204)
	a.do("GET", "/api/v1/runs/"+rid+"/artifacts/dir/a.txt", "", nil, 404)
	a.do("GET", "/api/v1/projects", "", nil, 200)
	exerciseSweeps(a)

	// Users: the first one turns access control on and gets a token.
	a.do("GET", "/api/v1/auth/config", "", nil, 200)
	a.do("GET", "/api/v1/auth/me", "", nil, 200)
	a.do("POST", "/api/v1/users", js, jsonBody(`{"name":"alice"}`), 400) // the first user must be an admin
	root := a.do("POST", "/api/v1/users", js, jsonBody(`{"name":"root","admin":true}`), 201)
	a.do("GET", "/api/v1/users", "", nil, 401)
	a.header.Set("Authorization", "Bearer "+between(string(root), `"secret":"`, `"`))
	a.do("GET", "/api/v1/auth/me", "", nil, 200)
	a.do("POST", "/api/v1/users", js, jsonBody(`{"name":"alice","password":"correct horse","roles":{"p":"member","*":"viewer"},"token":true}`), 201)
	a.do("POST", "/api/v1/users", js, jsonBody(`{"name":"alice","password":"correct horse"}`), 409)
	a.do("POST", "/api/v1/users", js, jsonBody(`{"name":"bad name","roles":{"p":"owner"}}`), 400)
	a.do("GET", "/api/v1/users", "", nil, 200)
	a.do("PATCH", "/api/v1/users/alice", js, jsonBody(`{"roles":{"q":"admin","*":"none"}}`), 200)
	a.do("PATCH", "/api/v1/users/nobody", js, jsonBody(`{"roles":{"q":"admin"}}`), 404)
	a.do("PUT", "/api/v1/users/alice/password", js, jsonBody(`{"password":"battery staple"}`), 200)
	a.do("PUT", "/api/v1/users/alice/password", js, jsonBody(`{"password":"short"}`), 400)
	tok := a.do("POST", "/api/v1/tokens", js, jsonBody(`{"user":"alice","name":"ci","project":"p","role":"viewer","expires_in":"30d"}`), 201)
	a.do("POST", "/api/v1/tokens", js, jsonBody(`{"user":"alice","role":"owner"}`), 400)
	a.do("GET", "/api/v1/tokens?user=alice&inactive=true", "", nil, 200)
	a.do("DELETE", "/api/v1/tokens/"+between(string(tok), `"id":"`, `"`), "", nil, 200)
	a.do("DELETE", "/api/v1/tokens/nope", "", nil, 404)
	a.do("GET", "/api/v1/audit?action=user.&limit=10", "", nil, 200)
	a.do("GET", "/api/v1/audit?since=yesterday", "", nil, 400)
	a.header.Del("Authorization")
	a.do("POST", "/api/v1/auth/login", js, jsonBody(`{"user":"alice","password":"wrong password"}`), 401)
	login := a.do("POST", "/api/v1/auth/login", js, jsonBody(`{"user":"alice","password":"battery staple"}`), 200)
	_ = login
	a.do("POST", "/api/v1/auth/logout", "", nil, 200)
	a.header.Set("Authorization", "Bearer "+between(string(root), `"secret":"`, `"`))
	a.do("DELETE", "/api/v1/users/alice", "", nil, 204)
	a.do("DELETE", "/api/v1/users/alice", "", nil, 404)

	doc := loadDoc(t)
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !a.seen[method+" "+path] {
				t.Errorf("no request exercised %s %s", method, path)
			}
		}
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	return s[:strings.Index(s, b)]
}

func urlq(s string) string {
	return strings.NewReplacer(" ", "%20", "<", "%3C", ">", "%3E", "'", "%27").Replace(s)
}

var _ = fmt.Sprint
