// Package executortest is the conformance suite every trainyard.Executor
// passes, as storetest is for stores: the local executor, Slurm and
// Kubernetes run the same tests.
//
// Engines differ in what a test can make a task do. On this machine and on
// Slurm a task is a real shell command. On a Kubernetes control plane with
// simulated nodes (kwok) nothing executes: a pod's outcome is what the
// simulation is told. So tests describe what a task should do (a
// Behaviour) and each harness turns that into a task its engine will carry
// out — a shell script, or instructions to the simulator — and says which
// checks its engine can support (Caps).
package executortest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// Behaviour is what a test wants a task to do.
type Behaviour struct {
	// Output is printed by every rank, on one line, with the rank's
	// TRAINYARD_RANK appended (" rank=N"), when the engine runs commands.
	Output string
	// ExitCode is how each rank exits after Output (and after RunFor).
	ExitCode int
	// RunFor keeps the task running this long, or until signalled when
	// Forever is set.
	RunFor  time.Duration
	Forever bool
	// IgnoreTerm makes the task ignore SIGTERM (it ends only by SIGKILL).
	IgnoreTerm bool
	// Nodes and ProcsPerNode shape the task (0 counts as 1).
	Nodes, ProcsPerNode int
	// MissingProgram asks for a task whose program does not exist.
	MissingProgram bool
}

// Caps says what an engine lets the suite check.
type Caps struct {
	// RunsCommands is false for simulated nodes: no output, no real
	// signals (the simulator decides outcomes).
	RunsCommands bool
	// MaxNodes is the most nodes a task may span (1 for this machine).
	MaxNodes int
	// StartChecksProgram is true when Start itself refuses a task whose
	// program cannot run (EINVALID); on an engine the job fails later.
	StartChecksProgram bool
	// Timeout bounds each wait for the engine (a loaded machine is slow).
	Timeout time.Duration
}

// Harness makes executors and tasks for one engine.
type Harness interface {
	Caps() Caps
	// New returns an executor on the engine. Two executors from one
	// harness share the engine and its state, as a restarted server does.
	New(t *testing.T) trainyard.Executor
	// Task returns a task that does b, ready to Start: command, workdir,
	// environment, log path, resources, and a placement when the engine
	// does not place (attempt 0, a fresh job ID each call).
	Task(t *testing.T, b Behaviour) trainyard.Task
	// Log returns the run's log of the task so far ("" when none).
	Log(t *testing.T, task trainyard.Task) string
}

// Run runs the whole suite against h.
func Run(t *testing.T, h Harness) {
	c := h.Caps()
	if c.Timeout == 0 {
		c.Timeout = time.Minute
	}
	s := &suite{h: h, caps: c}
	t.Run("Info", s.testInfo)
	t.Run("ExitCodes", s.testExitCodes)
	t.Run("InspectWhileRunning", s.testInspect)
	t.Run("SignalTerm", s.testSignalTerm)
	t.Run("SignalKill", s.testSignalKill)
	t.Run("SignalAfterEnd", s.testSignalAfterEnd)
	t.Run("HandleAcrossRestart", s.testHandleAcrossRestart)
	t.Run("Recover", s.testRecover)
	t.Run("Cleanup", s.testCleanup)
	t.Run("BadHandle", s.testBadHandle)
	t.Run("SignalTermRightAfterStart", s.testSignalTermRightAfterStart)
	if c.RunsCommands {
		t.Run("Output", s.testOutput)
		t.Run("Ranks", s.testRanks)
	}
	if c.StartChecksProgram {
		t.Run("StartRefusesMissingProgram", s.testMissingProgram)
	} else {
		t.Run("MissingProgramFails", s.testMissingProgramFails)
	}
	if c.MaxNodes > 1 {
		t.Run("MultiNode", s.testMultiNode)
	}
}

type suite struct {
	h    Harness
	caps Caps
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.caps.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) start(t *testing.T, e trainyard.Executor, task trainyard.Task) trainyard.Handle {
	t.Helper()
	h, err := e.Start(s.ctx(t), task)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if h == "" {
		t.Fatal("Start returned an empty handle")
	}
	return h
}

