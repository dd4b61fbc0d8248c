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

// simulate runs the workload as the dispatcher would: Schedule at every
// submit and every exit, starting what it says. Every decision is checked
// against all the invariants, and then shown to observe (when not nil).
// It returns when each job started; jobs that never start are missing.
func simulate(t tb, cfg Config, nodes []trainyard.Node, jobs []simJob, observe func(Snapshot, Decision)) map[string]time.Time {
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
		s := Snapshot{Now: now, Nodes: nodes, Queue: slices.Clone(queue)}
		for _, r := range running {
			s.Running = append(s.Running, r.Running)
		}
		d := Schedule(cfg, s)
		checkAll(t, cfg, s, d)
		if observe != nil {
			observe(s, d)
		}
		for _, st := range d.Starts {
			i := slices.IndexFunc(queue, func(p Pending) bool { return p.ID == st.ID })
			running = append(running, runningJob{Running{ID: st.ID, Placement: st.Placement}, now.Add(dur[st.ID])})
			started[st.ID] = now
			queue = slices.Delete(queue, i, i+1)
		}
	}
	return started
}

// genWorkload draws a workload on one node (as the one-machine scheduler
// had) or, with several, on up to four nodes of two pools and two GPU
// types, with jobs of up to three nodes.
func genWorkload(t *rapid.T, several bool) (Config, []trainyard.Node, []simJob) {
	cfg := Config{BackfillWindow: time.Duration(rapid.IntRange(1, 10).Draw(t, "windowMin")) * time.Minute}
	count := 1
	if several {
		count = rapid.IntRange(1, 4).Draw(t, "nodes")
	}
	var nodes []trainyard.Node
	for i := range count {
		n := trainyard.Node{
			Name:   fmt.Sprintf("n%d", i),
			GPUs:   seq(rapid.IntRange(1, 4).Draw(t, "capGPUs")),
			CPUs:   rapid.IntRange(1, 8).Draw(t, "capCPUs"),
			Memory: GiB * trainyard.Bytes(rapid.IntRange(1, 8).Draw(t, "capMemGiB")),
		}
		if rapid.Bool().Draw(t, "holes") {
			n.GPUs = []int{1, 3, 4, 6}[:len(n.GPUs)]
		}
		if several {
			n.Labels = map[string]string{
				trainyard.LabelPool:    rapid.SampledFrom([]string{"a", "b"}).Draw(t, "pool"),
				trainyard.LabelGPUType: rapid.SampledFrom([]string{"h100", "t4"}).Draw(t, "gpuType"),
			}
		}
		nodes = append(nodes, n)
	}
	return cfg, nodes, genJobs(t, rapid.IntRange(1, 16).Draw(t, "jobs"), several)
}

// genJobs draws n jobs submitted over half an hour that run 1-30 minutes;
// of several nodes, pools and GPU types when several.
func genJobs(t *rapid.T, n int, several bool) []simJob {
	var jobs []simJob
	for i := range n {
		j := simJob{
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
		}
		if several {
			j.Nodes = rapid.IntRange(0, 3).Draw(t, "jobNodes")
			j.Pool = rapid.SampledFrom([]string{"", "", "a", "b"}).Draw(t, "jobPool")
			j.GPUType = rapid.SampledFrom([]string{"", "", "h100", "t4"}).Draw(t, "jobGPUType")
		}
		jobs = append(jobs, j)
	}
	return jobs
}

// ordered reports whether a comes before b in scheduling order.
func ordered(a, b Pending) bool {
	return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.Submitted.Compare(b.Submitted), cmp.Compare(a.ID, b.ID)) < 0
}

// TestPropertySimulationLaterJobsNeverDelayAgedJob checks the guarantee of
// the package documentation for one node over whole runs. Pick a job J;
// let t be when it ages (Submitted + window). Run the workload with and
// without the jobs ordered after J that are submitted at or after t: J
// starts at the same moment in both. Jobs ordered before J that arrive
// after t are left out of both runs, because the guarantee excludes them
// (priorities are strict, and such a job can take what J holds).
func TestPropertySimulationLaterJobsNeverDelayAgedJob(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, nodes, jobs := genWorkload(t, false)
		ji := rapid.IntRange(0, len(jobs)-1).Draw(t, "J")
		if rapid.Bool().Draw(t, "bigJ") {
			// A job that needs the whole machine is the one backfill
			// would starve.
			jobs[ji].Request = nodes[0].Capacity()
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
		a := simulate(t, cfg, nodes, with, nil)
		b := simulate(t, cfg, nodes, without, nil)
		tA, okA := a[j.ID]
		tB, okB := b[j.ID]
		if okA != okB || !tA.Equal(tB) {
			t.Fatalf("%s started at %v (started %v) with the later jobs and at %v (started %v) without them",
				j.ID, tA.Sub(t0), okA, tB.Sub(t0), okB)
		}
	})
}

