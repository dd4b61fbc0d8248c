package sched

import (
	"slices"
	"time"

	"github.com/trainyard/trainyard"
)

// DefaultBackfillWindow is the backfill window of a Config that names none.
const DefaultBackfillWindow = 5 * time.Minute

// Config tunes Schedule.
type Config struct {
	// BackfillWindow is how long a waiting job lets later jobs start ahead
	// of it (backfill) before it ages and holds resources for itself.
	// Zero means DefaultBackfillWindow (5m). A negative window counts as
	// 0s: every waiting job is aged at once and nothing is backfilled
	// ahead of a waiting job that could ever run.
	BackfillWindow time.Duration
}

func (c Config) window() time.Duration {
	switch {
	case c.BackfillWindow == 0:
		return DefaultBackfillWindow
	case c.BackfillWindow < 0:
		return 0
	}
	return c.BackfillWindow
}

// Pending is a queued job as the scheduler sees it.
type Pending struct {
	ID string
	// Request is what the job needs on each of its nodes. Negative
	// amounts count as 0.
	Request trainyard.Resources
	// Nodes is how many nodes the job runs on, each giving it Request;
	// 0 (or less) counts as 1. A job of several nodes starts on all of
	// them at once or not at all (a gang).
	Nodes int
	// Pool, when set, restricts the job to nodes whose label
	// trainyard.LabelPool names it (trainyard.PoolMatches).
	Pool string
	// GPUType, when set, restricts the job to nodes whose label
	// trainyard.LabelGPUType matches it (trainyard.GPUTypeMatches).
	GPUType   string
	Priority  int // higher runs first
	Submitted time.Time
}

// Running is a job that holds resources now.
type Running struct {
	ID string
	// Placement is what it holds on each node: GPUs by index, CPUs and
	// memory.
	Placement []trainyard.Placement
}

// Snapshot is everything Schedule needs to know, taken at Now. Schedule
// reads it and never keeps or changes it.
type Snapshot struct {
	Now time.Time
	// Nodes are the machines jobs may run on, in any order. Names should
	// be unique: of several nodes with the same name only the first in
	// this list is used. A node's GPUs are its distinct indices; negative
	// CPUs and memory count as 0.
	Nodes []trainyard.Node
	// Running jobs hold what their placements name: the GPUs (those a node
	// lacks are ignored; a GPU named twice is simply busy) and the CPUs and
	// memory. Placements on nodes not in Nodes are ignored. Running jobs may
	// overcommit a node; its free amounts then count as 0.
	Running []Running
	// Queue is the waiting jobs, in any order. IDs should be unique.
	Queue []Pending
}

// Start tells the caller to start a job. Placement has one entry per node
// the job asked for, on distinct nodes in node order (by name; the first
// is node rank 0): the node's name, the GPU indices it gets there
// (ascending; nil when it asks for none), and its CPUs and memory, which
// are the job's Request (negative amounts as 0).
type Start struct {
	ID        string
	Placement []trainyard.Placement
}

// Wait tells why a job stays queued. Position is its 1-based place in
// scheduling order among the jobs still queued after the decision.
type Wait struct {
	ID       string
	Position int
	Reason   string
}

// Decision is the outcome of Schedule: every queued job appears exactly
// once, in Starts or in Waits, each list in scheduling order.
type Decision struct {
	Starts []Start
	Waits  []Wait
}

// Resource dimensions, in the order reasons name them.
const (
	dimGPU = iota
	dimCPU
	dimMem
	ndim
)

// amounts is a request or a free amount per dimension, never negative.
type amounts [ndim]int64

func amountsOf(r trainyard.Resources) amounts {
	return amounts{max(0, int64(r.GPUs)), max(0, int64(r.CPUs)), max(0, int64(r.Memory))}
}

func (a amounts) fits(free amounts) bool {
	return a[dimGPU] <= free[dimGPU] && a[dimCPU] <= free[dimCPU] && a[dimMem] <= free[dimMem]
}

// short returns the first dimension, GPUs first, in which a exceeds b.
func (a amounts) short(b amounts) int {
	for d := range ndim {
		if a[d] > b[d] {
			return d
		}
	}
	return -1
}

