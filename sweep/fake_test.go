package sweep_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/sweep"
	"github.com/trainyard/trainyard/tracking"
)

var ctx = context.Background()

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeJobs is a job queue that starts nothing by itself: the test says
// when each job starts, what it reports and how it ends (exits, restarts,
// loses its node, ignores a stop). Those outcomes, in any order, are what
// these tests are about, and the real queue cannot produce them on demand;
// TestRealQueue runs the same service over the real dispatcher and real
// processes. Jobs and their runs live in the real store, so tags, configs,
// metrics and the search for a job after a crash are real.
type fakeJobs struct {
	store    *sqlite.Store
	onChange func(*trainyard.Job)

	mu        sync.Mutex
	n         int
	active    int
	maxActive int
	canceled  []string
	// beforeSubmit and afterSubmit, when set, run before a job is stored
	// and after (before Submit returns): a crash of the server there.
	beforeSubmit func()
	afterSubmit  func(j *trainyard.Job)
	crash        bool
}

func (f *fakeJobs) crashed() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.crash }

// crashHere marks the crash and ends the calling goroutine (the service's
// loop) where it is, holding what it holds, as a kill -9 would.
func (f *fakeJobs) crashHere() {
	f.mu.Lock()
	f.crash = true
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeJobs) Submit(ctx context.Context, spec trainyard.JobSpec) (*trainyard.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if f.beforeSubmit != nil {
		f.beforeSubmit()
	}
	f.mu.Lock()
	f.n++
	// The owner is the identity's user, as the dispatcher records it.
	j := &trainyard.Job{JobSpec: spec, ID: fmt.Sprintf("%s-j%03d", spec.Tags[trainyard.TagSweep], f.n), State: trainyard.StateQueued,
		SubmittedAt: t0, Owner: trainyard.OwnerFrom(ctx)}
	f.mu.Unlock()
	if err := f.store.CreateJob(ctx, j); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	hook := f.afterSubmit
	f.mu.Unlock()
	if hook != nil {
		hook(j)
	}
	f.changed(j)
	return j.Clone(), nil
}

func (f *fakeJobs) changed(j *trainyard.Job) {
	if f.onChange != nil {
		f.onChange(j.Clone())
	}
}

func (f *fakeJobs) CancelMany(ctx context.Context, ids []string) ([]*trainyard.Job, error) {
	var out []*trainyard.Job
	for _, id := range ids {
		j, err := f.store.Job(ctx, id)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.canceled = append(f.canceled, id)
		f.mu.Unlock()
		if !j.State.Terminal() {
			f.end(j, trainyard.StateCanceled, nil, "canceled")
		}
		out = append(out, j)
	}
	return out, nil
}

func (f *fakeJobs) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	return f.store.Job(ctx, id)
}

func (f *fakeJobs) Executor(ctx context.Context) (trainyard.ExecutorInfo, error) {
	return trainyard.ExecutorInfo{Kind: "fake", Nodes: []trainyard.Node{{Name: "n1", CPUs: 16, Memory: 64 << 30, GPUs: []int{0, 1, 2, 3}}}}, nil
}

func (f *fakeJobs) update(j *trainyard.Job) {
	if err := f.store.UpdateJobs(ctx, j); err != nil {
		panic(err)
	}
	f.changed(j)
}

func (f *fakeJobs) start(j *trainyard.Job) {
	j.State, j.StartedAt, j.BackendID = trainyard.StateRunning, t0, "pid-"+j.ID
	f.update(j)
}

func (f *fakeJobs) end(j *trainyard.Job, st trainyard.State, code *int, reason string) {
	j.State, j.ExitCode, j.Reason, j.EndedAt = st, code, reason, t0
	f.update(j)
	f.mu.Lock()
	f.active--
	f.mu.Unlock()
}

func (f *fakeJobs) exit(j *trainyard.Job, code int) {
	st := trainyard.StateSucceeded
	if code != 0 {
		st = trainyard.StateFailed
	}
	f.end(j, st, &code, fmt.Sprintf("exit code %d", code))
}

// lose records the job FAILED without an exit code, as the dispatcher
// does when a node (or the job's supervisor) vanished.
func (f *fakeJobs) lose(j *trainyard.Job) {
	f.end(j, trainyard.StateFailed, nil, "the node was lost")
}

// restart queues the job again after a failure, as the dispatcher does
// under max_restarts.
func (f *fakeJobs) restart(j *trainyard.Job) {
	j.Restarts++
	j.State, j.Reason = trainyard.StateQueued, fmt.Sprintf("restart %d of %d after exit code 1", j.Restarts, j.MaxRestarts)
	f.update(j)
}

