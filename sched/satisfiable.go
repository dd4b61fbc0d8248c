package sched

import (
	"slices"
	"strconv"

	"github.com/trainyard/trainyard"
)

// Satisfiable reports whether p could ever run on these nodes, that is
// whether it fits enough of them, empty, that match its pool and GPU type:
// p.Nodes (at least 1) distinct nodes, each with p.Request. Negative
// amounts count as 0; nodes are read as Schedule reads Snapshot.Nodes.
//
// When p cannot run it returns a *trainyard.Error with code
// trainyard.EUNSATISFIABLE, Field naming what is at fault and a message
// that says what the nodes have. In the order they are checked:
//
//	nodes             there are no nodes at all
//	pool              no node is in the pool
//	gpu_type          no node (of the pool) has the GPU type
//	resources.gpus    no matching node is big enough in that dimension
//	resources.cpus      (the first such; the message names them all)
//	resources.memory
//	resources         each dimension alone fits some node, but no node all
//	nodes             fewer matching nodes are big enough than it asks for
//
// On a single node, a request that is too big reads as it always has:
//
//	asks for 4 GPUs but this machine has 1 GPU (and 16 CPUs, 125.5GiB memory)
//
// and on several, for example:
//
//	no node is in pool batch (pools: a100, dev)
//	no node of pool batch has gpu_type h100 (its nodes have a100-sxm4-80gb, t4)
//	asks for 16 GPUs but no node has more than 8 GPUs
//	asks for 2 nodes with 8 GPUs each (gpu_type h100) but only 1 node has that
func Satisfiable(nodes []trainyard.Node, p Pending) error {
	if enoughNodes(nodes, &p) {
		return nil
	}
	c := newCluster(nodes, nil)
	field, msg := c.unsatisfiable(nil, &p)
	return &trainyard.Error{Code: trainyard.EUNSATISFIABLE, Field: field, Message: string(msg)}
}

// enoughNodes reports whether p fits enough of nodes, empty, that match
// it: the check Satisfiable makes on every submit, without building
// anything when the answer is yes.
func enoughNodes(nodes []trainyard.Node, p *Pending) bool {
	req, want := amountsOf(p.Request), max(1, p.Nodes)
	seen := make(map[string]bool, min(len(nodes), 64)) // names: only the first node of a name counts
	typeOK := map[string]bool{}
	have := 0
	for i := range nodes {
		n := &nodes[i]
		if seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		if !trainyard.PoolMatches(n.Labels[trainyard.LabelPool], p.Pool) {
			continue
		}
		if p.GPUType != "" {
			label := n.Labels[trainyard.LabelGPUType]
			ok, known := typeOK[label]
			if !known {
				ok = trainyard.GPUTypeMatches(label, p.GPUType)
				typeOK[label] = ok
			}
			if !ok {
				continue
			}
		}
		if !req.fits(amounts{distinctCount(n.GPUs), max(0, int64(n.CPUs)), max(0, int64(n.Memory))}) {
			continue
		}
		if have++; have >= want {
			return true
		}
	}
	return false
}

// distinctCount is the number of distinct values in gpus.
func distinctCount(gpus []int) int64 {
	if ascending(gpus) {
		return int64(len(gpus))
	}
	s := slices.Clone(gpus)
	slices.Sort(s)
	return int64(len(slices.Compact(s)))
}

// appendUnsatisfiable writes why p can never run on c (see Satisfiable).
func (c *cluster) appendUnsatisfiable(b []byte, p *Pending) []byte {
	_, b = c.unsatisfiable(b, p)
	return b
}

