// Package launch starts a job's processes on one of its nodes the way
// distributed training expects, on every executor: the local shim, each
// node of a Slurm job (under srun) and each pod of a Kubernetes job run it.
//
// A job runs on Layout.Nodes nodes with Layout.ProcsPerNode processes
// (ranks) on each. With trainyard.LaunchNone a node runs the command once;
// with trainyard.LaunchTorchrun it runs ProcsPerNode copies with the
// environment torchrun gives its workers, so that torch.distributed's
// env:// initialisation (init_process_group with no arguments) works
// unchanged:
//
//	node 0 (MASTER_ADDR)                node 1
//	├─ rank 0  LOCAL_RANK=0             ├─ rank 2  LOCAL_RANK=0
//	└─ rank 1  LOCAL_RANK=1             └─ rank 3  LOCAL_RANK=1
//	   WORLD_SIZE=4 LOCAL_WORLD_SIZE=2 NODE_RANK/GROUP_RANK=node MASTER_PORT
//
// Every process of a multi-node job, in every mode, gets NNODES, NODE_RANK,
// MASTER_ADDR and MASTER_PORT; every process gets TRAINYARD_RANK (its global
// rank; 0 for a single-process job), which the SDK reads so that only rank 0
// logs to the run unless a rank asks to.
//
// Env is pure; Run starts the processes, prefixes their output and stops
// them all when one fails.
package launch

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// Layout is where one node stands in its job.
type Layout struct {
	Launch       trainyard.Launch
	Nodes        int // NNODES, at least 1
	NodeRank     int // this node, 0-based
	ProcsPerNode int // ranks on each node, at least 1
	// MasterAddr and MasterPort are where rank 0 listens for the others
	// (torch.distributed's TCP store).
	MasterAddr string
	MasterPort int
	// GPUs are this node's GPU indices for CUDA_VISIBLE_DEVICES (every rank
	// sees all of them and picks by LOCAL_RANK, as under torchrun); nil
	// leaves the variable as the engine set it.
	GPUs []int
	// RunID names the job for torchrun's TORCHELASTIC_RUN_ID.
	RunID string
}

// Validate reports what is wrong with l, naming the field.
func (l Layout) Validate() error {
	switch {
	case !l.Launch.Valid():
		return fmt.Errorf("launch %q: want none or torchrun", l.Launch)
	case l.Nodes < 1:
		return fmt.Errorf("nnodes %d: want at least 1", l.Nodes)
	case l.NodeRank < 0 || l.NodeRank >= l.Nodes:
		return fmt.Errorf("node rank %d: want 0 to %d", l.NodeRank, l.Nodes-1)
	case l.ProcsPerNode < 1:
		return fmt.Errorf("procs per node %d: want at least 1", l.ProcsPerNode)
	case l.Launch != trainyard.LaunchTorchrun && l.ProcsPerNode != 1:
		return fmt.Errorf("procs per node %d: launch %s runs one process per node", l.ProcsPerNode, l.Launch)
	case l.MasterPort < 0 || l.MasterPort > 65535:
		return fmt.Errorf("master port %d: want 1 to 65535", l.MasterPort)
	case (l.Nodes > 1 || l.Launch == trainyard.LaunchTorchrun) && (l.MasterAddr == "" || l.MasterPort == 0):
		return fmt.Errorf("a distributed job needs a master address and port")
	}
	return nil
}

// WorldSize is the number of ranks of the whole job.
func (l Layout) WorldSize() int { return l.Nodes * l.ProcsPerNode }

// Rank is the global rank of this node's local rank.
func (l Layout) Rank(local int) int { return l.NodeRank*l.ProcsPerNode + local }

// Ranks is the number of processes of the job: more than one means output
// lines carry a "[rank N] " prefix.
func (l Layout) Ranks() int { return l.WorldSize() }

// Env returns the variables trainyard sets for local rank local on this
// node, sorted by name. They override the task's own.
func (l Layout) Env(local int) []string {
	m := map[string]string{
		"TRAINYARD_RANK":       strconv.Itoa(l.Rank(local)),
		"TRAINYARD_WORLD_SIZE": strconv.Itoa(l.WorldSize()),
		"TRAINYARD_NODE_RANK":  strconv.Itoa(l.NodeRank),
	}
	if l.GPUs != nil {
		gpus := make([]string, len(l.GPUs))
		for i, g := range l.GPUs {
			gpus[i] = strconv.Itoa(g)
		}
		m["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID" // CUDA numbers GPUs as nvidia-smi does
		m["CUDA_VISIBLE_DEVICES"] = strings.Join(gpus, ",")
		m["NVIDIA_VISIBLE_DEVICES"] = strings.Join(gpus, ",")
		if len(gpus) == 0 {
			m["NVIDIA_VISIBLE_DEVICES"] = "void"
		}
	}
	if l.Nodes > 1 || l.Launch == trainyard.LaunchTorchrun {
		m["NNODES"] = strconv.Itoa(l.Nodes)
		m["NODE_RANK"] = strconv.Itoa(l.NodeRank)
		m["MASTER_ADDR"] = l.MasterAddr
		m["MASTER_PORT"] = strconv.Itoa(l.MasterPort)
	}
	if l.Launch == trainyard.LaunchTorchrun {
		rank := strconv.Itoa(l.Rank(local))
		world := strconv.Itoa(l.WorldSize())
		for k, v := range map[string]string{
			"RANK":             rank,
			"LOCAL_RANK":       strconv.Itoa(local),
			"WORLD_SIZE":       world,
			"LOCAL_WORLD_SIZE": strconv.Itoa(l.ProcsPerNode),
			"GROUP_RANK":       strconv.Itoa(l.NodeRank),
			"GROUP_WORLD_SIZE": strconv.Itoa(l.Nodes),
			"ROLE_NAME":        "default",
			"ROLE_RANK":        rank,
			"ROLE_WORLD_SIZE":  world,
			// What torchrun's elastic agent tells its workers. trainyard
			// restarts a whole job (max_restarts), never single ranks.
			"TORCHELASTIC_RUN_ID":          l.RunID,
			"TORCHELASTIC_RESTART_COUNT":   "0",
			"TORCHELASTIC_MAX_RESTARTS":    "0",
			"TORCHELASTIC_USE_AGENT_STORE": "False",
		} {
			m[k] = v
		}
	}
	out := make([]string, 0, len(m))
	for _, k := range trainyard.SortedKeys(m) {
		out = append(out, k+"="+m[k])
	}
	return out
}

// Merge returns base with the variables of over set, replacing any of the
// same name; order: base's, then the new ones.
func Merge(base, over []string) []string {
	idx := make(map[string]int, len(base))
	out := make([]string, 0, len(base)+len(over))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// PortFor derives a rendezvous port from a job's engine id, for engines
// whose nodes must agree on MASTER_PORT without talking first (Slurm): a
// port in 20000-29999, away from torchrun's default 29500 and from the
// usual ephemeral range.
func PortFor(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	p := 20000 + int(h.Sum32()%10000)
	if p == 29500 {
		p++
	}
	return p
}
