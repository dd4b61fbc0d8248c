package trainyard

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Executor runs the tasks of jobs on a backend: this machine's processes
// (executor/local), a Slurm cluster (executor/slurm) or a Kubernetes cluster
// (executor/kubernetes). It is the seam between the dispatcher, which
// decides what runs and records what happened, and the engine that runs it.
// The shape follows Nomad's task drivers: start, signal, wait, inspect, and
// also recover and clean up, each with a context.
//
// One Task is one attempt at running a whole job: for a multi-node job the
// executor starts all its nodes together (an sbatch job of N nodes, an
// Indexed Job of N pods, or — on this machine — the processes of every
// rank), and the Handle stands for all of them.
//
// Every executor passes the conformance suite in package executortest.
type Executor interface {
	// Info describes the backend: its kind, whether it queues and places
	// tasks itself, and the nodes it offers. Cheap enough to call on every
	// submission (an engine executor caches what it lists).
	Info(ctx context.Context) (ExecutorInfo, error)

	// Start launches the task and returns once the engine has accepted it
	// (for this machine: once every process has started). The Handle it
	// returns survives a restart of trainyard. It returns EINVALID, and
	// writes the reason into the task's log, when the task cannot start
	// (no such program, no such workdir); then nothing of it runs. When
	// Start returns any other error nothing of the task may be left
	// running or queued in the engine.
	Start(ctx context.Context, t Task) (Handle, error)

	// Signal delivers sig to every process of the task (on every node).
	// Signalling a task that has ended is not an error.
	Signal(ctx context.Context, h Handle, sig Signal) error

	// Wait blocks until the task has ended and returns how, or until ctx
	// ends (then it returns ctx's error and the task runs on).
	Wait(ctx context.Context, h Handle) (ExitStatus, error)

	// Inspect reports where the task stands now: pending in the engine
	// (with the engine's reason), running (on which nodes), or ended.
	Inspect(ctx context.Context, h Handle) (TaskStatus, error)

	// Recover finds the task started for attempt ref.Attempt of job
	// ref.JobID when the handle Start returned was never recorded (the
	// server died in between). It returns ENOTFOUND when no such task was
	// started; then none runs.
	Recover(ctx context.Context, ref TaskRef) (Handle, error)

	// Cleanup forgets an ended task once its status is safely recorded:
	// exit files, finished engine objects. It returns ECONFLICT while the
	// task still runs; cleaning up twice is not an error.
	Cleanup(ctx context.Context, h Handle) error
}

// ExecutorInfo describes an executor's backend.
type ExecutorInfo struct {
	// Kind is "local", "slurm" or "kubernetes".
	Kind string `json:"kind"`
	// Places is true when the engine queues tasks and chooses their nodes
	// itself (Slurm, Kubernetes): the dispatcher hands a job over as soon as
	// it is queued and reports the engine's reason while it waits there.
	// When false (this machine), trainyard's scheduler places tasks on
	// Nodes and Task.Placement says where.
	Places bool `json:"places"`
	// Nodes are what the backend offers: every job must fit on them
	// (checked at submit); when !Places, the scheduler plans over them.
	Nodes []Node `json:"nodes"`
	// Limits says how CPU and memory reservations are enforced: "cgroup
	// v2 (cpu.max, memory.max)", the engine's own, or "not enforced".
	Limits string `json:"limits,omitempty"`
	// Warnings say what the executor cannot do here, for `trainyard up` and
	// `trainyard gpus` to show (for example: cannot enforce CPU and memory
	// limits without cgroup v2 delegation).
	Warnings []string `json:"warnings,omitempty"`
}

// Node is one machine that runs tasks, as the scheduler sees it.
type Node struct {
	Name   string `json:"name"`
	Addr   string `json:"addr,omitempty"` // how other nodes reach it (for MASTER_ADDR); default Name
	GPUs   []int  `json:"gpus"`           // indices of its GPUs
	CPUs   int    `json:"cpus"`
	Memory Bytes  `json:"memory"`
	// Labels describe the node: LabelGPUType (see GPUTypeLabel), LabelPool
	// (a Slurm partition, a Kubernetes node pool), and any others.
	Labels map[string]string `json:"labels,omitempty"`
}

// Node labels the scheduler matches jobs against.
const (
	LabelGPUType = "gpu_type" // matched with JobSpec.GPUType by GPUTypeMatches
	LabelPool    = "pool"     // matched with JobSpec.Pool by PoolMatches
)

