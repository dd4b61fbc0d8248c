package sched

import (
	"cmp"
	"errors"
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
// snapshot (reference below), not against its own helpers, and against a
// model: a plain, slow walk of the queue written from the rules of the
// package documentation.

// tb is what the checks need from *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Labels and names the generators draw from: several GPU-type spellings
// that match (a100 matches a100-sxm4-80gb, case is ignored) and some that
// match no node.
var (
	nodeNames    = []string{"n0", "n1", "n2", "n3", "n4"}
	nodePools    = []string{"", "a", "b"}
	nodeGPUTypes = []string{"", "h100", "a100-sxm4-80gb", "t4"}
	jobPools     = []string{"", "", "", "a", "b", "c"}
	jobGPUTypes  = []string{"", "", "", "", "h100", "A100", "a100-sxm4-80gb", "t4", "v100"}
)

// genNode draws a node: usually GPUs 0..n-1, else a GPU list with
// holes, repeats and negative indices; CPUs and memory that may be
// negative; pool and GPU type labels.
func genNode(t *rapid.T, name string) trainyard.Node {
	n := trainyard.Node{
		Name:   name,
		GPUs:   seq(rapid.SampledFrom([]int{0, 1, 2, 4, 4, 8, 8}).Draw(t, "nodeGPUCount")),
		CPUs:   rapid.SampledFrom([]int{-1, 0, 4, 8, 16, 16, 32}).Draw(t, "nodeCPUs"),
		Memory: GiB * trainyard.Bytes(rapid.SampledFrom([]int{-1, 0, 8, 16, 32, 32, 64}).Draw(t, "nodeMemGiB")),
	}
	if rapid.IntRange(0, 3).Draw(t, "oddGPUs") == 0 {
		n.GPUs = rapid.SliceOfN(rapid.IntRange(-1, 9), 0, 10).Draw(t, "nodeGPUs")
	}
	labels := map[string]string{}
	if p := rapid.SampledFrom(nodePools).Draw(t, "nodePool"); p != "" {
		labels[trainyard.LabelPool] = p
	}
	if g := rapid.SampledFrom(nodeGPUTypes).Draw(t, "nodeGPUType"); g != "" {
		labels[trainyard.LabelGPUType] = g
	}
	if len(labels) > 0 {
		n.Labels = labels
	}
	return n
}

// genSnapshot draws nodes (one to five, rarely none), running jobs
// (overlapping, unknown and negative GPUs, placements on unknown nodes,
// overcommitted CPUs and memory, negative amounts) and a queue with many
// ties, jobs of several nodes, pools and GPU types.
func genSnapshot(t *rapid.T) (Config, Snapshot) {
	cfg := Config{BackfillWindow: rapid.SampledFrom([]time.Duration{0, -1, 3 * time.Minute, 10 * time.Minute}).Draw(t, "window")}
	s := Snapshot{Now: t0}
	names := rapid.Permutation(nodeNames).Draw(t, "nodeNames")
	nodes := rapid.IntRange(1, len(names)).Draw(t, "nodes")
	if rapid.IntRange(0, 19).Draw(t, "noNodes") == 0 {
		nodes = 0
	}
	for i := range nodes {
		s.Nodes = append(s.Nodes, genNode(t, names[i]))
	}
	for i := range rapid.IntRange(0, 6).Draw(t, "running") {
		r := Running{ID: fmt.Sprintf("r%d", i)}
		for range rapid.IntRange(1, 2).Draw(t, "placements") {
			r.Placement = append(r.Placement, trainyard.Placement{
				Node:   rapid.SampledFrom(append([]string{"unknown"}, nodeNames...)).Draw(t, "runNode"),
				GPUs:   rapid.SliceOfN(rapid.IntRange(-1, 10), 0, 3).Draw(t, "runGPUs"),
				CPUs:   rapid.IntRange(-2, 16).Draw(t, "runCPUs"),
				Memory: GiB * trainyard.Bytes(rapid.IntRange(-1, 32).Draw(t, "runMemGiB")),
			})
		}
		s.Running = append(s.Running, r)
	}
	n := rapid.IntRange(0, 20).Draw(t, "queued")
	ids := rapid.Permutation(seq(n)).Draw(t, "ids")
	for i := range n {
		s.Queue = append(s.Queue, Pending{
			ID:        fmt.Sprintf("q%02d", ids[i]),
			Priority:  rapid.IntRange(-1, 2).Draw(t, "prio"),
			Submitted: t0.Add(-time.Duration(rapid.IntRange(-2, 12).Draw(t, "waitedMin")) * time.Minute),
			Request: res(
				rapid.IntRange(-1, 4).Draw(t, "gpus"),
				rapid.IntRange(-1, 12).Draw(t, "cpus"),
				GiB*trainyard.Bytes(rapid.IntRange(-1, 24).Draw(t, "memGiB")),
			),
			Nodes:   rapid.IntRange(-1, 3).Draw(t, "jobNodes"),
			Pool:    genLabel(t, s.Nodes, trainyard.LabelPool, jobPools),
			GPUType: genLabel(t, s.Nodes, trainyard.LabelGPUType, jobGPUTypes),
		})
	}
	return cfg, s
}

// genLabel draws what a job asks for: none, or the label of one of the
// nodes, or (rarely) any of values.
func genLabel(t *rapid.T, nodes []trainyard.Node, label string, values []string) string {
	switch rapid.IntRange(0, 5).Draw(t, label+"From") {
	case 0, 1:
		return ""
	case 2:
		return rapid.SampledFrom(values).Draw(t, label)
	}
	if len(nodes) == 0 {
		return ""
	}
	v := rapid.SampledFrom(nodes).Draw(t, label+"Node").Labels[label]
	if label == trainyard.LabelGPUType && v != "" && rapid.Bool().Draw(t, "prefix") {
		v = strings.ToUpper(strings.Split(v, "-")[0]) // "A100" matches "a100-sxm4-80gb"
	}
	return v
}

// vec is GPUs, CPUs, memory.
type vec [3]int64

func vecOf(r trainyard.Resources) vec {
	return vec{max(0, int64(r.GPUs)), max(0, int64(r.CPUs)), max(0, int64(r.Memory))}
}

func (a vec) le(b vec) bool { return a[0] <= b[0] && a[1] <= b[1] && a[2] <= b[2] }

func (a vec) plus(b vec) vec { return vec{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }

func (a vec) minus(b vec) vec { return vec{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

func nodesOf(p Pending) int { return max(1, p.Nodes) }

// refNode is a node as the rules describe it.
type refNode struct {
	name          string
	pool, gpuType string
	gpus          []int        // distinct, ascending
	busy          map[int]bool // those that running jobs name
	capacity      vec
	free          vec // before the decision
}

// reference is the snapshot as the rules describe it.
type reference struct {
	nodes  []*refNode // by name
	byName map[string]*refNode
	order  []Pending // the queue in scheduling order
	index  map[string]int
	window time.Duration
	now    time.Time
}

func newReference(cfg Config, s Snapshot) *reference {
	r := &reference{byName: map[string]*refNode{}, index: map[string]int{}, now: s.Now}
	for _, n := range s.Nodes {
		if r.byName[n.Name] != nil {
			continue // the first of a name counts
		}
		rn := &refNode{name: n.Name, pool: n.Labels[trainyard.LabelPool], gpuType: n.Labels[trainyard.LabelGPUType], busy: map[int]bool{}}
		for _, g := range n.GPUs {
			if !slices.Contains(rn.gpus, g) {
				rn.gpus = append(rn.gpus, g)
			}
		}
		slices.Sort(rn.gpus)
		rn.capacity = vec{int64(len(rn.gpus)), max(0, int64(n.CPUs)), max(0, int64(n.Memory))}
		rn.free = rn.capacity
		r.byName[n.Name] = rn
		r.nodes = append(r.nodes, rn)
	}
	slices.SortFunc(r.nodes, func(a, b *refNode) int { return strings.Compare(a.name, b.name) })
	for _, run := range s.Running {
		for _, p := range run.Placement {
			n := r.byName[p.Node]
			if n == nil {
				continue
			}
			for _, g := range p.GPUs {
				if slices.Contains(n.gpus, g) {
					n.busy[g] = true
				}
			}
			n.free[1] = max(0, n.free[1]-max(0, int64(p.CPUs)))
			n.free[2] = max(0, n.free[2]-max(0, int64(p.Memory)))
		}
	}
	for _, n := range r.nodes {
		n.free[0] = n.capacity[0] - int64(len(n.busy))
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

// matches: the node's pool and GPU type are what p asks for.
func (r *reference) matches(p Pending, n *refNode) bool {
	return (p.Pool == "" || n.pool == p.Pool) && trainyard.GPUTypeMatches(n.gpuType, p.GPUType)
}

// canHold: p matches n and fits it when empty.
func (r *reference) canHold(p Pending, n *refNode) bool {
	return r.matches(p, n) && vecOf(p.Request).le(n.capacity)
}

func (r *reference) satisfiable(p Pending) bool {
	k := 0
	for _, n := range r.nodes {
		if r.canHold(p, n) {
			k++
		}
	}
	return k >= nodesOf(p)
}

func (r *reference) aged(p Pending) bool { return r.now.Sub(p.Submitted) >= r.window }

// line is the index of the last aged job that can run; -1 if none.
func (r *reference) line() int {
	line := -1
	for i, p := range r.order {
		if r.satisfiable(p) && r.aged(p) {
			line = i
		}
	}
	return line
}

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

// checkGang: a started job gets exactly the number of nodes it asks for,
// distinct, in node order, each with its request.
func checkGang(t tb, r *reference, d Decision) {
	t.Helper()
	for _, st := range d.Starts {
		p := r.order[r.index[st.ID]]
		if len(st.Placement) != nodesOf(p) {
			t.Fatalf("start %q has %d placements, asked for %d nodes", st.ID, len(st.Placement), nodesOf(p))
		}
		for i, pl := range st.Placement {
			if i > 0 && pl.Node <= st.Placement[i-1].Node {
				t.Fatalf("start %q: placements %v not on distinct nodes in node order", st.ID, st.Placement)
			}
			want := vecOf(p.Request)
			if int64(len(pl.GPUs)) != want[0] || int64(pl.CPUs) != want[1] || int64(pl.Memory) != want[2] {
				t.Fatalf("start %q on %s got %d GPUs, %d CPUs, %d bytes; asked for %v", st.ID, pl.Node, len(pl.GPUs), pl.CPUs, pl.Memory, want)
			}
		}
	}
}

// checkMatching: a started job runs only on nodes of the snapshot that
// match its pool and GPU type.
func checkMatching(t tb, r *reference, d Decision) {
	t.Helper()
	for _, st := range d.Starts {
		p := r.order[r.index[st.ID]]
		for _, pl := range st.Placement {
			n := r.byName[pl.Node]
			switch {
			case n == nil:
				t.Fatalf("start %q placed on %q, which is not a node", st.ID, pl.Node)
			case !r.matches(p, n):
				t.Fatalf("start %q (pool %q, gpu_type %q) placed on %s (pool %q, gpu_type %q)", st.ID, p.Pool, p.GPUType, n.name, n.pool, n.gpuType)
			}
		}
	}
}

// checkGPUs: a started job gets, on each node, GPUs ascending among that
// node's GPUs, none named by a running job or given twice.
func checkGPUs(t tb, r *reference, d Decision) {
	t.Helper()
	given := map[string]map[int]string{}
	for _, st := range d.Starts {
		for _, pl := range st.Placement {
			n := r.byName[pl.Node]
			if n == nil {
				t.Fatalf("start %q placed on %q, which is not a node", st.ID, pl.Node)
			}
			if !slices.IsSorted(pl.GPUs) {
				t.Fatalf("start %q got GPUs %v on %s, not ascending", st.ID, pl.GPUs, n.name)
			}
			if given[n.name] == nil {
				given[n.name] = map[int]string{}
			}
			for _, g := range pl.GPUs {
				switch {
				case !slices.Contains(n.gpus, g):
					t.Fatalf("start %q got GPU %d on %s; it has %v", st.ID, g, n.name, n.gpus)
				case n.busy[g]:
					t.Fatalf("start %q got GPU %d on %s, which a running job holds", st.ID, g, n.name)
				case given[n.name][g] != "":
					t.Fatalf("GPU %d on %s given to both %q and %q", g, n.name, given[n.name][g], st.ID)
				}
				given[n.name][g] = st.ID
			}
		}
	}
}

// checkCapacity: on every node, what the started jobs ask for fits what
// the running jobs leave, and each started job could run at all.
func checkCapacity(t tb, r *reference, d Decision) {
	t.Helper()
	used := map[string]vec{}
	for _, st := range d.Starts {
		p := r.order[r.index[st.ID]]
		if !r.satisfiable(p) {
			t.Fatalf("started %q, which can never run", st.ID)
		}
		for _, pl := range st.Placement {
			used[pl.Node] = used[pl.Node].plus(vecOf(p.Request))
		}
	}
	for name, u := range used {
		if n := r.byName[name]; n == nil || !u.le(n.free) {
			t.Fatalf("started jobs use %v on %s; only %v was free", u, name, n.free)
		}
	}
}

// modelDecision is what the model decides: the starts, and what each
// waiting job holds on each node.
type modelDecision struct {
	starts []Start
	holds  map[string]map[string]vec // job → node → held
	kind   map[string]string         // job → "never", "start", "hold" or "wait"
}

// model walks the queue by the rules of the package documentation,
// plainly: for each job in order, if it fits what is available on n nodes
// that can hold it, start on the n that it leaves the least on (GPUs,
// CPUs, memory, then name); else, if it is protected, hold min(request,
// available) on the n on which it lacks the least (GPUs, CPUs, memory,
// then name).
func (r *reference) model() modelDecision {
	type state struct {
		avail vec
		gpu   map[int]string // "" free, "busy", "held"
	}
	st := map[string]*state{}
	for _, n := range r.nodes {
		s := &state{avail: n.free, gpu: map[int]string{}}
		for g := range n.busy {
			s.gpu[g] = "busy"
		}
		st[n.name] = s
	}
	lowest := func(n *refNode, k int64, mark string) []int {
		var out []int
		for _, g := range n.gpus {
			if k > 0 && st[n.name].gpu[g] == "" {
				st[n.name].gpu[g] = mark
				out = append(out, g)
				k--
			}
		}
		return out
	}
	m := modelDecision{holds: map[string]map[string]vec{}, kind: map[string]string{}}
	line := r.line()
	for i, p := range r.order {
		if !r.satisfiable(p) {
			m.kind[p.ID] = "never"
			continue
		}
		req := vecOf(p.Request)
		type ranked struct {
			n           *refNode
			short, left vec
		}
		var cands []ranked
		for _, n := range r.nodes {
			if !r.canHold(p, n) {
				continue
			}
			var x ranked
			x.n = n
			for d := range 3 {
				x.short[d] = max(0, req[d]-st[n.name].avail[d])
				x.left[d] = max(0, st[n.name].avail[d]-req[d])
			}
			cands = append(cands, x)
		}
		// Where it fits, the nodes it leaves the least on; else the
		// nodes where it lacks the least.
		fitting := slices.DeleteFunc(slices.Clone(cands), func(x ranked) bool { return x.short != vec{} })
		fits := len(fitting) >= nodesOf(p)
		if fits {
			slices.SortFunc(fitting, func(a, b ranked) int {
				return cmp.Or(slices.Compare(a.left[:], b.left[:]), strings.Compare(a.n.name, b.n.name))
			})
			cands = fitting
		} else {
			slices.SortFunc(cands, func(a, b ranked) int {
				return cmp.Or(slices.Compare(a.short[:], b.short[:]), strings.Compare(a.n.name, b.n.name))
			})
		}
		chosen := cands[:nodesOf(p)]
		switch {
		case fits:
			slices.SortFunc(chosen, func(a, b ranked) int { return strings.Compare(a.n.name, b.n.name) })
			start := Start{ID: p.ID}
			for _, x := range chosen {
				st[x.n.name].avail = st[x.n.name].avail.minus(req)
				start.Placement = append(start.Placement, trainyard.Placement{
					Node: x.n.name, GPUs: lowest(x.n, req[0], "busy"), CPUs: int(req[1]), Memory: trainyard.Bytes(req[2]),
				})
			}
			m.starts = append(m.starts, start)
			m.kind[p.ID] = "start"
		case i <= line:
			m.holds[p.ID] = map[string]vec{}
			for _, x := range chosen {
				var h vec
				for d := range 3 {
					h[d] = min(req[d], st[x.n.name].avail[d])
				}
				st[x.n.name].avail = st[x.n.name].avail.minus(h)
				lowest(x.n, h[0], "held")
				m.holds[p.ID][x.n.name] = h
			}
			m.kind[p.ID] = "hold"
		default:
			m.kind[p.ID] = "wait"
		}
	}
	return m
}

// checkModel: Schedule starts exactly what the model starts, on the same
// nodes and GPUs.
func checkModel(t tb, r *reference, d Decision) {
	t.Helper()
	m := r.model()
	if diff := gocmp.Diff(m.starts, d.Starts); diff != "" {
		t.Fatalf("starts differ from the model's (-model +Schedule):\n%s", diff)
	}
}

// checkAgedHolding: for every aged job J that waits and could run, on
// every node, the jobs ordered after J that start there take no more than
// what is left once J and every waiting job ahead of it hold what the
// model says they hold there.
func checkAgedHolding(t tb, r *reference, d Decision) {
	t.Helper()
	m := r.model()
	started := map[int][]trainyard.Placement{}
	for _, st := range d.Starts {
		started[r.index[st.ID]] = st.Placement
	}
	for ji, j := range r.order {
		if m.kind[j.ID] != "hold" || !r.aged(j) {
			continue
		}
		for _, n := range r.nodes {
			var before, after, holds vec
			for k, p := range r.order {
				on := slices.ContainsFunc(started[k], func(pl trainyard.Placement) bool { return pl.Node == n.name })
				switch {
				case on && k < ji:
					before = before.plus(vecOf(p.Request))
				case on:
					after = after.plus(vecOf(p.Request))
				case k <= ji:
					holds = holds.plus(m.holds[p.ID][n.name])
				}
			}
			if left := n.free.minus(before).minus(holds); !after.le(left) {
				t.Fatalf("on %s, jobs after aged %q took %v; only %v was left after the holdings", n.name, j.ID, after, left)
			}
		}
	}
}

// checkAgedHoldingOneNode is the check of the one-machine scheduler,
// which needs no model: for every aged job J that waits and could run
// here, the jobs ordered after J that start take no more than what is
// left once J and every waiting job ahead of it hold their requests.
// Implied, and checked too: they leave min(J's request, free) of what was
// free when the walk reached J.
func checkAgedHoldingOneNode(t tb, r *reference, d Decision) {
	t.Helper()
	if len(r.nodes) != 1 {
		return
	}
	free := r.nodes[0].free
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
		atJ := free.minus(before)
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

// checkReasons: a reason says the kind of wait the rules give the job;
// for a job that can never run it is Satisfiable's message.
func checkReasons(t tb, r *reference, nodes []trainyard.Node, d Decision) {
	t.Helper()
	line := r.line()
	held := "resources on node "
	if len(r.nodes) == 1 {
		held = "resources are held for job "
	}
	for _, w := range d.Waits {
		i := r.index[w.ID]
		var want []string
		switch p := r.order[i]; {
		case !r.satisfiable(p):
			err := Satisfiable(nodes, p)
			if err == nil {
				t.Fatalf("wait %q: Satisfiable() = nil for a job that cannot run", w.ID)
			}
			want = []string{"can never run here: " + trainyard.ErrorMessage(err)}
			if w.Reason != want[0] {
				t.Fatalf("wait %q: reason %q, want %q", w.ID, w.Reason, want[0])
			}
		case i <= line:
			want = []string{"holding ", held}
		default:
			want = []string{"waiting for ", held}
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
	checkGang(t, r, d)
	checkMatching(t, r, d)
	checkGPUs(t, r, d)
	checkCapacity(t, r, d)
	checkModel(t, r, d)
	checkAgedHolding(t, r, d)
	checkAgedHoldingOneNode(t, r, d)
	checkReasons(t, r, s.Nodes, d)
}

// property runs check on the decisions for random snapshots.
func property(t *testing.T, check func(t tb, cfg Config, s Snapshot, r *reference, d Decision)) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		check(t, cfg, s, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyEveryJobStartsOrWaits(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkEveryJobOnce(t, r, d) })
}

func TestPropertyGangNeverPartial(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkGang(t, r, d) })
}

func TestPropertyPlacementsOnlyOnMatchingNodes(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkMatching(t, r, d) })
}

func TestPropertyGPUsNeverShared(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkGPUs(t, r, d) })
}

func TestPropertyCPUsAndMemoryWithinCapacity(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkCapacity(t, r, d) })
}

