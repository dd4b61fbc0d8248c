package local

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// The test binary is its own shim, as the trainyard binary is in
// production: "TESTBINARY __shim ARGS..." runs ShimMain. "TESTBINARY
// __server STATEDIR WORKDIR" plays a server that starts one task, prints
// its handle and waits to be killed.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "__shim":
			os.Exit(ShimMain(os.Args[2:]))
		case "__server":
			os.Exit(fakeServer(os.Args[2], os.Args[3]))
		}
	}
	os.Exit(m.Run())
}

func fakeServer(stateDir, workdir string) int {
	e, err := New(Config{ShimCommand: []string{os.Args[0], "__shim"}, StateDir: stateDir, Node: trainyard.Node{Name: testNode}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := e.Start(context.Background(), trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: "restart"},
		Command: []string{"sh", "-c", untilGo + "; exit 7"},
		Nodes:   1, ProcsPerNode: 1, Launch: trainyard.LaunchNone,
		Placement: []trainyard.Placement{{Node: testNode}},
		Workdir:   workdir,
		Env:       append(os.Environ(), shimEnv...),
		LogPath:   filepath.Join(workdir, "job.log"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(h)
	select {} // until killed
}

// testNode is the name the tests give this machine.
const testNode = "node-0"

var ctx = context.Background()

// pidOf returns the job's process group of a handle.
func pidOf(t testing.TB, h trainyard.Handle) int {
	t.Helper()
	s, err := decodeHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	return s.PID
}

// inspect is Inspect in the shape the tests were first written for:
// whether the task is alive, and its exit status once it is not.
func inspect(e *Executor, h trainyard.Handle) (alive bool, st trainyard.ExitStatus, err error) {
	ts, err := e.Inspect(context.Background(), h)
	return ts.Phase == trainyard.PhaseRunning, ts.Exit, err
}

// untilGo is shell that waits for a file named "go" in the workdir, so that
// a test decides when a job ends.
const untilGo = "while [ ! -e go ]; do sleep 0.02; done"

// timeout bounds every wait in these tests: generous, as a loaded machine
// is slow, and only reached when a test fails.
const timeout = 30 * time.Second

// shimEnv goes into every task's environment, for the test binary that is
// the shim: built with -race, it would sleep a second before exiting.
var shimEnv = []string{"GORACE=atexit_sleep_ms=0"}

func newExecutor(t testing.TB, stateDir string) *Executor {
	t.Helper()
	e, err := New(Config{ShimCommand: []string{os.Args[0], "__shim"}, StateDir: stateDir, Node: trainyard.Node{Name: testNode}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// newTask returns a task running command in a fresh workdir, with the test's
// environment.
func newTask(t testing.TB, command ...string) trainyard.Task {
	t.Helper()
	dir := t.TempDir()
	return trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: "job-1"},
		Command: command,
		Nodes:   1, ProcsPerNode: 1, Launch: trainyard.LaunchNone,
		Placement: []trainyard.Placement{{Node: testNode}},
		Workdir:   dir,
		Env:       append(os.Environ(), shimEnv...),
		LogPath:   filepath.Join(dir, "logs", "job-1.log"),
	}
}

func start(t testing.TB, e *Executor, task trainyard.Task) trainyard.Handle {
	t.Helper()
	h, err := e.Start(context.Background(), task)
	if err != nil {
		t.Fatalf("Start(%q): %v", task.Command, err)
	}
	return h
}

func wait(t testing.TB, e *Executor, h trainyard.Handle) trainyard.ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := e.Wait(ctx, h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// kill ends a task that a test leaves running.
func kill(t testing.TB, e *Executor, h trainyard.Handle) {
	t.Helper()
	s, err := decodeHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Kill(-s.PID, syscall.SIGKILL)
	syscall.Kill(s.ShimPID, syscall.SIGKILL)
	e.Wait(context.Background(), h)
}

func release(t testing.TB, workdir string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(workdir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLog(t testing.TB, task trainyard.Task) string {
	t.Helper()
	b, err := os.ReadFile(task.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// groupMembers returns the processes of process group pgid that have not
// exited, from /proc.
func groupMembers(t testing.TB, pgid int) []int {
	return procs(t, func(state string, ppid, pgrp int) bool { return state != "Z" && pgrp == pgid })
}

// children returns the children of pid, zombies included, from /proc.
func children(t testing.TB, pid int) []int {
	return procs(t, func(state string, ppid, pgrp int) bool { return ppid == pid })
}

// procs returns the processes that match, by fields 3 to 5 of their
// /proc/PID/stat.
func procs(t testing.TB, match func(state string, ppid, pgrp int) bool) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		if match(f[0], ppid, pgrp) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// groupExistsNow reports whether process group pgid has any process,
// zombies included.
func groupExistsNow(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}

func firstLine(t testing.TB, r *bufio.Reader) string {
	t.Helper()
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(line)
}