// TestPropertySimulationEveryJobThatFitsStarts: in a finite workload every
// job that can run on the nodes eventually starts, and only those; on one
// node and on several.
func TestPropertySimulationEveryJobThatFitsStarts(t *testing.T) {
	for _, several := range []bool{false, true} {
		t.Run(fmt.Sprintf("several=%v", several), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				cfg, nodes, jobs := genWorkload(t, several)
				started := simulate(t, cfg, nodes, jobs, nil)
				for _, j := range jobs {
					_, ok := started[j.ID]
					if fits := Satisfiable(nodes, j.Pending) == nil; ok != fits {
						t.Fatalf("%s asks for %d nodes with %v (pool %q, gpu_type %q): started %v", j.ID, j.Nodes, j.Request, j.Pool, j.GPUType, ok)
					}
				}
			})
		})
	}
}

// shortfall is what J lacks on the n-th best node for it: the nodes that
// can hold it ranked by what it lacks (GPUs, then CPUs, then memory), read
// from the snapshot alone. Zero when it fits n nodes.
func shortfall(s Snapshot, j Pending) vec {
	r := newReference(Config{}, s)
	var shorts []vec
	for _, n := range r.nodes {
		if r.canHold(j, n) {
			req := vecOf(j.Request)
			shorts = append(shorts, vec{max(0, req[0]-n.free[0]), max(0, req[1]-n.free[1]), max(0, req[2]-n.free[2])})
		}
	}
	slices.SortFunc(shorts, func(a, b vec) int { return slices.Compare(a[:], b[:]) })
	return shorts[nodesOf(j)-1]
}

// TestPropertySimulationShortfallNeverGrows checks the guarantee of the
// package documentation for several nodes over whole runs: while an aged
// job that can run is first in line, what it lacks on the nodes it is
// closest to fitting on (the n-th smallest shortfall) never grows from one
// decision to the next, whatever the jobs behind it do. The windows are
// short and the workloads long so that many jobs age and wait.
func TestPropertySimulationShortfallNeverGrows(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, nodes, _ := genWorkload(t, true)
		jobs := genJobs(t, rapid.IntRange(10, 40).Draw(t, "jobs"), true)
		cfg := Config{BackfillWindow: rapid.SampledFrom([]time.Duration{-1, time.Minute, 3 * time.Minute}).Draw(t, "window")}
		var first string // the aged job first in line at the last decision
		var last vec     // what it lacked then
		simulate(t, cfg, nodes, jobs, func(s Snapshot, d Decision) {
			r := newReference(cfg, s)
			i := slices.IndexFunc(r.order, r.satisfiable)
			if i < 0 || !r.aged(r.order[i]) {
				first = ""
				return
			}
			// Jobs that can never run hold nothing: the first that can
			// is first in line.
			j := r.order[i]
			now := shortfall(s, j)
			if j.ID == first && slices.Compare(now[:], last[:]) > 0 {
				t.Fatalf("at %v, %s lacks %v on its closest nodes; before it lacked %v", s.Now.Sub(t0), j.ID, now, last)
			}
			first, last = j.ID, now
			if slices.ContainsFunc(d.Starts, func(st Start) bool { return st.ID == j.ID }) {
				first = ""
			}
		})
	})
}

// simJobAt is a job submitted at minute submit that runs dur minutes.
func simJobAt(id string, prio, submit int, r trainyard.Resources, dur int) simJob {
	return simJob{Pending{ID: id, Priority: prio, Submitted: minute(submit), Request: r}, time.Duration(dur) * time.Minute}
}

