// Package dispatch runs the job queue of one machine. It keeps the queue in
// memory (mirrored durably in the store), asks package sched what to start
// whenever something changes, starts jobs on an executor with the GPUs sched
// chose, and records how each ended.
//
//	Submit ─▶ store (QUEUED) ─▶ kick ─▶ loop: sched.Schedule(snapshot)
//	                                        │ Starts: store (RUNNING) ─▶ executor.Start ─▶ store (pid, handle)
//	                                        │ Waits: reasons shown by Jobs/Job
//	executor.Wait ─▶ exits ─▶ loop: SUCCEEDED / FAILED / CANCELED, or QUEUED again (max_restarts)
//
// Jobs outlive the server: stopping it leaves them running, and Start
// re-attaches to them (or records how they ended while it was away) before
// scheduling anything.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// Logs is where job output goes.
type Logs interface {
	Path(runID string) string
	Append(runID string, data []byte) error
}

// Config wires a Dispatcher. Zero fields take the defaults documented here.
type Config struct {
	Machine        trainyard.Machine
	BackfillWindow time.Duration // default sched.DefaultBackfillWindow
	KillGrace      time.Duration // SIGTERM → SIGKILL on cancel; default 10s
	ServerURL      string        // given to jobs as TRAINYARD_URL
	BaseEnv        []string      // every job's environment starts here; default os.Environ()
	DefaultWorkdir string        // for jobs that name none; default the home directory
	CheckWorkdir   bool          // refuse at submit a workdir that does not exist here
	// ExtraEnv adds variables for a job (after its own env), e.g. for the
	// MLflow-compatible API.
	ExtraEnv func(j *trainyard.Job) []string
	Clock    trainyard.Clock  // default time.Now
	NewID    trainyard.IDFunc // default trainyard.NewID
	Logger   *slog.Logger
}

// Dispatcher implements trainyard.JobService.
type Dispatcher struct {
	cfg   Config
	store trainyard.Store
	exec  trainyard.Executor
	logs  Logs

	mu      sync.Mutex
	queued  map[string]*trainyard.Job
	running map[string]*active
	waits   map[string]sched.Wait

	kick   chan struct{}
	exits  chan exitEvent
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ trainyard.JobService = (*Dispatcher)(nil)

type active struct {
	job      *trainyard.Job
	handle   trainyard.Handle
	started  bool // handle is set
	canceled bool
	killed   bool // SIGKILL sent after the grace period
	timer    *time.Timer
}

// remover is an executor that keeps per-task state (exit files) until told
// the status is safely recorded.
type remover interface {
	Remove(h trainyard.Handle) error
}

type exitEvent struct {
	id     string
	status trainyard.ExitStatus
	err    error
}

// New returns a Dispatcher; call Start to recover and begin scheduling.
func New(cfg Config, store trainyard.Store, exec trainyard.Executor, logs Logs) *Dispatcher {
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = 10 * time.Second
	}
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = os.Environ()
	}
	if cfg.DefaultWorkdir == "" {
		cfg.DefaultWorkdir, _ = os.UserHomeDir()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = trainyard.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Dispatcher{
		cfg: cfg, store: store, exec: exec, logs: logs,
		queued: map[string]*trainyard.Job{}, running: map[string]*active{}, waits: map[string]sched.Wait{},
		kick: make(chan struct{}, 1), exits: make(chan exitEvent, 64),
	}
}

