package tracking

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// Store is what the service needs of a store.
type Store interface {
	trainyard.RunStore
	trainyard.MetricStore
	trainyard.TrackingStore
	trainyard.LoggedModelStore
}

// Config wires a Service.
type Config struct {
	Store Store
	Clock trainyard.Clock  // default time.Now
	NewID trainyard.IDFunc // IDs of new runs; default trainyard.NewID
	// OnMetrics, when set, is called after metric points of a run were
	// stored (not for a batch stored before: a duplicate), in the caller's
	// goroutine, before the write is answered. The sweep service feeds the
	// reports of trials to their searcher this way. It must cost next to
	// nothing for runs it does not follow, and must not keep batch.
	OnMetrics func(ctx context.Context, runID string, batch []trainyard.SeriesPoints)
}

// Service applies the tracking rules (see the package doc) and writes
// through the store. It is safe for concurrent use.
type Service struct {
	store     Store
	clock     trainyard.Clock
	newID     trainyard.IDFunc
	onMetrics func(ctx context.Context, runID string, batch []trainyard.SeriesPoints)
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = trainyard.NewID
	}
	return &Service{store: cfg.Store, clock: cfg.Clock, newID: cfg.NewID, onMetrics: cfg.OnMetrics}
}

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.clock() }

// CreateRun creates a run outside any job. An empty ID is drawn (and drawn
// again on the rare collision); a chosen one that is taken is ECONFLICT.
// The project defaults to trainyard.DefaultProject; it must name an
// existing experiment or be a valid project name. The name defaults to the
// ID. Returns the run as stored.
func (s *Service) CreateRun(ctx context.Context, n trainyard.NewRun) (*trainyard.Run, error) {
	project := n.Project
	n.Project = "" // checked below: an existing experiment's name need not be a project name
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if project == "" {
		project = trainyard.DefaultProject
	} else if _, err := s.store.ExperimentByName(ctx, project); trainyard.IsCode(err, trainyard.ENOTFOUND) {
		if err := trainyard.ValidateProject("project", project); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if err := checkName(n.Name); err != nil {
		return nil, err
	}
	if !n.StartedAt.IsZero() {
		if err := checkRunTime("start_time", n.StartedAt); err != nil {
			return nil, err
		}
	}
	for _, k := range trainyard.SortedKeys(n.Tags) {
		if err := checkTag(-1, k, n.Tags[k]); err != nil {
			return nil, err
		}
	}
	if err := checkValues("config", n.Config, MaxParamValue); err != nil {
		return nil, err
	}
	now := s.clock().UTC()
	run := &trainyard.Run{
		ID: n.ID, Project: project, Name: n.Name, State: trainyard.StateRunning,
		Config: trainyard.FlattenConfig(n.Config), Tags: n.Tags, Summary: map[string]any{},
		Command: n.Command, Workdir: n.Workdir, Git: n.Git, CreatedAt: now, StartedAt: now,
	}
	if !n.StartedAt.IsZero() {
		run.CreatedAt, run.StartedAt = n.StartedAt.UTC(), n.StartedAt.UTC()
	}
	if run.Tags == nil {
		run.Tags = map[string]string{}
	}
	if jobID := run.Tags[JobTag]; jobID != "" && n.ID == "" {
		if claimed, err := s.claimJobRun(ctx, jobID, n, project); claimed != nil || err != nil {
			return claimed, err
		}
	}
	chosen := run.ID != ""
	for attempt := 0; ; attempt++ {
		if !chosen {
			run.ID = s.newID()
		}
		if run.Name = n.Name; run.Name == "" {
			run.Name = n.DefaultName
		}
		if run.Name == "" {
			run.Name = run.ID
		}
		err := s.store.CreateRun(ctx, run)
		if err == nil {
			break
		}
		if chosen || !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return nil, err
		}
	}
	return s.store.Run(ctx, run.ID)
}

// JobTag names the job whose process creates a run: trainyard sets it for
// every job in MLFLOW_RUN_CONTEXT, which MLflow's fluent API adds to the
// tags of each run the job's code starts.
const JobTag = "trainyard.job_id"

