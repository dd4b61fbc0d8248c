package sched

import (
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
)

// Reasons are appended to one buffer (see Schedule), so the helpers here
// append rather than return strings.

// appendShort writes the amounts of v in the dimensions where req exceeds
// capacity, joined by "and".
func appendShort(b []byte, v, capacity, req amounts) []byte {
	first := true
	for d := range ndim {
		if req[d] > capacity[d] {
			if !first {
				b = append(b, " and "...)
			}
			b = appendAmount(b, d, v[d])
			first = false
		}
	}
	return b
}

// appendAmount writes n of dimension d: "1 GPU", "16 CPUs", "32GiB memory".
func appendAmount(b []byte, d int, n int64) []byte {
	b = appendBare(b, d, n)
	switch {
	case d == dimMem:
		return append(b, " memory"...)
	case d == dimGPU:
		b = append(b, " GPU"...)
	default:
		b = append(b, " CPU"...)
	}
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// appendBare writes n of dimension d without a noun: "3", "10GiB".
func appendBare(b []byte, d int, n int64) []byte {
	if d == dimMem {
		return append(b, trainyard.Bytes(n).String()...)
	}
	return strconv.AppendInt(b, n, 10)
}

// appendSeconds writes a non-negative d, truncated to the second, as
// time.Duration.String would: "0s", "45s", "6m0s", "1h2m3s".
func appendSeconds(b []byte, d time.Duration) []byte {
	sec := int64(d / time.Second)
	if sec < 60 {
		return append(strconv.AppendInt(b, sec, 10), 's')
	}
	if h := sec / 3600; h > 0 {
		b = append(strconv.AppendInt(b, h, 10), 'h')
	}
	b = append(strconv.AppendInt(b, sec/60%60, 10), 'm')
	return append(strconv.AppendInt(b, sec%60, 10), 's')
}

// appendWaitingOne writes the reason of an unprotected job on a machine of
// one node that does not fit what is free; d is the first dimension that
// is short: "waiting for 2 GPUs: 1 of 4 free".
func appendWaitingOne(b []byte, d int, req, free, capacity amounts) []byte {
	b = appendAmount(append(b, "waiting for "...), d, req[d])
	b = appendBare(append(b, ": "...), d, free[d])
	b = appendBare(append(b, " of "...), d, capacity[d])
	return append(b, " free"...)
}

// appendWaiting writes the reason of unprotected job j, which fits what
// is free on fewer nodes than it needs. On one node, as appendWaitingOne. On several:
// "waiting for 2 nodes with 4 free GPUs each: 1 of 3 matching nodes has
// them", naming the first dimension in which too few matching nodes have
// enough free, or "waiting for a node with 2 GPUs and 8 CPUs free: 0 of 3
// matching nodes have them" when each dimension alone would do.
func (w *walk) appendWaiting(j *job) {
	c := w.c
	if w.single {
		d := j.req.short(c.idle[0])
		w.buf = appendWaitingOne(w.buf, d, j.req, c.idle[0], c.cap[0])
		return
	}
	// Per dimension, and in all at once, how many matching nodes have
	// enough free.
	count, joint := c.idleCounts(j.cls, j.req, j.nodes)
	d := -1
	for x := range ndim {
		if count[x] < j.nodes {
			d = x
			break
		}
	}
	b := append(w.buf, "waiting for "...)
	if j.nodes == 1 {
		b = append(b, "a node with "...)
	} else {
		b = append(strconv.AppendInt(b, int64(j.nodes), 10), " nodes with "...)
	}
	n := joint
	if d >= 0 {
		b, n = appendFree(b, d, j.req[d]), count[d]
	} else {
		b = append(appendList(b, j.req), " free"...)
	}
	if j.nodes > 1 {
		b = append(b, " each"...)
	}
	b = strconv.AppendInt(append(b, ": "...), int64(n), 10)
	m := j.cls.fitting(j.req)
	b = strconv.AppendInt(append(b, " of "...), int64(m), 10)
	b = append(b, " matching nodes"...)
	if n == 1 {
		b = append(b, " has them"...)
	} else {
		b = append(b, " have them"...)
	}
	w.buf = b
}

// appendFree writes n of dimension d, free: "4 free GPUs", "1 free GPU",
// "8 free CPUs", "32GiB free memory".
func appendFree(b []byte, d int, n int64) []byte {
	b = appendBare(b, d, n)
	switch d {
	case dimMem:
		return append(b, " free memory"...)
	case dimGPU:
		b = append(b, " free GPU"...)
	default:
		b = append(b, " free CPU"...)
	}
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// appendList writes the dimensions of req that are not zero: "4 GPUs, 8
// CPUs and 32GiB memory", "2 CPUs"; "nothing" when all are.
func appendList(b []byte, req amounts) []byte {
	var ds []int
	for d := range ndim {
		if req[d] > 0 {
			ds = append(ds, d)
		}
	}
	if len(ds) == 0 {
		return append(b, "nothing"...)
	}
	for i, d := range ds {
		switch {
		case i == 0:
		case i == len(ds)-1:
			b = append(b, " and "...)
		default:
			b = append(b, ", "...)
		}
		b = appendAmount(b, d, req[d])
	}
	return b
}

// appendHolding writes the reason of protected job i, which does not fit
// what is free and holds hold in all (as w.heldOn says where) because
// job behind (i itself, or an aged job behind it) has aged: "holding 1 of
// 2 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s
// backfill window)". On several nodes the amounts are totals over the
// job's nodes, and the nodes on which it holds some of that are named:
// "holding 6 of 16 GPUs it needs on nodes a, b; ...".
func (w *walk) appendHolding(i, behind int, hold amounts) {
	j := &w.jobs[i]
	need := j.req
	for d := range ndim {
		need[d] *= int64(j.nodes)
	}
	d := max(0, need.short(hold))
	b := appendBare(append(w.buf, "holding "...), d, hold[d])
	b = appendAmount(append(b, " of "...), d, need[d])
	b = append(b, " it needs"...)
	if !w.single {
		// The nodes on which it holds some of what the reason counts.
		w.nodes = w.nodes[:0]
		for _, x := range w.heldOn {
			if x.h[d] > 0 {
				w.nodes = append(w.nodes, x.node)
			}
		}
		if len(w.nodes) > 0 {
			b = w.appendNodes(append(b, " on "...), w.nodes)
		}
	}
	b = append(b, "; waiting for the rest ("...)
	if behind == i {
		b = appendSeconds(append(b, "waited "...), j.waited)
		b = append(append(append(b, ", past the "...), w.window...), " backfill window)"...)
	} else {
		b = append(append(append(b, "queued ahead of job "...), w.jobs[behind].id...), ", which has waited past the backfill window)"...)
	}
	w.buf = b
}

// maxNamedNodes is how many nodes a reason names before it counts the rest.
const maxNamedNodes = 3

// appendNodes writes "node a", "nodes a, b, c" or "nodes a, b, c and 5
// more".
func (w *walk) appendNodes(b []byte, nodes []int32) []byte {
	if len(nodes) == 1 {
		return append(append(b, "node "...), w.c.names[nodes[0]]...)
	}
	b = append(b, "nodes "...)
	for i, k := range nodes[:min(len(nodes), maxNamedNodes)] {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, w.c.names[k]...)
	}
	if more := len(nodes) - maxNamedNodes; more > 0 {
		b = append(strconv.AppendInt(append(b, " and "...), int64(more), 10), " more"...)
	}
	return b
}

// appendHeld writes the reason of job j, which would fit what is free
// were it not for what protected jobs ahead of it hold: "resources are
// held for job A, which has waited past the backfill window". It names the
// first job that holds some of what j lacks on the first node (in node
// order) on which only holdings stop j; on several nodes it names that
// node too: "resources on node b are held for job A, ...".
func (w *walk) appendHeld(j *job) {
	c := w.c
	node := c.heldBack(j.cls, j.req)
	b := w.buf
	if node < 0 {
		// Unreachable: j fits what is idle on more nodes than what is
		// available, and only holdings make the difference.
		w.buf = append(b, "resources are held for jobs ahead of it"...)
		return
	}
	h := w.holders[int(node)*ndim+j.req.short(c.avail[node])]
	if w.single {
		b = append(b, "resources are held for job "...)
	} else {
		b = append(append(append(b, "resources on node "...), c.names[node]...), " are held for job "...)
	}
	b = append(b, w.jobs[h.job].id...)
	if h.job != h.behind {
		b = append(append(b, ", queued ahead of job "...), w.jobs[h.behind].id...)
	}
	w.buf = append(b, ", which has waited past the backfill window"...)
}
