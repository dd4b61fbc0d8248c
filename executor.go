package trainyard

import (
	"context"
	"os"
)

// Executor runs job processes. It is the seam between the dispatcher, which
// decides what runs where, and a backend that runs it (this machine's
// processes, later Slurm or Kubernetes). The shape follows Nomad's task
// driver: start, signal, wait, inspect.
type Executor interface {
	// Start launches the task and returns a handle that survives a restart
	// of trainyard: Recover(handle) finds the process again.
	Start(ctx context.Context, t Task) (Handle, error)
	// Signal delivers sig to the task's whole process group. Signalling a
	// task that has exited is not an error.
	Signal(h Handle, sig os.Signal) error
	// Wait blocks until the task exits or ctx ends.
	Wait(ctx context.Context, h Handle) (ExitStatus, error)
	// Inspect reports whether the task is still alive; for an exited task
	// it returns its exit status too.
	Inspect(h Handle) (alive bool, st ExitStatus, err error)
}

// Task is one attempt at running a job.
type Task struct {
	JobID   string
	Command []string
	Workdir string
	Env     []string // full environment, KEY=VALUE
	LogPath string   // stdout and stderr are appended here
}

// Handle identifies a started task. State is the executor's own encoding,
// stored with the job so that a restarted server can recover the task.
type Handle struct {
	PID   int
	State string
}

// ExitStatus is how a task ended. Code is the exit code, or 128+signal when
// a signal ended it (as shells report it). Lost is set when the executor
// could not learn how the task ended.
type ExitStatus struct {
	Code   int
	Signal string
	Lost   bool
}
