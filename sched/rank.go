package sched

import "math/bits"

// The queries a walk makes of a class of nodes. Each looks only at the
// nodes the class's indexes point it to: those with enough GPUs free, or
// the GPU buckets closest to enough.

// cand is a node ranked for a job: by what the job lacks there (short),
// then what it would leave there (left), then node order.
type cand struct {
	short, left amounts
	node        int32
}

func (a *cand) less(b *cand) bool {
	for d := range ndim {
		if a.short[d] != b.short[d] {
			return a.short[d] < b.short[d]
		}
	}
	for d := range ndim {
		if a.left[d] != b.left[d] {
			return a.left[d] < b.left[d]
		}
	}
	return a.node < b.node
}

// insert adds x to c.sel, kept sorted and at most n long.
func (c *cluster) insert(x cand, n int) {
	if len(c.sel) == n {
		if !x.less(&c.sel[n-1]) {
			return
		}
		c.sel = c.sel[:n-1]
	}
	i := len(c.sel)
	c.sel = append(c.sel, x)
	for i > 0 && x.less(&c.sel[i-1]) {
		c.sel[i] = c.sel[i-1]
		i--
	}
	c.sel[i] = x
}

// bestFit puts into c.sel, best first, the n nodes of cl on which req
// fits what is available and leaves the fewest GPUs free, then the fewest
// CPUs, then the least memory, then the first in node order; it reports
// whether there are n such nodes.
func (c *cluster) bestFit(cl *class, req amounts, n int) bool {
	c.sel = c.sel[:0]
	x := &cl.avail
	if !x.mayFit(req, cl.nodes, c.avail) {
		return false
	}
	// Buckets in order of GPUs left; in a bucket, nodes in node order.
	for b := int(req[dimGPU]); b <= x.top && len(c.sel) < n; b++ {
		if x.count[b] == 0 {
			continue
		}
		perfect := amounts{int64(b) - req[dimGPU], 0, 0} // the least a node here can leave
	bucket:
		for w, v := range x.bucket(b) {
			for ; v != 0; v &= v - 1 {
				k := cl.nodes[w*64+bits.TrailingZeros64(v)]
				a := &c.avail[k]
				if req[dimCPU] > a[dimCPU] || req[dimMem] > a[dimMem] {
					continue
				}
				c.insert(cand{left: amounts{perfect[dimGPU], a[dimCPU] - req[dimCPU], a[dimMem] - req[dimMem]}, node: k}, n)
				if len(c.sel) == n && c.sel[n-1].left == perfect {
					break bucket // nothing later in the bucket ranks before it
				}
			}
		}
	}
	return len(c.sel) == n
}

// closest puts into c.sel, best first, the n nodes of cl that can ever
// hold req on which it lacks the least of what is available: the fewest
// GPUs short, then CPUs, then memory, then the first in node order. cl
// must have n such nodes.
func (c *cluster) closest(cl *class, req amounts, n int) {
	c.sel = c.sel[:0]
	x := &cl.avail
	// No node lacks less CPU or memory than this: once the n-th best
	// lacks no more, no node later in the group can rank before it.
	low := amounts{0, max(0, req[dimCPU]-x.most(dimCPU, cl.nodes, c.avail)), max(0, req[dimMem]-x.most(dimMem, cl.nodes, c.avail))}
	group := func(set []uint64, short int64) {
		low[dimGPU] = short
		for w, v := range set {
			for ; v != 0; v &= v - 1 {
				k := cl.nodes[w*64+bits.TrailingZeros64(v)]
				a, capa := &c.avail[k], &c.cap[k]
				if req[dimGPU] > capa[dimGPU] || req[dimCPU] > capa[dimCPU] || req[dimMem] > capa[dimMem] {
					continue
				}
				sc, sm := max(0, req[dimCPU]-a[dimCPU]), max(0, req[dimMem]-a[dimMem])
				if len(c.sel) == n {
					// The n-th best lacks as many GPUs (the group is no
					// better, or the walk would have stopped): it stays
					// unless this node lacks less, a tie going to it.
					if worst := &c.sel[n-1].short; sc > worst[dimCPU] || sc == worst[dimCPU] && sm >= worst[dimMem] {
						continue
					}
				}
				c.insert(cand{short: amounts{short, sc, sm}, node: k}, n)
				if len(c.sel) == n && !low.lexLess(c.sel[n-1].short) {
					return
				}
			}
		}
	}
	// Groups in order of GPUs short: all nodes with enough GPUs, then the
	// buckets below, highest first.
	c.scratch = x.atLeast(req[dimGPU], c.scratch)
	group(c.scratch, 0)
	for b := min(req[dimGPU]-1, int64(x.top)); b >= 0 && len(c.sel) < n; b-- {
		if x.count[b] > 0 {
			group(x.bucket(int(b)), req[dimGPU]-b)
		}
	}
}

