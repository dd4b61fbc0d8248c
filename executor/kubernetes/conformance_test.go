package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executortest"
)

// TestConformance_SimulatedPods runs the executor conformance suite on the
// test control plane. Pods are simulated by kwok: each task's Behaviour
// becomes KWOK_* variables in its environment, which kwok's stages read
// to end the pod with that exit code, after that long, or never
// (testdata/kwok-pod-stages.yaml). So the suite checks the executor's
// Jobs, its following of their state through the informers, signals as
// deletions, recovery by labels and cleanup — with RunsCommands false:
// no output and no real signals.
func TestConformance_SimulatedPods(t *testing.T) {
	executortest.Run(t, &harness{})
}

type harness struct{ n int }

func (h *harness) Caps() executortest.Caps {
	return executortest.Caps{RunsCommands: false, MaxNodes: 2, StartChecksProgram: false, Timeout: 90 * time.Second}
}

func (h *harness) New(t *testing.T) trainyard.Executor {
	return newExecutor(t, Config{KillGrace: time.Second})
}

func (h *harness) Task(t *testing.T, b executortest.Behaviour) trainyard.Task {
	h.n++
	dir := t.TempDir()
	procs := max(b.ProcsPerNode, 1)
	l := trainyard.LaunchNone
	if procs > 1 {
		l = trainyard.LaunchTorchrun
	}
	cmd := []string{"sh", "-c", executortest.Script(b)}
	env := []string{"TRAINYARD_RUN_ID=r" + strconv.Itoa(h.n), "KWOK_EXIT_CODE=" + strconv.Itoa(b.ExitCode)}
	if b.MissingProgram {
		// What `trainyard __launch` exits with when the program is missing.
		cmd, env[1] = []string{executortest.MissingProgram}, "KWOK_EXIT_CODE=127"
	}
	switch {
	case b.Forever:
		env = append(env, "KWOK_FOREVER=1")
	case b.RunFor > 0:
		env = append(env, "KWOK_RUN_FOR="+b.RunFor.String())
	}
	return trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: fmt.Sprintf("conf-%d-%d", time.Now().UnixNano()%1e9, h.n)},
		Command: cmd, Env: env, Launch: l, ProcsPerNode: procs, Nodes: max(b.Nodes, 1),
		Resources: trainyard.Resources{GPUs: 1, CPUs: 1, Memory: 1 << 30},
		LogPath:   filepath.Join(dir, "logs", "run.log"),
	}
}

func (h *harness) Log(t *testing.T, task trainyard.Task) string {
	b, _ := os.ReadFile(task.LogPath)
	return string(b)
}
