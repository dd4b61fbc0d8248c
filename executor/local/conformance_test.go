package local

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executortest"
)

// TestConformance runs the executor conformance suite on this machine.
func TestConformance(t *testing.T) {
	executortest.Run(t, &harness{stateDir: t.TempDir()})
}

type harness struct {
	stateDir string
	n        int
}

func (h *harness) Caps() executortest.Caps {
	return executortest.Caps{RunsCommands: true, MaxNodes: 1, StartChecksProgram: true, Timeout: timeout}
}

func (h *harness) New(t *testing.T) trainyard.Executor {
	e, err := New(Config{ShimCommand: []string{os.Args[0], "__shim"}, StateDir: h.stateDir,
		Node: trainyard.Node{Name: testNode, CPUs: 2, GPUs: []int{0, 1}}, KillGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
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
	if b.MissingProgram {
		cmd = []string{executortest.MissingProgram}
	}
	return trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: fmt.Sprintf("conf-%d-%d", time.Now().UnixNano(), h.n)},
		Command: cmd, Workdir: dir, Env: append(os.Environ(), shimEnv...),
		Launch: l, ProcsPerNode: procs, Nodes: max(b.Nodes, 1),
		Placement: []trainyard.Placement{{Node: testNode, GPUs: []int{0}}},
		LogPath:   filepath.Join(dir, "logs", "run.log"),
	}
}

func (h *harness) Log(t *testing.T, task trainyard.Task) string {
	b, _ := os.ReadFile(task.LogPath)
	return string(b)
}
