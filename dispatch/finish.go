package dispatch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// finishLocked records how a job's task ended, or queues the job again
// under max_restarts. If the record fails the task stays active, holding
// its resources, and follow retries. Called with d.mu held.
func (d *Dispatcher) finishLocked(ev exitEvent) {
	t, ok := d.active[ev.id]
	if !ok {
		return
	}
	t.ended = &ev
	if t.timer != nil {
		t.timer.Stop()
	}
	j := t.job.Clone()
	st := ev.status
	j.ExitCode = nil
	if !st.Lost && ev.err == nil {
		c := st.Code
		j.ExitCode = &c
	}
	j.Handle, j.Launched = "", false
	if len(j.Placement) == 0 && len(ev.nodes) > 0 { // an engine's job that ended before it was seen running
		j.Placement = make([]trainyard.Placement, len(ev.nodes))
		for i, n := range ev.nodes {
			j.Placement[i] = trainyard.Placement{Node: n, CPUs: j.Resources.CPUs, Memory: j.Resources.Memory}
		}
	}
	var marker string
	switch {
	case t.canceled:
		j.State, j.Reason = trainyard.StateCanceled, "canceled"
		if t.killed {
			j.Reason = fmt.Sprintf("canceled; killed with SIGKILL after ignoring SIGTERM for %s", d.cfg.KillGrace)
		}
	case ev.err != nil && trainyard.IsCode(ev.err, trainyard.EINVALID):
		j.State, j.Reason = trainyard.StateFailed, ev.err.Error()
	case ev.err != nil && j.Restarts >= j.MaxRestarts:
		j.State, j.Reason = trainyard.StateFailed, ev.err.Error()
	case ev.err == nil && st.Lost:
		j.State, j.Reason = trainyard.StateFailed, "the job's process ended without an exit status (its supervisor was killed)"
	case ev.err == nil && st.Code == 0:
		j.State, j.Reason = trainyard.StateSucceeded, ""
	case j.Restarts < j.MaxRestarts:
		why := describeExit(st)
		if ev.err != nil {
			why = ev.err.Error()
		}
		j.Restarts++
		j.State, j.Placement, j.BackendID = trainyard.StateQueued, nil, ""
		j.Reason = fmt.Sprintf("restart %d of %d after %s", j.Restarts, j.MaxRestarts, why)
		marker = fmt.Sprintf("\n[trainyard] %s\n", j.Reason)
	default:
		j.State, j.Reason = trainyard.StateFailed, describeExit(st)
	}
	if j.State.Terminal() {
		j.EndedAt = d.cfg.Clock().UTC().Truncate(time.Microsecond)
	}
	if err := d.store.UpdateJobs(d.fenced(context.Background()), j); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			d.refresh(t)
		}
		d.cfg.Logger.Error("record a job's end; retrying", "job", j.ID, "err", err)
		return
	}
	delete(d.active, ev.id)
	if j.State == trainyard.StateQueued {
		d.queued[j.ID] = j
	}
	if marker != "" {
		if err := d.logs.Append(j.ID, []byte(marker)); err != nil {
			d.cfg.Logger.Error("write restart marker", "job", j.ID, "err", err)
		}
	}
	if t.started {
		// The status is stored: the executor may forget the task.
		if err := d.exec.Cleanup(context.Background(), t.handle); err != nil {
			d.cfg.Logger.Warn("clean up a task", "job", j.ID, "err", err)
		}
	}
	d.changed(j)
	d.cfg.Logger.Info("job ended", "job", j.ID, "state", j.State, "reason", j.Reason)
}

