package sched

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"pgregory.net/rapid"
)

// The property tests check Schedule against an independent reading of the
// snapshot (reference below), not against its own helpers.

// tb is what the checks need from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// genSnapshot draws a machine (GPU list or count, possibly disagreeing),
// running jobs (overlapping, unknown and negative GPUs, overcommitted CPUs
// and memory, negative requests) and a queue with many ties.
func genSnapshot(t *rapid.T) (Config, Snapshot) {
	cfg := Config{BackfillWindow: rapid.SampledFrom([]time.Duration{0, -1, 3 * time.Minute, 10 * time.Minute}).Draw(t, "window")}
	s := Snapshot{Now: t0, Capacity: res(
		rapid.IntRange(-1, 10).Draw(t, "capGPUs"),
		rapid.IntRange(-1, 32).Draw(t, "capCPUs"),
		GiB*trainyard.Bytes(rapid.IntRange(-1, 64).Draw(t, "capMemGiB")),
	)}
	if rapid.Bool().Draw(t, "namedGPUs") {
		s.GPUs = rapid.SliceOfN(rapid.IntRange(-1, 15), 0, 10).Draw(t, "gpus")
	}
	for i := range rapid.IntRange(0, 6).Draw(t, "running") {
		s.Running = append(s.Running, Running{
			ID:      fmt.Sprintf("r%d", i),
			Request: res(0, rapid.IntRange(-2, 16).Draw(t, "runCPUs"), GiB*trainyard.Bytes(rapid.IntRange(-1, 32).Draw(t, "runMemGiB"))),
			GPUs:    rapid.SliceOfN(rapid.IntRange(-1, 17), 0, 3).Draw(t, "runGPUs"),
		})
	}
	n := rapid.IntRange(0, 20).Draw(t, "queued")
	names := rapid.Permutation(seq(n)).Draw(t, "names")
	for i := range n {
		s.Queue = append(s.Queue, Pending{
			ID:        fmt.Sprintf("q%02d", names[i]),
			Priority:  rapid.IntRange(-1, 2).Draw(t, "prio"),
			Submitted: t0.Add(-time.Duration(rapid.IntRange(-2, 12).Draw(t, "waitedMin")) * time.Minute),
			Request: res(
				rapid.IntRange(-1, 6).Draw(t, "gpus"),
				rapid.IntRange(-1, 20).Draw(t, "cpus"),
				GiB*trainyard.Bytes(rapid.IntRange(-1, 40).Draw(t, "memGiB")),
			),
		})
	}
	return cfg, s
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// vec is GPUs, CPUs, memory.
type vec [3]int64

func vecOf(r trainyard.Resources) vec {
	return vec{max(0, int64(r.GPUs)), max(0, int64(r.CPUs)), max(0, int64(r.Memory))}
}

func (a vec) le(b vec) bool { return a[0] <= b[0] && a[1] <= b[1] && a[2] <= b[2] }

func (a vec) plus(b vec) vec { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

func (a vec) minus(b vec) vec { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

// reference is the snapshot as the rules describe it.
type reference struct {
	gpus     []int        // the machine's GPUs, ascending
	busy     map[int]bool // the machine's GPUs that running jobs name
	capacity vec
	free     vec       // before the decision
	order    []Pending // the queue in scheduling order
	index    map[string]int
	window   time.Duration
	now      time.Time
}

func newReference(cfg Config, s Snapshot) *reference {
	r := &reference{busy: map[int]bool{}, index: map[string]int{}, now: s.Now}
	if len(s.GPUs) == 0 {
		for g := range max(0, s.Capacity.GPUs) {
			r.gpus = append(r.gpus, g)
		}
	} else {
		seen := map[int]bool{}
		for _, g := range s.GPUs {
			if !seen[g] {
				seen[g] = true
				r.gpus = append(r.gpus, g)
			}
		}
		slices.Sort(r.gpus)
		if len(r.gpus) > max(0, s.Capacity.GPUs) {
			r.gpus = r.gpus[:max(0, s.Capacity.GPUs)]
		}
	}
	for _, run := range s.Running {
		for _, g := range run.GPUs {
			if slices.Contains(r.gpus, g) {
				r.busy[g] = true
			}
		}
	}
	r.capacity = vecOf(s.Capacity)
	r.capacity[0] = int64(len(r.gpus))
	r.free = r.capacity
	r.free[0] -= int64(len(r.busy))
	for _, run := range s.Running {
		u := vecOf(run.Request)
		r.free[1] = max(0, r.free[1]-u[1])
		r.free[2] = max(0, r.free[2]-u[2])
	}
	r.order = slices.Clone(s.Queue)
	slices.SortFunc(r.order, func(a, b Pending) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.Submitted.Compare(b.Submitted), cmp.Compare(a.ID, b.ID))
	})
	for i, p := range r.order {
		r.index[p.ID] = i
	}
	switch {
	case cfg.BackfillWindow == 0:
		r.window = 5 * time.Minute
	case cfg.BackfillWindow > 0:
		r.window = cfg.BackfillWindow
	}
	return r
}

func (r *reference) satisfiable(p Pending) bool { return vecOf(p.Request).le(r.capacity) }

func (r *reference) aged(p Pending) bool { return r.now.Sub(p.Submitted) >= r.window }

// checkEveryJobOnce: every queued job is in exactly one of Starts and
// Waits, each list in scheduling order, positions 1..n, reasons given.
func checkEveryJobOnce(t tb, r *reference, d Decision) {
	t.Helper()
	seen := map[string]bool{}
	last := -1
	for _, st := range d.Starts {
		i, ok := r.index[st.ID]
		if !ok || seen[st.ID] || i <= last {
			t.Fatalf("start %q: unknown, repeated or out of order", st.ID)
		}
		seen[st.ID], last = true, i
	}
	last = -1
	for k, w := range d.Waits {
		i, ok := r.index[w.ID]
		if !ok || seen[w.ID] || i <= last {
			t.Fatalf("wait %q: unknown, repeated, out of order or also started", w.ID)
		}
		seen[w.ID], last = true, i
		if w.Position != k+1 {
			t.Fatalf("wait %q has position %d, want %d", w.ID, w.Position, k+1)
		}
		if w.Reason == "" {
			t.Fatalf("wait %q has no reason", w.ID)
		}
	}
	if len(seen) != len(r.order) {
		t.Fatalf("decision covers %d jobs, queue has %d", len(seen), len(r.order))
	}
}

// checkGPUs: a started job gets exactly the GPUs it asks for, ascending,
// among the machine's GPUs, none named by a running job or given twice.
func checkGPUs(t tb, r *reference, d Decision) {
	t.Helper()
	given := map[int]string{}
	for _, st := range d.Starts {
		p := r.order[r.index[st.ID]]
		if int64(len(st.GPUs)) != vecOf(p.Request)[0] {
			t.Fatalf("start %q got GPUs %v, asked for %d", st.ID, st.GPUs, p.Request.GPUs)
		}
		if !slices.IsSorted(st.GPUs) {
			t.Fatalf("start %q got GPUs %v, not ascending", st.ID, st.GPUs)
		}
		for _, g := range st.GPUs {
			switch {
			case !slices.Contains(r.gpus, g):
				t.Fatalf("start %q got GPU %d; the machine has %v", st.ID, g, r.gpus)
			case r.busy[g]:
				t.Fatalf("start %q got GPU %d, which a running job holds", st.ID, g)
			case given[g] != "":
				t.Fatalf("GPU %d given to both %q and %q", g, given[g], st.ID)
			}
			given[g] = st.ID
		}
	}
	if len(given)+len(r.busy) > len(r.gpus) {
		t.Fatalf("%d GPUs in use, the machine has %d", len(given)+len(r.busy), len(r.gpus))
	}
}

// checkCapacity: what the started jobs ask for fits what the running jobs
// leave, and each started job could run on the machine at all.
func checkCapacity(t tb, r *reference, d Decision) {
	t.Helper()
	var used vec
	for _, st := range d.Starts {
		p := r.order[r.index[st.ID]]
		if !r.satisfiable(p) {
			t.Fatalf("started %q, which can never fit the machine", st.ID)
		}
		used = used.plus(vecOf(p.Request))
	}
	if !used.le(r.free) {
		t.Fatalf("started jobs use %v; only %v was free", used, r.free)
	}
}

// checkAgedHolding: for every aged job J that waits and could run here,
// the jobs ordered after J that start take no more than what is left once
// J and every waiting job ahead of it hold their requests. Implied, and
// checked too: they leave min(J's request, free) of what was free when the
// walk reached J.
func checkAgedHolding(t tb, r *reference, d Decision) {
	t.Helper()
	started := map[int]bool{}
	for _, st := range d.Starts {
		started[r.index[st.ID]] = true
	}
	for ji, j := range r.order {
		if started[ji] || !r.satisfiable(j) || !r.aged(j) {
			continue
		}
		var before, after, holds vec
		for k, p := range r.order {
			switch {
			case started[k] && k < ji:
				before = before.plus(vecOf(p.Request))
			case started[k]:
				after = after.plus(vecOf(p.Request))
			case k <= ji && r.satisfiable(p):
				holds = holds.plus(vecOf(p.Request))
			}
		}
		atJ := r.free.minus(before)
		left := atJ.minus(holds)
		jHold := vecOf(j.Request)
		for x := range left {
			left[x] = max(0, left[x])
			jHold[x] = min(jHold[x], atJ[x])
		}
		if !after.le(left) {
			t.Fatalf("jobs after aged %q took %v; only %v was left after the holdings", j.ID, after, left)
		}
		if !after.le(atJ.minus(jHold)) {
			t.Fatalf("jobs after aged %q took %v of %v, into its holding %v", j.ID, after, atJ, jHold)
		}
	}
}

// checkReasons: a reason says the kind of wait the rules give the job.
func checkReasons(t tb, r *reference, d Decision) {
	t.Helper()
	line := -1
	for i, p := range r.order {
		if r.satisfiable(p) && r.aged(p) {
			line = i
		}
	}
	for _, w := range d.Waits {
		i := r.index[w.ID]
		var want []string
		switch {
		case !r.satisfiable(r.order[i]):
			want = []string{"can never run here: asks for "}
		case i <= line:
			want = []string{"holding ", "resources are held for job "}
		default:
			want = []string{"waiting for ", "resources are held for job "}
		}
		if !slices.ContainsFunc(want, func(p string) bool { return strings.HasPrefix(w.Reason, p) }) {
			t.Fatalf("wait %q: reason %q, want one starting with %q", w.ID, w.Reason, want)
		}
	}
}

func checkAll(t tb, cfg Config, s Snapshot, d Decision) {
	t.Helper()
	r := newReference(cfg, s)
	checkEveryJobOnce(t, r, d)
	checkGPUs(t, r, d)
	checkCapacity(t, r, d)
	checkAgedHolding(t, r, d)
	checkReasons(t, r, d)
}

func TestPropertyEveryJobStartsOrWaits(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		checkEveryJobOnce(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyGPUsNeverShared(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		checkGPUs(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyCPUsAndMemoryWithinCapacity(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		checkCapacity(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyAgedJobKeepsItsHolding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		checkAgedHolding(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyReasonsMatchTheRule(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		checkReasons(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		want := Schedule(cfg, s)
		shuffled := s
		shuffled.Queue = rapid.Permutation(s.Queue).Draw(t, "queue")
		shuffled.Running = rapid.Permutation(s.Running).Draw(t, "running")
		shuffled.GPUs = rapid.Permutation(s.GPUs).Draw(t, "gpus")
		if diff := gocmp.Diff(want, Schedule(cfg, shuffled)); diff != "" {
			t.Fatalf("shuffled input changed the decision (-first +shuffled):\n%s", diff)
		}
	})
}

func TestPropertyAppendSecondsMatchesDurationString(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := time.Duration(rapid.Int64Range(0, 1<<62).Draw(t, "d"))
		if got, want := string(appendSeconds(nil, d)), d.Truncate(time.Second).String(); got != want {
			t.Fatalf("appendSeconds(%d) = %q, want %q", d, got, want)
		}
	})
}

// TestPropertyOrder checks the scheduling order, on both the fast packed
// path and the general one (taken for priorities or submit times too far
// apart), against a plain comparison sort. IDs may repeat here.
func TestPropertyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prio := rapid.IntRange(-2, 2)
		if rapid.Bool().Draw(t, "widePriorities") {
			prio = rapid.IntRange(math.MinInt, math.MaxInt)
		}
		spread := time.Duration(rapid.SampledFrom([]int64{1, 1e9, 1 << 62}).Draw(t, "spread"))
		queue := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Pending {
			return Pending{
				ID:        rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "id"),
				Priority:  prio.Draw(t, "prio"),
				Submitted: t0.Add(time.Duration(rapid.Int64Range(-2, 2).Draw(t, "at")) * spread / 2),
				Request:   res(rapid.IntRange(-1, 1).Draw(t, "gpus"), 1, 0),
			}
		}), 0, 30).Draw(t, "queue")

		want := slices.Clone(queue)
		slices.SortFunc(want, func(a, b Pending) int {
			x, y := vecOf(a.Request), vecOf(b.Request)
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.Submitted.Compare(b.Submitted), cmp.Compare(a.ID, b.ID), slices.Compare(x[:], y[:]))
		})
		var got []Pending
		for _, j := range sortedJobs(queue, t0, 0, amounts{}) {
			got = append(got, queue[j.src])
		}
		same := func(a, b Pending) bool {
			return a.ID == b.ID && a.Priority == b.Priority && a.Submitted.Equal(b.Submitted) && vecOf(a.Request) == vecOf(b.Request)
		}
		if !slices.EqualFunc(want, got, same) {
			t.Fatalf("order:\n got %v\nwant %v", got, want)
		}
		if packed := packedOrder(queue); packed != nil && !slices.Equal(packed, generalOrder(queue)) {
			// Equal jobs may swap places; compare their values.
			for i := range packed {
				if !same(queue[packed[i]], queue[generalOrder(queue)[i]]) {
					t.Fatalf("packed and general order differ at %d", i)
				}
			}
		}
	})
}

func TestPropertyRadixSort(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		keys := rapid.SliceOfN(rapid.Uint64(), 0, 2000).Draw(t, "keys")
		if rapid.Bool().Draw(t, "fewBitsVary") {
			mask := rapid.Uint64().Draw(t, "mask")
			for i := range keys {
				keys[i] &= mask
			}
		}
		want := slices.Clone(keys)
		slices.Sort(want)
		radixSort(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("radixSort: got %v, want %v", keys, want)
		}
	})
}