// lexLess reports whether a comes before b, GPUs first.
func (a amounts) lexLess(b amounts) bool {
	for d := range ndim {
		if a[d] != b[d] {
			return a[d] < b[d]
		}
	}
	return false
}

// nothingAvailable reports whether no node of cl has any of what req
// asks for available.
func (c *cluster) nothingAvailable(cl *class, req amounts) bool {
	x := &cl.avail
	return (req[dimGPU] == 0 || x.top == 0) &&
		(req[dimCPU] == 0 || x.most(dimCPU, cl.nodes, c.avail) == 0) &&
		(req[dimMem] == 0 || x.most(dimMem, cl.nodes, c.avail) == 0)
}

// fitsIdle reports whether req fits what is idle on n nodes of cl.
func (c *cluster) fitsIdle(cl *class, req amounts, n int) bool {
	x := &cl.idle
	if !x.mayFit(req, cl.nodes, c.idle) {
		return false
	}
	found := 0
	for b := int(req[dimGPU]); b <= x.top; b++ {
		if x.count[b] == 0 {
			continue
		}
		for w, v := range x.bucket(b) {
			for ; v != 0; v &= v - 1 {
				if req.fits(c.idle[cl.nodes[w*64+bits.TrailingZeros64(v)]]) {
					if found++; found == n {
						return true
					}
				}
			}
		}
	}
	return false
}

// heldBack returns the first node of cl, in node order, on which req
// fits what is idle but not what is available; -1 if none.
func (c *cluster) heldBack(cl *class, req amounts) int32 {
	c.scratch = cl.idle.atLeast(req[dimGPU], c.scratch)
	for w, v := range c.scratch {
		for ; v != 0; v &= v - 1 {
			k := cl.nodes[w*64+bits.TrailingZeros64(v)]
			if req.fits(c.idle[k]) && !req.fits(c.avail[k]) {
				return k
			}
		}
	}
	return -1
}

// idleCounts counts the nodes of cl that can ever hold req on which
// enough is idle: in each dimension alone, and in all at once. When fewer
// than n have enough GPUs it counts only GPUs (the rest are 0).
func (c *cluster) idleCounts(cl *class, req amounts, n int) (count [ndim]int, joint int) {
	c.scratch = cl.idle.atLeast(req[dimGPU], c.scratch)
	for w, v := range c.scratch {
		for ; v != 0; v &= v - 1 {
			if req.fits(c.cap[cl.nodes[w*64+bits.TrailingZeros64(v)]]) {
				count[dimGPU]++
			}
		}
	}
	if count[dimGPU] < n {
		return count, 0
	}
	count = [ndim]int{}
	for _, k := range cl.nodes {
		if !req.fits(c.cap[k]) {
			continue
		}
		idle, all := &c.idle[k], true
		for d := range ndim {
			if req[d] <= idle[d] {
				count[d]++
			} else {
				all = false
			}
		}
		if all {
			joint++
		}
	}
	return count, joint
}
