package sched

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"pgregory.net/rapid"
)

// simJob is a job in a simulated workload: it is submitted at
// Pending.Submitted and, once started, runs for dur.
type simJob struct {
	Pending
	dur time.Duration
}

type simMachine struct {
	capacity trainyard.Resources
	gpus     []int
}

// simulate runs the workload as the dispatcher would: Schedule at every
// submit and every exit, starting what it says. Every decision is checked
// against all the invariants. It returns when each job started; jobs that
// never start are missing.
func simulate(t tb, cfg Config, m simMachine, jobs []simJob) map[string]time.Time {
	t.Helper()
	type runningJob struct {
		Running
		end time.Time
	}
	pending := slices.Clone(jobs)
	slices.SortFunc(pending, func(a, b simJob) int { return a.Submitted.Compare(b.Submitted) })
	dur := map[string]time.Duration{}
	for _, j := range jobs {
		dur[j.ID] = j.dur
	}
	var queue []Pending
	var running []runningJob
	started := map[string]time.Time{}
	for len(pending) > 0 || len(running) > 0 {
		// The next event: a submit or an exit.
		var now time.Time
		if len(pending) > 0 {
			now = pending[0].Submitted
		}
		for _, r := range running {
			if now.IsZero() || r.end.Before(now) {
				now = r.end
			}
		}
		running = slices.DeleteFunc(running, func(r runningJob) bool { return !r.end.After(now) })
		for len(pending) > 0 && !pending[0].Submitted.After(now) {
			queue = append(queue, pending[0].Pending)
			pending = pending[1:]
		}
		s := Snapshot{Now: now, Capacity: m.capacity, GPUs: m.gpus, Queue: slices.Clone(queue)}
		for _, r := range running {
			s.Running = append(s.Running, r.Running)
		}
		d := Schedule(cfg, s)
		checkAll(t, cfg, s, d)
		for _, st := range d.Starts {
			i := slices.IndexFunc(queue, func(p Pending) bool { return p.ID == st.ID })
			running = append(running, runningJob{Running{ID: st.ID, Request: queue[i].Request, GPUs: st.GPUs}, now.Add(dur[st.ID])})
			started[st.ID] = now
			queue = slices.Delete(queue, i, i+1)
		}
	}
	return started
}

func genWorkload(t *rapid.T) (Config, simMachine, []simJob) {
	cfg := Config{BackfillWindow: time.Duration(rapid.IntRange(1, 10).Draw(t, "windowMin")) * time.Minute}
	m := simMachine{capacity: res(
		rapid.IntRange(1, 4).Draw(t, "capGPUs"),
		rapid.IntRange(1, 8).Draw(t, "capCPUs"),
		GiB*trainyard.Bytes(rapid.IntRange(1, 8).Draw(t, "capMemGiB")),
	)}
	if rapid.Bool().Draw(t, "holes") {
		m.gpus = []int{1, 3, 4, 6}[:m.capacity.GPUs]
	}
	var jobs []simJob
	for i := range rapid.IntRange(1, 16).Draw(t, "jobs") {
		jobs = append(jobs, simJob{
			Pending: Pending{
				ID:        fmt.Sprintf("j%02d", i),
				Priority:  rapid.IntRange(0, 2).Draw(t, "prio"),
				Submitted: t0.Add(time.Duration(rapid.IntRange(0, 30).Draw(t, "submitMin")) * time.Minute),
				Request: res(
					rapid.IntRange(0, 4).Draw(t, "gpus"),
					rapid.IntRange(0, 8).Draw(t, "cpus"),
					GiB*trainyard.Bytes(rapid.IntRange(0, 8).Draw(t, "memGiB")),
				),
			},
			dur: time.Duration(rapid.IntRange(1, 30).Draw(t, "durMin")) * time.Minute,
		})
	}
	return cfg, m, jobs
}

// ordered reports whether a comes before b in scheduling order.
func ordered(a, b Pending) bool {
	return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.Submitted.Compare(b.Submitted), cmp.Compare(a.ID, b.ID)) < 0
}

