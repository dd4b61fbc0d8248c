package trainyard

import (
	"context"
	"time"
)

// RegisteredModel is a named model in the registry; its versions point at
// the artifacts of runs or logged models. Aliases name versions
// ("champion" → 3).
type RegisteredModel struct {
	Name        string
	Description string
	Tags        map[string]string
	Aliases     map[string]int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Model version stages (MLflow's, deprecated there but still used).
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"
)

// ModelVersion is one version of a registered model. Versions count from 1
// per model and are never reused while the model exists.
type ModelVersion struct {
	Name        string
	Version     int64
	Source      string // where its files are: an artifact URI
	RunID       string
	ModelID     string // the logged model it was made from, if any
	RunLink     string
	Stage       string
	Description string
	Tags        map[string]string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RegisteredModelUpdate changes a registered model. Nil fields are left
// alone; Aliases maps an alias to a version, or to 0 to remove it.
type RegisteredModelUpdate struct {
	Name        *string // rename; its versions follow
	Description *string
	Tags        map[string]string
	DeleteTags  []string
	Aliases     map[string]int64
}

// ModelVersionUpdate changes a model version. Nil fields are left alone.
type ModelVersionUpdate struct {
	Description *string
	Stage       *string
	// ArchiveOthers moves the model's other versions in the new stage to
	// Archived.
	ArchiveOthers bool
	Tags          map[string]string
	DeleteTags    []string
}

// RegistryStore keeps registered models and their versions.
type RegistryStore interface {
	// CreateRegisteredModel stores m, setting its times. Returns ECONFLICT
	// if the name is taken.
	CreateRegisteredModel(ctx context.Context, m *RegisteredModel) error
	// RegisteredModel returns ENOTFOUND if there is no such model.
	RegisteredModel(ctx context.Context, name string) (*RegisteredModel, error)
	// RegisteredModels lists every registered model by name.
	RegisteredModels(ctx context.Context) ([]*RegisteredModel, error)
	// UpdateRegisteredModel applies u. Returns ENOTFOUND if there is no
	// such model (or an alias names a missing version) and ECONFLICT if a
	// rename takes a name in use.
	UpdateRegisteredModel(ctx context.Context, name string, u RegisteredModelUpdate) (*RegisteredModel, error)
	// DeleteRegisteredModel removes the model and its versions. Returns
	// ENOTFOUND if there is no such model.
	DeleteRegisteredModel(ctx context.Context, name string) error
	// CreateModelVersion stores v as the model's next version, setting
	// v.Version and its times. Returns ENOTFOUND if the model does not
	// exist.
	CreateModelVersion(ctx context.Context, v *ModelVersion) error
	// ModelVersion returns ENOTFOUND if there is no such version.
	ModelVersion(ctx context.Context, name string, version int64) (*ModelVersion, error)
	// ModelVersions lists the versions of one model ("" for every model),
	// by name and version.
	ModelVersions(ctx context.Context, name string) ([]*ModelVersion, error)
	// UpdateModelVersion applies u. Returns ENOTFOUND if there is no such
	// version.
	UpdateModelVersion(ctx context.Context, name string, version int64, u ModelVersionUpdate) (*ModelVersion, error)
	// DeleteModelVersion removes a version and the aliases that name it.
	// Returns ENOTFOUND if there is no such version.
	DeleteModelVersion(ctx context.Context, name string, version int64) error
}

// LoggedModel is a model a run logged (MLflow 3): its files live in the
// artifact store under its ID, apart from any run's.
type LoggedModel struct {
	ID               string // "m-" and 32 hex digits; also its artifact key
	ExperimentID     string
	Name             string
	ArtifactLocation string
	Status           string // PENDING, READY or FAILED
	StatusMessage    string
	SourceRunID      string
	ModelType        string
	Tags             map[string]string
	Params           map[string]string
	Metrics          []ModelMetric // points logged with the model's ID, in the order logged
	Deleted          bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// ModelMetric is a metric point logged for a logged model (MLflow's
// log-metric or log-batch with a model_id), by a run.
type ModelMetric struct {
	Key           string `json:"key"`
	Value         Float  `json:"value"`
	Timestamp     int64  `json:"timestamp"` // Unix ms
	Step          int64  `json:"step"`
	RunID         string `json:"run_id,omitempty"`
	DatasetName   string `json:"dataset_name,omitempty"`
	DatasetDigest string `json:"dataset_digest,omitempty"`
}

// LoggedModelUpdate changes a logged model. Nil fields are left alone;
// AddMetrics appends points (one already there is not added twice).
type LoggedModelUpdate struct {
	Status        *string
	StatusMessage *string
	Tags          map[string]string
	DeleteTags    []string
	Params        map[string]string
	AddMetrics    []ModelMetric
	Deleted       *bool
}

// LoggedModelStore keeps logged models.
type LoggedModelStore interface {
	// CreateLoggedModel stores m, setting its times. Returns ECONFLICT if
	// the ID is taken.
	CreateLoggedModel(ctx context.Context, m *LoggedModel) error
	// LoggedModel returns ENOTFOUND if there is no such model.
	LoggedModel(ctx context.Context, id string) (*LoggedModel, error)
	// LoggedModels lists the live models of the experiments (every
	// experiment when none is given), newest first.
	LoggedModels(ctx context.Context, experimentIDs []string) ([]*LoggedModel, error)
	// UpdateLoggedModel applies u. Returns ENOTFOUND if there is no such
	// model.
	UpdateLoggedModel(ctx context.Context, id string, u LoggedModelUpdate) (*LoggedModel, error)
}
