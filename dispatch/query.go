package dispatch

import (
	"context"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// Job returns a job with its wait reason.
func (d *Dispatcher) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	j, err := d.store.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if !d.Leading() {
		d.followerOverlay(ctx, []*trainyard.Job{j})
		return j, nil
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
	if d.Leading() {
		d.overlay(js)
	} else {
		d.followerOverlay(ctx, js)
	}
	if f.Active {
		sortActive(js) // running first, then the queue in order
	}
	return js, nil
}

// overlay adds what only memory knows: why a queued job waits (trainyard's
// reason, or the engine's while it waits there), its place in the queue,
// and that a running job is being canceled.
func (d *Dispatcher) overlay(js []*trainyard.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range js {
		if t, ok := d.active[j.ID]; ok {
			switch {
			case t.canceled && !j.State.Terminal():
				j.Reason = "canceling: sent SIGTERM"
			case j.State == trainyard.StateQueued && t.reason != "":
				j.Reason = d.info.Kind + ": " + t.reason
			}
			continue
		}
		if j.State == trainyard.StateQueued {
			if w, ok := d.waits[j.ID]; ok {
				j.Reason, j.QueuePosition = w.Reason, w.Position
			} else if q, ok := d.queued[j.ID]; ok && q.Reason != "" {
				j.Reason = q.Reason
			}
		}
	}
}

func (d *Dispatcher) workdir(j *trainyard.Job) string {
	if j.Workdir != "" {
		return j.Workdir
	}
	return d.cfg.DefaultWorkdir
}

// env builds a job's environment, the same on every node: the base, then
// the job's own variables, then what trainyard guarantees (which the job
// cannot override). The launcher adds the per-node and per-rank ones.
func (d *Dispatcher) env(j *trainyard.Job) []string {
	m := map[string]string{}
	for _, kv := range d.cfg.BaseEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	if d.cfg.Withhold != nil {
		for _, k := range d.cfg.Withhold(j) {
			delete(m, k)
		}
	}
	for k, v := range j.Env {
		m[k] = v
	}
	if _, ok := j.Env["OMP_NUM_THREADS"]; !ok && j.Resources.CPUs > 0 {
		m["OMP_NUM_THREADS"] = strconv.Itoa(max(1, j.Resources.CPUs/j.Procs()))
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
