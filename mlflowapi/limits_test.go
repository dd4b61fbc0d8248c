package mlflowapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/mlflowapi"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/tracking"
)

// rigAt is mlRig with its store and artifacts in dir and cfg adjusted.
func rigAt(t *testing.T, dir string, adjust func(*mlflowapi.Config)) *httptest.Server {
	t.Helper()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	arts, err := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mlflowapi.Config{Store: store, Artifacts: arts, Version: "test", Tracking: tracking.New(tracking.Config{Store: store})}
	if adjust != nil {
		adjust(&cfg)
	}
	srv := httptest.NewServer(mlflowapi.New(cfg))
	t.Cleanup(srv.Close)
	return srv
}

// budget is a BodyReader that keeps account of what it lent: the reads,
// their limits and costs, and the bytes still held. refuse makes it answer
// as a spent budget does.
type budget struct {
	mu     sync.Mutex
	reads  []string // "limit×cost"
	held   int64
	refuse error
}

func (b *budget) ReadBody(w http.ResponseWriter, r *http.Request, limit, cost int64) ([]byte, func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads = append(b.reads, fmt.Sprintf("%d×%d", limit, cost))
	if b.refuse != nil {
		return nil, nil, b.refuse
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, nil, trainyard.Errorf(trainyard.ETOOLARGE, "body over %d bytes", limit)
	}
	hold := int64(len(body)) * cost
	b.held += hold
	var once sync.Once
	return body, func() {
		once.Do(func() {
			b.mu.Lock()
			b.held -= hold
			b.mu.Unlock()
		})
	}, nil
}

func (b *budget) state() ([]string, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reads...), b.held
}

// Every MLflow body is read through the server's budget (the one the
// native API shares) with its limit and cost, and given back once the
// answer is written; a spent budget answers 503, which clients retry.
func TestBodiesAreReadWithinTheBudget(t *testing.T) {
	b := &budget{}
	var streamed []string
	var mu sync.Mutex
	srv := rigAt(t, t.TempDir(), func(c *mlflowapi.Config) {
		c.Bodies = b
		c.Stream = func(r *http.Request) { mu.Lock(); streamed = append(streamed, r.Method+" "+r.URL.Path); mu.Unlock() }
	})
	run := newRunID(t, srv.URL)
	if status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", `{"run_id":"`+run+`","metrics":[{"key":"m","value":1,"timestamp":1,"step":0}]}`); status != 200 {
		t.Fatalf("log-batch: %d %v", status, out)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/ajax-api/2.0/mlflow/upload-artifact?run_uuid="+run+"&path=a.txt", strings.NewReader("hello"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("upload-artifact: %v %v", resp, err)
	}
	reads, held := b.state()
	want := []string{"16777216×8", "16777216×2", "10485760×1"} // runs/create, log-batch, the UI's upload
	if strings.Join(reads, " ") != strings.Join(want, " ") || held != 0 {
		t.Fatalf("reads %v (want %v), %d bytes still held", reads, want, held)
	}

	// Transfers of artifacts tell the server in front that they stream.
	req, _ = http.NewRequest("PUT", srv.URL+"/api/2.0/mlflow-artifacts/artifacts/x/y.txt", strings.NewReader("data"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("put: %v %v", resp, err)
	}
	if resp, err := http.Get(srv.URL + "/api/2.0/mlflow-artifacts/artifacts/x/y.txt"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("get: %v %v", resp, err)
	}
	mu.Lock()
	got := strings.Join(streamed, ", ")
	mu.Unlock()
	if got != "PUT /api/2.0/mlflow-artifacts/artifacts/x/y.txt, GET /api/2.0/mlflow-artifacts/artifacts/x/y.txt" {
		t.Errorf("streamed: %s", got)
	}

	b.mu.Lock()
	b.refuse = trainyard.Errorf(trainyard.EUNAVAILABLE, "the server is busy with other large requests")
	b.mu.Unlock()
	for _, path := range []string{"/api/2.0/mlflow/runs/log-batch", "/api/2.0/mlflow/runs/set-tag"} {
		status, out := post(t, srv.URL+path, `{"run_id":"`+run+`","key":"k","value":"v"}`)
		if status != 503 || out["error_code"] != "TEMPORARILY_UNAVAILABLE" || !strings.Contains(fmt.Sprint(out["message"]), "busy") {
			t.Errorf("%s with the budget spent: %d %v", path, status, out)
		}
	}
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory. A real full
// filesystem is the thing to test, so it needs root (CI runs as root) and
// fails loudly without it.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs to fill (this test runs as root, as CI does): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes to path until its filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			size /= 2
		}
	}
}

// On a full disk MLflow writes answer 507 saying so (not a 500 "internal
// error", which MLflow clients retry for minutes), and reads still work.
func TestFullDiskIs507(t *testing.T) {
	dir := mountTmpfs(t, 4<<20)
	srv := rigAt(t, dir, nil)
	run := newRunID(t, srv.URL)
	fill(t, filepath.Join(dir, "filler"))

	req, _ := http.NewRequest("PUT", srv.URL+"/api/2.0/mlflow-artifacts/artifacts/0/"+run+"/artifacts/big.bin", strings.NewReader(strings.Repeat("x", 1<<20)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 507 || !strings.Contains(string(body), `"RESOURCE_EXHAUSTED"`) || !strings.Contains(string(body), "disk is full") {
		t.Errorf("artifact upload on a full disk: %d %s", resp.StatusCode, body)
	}

	var b strings.Builder
	b.WriteString(`{"run_id":"` + run + `","metrics":[`)
	for i := range 999 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"loss_%d","value":0.5,"timestamp":1700000000000,"step":%d}`, i%50, i)
	}
	b.WriteString(`],"params":[{"key":"p","value":"` + strings.Repeat("v", 5000) + `"}]}`)
	status, out := post(t, srv.URL+"/api/2.0/mlflow/runs/log-batch", b.String())
	if status != 507 || out["error_code"] != "RESOURCE_EXHAUSTED" || !strings.Contains(fmt.Sprint(out["message"]), "disk is full") {
		t.Errorf("log-batch on a full disk: %d %v", status, out)
	}

	if status, out := mlDo(t, srv, "GET", "/api/2.0/mlflow/runs/get?run_id="+run, ""); status != 200 {
		t.Errorf("a read on a full disk: %d %v", status, out)
	}
}
