package dispatch

import (
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// snapshot is the scheduler's view now: the executor's nodes, what active
// jobs hold on them, and the queue (less jobs being canceled). Called with
// d.mu held.
func (d *Dispatcher) snapshot(now time.Time) sched.Snapshot {
	s := sched.Snapshot{Now: now, Nodes: d.info.Nodes, Running: make([]sched.Running, 0, len(d.active)), Queue: make([]sched.Pending, 0, len(d.queued))}
	for _, t := range d.active {
		s.Running = append(s.Running, sched.Running{ID: t.job.ID, Placement: t.job.Placement})
	}
	for id, j := range d.queued {
		if d.holding[id] {
			continue
		}
		s.Queue = append(s.Queue, pending(j))
	}
	return s
}

// pending is a job as the scheduler sees it.
func pending(j *trainyard.Job) sched.Pending {
	return sched.Pending{ID: j.ID, Request: j.Resources, Nodes: j.NodeCount(), Pool: j.Pool,
		GPUType: j.GPUType, Priority: j.Priority, Submitted: j.SubmittedAt}
}