func minute(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

// TestSimulationJobsAheadOfAnAgedJobAreProtected is why protection extends
// forward from an aged job. J has aged; P, of higher priority, was
// submitted just before and has not. If P held nothing, K (submitted after
// J aged, lower in order) could take the CPUs P will need; when the GPUs
// free up P would then hold J's CPUs and J would wait for K, a later job,
// for a thousand minutes.
func TestSimulationJobsAheadOfAnAgedJobAreProtected(t *testing.T) {
	nodes := []trainyard.Node{node(res(2, 10, 0))}
	jobs := []simJob{
		simJobAt("R", 9, 0, res(2, 0, 0), 100),
		simJobAt("J", 0, 1, res(1, 5, 0), 10), // ages at 6
		simJobAt("P", 1, 5, res(1, 6, 0), 50),
		simJobAt("K", 0, 7, res(0, 5, 0), 1000),
	}
	got := simulate(t, Config{}, nodes, jobs, nil)
	want := map[string]time.Time{"R": minute(0), "P": minute(100), "J": minute(150), "K": minute(150)}
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
	nodes := []trainyard.Node{node(res(4, 10, 0))}
	jobs := []simJob{
		simJobAt("R", 9, 0, res(4, 0, 0), 100),
		simJobAt("J", 0, 0, res(4, 4, 0), 10), // ages at 5
		simJobAt("K", 0, 10, res(0, 6, 0), 1000),
		simJobAt("H", 5, 20, res(0, 4, 0), 1000),
	}
	got := simulate(t, Config{}, nodes, jobs, nil)
	want := map[string]time.Time{"R": minute(0), "K": minute(10), "H": minute(20), "J": minute(1010)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("start times mismatch (-want +got):\n%s", diff)
	}
}

// TestSimulationGangWaitsForAllItsNodes: a job of two whole nodes holds
// the two nodes it is closest to fitting on while their jobs finish, its
// holding moves when another node frees up first, a small job takes what
// it no longer holds, and it starts when it has two free nodes.
func TestSimulationGangWaitsForAllItsNodes(t *testing.T) {
	nodes := []trainyard.Node{
		{Name: "a", GPUs: seq(4), CPUs: 8},
		{Name: "b", GPUs: seq(4), CPUs: 8},
		{Name: "c", GPUs: seq(4), CPUs: 8},
		{Name: "d", GPUs: seq(1), CPUs: 8}, // too small for G
	}
	gang := simJobAt("G", 0, 1, res(4, 1, 0), 60)
	gang.Nodes = 2
	jobs := []simJob{
		// Best fit: Ra fills a, Rb goes to b, Rc to c (b lacks a GPU).
		simJobAt("Ra", 0, 0, res(4, 1, 0), 20),
		simJobAt("Rb", 0, 0, res(2, 1, 0), 40),
		simJobAt("Rc", 0, 0, res(3, 1, 0), 100),
		gang, // ages at 6
		simJobAt("S1", 0, 10, res(1, 1, 0), 500),
		simJobAt("S2", 0, 25, res(1, 1, 0), 500),
	}
	got := simulate(t, Config{}, nodes, jobs, nil)
	// At 10 G holds b's 2 free GPUs and c's 1 (it lacks 2 and 3 there, 4
	// on a); S1 starts on d. At 20 a is free: G holds a and b, and lets
	// c's GPU go; S2 takes it at 25. At 40 b is free: G starts on a and b.
	want := map[string]time.Time{"Ra": minute(0), "Rb": minute(0), "Rc": minute(0), "S1": minute(10), "S2": minute(25), "G": minute(40)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("start times mismatch (-want +got):\n%s", diff)
	}
}

// TestSimulationLaterJobCanDelayAMultiNodeWait pins down the limit of the
// guarantee on several nodes that the package documentation states: J
// holds the node it is closest to fitting on; GPUs that free up on
// another node, which is further from fitting, are not held, and K, a
// later job, takes them. Without K, J would have started on that node when
// its last job ended; with K it waits for the node it holds. (Pools pin
// the first jobs to their nodes.)
func TestSimulationLaterJobCanDelayAMultiNodeWait(t *testing.T) {
	nodes := []trainyard.Node{
		{Name: "a", GPUs: seq(8), CPUs: 8, Labels: map[string]string{trainyard.LabelPool: "a"}},
		{Name: "b", GPUs: seq(8), CPUs: 8, Labels: map[string]string{trainyard.LabelPool: "b"}},
	}
	inPool := func(j simJob, pool string) simJob { j.Pool = pool; return j }
	base := []simJob{
		inPool(simJobAt("Ra", 0, 0, res(2, 0, 0), 100), "a"), // a lacks 2 GPUs for J until 100
		inPool(simJobAt("Rb1", 0, 0, res(4, 0, 0), 10), "b"), // b lacks 8 until 10,
		inPool(simJobAt("Rb2", 0, 0, res(4, 0, 0), 20), "b"), // then 4 until 20
		simJobAt("J", 0, 1, res(8, 0, 0), 10),                // ages at 6; at 10 holds a's 6 free GPUs
	}
	k := simJobAt("K", 0, 10, res(4, 0, 0), 1000) // at 10 takes b's 4 free GPUs
	without := simulate(t, Config{}, nodes, base, nil)
	with := simulate(t, Config{}, nodes, append(slices.Clone(base), k), nil)
	if got, want := without["J"], minute(20); !got.Equal(want) {
		t.Errorf("without K, J started at %v, want %v", got.Sub(t0), want.Sub(t0))
	}
	if got, want := with["J"], minute(100); !got.Equal(want) {
		t.Errorf("with K, J started at %v, want %v", got.Sub(t0), want.Sub(t0))
	}
}
