package slurm

import (
	"os"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executortest"
)

// TestConformance runs the executor conformance suite on the test Slurm
// cluster (see TestMain): real sbatch jobs of up to 3 nodes.
func TestConformance(t *testing.T) {
	t.Parallel()
	needCluster(t)
	executortest.Run(t, harness{})
}

type harness struct{}

func (harness) Caps() executortest.Caps {
	return executortest.Caps{RunsCommands: true, MaxNodes: clusterNodes, Timeout: timeout}
}

func (harness) New(t *testing.T) trainyard.Executor { return newExecutor(t) }

func (harness) Task(t *testing.T, b executortest.Behaviour) trainyard.Task {
	task := newTask(t, executortest.Script(b))
	if b.MissingProgram {
		task.Command = []string{executortest.MissingProgram}
	}
	task.Nodes = max(b.Nodes, 1)
	task.ProcsPerNode = max(b.ProcsPerNode, 1)
	if task.ProcsPerNode > 1 {
		task.Launch = trainyard.LaunchTorchrun
	}
	return task
}

func (harness) Log(t *testing.T, task trainyard.Task) string {
	b, _ := os.ReadFile(task.LogPath)
	return string(b)
}