// requeue puts an active job that never started back in the queue.
// Called with d.mu held.
func (d *Dispatcher) requeue(t *task, reason string) {
	j := t.job.Clone()
	j.State, j.Reason, j.Launched, j.Handle, j.BackendID, j.Placement = trainyard.StateQueued, reason, false, "", "", nil
	j.StartedAt = time.Time{}
	if err := d.store.UpdateJobs(d.fenced(context.Background()), j); err != nil {
		d.cfg.Logger.Error("queue a job again", "job", j.ID, "err", err)
		t.recovering = true // try again on the next tick
		return
	}
	delete(d.active, j.ID)
	d.queued[j.ID] = j
	d.changed(j)
	d.cfg.Logger.Info(reason, "job", j.ID)
}

func describeExit(st trainyard.ExitStatus) string {
	var s string
	switch {
	case st.Signal != "":
		s = fmt.Sprintf("killed by %s", st.Signal)
		if st.Signal == "SIGKILL" && st.Reason == "" {
			s += " (out of memory?)"
		}
	default:
		s = fmt.Sprintf("exit code %d", st.Code)
	}
	if st.Reason != "" {
		s += ": " + st.Reason
	}
	return s
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
	info, err := d.Executor(ctx)
	if err != nil {
		return nil, fmt.Errorf("ask the executor what it offers: %w", err)
	}
	if err := sched.Satisfiable(info.Nodes, pending(&trainyard.Job{JobSpec: spec})); err != nil {
		return nil, err
	}
	now := d.cfg.Clock().UTC().Truncate(time.Microsecond)
	var j *trainyard.Job
	for attempt := 0; ; attempt++ {
		j = &trainyard.Job{JobSpec: spec, ID: d.cfg.NewID(), State: trainyard.StateQueued, SubmittedAt: now, Owner: trainyard.OwnerFrom(ctx)}
		err := d.store.CreateJob(ctx, j)
		if err == nil {
			break
		}
		if !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return nil, err
		}
	}
	d.mu.Lock()
	if d.leading {
		d.queued[j.ID] = j.Clone()
	} // else the store tells the leader
	d.mu.Unlock()
	d.changed(j)
	d.poke()
	return j, nil
}

// Cancel stops a job.
func (d *Dispatcher) Cancel(ctx context.Context, id string) (*trainyard.Job, error) {
	js, done, err := d.cancelJobs(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if done[0] {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "job %s already finished (%s)", id, js[0].State)
	}
	return js[0], nil
}

// CancelMany cancels jobs together: see trainyard.JobService.
func (d *Dispatcher) CancelMany(ctx context.Context, ids []string) ([]*trainyard.Job, error) {
	js, _, err := d.cancelJobs(ctx, ids)
	return js, err
}

