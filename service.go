package trainyard

import "context"

// JobService queues, runs and cancels jobs on the machine. The dispatcher
// implements it; the HTTP API calls it.
type JobService interface {
	// Submit validates and queues a job. The job belongs to the user ctx
	// carries (OwnerFrom). Returns EINVALID naming the field at fault, or
	// EUNSATISFIABLE when the machine can never run it.
	Submit(ctx context.Context, spec JobSpec) (*Job, error)
	// Cancel stops a job: a queued one at once, a running one with SIGTERM
	// to its process group and SIGKILL after a grace period. Returns
	// ENOTFOUND, or ECONFLICT if the job already finished.
	Cancel(ctx context.Context, id string) (*Job, error)
	// CancelMany cancels several jobs at once: every id is checked first
	// (an unknown one is ENOTFOUND naming it, and nothing is canceled),
	// then the queued ones leave the queue together, before the scheduler
	// can start any of them, and the running ones are stopped as Cancel
	// stops them. Jobs that had already finished are returned unchanged.
	// Returns the jobs as they are now, in the order of ids (repeats
	// dropped); EINVALID for an empty list.
	CancelMany(ctx context.Context, ids []string) ([]*Job, error)
	// Job returns a job; a queued one carries why it waits.
	Job(ctx context.Context, id string) (*Job, error)
	// Jobs lists jobs; queued ones carry why they wait and their position.
	Jobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// Machine describes the machine the server runs on.
	Machine() Machine
	// Executor describes where jobs run: the executor's kind and nodes.
	Executor(ctx context.Context) (ExecutorInfo, error)
}

// Machine is what this machine offers jobs.
type Machine struct {
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`   // logical CPUs usable by this process (the scheduler affinity mask)
	Memory   int64  `json:"memory"` // bytes, MemTotal of /proc/meminfo; 0 with a warning when unreadable
	GPUs     []GPU  `json:"gpus"`   // never nil, so JSON shows []
	// Source says how GPUs were found: "nvidia-smi" (the CSV query),
	// "nvidia-smi -q -x" (the XML fallback), "none" (discovery turned off),
	// or why there are none: "nvidia-smi not found: CPU-only mode",
	// "nvidia-smi failed: CPU-only mode" (see Warnings).
	Source   string   `json:"source"`
	Warnings []string `json:"warnings,omitempty"`
}

// Capacity is the machine's total as Resources.
func (m Machine) Capacity() Resources {
	return Resources{GPUs: len(m.GPUs), CPUs: m.CPUs, Memory: Bytes(m.Memory)}
}

// GPU is one NVIDIA GPU as nvidia-smi reports it. Numbers nvidia-smi cannot
// report ("[N/A]", "[Not Supported]") are -1; text it cannot report is "".
type GPU struct {
	Index             int     `json:"index"` // nvidia-smi's index (PCI bus order)
	UUID              string  `json:"uuid"`
	Name              string  `json:"name"`
	MemoryTotal       int64   `json:"memory_total"`       // bytes, -1 when unknown
	MemoryUsed        int64   `json:"memory_used"`        // bytes, -1 when unknown
	Utilization       int     `json:"utilization"`        // percent of time a kernel ran, -1 when unknown
	MemoryUtilization int     `json:"memory_utilization"` // percent of time memory was read or written (not the share used), -1 when unknown
	Temperature       int     `json:"temperature"`        // °C, -1 when unknown
	PowerDraw         float64 `json:"power_draw"`         // W, -1 when unknown
	BusID             string  `json:"bus_id"`             // PCI bus id such as 00000000:00:06.0
	Driver            string  `json:"driver_version"`
}

// Node describes the machine as one node for the scheduler: its GPUs by
// index, CPUs, memory, and the GPU type as a label (GPUTypeLabel of the
// first GPU's name).
func (m Machine) Node() Node {
	n := Node{Name: m.Hostname, GPUs: make([]int, 0, len(m.GPUs)), CPUs: m.CPUs, Memory: Bytes(m.Memory)}
	for _, g := range m.GPUs {
		n.GPUs = append(n.GPUs, g.Index)
	}
	if len(m.GPUs) > 0 && m.GPUs[0].Name != "" {
		n.Labels = map[string]string{LabelGPUType: GPUTypeLabel(m.GPUs[0].Name)}
	}
	return n
}
