package dispatch

import (
	"context"
	"sort"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// What a dispatcher does on a shared store (Config.Shared) besides what a
// lone server does: see the package comment.

// cancelThroughStore cancels jobs from a server that does not lead: every
// id is checked first (ENOTFOUND names an unknown one, and nothing
// changes); then queued jobs are canceled in the store, together, with
// compare-and-set (a leader that planned one of them finds its plan stale),
// and running ones get a cancel request that the leader carries out. A
// queued job that the leader started meanwhile gets a request too.
func (d *Dispatcher) cancelThroughStore(ctx context.Context, ids []string) ([]*trainyard.Job, []bool, error) {
	out, done := make([]*trainyard.Job, len(ids)), make([]bool, len(ids))
	for attempt := 0; ; attempt++ {
		for i, id := range ids {
			j, err := d.store.Job(ctx, id)
			if err != nil {
				return nil, nil, err
			}
			out[i], done[i] = j, j.State.Terminal()
		}
		now := d.cfg.Clock().UTC().Truncate(time.Microsecond)
		var writes []*trainyard.Job
		for i, j := range out {
			if j.State == trainyard.StateQueued && !j.Launched {
				c := j.Clone()
				c.State, c.Reason, c.EndedAt = trainyard.StateCanceled, "canceled while queued", now
				writes = append(writes, c)
				out[i] = c
			}
		}
		err := d.store.UpdateJobs(ctx, writes...)
		if err == nil {
			for _, j := range writes {
				d.changed(j)
			}
			break
		}
		if !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return nil, nil, err
		}
		// The leader changed one of them (it started it): look again.
	}
	for i, j := range out {
		if j.State.Terminal() {
			continue
		}
		r, err := d.cfg.Shared.RequestCancel(ctx, j.ID)
		if err != nil {
			return nil, nil, err
		}
		out[i] = canceling(r)
	}
	return out, done, nil
}

// canceling is how a job whose cancel was requested reads until the
// leader has stopped it.
func canceling(j *trainyard.Job) *trainyard.Job {
	if j.CancelRequested && !j.State.Terminal() {
		j.Reason = "canceling: the scheduling server stops it"
	}
	return j
}

// serveCancelRequests, on the leader, cancels the jobs whose cancel was
// requested through other servers (or recorded by an earlier leader): a
// queued one leaves the queue, a running one gets SIGTERM.
func (d *Dispatcher) serveCancelRequests() {
	if d.cfg.Shared == nil {
		return
	}
	ids, err := d.cfg.Shared.CancelRequests(d.ctx)
	if err != nil {
		d.cfg.Logger.Warn("read cancel requests", "err", err)
		return
	}
	var todo []string
	d.mu.Lock()
	for _, id := range ids {
		if t := d.active[id]; (t != nil && !t.canceled) || d.queued[id] != nil {
			todo = append(todo, id)
		}
	}
	d.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	if _, _, err := d.cancelJobs(d.ctx, todo); err != nil {
		d.cfg.Logger.Warn("carry out cancel requests; retrying", "jobs", todo, "err", err)
	}
}

// followerOverlay is overlay on a server that does not lead: why queued
// jobs wait, and their places, worked out as the leader works them out (sched
// over the executor's nodes, what the store says runs, and the queue), and
// the jobs being canceled.
func (d *Dispatcher) followerOverlay(ctx context.Context, js []*trainyard.Job) {
	needWaits := false
	for _, j := range js {
		canceling(j)
		if j.State == trainyard.StateQueued && !j.Launched && !j.CancelRequested {
			needWaits = true
		}
	}
	if !needWaits {
		return
	}
	active, err := d.store.Jobs(ctx, trainyard.JobFilter{Active: true})
	if err != nil {
		return // the stored reasons stand
	}
	info, err := d.Executor(ctx)
	if err != nil {
		return
	}
	snap := sched.Snapshot{Now: d.cfg.Clock(), Nodes: info.Nodes}
	for _, j := range active {
		switch {
		case j.Launched || j.State == trainyard.StateRunning:
			snap.Running = append(snap.Running, sched.Running{ID: j.ID, Placement: j.Placement})
		case !j.CancelRequested:
			snap.Queue = append(snap.Queue, pending(j))
		}
	}
	if info.Places {
		return // an engine places jobs: its reasons are the leader's to tell
	}
	dec := sched.Schedule(sched.Config{BackfillWindow: d.cfg.BackfillWindow}, snap)
	waits := make(map[string]sched.Wait, len(dec.Waits))
	for _, w := range dec.Waits {
		waits[w.ID] = w
	}
	starts := make(map[string]bool, len(dec.Starts))
	for _, s := range dec.Starts {
		starts[s.ID] = true
	}
	for _, j := range js {
		if j.State != trainyard.StateQueued || j.Launched || j.CancelRequested {
			continue
		}
		if w, ok := waits[j.ID]; ok {
			j.Reason, j.QueuePosition = w.Reason, w.Position
		} else if starts[j.ID] {
			j.Reason = "starting"
		}
	}
}

// sortActive puts running jobs first, then the queue in order.
func sortActive(js []*trainyard.Job) {
	sort.SliceStable(js, func(a, b int) bool {
		pa, pb := js[a].QueuePosition, js[b].QueuePosition
		if (pa == 0) != (pb == 0) {
			return pa == 0
		}
		return pa < pb
	})
}