// Capacity is the node's total as Resources.
func (n Node) Capacity() Resources {
	return Resources{GPUs: len(n.GPUs), CPUs: n.CPUs, Memory: n.Memory}
}

// Placement is what one node of a job holds: its GPUs by index, CPUs and
// memory. A job's placements are in node-rank order: the first is rank 0's
// node.
type Placement struct {
	Node   string `json:"node"`
	GPUs   []int  `json:"gpus,omitempty"`
	CPUs   int    `json:"cpus,omitempty"`
	Memory Bytes  `json:"memory,omitempty"`
}

// TaskRef names one attempt of a job.
type TaskRef struct {
	JobID   string `json:"job_id"`
	Attempt int    `json:"attempt"` // 0 for the first start, then one more for each restart
}

// Task is one attempt at running a whole job, with everything an executor
// needs and nothing it must look up.
type Task struct {
	TaskRef
	Name    string
	Project string
	Command []string
	Workdir string
	// Env is the job's environment, KEY=VALUE, the same on every node: the
	// server's base, the job's own variables, then what trainyard sets for
	// every job (TRAINYARD_URL, TRAINYARD_RUN_ID, ...). The launcher adds
	// the per-node and per-rank variables (CUDA_VISIBLE_DEVICES, NODE_RANK,
	// RANK, LOCAL_RANK, ...; see package launch).
	Env []string
	// Launch says how the command starts on each node; ProcsPerNode is the
	// number of processes per node for LaunchTorchrun (never 0 here).
	Launch       Launch
	ProcsPerNode int
	// Nodes is the number of nodes (at least 1); Resources is what each
	// node gives the task.
	Nodes     int
	Resources Resources
	// Placement, set when the executor does not place (Info().Places is
	// false), says which node and GPUs each node rank gets. Nil otherwise.
	Placement []Placement
	// For engines: the partition or node pool, the GPU type, and the
	// engine's accounting options; empty means the executor's default.
	Pool, GPUType, Account, QOS, Queue string
	// TimeLimit is the wall-clock limit; 0 means the executor's default.
	TimeLimit time.Duration
	// LogPath is the run's log. The executor makes the task's output appear
	// there: stdout and stderr of every rank, each line prefixed "[rank N] "
	// when the job has more than one rank; and rank N's own output in
	// RankLogPath(LogPath, N). For an engine that keeps output elsewhere
	// the executor fetches it.
	LogPath string
}

// Ranks is the number of processes of the task across all its nodes.
func (t Task) Ranks() int { return t.Nodes * t.ProcsPerNode }

// Handle identifies a started task. It is the executor's own encoding, opaque
// to everyone else, stored with the job so that a restarted server can find
// the task again.
type Handle string

// Signal is a POSIX signal by name, as engines take it (scancel --signal,
// a Kubernetes deletion's grace period). Only these two are sent.
type Signal string

const (
	SIGTERM Signal = "SIGTERM" // ask the task to stop: checkpoint and exit
	SIGKILL Signal = "SIGKILL" // stop it now
)

// Phase is where a task stands in its executor.
type Phase string

const (
	PhasePending Phase = "pending" // accepted, waiting in the engine's queue
	PhaseRunning Phase = "running" // started on its nodes
	PhaseEnded   Phase = "ended"   // TaskStatus.Exit says how
)

// TaskStatus is what Inspect reports.
type TaskStatus struct {
	Phase Phase
	// Reason is the engine's own word while pending (Slurm's "Priority" or
	// "Resources", Kubernetes' unschedulable message).
	Reason string
	// BackendID is the engine's name for the task: a Slurm job id, a
	// Kubernetes Job name, the process group on this machine.
	BackendID string
	// Nodes the task runs or ran on, in node-rank order, when known.
	Nodes []string
	// Exit is how the task ended, when Phase is PhaseEnded.
	Exit ExitStatus
}

// ExitStatus is how a task ended. Code is the exit code, or 128+signal when
// a signal ended it (as shells report it); for a multi-rank task, the
// status of the first rank that failed (0 when all succeeded). Lost is set
// when the executor could not learn how the task ended. Reason, when set,
// says more in the engine's words (Slurm's "TIMEOUT", "OOMKilled", "rank 3
// on node-2 exited with code 1").
type ExitStatus struct {
	Code   int
	Signal string
	Lost   bool
	Reason string
}

// RankLogPath is where rank's own output goes, next to a run's log:
// logs/RUN.log → logs/RUN.rank-3.log.
func RankLogPath(logPath string, rank int) string {
	return strings.TrimSuffix(logPath, ".log") + ".rank-" + strconv.Itoa(rank) + ".log"
}