// Start re-attaches to jobs that were running when the server last stopped,
// reloads the queue and starts the scheduling loop.
func (d *Dispatcher) Start(ctx context.Context) error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	jobs, err := d.store.Jobs(ctx, trainyard.JobFilter{Active: true})
	if err != nil {
		return fmt.Errorf("load active jobs: %w", err)
	}
	var ended []exitEvent
	for _, j := range jobs {
		switch j.State {
		case trainyard.StateQueued:
			d.queued[j.ID] = j
		case trainyard.StateRunning:
			a := &active{job: j, handle: trainyard.Handle{PID: j.PID, State: j.Handle}, started: j.Handle != ""}
			d.running[j.ID] = a
			if !a.started {
				a.handle, a.started = d.lookup(ctx, j)
			}
			if !a.started {
				ended = append(ended, exitEvent{id: j.ID, status: trainyard.ExitStatus{Lost: true},
					err: fmt.Errorf("the server stopped while starting the job")})
				continue
			}
			alive, st, err := d.exec.Inspect(a.handle)
			switch {
			case err != nil:
				ended = append(ended, exitEvent{id: j.ID, status: trainyard.ExitStatus{Lost: true}, err: fmt.Errorf("cannot re-attach: %w", err)})
			case alive:
				d.cfg.Logger.Info("re-attached to running job", "job", j.ID, "pid", j.PID)
				d.watch(j.ID, a.handle)
			default:
				if st.Lost {
					ended = append(ended, exitEvent{id: j.ID, status: st, err: fmt.Errorf("the job's process was gone, without an exit status, when the server restarted")})
				} else {
					ended = append(ended, exitEvent{id: j.ID, status: st})
				}
			}
		}
	}
	for _, ev := range ended {
		d.finish(ev)
	}
	d.wg.Add(1)
	go d.loop()
	d.poke()
	return nil
}

// lookup finds the task of a job that was recorded RUNNING but whose
// handle was not (the server died in between), when the executor can.
func (d *Dispatcher) lookup(ctx context.Context, j *trainyard.Job) (trainyard.Handle, bool) {
	l, ok := d.exec.(interface {
		Lookup(jobID string) ([]trainyard.Handle, error)
	})
	if !ok {
		return trainyard.Handle{}, false
	}
	hs, err := l.Lookup(j.ID)
	if err != nil || len(hs) == 0 {
		return trainyard.Handle{}, false
	}
	h := hs[0]
	for _, c := range hs { // prefer a live one
		if alive, _, _ := d.exec.Inspect(c); alive {
			h = c
		}
	}
	j.PID, j.Handle = h.PID, h.State
	if err := d.store.UpdateJob(ctx, j); err != nil {
		d.cfg.Logger.Error("record recovered handle", "job", j.ID, "err", err)
	}
	d.cfg.Logger.Info("found the task of a job whose start was not recorded", "job", j.ID, "pid", h.PID)
	return h, true
}

// Close stops scheduling. Running jobs keep running; the next Start
// re-attaches to them.
func (d *Dispatcher) Close() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	for _, a := range d.running {
		if a.timer != nil {
			a.timer.Stop()
		}
	}
	d.mu.Unlock()
}

func (d *Dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) loop() {
	defer d.wg.Done()
	tick := time.NewTicker(time.Second) // ages waiting jobs and refreshes reasons
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case ev := <-d.exits:
			d.finish(ev)
		case <-d.kick:
		case <-tick.C:
		}
		d.schedule()
	}
}

// schedule asks sched what to start and starts it, until nothing more
// starts; the last pass leaves wait reasons that count the jobs just
// started.
func (d *Dispatcher) schedule() {
	for i := 0; i < 8 && d.schedulePass() > 0; i++ {
	}
}

func (d *Dispatcher) schedulePass() int {
	now := d.cfg.Clock()
	d.mu.Lock()
	snap := sched.Snapshot{Now: now, Capacity: d.cfg.Machine.Capacity()}
	for _, g := range d.cfg.Machine.GPUs {
		snap.GPUs = append(snap.GPUs, g.Index)
	}
	for _, a := range d.running {
		snap.Running = append(snap.Running, sched.Running{ID: a.job.ID, Request: a.job.Resources, GPUs: a.job.GPUs})
	}
	for _, j := range d.queued {
		snap.Queue = append(snap.Queue, sched.Pending{ID: j.ID, Request: j.Resources, Priority: j.Priority, Submitted: j.SubmittedAt})
	}
	dec := sched.Schedule(sched.Config{BackfillWindow: d.cfg.BackfillWindow}, snap)
	d.waits = make(map[string]sched.Wait, len(dec.Waits))
	for _, w := range dec.Waits {
		d.waits[w.ID] = w
	}
	var starts []*active
	for _, s := range dec.Starts {
		j := d.queued[s.ID]
		delete(d.queued, s.ID)
		j.State, j.GPUs, j.StartedAt, j.Reason, j.ExitCode = trainyard.StateRunning, s.GPUs, now, "", nil
		a := &active{job: j}
		d.running[j.ID] = a
		starts = append(starts, a)
	}
	d.mu.Unlock()
	for _, a := range starts {
		d.launch(a)
	}
	return len(starts)
}

