package trainyard

import (
	"context"
	"io"
	"time"
)

// Store is the durable state of trainyard. An implementation must pass the
// conformance suite in package storetest. Every method is safe for
// concurrent use. A method that returns nil has made its write durable.
type Store interface {
	JobStore
	RunStore
	MetricStore
	TrackingStore
	RegistryStore
	LoggedModelStore
	SweepStore
	UserStore
	AuditStore
	Close() error
}

// JobStore keeps jobs.
type JobStore interface {
	// CreateJob stores a new QUEUED job and its run (same ID) together.
	// Returns ECONFLICT if the ID is taken.
	CreateJob(ctx context.Context, job *Job) error
	// UpdateJobs overwrites the state fields of every job (state, reason,
	// exit code, placement, backend id, handle, restarts, times) and mirrors
	// state, reason, exit code and times onto their runs: all in one
	// transaction, and each only if the job's stored Version is still
	// job.Version (compare-and-set). On success every job's Version is one
	// more, in the store and in the caller's struct. Returns ECONFLICT,
	// naming the first stale job, and writes nothing when any job changed
	// since it was read; ENOTFOUND if a job does not exist.
	UpdateJobs(ctx context.Context, jobs ...*Job) error
	// Job returns ENOTFOUND if there is no such job.
	Job(ctx context.Context, id string) (*Job, error)
	// Jobs lists jobs, newest first. With active set it lists only QUEUED
	// and RUNNING jobs, oldest first.
	Jobs(ctx context.Context, f JobFilter) ([]*Job, error)
}

// JobFilter selects jobs to list.
type JobFilter struct {
	Active  bool  // only QUEUED and RUNNING, oldest first
	State   State // only this state
	Project string
	// Projects, when set, keeps only jobs in these projects.
	Projects []string
	// IDPrefix keeps the jobs whose ID starts with it (for short IDs typed
	// by people, as git and docker take them).
	IDPrefix string
	Limit    int
}

// RunStore keeps runs.
type RunStore interface {
	// CreateRun stores a run created outside any job. Returns ECONFLICT if
	// the ID is taken.
	CreateRun(ctx context.Context, run *Run) error
	// Run returns ENOTFOUND if there is no such run.
	Run(ctx context.Context, id string) (*Run, error)
	// RunHeader is Run without the metric summaries (Metrics is nil):
	// what a write needs to check, cheaper to read.
	RunHeader(ctx context.Context, id string) (*Run, error)
	// Runs lists runs, newest first.
	Runs(ctx context.Context, f RunFilter) ([]*Run, error)
	// UpdateRun applies u and returns the run as it now is. A change to a
	// terminal state sets EndedAt. Returns ENOTFOUND if there is no such run.
	UpdateRun(ctx context.Context, id string, u RunUpdate) (*Run, error)
	// Projects lists the projects that hold runs, by name.
	Projects(ctx context.Context) ([]Project, error)
}

// MetricStore keeps metric series: append-only, NaN and ±Inf kept.
type MetricStore interface {
	// AppendMetrics appends points to the run's series and returns once they
	// are durable. Returns ENOTFOUND if the run does not exist and EINVALID
	// for a bad batch; nothing of a refused batch is stored.
	AppendMetrics(ctx context.Context, runID string, batch []SeriesPoints) error
	// AppendMetricsOnce is AppendMetrics for a batch that a client may send
	// more than once (a retry after a lost answer, an offline spool synced
	// later): a batch ID the run has already stored stores nothing and
	// reports dup. IDs are 1-64 of [A-Za-z0-9_-].
	AppendMetricsOnce(ctx context.Context, runID, batchID string, batch []SeriesPoints) (dup bool, err error)
	// ReadSeries returns points of one series. Returns ENOTFOUND if the run
	// or the key does not exist.
	ReadSeries(ctx context.Context, runID, key string, q SeriesQuery) (*Series, error)
}

// ArtifactStore keeps the files of runs. Paths are slash-separated and
// relative to the run's root; a path that would leave it is EINVALID.
type ArtifactStore interface {
	// PutArtifact stores r at path, replacing any file there, and returns
	// once it is durable.
	PutArtifact(ctx context.Context, runID, path string, r io.Reader) (ArtifactInfo, error)
	// OpenArtifact opens a file. Returns ENOTFOUND if there is none.
	OpenArtifact(ctx context.Context, runID, path string) (io.ReadSeekCloser, ArtifactInfo, error)
	// ListArtifacts lists the files and directories directly under dir
	// ("" for the root). With recursive it lists every file below dir.
	ListArtifacts(ctx context.Context, runID, dir string, recursive bool) ([]ArtifactInfo, error)
	// DeleteArtifact removes a file or a directory tree.
	DeleteArtifact(ctx context.Context, runID, path string) error
}

// ArtifactInfo describes one artifact file or directory.
type ArtifactInfo struct {
	Path    string    `json:"path"`
	Dir     bool      `json:"dir,omitempty"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

// Clock returns the current time; injected so tests control it.
type Clock func() time.Time

// IDFunc returns a new unique ID; injected so tests control it.
type IDFunc func() string
