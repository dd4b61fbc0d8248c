package trainyard

import (
	"errors"
	"regexp"
	"strings"
	"time"
)

// State is the lifecycle state of a job and of a run.
//
//	QUEUED → RUNNING → SUCCEEDED | FAILED | CANCELED
//
// A run created outside any job starts RUNNING.
type State string

const (
	StateQueued    State = "QUEUED"
	StateRunning   State = "RUNNING"
	StateSucceeded State = "SUCCEEDED"
	StateFailed    State = "FAILED"
	StateCanceled  State = "CANCELED"
)

// Terminal reports whether s is a final state.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCanceled
}

// Valid reports whether s is one of the states.
func (s State) Valid() bool {
	switch s {
	case StateQueued, StateRunning, StateSucceeded, StateFailed, StateCanceled:
		return true
	}
	return false
}

// Limits on what a job spec may hold.
const (
	MaxNameLen     = 250
	MaxCommandArgs = 4096
	MaxEnvVars     = 1024
	MaxRestarts    = 100
	MaxPriority    = 1000
	MaxNodes       = 4096
	MaxProcs       = 1024 // processes per node
)

// Launch says how a job's command starts on each of its nodes.
type Launch string

const (
	// LaunchNone runs the command once per node (the default). A
	// multi-node job still gets NNODES, NODE_RANK, MASTER_ADDR and
	// MASTER_PORT, so that the command can launch its own ranks.
	LaunchNone Launch = "none"
	// LaunchTorchrun runs ProcsPerNode processes of the command per node
	// (default: one per GPU) with the environment torchrun gives its
	// workers (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR,
	// MASTER_PORT, ...), so that torch.distributed's env:// initialisation
	// works unchanged. One rank's failure fails the whole job.
	LaunchTorchrun Launch = "torchrun"
)

// Valid reports whether l is a known launch mode ("" counts as none).
func (l Launch) Valid() bool { return l == "" || l == LaunchNone || l == LaunchTorchrun }

// JobSpec is what a user submits: the same fields as `trainyard run` flags
// and as a job file for `trainyard submit`.
type JobSpec struct {
	Name        string            `json:"name,omitempty"`
	Project     string            `json:"project,omitempty"`
	Command     []string          `json:"command"`
	Workdir     string            `json:"workdir,omitempty"`
	Env         map[string]string `json:"env,omitempty"`
	Resources   Resources         `json:"resources"`
	Priority    int               `json:"priority,omitempty"`
	MaxRestarts int               `json:"max_restarts,omitempty"`
	Config      map[string]any    `json:"config,omitempty"` // recorded on the job's run
	Tags        map[string]string `json:"tags,omitempty"`   // recorded on the job's run
	Git         *GitInfo          `json:"git,omitempty"`    // of the submitting directory

	// Nodes is how many nodes the job runs on, each with Resources (which
	// count per node); 0 means 1. A multi-node job starts on all its nodes
	// at once or not at all.
	Nodes int `json:"nodes,omitempty"`
	// Launch and ProcsPerNode say how the command starts on each node: see
	// Launch. ProcsPerNode 0 means one per GPU of the node (at least 1).
	Launch       Launch `json:"launch,omitempty"`
	ProcsPerNode int    `json:"procs_per_node,omitempty"`
	// Pool is the Slurm partition or Kubernetes node pool (a node label
	// "pool" on other executors); GPUType a GPU model such as "h100" that
	// every node must have (see GPUTypeMatches). Empty: any.
	Pool    string `json:"pool,omitempty"`
	GPUType string `json:"gpu_type,omitempty"`
	// Account and QOS are Slurm's; Queue is a Kueue queue on Kubernetes.
	// Empty means the executor's default.
	Account string `json:"account,omitempty"`
	QOS     string `json:"qos,omitempty"`
	Queue   string `json:"queue,omitempty"`
	// TimeLimit stops the job after this long; 0 means the executor's
	// default (none on this machine).
	TimeLimit Duration `json:"time_limit,omitempty"`
}

// NodeCount is the number of nodes the job runs on (at least 1).
func (s *JobSpec) NodeCount() int { return max(s.Nodes, 1) }