// claimJobRun makes a run that a job's code creates its job's run: the
// first run created with the job's tag, while the job has not ended, is
// the job's own run rather than a new one. It takes the request's tags,
// its name when one was given, and moves into the request's experiment
// (project) when the code chose another (mlflow.set_experiment): a user's
// unmodified MLflow script logs to its job's run. Later runs of the same
// job (a second start_run, nested runs) are new runs carrying the tag.
// Returns nil, nil when the run is not the job's to claim.
func (s *Service) claimJobRun(ctx context.Context, jobID string, n trainyard.NewRun, project string) (*trainyard.Run, error) {
	run, err := s.store.Run(ctx, jobID)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if run.JobID != jobID || run.State.Terminal() || run.Deleted || run.Tags[JobTag] != "" {
		return nil, nil
	}
	u := trainyard.RunUpdate{Tags: n.Tags}
	if n.Name != "" {
		u.Name = &n.Name
	} else {
		u.Tags = maps.Clone(n.Tags)
		u.Tags["mlflow.runName"] = run.Name
	}
	if project != run.Project {
		u.Project = &project
	}
	return s.store.UpdateRun(ctx, jobID, u)
}

// UpdateRun applies a client's change to a run. A job's run refuses a
// change of state (the job's exit decides it; cancel the job instead).
// Returns ENOTFOUND if there is no such run.
func (s *Service) UpdateRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if u.EndedAt != nil {
		if err := checkRunTime("end_time", *u.EndedAt); err != nil {
			return nil, err
		}
	}
	for _, k := range trainyard.SortedKeys(u.Tags) {
		if err := checkTag(-1, k, u.Tags[k]); err != nil {
			return nil, err
		}
	}
	if err := checkValues("config", u.Config, MaxParamValue); err != nil {
		return nil, err
	}
	if err := checkValues("summary", u.Summary, MaxSummaryValue); err != nil {
		return nil, err
	}
	if u.State != nil || len(u.Config) > 0 {
		cur, err := s.store.RunHeader(ctx, id)
		if err != nil {
			return nil, err
		}
		if u.State != nil && cur.JobID != "" && *u.State != cur.State {
			return nil, violation(Violation{Problem: JobOwnsState, What: "state", Index: -1, RunID: id, JobID: cur.JobID},
				trainyard.EINVALID, "state", "run %s belongs to job %s, whose state trainyard keeps; cancel the job instead", id, cur.JobID)
		}
		// The config is the run's params: a key keeps its value.
		flat := trainyard.FlattenConfig(u.Config)
		for _, k := range trainyard.SortedKeys(flat) {
			v := flat[k]
			if old, ok := cur.Config[k]; ok && runquery.ParamString(old) != runquery.ParamString(v) {
				return nil, violation(Violation{Problem: ParamChanged, What: "config", Index: -1, Key: k, Old: runquery.ParamString(old),
					Value: runquery.ParamString(v), RunID: id},
					trainyard.EINVALID, "config", "%q is %s and cannot change to %s: a run's config (its params) is immutable; log the new value as a metric or start a new run",
					k, runquery.ParamString(old), runquery.ParamString(v))
			}
		}
	}
	return s.store.UpdateRun(ctx, id, u)
}

// ReportRun applies what a run's own code reports about it (MLflow's
// update-run: a new name, a status, an end time). A job's run takes the
// name but not the state or end time, which its job's exit decides: so
// mlflow.end_run() inside a job leaves the run RUNNING until the process
// exits. The run must not be deleted. Returns the run as it now is.
func (s *Service) ReportRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	run, err := s.liveRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.JobID != "" {
		u.State, u.EndedAt = nil, nil
	}
	if u.Name != nil {
		if err := checkName(*u.Name); err != nil {
			return nil, err
		}
	}
	if u.EndedAt != nil {
		if err := checkRunTime("end_time", *u.EndedAt); err != nil {
			return nil, err
		}
		if u.State == nil || !u.State.Terminal() {
			u.EndedAt = nil // an end time goes with a final state
		}
	}
	if err := u.Validate(); err != nil {
		return nil, err
	}
	if u.Name == nil && u.State == nil && u.Tags == nil {
		return run, nil
	}
	return s.store.UpdateRun(ctx, id, u)
}

// SetRunDeleted deletes a run (hidden from lists, refusing writes) or
// restores it. Returns ENOTFOUND if there is no such run.
func (s *Service) SetRunDeleted(ctx context.Context, id string, deleted bool) error {
	return s.store.SetRunDeleted(ctx, id, deleted)
}

