package dispatch_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
)

// flakyStore fails UpdateJobs while fail says so, as a full disk or a lost
// database connection would.
type flakyStore struct {
	trainyard.Store
	mu   sync.Mutex
	fail func(jobs []*trainyard.Job) bool
}

func (s *flakyStore) UpdateJobs(ctx context.Context, jobs ...*trainyard.Job) error {
	s.mu.Lock()
	f := s.fail
	s.mu.Unlock()
	if f != nil && f(jobs) {
		return errors.New("injected: database is unavailable")
	}
	return s.Store.UpdateJobs(ctx, jobs...)
}

func (s *flakyStore) set(f func(jobs []*trainyard.Job) bool) {
	s.mu.Lock()
	s.fail = f
	s.mu.Unlock()
}

// newFlakyRig is a rig whose dispatcher writes through a flakyStore.
func newFlakyRig(t *testing.T, m trainyard.Machine) (*rig, *flakyStore) {
	r := newRig(t, m)
	r.d.Close()
	fs := &flakyStore{Store: r.store}
	r.d = dispatch.New(dispatch.Config{
		Machine: m, ServerURL: "http://test", KillGrace: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: r.dir,
	}, fs, r.exec, r.logs)
	if err := r.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.d.Close)
	return r, fs
}

func starts(jobs []*trainyard.Job) bool {
	for _, j := range jobs {
		if j.Launched && j.Handle == "" {
			return true
		}
	}
	return false
}

// A start the store refuses to record must not happen: nothing runs until
// the record succeeds, and then the job runs once.
func TestNoStartWithoutARecord(t *testing.T) {
	r, fs := newFlakyRig(t, machine(0))
	fs.set(starts)
	marker := filepath.Join(r.dir, "ran")
	j := r.submit(sh("echo x >> " + marker))
	time.Sleep(300 * time.Millisecond) // several passes, each refused
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the job ran although its start was never recorded")
	}
	if got, _ := r.d.Job(ctx, j.ID); got.State != trainyard.StateQueued {
		t.Fatalf("job is %s, want QUEUED while its start cannot be recorded", got.State)
	}
	fs.set(nil)
	if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateSucceeded {
		t.Fatalf("job = %+v", got)
	}
	if b, _ := os.ReadFile(marker); string(b) != "x\n" {
		t.Errorf("the job ran %d times, want once", strings.Count(string(b), "x"))
	}
}

// When the handle of a started job cannot be recorded, the job still holds
// its GPUs: nothing else is given them, and the record is retried.
func TestUnrecordedHandleKeepsTheGPUs(t *testing.T) {
	r, fs := newFlakyRig(t, machine(1))
	fs.set(func(jobs []*trainyard.Job) bool {
		for _, j := range jobs {
			if j.Handle != "" && j.State == trainyard.StateRunning {
				return true
			}
		}
		return false
	})
	spec := sh("sleep 1")
	spec.Resources.GPUs = 1
	a := r.submit(spec)
	time.Sleep(200 * time.Millisecond)
	b := r.submit(spec)
	time.Sleep(300 * time.Millisecond)
	if got, _ := r.d.Job(ctx, b.ID); got.State != trainyard.StateQueued {
		t.Fatalf("job b is %s while a holds the only GPU", got.State)
	}
	fs.set(nil)
	ga := r.waitFor(a.ID, "end", ended)
	gb := r.waitFor(b.ID, "end", ended)
	if ga.State != trainyard.StateSucceeded || gb.State != trainyard.StateSucceeded {
		t.Fatalf("a = %+v\nb = %+v", ga, gb)
	}
	if !gb.StartedAt.After(ga.EndedAt.Add(-50 * time.Millisecond)) {
		t.Errorf("b started at %v, before a ended at %v: they shared the GPU", gb.StartedAt, ga.EndedAt)
	}
}

// A queued job's cancel that cannot be recorded leaves the job queued and
// says so; the job is not lost from the queue.
func TestCancelThatCannotBeRecorded(t *testing.T) {
	m := machine(0)
	m.CPUs = 1
	r, fs := newFlakyRig(t, m)
	blocker := r.submit(sh("sleep 60"))
	r.waitFor(blocker.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning })
	q := r.submit(sh("echo ran"))
	fs.set(func(jobs []*trainyard.Job) bool { return jobs[0].State == trainyard.StateCanceled })
	if _, err := r.d.Cancel(ctx, q.ID); err == nil {
		t.Fatal("Cancel reported success although nothing was recorded")
	}
	fs.set(nil)
	r.waitFor(q.ID, "still queued first", func(j *trainyard.Job) bool {
		return j.State == trainyard.StateQueued && j.QueuePosition == 1
	})
	r.d.Cancel(ctx, blocker.ID)
	if got := r.waitFor(q.ID, "end", ended); got.State != trainyard.StateSucceeded {
		t.Errorf("the job whose cancel failed = %+v, want it to run", got)
	}
}