// Schedule decides which queued jobs start now, on which nodes and GPUs,
// and why the others wait. It is pure: the result depends only on cfg and
// s (never on the order of s.Nodes, s.Running or s.Queue), and the rules
// are those in the package documentation. It never gives a GPU to two
// jobs, never gives a job a GPU a node lacks or one a running job names,
// never starts jobs whose CPUs or memory exceed what running jobs leave
// free on a node, never places a job on a node whose pool or GPU type it
// does not match, and starts a job of several nodes on all of them or not
// at all.
func Schedule(cfg Config, s Snapshot) Decision {
	window := cfg.window()
	c := newCluster(s.Nodes, s.Running)

	jobs := sortedJobs(s.Queue, s.Now)
	// The last aged job is the protection line: every waiting job up to
	// it holds what it needs.
	line := -1
	for i := range jobs {
		j := &jobs[i]
		p := &s.Queue[j.src]
		j.cls = c.classOf(p.Pool, p.GPUType)
		j.can = j.cls.fitting(j.req) >= j.nodes
		j.aged = j.can && j.waited >= window
		if j.aged {
			line = i
		}
	}

	w := walk{window: window.String(), jobs: jobs, c: c, single: len(c.names) == 1}
	if len(jobs) > 0 {
		w.buf = make([]byte, 0, min(reasonChunk+1024, 128*len(jobs)))
	}
	w.holders = make([]holder, len(c.names)*ndim)
	for k := range w.holders {
		w.holders[k] = holder{-1, -1}
	}
	var dec Decision
	behind := 0 // the first aged job at or after i, while i <= line
	for i := range jobs {
		j := &jobs[i]
		for behind < i || behind < line && !jobs[behind].aged {
			behind++
		}
		switch {
		case !j.can:
			w.buf = append(w.buf, "can never run here: "...)
			w.buf = c.appendUnsatisfiable(w.buf, &s.Queue[j.src])
		case w.start(j, &dec):
			continue
		case i <= line:
			heldBack := c.fitsIdle(j.cls, j.req, j.nodes) // only what jobs ahead hold stops it
			if heldBack {
				w.appendHeld(j)
			}
			hold := w.hold(i, behind)
			if !heldBack {
				w.appendHolding(i, behind, hold)
			}
		default:
			if c.fitsIdle(j.cls, j.req, j.nodes) {
				w.appendHeld(j)
			} else {
				w.appendWaiting(j)
			}
		}
		if dec.Waits == nil {
			dec.Waits = make([]Wait, 0, len(jobs)-i)
		}
		dec.Waits = append(dec.Waits, Wait{ID: j.id, Position: len(dec.Waits) + 1})
		w.ends = append(w.ends, len(w.buf))
		if len(w.buf) >= reasonChunk {
			w.flush(dec.Waits)
		}
	}
	w.flush(dec.Waits)
	return dec
}

// start starts j if it fits what is available on enough nodes: the nodes
// on which it leaves the fewest GPUs free (then CPUs, then memory, then
// node order), its request taken out of what they have idle and
// available. It reports whether j started.
func (w *walk) start(j *job, dec *Decision) bool {
	c := w.c
	if !c.bestFit(j.cls, j.req, j.nodes) {
		return false
	}
	slices.SortFunc(c.sel, func(a, b cand) int { return int(a.node - b.node) })
	pl := make([]trainyard.Placement, len(c.sel))
	for i, x := range c.sel {
		k := x.node
		pl[i] = trainyard.Placement{
			Node:   c.names[k],
			GPUs:   c.gpus[k].take(j.req[dimGPU], gpuBusy),
			CPUs:   int(j.req[dimCPU]),
			Memory: trainyard.Bytes(j.req[dimMem]),
		}
		c.use(k, j.req)
	}
	dec.Starts = append(dec.Starts, Start{ID: j.id, Placement: pl})
	return true
}

// hold makes protected job i, which does not start, hold min(request,
// available) on each of the nodes on which it lacks the least, and returns
// the total it holds. behind is the aged job that makes it hold. The nodes
// on which it holds anything, and what, are left in w.heldOn, in node
// order.
func (w *walk) hold(i, behind int) amounts {
	c, j := w.c, &w.jobs[i]
	w.heldOn = w.heldOn[:0]
	var total amounts
	if c.nothingAvailable(j.cls, j.req) {
		return total
	}
	c.closest(j.cls, j.req, j.nodes)
	for _, x := range c.sel {
		k := x.node
		var h amounts
		for d := range ndim {
			h[d] = min(j.req[d], c.avail[k][d])
			total[d] += h[d]
			if hd := &w.holders[int(k)*ndim+d]; h[d] > 0 && hd.job < 0 {
				hd.job, hd.behind = int32(i), int32(behind)
			}
		}
		if h != (amounts{}) {
			c.gpus[k].take(h[dimGPU], gpuHeld)
			c.reserve(k, h)
			w.heldOn = append(w.heldOn, held{k, h})
		}
	}
	slices.SortFunc(w.heldOn, func(a, b held) int { return int(a.node - b.node) })
	return total
}

// reasonChunk is about how many bytes of reasons share one string.
const reasonChunk = 32 << 10

// flush gives the waits whose reasons are in w.buf their Reason: all of
// them share one string, one allocation rather than one per job, and buf
// is reused for the next ones.
func (w *walk) flush(waits []Wait) {
	if len(w.ends) == 0 {
		return
	}
	reasons, from := string(w.buf), 0
	waits = waits[len(waits)-len(w.ends):]
	for i, to := range w.ends {
		waits[i].Reason = reasons[from:to]
		from = to
	}
	w.buf, w.ends = w.buf[:0], w.ends[:0]
}

// walk is one Schedule call's walk of the queue.
type walk struct {
	window string // the backfill window, written out
	jobs   []job
	c      *cluster
	single bool    // the cluster is one node: reasons as for one machine
	buf    []byte  // reasons not yet flushed, one after another
	ends   []int   // where each of them ends in buf
	heldOn []held  // scratch: where the last hold took something
	nodes  []int32 // scratch
	// holders, by node and dimension: the first waiting job that holds
	// some of it there, and the aged job at or behind it that made it hold.
	holders []holder
}

type holder struct{ job, behind int32 }

// held is what a job holds on a node.
type held struct {
	node int32
	h    amounts
}
