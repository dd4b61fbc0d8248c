package sched

import (
	"cmp"
	"container/heap"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// The trace simulation replays a real GPU cluster's tasks through Schedule:
// Alibaba's cluster-trace-gpu-v2023 (the "openb" lists of the USENIX ATC
// '23 paper "Beware of Fragmentation: Scheduling GPU-Sharing Workloads
// with Fragmentation Gradient Descent", Weng et al.), kept in the shared
// folder next to the repository. See docs/benchmarks.md for the results.

// traceDir is the trace, relative to this package's directory (the
// repository's ../shared/traces/alibaba-gpu-v2023).
var traceDir = filepath.Join("..", "..", "shared", "traces", "alibaba-gpu-v2023")

// traceTask is a task of the trace: when it was created (Submitted, in
// seconds from the trace start as a time after t0), how long it ran, and
// how long the production scheduler made it wait.
type traceTask struct {
	Pending
	run, prodDelay time.Duration
}

// readCSV reads a CSV file with a header into one map per row. It fails
// the test when the file is missing: the trace is part of the test.
func readCSV(t testing.TB, name string) []map[string]string {
	t.Helper()
	path := filepath.Join(traceDir, name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the trace simulation needs %s (../shared/traces/alibaba-gpu-v2023 next to the repository): %v", path, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	header, err := r.Read()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var rows []map[string]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return rows
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		row := map[string]string{}
		for i, h := range header {
			row[h] = rec[i]
		}
		rows = append(rows, row)
	}
}

func atoi(t testing.TB, what, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("trace: %s %q: %v", what, s, err)
	}
	return n
}

// loadTrace reads the GPU nodes and the tasks. Whole GPUs only: a task
// with a share of one GPU (gpu_milli < 1000; shares counts them) asks for
// the whole GPU here.
// Left out, and counted in skipped: CPU-only tasks (they run on the
// cluster's CPU nodes, which openb_node_list_gpu_node.csv leaves out) and
// tasks the production scheduler never placed (no scheduled_time, so no
// run time to replay).
func loadTrace(t testing.TB) (nodes []trainyard.Node, tasks []traceTask, skipped map[string]int, shares int) {
	t.Helper()
	for _, r := range readCSV(t, "openb_node_list_gpu_node.csv") {
		nodes = append(nodes, trainyard.Node{
			Name:   r["sn"],
			GPUs:   seq(atoi(t, "gpu", r["gpu"])),
			CPUs:   atoi(t, "cpu_milli", r["cpu_milli"]) / 1000,
			Memory: trainyard.Bytes(atoi(t, "memory_mib", r["memory_mib"])) << 20,
			Labels: map[string]string{trainyard.LabelGPUType: trainyard.GPUTypeLabel(r["model"])},
		})
	}
	skipped = map[string]int{}
	for _, r := range readCSV(t, "openb_pod_list_default.csv") {
		gpus := atoi(t, "num_gpu", r["num_gpu"])
		switch {
		case gpus == 0:
			skipped["CPU-only"]++
			continue
		case r["scheduled_time"] == "":
			skipped["never scheduled in production"]++
			continue
		}
		created, scheduled, deleted := atoi(t, "creation_time", r["creation_time"]), atoi(t, "scheduled_time", r["scheduled_time"]), atoi(t, "deletion_time", r["deletion_time"])
		if atoi(t, "gpu_milli", r["gpu_milli"]) < 1000 {
			shares++
		}
		tasks = append(tasks, traceTask{
			Pending: Pending{
				ID:        r["name"],
				Request:   trainyard.Resources{GPUs: gpus, CPUs: (atoi(t, "cpu_milli", r["cpu_milli"]) + 999) / 1000, Memory: trainyard.Bytes(atoi(t, "memory_mib", r["memory_mib"])) << 20},
				Submitted: t0.Add(time.Duration(created) * time.Second),
			},
			run:       time.Duration(deleted-scheduled) * time.Second,
			prodDelay: time.Duration(scheduled-created) * time.Second,
		})
	}
	return nodes, tasks, skipped, shares
}