// launch records a job as RUNNING, then starts its process. The record
// comes first: if the server dies in between, recovery marks the job
// FAILED instead of starting it twice.
func (d *Dispatcher) launch(a *active) {
	d.mu.Lock()
	j := a.job
	snapshot := *j
	d.mu.Unlock()
	if err := d.store.UpdateJob(d.ctx, &snapshot); err != nil {
		d.cfg.Logger.Error("record job start", "job", j.ID, "err", err)
	}
	task := trainyard.Task{
		JobID:   j.ID,
		Command: j.Command,
		Workdir: d.workdir(j),
		Env:     d.env(j),
		LogPath: d.logs.Path(j.ID),
	}
	h, err := d.exec.Start(d.ctx, task)
	if err != nil {
		d.cfg.Logger.Info("job did not start", "job", j.ID, "err", err)
		// launch runs on the loop goroutine, which also drains exits: record
		// the failure here rather than send it to ourselves.
		d.finish(exitEvent{id: j.ID, status: trainyard.ExitStatus{Lost: true}, err: fmt.Errorf("could not start: %s", trainyard.ErrorMessage(err))})
		return
	}
	d.mu.Lock()
	a.handle, a.started = h, true
	j.PID, j.Handle = h.PID, h.State
	snapshot = *j
	canceled := a.canceled
	d.mu.Unlock()
	if err := d.store.UpdateJob(d.ctx, &snapshot); err != nil {
		d.cfg.Logger.Error("record job pid", "job", j.ID, "err", err)
	}
	if canceled { // canceled while starting
		d.signal(a)
	}
	d.watch(j.ID, h)
}

func (d *Dispatcher) watch(id string, h trainyard.Handle) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		st, err := d.exec.Wait(d.ctx, h)
		if d.ctx.Err() != nil {
			return // shutting down: the job keeps running
		}
		select {
		case d.exits <- exitEvent{id: id, status: st, err: err}:
		case <-d.ctx.Done(): // shutting down: the next start reads the exit file
		}
	}()
}

// finish records how a job's process ended, or queues it again.
func (d *Dispatcher) finish(ev exitEvent) {
	now := d.cfg.Clock()
	d.mu.Lock()
	a, ok := d.running[ev.id]
	if !ok {
		d.mu.Unlock()
		return
	}
	delete(d.running, ev.id)
	if a.timer != nil {
		a.timer.Stop()
	}
	j := a.job
	st := ev.status
	j.ExitCode = nil
	if !st.Lost && ev.err == nil {
		c := st.Code
		j.ExitCode = &c
	}
	j.PID, j.Handle = 0, ""
	var marker string
	switch {
	case a.canceled:
		j.State, j.Reason = trainyard.StateCanceled, "canceled"
		if a.killed {
			j.Reason = fmt.Sprintf("canceled; killed with SIGKILL after ignoring SIGTERM for %s", d.cfg.KillGrace)
		}
	case ev.err != nil:
		j.State, j.Reason = trainyard.StateFailed, ev.err.Error()
	case st.Lost:
		j.State, j.Reason = trainyard.StateFailed, "the job's process ended without an exit status (its supervisor was killed)"
	case st.Code == 0:
		j.State, j.Reason = trainyard.StateSucceeded, ""
	case j.Restarts < j.MaxRestarts:
		j.Restarts++
		j.State, j.GPUs = trainyard.StateQueued, nil
		j.Reason = fmt.Sprintf("restart %d of %d after %s", j.Restarts, j.MaxRestarts, describeExit(st))
		marker = fmt.Sprintf("\n[trainyard] %s\n", j.Reason)
		d.queued[j.ID] = j
	default:
		j.State, j.Reason = trainyard.StateFailed, describeExit(st)
	}
	if j.State.Terminal() {
		j.EndedAt = now
	}
	snapshot := *j
	d.mu.Unlock()
	if marker != "" {
		if err := d.logs.Append(j.ID, []byte(marker)); err != nil {
			d.cfg.Logger.Error("write restart marker", "job", j.ID, "err", err)
		}
	}
	if err := d.store.UpdateJob(context.Background(), &snapshot); err != nil {
		d.cfg.Logger.Error("record job end", "job", j.ID, "err", err)
	} else if r, ok := d.exec.(remover); ok && a.started {
		// The status is stored: the executor may forget the task.
		if err := r.Remove(a.handle); err != nil {
			d.cfg.Logger.Warn("remove task state", "job", j.ID, "err", err)
		}
	}
	d.cfg.Logger.Info("job ended", "job", j.ID, "state", snapshot.State, "reason", snapshot.Reason)
}

