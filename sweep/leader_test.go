package sweep_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// With several servers on one database only the scheduling leader runs
// sweeps. A server that stops leading forgets its sweeps: it refuses
// changes (EUNAVAILABLE), still answers reads, and decides nothing when a
// trial's job ends. When it leads again it loads the sweeps as after a
// restart: the ended trial is completed from its stored reports and the
// next one submitted, none twice.
func TestOnlyTheLeaderRunsSweeps(t *testing.T) {
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: t0}, leading: new(atomic.Bool)}
	r.leading.Store(true)
	r.open()
	t.Cleanup(r.close)
	v := r.create(quadSpec)
	r.eventually("two trials submitted", func() bool { return len(r.jobs.jobs(t, trainyard.StateQueued)) == 2 })
	first := r.jobs.jobs(t, trainyard.StateQueued)[0]

	r.leading.Store(false)
	r.eventually("changes refused once not leading", func() bool {
		_, err := r.svc.Pause(ctx, v.ID)
		return trainyard.IsCode(err, trainyard.EUNAVAILABLE)
	})
	if _, err := r.svc.Create(ctx, "sweep.yaml", []byte(quadSpec)); !trainyard.IsCode(err, trainyard.EUNAVAILABLE) {
		t.Errorf("Create on a server that does not lead: %v, want EUNAVAILABLE", err)
	}
	if _, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{}); !trainyard.IsCode(err, trainyard.EUNAVAILABLE) {
		t.Errorf("Suggest on a server that does not lead: %v, want EUNAVAILABLE", err)
	}
	if _, err := r.svc.Stop(ctx, v.ID); !trainyard.IsCode(err, trainyard.EUNAVAILABLE) {
		t.Errorf("Stop on a server that does not lead: %v, want EUNAVAILABLE", err)
	}
	if got := r.get(v.ID); got.State != trainyard.SweepRunning || len(got.Trials) != 2 {
		t.Fatalf("read on a server that does not lead: %s %s", got.State, trialStates(got))
	}

	// The first trial's job ends while this server does not lead.
	r.jobs.start(first)
	r.report(first.ID, 1, 0.5)
	r.jobs.exit(first, 0)
	time.Sleep(100 * time.Millisecond) // 50 ticks
	all, err := r.store.Jobs(ctx, trainyard.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d jobs; a server that does not lead submitted a trial", len(all))
	}
	if got := r.get(v.ID); got.Counts["COMPLETED"] != 0 {
		t.Fatalf("a server that does not lead decided a trial: %s", trialStates(got))
	}

	r.leading.Store(true)
	n := trialOf(first)
	var got *sweep.View
	r.eventually("the ended trial completed and the next submitted", func() bool {
		got = r.get(v.ID)
		if got.Counts["COMPLETED"] != 1 || len(got.Trials) != 3 {
			return false
		}
		for _, tr := range got.Trials {
			if len(tr.Jobs) == 0 {
				return false // trial 3 stored, its job not yet submitted
			}
		}
		return true
	})
	for _, tr := range got.Trials {
		if tr.Number == n && (tr.State != trainyard.TrialCompleted || tr.Results != 1 || tr.Value == nil || *tr.Value != 0.5) {
			t.Errorf("trial %d after the lead came back: %+v", n, tr)
		}
		if len(tr.Jobs) != 1 {
			t.Errorf("trial %d has %d jobs, want 1", tr.Number, len(tr.Jobs))
		}
	}
	if all, _ = r.store.Jobs(ctx, trainyard.JobFilter{}); len(all) != 3 {
		t.Errorf("%d jobs for 3 trials: a trial was submitted twice", len(all))
	}
	if _, err := r.svc.Pause(ctx, v.ID); err != nil {
		t.Fatalf("Pause on the leader: %v", err)
	}
}
