package sched

import (
	"slices"
	"sort"
	"strings"

	"github.com/trainyard/trainyard"
)

// cluster is the nodes during one walk of the queue: what each has, what
// running and starting jobs use (idle is what they leave) and what waiting
// jobs hold (avail is what is left after that).
type cluster struct {
	names    []string // in node order
	pools    []string // label trainyard.LabelPool, by node
	gpuTypes []string // label trainyard.LabelGPUType, by node
	gpus     []gpuPool
	cap      []amounts
	idle     []amounts
	avail    []amounts

	all     *class // every node: jobs that name neither pool nor GPU type
	classes map[classKey]*class
	members [][]member // by node: the classes it is in

	sel     []cand   // the result of bestFit and closest
	scratch []uint64 // a bit set of nodes
}

// member says that a node is node i of class cl.
type member struct {
	cl *class
	i  int32
}

// newCluster builds the nodes of a snapshot in node order: by Name, the
// first of several nodes with the same name only. Its GPUs are the node's
// distinct indices, ascending. What running jobs hold is taken out of
// them: the GPUs they name (those a node lacks are ignored; a GPU named
// twice is simply busy) and their CPUs and memory (free amounts stop at
// 0). Placements on nodes the snapshot lacks are ignored.
func newCluster(nodes []trainyard.Node, running []Running) *cluster {
	order := make([]int, 0, len(nodes))
	for i := range nodes {
		order = append(order, i)
	}
	byName := func(a, b int) int { return strings.Compare(nodes[a].Name, nodes[b].Name) }
	if !slices.IsSortedFunc(order, byName) { // executors usually list nodes in order
		slices.SortStableFunc(order, byName)
	}
	order = slices.CompactFunc(order, func(a, b int) bool { return nodes[a].Name == nodes[b].Name })

	n := len(order)
	c := &cluster{
		names: make([]string, n), pools: make([]string, n), gpuTypes: make([]string, n),
		gpus: make([]gpuPool, n),
		cap:  make([]amounts, n), idle: make([]amounts, n), avail: make([]amounts, n),
		members: make([][]member, n),
	}
	total := 0
	for _, i := range order {
		total += len(nodes[i].GPUs)
	}
	ids, state := make([]int, 0, total), make([]uint8, total)
	for k, i := range order {
		nd := &nodes[i]
		c.names[k] = nd.Name
		if nd.Labels != nil {
			c.pools[k], c.gpuTypes[k] = nd.Labels[trainyard.LabelPool], nd.Labels[trainyard.LabelGPUType]
		}
		from := len(ids)
		ids = append(ids, nd.GPUs...)
		own := ids[from:]
		if !ascending(own) {
			slices.Sort(own)
			own = slices.Compact(own)
			ids = ids[:from+len(own)]
		}
		c.gpus[k] = gpuPool{ids: own[:len(own):len(own)], state: state[from : from+len(own)], nfree: len(own)}
		c.cap[k] = amounts{int64(len(own)), max(0, int64(nd.CPUs)), max(0, int64(nd.Memory))}
	}
	copy(c.idle, c.cap)
	for _, r := range running {
		for _, p := range r.Placement {
			k := c.node(p.Node)
			if k < 0 {
				continue
			}
			c.gpus[k].markBusy(p.GPUs)
			idle := &c.idle[k]
			idle[dimGPU] = int64(c.gpus[k].nfree)
			idle[dimCPU] = max(0, idle[dimCPU]-max(0, int64(p.CPUs)))
			idle[dimMem] = max(0, idle[dimMem]-max(0, int64(p.Memory)))
		}
	}
	copy(c.avail, c.idle)
	c.all = c.newClass(classKey{})
	return c
}

// use takes req out of what node k has idle and available: a job starts
// there.
func (c *cluster) use(k int32, req amounts) {
	old, oldIdle := c.avail[k], c.idle[k]
	for d := range ndim {
		c.avail[k][d] -= req[d]
		c.idle[k][d] -= req[d]
	}
	for _, m := range c.members[k] {
		m.cl.avail.move(m.i, &old, &c.avail[k])
		m.cl.idle.move(m.i, &oldIdle, &c.idle[k])
	}
}

// reserve takes h out of what node k has available: a waiting job holds
// it.
func (c *cluster) reserve(k int32, h amounts) {
	old := c.avail[k]
	for d := range ndim {
		c.avail[k][d] -= h[d]
	}
	for _, m := range c.members[k] {
		m.cl.avail.move(m.i, &old, &c.avail[k])
	}
}

