package sched

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// job is a queued job during one walk.
type job struct {
	id     string
	req    amounts       // per node
	nodes  int           // at least 1
	waited time.Duration // Now − Submitted
	src    int           // index in Snapshot.Queue
	cls    *class        // the nodes that match its pool and GPU type
	can    bool          // it fits enough of them when they are empty
	aged   bool          // it can run here and has waited the backfill window
}

// sortedJobs returns the queue in scheduling order: priority descending,
// then Submitted ascending, then ID ascending. The rest of a job (request,
// nodes, pool, GPU type) breaks the remaining ties so that even duplicate
// IDs cannot make the result depend on input order. Submitted is compared
// as an instant (Unix seconds, then nanoseconds); monotonic clock readings
// play no part.
func sortedJobs(queue []Pending, now time.Time) []job {
	order := packedOrder(queue)
	if order == nil {
		order = generalOrder(queue)
	}
	jobs := make([]job, len(queue))
	for i, k := range order {
		p := &queue[k]
		j := &jobs[i]
		j.id, j.req, j.nodes, j.waited, j.src = p.ID, amountsOf(p.Request), max(1, p.Nodes), now.Sub(p.Submitted), k
	}
	return jobs
}

// Bits of a packed sort key: priority rank, second since the oldest
// submit, index in the queue.
const (
	packPrioBits  = 11 // trainyard.MaxPriority is 1000: 2001 values
	packSecBits   = 33 // 272 years
	packIndexBits = 64 - packPrioBits - packSecBits
)

// packedOrder sorts the queue as integers when priorities, submit seconds
// and queue length fit a 64-bit key, which is the usual case and several
// times faster than sorting with a comparison function; runs of equal
// priority and second are then put in full order. It returns nil when the
// queue does not fit the key.
func packedOrder(queue []Pending) []int {
	if len(queue) == 0 || len(queue) >= 1<<packIndexBits {
		return nil
	}
	minP, maxP := queue[0].Priority, queue[0].Priority
	minS, maxS := queue[0].Submitted.Unix(), queue[0].Submitted.Unix()
	for i := range queue {
		p, s := queue[i].Priority, queue[i].Submitted.Unix()
		minP, maxP, minS, maxS = min(minP, p), max(maxP, p), min(minS, s), max(maxS, s)
	}
	// Differences as unsigned values cannot overflow.
	if uint64(maxP)-uint64(minP) >= 1<<packPrioBits || uint64(maxS)-uint64(minS) >= 1<<packSecBits {
		return nil
	}
	keys := make([]uint64, len(queue))
	for i := range queue {
		prio := uint64(maxP) - uint64(queue[i].Priority) // 0 for the highest
		sec := uint64(queue[i].Submitted.Unix()) - uint64(minS)
		keys[i] = prio<<(packSecBits+packIndexBits) | sec<<packIndexBits | uint64(i)
	}
	radixSort(keys)
	const index = 1<<packIndexBits - 1
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j]>>packIndexBits == keys[i]>>packIndexBits {
			j++
		}
		if j-i > 1 {
			slices.SortFunc(keys[i:j], func(a, b uint64) int { return compareTies(&queue[a&index], &queue[b&index]) })
		}
		i = j
	}
	order := make([]int, len(keys))
	for i, k := range keys {
		order[i] = int(k & index)
	}
	return order
}

// generalOrder sorts any queue with a comparison function.
func generalOrder(queue []Pending) []int {
	order := make([]int, len(queue))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		p, q := &queue[a], &queue[b]
		if p.Priority != q.Priority {
			return cmp.Compare(q.Priority, p.Priority)
		}
		if c := cmp.Compare(p.Submitted.Unix(), q.Submitted.Unix()); c != 0 {
			return c
		}
		return compareTies(p, q)
	})
	return order
}

// compareTies orders jobs of equal priority submitted in the same second.
func compareTies(p, q *Pending) int {
	if c := cmp.Compare(p.Submitted.Nanosecond(), q.Submitted.Nanosecond()); c != 0 {
		return c
	}
	if c := strings.Compare(p.ID, q.ID); c != 0 {
		return c
	}
	x, y := amountsOf(p.Request), amountsOf(q.Request)
	if c := slices.Compare(x[:], y[:]); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(max(1, p.Nodes), max(1, q.Nodes)), strings.Compare(p.Pool, q.Pool), strings.Compare(p.GPUType, q.GPUType))
}

// radixSort sorts keys ascending: a byte-wise LSD radix sort that skips the
// bytes in which all keys agree, for long slices; slices.Sort otherwise.
func radixSort(keys []uint64) {
	if len(keys) < 256 {
		slices.Sort(keys)
		return
	}
	var or, and uint64 = 0, ^uint64(0)
	for _, k := range keys {
		or, and = or|k, and&k
	}
	varying := or ^ and
	src, dst := keys, make([]uint64, len(keys))
	for shift := 0; shift < 64; shift += 8 {
		if varying>>shift&0xff == 0 {
			continue
		}
		var start [256]int
		for _, k := range src {
			start[k>>shift&0xff]++
		}
		n := 0
		for d, c := range start {
			start[d], n = n, n+c
		}
		for _, k := range src {
			d := k >> shift & 0xff
			dst[start[d]] = k
			start[d]++
		}
		src, dst = dst, src
	}
	copy(keys, src) // a no-op when src is keys
}
