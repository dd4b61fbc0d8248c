package dispatch

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// schedule plans and launches until nothing more starts; the last pass
// leaves wait reasons that count the jobs just started.
func (d *Dispatcher) schedule() {
	for i := 0; i < 8 && d.schedulePass() > 0; i++ {
	}
}

// schedulePass makes one plan from the current view, applies it to the
// store with compare-and-set, and launches what it started. It returns how
// many jobs it launched.
func (d *Dispatcher) schedulePass() int {
	now := d.cfg.Clock()
	d.mu.Lock()
	var starts []sched.Start
	if d.info.Places {
		starts = d.handOver()
	} else {
		starts = d.plan(now)
	}
	if len(starts) == 0 {
		d.mu.Unlock()
		return 0
	}
	launched, err := d.apply(starts, now)
	d.mu.Unlock()
	if err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			d.cfg.Logger.Info("a plan was stale; planning again", "err", err)
			d.reload()
			return 1 // plan again at once
		}
		d.cfg.Logger.Error("record job starts; retrying", "err", err)
		return 0
	}
	for _, t := range launched {
		d.launch(t)
	}
	return len(launched)
}

// plan asks sched where queued jobs start on the executor's nodes and
// records why the others wait. Called with d.mu held.
func (d *Dispatcher) plan(now time.Time) []sched.Start {
	dec := sched.Schedule(sched.Config{BackfillWindow: d.cfg.BackfillWindow}, d.snapshot(now))
	d.waits = make(map[string]sched.Wait, len(dec.Waits))
	for _, w := range dec.Waits {
		d.waits[w.ID] = w
	}
	return dec.Starts
}

// handOver, for an engine that queues and places jobs itself, hands every
// queued job over, in scheduling order. Called with d.mu held.
func (d *Dispatcher) handOver() []sched.Start {
	ids := make([]*trainyard.Job, 0, len(d.queued))
	for id, j := range d.queued {
		if !d.holding[id] {
			ids = append(ids, j)
		}
	}
	slices.SortFunc(ids, func(a, b *trainyard.Job) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		if c := a.SubmittedAt.Compare(b.SubmittedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	starts := make([]sched.Start, len(ids))
	for i, j := range ids {
		starts[i] = sched.Start{ID: j.ID}
	}
	d.waits = map[string]sched.Wait{}
	return starts
}

// apply records the plan's starts with compare-and-set, all or none, and
// on success moves the jobs from the queue to the active tasks. Called
// with d.mu held; nothing has started yet, so a refused plan changes
// nothing.
func (d *Dispatcher) apply(starts []sched.Start, now time.Time) ([]*task, error) {
	jobs := make([]*trainyard.Job, 0, len(starts))
	for _, s := range starts {
		q, ok := d.queued[s.ID]
		if !ok {
			return nil, trainyard.Errorf(trainyard.ECONFLICT, "job %s left the queue while planning", s.ID)
		}
		j := q.Clone()
		j.Launched, j.Handle, j.BackendID, j.ExitCode = true, "", "", nil
		if !d.info.Places {
			// Started by trainyard on the nodes sched chose.
			j.State, j.Reason, j.StartedAt = trainyard.StateRunning, "", now.UTC().Truncate(time.Microsecond)
			j.Placement = s.Placement // sched's own: one per node, with the GPUs, CPUs and memory it gives
		} else {
			j.Reason, j.Placement = "handed to the engine", nil
		}
		jobs = append(jobs, j)
	}
	if err := d.store.UpdateJobs(d.fenced(d.ctx), jobs...); err != nil {
		return nil, err
	}
	out := make([]*task, len(jobs))
	for i, j := range jobs {
		delete(d.queued, j.ID)
		delete(d.waits, j.ID)
		t := &task{job: j}
		d.active[j.ID] = t
		out[i] = t
		d.changed(j)
	}
	return out, nil
}

// reload refreshes the queue from the store after a stale plan: jobs that
// changed elsewhere come back as they now are.
func (d *Dispatcher) reload() {
	jobs, err := d.store.Jobs(d.ctx, trainyard.JobFilter{Active: true, State: trainyard.StateQueued})
	if err != nil {
		d.cfg.Logger.Error("reload the queue", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := make(map[string]*trainyard.Job, len(jobs))
	for _, j := range jobs {
		if _, ok := d.active[j.ID]; ok || j.Launched {
			continue
		}
		fresh[j.ID] = j
	}
	d.queued = fresh
}

// launch hands a recorded task to the executor and records its handle. If
// Start fails, the task failed (or is queued again under max_restarts); if
// recording the handle fails, the task still holds its resources and the
// record is retried.
func (d *Dispatcher) launch(t *task) {
	d.mu.Lock()
	j, places := t.job.Clone(), d.info.Places
	d.mu.Unlock()
	task := trainyard.Task{
		TaskRef: j.Ref(), Name: j.Name, Project: j.Project,
		Command: j.Command, Workdir: d.workdir(j), Env: d.env(j),
		Launch: j.Launch, ProcsPerNode: j.Procs(), Nodes: j.NodeCount(), Resources: j.Resources,
		Pool: j.Pool, GPUType: j.GPUType, Account: j.Account, QOS: j.QOS, Queue: j.Queue,
		TimeLimit: time.Duration(j.TimeLimit),
		LogPath:   d.logs.Path(j.ID),
	}
	if task.Launch == "" {
		task.Launch = trainyard.LaunchNone
	}
	if !places {
		task.Placement = j.Placement
	}
	h, err := d.exec.Start(d.ctx, task)
	if err != nil && d.ctx.Err() != nil {
		// Shutting down: the job is recorded as launched without a handle,
		// so the next start asks the executor whether it runs, and queues
		// it again if it does not.
		d.cfg.Logger.Info("the server stopped while starting a job; the next start finds it", "job", j.ID)
		return
	}
	if err != nil {
		d.cfg.Logger.Info("job did not start", "job", j.ID, "err", err)
		// launch runs on the loop goroutine, which also drains exits:
		// record the failure here rather than send it to ourselves.
		d.mu.Lock()
		d.finishLocked(exitEvent{id: j.ID, status: trainyard.ExitStatus{Lost: true}, err: fmt.Errorf("could not start: %s", trainyard.ErrorMessage(err))})
		d.mu.Unlock()
		return
	}
	ts, _ := d.exec.Inspect(d.ctx, h)
	d.mu.Lock()
	t.handle, t.started, t.dirty = h, true, true
	t.phase, t.reason = ts.Phase, ts.Reason
	if ts.BackendID != "" {
		t.job.BackendID = ts.BackendID
	}
	canceled := t.canceled
	d.record(t)
	d.mu.Unlock()
	if canceled { // canceled while starting
		d.signal(t)
	}
	d.watch(j.ID, h)
}

// record stores a task's handle and what the engine says of it, when they
// changed. On failure it stays dirty and follow retries. Called with d.mu
// held.
func (d *Dispatcher) record(t *task) {
	if !t.dirty || t.ended != nil {
		return
	}
	j := t.job.Clone()
	j.Handle = t.handle
	if err := d.store.UpdateJobs(d.fenced(d.ctx), j); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			d.refresh(t)
		}
		d.cfg.Logger.Error("record a job's task; retrying", "job", j.ID, "err", err)
		return
	}
	t.job, t.dirty = j, false
	d.changed(j)
}

// refresh re-reads a task's job after a write was refused as stale, so
// that the next attempt writes over the version now stored. Called with
// d.mu held.
func (d *Dispatcher) refresh(t *task) {
	cur, err := d.store.Job(d.ctx, t.job.ID)
	if err != nil {
		return
	}
	t.job.Version = cur.Version
}

// watch waits for a task's end in the background and reports it to the
// loop.
func (d *Dispatcher) watch(id string, h trainyard.Handle) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		st, err := d.exec.Wait(d.ctx, h)
		if d.ctx.Err() != nil {
			return // shutting down: the job keeps running
		}
		ev := exitEvent{id: id, status: st, err: err}
		// A task that ended between two looks of follow was never seen
		// running: ask where it ran.
		if ts, err := d.exec.Inspect(d.ctx, h); err == nil {
			ev.nodes = ts.Nodes
		}
		select {
		case d.exits <- ev:
		case <-d.ctx.Done(): // shutting down: the next start asks the executor
		}
	}()
}

