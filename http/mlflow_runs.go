package http

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// MLflow's limits on what one run may hold (mlflow/utils/validation.py).
const (
	mlMaxParamValue  = 6000
	mlMaxTagValue    = 8000
	mlMaxBatchMetric = 1000
	mlMaxBatchParams = 100
	mlMaxBatchTags   = 100
	mlMaxBatchTotal  = 1000
	mlMaxSearchRuns  = 50000
	mlDefaultResults = 1000
)

// Job runs and MLflow: a job's process may attach to its run with
// mlflow.start_run() (MLFLOW_RUN_ID is set for every job) and log to it,
// but the job's exit decides how its run ends. An update-run from MLflow
// on a job's run therefore applies its run_name and ignores status and
// end_time: mlflow.end_run() inside a job leaves the run RUNNING until the
// process exits, and the exit code makes it SUCCEEDED or FAILED.

// mlStatus maps a trainyard state to MLflow's RunStatus.
func mlStatus(st trainyard.State) string {
	switch st {
	case trainyard.StateQueued:
		return "SCHEDULED"
	case trainyard.StateSucceeded:
		return "FINISHED"
	case trainyard.StateFailed:
		return "FAILED"
	case trainyard.StateCanceled:
		return "KILLED"
	}
	return "RUNNING"
}

// stateOf maps MLflow's RunStatus (name or number) to a trainyard state.
func stateOf(status string) (trainyard.State, error) {
	switch strings.ToUpper(status) {
	case "RUNNING", "1":
		return trainyard.StateRunning, nil
	case "SCHEDULED", "2":
		return trainyard.StateQueued, nil
	case "FINISHED", "3":
		return trainyard.StateSucceeded, nil
	case "FAILED", "4":
		return trainyard.StateFailed, nil
	case "KILLED", "5":
		return trainyard.StateCanceled, nil
	}
	return "", trainyard.FieldError("status", "%q is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED", status)
}

type mlRunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        *int64 `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type mlMetric struct {
	Key       string          `json:"key"`
	Value     trainyard.Float `json:"value"`
	Timestamp int64           `json:"timestamp"`
	Step      int64           `json:"step"`
}

type mlRunData struct {
	Metrics []mlMetric `json:"metrics,omitempty"`
	Params  []mlKV     `json:"params,omitempty"`
	Tags    []mlKV     `json:"tags,omitempty"`
}

type mlDatasetInput struct {
	Tags    []mlKV    `json:"tags,omitempty"`
	Dataset mlDataset `json:"dataset"`
}

type mlDataset struct {
	Name       string `json:"name"`
	Digest     string `json:"digest"`
	SourceType string `json:"source_type"`
	Source     string `json:"source"`
	Schema     string `json:"schema,omitempty"`
	Profile    string `json:"profile,omitempty"`
}

type mlModelRef struct {
	ModelID string `json:"model_id"`
	Step    *int64 `json:"step,omitempty"`
}

type mlRunInputs struct {
	DatasetInputs []mlDatasetInput `json:"dataset_inputs,omitempty"`
	ModelInputs   []mlModelRef     `json:"model_inputs,omitempty"`
}

type mlRunOutputs struct {
	ModelOutputs []mlModelRef `json:"model_outputs,omitempty"`
}

type mlRun struct {
	Info    mlRunInfo     `json:"info"`
	Data    mlRunData     `json:"data"`
	Inputs  *mlRunInputs  `json:"inputs,omitempty"`
	Outputs *mlRunOutputs `json:"outputs,omitempty"`
}

// userTag is the tag that holds MLflow's user_id.
const userTag = "mlflow.user"

// runNameTag mirrors the run's name.
const runNameTag = "mlflow.runName"

func runArtifactURI(expID, runID string) string {
	return "mlflow-artifacts:/" + expID + "/" + runID + "/artifacts"
}

func runStart(r *trainyard.Run) time.Time {
	if !r.StartedAt.IsZero() {
		return r.StartedAt
	}
	return r.CreatedAt
}

func renderRunInfo(r *trainyard.Run, expID string) mlRunInfo {
	info := mlRunInfo{
		RunID: r.ID, RunUUID: r.ID, RunName: r.Name, ExperimentID: expID, UserID: r.Tags[userTag],
		Status: mlStatus(r.State), StartTime: runStart(r).UnixMilli(), ArtifactURI: runArtifactURI(expID, r.ID),
		LifecycleStage: lifecycle(r.Deleted),
	}
	if !r.EndedAt.IsZero() {
		end := r.EndedAt.UnixMilli()
		info.EndTime = &end
	}
	return info
}

func renderRun(r *trainyard.Run, expID string) mlRun {
	out := mlRun{Info: renderRunInfo(r, expID)}
	for _, k := range trainyard.SortedKeys(r.Metrics) {
		m := r.Metrics[k]
		if m.Count == 0 {
			continue
		}
		out.Data.Metrics = append(out.Data.Metrics, mlMetric{Key: k, Value: m.Last, Timestamp: m.LastTime, Step: m.LastStep})
	}
	for _, k := range trainyard.SortedKeys(r.Config) {
		out.Data.Params = append(out.Data.Params, mlKV{k, runquery.ParamString(r.Config[k])})
	}
	tags := r.Tags
	if r.Name != "" && tags[runNameTag] != r.Name {
		tags = make(map[string]string, len(r.Tags)+1)
		for k, v := range r.Tags {
			tags[k] = v
		}
		tags[runNameTag] = r.Name
	}
	out.Data.Tags = kvList(tags)
	return out
}

func renderRunIO(io trainyard.RunIO) (*mlRunInputs, *mlRunOutputs) {
	in := &mlRunInputs{}
	for _, d := range io.Datasets {
		in.DatasetInputs = append(in.DatasetInputs, mlDatasetInput{Tags: kvList(d.Tags), Dataset: mlDataset{
			Name: d.Name, Digest: d.Digest, SourceType: d.SourceType, Source: d.Source, Schema: d.Schema, Profile: d.Profile}})
	}
	for _, m := range io.ModelInputs {
		in.ModelInputs = append(in.ModelInputs, mlModelRef{ModelID: m.ModelID})
	}
	out := &mlRunOutputs{}
	for _, m := range io.ModelOutputs {
		step := m.Step
		out.ModelOutputs = append(out.ModelOutputs, mlModelRef{ModelID: m.ModelID, Step: &step})
	}
	return in, out
}

// experimentIDOf returns the ID of a project's experiment.
func (s *Server) experimentIDOf(ctx context.Context, project string) (string, error) {
	e, err := s.cfg.Store.ExperimentByName(ctx, project)
	if err != nil {
		return "", err
	}
	return e.ID, nil
}

// mlRunOf returns a run, answering MLflow's message when it is missing.
func (s *Server) mlRunOf(ctx context.Context, id string) (*trainyard.Run, error) {
	if err := requireField("run_id", id); err != nil {
		return nil, err
	}
	run, err := s.cfg.Store.Run(ctx, id)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Run with id=%s not found", id)
	}
	return run, err
}

// activeRun returns a run that may be written to.
func (s *Server) activeRun(ctx context.Context, id string) (*trainyard.Run, error) {
	run, err := s.mlRunOf(ctx, id)
	if err != nil {
		return nil, err
	}
	if run.Deleted {
		return nil, trainyard.Errorf(trainyard.EINVALID, "The run %s must be in the 'active' state. Current state is deleted.", id)
	}
	return run, nil
}

// runID reads run_id, or the deprecated run_uuid.
type runIDField struct {
	RunID   string `json:"run_id"`
	RunUUID string `json:"run_uuid"`
}

func (f runIDField) id() string {
	if f.RunID != "" {
		return f.RunID
	}
	return f.RunUUID
}

func (s *Server) mlCreateRun(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		UserID       string `json:"user_id"`
		RunName      string `json:"run_name"`
		StartTime    mlInt  `json:"start_time"`
		Tags         []mlKV `json:"tags"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	expID := req.ExperimentID
	if expID == "" {
		expID = trainyard.DefaultExperimentID
	}
	e, err := s.experiment(r.Context(), expID)
	if err != nil {
		return err
	}
	if e.Deleted {
		return trainyard.Errorf(trainyard.EINVALID, "The experiment %s must be in the 'active' state. Current state is deleted.", expID)
	}
	tags := kvMap(req.Tags)
	for k, v := range tags {
		if err := validateTag(k, v); err != nil {
			return err
		}
	}
	if req.UserID != "" && tags[userTag] == "" {
		tags[userTag] = req.UserID
	}
	name := req.RunName
	if name == "" {
		name = tags[runNameTag]
	}
	if len(name) > trainyard.MaxNameLen {
		return trainyard.FieldError("run_name", "is %d characters, more than %d", len(name), trainyard.MaxNameLen)
	}
	now := s.cfg.Clock().UTC()
	start := now
	if req.StartTime.Set && req.StartTime.V > 0 {
		start = time.UnixMilli(req.StartTime.V).UTC()
	}
	run := &trainyard.Run{
		Project: e.Name, Name: name, State: trainyard.StateRunning, Config: map[string]any{}, Tags: tags,
		Summary: map[string]any{}, CreatedAt: start, StartedAt: start,
	}
	for attempt := 0; ; attempt++ {
		run.ID = s.cfg.NewID()
		if name == "" {
			run.Name = run.ID
		}
		err := s.cfg.Store.CreateRun(r.Context(), run)
		if err == nil {
			break
		}
		if !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return err
		}
	}
	run.Metrics = map[string]trainyard.MetricSummary{}
	return writeJSON(w, http.StatusOK, map[string]any{"run": renderRun(run, e.ID)})
}