// CancelMany takes every queued job out of the queue before any of them
// can start, even when it also stops the job they wait for.
func TestCancelManyIsAtomic(t *testing.T) {
	m := machine(0)
	m.CPUs = 1
	r := newRig(t, m)
	blocker := r.submit(sh("sleep 60"))
	r.waitFor(blocker.ID, "running", func(j *trainyard.Job) bool { return j.BackendID != "" })
	var ids []string
	for range 3 {
		ids = append(ids, r.submit(sh("echo ran")).ID)
	}
	js, err := r.d.CancelMany(ctx, append([]string{blocker.ID}, ids...))
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 4 {
		t.Fatalf("CancelMany returned %d jobs", len(js))
	}
	r.waitFor(blocker.ID, "canceled", ended)
	for _, id := range ids {
		if j := r.waitFor(id, "end", ended); j.State != trainyard.StateCanceled || !j.StartedAt.IsZero() {
			t.Errorf("job %s = %+v, want canceled without starting", id, j)
		}
		if l := r.log(id); l != "" {
			t.Errorf("job %s ran: %q", id, l)
		}
	}
	if _, err := r.d.CancelMany(ctx, []string{ids[0], "no-such-job"}); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Errorf("CancelMany with an unknown id = %v, want ENOTFOUND", err)
	}
}

// A plan made from a stale view is refused whole: a job changed by someone
// else (another server canceled it) is not started.
func TestStalePlanIsRefused(t *testing.T) {
	m := machine(0)
	m.CPUs = 1
	r := newRig(t, m)
	blocker := r.submit(sh("sleep 0.5"))
	r.waitFor(blocker.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning })
	q := r.submit(sh("echo ran"))
	// Someone else cancels q in the store behind this dispatcher's back.
	j, _ := r.store.Job(ctx, q.ID)
	j.State, j.Reason, j.EndedAt = trainyard.StateCanceled, "canceled elsewhere", time.Now()
	if err := r.store.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	r.waitFor(blocker.ID, "end", ended)
	time.Sleep(300 * time.Millisecond)
	if got, _ := r.store.Job(ctx, q.ID); got.State != trainyard.StateCanceled || r.log(q.ID) != "" {
		t.Errorf("q = %+v, log %q: a stale plan started it", got, r.log(q.ID))
	}
	// The dispatcher carries on.
	if got := r.waitFor(r.submit(sh("exit 0")).ID, "end", ended); got.State != trainyard.StateSucceeded {
		t.Errorf("a later job = %+v", got)
	}
}

// engine wraps the local executor as an engine that queues and places
// jobs itself: tasks wait ("pending") until the test lets them run. A fake
// engine is used here because this tests the dispatcher's hand-over and
// following; the Slurm and Kubernetes executors run the conformance suite
// and end-to-end tests against real engines.
type engine struct {
	*local.Executor
	node string
	mu   sync.Mutex
	open bool
	held map[trainyard.Handle]trainyard.Task
}

func (e *engine) Info(ctx context.Context) (trainyard.ExecutorInfo, error) {
	info, err := e.Executor.Info(ctx)
	info.Kind, info.Places = "engine", true
	return info, err
}

func (e *engine) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	if t.Placement != nil {
		return "", errors.New("an engine places tasks itself")
	}
	t.Placement = []trainyard.Placement{{Node: e.node}}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.open {
		h := trainyard.Handle("pending-" + t.JobID)
		e.held[h] = t
		return h, nil
	}
	return e.Executor.Start(ctx, t)
}

func (e *engine) Inspect(ctx context.Context, h trainyard.Handle) (trainyard.TaskStatus, error) {
	e.mu.Lock()
	_, pending := e.held[h]
	e.mu.Unlock()
	switch {
	case pending:
		return trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: "Resources", BackendID: "eng-1"}, nil
	case strings.HasPrefix(string(h), "pending-"):
		return trainyard.TaskStatus{Phase: trainyard.PhaseEnded, BackendID: "eng-1", Exit: trainyard.ExitStatus{Code: 143, Signal: "SIGTERM"}}, nil
	}
	return e.Executor.Inspect(ctx, h)
}