func describeExit(st trainyard.ExitStatus) string {
	if st.Signal != "" {
		s := fmt.Sprintf("killed by %s", st.Signal)
		if st.Signal == "SIGKILL" {
			s += " (out of memory?)"
		}
		return s
	}
	return fmt.Sprintf("exit code %d", st.Code)
}

// Submit validates and queues a job.
func (d *Dispatcher) Submit(ctx context.Context, spec trainyard.JobSpec) (*trainyard.Job, error) {
	spec.Normalize()
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.Workdir != "" {
		if !filepath.IsAbs(spec.Workdir) {
			return nil, trainyard.FieldError("workdir", "%q must be an absolute path", spec.Workdir)
		}
		if d.cfg.CheckWorkdir {
			if st, err := os.Stat(spec.Workdir); err != nil || !st.IsDir() {
				return nil, trainyard.FieldError("workdir", "%q is not a directory on %s", spec.Workdir, d.cfg.Machine.Hostname)
			}
		}
	}
	if err := sched.Satisfiable(d.cfg.Machine.Capacity(), spec.Resources); err != nil {
		return nil, err
	}
	now := d.cfg.Clock().UTC().Truncate(time.Microsecond)
	var j *trainyard.Job
	for attempt := 0; ; attempt++ {
		j = &trainyard.Job{JobSpec: spec, ID: d.cfg.NewID(), State: trainyard.StateQueued, SubmittedAt: now}
		err := d.store.CreateJob(ctx, j)
		if err == nil {
			break
		}
		if !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return nil, err
		}
	}
	d.mu.Lock()
	cp := *j
	d.queued[j.ID] = &cp
	d.mu.Unlock()
	d.poke()
	return j, nil
}

// Cancel stops a job.
func (d *Dispatcher) Cancel(ctx context.Context, id string) (*trainyard.Job, error) {
	now := d.cfg.Clock().UTC().Truncate(time.Microsecond)
	d.mu.Lock()
	if j, ok := d.queued[id]; ok {
		delete(d.queued, id)
		delete(d.waits, id)
		j.State, j.Reason, j.EndedAt = trainyard.StateCanceled, "canceled while queued", now
		snapshot := *j
		d.mu.Unlock()
		if err := d.store.UpdateJob(ctx, &snapshot); err != nil {
			return nil, err
		}
		d.poke()
		return &snapshot, nil
	}
	if a, ok := d.running[id]; ok {
		if !a.canceled {
			a.canceled = true
			a.job.Reason = "canceling: sent SIGTERM"
			if a.started {
				d.mu.Unlock()
				d.signal(a)
				d.mu.Lock()
			}
		}
		snapshot := *a.job
		d.mu.Unlock()
		return &snapshot, nil
	}
	d.mu.Unlock()
	j, err := d.store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State.Terminal() {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "job %s already finished (%s)", id, j.State)
	}
	return nil, trainyard.Errorf(trainyard.ECONFLICT, "job %s is %s and cannot be canceled now; try again", id, j.State)
}