func (s *Server) mlGetRun(w http.ResponseWriter, r *http.Request) error {
	var req runIDField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	run, err := s.mlRunOf(r.Context(), req.id())
	if err != nil {
		return err
	}
	expID, err := s.experimentIDOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	io, err := s.cfg.Store.RunIO(r.Context(), run.ID)
	if err != nil {
		return err
	}
	out := renderRun(run, expID)
	out.Inputs, out.Outputs = renderRunIO(io)
	return writeJSON(w, http.StatusOK, map[string]any{"run": out})
}

func (s *Server) mlUpdateRun(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Status  string `json:"status"`
		EndTime mlInt  `json:"end_time"`
		RunName string `json:"run_name"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	run, err := s.activeRun(r.Context(), req.id())
	if err != nil {
		return err
	}
	var u trainyard.RunUpdate
	if req.RunName != "" {
		u.Name = &req.RunName
		u.Tags = map[string]string{runNameTag: req.RunName}
	}
	if req.Status != "" && run.JobID == "" {
		st, err := stateOf(req.Status)
		if err != nil {
			return err
		}
		u.State = &st
	}
	if err := u.Validate(); err != nil {
		return err
	}
	if u.Name != nil || u.State != nil {
		if run, err = s.cfg.Store.UpdateRun(r.Context(), run.ID, u); err != nil {
			return err
		}
	}
	expID, err := s.experimentIDOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"run_info": renderRunInfo(run, expID)})
}

func (s *Server) setRunDeleted(w http.ResponseWriter, r *http.Request, deleted bool) error {
	var req runIDField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if _, err := s.mlRunOf(r.Context(), req.id()); err != nil {
		return err
	}
	if err := s.cfg.Store.SetRunDeleted(r.Context(), req.id(), deleted); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteRun(w http.ResponseWriter, r *http.Request) error {
	return s.setRunDeleted(w, r, true)
}

func (s *Server) mlRestoreRun(w http.ResponseWriter, r *http.Request) error {
	return s.setRunDeleted(w, r, false)
}

// mlRunRecord lets runquery read a run with MLflow's names: status as
// MLflow's RunStatus, start_time, end_time, user_id, experiment_id,
// lifecycle_stage, and the mlflow.runName tag.
type mlRunRecord struct {
	runquery.RunRecord
	expID string
}

func (x mlRunRecord) Tag(k string) (string, bool) {
	if k == runNameTag {
		return x.Name, true
	}
	return x.RunRecord.Tag(k)
}

func (x mlRunRecord) Attr(name string) (any, bool) {
	switch name {
	case "status":
		return mlStatus(x.State), true
	case "start_time", "created":
		return float64(runStart(x.Run).UnixMilli()), true
	case "user_id":
		v, ok := x.Tags[userTag]
		return v, ok
	case "experiment_id":
		return x.expID, true
	case "lifecycle_stage":
		return lifecycle(x.Deleted), true
	case "artifact_uri":
		return runArtifactURI(x.expID, x.ID), true
	case "run_uuid":
		return x.ID, true
	}
	return x.RunRecord.Attr(name)
}

func (s *Server) mlSearchRuns(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentIDs mlStrings `json:"experiment_ids"`
		Filter        string    `json:"filter"`
		RunViewType   string    `json:"run_view_type"`
		MaxResults    mlInt     `json:"max_results"`
		OrderBy       mlStrings `json:"order_by"`
		PageToken     string    `json:"page_token"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	view, err := parseView(req.RunViewType)
	if err != nil {
		return trainyard.FieldError("run_view_type", "%v", err)
	}
	limit := mlDefaultResults
	if req.MaxResults.Set {
		if req.MaxResults.V < 0 || req.MaxResults.V > mlMaxSearchRuns {
			return trainyard.FieldError("max_results", "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", req.MaxResults.V, mlMaxSearchRuns)
		}
		if req.MaxResults.V > 0 {
			limit = int(req.MaxResults.V)
		}
	}
	offset, err := decodePageToken(req.PageToken)
	if err != nil {
		return err
	}
	filter, err := runquery.Parse(req.Filter)
	if err != nil {
		return trainyard.FieldError("filter", "Invalid filter '%s': %v", req.Filter, err)
	}
	order, err := runquery.ParseOrderBy(req.OrderBy)
	if err != nil {
		return trainyard.FieldError("order_by", "%v", err)
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "start_time", Desc: true},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "run_id"})

	exps, err := s.cfg.Store.Experiments(r.Context(), trainyard.ViewAll)
	if err != nil {
		return err
	}
	byID := make(map[string]*trainyard.Experiment, len(exps))
	expOf := make(map[string]string, len(exps)) // project → experiment ID
	for _, e := range exps {
		byID[e.ID] = e
		expOf[e.Name] = e.ID
	}
	var projects []string
	for _, id := range req.ExperimentIDs {
		if e, ok := byID[id]; ok && !slices.Contains(projects, e.Name) {
			projects = append(projects, e.Name)
		}
	}
	resp := map[string]any{"runs": []mlRun{}}
	if len(projects) == 0 {
		return writeJSON(w, http.StatusOK, resp)
	}
	// Each match's sort key is looked up once; one record is reused so
	// that matching 10,000 runs allocates nothing per run.
	keys := map[*trainyard.Run]runquery.Key{}
	rec := &mlRunRecord{}
	runs, total, err := s.cfg.Store.SearchRuns(r.Context(), trainyard.RunSearch{
		Projects: projects, View: view, Offset: offset, Limit: limit,
		Match: func(run *trainyard.Run) bool {
			if rec.Run == nil || rec.Project != run.Project {
				rec.expID = expOf[run.Project]
			}
			rec.Run = run
			if !filter.Match(rec) {
				return false
			}
			keys[run] = runquery.KeyOf(rec, order)
			return true
		},
		Compare: func(a, b *trainyard.Run) int { return runquery.CompareKeys(keys[a], keys[b], order) },
	})
	if err != nil {
		return err
	}
	out := make([]mlRun, len(runs))
	for i, run := range runs {
		out[i] = renderRun(run, expOf[run.Project])
	}
	resp["runs"] = out
	if offset+len(runs) < total {
		resp["next_page_token"] = encodePageToken(offset + len(runs))
	}
	return writeJSON(w, http.StatusOK, resp)
}

