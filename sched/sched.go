package sched

import (
	"slices"
	"sort"
	"time"

	"github.com/trainyard/trainyard"
)

// DefaultBackfillWindow is the backfill window of a Config that names none.
const DefaultBackfillWindow = 5 * time.Minute

// maxImplicitGPUs bounds the GPU indices made up from Capacity.GPUs when a
// Snapshot names none, so that a corrupt count cannot exhaust memory.
const maxImplicitGPUs = 1 << 16

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
	ID        string
	Request   trainyard.Resources // negative amounts count as 0
	Priority  int                 // higher runs first
	Submitted time.Time
}

// Running is a job that holds resources now.
type Running struct {
	ID      string
	Request trainyard.Resources // its CPUs and Memory are in use; its GPUs count is not used
	GPUs    []int               // the GPU indices it holds
}

// Snapshot is everything Schedule needs to know, taken at Now. Schedule
// reads it and never keeps or changes it.
type Snapshot struct {
	Now time.Time
	// Capacity is the whole machine: GPU count, CPU cores, memory bytes.
	// Negative amounts count as 0.
	Capacity trainyard.Resources
	// GPUs are the indices of the GPUs that exist (usually 0..n-1; may
	// have holes). When empty, the machine has GPUs 0..Capacity.GPUs-1.
	// When it names more distinct indices than Capacity.GPUs, only the
	// lowest Capacity.GPUs of them are used.
	GPUs []int
	// Running jobs hold the GPUs they name (those not among the machine's
	// GPUs are ignored; a GPU named twice is simply busy) and the CPUs and
	// memory they request. Running jobs may overcommit the machine; free
	// amounts then count as 0.
	Running []Running
	// Queue is the waiting jobs, in any order. IDs should be unique.
	Queue []Pending
}

// Start tells the caller to start a job on the given GPUs (ascending; nil
// when it asks for none).
type Start struct {
	ID   string
	GPUs []int
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

// gpuPool tracks the machine's GPUs during one walk of the queue.
type gpuPool struct {
	ids   []int   // usable indices, ascending
	state []uint8 // gpuFree, gpuBusy or gpuHeld, by position in ids
	next  int     // no free GPU sits below this position
	nfree int
}

const (
	gpuFree uint8 = iota
	gpuBusy
	gpuHeld
)

func newGPUPool(capacity int, named []int) *gpuPool {
	var ids []int
	if len(named) == 0 {
		n := min(max(capacity, 0), maxImplicitGPUs)
		ids = make([]int, n)
		for i := range ids {
			ids[i] = i
		}
	} else {
		ids = slices.Clone(named)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		ids = ids[:min(len(ids), max(capacity, 0))]
	}
	return &gpuPool{ids: ids, state: make([]uint8, len(ids)), nfree: len(ids)}
}

// markBusy marks the named GPUs busy, ignoring those the machine lacks.
func (p *gpuPool) markBusy(named []int) {
	for _, g := range named {
		i := sort.SearchInts(p.ids, g)
		if i < len(p.ids) && p.ids[i] == g && p.state[i] == gpuFree {
			p.state[i] = gpuBusy
			p.nfree--
		}
	}
}

// take gives the n lowest free GPUs the state st and, when st is gpuBusy,
// returns their indices. The caller makes sure n <= p.nfree.
func (p *gpuPool) take(n int64, st uint8) []int {
	if n <= 0 {
		return nil
	}
	var out []int
	if st == gpuBusy {
		out = make([]int, 0, n)
	}
	for i := p.next; n > 0 && i < len(p.ids); i++ {
		if p.state[i] != gpuFree {
			continue
		}
		p.state[i] = st
		p.nfree--
		n--
		if out != nil {
			out = append(out, p.ids[i])
		}
		p.next = i + 1
	}
	return out
}

// Schedule decides which queued jobs start now and why the others wait.
// It is pure: the result depends only on cfg and s (never on the order of
// s.Queue or s.Running), and the rules are those in the package
// documentation. It never gives a GPU to two jobs, never gives a job a GPU
// outside the machine's GPUs or one a running job names, and never starts
// jobs whose CPUs or memory exceed what running jobs leave free.
func Schedule(cfg Config, s Snapshot) Decision {
	window := cfg.window()

	pool := newGPUPool(s.Capacity.GPUs, s.GPUs)
	capacity := amountsOf(s.Capacity)
	capacity[dimGPU] = int64(len(pool.ids))
	idle := capacity // not used by running or started jobs
	for _, r := range s.Running {
		pool.markBusy(r.GPUs)
		req := amountsOf(r.Request)
		idle[dimCPU] = max(0, idle[dimCPU]-req[dimCPU])
		idle[dimMem] = max(0, idle[dimMem]-req[dimMem])
	}
	idle[dimGPU] = int64(pool.nfree)

	jobs := sortedJobs(s.Queue, s.Now, window, capacity)

	// The last aged job is the protection line: every waiting job up to
	// it holds what it needs.
	line := -1
	for i := range jobs {
		if jobs[i].aged {
			line = i
		}
	}

	w := walk{window: window.String(), jobs: jobs}
	if len(jobs) > 0 {
		w.buf = make([]byte, 0, min(reasonChunk+1024, 128*len(jobs)))
	}
	for d := range ndim {
		w.firstHolder[d] = -1
	}
	var dec Decision
	avail := idle // idle less what waiting jobs hold
	behind := 0   // the first aged job at or after i, while i <= line
	for i := range jobs {
		j := &jobs[i]
		for behind < i || behind < line && !jobs[behind].aged {
			behind++
		}
		switch {
		case !j.req.fits(capacity):
			w.buf = appendNever(w.buf, capacity, j.req)
		case j.req.fits(avail):
			gpus := pool.take(j.req[dimGPU], gpuBusy)
			for d := range ndim {
				avail[d] -= j.req[d]
				idle[d] -= j.req[d]
			}
			dec.Starts = append(dec.Starts, Start{ID: j.id, GPUs: gpus})
			continue
		case i <= line:
			heldBack := j.req.fits(idle) // only what jobs ahead hold stops it
			if heldBack {
				w.appendHeld(j.req.short(avail))
			}
			var hold amounts
			for d := range ndim {
				hold[d] = min(j.req[d], avail[d])
				avail[d] -= hold[d]
				if hold[d] > 0 && w.firstHolder[d] < 0 {
					w.firstHolder[d], w.firstBehind[d] = i, behind
				}
			}
			pool.take(hold[dimGPU], gpuHeld)
			if !heldBack {
				w.appendHolding(i, behind, hold)
			}
		default:
			if d := j.req.short(idle); d >= 0 {
				w.buf = appendWaiting(w.buf, d, j.req, idle, capacity)
			} else {
				w.appendHeld(j.req.short(avail))
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

// walk is what the reasons need to know about one Schedule call.
type walk struct {
	window      string // the backfill window, written out
	jobs        []job
	buf         []byte    // reasons not yet flushed, one after another
	ends        []int     // where each of them ends in buf
	firstHolder [ndim]int // first waiting job that holds some of a dimension; -1 if none
	firstBehind [ndim]int // the aged job at or behind firstHolder that made it hold
}
