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
)

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
}

// DefaultProject is the project of jobs and runs that name none.
const DefaultProject = "default"

// DefaultCPUs is the CPU request of a job that names none.
const DefaultCPUs = 1

// Normalize fills defaults: project, CPUs and a name derived from the command.
func (s *JobSpec) Normalize() {
	if s.Project == "" {
		s.Project = DefaultProject
	}
	if s.Resources.CPUs == 0 {
		s.Resources.CPUs = DefaultCPUs
	}
	if s.Name == "" && len(s.Command) > 0 {
		s.Name = defaultName(s.Command)
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
	ID          string    `json:"id"`
	State       State     `json:"state"`
	Reason      string    `json:"reason,omitempty"`    // why it ended, or why it waits while QUEUED
	ExitCode    *int      `json:"exit_code,omitempty"` // of the last attempt
	GPUs        []int     `json:"gpu_ids,omitempty"`   // indices of the GPUs it holds or held
	PID         int       `json:"pid,omitempty"`
	Restarts    int       `json:"restarts"`
	SubmittedAt time.Time `json:"submitted_at"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	EndedAt     time.Time `json:"ended_at,omitzero"`

	// QueuePosition is the 1-based place of a queued job in scheduling
	// order; 0 when not queued. Computed, not stored.
	QueuePosition int `json:"queue_position,omitempty"`

	// Handle is the executor's opaque record of the started process, kept
	// so that a restarted server can find it again.
	Handle string `json:"-"`
}