// replayResult is what one replay of the trace measured.
type replayResult struct {
	tasks, started int
	delays         []time.Duration // per started task: start − submit
	offered, used  float64         // GPU-seconds asked for (from arrival) / allocated, as a share of capacity over the arrivals
	idleWaiting    float64         // mean GPUs free while some task waited
	passes         int
	passTime       time.Duration // all Schedule calls
	maxPass        time.Duration
	maxQueue       int

	// The first pass: its queue, what it started, the GPUs allocated
	// after it, how long it took.
	firstQueue, firstStarts, firstAllocated int
	firstPass                               time.Duration
}

// exits is a min-heap of running tasks by end time.
type exits []simExit

type simExit struct {
	end time.Time
	id  string
}

func (h exits) Len() int           { return len(h) }
func (h exits) Less(i, j int) bool { return h[i].end.Before(h[j].end) }
func (h exits) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *exits) Push(x any)        { *h = append(*h, x.(simExit)) }
func (h *exits) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// ledger is the replay's own account of what each node has given out,
// kept apart from Schedule: every start is checked against it.
type ledger map[string]*ledgerNode

type ledgerNode struct {
	node   trainyard.Node
	gpus   map[int]string // GPU → the task on it
	cpus   int
	memory trainyard.Bytes
}

func newLedger(nodes []trainyard.Node) ledger {
	l := ledger{}
	for _, n := range nodes {
		l[n.Name] = &ledgerNode{node: n, gpus: map[int]string{}}
	}
	return l
}

// start checks that st gives p what it asks for, on as many distinct
// nodes as it asks for, with GPUs the nodes have and no one else holds,
// and CPUs and memory within each node; then it records it.
func (l ledger) start(t testing.TB, p Pending, st Start) {
	t.Helper()
	if len(st.Placement) != max(1, p.Nodes) {
		t.Fatalf("%s asks for %d nodes, got %v", p.ID, max(1, p.Nodes), st.Placement)
	}
	for i, pl := range st.Placement {
		n := l[pl.Node]
		switch {
		case n == nil:
			t.Fatalf("%s placed on %q, which is not a node", p.ID, pl.Node)
		case i > 0 && pl.Node <= st.Placement[i-1].Node:
			t.Fatalf("%s placed on %v: not distinct nodes in order", p.ID, st.Placement)
		case len(pl.GPUs) != p.Request.GPUs || pl.CPUs != p.Request.CPUs || pl.Memory != p.Request.Memory:
			t.Fatalf("%s asks for %v per node, got %+v", p.ID, p.Request, pl)
		case !trainyard.GPUTypeMatches(n.node.Labels[trainyard.LabelGPUType], p.GPUType):
			t.Fatalf("%s asks for gpu_type %q, placed on %s", p.ID, p.GPUType, pl.Node)
		}
		for _, g := range pl.GPUs {
			switch {
			case !slices.Contains(n.node.GPUs, g):
				t.Fatalf("%s got GPU %d on %s, which has %v", p.ID, g, pl.Node, n.node.GPUs)
			case n.gpus[g] != "":
				t.Fatalf("%s got GPU %d on %s, which %s holds", p.ID, g, pl.Node, n.gpus[g])
			}
			n.gpus[g] = p.ID
		}
		n.cpus += pl.CPUs
		n.memory += pl.Memory
		if n.cpus > n.node.CPUs || n.memory > n.node.Memory {
			t.Fatalf("%s on %s: %d CPUs and %s in use; the node has %d and %s", p.ID, pl.Node, n.cpus, n.memory, n.node.CPUs, n.node.Memory)
		}
	}
}

// exit records that r ended.
func (l ledger) exit(r Running) {
	for _, pl := range r.Placement {
		n := l[pl.Node]
		for _, g := range pl.GPUs {
			delete(n.gpus, g)
		}
		n.cpus -= pl.CPUs
		n.memory -= pl.Memory
	}
}

