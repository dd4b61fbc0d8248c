package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/gpu"
)

// TestTorchrunLaunchOnThisMachine: `trainyard run --gpus 2 --launch
// torchrun` starts one process per GPU with the environment torchrun gives
// its workers, labels each rank's output, keeps each rank's own log, and
// fails the whole job when one rank fails. (The real torch.distributed job
// through this path is in the distributed tests that install PyTorch;
// this one checks the contract with a shell script.)
func TestTorchrunLaunchOnThisMachine(t *testing.T) {
	smi, err := gpu.FakeNvidiaSMI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--nvidia-smi="+smi)
	dir := t.TempDir()
	script := `echo "rank=$RANK local=$LOCAL_RANK world=$WORLD_SIZE lws=$LOCAL_WORLD_SIZE cvd=$CUDA_VISIBLE_DEVICES master=$MASTER_ADDR:$MASTER_PORT ty=$TRAINYARD_RANK"`
	out, stderr, code := s.cli(dir, "run", "--wait", "--gpus", "2", "--launch", "torchrun", "--", "sh", "-c", script)
	if code != 0 {
		t.Fatalf("run exited %d: %s", code, stderr)
	}
	for _, r := range []string{"0", "1"} {
		if !strings.Contains(out, "[rank "+r+"] rank="+r+" local="+r+" world=2 lws=2 cvd=") {
			t.Errorf("output lacks rank %s's line:\n%s", r, out)
		}
	}
	if !strings.Contains(out, "master=127.0.0.1:") || strings.Contains(out, "master=127.0.0.1:0 ") {
		t.Errorf("no rendezvous address in:\n%s", out)
	}
	js, err := s.C.Jobs(ctx, trainyard.JobFilter{})
	if err != nil || len(js) != 1 {
		t.Fatalf("jobs = %v, %v", js, err)
	}
	id := js[0].ID
	own, _, code := s.cli(dir, "logs", "--rank", "1", id)
	if code != 0 || !strings.HasPrefix(own, "rank=1 local=1") || strings.Contains(own, "[rank") || strings.Contains(own, "rank=0") {
		t.Errorf("logs --rank 1 = %q, want rank 1's own unprefixed line only", own)
	}
	if _, errOut, code := s.cli(dir, "logs", "--rank", "2", id); code == 0 || !strings.Contains(errOut, "0 to 1") {
		t.Errorf("logs --rank 2 of a 2-rank job: exit %d, %q", code, errOut)
	}
	ps, _, _ := s.cli(dir, "ps", "--all")
	if !strings.Contains(ps, "RANKS") {
		t.Errorf("ps has no RANKS column:\n%s", ps)
	}

	// One rank fails: the job fails at once, naming the rank, and the
	// other rank does not run on.
	t0 := time.Now()
	_, stderr, code = s.cli(dir, "run", "--wait", "--gpus", "2", "--launch", "torchrun", "--", "sh", "-c", `[ "$RANK" = 1 ] && exit 3; sleep 60`)
	if code != 3 || !strings.Contains(stderr, "rank 1 exited with code 3") {
		t.Errorf("a job whose rank 1 fails: exit %d, %q", code, stderr)
	}
	if d := time.Since(t0); d > 30*time.Second {
		t.Errorf("the job took %v: the other rank ran on", d)
	}
}