// cancelJobs cancels jobs together, in two steps. First every id is
// checked, changing nothing: one that is neither queued nor active here is
// looked up in the store (ENOTFOUND for an unknown one; a finished one is
// returned as it is, done). Then, under the lock the scheduling loop takes,
// the queued jobs leave the queue, so none of them can start from then on;
// their cancellation is recorded in one transaction (if that fails they
// are queued again and the error is returned); and only then do the active
// jobs get SIGTERM (SIGKILL after the grace period). Repeated ids count
// once. done[i] says that job i had already finished.
func (d *Dispatcher) cancelJobs(ctx context.Context, ids []string) (out []*trainyard.Job, done []bool, err error) {
	if len(ids) == 0 {
		return nil, nil, trainyard.FieldError("ids", "is empty: name the jobs to cancel")
	}
	seen := make(map[string]bool, len(ids))
	uniq := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	ids = uniq
	if !d.Leading() {
		return d.cancelThroughStore(ctx, ids)
	}
	out, done = make([]*trainyard.Job, len(ids)), make([]bool, len(ids))

	// 1. Check every id; change nothing.
	d.mu.Lock()
	var elsewhere []int
	for i, id := range ids {
		if d.queued[id] == nil && d.active[id] == nil {
			elsewhere = append(elsewhere, i)
		}
	}
	d.mu.Unlock()
	for _, i := range elsewhere {
		j, err := d.store.Job(ctx, ids[i])
		if err != nil {
			return nil, nil, err
		}
		out[i], done[i] = j, j.State.Terminal()
	}

	// 2. Take the queued jobs out of the queue and record them canceled.
	now := d.cfg.Clock().UTC().Truncate(time.Microsecond)
	d.mu.Lock()
	var writes []*trainyard.Job
	for i, id := range ids {
		if q := d.queued[id]; q != nil && !d.holding[id] {
			d.holding[id] = true
			j := q.Clone()
			j.State, j.Reason, j.EndedAt = trainyard.StateCanceled, "canceled while queued", now
			writes = append(writes, j)
			out[i] = j
		} else if d.cfg.Shared != nil && out[i] != nil && !done[i] && d.active[id] == nil && out[i].State == trainyard.StateQueued && !out[i].Launched {
			// Queued through another server, not yet in the queue here.
			j := out[i].Clone()
			j.State, j.Reason, j.EndedAt = trainyard.StateCanceled, "canceled while queued", now
			writes = append(writes, j)
			out[i] = j
		} else if out[i] != nil && !done[i] && d.active[id] == nil && d.cfg.Shared == nil {
			// Neither queued nor active here, yet not finished: between
			// the queue and the executor this instant.
			for _, j := range writes {
				delete(d.holding, j.ID)
			}
			d.mu.Unlock()
			return nil, nil, trainyard.Errorf(trainyard.ECONFLICT, "job %s is %s and cannot be canceled this instant; try again", id, out[i].State)
		}
	}
	if err := d.store.UpdateJobs(d.fenced(ctx), writes...); err != nil {
		for _, j := range writes {
			delete(d.holding, j.ID)
		}
		d.mu.Unlock()
		d.poke()
		return nil, nil, err
	}
	for _, j := range writes {
		delete(d.queued, j.ID)
		delete(d.holding, j.ID)
		delete(d.waits, j.ID)
		d.changed(j)
	}

	// 3. Stop the active ones. With a shared store, a job that is neither
	// (just submitted through another server, not yet in the queue here)
	// gets a cancel request, served once it is.
	var signal []*task
	var request []int
	for i, id := range ids {
		t := d.active[id]
		if t == nil {
			if d.cfg.Shared != nil && out[i] != nil && !done[i] && d.queued[id] == nil && !out[i].State.Terminal() {
				request = append(request, i)
			}
			continue
		}
		if !t.canceled {
			t.canceled = true
			if t.started {
				signal = append(signal, t)
			}
		}
		out[i] = t.job.Clone()
		out[i].Reason = "canceling: sent SIGTERM"
	}
	d.mu.Unlock()
	for i := range out {
		out[i] = out[i].Clone()
	}
	if d.cfg.Shared != nil {
		// Durable, so that a leader after this one still cancels them.
		for _, t := range signal {
			if _, err := d.cfg.Shared.RequestCancel(ctx, t.job.ID); err != nil {
				d.cfg.Logger.Warn("record a cancel request", "job", t.job.ID, "err", err)
			}
		}
		for _, i := range request {
			j, err := d.cfg.Shared.RequestCancel(ctx, ids[i])
			if err != nil {
				return nil, nil, err
			}
			out[i] = canceling(j)
		}
	}
	for _, t := range signal {
		d.signal(t)
	}
	d.poke()
	return out, done, nil
}

// signal sends SIGTERM and arms SIGKILL after the grace period.
func (d *Dispatcher) signal(t *task) {
	d.mu.Lock()
	h, id, ctx := t.handle, t.job.ID, d.ctx
	d.mu.Unlock()
	if err := d.exec.Signal(ctx, h, trainyard.SIGTERM); err != nil {
		d.cfg.Logger.Error("signal job", "job", id, "err", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t.timer = time.AfterFunc(d.cfg.KillGrace, func() {
		d.mu.Lock()
		t.killed = true
		d.mu.Unlock()
		if err := d.exec.Signal(ctx, h, trainyard.SIGKILL); err != nil {
			d.cfg.Logger.Error("kill job", "job", id, "err", err)
		}
	})
}
