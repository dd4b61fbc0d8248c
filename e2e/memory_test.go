package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// vmHWM is a process's peak RSS in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// Sixteen of the body that took the server past 6 GB before (issue 8,
// item 1: 15 million values in the columnar form, 57 MB, 14 times the
// point limit) at once: each is refused with 413 once the parser counts one
// point too many, the server's peak RSS stays under 1 GiB, and it answers
// other clients meanwhile. (bench/bigreq runs this and the largest
// accepted bodies, and reports the figures.)
func TestOversizedMetricRequestsAreBoundedInMemory(t *testing.T) {
	s := startServer(t)
	run, err := s.C.CreateRun(context.Background(), trainyard.NewRun{Project: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString(`{"series":[{"key":"loss","values":[`)
	for i := range 15_000_000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("0.5")
	}
	b.WriteString(`]}]}`)
	body := b.Bytes()
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(s.URL+"/api/v1/runs/"+run.ID+"/metrics", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	// Meanwhile the server answers.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-time.After(200 * time.Millisecond):
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(s.URL + "/api/v1/health")
			if err != nil {
				t.Fatalf("the server stopped answering during the large requests: %v", err)
			}
			resp.Body.Close()
		}
	}
	for i, st := range statuses {
		if st != 413 {
			t.Errorf("request %d: status %d; want 413", i, st)
		}
	}
	if hwm := vmHWM(t, s.cmd.Process.Pid); hwm >= 1<<30 {
		t.Fatalf("peak RSS %d MB; want under 1 GiB", hwm>>20)
	} else {
		t.Logf("peak RSS %d MB", hwm>>20)
	}
	r, err := s.C.Run(context.Background(), run.ID)
	if err != nil || len(r.Metrics) != 0 {
		t.Fatalf("refused batches stored points: %v %v", r.Metrics, err)
	}
}