func TestPropertyStartsMatchTheModel(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkModel(t, r, d) })
}

func TestPropertyAgedJobKeepsItsHolding(t *testing.T) {
	property(t, func(t tb, _ Config, _ Snapshot, r *reference, d Decision) { checkAgedHolding(t, r, d) })
}

// TestPropertyAgedJobKeepsItsHoldingOneNode draws snapshots of one node,
// where the one-machine check applies.
func TestPropertyAgedJobKeepsItsHoldingOneNode(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		s.Nodes = []trainyard.Node{genNode(t, "m")}
		for i := range s.Running {
			for k := range s.Running[i].Placement {
				s.Running[i].Placement[k].Node = "m"
			}
		}
		for i := range s.Queue {
			s.Queue[i].Nodes, s.Queue[i].Pool, s.Queue[i].GPUType = 1, "", ""
		}
		checkAgedHoldingOneNode(t, newReference(cfg, s), Schedule(cfg, s))
	})
}

func TestPropertyReasonsMatchTheRule(t *testing.T) {
	property(t, func(t tb, _ Config, s Snapshot, r *reference, d Decision) { checkReasons(t, r, s.Nodes, d) })
}

// TestPropertyDeterministic: the order of nodes, of each node's GPUs, of
// running jobs and their placements, and of the queue never matters.
func TestPropertyDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg, s := genSnapshot(t)
		want := Schedule(cfg, s)
		shuffled := s
		shuffled.Queue = rapid.Permutation(s.Queue).Draw(t, "queue")
		shuffled.Nodes = rapid.Permutation(s.Nodes).Draw(t, "nodes")
		for i := range shuffled.Nodes {
			shuffled.Nodes[i].GPUs = rapid.Permutation(shuffled.Nodes[i].GPUs).Draw(t, "gpus")
		}
		shuffled.Running = rapid.Permutation(s.Running).Draw(t, "running")
		for i := range shuffled.Running {
			shuffled.Running[i].Placement = rapid.Permutation(shuffled.Running[i].Placement).Draw(t, "placements")
		}
		if diff := gocmp.Diff(want, Schedule(cfg, shuffled)); diff != "" {
			t.Fatalf("shuffled input changed the decision (-first +shuffled):\n%s", diff)
		}
	})
}