// signal sends SIGTERM and arms SIGKILL after the grace period.
func (d *Dispatcher) signal(a *active) {
	if err := d.exec.Signal(a.handle, syscall.SIGTERM); err != nil {
		d.cfg.Logger.Error("signal job", "job", a.job.ID, "err", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a.timer = time.AfterFunc(d.cfg.KillGrace, func() {
		d.mu.Lock()
		a.killed = true
		d.mu.Unlock()
		if err := d.exec.Signal(a.handle, syscall.SIGKILL); err != nil {
			d.cfg.Logger.Error("kill job", "job", a.job.ID, "err", err)
		}
	})
}

// Job returns a job with its wait reason.
func (d *Dispatcher) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	j, err := d.store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	d.overlay([]*trainyard.Job{j})
	return j, nil
}

// Jobs lists jobs with wait reasons and queue positions.
func (d *Dispatcher) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	js, err := d.store.Jobs(ctx, f)
	if err != nil {
		return nil, err
	}
	d.overlay(js)
	if f.Active {
		sort.SliceStable(js, func(a, b int) bool {
			pa, pb := js[a].QueuePosition, js[b].QueuePosition
			if (pa == 0) != (pb == 0) {
				return pa == 0 // running first, then the queue in order
			}
			return pa < pb
		})
	}
	return js, nil
}

func (d *Dispatcher) overlay(js []*trainyard.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range js {
		if j.State == trainyard.StateQueued {
			if w, ok := d.waits[j.ID]; ok {
				j.Reason, j.QueuePosition = w.Reason, w.Position
			} else if q, ok := d.queued[j.ID]; ok && q.Reason != "" {
				j.Reason = q.Reason
			}
		}
		if a, ok := d.running[j.ID]; ok && a.canceled && j.State == trainyard.StateRunning {
			j.Reason = a.job.Reason
		}
	}
}

// Machine describes this machine.
func (d *Dispatcher) Machine() trainyard.Machine { return d.cfg.Machine }

func (d *Dispatcher) workdir(j *trainyard.Job) string {
	if j.Workdir != "" {
		return j.Workdir
	}
	return d.cfg.DefaultWorkdir
}

// env builds a job's environment: the base, then the job's own variables,
// then what trainyard guarantees (which the job cannot override).
func (d *Dispatcher) env(j *trainyard.Job) []string {
	m := map[string]string{}
	for _, kv := range d.cfg.BaseEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	for k, v := range j.Env {
		m[k] = v
	}
	if _, ok := j.Env["OMP_NUM_THREADS"]; !ok && j.Resources.CPUs > 0 {
		m["OMP_NUM_THREADS"] = strconv.Itoa(j.Resources.CPUs)
	}
	gpus := make([]string, len(j.GPUs))
	for i, g := range j.GPUs {
		gpus[i] = strconv.Itoa(g)
	}
	m["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID" // CUDA numbers GPUs as nvidia-smi does
	m["CUDA_VISIBLE_DEVICES"] = strings.Join(gpus, ",")
	if len(gpus) == 0 {
		m["NVIDIA_VISIBLE_DEVICES"] = "void"
	} else {
		m["NVIDIA_VISIBLE_DEVICES"] = strings.Join(gpus, ",")
	}
	m["TRAINYARD_URL"] = d.cfg.ServerURL
	m["TRAINYARD_RUN_ID"] = j.ID
	m["TRAINYARD_JOB_ID"] = j.ID
	m["TRAINYARD_PROJECT"] = j.Project
	if d.cfg.ExtraEnv != nil {
		for _, kv := range d.cfg.ExtraEnv(j) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				m[k] = v
			}
		}
	}
	out := make([]string, 0, len(m))
	for _, k := range trainyard.SortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}