// node returns the node named name; -1 if there is none.
func (c *cluster) node(name string) int32 {
	k, ok := slices.BinarySearch(c.names, name)
	if !ok {
		return -1
	}
	return int32(k)
}

// ascending reports whether s is strictly increasing.
func ascending(s []int) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

// gpuPool tracks one node's GPUs during one walk of the queue.
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

// markBusy marks the named GPUs busy, ignoring those the node lacks.
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

// classKey is what a job asks of a node besides resources.
type classKey struct{ pool, gpuType string }

// class is the nodes whose labels match a classKey, in node order, with
// what is known about them as a whole.
type class struct {
	key    classKey
	nodes  []int32
	shapes []shape // the distinct capacities among nodes

	// The nodes by what they have available and idle.
	avail, idle nodeIndex
}

type shape struct {
	cap   amounts
	count int
}

// classOf returns the class of nodes that match pool and gpuType.
func (c *cluster) classOf(pool, gpuType string) *class {
	if pool == "" && gpuType == "" {
		return c.all
	}
	key := classKey{pool, gpuType}
	if cl, ok := c.classes[key]; ok {
		return cl
	}
	if c.classes == nil {
		c.classes = map[classKey]*class{}
	}
	cl := c.newClass(key)
	c.classes[key] = cl
	return cl
}

func (c *cluster) newClass(key classKey) *class {
	cl := &class{key: key}
	var typeOK map[string]bool // by node label: GPUTypeMatches, computed once per label
	if key.gpuType != "" {
		typeOK = map[string]bool{}
	}
	gmax := 0
	for k := range c.names {
		if !trainyard.PoolMatches(c.pools[k], key.pool) {
			continue
		}
		if key.gpuType != "" {
			ok, seen := typeOK[c.gpuTypes[k]]
			if !seen {
				ok = trainyard.GPUTypeMatches(c.gpuTypes[k], key.gpuType)
				typeOK[c.gpuTypes[k]] = ok
			}
			if !ok {
				continue
			}
		}
		cl.nodes = append(cl.nodes, int32(k))
		gmax = max(gmax, int(c.cap[k][dimGPU]))
	}
	cl.shapes = shapesOf(c.cap, cl.nodes)
	// A node's classes: one backing array for the first class of each.
	first := make([]member, len(cl.nodes))
	for i, k := range cl.nodes {
		if c.members[k] == nil {
			first[i] = member{cl, int32(i)}
			c.members[k] = first[i : i+1 : i+1]
		} else {
			c.members[k] = append(c.members[k], member{cl, int32(i)})
		}
	}
	cl.avail.build(cl.nodes, c.avail, gmax)
	cl.idle.build(cl.nodes, c.idle, gmax)
	return cl
}

// shapesOf returns the distinct capacities among nodes, with counts.
func shapesOf(capacity []amounts, nodes []int32) []shape {
	var shapes []shape
	var index map[amounts]int // once there are many
	for _, k := range nodes {
		i := -1
		if index != nil {
			if j, ok := index[capacity[k]]; ok {
				i = j
			}
		} else {
			i = slices.IndexFunc(shapes, func(s shape) bool { return s.cap == capacity[k] })
		}
		if i >= 0 {
			shapes[i].count++
			continue
		}
		shapes = append(shapes, shape{cap: capacity[k], count: 1})
		switch {
		case index != nil:
			index[capacity[k]] = len(shapes) - 1
		case len(shapes) > 16:
			index = make(map[amounts]int, len(shapes))
			for j, s := range shapes {
				index[s.cap] = j
			}
		}
	}
	return shapes
}

// fitting counts the nodes of cl that req fits when they are empty.
func (cl *class) fitting(req amounts) int {
	n := 0
	for _, s := range cl.shapes {
		if req.fits(s.cap) {
			n += s.count
		}
	}
	return n
}

// maxOver returns, per dimension, the most one of nodes has in v.
func maxOver(v []amounts, nodes []int32) amounts {
	var m amounts
	for _, k := range nodes {
		a := &v[k]
		m[dimGPU], m[dimCPU], m[dimMem] = max(m[dimGPU], a[dimGPU]), max(m[dimCPU], a[dimCPU]), max(m[dimMem], a[dimMem])
	}
	return m
}
