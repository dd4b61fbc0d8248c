package sched

import (
	"math/bits"
	"slices"
)

// nodeIndex finds the nodes of a class by how many GPUs they have free
// (idle or available, one index for each), in node order, and knows the
// most CPUs and memory any one of them has free. A walk of the queue over
// many nodes asks it instead of looking at every node: which nodes have at
// least g GPUs free, which have exactly g, does any have c CPUs.
//
// Free amounts only shrink during a walk, so the maxima are kept cheaply:
// each with the number of nodes at it, recomputed only when the last of
// those nodes drops below.
type nodeIndex struct {
	words int      // uint64 words per bucket
	bits  []uint64 // bucket g is bits[g*words:(g+1)*words]; bit i is the class's node i
	count []int32  // nodes per bucket
	top   int      // the highest non-empty bucket; 0 when all are empty

	max   [ndim]int64 // for dimCPU and dimMem: the most one node has
	atMax [ndim]int32 // how many nodes have it
	stale [ndim]bool  // when set, max and atMax must be recomputed
}

// build indexes the class's nodes (cl.nodes) by their amounts in v, and
// gmax is the most GPUs one of them has.
func (x *nodeIndex) build(nodes []int32, v []amounts, gmax int) {
	x.words = (len(nodes) + 63) / 64
	x.bits = make([]uint64, (gmax+1)*x.words)
	x.count = make([]int32, gmax+1)
	x.top = 0
	for i, k := range nodes {
		g := int(v[k][dimGPU])
		x.bits[g*x.words+i/64] |= 1 << (i % 64)
		x.count[g]++
		x.top = max(x.top, g)
	}
	x.stale[dimCPU], x.stale[dimMem] = true, true
}

// move records that the class's node i went from amounts from to to,
// which are no larger in any dimension.
func (x *nodeIndex) move(i int32, from, to *amounts) {
	if g, h := int(from[dimGPU]), int(to[dimGPU]); g != h {
		w, bit := int(i)/64, uint64(1)<<(i%64)
		x.bits[g*x.words+w] &^= bit
		x.bits[h*x.words+w] |= bit
		x.count[g]--
		x.count[h]++
		for x.top > 0 && x.count[x.top] == 0 {
			x.top--
		}
	}
	for _, d := range [...]int{dimCPU, dimMem} {
		if !x.stale[d] && from[d] == x.max[d] && to[d] < from[d] {
			x.atMax[d]--
			x.stale[d] = x.atMax[d] == 0
		}
	}
}

// most returns the most of dimension d (dimCPU or dimMem) that one of
// the class's nodes has in v.
func (x *nodeIndex) most(d int, nodes []int32, v []amounts) int64 {
	if x.stale[d] {
		x.max[d], x.atMax[d], x.stale[d] = 0, 0, false
		for _, k := range nodes {
			switch a := v[k][d]; {
			case a > x.max[d]:
				x.max[d], x.atMax[d] = a, 1
			case a == x.max[d]:
				x.atMax[d]++
			}
		}
	}
	return x.max[d]
}

// mayFit reports whether req might fit one of the class's nodes: no
// dimension asks for more than the most one node has.
func (x *nodeIndex) mayFit(req amounts, nodes []int32, v []amounts) bool {
	return req[dimGPU] <= int64(x.top) && req[dimCPU] <= x.most(dimCPU, nodes, v) && req[dimMem] <= x.most(dimMem, nodes, v)
}

// bucket returns the nodes with exactly g GPUs free, as a bit set.
func (x *nodeIndex) bucket(g int) []uint64 { return x.bits[g*x.words : (g+1)*x.words] }

// atLeast writes into dst (and returns it) the nodes with at least g GPUs
// free, as a bit set.
func (x *nodeIndex) atLeast(g int64, dst []uint64) []uint64 {
	dst = slices.Grow(dst[:0], x.words)[:x.words]
	clear(dst)
	for b := int(max(g, 0)); b <= x.top; b++ {
		if x.count[b] == 0 {
			continue
		}
		for w, v := range x.bucket(b) {
			dst[w] |= v
		}
	}
	return dst
}

// forEach calls f with each node (its index in the class) of the bit set
// s, in node order, until f returns false.
func forEach(s []uint64, f func(i int32) bool) {
	for w, v := range s {
		for v != 0 {
			i := int32(w*64 + bits.TrailingZeros64(v))
			if !f(i) {
				return
			}
			v &= v - 1
		}
	}
}