// Wait waits while the task is pending; a pending task that is signalled
// leaves the queue (ends with SIGTERM), as scancel does.
func (e *engine) Wait(ctx context.Context, h trainyard.Handle) (trainyard.ExitStatus, error) {
	for strings.HasPrefix(string(h), "pending-") {
		ts, _ := e.Inspect(ctx, h)
		if ts.Phase == trainyard.PhaseEnded {
			return ts.Exit, nil
		}
		select {
		case <-ctx.Done():
			return trainyard.ExitStatus{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return e.Executor.Wait(ctx, h)
}

func (e *engine) Signal(ctx context.Context, h trainyard.Handle, sig trainyard.Signal) error {
	if strings.HasPrefix(string(h), "pending-") {
		e.mu.Lock()
		delete(e.held, h)
		e.mu.Unlock()
		return nil
	}
	return e.Executor.Signal(ctx, h, sig)
}

func (e *engine) Cleanup(ctx context.Context, h trainyard.Handle) error {
	if strings.HasPrefix(string(h), "pending-") {
		return nil
	}
	return e.Executor.Cleanup(ctx, h)
}

func TestEngineHandOver(t *testing.T) {
	r := newRig(t, machine(0))
	r.d.Close()
	eng := &engine{Executor: r.exec, node: machine(0).Hostname, held: map[trainyard.Handle]trainyard.Task{}}
	r.d = dispatch.New(dispatch.Config{
		Machine: machine(0), ServerURL: "http://test", PollInterval: 50 * time.Millisecond,
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: r.dir,
	}, r.store, eng, r.logs)
	if err := r.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.d.Close)
	j := r.submit(sh("exit 0"))
	got := r.waitFor(j.ID, "the engine's reason and id", func(j *trainyard.Job) bool {
		return j.Reason == "engine: Resources" && j.BackendID != ""
	})
	if got.State != trainyard.StateQueued || got.BackendID != "eng-1" {
		t.Errorf("a job waiting in the engine = %+v, want QUEUED with the engine's id", got)
	}
	if _, err := r.d.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateCanceled {
		t.Errorf("a job canceled while it waited in the engine = %+v", got)
	}
}

// A job may reserve no CPU (--cpus 0): on a box with fewer cores than
// GPUs, GPU jobs then run side by side instead of waiting for a core.
func TestZeroCPUsReserveNone(t *testing.T) {
	m := machine(2)
	m.CPUs = 1
	r := newRig(t, m)
	spec := sh("sleep 1")
	spec.Resources = trainyard.Resources{GPUs: 1, CPUs: 0}
	a, b := r.submit(spec), r.submit(spec)
	r.waitFor(b.ID, "both to run at once", func(j *trainyard.Job) bool {
		ja, _ := r.d.Job(ctx, a.ID)
		return j.State == trainyard.StateRunning && ja.State == trainyard.StateRunning
	})
	r.waitFor(a.ID, "end", ended)
	r.waitFor(b.ID, "end", ended)
}

// blockedStart is an executor whose Start waits until the server shuts
// down, as a start caught by a shutdown does.
type blockedStart struct {
	*local.Executor
	entered chan struct{}
}

func (b *blockedStart) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	close(b.entered)
	<-ctx.Done()
	return "", ctx.Err()
}

// A job whose start is cut short by a shutdown is not failed: the next
// start finds it never ran and queues it again.
func TestShutdownDuringStart(t *testing.T) {
	r := newRig(t, machine(0))
	r.d.Close()
	b := &blockedStart{Executor: r.exec, entered: make(chan struct{})}
	r.d = dispatch.New(dispatch.Config{
		Machine: machine(0), ServerURL: "http://test",
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: r.dir,
	}, r.store, b, r.logs)
	if err := r.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	j := r.submit(sh("echo ran"))
	<-b.entered
	r.d.Close()
	if got, _ := r.store.Job(ctx, j.ID); got.State.Terminal() {
		t.Fatalf("a job caught by a shutdown while starting was recorded %s: %s", got.State, got.Reason)
	}
	r.start(machine(0))
	if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateSucceeded || r.log(j.ID) != "ran\n" {
		t.Errorf("after the restart the job = %+v, log %q", got, r.log(j.ID))
	}
}