// follow, on every tick, retries failed records and, for engines, asks
// how each task stands: the reason while it waits there, and the move to
// running with its nodes.
func (d *Dispatcher) follow() {
	d.mu.Lock()
	ts := make([]*task, 0, len(d.active))
	for _, t := range d.active {
		ts = append(ts, t)
	}
	d.mu.Unlock()
	for _, t := range ts {
		d.mu.Lock()
		switch {
		case t.ended != nil:
			d.finishLocked(*t.ended)
		case t.recovering:
			// Recovery could not reach the executor at start: ask again.
			d.mu.Unlock()
			h, err := d.exec.Recover(d.ctx, t.job.Ref())
			d.mu.Lock()
			switch {
			case trainyard.IsCode(err, trainyard.ENOTFOUND):
				t.recovering = false
				d.requeue(t, "queued again: the server stopped while starting it")
			case err == nil:
				t.recovering = false
				t.handle, t.started, t.dirty = h, true, true
				d.record(t)
				d.watch(t.job.ID, h)
				if t.canceled { // canceled while it could not be found
					d.mu.Unlock()
					d.signal(t)
					d.mu.Lock()
				}
			}
		case t.dirty:
			d.record(t)
		}
		started, h, places := t.started && t.ended == nil, t.handle, d.info.Places
		d.mu.Unlock()
		if started && places {
			if st, err := d.exec.Inspect(d.ctx, h); err == nil {
				d.mu.Lock()
				d.observe(t, st)
				d.mu.Unlock()
			}
		}
	}
}

// observe takes in what an engine says of a task: its reason while
// pending, and the move to running (recorded, with its nodes). Called with
// d.mu held.
func (d *Dispatcher) observe(t *task, st trainyard.TaskStatus) {
	t.reason = st.Reason
	if st.BackendID != "" && st.BackendID != t.job.BackendID {
		t.job.BackendID, t.dirty = st.BackendID, true
	}
	if st.Phase == trainyard.PhaseRunning && t.job.State == trainyard.StateQueued {
		t.job.State, t.job.Reason = trainyard.StateRunning, ""
		t.job.StartedAt = d.cfg.Clock().UTC().Truncate(time.Microsecond)
		t.job.Placement = make([]trainyard.Placement, len(st.Nodes))
		for i, n := range st.Nodes {
			t.job.Placement[i] = trainyard.Placement{Node: n, CPUs: t.job.Resources.CPUs, Memory: t.job.Resources.Memory}
		}
		t.dirty = true
	}
	t.phase = st.Phase
	d.record(t)
}
