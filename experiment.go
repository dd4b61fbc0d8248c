package trainyard

import (
	"context"
	"time"
)

// Experiment is a project as MLflow sees it: every project is an
// experiment of the same name, and an experiment created through the MLflow
// API is a project that runs can be logged to. The default project has the
// ID DefaultExperimentID.
type Experiment struct {
	ID               string
	Name             string // the project's name
	ArtifactLocation string // "" means the API's default location
	Deleted          bool
	Tags             map[string]string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// DefaultExperimentID is the ID of the experiment of DefaultProject.
const DefaultExperimentID = "0"

// ExperimentUpdate changes an experiment. Nil fields are left alone.
type ExperimentUpdate struct {
	// Name renames the experiment and moves its runs and jobs to the new
	// project name.
	Name       *string
	Tags       map[string]string
	DeleteTags []string
	// Deleted marks the experiment deleted (or restores it), and its runs
	// with it.
	Deleted *bool
}

// View selects runs or experiments by lifecycle. The zero value selects
// the live (not deleted) ones.
type View int

const (
	ViewActive View = iota
	ViewDeleted
	ViewAll
)

// Includes reports whether a thing deleted or not is in the view.
func (v View) Includes(deleted bool) bool {
	switch v {
	case ViewDeleted:
		return deleted
	case ViewAll:
		return true
	}
	return !deleted
}

// ExperimentStore keeps experiments. A project that exists only through
// its runs or jobs is an experiment all the same: the store creates its
// row when the project's first run is stored.
type ExperimentStore interface {
	// CreateExperiment stores e, assigning e.ID, CreatedAt and UpdatedAt.
	// Returns ECONFLICT if an experiment (live or deleted) has the name.
	CreateExperiment(ctx context.Context, e *Experiment) error
	// Experiment returns ENOTFOUND if there is no such experiment.
	Experiment(ctx context.Context, id string) (*Experiment, error)
	// ExperimentByName returns ENOTFOUND if no experiment has the name.
	ExperimentByName(ctx context.Context, name string) (*Experiment, error)
	// Experiments lists the experiments in the view, oldest first.
	Experiments(ctx context.Context, view View) ([]*Experiment, error)
	// UpdateExperiment applies u and returns the experiment as it now is.
	// Returns ENOTFOUND if there is no such experiment and ECONFLICT if a
	// rename takes a name in use.
	UpdateExperiment(ctx context.Context, id string, u ExperimentUpdate) (*Experiment, error)
}

// DatasetInput is a data set a run read, as MLflow's log-inputs records it.
type DatasetInput struct {
	Name       string            `json:"name"`
	Digest     string            `json:"digest"`
	SourceType string            `json:"source_type"`
	Source     string            `json:"source"`
	Schema     string            `json:"schema,omitempty"`
	Profile    string            `json:"profile,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
}

// ModelRef names a logged model a run used or produced, at a step.
type ModelRef struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step,omitempty"`
}

// RunBatch is what one MLflow log-batch writes to a run.
type RunBatch struct {
	Params  map[string]string
	Tags    map[string]string
	Name    *string // a new name (the mlflow.runName tag)
	Metrics []SeriesPoints
}

// RunIO is what a run read and wrote besides metrics: data sets and
// models.
type RunIO struct {
	Datasets     []DatasetInput `json:"datasets,omitempty"`
	ModelInputs  []ModelRef     `json:"model_inputs,omitempty"`
	ModelOutputs []ModelRef     `json:"model_outputs,omitempty"`
}

// TrackingStore is what experiment tracking (the MLflow API) needs of a
// store beyond RunStore.
type TrackingStore interface {
	ExperimentStore
	// SearchRuns returns the page of runs that q selects (see RunSearch),
	// with their metric summaries, and a token for the next page ("" when
	// this page is the last). Returns EINVALID for a page token it did not
	// make for this search.
	SearchRuns(ctx context.Context, q RunSearch) (runs []*Run, next string, err error)
	// SetRunDeleted marks a run deleted or restores it. A deleted run is
	// left out of Runs unless its filter's View asks for it. Returns
	// ENOTFOUND if there is no such run.
	SetRunDeleted(ctx context.Context, id string, deleted bool) error
	// SetParams adds string values to the run's config. A key that already
	// holds a different value is EINVALID, naming the key, and nothing is
	// stored; the same value again is fine. Returns ENOTFOUND if there is
	// no such run.
	SetParams(ctx context.Context, id string, params map[string]string) error
	// LogBatch writes a batch to a run in one transaction, all of it or
	// nothing: params (as SetParams: a key holding another value is
	// EINVALID, naming it), tags, a new name, and metric points (as
	// AppendMetrics). Returns ENOTFOUND if there is no such run.
	LogBatch(ctx context.Context, id string, b RunBatch) error
	// AddRunIO records data sets and models a run read or wrote; a data set
	// or model already recorded is not added twice. Returns ENOTFOUND if
	// there is no such run.
	AddRunIO(ctx context.Context, id string, io RunIO) error
	// RunIO returns what AddRunIO recorded; ENOTFOUND if there is no run.
	RunIO(ctx context.Context, id string) (RunIO, error)
}
