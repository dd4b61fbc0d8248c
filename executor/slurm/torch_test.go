package slurm

import (
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/torchenv"
)

// TestTorchDistributedAllReduce runs a real torch.distributed job (gloo, on
// CPUs) over 2 nodes × 2 ranks through Slurm: each rank all-reduces a
// tensor and checks the sum. PyTorch comes from `make deps-torch`.
func TestTorchDistributedAllReduce(t *testing.T) {
	t.Parallel()
	py := torchenv.Python(t)
	e := newExecutor(t)
	task := newTask(t, "")
	task.Command = []string{py, "-W", "ignore", torchenv.Script(t), "gloo"}
	task.Nodes, task.ProcsPerNode, task.Launch = 2, 2, trainyard.LaunchTorchrun
	task.Resources.Memory = 1 << 30
	h := startTask(t, e, task)
	st := waitTask(t, e, h, task)
	log := readLog(task.LogPath)
	if st.Code != 0 {
		t.Fatalf("the all-reduce job ended %+v; log:\n%s", st, log)
	}
	torchenv.CheckAllReduce(t, log, 2, 2)
}
