package slurm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/slurmtest"
	"github.com/trainyard/trainyard/launch"
)

// The tests run against a real Slurm: TestMain starts one with
// ../shared/slurm/local-cluster.sh (one slurmctld and clusterNodes slurmd
// "nodes" on this machine, each with 2 fake GPUs and 2 CPUs, no accounting
// database but a job completion log) in a temporary directory, and stops
// it when the tests end. It needs root and Debian's slurm-wlm and munge;
// when the cluster cannot start, every test fails, none is skipped.
//
// The test binary is also the launcher the nodes run: "TESTBINARY __launch
// ..." runs launch.Main, as "trainyard __launch" does in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "__launch" {
		os.Exit(launch.Main(os.Args[2:]))
	}
	code := func() int {
		c, err := slurmtest.Start(clusterNodes, 2, 2)
		if err != nil {
			clusterErr = err
		} else {
			cluster = c
			defer c.Stop()
		}
		return m.Run()
	}()
	os.Exit(code)
}

const clusterNodes = 3

var (
	cluster    *slurmtest.Cluster
	clusterErr error
)

// needCluster fails the test when the cluster did not start.
func needCluster(t testing.TB) *slurmtest.Cluster {
	t.Helper()
	if cluster == nil {
		t.Fatalf("no test Slurm cluster: %v", clusterErr)
	}
	return cluster
}

// newExecutor returns an Executor on the test cluster whose nodes run this
// test binary as the launcher.
func newExecutor(t testing.TB, change ...func(*Config)) *Executor {
	t.Helper()
	c := needCluster(t)
	cfg := Config{SlurmConf: c.Conf, Binary: os.Args[0], PollInterval: 200 * time.Millisecond, KillGrace: time.Second}
	for _, f := range change {
		f(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var taskSeq atomic.Int64

// testEnv goes into every task's environment: the test binary, built with
// -race, would sleep a second before exiting.
var testEnv = []string{"GORACE=atexit_sleep_ms=0"}

// newTask returns a task of the test running "sh -c script" in a fresh
// workdir with a log under it: 1 CPU and 64 MiB per node, no GPUs.
func newTask(t testing.TB, script string) trainyard.Task {
	dir := t.TempDir()
	return trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, taskSeq.Add(1))},
		Name:    t.Name(),
		Command: []string{"sh", "-c", script}, Workdir: dir, Env: append(os.Environ(), testEnv...),
		Launch: trainyard.LaunchNone, ProcsPerNode: 1, Nodes: 1,
		Resources: trainyard.Resources{CPUs: 1, Memory: 64 << 20},
		LogPath:   filepath.Join(dir, "logs", "run.log"),
	}
}

// timeout bounds each wait on the cluster: generous, as a loaded machine is
// slow; only a failing test reaches it.
const timeout = 2 * time.Minute

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

func startTask(t testing.TB, e *Executor, task trainyard.Task) trainyard.Handle {
	t.Helper()
	h, err := e.Start(testCtx(t), task)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { // before the workdir goes: the job writes there
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		e.Signal(ctx, h, trainyard.SIGKILL)
		e.Wait(ctx, h)
	})
	return h
}

func waitTask(t testing.TB, e *Executor, h trainyard.Handle, task trainyard.Task) trainyard.ExitStatus {
	t.Helper()
	st, err := e.Wait(testCtx(t), h)
	if err != nil {
		t.Fatalf("Wait: %v\nlog:\n%s", err, readLog(task.LogPath))
	}
	return st
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