// liveRun returns a run that may be written to: it exists and is not
// deleted.
func (s *Service) liveRun(ctx context.Context, id string) (*trainyard.Run, error) {
	run, err := s.store.RunHeader(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Deleted {
		return nil, violation(Violation{Problem: RunDeleted, What: "run", Index: -1, RunID: id},
			trainyard.EINVALID, "", "run %s is deleted: restore it to write to it", id)
	}
	return run, nil
}

// KV is a param or a tag as a request lists it.
type KV struct{ Key, Value string }

// Point is one metric point as a log-batch request lists it. A point with
// a ModelID is also a metric of that logged model.
type Point struct {
	Key       string
	Value     float64
	Timestamp int64 // Unix ms
	Step      int64

	ModelID, DatasetName, DatasetDigest string
}

// logModelMetrics attaches the points logged with a model ID to their
// logged models.
func (s *Service) logModelMetrics(ctx context.Context, runID string, points []Point) error {
	byModel := map[string][]trainyard.ModelMetric{}
	var order []string
	for _, p := range points {
		if p.ModelID == "" {
			continue
		}
		if _, ok := byModel[p.ModelID]; !ok {
			order = append(order, p.ModelID)
		}
		byModel[p.ModelID] = append(byModel[p.ModelID], trainyard.ModelMetric{Key: p.Key, Value: trainyard.Float(p.Value), Timestamp: p.Timestamp,
			Step: p.Step, RunID: runID, DatasetName: p.DatasetName, DatasetDigest: p.DatasetDigest})
	}
	for _, id := range order {
		if _, err := s.store.UpdateLoggedModel(ctx, id, trainyard.LoggedModelUpdate{AddMetrics: byModel[id]}); err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return err
		}
	}
	return nil
}

// Batch is what one log-batch request writes to a run: metric points,
// params and tags, each in the request's order (errors name the item by
// its position).
type Batch struct {
	Metrics []Point
	Params  []KV
	Tags    []KV
	// One marks a request that logs one thing (MLflow's log-metric,
	// log-param, set-tag): its errors name no position.
	One bool
}

// CheckBatchSize refuses a batch over the limits on the number of metrics,
// params and tags; parsers call it as they count, to stop early.
func CheckBatchSize(metrics, params, tags int) error {
	for _, c := range []struct {
		what       string
		n, limit   int
		field, msg string
	}{
		{"metrics", metrics, MaxBatchMetrics, "metrics", ""},
		{"params", params, MaxBatchParams, "params", ""},
		{"tags", tags, MaxBatchTags, "tags", ""},
		{"metrics, params, and tags", metrics + params + tags, MaxBatchItems, "metrics", ""},
	} {
		if c.n > c.limit {
			return violation(Violation{Problem: TooMany, What: c.what, Index: -1, Len: c.n, Limit: c.limit},
				trainyard.EINVALID, c.field, "a batch may hold at most %d %s, got %d", c.limit, c.what, c.n)
		}
	}
	return nil
}

// CheckPoint checks one metric point at index of its request (-1 for a
// request of one): its key and its timestamp, which must not be negative.
func CheckPoint(index int, p Point) error {
	if err := checkKey("metric", index, p.Key); err != nil {
		return err
	}
	if p.Timestamp < 0 {
		return violation(Violation{Problem: TimeOutOfRange, What: "timestamp", Index: index, Key: p.Key, Num: p.Value, Time: p.Timestamp},
			trainyard.EINVALID, "timestamp", "metric %q has a negative timestamp %d", p.Key, p.Timestamp)
	}
	return nil
}