// TestPropertySimulationLaterJobsNeverDelayAgedJob checks the guarantee of
// the package documentation over whole runs. Pick a job J; let t be when it
// ages (Submitted + window). Run the workload with and without the jobs
// ordered after J that are submitted at or after t: J starts at the same
// moment in both. Jobs ordered before J that arrive after t are left out of
// both runs, because the guarantee excludes them (priorities are strict,
// and such a job can take what J holds).
func TestPropertySimulationLaterJobsNeverDelayAgedJob(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, m, jobs := genWorkload(t)
		ji := rapid.IntRange(0, len(jobs)-1).Draw(t, "J")
		if rapid.Bool().Draw(t, "bigJ") {
			// A job that needs the whole machine is the one backfill
			// would starve.
			jobs[ji].Request = m.capacity
		}
		j := jobs[ji]
		aged := j.Submitted.Add(cfg.BackfillWindow)

		var with, without []simJob
		for _, k := range jobs {
			switch {
			case ordered(k.Pending, j.Pending) && k.Submitted.After(aged):
				// In neither run.
			case ordered(j.Pending, k.Pending) && !k.Submitted.Before(aged):
				with = append(with, k)
			default:
				with = append(with, k)
				without = append(without, k)
			}
		}
		a := simulate(t, cfg, m, with)
		b := simulate(t, cfg, m, without)
		tA, okA := a[j.ID]
		tB, okB := b[j.ID]
		if okA != okB || !tA.Equal(tB) {
			t.Fatalf("%s started at %v (started %v) with the later jobs and at %v (started %v) without them",
				j.ID, tA.Sub(t0), okA, tB.Sub(t0), okB)
		}
	})
}

// TestPropertySimulationEveryJobThatFitsStarts: in a finite workload every
// job that fits the machine eventually starts, and only those.
func TestPropertySimulationEveryJobThatFitsStarts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, m, jobs := genWorkload(t)
		started := simulate(t, cfg, m, jobs)
		for _, j := range jobs {
			_, ok := started[j.ID]
			if fits := Satisfiable(m.capacity, j.Request) == nil; ok != fits {
				t.Fatalf("%s asks for %v on %v: started %v", j.ID, j.Request, m.capacity, ok)
			}
		}
	})
}

// TestSimulationJobsAheadOfAnAgedJobAreProtected is why protection extends
// forward from an aged job. J has aged; P, of higher priority, was
// submitted just before and has not. If P held nothing, K (submitted after
// J aged, lower in order) could take the CPUs P will need; when the GPUs
// free up P would then hold J's CPUs and J would wait for K, a later job,
// for a thousand minutes.
func TestSimulationJobsAheadOfAnAgedJobAreProtected(t *testing.T) {
	m := simMachine{capacity: res(2, 10, 0)}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	job := func(id string, prio, submit int, r trainyard.Resources, dur int) simJob {
		return simJob{Pending{ID: id, Priority: prio, Submitted: at(submit), Request: r}, time.Duration(dur) * time.Minute}
	}
	jobs := []simJob{
		job("R", 9, 0, res(2, 0, 0), 100),
		job("J", 0, 1, res(1, 5, 0), 10), // ages at 6
		job("P", 1, 5, res(1, 6, 0), 50),
		job("K", 0, 7, res(0, 5, 0), 1000),
	}
	got := simulate(t, Config{}, m, jobs)
	want := map[string]time.Time{"R": at(0), "P": at(100), "J": at(150), "K": at(150)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("start times mismatch (-want +got):\n%s", diff)
	}
}

// TestSimulationHigherPriorityArrivalCanTakeAHolding pins down the limit
// of the guarantee that the package documentation states. J has aged and
// holds 4 CPUs; K backfills into the 6 CPUs J does not need. H, of higher
// priority, arrives later and takes J's CPUs; when the GPUs free up J must
// wait for K.
func TestSimulationHigherPriorityArrivalCanTakeAHolding(t *testing.T) {
	m := simMachine{capacity: res(4, 10, 0)}
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	job := func(id string, prio, submit int, r trainyard.Resources, dur int) simJob {
		return simJob{Pending{ID: id, Priority: prio, Submitted: at(submit), Request: r}, time.Duration(dur) * time.Minute}
	}
	jobs := []simJob{
		job("R", 9, 0, res(4, 0, 0), 100),
		job("J", 0, 0, res(4, 4, 0), 10), // ages at 5
		job("K", 0, 10, res(0, 6, 0), 1000),
		job("H", 5, 20, res(0, 4, 0), 1000),
	}
	got := simulate(t, Config{}, m, jobs)
	want := map[string]time.Time{"R": at(0), "K": at(10), "H": at(20), "J": at(1010)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("start times mismatch (-want +got):\n%s", diff)
	}
}
