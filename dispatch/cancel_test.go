package dispatch_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func TestCancelManyTakesEveryJobOutOfTheQueueAtOnce(t *testing.T) {
	m := machine(0)
	m.CPUs = 1
	r := newRig(t, m)
	running := r.submit(sh("sleep 60"))
	r.waitFor(running.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning && j.BackendID != "" })
	var queued []*trainyard.Job
	for range 3 {
		queued = append(queued, r.submit(sh("echo ran")))
	}
	done := r.submit(sh("true"))
	if _, err := r.d.Cancel(ctx, done.ID); err != nil { // finished before the call below
		t.Fatal(err)
	}

	// An unknown ID cancels nothing and is named.
	_, err := r.d.CancelMany(ctx, []string{queued[0].ID, "nope", running.ID})
	if trainyard.ErrorCode(err) != trainyard.ENOTFOUND || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("CancelMany with an unknown ID: %v, want ENOTFOUND naming it", err)
	}
	for _, id := range []string{queued[0].ID, running.ID} {
		if j, _ := r.d.Job(ctx, id); j.State.Terminal() || j.Reason == "canceling: sent SIGTERM" {
			t.Fatalf("job %s was touched by a refused CancelMany: %+v", id, j)
		}
	}
	if _, err := r.d.CancelMany(ctx, nil); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Errorf("CancelMany(nil): %v, want EINVALID", err)
	}

	// The running job first: its CPU frees as it dies, and none of the
	// queued ones may take it.
	ids := []string{running.ID, queued[0].ID, queued[1].ID, queued[2].ID, done.ID, queued[1].ID}
	js, err := r.d.CancelMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != 5 {
		t.Fatalf("got %d jobs, want 5 (the repeated ID once)", len(js))
	}
	if js[0].ID != running.ID || js[0].State != trainyard.StateRunning || js[0].Reason != "canceling: sent SIGTERM" {
		t.Errorf("running job = %+v", js[0])
	}
	for i, q := range queued {
		if js[i+1].ID != q.ID || js[i+1].State != trainyard.StateCanceled {
			t.Errorf("queued job %d = %+v", i, js[i+1])
		}
	}
	if js[4].ID != done.ID || js[4].State != trainyard.StateCanceled {
		t.Errorf("finished job = %+v", js[4])
	}
	r.waitFor(running.ID, "canceled", ended)
	time.Sleep(300 * time.Millisecond) // a scheduling pass or two after the CPU freed
	for _, q := range queued {
		j, _ := r.d.Job(ctx, q.ID)
		if j.State != trainyard.StateCanceled || !j.StartedAt.IsZero() || r.log(q.ID) != "" {
			t.Errorf("queued job %s started after CancelMany: %+v, log %q", q.ID, j, r.log(q.ID))
		}
	}
}
