package launch

import (
	"os"
	"testing"
	"time"
)

// TestMainWritesExitRecord: `__launch --exit-dir` records how the node's
// ranks ended, including ranks that could not start.
func TestMainWritesExitRecord(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Second)
	code := Main([]string{"--launch", "torchrun", "--nnodes", "2", "--node-rank", "1", "--nproc", "2",
		"--master-addr", "127.0.0.1", "--master-port", "29999", "--exit-dir", dir, "--grace", "1s",
		"--", "sh", "-c", `if [ "$RANK" = 3 ]; then exit 9; fi; sleep 30`})
	if code != 9 {
		t.Errorf("Main = %d, want 9", code)
	}
	r, err := ReadExit(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Node != 1 || r.Code != 9 || r.Rank != 3 || r.Reason != "rank 3 exited with code 9" || r.At.Before(t0) {
		t.Errorf("record = %+v, want node 1, code 9 by rank 3, now", r)
	}
	if _, err := ReadExit(dir, 0); !os.IsNotExist(err) {
		t.Errorf("node 0's record: %v, want none", err)
	}

	dir = t.TempDir() + "/new"
	if code := Main([]string{"--exit-dir", dir, "--", "/no/such/program"}); code != 127 {
		t.Errorf("Main of a missing program = %d, want 127", code)
	}
	if r, err := ReadExit(dir, 0); err != nil || r.Code != 127 || r.Reason == "" {
		t.Errorf("record of a missing program = %+v, %v; want 127 and why", r, err)
	}
}