// Procs is the number of processes the job runs per node.
func (s *JobSpec) Procs() int {
	switch {
	case s.Launch != LaunchTorchrun:
		return 1
	case s.ProcsPerNode > 0:
		return s.ProcsPerNode
	}
	return max(s.Resources.GPUs, 1)
}

// DefaultProject is the project of jobs and runs that name none.
const DefaultProject = "default"

// DefaultCPUs is the CPU request of a job that names none (in JSON, YAML
// or on the command line). A request of 0 CPUs reserves none.
const DefaultCPUs = 1

// NewJobSpec returns the spec to decode a user's job into (JSON or YAML):
// what the user leaves out keeps its default, such as DefaultCPUs.
func NewJobSpec() JobSpec { return JobSpec{Resources: Resources{CPUs: DefaultCPUs}} }

// Normalize fills defaults: project, nodes, launch and a name derived from
// the command.
func (s *JobSpec) Normalize() {
	if s.Project == "" {
		s.Project = DefaultProject
	}
	if s.Name == "" && len(s.Command) > 0 {
		s.Name = defaultName(s.Command)
	}
	if s.Nodes == 0 {
		s.Nodes = 1
	}
	if s.Launch == "" {
		s.Launch = LaunchNone
	}
}

func defaultName(cmd []string) string {
	parts := make([]string, 0, 2)
	for _, a := range cmd {
		base := a[strings.LastIndex(a, "/")+1:]
		if base == "" {
			continue
		}
		parts = append(parts, base)
		if len(parts) == 2 || !isInterpreter(base) {
			break
		}
	}
	n := strings.Join(parts, " ")
	if len(n) > 64 {
		n = n[:64]
	}
	return n
}

func isInterpreter(s string) bool {
	switch strings.TrimRight(s, "0123456789.") {
	case "python", "bash", "sh", "node", "torchrun", "uv", "accelerate", "deepspeed":
		return true
	}
	return false
}

