package sched

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

// The table tests of scheduling over several nodes. Nodes are named a, b,
// c, ...; gpuNode makes one with GPUs 0..n-1.

func gpuNode(name string, gpus, cpus int, mem trainyard.Bytes, labels ...string) trainyard.Node {
	n := trainyard.Node{Name: name, GPUs: seq(gpus), CPUs: cpus, Memory: mem}
	for i := 0; i+1 < len(labels); i += 2 {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

// on is a placement on node with request r's CPUs and memory.
func on(node string, r trainyard.Resources, gpus ...int) trainyard.Placement {
	if len(gpus) == 0 {
		gpus = nil
	}
	return trainyard.Placement{Node: node, GPUs: gpus, CPUs: r.CPUs, Memory: r.Memory}
}

func runOn(id string, pl ...trainyard.Placement) Running { return Running{ID: id, Placement: pl} }

func gang(id string, prio int, submitted float64, nodes int, r trainyard.Resources) Pending {
	p := pend(id, prio, ago(submitted), r)
	p.Nodes = nodes
	return p
}

func labelled(p Pending, pool, gpuType string) Pending {
	p.Pool, p.GPUType = pool, gpuType
	return p
}

func TestScheduleNodes(t *testing.T) {
	four := func(name string, labels ...string) trainyard.Node { return gpuNode(name, 4, 16, 64*GiB, labels...) }
	tests := []struct {
		name    string
		cfg     Config
		nodes   []trainyard.Node
		running []Running
		queue   []Pending
		want    Decision
	}{
		{
			name:    "best fit: the node the job leaves the fewest GPUs free on",
			nodes:   []trainyard.Node{four("a"), four("b"), four("c")},
			running: []Running{runOn("r1", on("a", res(0, 1, 0), 0)), runOn("r2", on("b", res(0, 1, 0), 0, 1))},
			queue:   []Pending{pend("j", 0, ago(1), res(2, 1, 0))},
			want:    Decision{Starts: []Start{{ID: "j", Placement: []trainyard.Placement{on("b", res(2, 1, 0), 2, 3)}}}},
		},
		{
			name:  "best fit keeps whole nodes whole: small jobs fill one node before the next",
			nodes: []trainyard.Node{four("a"), four("b")},
			queue: []Pending{
				pend("x", 0, ago(3), res(1, 1, 0)),
				pend("y", 0, ago(2), res(2, 1, 0)),
				pend("z", 0, ago(1), res(4, 1, 0)),
			},
			want: Decision{Starts: []Start{
				{ID: "x", Placement: []trainyard.Placement{on("a", res(1, 1, 0), 0)}},
				{ID: "y", Placement: []trainyard.Placement{on("a", res(2, 1, 0), 1, 2)}},
				{ID: "z", Placement: []trainyard.Placement{on("b", res(4, 1, 0), 0, 1, 2, 3)}},
			}},
		},
		{
			name:  "on equal GPUs left, the node with the fewest CPUs left; then memory; then node order",
			nodes: []trainyard.Node{gpuNode("a", 2, 16, 64*GiB), gpuNode("b", 2, 8, 64*GiB), gpuNode("c", 2, 8, 32*GiB), gpuNode("d", 2, 8, 32*GiB)},
			queue: []Pending{pend("j", 0, ago(1), res(2, 4, GiB))},
			want:  Decision{Starts: []Start{{ID: "j", Placement: []trainyard.Placement{on("c", res(2, 4, GiB), 0, 1)}}}},
		},
		{
			name:    "a CPU-only job goes to the node with no GPUs free",
			nodes:   []trainyard.Node{four("a"), four("b")},
			running: []Running{runOn("r", on("b", res(0, 1, 0), 0, 1, 2, 3))},
			queue:   []Pending{pend("cpu", 0, ago(1), res(0, 2, GiB))},
			want:    Decision{Starts: []Start{{ID: "cpu", Placement: []trainyard.Placement{on("b", res(0, 2, GiB))}}}},
		},
		{
			name:    "a node whose CPUs running jobs use up is never used, whatever its GPUs",
			nodes:   []trainyard.Node{four("a"), gpuNode("b", 8, 16, 64*GiB)},
			running: []Running{runOn("r", on("a", res(0, 15, 0)))},
			queue:   []Pending{pend("j", 0, ago(1), res(1, 2, 0))},
			want:    Decision{Starts: []Start{{ID: "j", Placement: []trainyard.Placement{on("b", res(1, 2, 0), 0)}}}},
		},
		{
			name:    "a gang starts on distinct nodes in node order, each with the whole request",
			nodes:   []trainyard.Node{four("c"), four("a"), four("b")},
			running: []Running{runOn("r", on("b", res(1, 1, 0), 0))},
			queue:   []Pending{gang("g", 0, 1, 2, res(4, 2, 8*GiB))},
			want: Decision{Starts: []Start{{ID: "g", Placement: []trainyard.Placement{
				on("a", res(4, 2, 8*GiB), 0, 1, 2, 3), on("c", res(4, 2, 8*GiB), 0, 1, 2, 3),
			}}}},
		},
		{
			name:    "a gang starts on all its nodes or none: one free node is not enough",
			nodes:   []trainyard.Node{four("a"), four("b"), four("c")},
			running: []Running{runOn("r", on("b", res(1, 1, 0), 0), on("c", res(1, 1, 0), 3))},
			queue:   []Pending{gang("g", 0, 1, 2, res(4, 1, 0)), pend("s", 0, ago(0.5), res(3, 1, 0))},
			want: Decision{
				Starts: []Start{{ID: "s", Placement: []trainyard.Placement{on("b", res(3, 1, 0), 1, 2, 3)}}},
				Waits:  []Wait{{ID: "g", Position: 1, Reason: "waiting for 2 nodes with 4 free GPUs each: 1 of 3 matching nodes has them"}},
			},
		},
		{
			name:  "pool: only nodes of the pool, even where another fits better",
			nodes: []trainyard.Node{four("a", trainyard.LabelPool, "dev"), gpuNode("b", 8, 16, 64*GiB, trainyard.LabelPool, "batch")},
			queue: []Pending{labelled(pend("j", 0, ago(1), res(4, 1, 0)), "batch", "")},
			want:  Decision{Starts: []Start{{ID: "j", Placement: []trainyard.Placement{on("b", res(4, 1, 0), 0, 1, 2, 3)}}}},
		},
		{
			name: "gpu_type: a100 matches a100-sxm4-80gb, case ignored; others never",
			nodes: []trainyard.Node{
				four("a", trainyard.LabelGPUType, "h100"),
				four("b", trainyard.LabelGPUType, "a100-sxm4-80gb"),
				four("c"),
			},
			queue: []Pending{labelled(pend("j", 0, ago(1), res(4, 1, 0)), "", "A100")},
			want:  Decision{Starts: []Start{{ID: "j", Placement: []trainyard.Placement{on("b", res(4, 1, 0), 0, 1, 2, 3)}}}},
		},
		{
			name:  "jobs that can never run say what the nodes have",
			nodes: []trainyard.Node{four("a", trainyard.LabelPool, "dev", trainyard.LabelGPUType, "t4"), four("b", trainyard.LabelPool, "batch", trainyard.LabelGPUType, "t4")},
			queue: []Pending{
				labelled(pend("p", 0, ago(5), res(1, 1, 0)), "gpu", ""),
				labelled(pend("t", 0, ago(4), res(1, 1, 0)), "batch", "h100"),
				pend("big", 0, ago(3), res(8, 1, 0)),
				gang("n", 0, 2, 3, res(1, 1, 0)),
			},
			want: Decision{Waits: []Wait{
				{ID: "p", Position: 1, Reason: "can never run here: no node is in pool gpu (pools: batch, dev)"},
				{ID: "t", Position: 2, Reason: "can never run here: no node of pool batch has gpu_type h100 (its nodes have t4)"},
				{ID: "big", Position: 3, Reason: "can never run here: asks for 8 GPUs and 1 CPU but no node has more than 4 GPUs"},
				{ID: "n", Position: 4, Reason: "can never run here: asks for 3 nodes with 1 GPU and 1 CPU each but only 2 nodes have that"},
			}},
		},
		{
			name:  "waiting names the first resource too few nodes have free, counting matching nodes only",
			nodes: []trainyard.Node{four("a"), four("b"), four("c", trainyard.LabelPool, "x"), gpuNode("d", 1, 16, 64*GiB)},
			running: []Running{runOn("r",
				on("a", res(2, 14, 0), 0, 1), on("b", res(3, 1, 0), 0, 1, 2), on("c", res(4, 1, 0), 0, 1, 2, 3), on("d", res(0, 1, 0)))},
			queue: []Pending{
				pend("g", 0, ago(1), res(3, 1, 0)),
				pend("c", 0, ago(1), res(0, 16, 0)),
				labelled(pend("x", 0, ago(1), res(1, 1, 0)), "x", ""),
			},
			want: Decision{Waits: []Wait{
				{ID: "c", Position: 1, Reason: "waiting for a node with 16 free CPUs: 0 of 4 matching nodes have them"},
				{ID: "g", Position: 2, Reason: "waiting for a node with 3 free GPUs: 0 of 3 matching nodes have them"},
				{ID: "x", Position: 3, Reason: "waiting for a node with 1 free GPU: 0 of 1 matching nodes have them"},
			}},
		},
		{
			name:    "waiting for GPUs and CPUs together when each alone is free somewhere",
			nodes:   []trainyard.Node{four("a"), four("b")},
			running: []Running{runOn("r", on("a", res(0, 14, 0)), on("b", res(3, 1, 0), 0, 1, 2))},
			queue:   []Pending{pend("j", 0, ago(1), res(2, 4, 0))},
			want: Decision{Waits: []Wait{
				{ID: "j", Position: 1, Reason: "waiting for a node with 2 GPUs and 4 CPUs free: 0 of 2 matching nodes have them"},
			}},
		},
		{
			name:    "an aged job holds on the node where it lacks the least; later jobs go elsewhere or wait",
			nodes:   []trainyard.Node{four("a"), four("b"), four("c")},
			running: []Running{runOn("r", on("a", res(3, 1, 0), 0, 1, 2), on("b", res(1, 1, 0), 0), on("c", res(2, 1, 0), 0, 1))},
			queue: []Pending{
				pend("big", 0, ago(6), res(4, 1, 0)),
				pend("s1", 0, ago(1), res(2, 1, 0)),
				pend("s2", 0, ago(1), res(1, 1, 0)),
				pend("s3", 0, ago(1), res(3, 1, 0)),
			},
			want: Decision{
				Starts: []Start{
					{ID: "s1", Placement: []trainyard.Placement{on("c", res(2, 1, 0), 2, 3)}},
					{ID: "s2", Placement: []trainyard.Placement{on("a", res(1, 1, 0), 3)}},
				},
				Waits: []Wait{
					{ID: "big", Position: 1, Reason: "holding 3 of 4 GPUs it needs on node b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
					{ID: "s3", Position: 2, Reason: "resources on node b are held for job big, which has waited past the backfill window"},
				},
			},
		},
		{
			name:    "an aged gang holds on its nodes: all of a free one, what is free of another",
			nodes:   []trainyard.Node{four("a"), four("b"), four("c")},
			running: []Running{runOn("r", on("a", res(1, 1, 0), 0), on("c", res(3, 1, 0), 0, 1, 2))},
			queue: []Pending{
				gang("g", 0, 6, 2, res(4, 2, 0)),
				pend("s", 0, ago(1), res(1, 1, 0)),
				pend("t", 0, ago(1), res(0, 2, 0)),
			},
			want: Decision{
				Starts: []Start{
					{ID: "s", Placement: []trainyard.Placement{on("c", res(1, 1, 0), 3)}},
					{ID: "t", Placement: []trainyard.Placement{on("a", res(0, 2, 0))}}, // a has 13 CPUs free, b and c 14
				},
				Waits: []Wait{
					{ID: "g", Position: 1, Reason: "holding 7 of 8 GPUs it needs on nodes a, b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
				},
			},
		},
		{
			name:    "an aged job holds CPUs where no GPU is free, and names no node for the GPUs it lacks",
			nodes:   []trainyard.Node{four("a"), four("b")},
			running: []Running{runOn("r", on("a", res(4, 1, 0), 0, 1, 2, 3), on("b", res(4, 1, 0), 0, 1, 2, 3))},
			queue: []Pending{
				pend("big", 0, ago(6), res(4, 2, 0)),
				pend("c1", 0, ago(1), res(0, 14, 0)),
				pend("c2", 0, ago(1), res(0, 14, 0)),
			},
			want: Decision{
				Starts: []Start{{ID: "c1", Placement: []trainyard.Placement{on("b", res(0, 14, 0))}}},
				Waits: []Wait{
					{ID: "big", Position: 1, Reason: "holding 0 of 4 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
					{ID: "c2", Position: 2, Reason: "resources on node a are held for job big, which has waited past the backfill window"},
				},
			},
		},
		{
			name:    "the first job that holds what a later one lacks is named, with the aged job behind it",
			nodes:   []trainyard.Node{four("a"), four("b")},
			running: []Running{runOn("r", on("a", res(2, 1, 0), 0, 1), on("b", res(3, 1, 0), 0, 1, 2))},
			queue: []Pending{
				pend("P", 5, ago(1), res(4, 1, 0)),
				pend("A", 0, ago(6), res(4, 1, 0)),
				pend("Z", 0, ago(0), res(1, 1, 0)),
			},
			want: Decision{Waits: []Wait{
				{ID: "P", Position: 1, Reason: "holding 2 of 4 GPUs it needs on node a; waiting for the rest (queued ahead of job A, which has waited past the backfill window)"},
				{ID: "A", Position: 2, Reason: "holding 1 of 4 GPUs it needs on node b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
				{ID: "Z", Position: 3, Reason: "resources on node a are held for job P, queued ahead of job A, which has waited past the backfill window"},
			}},
		},
		{
			name:  "running jobs on unknown nodes, on GPUs a node lacks, or on the same GPU never make a GPU shared",
			nodes: []trainyard.Node{four("a"), gpuNode("b", 2, 16, 64*GiB)},
			running: []Running{
				runOn("r1", on("a", res(0, 1, 0), 0, 1), on("zz", res(0, 1, 0), 0, 1, 2, 3)),
				runOn("r2", on("a", res(0, 1, 0), 1, 2, 9)),
				runOn("r3", on("b", res(0, 1, 0), 1, 1)),
			},
			queue: []Pending{pend("x", 0, ago(2), res(1, 1, 0)), pend("y", 0, ago(1), res(1, 1, 0)), pend("z", 0, ago(0), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{
					{ID: "x", Placement: []trainyard.Placement{on("a", res(1, 1, 0), 3)}},
					{ID: "y", Placement: []trainyard.Placement{on("b", res(1, 1, 0), 0)}},
				},
				Waits: []Wait{{ID: "z", Position: 1, Reason: "waiting for a node with 1 free GPU: 0 of 2 matching nodes have them"}},
			},
		},
		{
			name:  "of two nodes with the same name only the first counts",
			nodes: []trainyard.Node{gpuNode("a", 1, 16, 64*GiB), gpuNode("a", 8, 16, 64*GiB)},
			queue: []Pending{pend("j", 0, ago(1), res(2, 1, 0))},
			want: Decision{Waits: []Wait{
				{ID: "j", Position: 1, Reason: "can never run here: asks for 2 GPUs but this machine has 1 GPU (and 16 CPUs, 64GiB memory)"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Now: t0, Nodes: tt.nodes, Running: tt.running, Queue: tt.queue}
			got := Schedule(tt.cfg, s)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScheduleWorkedExampleNodes is the worked example over several nodes
// in the package documentation, and what happens next.
func TestScheduleWorkedExampleNodes(t *testing.T) {
	nodes := []trainyard.Node{gpuNode("a", 8, 32, 0), gpuNode("b", 8, 32, 0), gpuNode("c", 8, 32, 0)}
	r1 := runOn("R1", on("a", res(6, 6, 0), 0, 1, 2, 3, 4, 5))
	r2 := runOn("R2", on("b", res(4, 4, 0), 0, 1, 2, 3))
	r3 := runOn("R3", on("c", res(7, 7, 0), 0, 1, 2, 3, 4, 5, 6))
	queue := []Pending{
		gang("G", 0, 6, 2, res(8, 8, 0)),
		pend("S", 0, ago(1), res(1, 1, 0)),
		pend("T", 0, ago(1), res(2, 2, 0)),
		gang("U", 0, 1, 4, res(1, 1, 0)),
	}
	steps := []struct {
		name    string
		running []Running
		queue   []Pending
		want    Decision
	}{
		{
			name:    "10:06",
			running: []Running{r1, r2, r3},
			queue:   queue,
			want: Decision{
				Starts: []Start{{ID: "S", Placement: []trainyard.Placement{on("c", res(1, 1, 0), 7)}}},
				Waits: []Wait{
					{ID: "G", Position: 1, Reason: "holding 6 of 16 GPUs it needs on nodes a, b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
					{ID: "T", Position: 2, Reason: "resources on node a are held for job G, which has waited past the backfill window"},
					{ID: "U", Position: 3, Reason: "can never run here: asks for 4 nodes with 1 GPU and 1 CPU each but only 3 nodes have that"},
				},
			},
		},
		{
			name:    "R2 exits: G holds all of b and what is free of a",
			running: []Running{r1, r3, runOn("S", on("c", res(1, 1, 0), 7))},
			queue:   []Pending{queue[0], queue[2], queue[3]},
			want: Decision{Waits: []Wait{
				{ID: "G", Position: 1, Reason: "holding 10 of 16 GPUs it needs on nodes a, b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
				{ID: "T", Position: 2, Reason: "resources on node a are held for job G, which has waited past the backfill window"},
				{ID: "U", Position: 3, Reason: "can never run here: asks for 4 nodes with 1 GPU and 1 CPU each but only 3 nodes have that"},
			}},
		},
		{
			name:    "R1 exits: G starts on a and b",
			running: []Running{r3, runOn("S", on("c", res(1, 1, 0), 7))},
			queue:   []Pending{queue[0], queue[2], queue[3]},
			want: Decision{
				Starts: []Start{{ID: "G", Placement: []trainyard.Placement{on("a", res(8, 8, 0), seq(8)...), on("b", res(8, 8, 0), seq(8)...)}}},
				Waits: []Wait{
					{ID: "T", Position: 1, Reason: "waiting for a node with 2 free GPUs: 0 of 3 matching nodes have them"},
					{ID: "U", Position: 2, Reason: "can never run here: asks for 4 nodes with 1 GPU and 1 CPU each but only 3 nodes have that"},
				},
			},
		},
	}
	for _, st := range steps {
		s := Snapshot{Now: t0, Nodes: nodes, Running: st.running, Queue: st.queue}
		if diff := cmp.Diff(st.want, Schedule(Config{}, s)); diff != "" {
			t.Errorf("%s: Schedule() mismatch (-want +got):\n%s", st.name, diff)
		}
	}
}

func TestSatisfiableNodes(t *testing.T) {
	h100 := func(name, pool string, gpus, cpus int) trainyard.Node {
		return gpuNode(name, gpus, cpus, 512*GiB, trainyard.LabelPool, pool, trainyard.LabelGPUType, "h100")
	}
	cluster := []trainyard.Node{
		h100("a", "batch", 8, 64),
		h100("b", "dev", 4, 128),
		gpuNode("c", 8, 128, 1024*GiB, trainyard.LabelPool, "batch", trainyard.LabelGPUType, "a100-sxm4-80gb"),
	}
	tests := []struct {
		name      string
		nodes     []trainyard.Node
		p         Pending
		wantField string // "" when it can run
		wantMsg   string
	}{
		{name: "fits one node", nodes: cluster, p: pend("j", 0, t0, res(8, 64, 0))},
		{name: "a gang over two nodes of a pool", nodes: cluster, p: labelled(gang("j", 0, 0, 2, res(8, 1, 0)), "batch", "")},
		{name: "a100 matches a100-sxm4-80gb", nodes: cluster, p: labelled(pend("j", 0, t0, res(8, 1, 0)), "batch", "a100")},
		{name: "nodes 0 counts as 1, negative amounts as 0", nodes: cluster, p: gang("j", 0, 0, 0, res(-1, -1, -1))},
		{
			name: "no nodes at all", p: pend("j", 0, t0, res(0, 0, 0)),
			wantField: "nodes", wantMsg: "asks for 1 node but there are no nodes",
		},
		{
			name: "no node in the pool", nodes: cluster, p: labelled(pend("j", 0, t0, res(1, 1, 0)), "gpu", ""),
			wantField: "pool", wantMsg: "no node is in pool gpu (pools: batch, dev)",
		},
		{
			name: "no node with the GPU type", nodes: cluster, p: labelled(pend("j", 0, t0, res(1, 1, 0)), "", "t4"),
			wantField: "gpu_type", wantMsg: "no node has gpu_type t4 (the nodes have a100-sxm4-80gb, h100)",
		},
		{
			name: "no node of the pool with the GPU type", nodes: cluster, p: labelled(pend("j", 0, t0, res(1, 1, 0)), "dev", "a100"),
			wantField: "gpu_type", wantMsg: "no node of pool dev has gpu_type a100 (its nodes have h100)",
		},
		{
			name: "no node has enough GPUs", nodes: cluster, p: pend("j", 0, t0, res(16, 1, 0)),
			wantField: "resources.gpus", wantMsg: "asks for 16 GPUs and 1 CPU but no node has more than 8 GPUs",
		},
		{
			name: "no such node has enough CPUs or memory", nodes: cluster, p: labelled(pend("j", 0, t0, res(1, 200, 600*GiB)), "", "h100"),
			wantField: "resources.cpus", wantMsg: "asks for 1 GPU, 200 CPUs and 600GiB memory (gpu_type h100) but no such node has more than 128 CPUs and 512GiB memory",
		},
		{
			name: "each resource alone fits some node, all together none", nodes: cluster, p: labelled(pend("j", 0, t0, res(8, 100, 0)), "", "h100"),
			wantField: "resources", wantMsg: "asks for 8 GPUs and 100 CPUs (gpu_type h100) but no such node has all of that",
		},
		{
			name:      "too few big enough nodes",
			nodes:     cluster,
			p:         labelled(gang("j", 0, 0, 2, res(8, 8, 0)), "", "h100"),
			wantField: "nodes", wantMsg: "asks for 2 nodes with 8 GPUs and 8 CPUs each (gpu_type h100) but only 1 node has that",
		},
		{
			name:      "too few nodes in the pool",
			nodes:     cluster,
			p:         labelled(gang("j", 0, 0, 3, res(0, 0, 0)), "batch", ""),
			wantField: "nodes", wantMsg: "asks for 3 nodes (pool batch) but only 2 nodes have that",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Satisfiable(tt.nodes, tt.p)
			checkSatisfiable(t, err, tt.wantField, tt.wantMsg)
		})
	}
}