func (s *suite) wait(t *testing.T, e trainyard.Executor, h trainyard.Handle) trainyard.ExitStatus {
	t.Helper()
	st, err := e.Wait(s.ctx(t), h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

// stop ends a task a test leaves running.
func (s *suite) stop(t *testing.T, e trainyard.Executor, h trainyard.Handle) {
	t.Cleanup(func() {
		ctx := context.Background()
		e.Signal(ctx, h, trainyard.SIGKILL)
		ctx, cancel := context.WithTimeout(ctx, s.caps.Timeout)
		defer cancel()
		e.Wait(ctx, h)
		e.Cleanup(ctx, h)
	})
}

// eventually polls cond until it holds or the timeout passes.
func (s *suite) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(s.caps.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *suite) phase(t *testing.T, e trainyard.Executor, h trainyard.Handle) trainyard.TaskStatus {
	t.Helper()
	ts, err := e.Inspect(s.ctx(t), h)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return ts
}

func (s *suite) testInfo(t *testing.T) {
	info, err := s.h.New(t).Info(s.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind == "" {
		t.Error("Info.Kind is empty")
	}
	if len(info.Nodes) == 0 {
		t.Fatal("Info.Nodes is empty: the scheduler and submit checks need the nodes")
	}
	for _, n := range info.Nodes {
		if n.Name == "" || n.CPUs <= 0 {
			t.Errorf("node %+v: want a name and CPUs", n)
		}
	}
}

func (s *suite) testExitCodes(t *testing.T) {
	e := s.h.New(t)
	for _, code := range []int{0, 3} {
		task := s.h.Task(t, Behaviour{Output: "done", ExitCode: code})
		h := s.start(t, e, task)
		st := s.wait(t, e, h)
		if st.Code != code || st.Lost {
			t.Errorf("exit %d: Wait = %+v, want code %d", code, st, code)
		}
		ts := s.phase(t, e, h)
		if ts.Phase != trainyard.PhaseEnded || ts.Exit.Code != code {
			t.Errorf("exit %d: Inspect after Wait = %+v, want ended with code %d", code, ts, code)
		}
		if err := e.Cleanup(s.ctx(t), h); err != nil {
			t.Errorf("Cleanup: %v", err)
		}
	}
}

func (s *suite) testInspect(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{Forever: true}))
	s.stop(t, e, h)
	s.eventually(t, "the task running", func() bool { return s.phase(t, e, h).Phase == trainyard.PhaseRunning })
	ts := s.phase(t, e, h)
	if ts.BackendID == "" {
		t.Error("a running task has no BackendID")
	}
	if len(ts.Nodes) == 0 {
		t.Error("a running task names no nodes")
	}
}

func (s *suite) testSignalTerm(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{Forever: true}))
	s.stop(t, e, h)
	s.eventually(t, "the task running", func() bool { return s.phase(t, e, h).Phase == trainyard.PhaseRunning })
	if err := e.Signal(s.ctx(t), h, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st := s.wait(t, e, h)
	if st.Code == 0 || st.Lost {
		t.Errorf("Wait after SIGTERM = %+v, want a failure code (143 or the engine's)", st)
	}
	if s.caps.RunsCommands && (st.Code != 143 || st.Signal != "SIGTERM") {
		t.Errorf("Wait after SIGTERM = %+v, want code 143 by SIGTERM", st)
	}
}

// testSignalTermRightAfterStart: SIGTERM sent as soon as Start returns,
// before the engine may have started any process, still ends the task
// (an engine that signals only processes that exist would lose it).
func (s *suite) testSignalTermRightAfterStart(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{Forever: true}))
	s.stop(t, e, h)
	if err := e.Signal(s.ctx(t), h, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := s.wait(t, e, h); st.Code == 0 || st.Lost {
		t.Errorf("Wait after an early SIGTERM = %+v, want a failure code", st)
	}
}

func (s *suite) testSignalKill(t *testing.T) {
	if !s.caps.RunsCommands {
		t.Skip("simulated nodes run no process that could ignore SIGTERM")
	}
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{Forever: true, IgnoreTerm: true}))
	s.stop(t, e, h)
	s.eventually(t, "the task running", func() bool { return s.phase(t, e, h).Phase == trainyard.PhaseRunning })
	time.Sleep(200 * time.Millisecond) // let the trap be set
	if err := e.Signal(s.ctx(t), h, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ph := s.phase(t, e, h).Phase; ph != trainyard.PhaseRunning {
		t.Fatalf("a task that ignores SIGTERM is %s after it", ph)
	}
	if err := e.Signal(s.ctx(t), h, trainyard.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := s.wait(t, e, h); st.Code != 137 || st.Signal != "SIGKILL" {
		t.Errorf("Wait after SIGKILL = %+v, want 137 by SIGKILL", st)
	}
}

func (s *suite) testSignalAfterEnd(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{}))
	s.wait(t, e, h)
	for _, sig := range []trainyard.Signal{trainyard.SIGTERM, trainyard.SIGKILL} {
		if err := e.Signal(s.ctx(t), h, sig); err != nil {
			t.Errorf("Signal(%s) after the end = %v, want nil", sig, err)
		}
	}
}

func (s *suite) testHandleAcrossRestart(t *testing.T) {
	a := s.h.New(t)
	task := s.h.Task(t, Behaviour{RunFor: 2 * time.Second, ExitCode: 7})
	h := s.start(t, a, task)
	b := s.h.New(t) // a restarted server: same engine, nothing in memory
	if st := s.wait(t, b, h); st.Code != 7 {
		t.Errorf("Wait through a new executor = %+v, want code 7", st)
	}
}