var (
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	projectNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	engineNameRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// ValidateProject checks a project name.
func ValidateProject(field, p string) error {
	if !projectNameRe.MatchString(p) {
		return FieldError(field, "project %q must be 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", p)
	}
	return nil
}

// Validate reports every problem with the spec at once, each naming its field.
func (s *JobSpec) Validate() error {
	var errs []error
	if len(s.Command) == 0 || s.Command[0] == "" {
		errs = append(errs, FieldError("command", "is empty: give the program to run"))
	}
	if len(s.Command) > MaxCommandArgs {
		errs = append(errs, FieldError("command", "has %d arguments, more than %d", len(s.Command), MaxCommandArgs))
	}
	if len(s.Name) > MaxNameLen {
		errs = append(errs, FieldError("name", "is %d characters, more than %d", len(s.Name), MaxNameLen))
	}
	if s.Project != "" {
		if err := ValidateProject("project", s.Project); err != nil {
			errs = append(errs, err)
		}
	}
	if s.Resources.GPUs < 0 {
		errs = append(errs, FieldError("resources.gpus", "is %d; must be 0 or more", s.Resources.GPUs))
	}
	if s.Resources.CPUs < 0 {
		errs = append(errs, FieldError("resources.cpus", "is %d; must be 0 or more", s.Resources.CPUs))
	}
	if s.Resources.Memory < 0 {
		errs = append(errs, FieldError("resources.memory", "is %d; must be 0 or more", s.Resources.Memory))
	}
	if s.Priority < -MaxPriority || s.Priority > MaxPriority {
		errs = append(errs, FieldError("priority", "is %d; must be between %d and %d", s.Priority, -MaxPriority, MaxPriority))
	}
	if s.MaxRestarts < 0 || s.MaxRestarts > MaxRestarts {
		errs = append(errs, FieldError("max_restarts", "is %d; must be between 0 and %d", s.MaxRestarts, MaxRestarts))
	}
	if s.Nodes < 0 || s.Nodes > MaxNodes {
		errs = append(errs, FieldError("nodes", "is %d; must be between 1 and %d", s.Nodes, MaxNodes))
	}
	if !s.Launch.Valid() {
		errs = append(errs, FieldError("launch", "%q is not one of none, torchrun", s.Launch))
	}
	if s.ProcsPerNode < 0 || s.ProcsPerNode > MaxProcs {
		errs = append(errs, FieldError("procs_per_node", "is %d; must be between 0 and %d", s.ProcsPerNode, MaxProcs))
	}
	if s.ProcsPerNode > 0 && s.Launch != LaunchTorchrun {
		errs = append(errs, FieldError("procs_per_node", "goes with launch: torchrun"))
	}
	if s.TimeLimit < 0 {
		errs = append(errs, FieldError("time_limit", "is %s; must be 0 (none) or more", s.TimeLimit))
	}
	for _, f := range []struct{ name, v string }{{"pool", s.Pool}, {"gpu_type", s.GPUType}, {"account", s.Account}, {"qos", s.QOS}, {"queue", s.Queue}} {
		if f.v != "" && !engineNameRe.MatchString(f.v) {
			errs = append(errs, FieldError(f.name, "%q must be 1-63 letters, digits, '.', '_' or '-'", f.v))
		}
	}
	if len(s.Env) > MaxEnvVars {
		errs = append(errs, FieldError("env", "has %d variables, more than %d", len(s.Env), MaxEnvVars))
	}
	for k := range s.Env {
		if !envNameRe.MatchString(k) {
			errs = append(errs, FieldError("env", "name %q is not a valid environment variable name", k))
		}
	}
	for k := range s.Tags {
		if err := ValidateKey("tags", k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Job is a submitted JobSpec and what became of it. Its ID is also the ID
// of the run that tracks it.
type Job struct {
	JobSpec
	ID       string `json:"id"`
	State    State  `json:"state"`
	Reason   string `json:"reason,omitempty"`    // why it ended, or why it waits while QUEUED
	ExitCode *int   `json:"exit_code,omitempty"` // of the last attempt
	// Version counts the job's stored changes; JobStore.UpdateJobs writes
	// only over the version it was read at (compare-and-set).
	Version int64 `json:"version"`
	// Placement is where the job runs or ran, one entry per node in
	// node-rank order: set by the scheduler on this machine, reported by
	// the engine on Slurm and Kubernetes (nodes only, once they are known).
	Placement []Placement `json:"placement,omitempty"`
	// BackendID is the engine's name for the current attempt: a Slurm job
	// id, a Kubernetes Job name, the process group id on this machine.
	BackendID string `json:"backend_id,omitempty"`
	// Restarts is how many times the job was queued again after failing;
	// it is also the attempt number of its current or last task.
	Restarts    int       `json:"restarts"`
	SubmittedAt time.Time `json:"submitted_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`

	// Owner is the user who submitted the job ("" on a server without
	// users); its run has the same owner.
	Owner string `json:"owner,omitempty"`

	// QueuePosition is the 1-based place of a queued job in scheduling
	// order; 0 when not queued. Computed, not stored.
	QueuePosition int `json:"queue_position,omitempty"`

	// Launched is set, durably, before the current attempt is handed to the
	// executor: a server that dies before it records the Handle then asks
	// the executor (Recover) instead of starting the attempt again.
	Launched bool `json:"-"`
	// Handle is the executor's opaque record of the started task, kept so
	// that a restarted server can find it again. Empty while not started.
	Handle Handle `json:"-"`

	// CancelRequested says that a cancel was asked for through a server
	// that does not schedule (several servers share a store): the one
	// that schedules stops the job shortly. Set by
	// SharedStore.RequestCancel; UpdateJobs leaves it alone.
	CancelRequested bool `json:"cancel_requested,omitempty"`
}

// GPUs returns the GPU indices the job holds on its first node (all of a
// single-node job's), nil when none.
func (j *Job) GPUs() []int {
	if len(j.Placement) == 0 {
		return nil
	}
	return j.Placement[0].GPUs
}

// Ref names the job's current attempt.
func (j *Job) Ref() TaskRef { return TaskRef{JobID: j.ID, Attempt: j.Restarts} }

// Clone returns a copy of j that shares nothing mutable that the
// dispatcher changes (placement, exit code).
func (j *Job) Clone() *Job {
	c := *j
	if j.ExitCode != nil {
		v := *j.ExitCode
		c.ExitCode = &v
	}
	if j.Placement != nil {
		c.Placement = make([]Placement, len(j.Placement))
		for i, p := range j.Placement {
			p.GPUs = append([]int(nil), p.GPUs...)
			c.Placement[i] = p
		}
	}
	return &c
}