// unsatisfiable returns the field at fault and appends the message; p
// must not be satisfiable on c.
func (c *cluster) unsatisfiable(b []byte, p *Pending) (string, []byte) {
	req, n := amountsOf(p.Request), max(1, p.Nodes)
	if len(c.names) == 0 {
		b = appendNodeCount(append(b, "asks for "...), n)
		return "nodes", append(b, " but there are no nodes"...)
	}
	if p.Pool != "" && len(c.classOf(p.Pool, "").nodes) == 0 {
		b = append(append(b, "no node is in pool "...), p.Pool...)
		return "pool", appendLabels(b, c.all.nodes, c.pools, "pools: ", "no node has a pool label")
	}
	cl := c.classOf(p.Pool, p.GPUType)
	if len(cl.nodes) == 0 {
		inPool := c.classOf(p.Pool, "")
		b = append(b, "no node "...)
		have, none := "the nodes have ", "no node has a gpu_type label"
		if p.Pool != "" {
			b = append(append(b, "of pool "...), p.Pool...)
			b = append(b, ' ')
			have, none = "its nodes have ", "its nodes have no gpu_type label"
		}
		b = append(append(b, "has gpu_type "...), p.GPUType...)
		return "gpu_type", appendLabels(b, inPool.nodes, c.gpuTypes, have, none)
	}
	if len(c.names) == 1 && n == 1 {
		return fieldNames[req.short(c.cap[0])], appendTooBig(b, c.cap[0], req)
	}

	b = append(b, "asks for "...)
	if n > 1 {
		b = appendNodeCount(b, n)
		if req != (amounts{}) {
			b = append(appendList(append(b, " with "...), req), " each"...)
		}
	} else {
		b = appendList(b, req)
	}
	filtered := p.Pool != "" || p.GPUType != ""
	if filtered {
		b = append(b, " ("...)
		if p.Pool != "" {
			b = append(append(b, "pool "...), p.Pool...)
			if p.GPUType != "" {
				b = append(b, ", "...)
			}
		}
		if p.GPUType != "" {
			b = append(append(b, "gpu_type "...), p.GPUType...)
		}
		b = append(b, ')')
	}
	if k := cl.fitting(req); k > 0 {
		b = strconv.AppendInt(append(b, " but only "...), int64(k), 10)
		if k == 1 {
			return "nodes", append(b, " node has that"...)
		}
		return "nodes", append(b, " nodes have that"...)
	}
	most := maxOver(c.cap, cl.nodes)
	b = append(b, " but no "...)
	if filtered {
		b = append(b, "such "...)
	}
	if d := req.short(most); d >= 0 {
		b = appendShort(append(b, "node has more than "...), most, most, req)
		return fieldNames[d], b
	}
	return "resources", append(b, "node has all of that"...)
}

var fieldNames = [ndim]string{"resources.gpus", "resources.cpus", "resources.memory"}

// appendNodeCount writes "1 node" or "3 nodes".
func appendNodeCount(b []byte, n int) []byte {
	b = append(strconv.AppendInt(b, int64(n), 10), " node"...)
	if n != 1 {
		b = append(b, 's')
	}
	return b
}

// maxListedLabels is how many label values a message lists.
const maxListedLabels = 5

// appendLabels writes " (prefix a, b, c)": the distinct non-empty values
// of label among nodes, sorted, at most maxListedLabels of them; " (none)"
// when there are none.
func appendLabels(b []byte, nodes []int32, label []string, prefix, none string) []byte {
	var vals []string
	for _, k := range nodes {
		if label[k] != "" {
			vals = append(vals, label[k])
		}
	}
	slices.Sort(vals)
	vals = slices.Compact(vals)
	if len(vals) == 0 {
		return append(append(append(b, " ("...), none...), ')')
	}
	b = append(append(b, " ("...), prefix...)
	for i, v := range vals[:min(len(vals), maxListedLabels)] {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, v...)
	}
	if len(vals) > maxListedLabels {
		b = append(b, ", ..."...)
	}
	return append(b, ')')
}

// appendTooBig writes "asks for 4 GPUs but this machine has 1 GPU (and 16
// CPUs, 125.5GiB memory)". req must not fit capacity.
func appendTooBig(b []byte, capacity, req amounts) []byte {
	b = append(b, "asks for "...)
	b = appendShort(b, req, capacity, req)
	b = append(b, " but this machine has "...)
	b = appendShort(b, capacity, capacity, req)
	sep := " (and "
	for d := range ndim {
		if req[d] <= capacity[d] {
			b = append(b, sep...)
			b = appendAmount(b, d, capacity[d])
			sep = ", "
		}
	}
	if sep != " (and " {
		b = append(b, ')')
	}
	return b
}