// jobs lists the active jobs of a sweep, oldest first.
func (f *fakeJobs) jobs(t *testing.T, state trainyard.State) []*trainyard.Job {
	t.Helper()
	js, err := f.store.Jobs(ctx, trainyard.JobFilter{Active: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []*trainyard.Job
	for _, j := range js {
		if j.State == state {
			out = append(out, j)
		}
	}
	return out
}

// rig is a sweep service on a real store and tracking service, with a
// fake queue and a clock the test moves.
type rig struct {
	t        *testing.T
	dir      string
	store    *sqlite.Store
	jobs     *fakeJobs
	svc      *sweep.Service
	tracking *tracking.Service
	clk      *clock
	leading  *atomic.Bool // nil: the service always leads
	// authorize and audit are the service's Authorize (nil: everything
	// allowed) and Audit.
	authorize func(ctx context.Context, verb string, write bool, sw *trainyard.Sweep) error
	audit     func(ctx context.Context, action string, sw *trainyard.Sweep)
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: t0}}
	r.open()
	t.Cleanup(r.close)
	return r
}

// open opens the store and starts a service on it (again, after close:
// a restart of the server).
func (r *rig) open() {
	store, err := sqlite.Open(ctx, filepath.Join(r.dir, "db"), sqlite.Options{Sync: "NORMAL", Clock: r.clk.now})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = store
	r.jobs = &fakeJobs{store: store}
	n := 0
	r.svc = sweep.New(sweep.Config{Store: store, Jobs: r.jobs, Clock: r.clk.now, TickInterval: 2 * time.Millisecond,
		StopGrace: time.Minute, CheckpointDir: filepath.Join(r.dir, "ckpt"), Logger: testLogger(r.t),
		NewID: func() string { n++; return fmt.Sprintf("sw%d", n) }, Leading: r.leads(), Authorize: r.authorize, Audit: r.audit})
	r.jobs.onChange = r.svc.OnJob
	r.tracking = tracking.New(tracking.Config{Store: store, OnMetrics: r.svc.ObserveMetrics})
	if err := r.svc.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) leads() func() bool {
	if r.leading == nil {
		return nil
	}
	return r.leading.Load
}

func (r *rig) close() {
	if r.svc != nil {
		r.svc.Close()
		r.store.Close()
		r.svc = nil
	}
}

func (r *rig) create(spec string) *sweep.View {
	r.t.Helper()
	v, err := r.svc.Create(ctx, "sweep.yaml", []byte(spec))
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// report logs value at step to a run, through the tracking service as
// the API does (the sweep service hears it through its hook).
func (r *rig) report(runID string, step int, value float64) {
	r.t.Helper()
	sp := trainyard.SeriesPoints{Key: "loss", Steps: []int64{int64(step)}, Values: []float64{value}, Times: []int64{1}}
	if _, err := r.tracking.AppendMetrics(ctx, runID, "", []trainyard.SeriesPoints{sp}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) get(id string) *sweep.View {
	r.t.Helper()
	v, err := r.svc.Get(ctx, id)
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// eventually polls cond until it holds, failing after ten seconds.
func (r *rig) eventually(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitJob waits for a job of the sweep in state st and returns the oldest.
func (r *rig) waitJob(st trainyard.State) *trainyard.Job {
	r.t.Helper()
	var j *trainyard.Job
	r.eventually("a "+string(st)+" job", func() bool {
		js := r.jobs.jobs(r.t, st)
		if len(js) > 0 {
			j = js[0]
		}
		return j != nil
	})
	return j
}

func (r *rig) waitState(id string, st trainyard.SweepState) *sweep.View {
	r.t.Helper()
	var v *sweep.View
	r.eventually("sweep "+id+" "+string(st), func() bool {
		v = r.get(id)
		return v.State == st
	})
	return v
}

// runsOf lists the runs of one trial segment: a trial that ran twice
// would have two.
func (r *rig) runsOf(sweepID string, trial, segment int) []*trainyard.Run {
	r.t.Helper()
	tag := func(key string, value any) trainyard.RunClause {
		return trainyard.RunClause{Kind: trainyard.RunTag, Key: key, Op: "=", Str: fmt.Sprint(value)}
	}
	runs, _, err := r.store.SearchRuns(ctx, trainyard.RunSearch{View: trainyard.ViewAll,
		Filter: []trainyard.RunClause{tag(trainyard.TagSweep, sweepID), tag(trainyard.TagTrial, trial), tag(trainyard.TagSegment, segment)}})
	if err != nil {
		r.t.Fatal(err)
	}
	return runs
}

func trialStates(v *sweep.View) string {
	var out []string
	for _, t := range v.Trials {
		out = append(out, fmt.Sprintf("%d:%s", t.Number, t.State))
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

// testLogger logs warnings and errors into the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
