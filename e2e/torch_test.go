package e2e

import (
	"testing"

	"github.com/trainyard/trainyard/internal/torchenv"
)

// TestTorchDistributedOnThisMachine runs a real torch.distributed job
// (gloo, on CPUs) with 4 ranks through the local executor, as a user
// would: `trainyard run --launch torchrun --procs-per-node 4 -- python
// allreduce.py`. Every rank all-reduces a tensor and checks the sum.
// PyTorch comes from `make deps-torch`.
func TestTorchDistributedOnThisMachine(t *testing.T) {
	py := torchenv.Python(t)
	s := startServer(t)
	out, stderr, code := s.cli(t.TempDir(), "run", "--wait", "--name", "allreduce", "--launch", "torchrun", "--procs-per-node", "4",
		"--cpus", "0", "--", py, "-W", "ignore", torchenv.Script(t), "gloo")
	if code != 0 {
		t.Fatalf("run exited %d: %s\n%s", code, stderr, out)
	}
	torchenv.CheckAllReduce(t, out, 1, 4)
}