// replay runs the tasks through Schedule as the dispatcher would, with
// arrivals speeded up by factor (1 is the trace's own timing; run times
// stay as they were): a decision whenever tasks arrive, or exit while some
// wait. Every start is checked against a ledger of its own: GPUs never
// shared, CPUs and memory within each node, the nodes asked for.
func replay(t testing.TB, nodes []trainyard.Node, tasks []traceTask, factor float64) replayResult {
	t.Helper()
	pending := slices.Clone(tasks)
	for i := range pending {
		pending[i].Submitted = t0.Add(time.Duration(float64(pending[i].Submitted.Sub(t0)) / factor))
	}
	slices.SortFunc(pending, func(a, b traceTask) int {
		return cmp.Or(a.Submitted.Compare(b.Submitted), strings.Compare(a.ID, b.ID))
	})
	capacity := 0
	for _, n := range nodes {
		capacity += len(n.GPUs)
	}
	res := replayResult{tasks: len(tasks)}
	// Utilisation is measured from the first percentile of arrivals to
	// the last arrival: the trace's first three months hold 1% of them.
	first, last := pending[len(pending)/100].Submitted, pending[len(pending)-1].Submitted
	for _, p := range pending {
		// What it would hold of the window if it started on arrival.
		if from, to := maxTime(p.Submitted, first), minTime(p.Submitted.Add(p.run), last); to.After(from) {
			res.offered += float64(p.Request.GPUs) * to.Sub(from).Seconds()
		}
	}
	res.offered /= float64(capacity) * last.Sub(first).Seconds()

	byID := map[string]traceTask{}
	for _, p := range pending {
		byID[p.ID] = p
	}
	running := map[string]Running{}
	book := newLedger(nodes)
	var ends exits
	var queue []Pending
	allocated := 0 // GPUs held by running tasks
	var usedGPUSec, idleWaitSec, waitSec float64
	now := pending[0].Submitted
	for len(pending) > 0 || len(ends) > 0 {
		next := time.Time{}
		if len(pending) > 0 {
			next = pending[0].Submitted
		}
		if len(ends) > 0 && (next.IsZero() || ends[0].end.Before(next)) {
			next = ends[0].end
		}
		// Account for the time since the last event: allocation within
		// the window, free GPUs whenever tasks wait.
		if from, to := maxTime(now, first), minTime(next, last); to.After(from) {
			usedGPUSec += float64(allocated) * to.Sub(from).Seconds()
		}
		if dt := next.Sub(now).Seconds(); len(queue) > 0 && dt > 0 {
			idleWaitSec += float64(capacity-allocated) * dt
			waitSec += dt
		}
		now = next
		for len(ends) > 0 && !ends[0].end.After(now) {
			e := heap.Pop(&ends).(simExit)
			book.exit(running[e.id])
			allocated -= byID[e.id].Request.GPUs
			delete(running, e.id)
		}
		for len(pending) > 0 && !pending[0].Submitted.After(now) {
			queue = append(queue, pending[0].Pending)
			pending = pending[1:]
		}
		if len(queue) == 0 {
			continue
		}
		res.maxQueue = max(res.maxQueue, len(queue))
		s := Snapshot{Now: now, Nodes: nodes, Queue: queue}
		for _, r := range running {
			s.Running = append(s.Running, r)
		}
		begin := time.Now()
		d := Schedule(Config{}, s)
		took := time.Since(begin)
		res.passes++
		res.passTime += took
		res.maxPass = max(res.maxPass, took)
		if res.passes == 1 {
			res.firstPass, res.firstQueue, res.firstStarts = took, len(queue), len(d.Starts)
		}
		started := map[string]bool{}
		for _, st := range d.Starts {
			task := byID[st.ID]
			book.start(t, task.Pending, st)
			running[st.ID] = Running{ID: st.ID, Placement: st.Placement}
			heap.Push(&ends, simExit{now.Add(task.run), st.ID})
			allocated += task.Request.GPUs
			res.started++
			res.delays = append(res.delays, now.Sub(task.Submitted))
			started[st.ID] = true
		}
		queue = slices.DeleteFunc(queue, func(p Pending) bool { return started[p.ID] })
		if res.passes == 1 {
			res.firstAllocated = allocated
		}
		if len(ends) == 0 && len(pending) == 0 {
			break // what is left can never start
		}
	}
	res.used = usedGPUSec / (float64(capacity) * last.Sub(first).Seconds()) // NaN when all arrive at once
	if waitSec > 0 {
		res.idleWaiting = idleWaitSec / waitSec
	}
	return res
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// quantile returns the q-quantile of sorted durations, by nearest rank.
func quantile(d []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	if len(d) == 0 {
		return 0
	}
	return sum / time.Duration(len(d))
}

// delayRow formats a delay distribution: median, p90, p99, max, mean and
// the share of tasks that waited at all.
func delayRow(d []time.Duration) string {
	d = slices.Clone(d)
	slices.Sort(d)
	waited := 0
	for _, x := range d {
		if x > 0 {
			waited++
		}
	}
	return fmt.Sprintf("%8s %8s %8s %9s %8s %6.1f%%", short(quantile(d, 0.5)), short(quantile(d, 0.9)), short(quantile(d, 0.99)),
		short(d[len(d)-1]), short(mean(d)), 100*float64(waited)/float64(len(d)))
}

// short writes a duration rounded to the second (to the millisecond
// below a second).
func short(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// TestTraceSim replays the trace's GPU tasks on its 1,213 GPU nodes at the
// trace's own pace and with arrivals speeded up until the cluster is
// busy, checking every decision, and reports utilisation and queueing
// delay next to the production scheduler's own delay
// (scheduled_time − creation_time). Run it with -v to see the report.
func TestTraceSim(t *testing.T) {
	nodes, tasks, skipped, shares := loadTrace(t)
	var unsatisfiable int
	for _, task := range tasks {
		if Satisfiable(nodes, task.Pending) != nil {
			unsatisfiable++
		}
	}
	capacity := 0
	for _, n := range nodes {
		capacity += len(n.GPUs)
	}
	t.Logf("trace: %d GPU nodes, %d GPUs; %d GPU tasks replayed (%d of them with a GPU share, here a whole GPU; %d can never run on these nodes); left out: %v",
		len(nodes), capacity, len(tasks), shares, unsatisfiable, skipped)

	prod := make([]time.Duration, len(tasks))
	for i, task := range tasks {
		prod[i] = task.prodDelay
	}
	t.Logf("%-28s %7s %7s %8s %8s %8s %9s %8s %7s %7s %9s %9s", "replay", "offered", "used", "median", "p90", "p99", "max", "mean", "waited", "passes", "pass avg", "pass max")
	t.Logf("%-28s %7s %7s %s", "production (trace)", "", "", delayRow(prod))
	for _, factor := range []float64{1, 1000, math.Inf(1)} {
		r := replay(t, nodes, tasks, factor)
		if r.started != len(tasks)-unsatisfiable {
			t.Errorf("arrivals ×%v: %d of %d tasks that can run started", factor, r.started, len(tasks)-unsatisfiable)
		}
		name, offered, used := fmt.Sprintf("trainyard, arrivals ×%v", factor), fmt.Sprintf("%6.1f%%", 100*r.offered), fmt.Sprintf("%6.1f%%", 100*r.used)
		if math.IsInf(factor, 1) {
			name, offered, used = "trainyard, all at once", "", ""
		}
		t.Logf("%-28s %7s %7s %s %7d %9s %9s", name, offered, used, delayRow(r.delays), r.passes, short(r.passTime/time.Duration(max(1, r.passes))), short(r.maxPass))
		if math.IsInf(factor, 1) {
			t.Logf("%-28s first pass: %d queued, %d started in %s; %d of %d GPUs allocated (%.1f%%)", "",
				r.firstQueue, r.firstStarts, short(r.firstPass), r.firstAllocated, capacity, 100*float64(r.firstAllocated)/float64(capacity))
		}
		if r.idleWaiting > 0 {
			t.Logf("%-28s while tasks waited, %.0f of %d GPUs were free on average; longest queue %d", "", r.idleWaiting, capacity, r.maxQueue)
		}
	}
}