// LogBatch validates a batch and writes it to a live run, in MLflow's
// order: every metric, param and tag; then the batch's size; then
// repeated params; then the run. Params must not change (ParamChanged)
// nor repeat with different values within the batch (DuplicateParam); the
// tag mlflow.runName renames the run. A point identical to one the run
// has (or to another in the batch) is stored once.
func (s *Service) LogBatch(ctx context.Context, id string, b Batch) error {
	pos := func(i int) int {
		if b.One {
			return -1
		}
		return i
	}
	for i, p := range b.Metrics {
		if err := CheckPoint(pos(i), p); err != nil {
			return err
		}
	}
	for i, p := range b.Params {
		if err := checkParam(pos(i), p.Key, p.Value); err != nil {
			return err
		}
	}
	for i, t := range b.Tags {
		if err := checkTag(pos(i), t.Key, t.Value); err != nil {
			return err
		}
	}
	if err := CheckBatchSize(len(b.Metrics), len(b.Params), len(b.Tags)); err != nil {
		return err
	}
	params := make(map[string]string, len(b.Params))
	var dups []string
	for _, p := range b.Params {
		if _, ok := params[p.Key]; ok {
			dups = append(dups, p.Key)
		}
		params[p.Key] = p.Value
	}
	if len(dups) > 0 {
		return violation(Violation{Problem: DuplicateParam, What: "param", Index: -1, Key: dups[0], Keys: dups},
			trainyard.EINVALID, "params", "params %q are given more than once", dups)
	}
	run, err := s.liveRun(ctx, id)
	if err != nil {
		return err
	}
	var changes []ParamChange
	for _, p := range b.Params {
		if old, ok := run.Config[p.Key]; ok && runquery.ParamString(old) != p.Value {
			changes = append(changes, ParamChange{Key: p.Key, Old: runquery.ParamString(old), New: p.Value})
		}
	}
	if len(changes) > 0 {
		c := changes[0]
		return violation(Violation{Problem: ParamChanged, What: "param", Index: 0, Key: c.Key, Old: c.Old, Value: c.New, RunID: id, Changes: changes},
			trainyard.EINVALID, "params", "changing param %q of run %s from %q to %q is not allowed: params are immutable", c.Key, id, c.Old, c.New)
	}
	rb := trainyard.RunBatch{Params: params, Metrics: columns(b.Metrics)}
	if len(b.Tags) > 0 {
		rb.Tags = make(map[string]string, len(b.Tags))
		for _, t := range b.Tags {
			rb.Tags[t.Key] = t.Value
		}
		if name, ok := rb.Tags[runNameTag]; ok && name != "" {
			rb.Name = &name
		}
	}
	if err := s.store.LogBatch(ctx, id, rb); err != nil {
		return err
	}
	if s.onMetrics != nil && len(rb.Metrics) > 0 {
		s.onMetrics(ctx, id, rb.Metrics)
	}
	return s.logModelMetrics(ctx, id, b.Metrics)
}

// columns turns points into one column set per key, in order of first
// appearance.
func columns(points []Point) []trainyard.SeriesPoints {
	index := map[string]int{}
	var out []trainyard.SeriesPoints
	for _, p := range points {
		i, ok := index[p.Key]
		if !ok {
			i = len(out)
			index[p.Key] = i
			out = append(out, trainyard.SeriesPoints{Key: p.Key})
		}
		sp := &out[i]
		sp.Steps = append(sp.Steps, p.Step)
		sp.Values = append(sp.Values, p.Value)
		sp.Times = append(sp.Times, p.Timestamp)
	}
	return out
}

// runNameTag is MLflow's tag that mirrors a run's name.
const runNameTag = "mlflow.runName"

func (s *Service) setTags(ctx context.Context, id string, tags map[string]string) error {
	u := trainyard.RunUpdate{Tags: tags}
	if name, ok := tags[runNameTag]; ok && name != "" {
		u.Name = &name
	}
	_, err := s.store.UpdateRun(ctx, id, u)
	return err
}

// DeleteTag removes a tag of a live run. Returns ENOTFOUND if the run has
// no such tag.
func (s *Service) DeleteTag(ctx context.Context, id, key string) error {
	run, err := s.liveRun(ctx, id)
	if err != nil {
		return err
	}
	if _, ok := run.Tags[key]; !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no tag %q", id, key)
	}
	_, err = s.store.UpdateRun(ctx, id, trainyard.RunUpdate{DeleteTags: []string{key}})
	return err
}

// AddRunIO records data sets and models a live run read or wrote.
func (s *Service) AddRunIO(ctx context.Context, id string, io trainyard.RunIO) error {
	if _, err := s.liveRun(ctx, id); err != nil {
		return err
	}
	return s.store.AddRunIO(ctx, id, io)
}

// AppendMetrics appends metric points to a run; a batch ID makes the
// append idempotent (see trainyard.MetricStore). Reports whether the batch
// was a duplicate.
func (s *Service) AppendMetrics(ctx context.Context, id, batchID string, batch []trainyard.SeriesPoints) (dup bool, err error) {
	dup, err = s.store.AppendMetricsOnce(ctx, id, batchID, batch)
	if err == nil && !dup && s.onMetrics != nil {
		s.onMetrics(ctx, id, batch)
	}
	return dup, err
}

// LiveRun returns a run that may be written to, or the reason it may not:
// ENOTFOUND, or a RunDeleted violation.
func (s *Service) LiveRun(ctx context.Context, id string) (*trainyard.Run, error) {
	return s.liveRun(ctx, id)
}

// IsViolation returns the violation in err's chain, if any.
func IsViolation(err error) (*Violation, bool) {
	var v *Violation
	ok := errors.As(err, &v)
	return v, ok
}