func (s *suite) testRecover(t *testing.T) {
	a := s.h.New(t)
	task := s.h.Task(t, Behaviour{Forever: true})
	h := s.start(t, a, task)
	s.stop(t, a, h)
	b := s.h.New(t)
	got, err := b.Recover(s.ctx(t), task.TaskRef)
	if err != nil {
		t.Fatalf("Recover of a started task: %v", err)
	}
	// The recovered handle reaches the same task.
	if err := b.Signal(s.ctx(t), got, trainyard.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if st := s.wait(t, a, h); st.Code == 0 {
		t.Errorf("the task survived a SIGKILL through the recovered handle: %+v", st)
	}
	other := task.TaskRef
	other.Attempt++
	if _, err := b.Recover(s.ctx(t), other); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Errorf("Recover of an attempt never started = %v, want ENOTFOUND", err)
	}
	if _, err := b.Recover(s.ctx(t), trainyard.TaskRef{JobID: "no-such-job-" + strings.ToLower(t.Name()[:4])}); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Errorf("Recover of an unknown job = %v, want ENOTFOUND", err)
	}
}

func (s *suite) testCleanup(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{Forever: true}))
	s.stop(t, e, h)
	s.eventually(t, "the task running", func() bool { return s.phase(t, e, h).Phase == trainyard.PhaseRunning })
	if err := e.Cleanup(s.ctx(t), h); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Errorf("Cleanup while running = %v, want ECONFLICT", err)
	}
	e.Signal(s.ctx(t), h, trainyard.SIGKILL)
	s.wait(t, e, h)
	for range 2 {
		if err := e.Cleanup(s.ctx(t), h); err != nil {
			t.Errorf("Cleanup = %v", err)
		}
	}
}

func (s *suite) testBadHandle(t *testing.T) {
	e := s.h.New(t)
	for _, h := range []trainyard.Handle{"", "{", "not a handle"} {
		if _, err := e.Inspect(s.ctx(t), h); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Inspect(%q) = %v, want EINVALID", h, err)
		}
		if _, err := e.Wait(s.ctx(t), h); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Wait(%q) = %v, want EINVALID", h, err)
		}
		if err := e.Signal(s.ctx(t), h, trainyard.SIGTERM); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Signal(%q) = %v, want EINVALID", h, err)
		}
	}
}

func (s *suite) testOutput(t *testing.T) {
	e := s.h.New(t)
	task := s.h.Task(t, Behaviour{Output: "hello from the task"})
	s.wait(t, e, s.start(t, e, task))
	s.eventually(t, "the output in the run's log", func() bool {
		return strings.Contains(s.h.Log(t, task), "hello from the task rank=0")
	})
}

func (s *suite) testRanks(t *testing.T) {
	e := s.h.New(t)
	task := s.h.Task(t, Behaviour{Output: "hi", ProcsPerNode: 3})
	if st := s.wait(t, e, s.start(t, e, task)); st.Code != 0 {
		t.Fatalf("a 3-rank task ended %+v; log:\n%s", st, s.h.Log(t, task))
	}
	s.eventually(t, "every rank's prefixed output", func() bool {
		log := s.h.Log(t, task)
		for r := range 3 {
			n := string(rune('0' + r))
			if !strings.Contains(log, "[rank "+n+"] hi rank="+n+"\n") {
				return false
			}
		}
		return true
	})
	// The first rank to fail fails the task, and the others are stopped.
	task = s.h.Task(t, Behaviour{ProcsPerNode: 2, ExitCode: 6})
	if st := s.wait(t, e, s.start(t, e, task)); st.Code != 6 || !strings.Contains(st.Reason, "exited with code 6") {
		t.Errorf("a 2-rank task whose ranks exit 6 ended %+v, want code 6 and the rank named", st)
	}
}

func (s *suite) testMissingProgram(t *testing.T) {
	e := s.h.New(t)
	task := s.h.Task(t, Behaviour{MissingProgram: true})
	if _, err := e.Start(s.ctx(t), task); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Errorf("Start of a missing program = %v, want EINVALID", err)
	}
}

func (s *suite) testMissingProgramFails(t *testing.T) {
	e := s.h.New(t)
	h := s.start(t, e, s.h.Task(t, Behaviour{MissingProgram: true}))
	if st := s.wait(t, e, h); st.Code == 0 {
		t.Errorf("a task whose program is missing ended %+v, want a failure", st)
	}
}

func (s *suite) testMultiNode(t *testing.T) {
	e := s.h.New(t)
	task := s.h.Task(t, Behaviour{Output: "hello", Nodes: 2, ProcsPerNode: 2})
	h := s.start(t, e, task)
	if st := s.wait(t, e, h); st.Code != 0 {
		t.Fatalf("a 2-node task ended %+v", st)
	}
	if s.caps.RunsCommands {
		s.eventually(t, "every rank's output", func() bool {
			log := s.h.Log(t, task)
			for r := range 4 {
				if !strings.Contains(log, "hello rank="+string(rune('0'+r))) {
					return false
				}
			}
			return true
		})
	}
	// One failing rank fails the task, with that rank's code (not, say,
	// the 143 of the ranks the engine then stopped).
	task = s.h.Task(t, Behaviour{Nodes: 2, ExitCode: 5})
	h = s.start(t, e, task)
	if st := s.wait(t, e, h); st.Code == 0 || s.caps.RunsCommands && st.Code != 5 {
		t.Errorf("a 2-node task whose ranks exit 5 ended %+v, want code 5", st)
	}
}