// validateParam and validateTag apply MLflow's limits.
func validateParam(k, v string) error {
	if err := validateMLKey("param", k); err != nil {
		return err
	}
	if len(v) > mlMaxParamValue {
		return trainyard.FieldError("params", "Param value '%.40s...' had length %d, which exceeded length limit of %d", v, len(v), mlMaxParamValue)
	}
	return nil
}

func validateTag(k, v string) error {
	if err := validateMLKey("tag", k); err != nil {
		return err
	}
	if len(v) > mlMaxTagValue {
		return trainyard.FieldError("tags", "Tag value '%.40s...' had length %d, which exceeded length limit of %d", v, len(v), mlMaxTagValue)
	}
	return nil
}

func validateMLKey(what, k string) error {
	switch {
	case k == "":
		return trainyard.FieldError("key", "Missing value for required parameter 'key'")
	case len(k) > trainyard.MaxKeyLen:
		return trainyard.FieldError("key", "%s name '%.40s...' had length %d, which exceeded length limit of %d", what, k, len(k), trainyard.MaxKeyLen)
	case !utf8.ValidString(k):
		return trainyard.FieldError("key", "%s name %q is not valid UTF-8", what, k)
	case strings.Contains(k, "..") || strings.HasPrefix(k, "/"):
		return trainyard.FieldError("key", "Invalid %s name: '%s'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such.", what, k)
	}
	return trainyard.ValidateKey("key", k)
}