// TestPropertySatisfiable: Satisfiable accepts exactly the jobs that fit
// enough matching empty nodes, and names the field at fault.
func TestPropertySatisfiable(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		_, s := genSnapshot(t)
		r := newReference(Config{}, s)
		for _, p := range s.Queue {
			err := Satisfiable(s.Nodes, p)
			if ok := r.satisfiable(p); ok != (err == nil) {
				t.Fatalf("Satisfiable(%+v) = %v; want ok %v", p, err, ok)
			}
			if err == nil {
				continue
			}
			var e *trainyard.Error
			if !errors.As(err, &e) || e.Code != trainyard.EUNSATISFIABLE || e.Message == "" {
				t.Fatalf("Satisfiable(%+v) = %#v, want an EUNSATISFIABLE *trainyard.Error", p, err)
			}
			var inPool, matching, canHold int
			for _, n := range r.nodes {
				if p.Pool == "" || n.pool == p.Pool {
					inPool++
				}
				if r.matches(p, n) {
					matching++
				}
				if r.canHold(p, n) {
					canHold++
				}
			}
			var want string
			switch {
			case len(r.nodes) == 0:
				want = "nodes"
			case inPool == 0:
				want = "pool"
			case matching == 0:
				want = "gpu_type"
			case canHold > 0:
				want = "nodes"
			}
			if want != "" && e.Field != want || want == "" && !strings.HasPrefix(e.Field, "resources") {
				t.Fatalf("Satisfiable(%+v) names field %q (%s), want %q", p, e.Field, e.Message, cmp.Or(want, "resources..."))
			}
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
				Nodes:     rapid.IntRange(0, 2).Draw(t, "nodes"),
				Pool:      rapid.SampledFrom([]string{"", "a"}).Draw(t, "pool"),
				GPUType:   rapid.SampledFrom([]string{"", "t4"}).Draw(t, "gpuType"),
			}
		}), 0, 30).Draw(t, "queue")

		want := slices.Clone(queue)
		slices.SortFunc(want, func(a, b Pending) int {
			x, y := vecOf(a.Request), vecOf(b.Request)
			return cmp.Or(cmp.Compare(b.Priority, a.Priority), a.Submitted.Compare(b.Submitted), cmp.Compare(a.ID, b.ID), slices.Compare(x[:], y[:]),
				cmp.Compare(nodesOf(a), nodesOf(b)), cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.GPUType, b.GPUType))
		})
		var got []Pending
		for _, j := range sortedJobs(queue, t0) {
			got = append(got, queue[j.src])
		}
		same := func(a, b Pending) bool {
			return a.ID == b.ID && a.Priority == b.Priority && a.Submitted.Equal(b.Submitted) && vecOf(a.Request) == vecOf(b.Request) &&
				nodesOf(a) == nodesOf(b) && a.Pool == b.Pool && a.GPUType == b.GPUType
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