func (s *Server) mlLogParam(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateParam(req.Key, req.Value); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), req.id()); err != nil {
		return err
	}
	if err := s.cfg.Store.SetParams(r.Context(), req.id(), map[string]string{req.Key: req.Value}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateTag(req.Key, req.Value); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), req.id()); err != nil {
		return err
	}
	if err := s.setTags(r.Context(), req.id(), map[string]string{req.Key: req.Value}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// setTags stores tags; mlflow.runName renames the run.
func (s *Server) setTags(ctx context.Context, id string, tags map[string]string) error {
	u := trainyard.RunUpdate{Tags: tags}
	if name, ok := tags[runNameTag]; ok && name != "" {
		u.Name = &name
	}
	_, err := s.cfg.Store.UpdateRun(ctx, id, u)
	return err
}

func (s *Server) mlDeleteTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Key string `json:"key"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	run, err := s.activeRun(r.Context(), req.id())
	if err != nil {
		return err
	}
	if _, ok := run.Tags[req.Key]; !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "No tag with name: %s in run with id %s", req.Key, run.ID)
	}
	if _, err := s.cfg.Store.UpdateRun(r.Context(), run.ID, trainyard.RunUpdate{DeleteTags: []string{req.Key}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogInputs(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Datasets []mlDatasetInput `json:"datasets"`
		Models   []mlModelRef     `json:"models"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), req.id()); err != nil {
		return err
	}
	var io trainyard.RunIO
	for i, d := range req.Datasets {
		if d.Dataset.Name == "" || d.Dataset.Digest == "" {
			return trainyard.FieldError("datasets", "datasets[%d] needs a name and a digest", i)
		}
		io.Datasets = append(io.Datasets, trainyard.DatasetInput{
			Name: d.Dataset.Name, Digest: d.Dataset.Digest, SourceType: d.Dataset.SourceType, Source: d.Dataset.Source,
			Schema: d.Dataset.Schema, Profile: d.Dataset.Profile, Tags: kvMap(d.Tags),
		})
	}
	for _, m := range req.Models {
		io.ModelInputs = append(io.ModelInputs, trainyard.ModelRef{ModelID: m.ModelID})
	}
	if err := s.cfg.Store.AddRunIO(r.Context(), req.id(), io); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogOutputs(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Models []struct {
			ModelID string `json:"model_id"`
			Step    mlInt  `json:"step"`
		} `json:"models"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if _, err := s.activeRun(r.Context(), req.id()); err != nil {
		return err
	}
	var io trainyard.RunIO
	for _, m := range req.Models {
		io.ModelOutputs = append(io.ModelOutputs, trainyard.ModelRef{ModelID: m.ModelID, Step: m.Step.V})
	}
	if err := s.cfg.Store.AddRunIO(r.Context(), req.id(), io); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// mlLogModel records MLflow 2's model metadata in the run's
// mlflow.log-model.history tag, as MLflow's server does.
func (s *Server) mlLogModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		ModelJSON string `json:"model_json"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	run, err := s.activeRun(r.Context(), req.id())
	if err != nil {
		return err
	}
	if req.ModelJSON == "" {
		return requireField("model_json", "")
	}
	hist := run.Tags["mlflow.log-model.history"]
	if hist == "" || hist == "[]" {
		hist = "[" + req.ModelJSON + "]"
	} else {
		hist = strings.TrimSuffix(hist, "]") + ", " + req.ModelJSON + "]"
	}
	if err := s.setTags(r.Context(), run.ID, map[string]string{"mlflow.log-model.history": hist}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}
