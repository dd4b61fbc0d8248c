package mlflowapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
	"github.com/trainyard/trainyard/tracking"
)

// MLflow's limits on searches.
const (
	mlMaxSearchRuns  = 50000
	mlDefaultResults = 1000
)

// Request messages (service.proto).
var (
	pStatus    = fEnum(1, "RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
	pCreateRun = pmsg{"experiment_id": fStr, "user_id": fStr, "run_name": fStr, "start_time": fI64, "tags": fRepMsg(pKV)}
	pUpdateRun = pmsg{"run_id": fStr, "run_uuid": fStr, "status": pStatus, "end_time": fI64, "run_name": fStr}
	pRunID     = pmsg{"run_id": fStr, "run_uuid": fStr}
	pSearch    = pmsg{"experiment_ids": fRep(fStr), "filter": fStr, "run_view_type": pViewType, "max_results": fI32,
		"order_by": fRep(fStr), "page_token": fStr}
	pRunKV      = pmsg{"run_id": fStr, "run_uuid": fStr, "key": fStr, "value": fStr}
	pDeleteTag  = pmsg{"run_id": fStr, "key": fStr}
	pDataset    = pmsg{"name": fStr, "digest": fStr, "source_type": fStr, "source": fStr, "schema": fStr, "profile": fStr}
	pLogInputs  = pmsg{"run_id": fStr, "datasets": fRepMsg(pmsg{"tags": fRepMsg(pKV), "dataset": fMsgOf(pDataset)}), "models": fRepMsg(pmsg{"model_id": fStr})}
	pLogOutputs = pmsg{"run_id": fStr, "models": fRepMsg(pmsg{"model_id": fStr, "step": fI64})}
	pLogModel   = pmsg{"run_id": fStr, "model_json": fStr}
)

// Job runs and MLflow: see tracking.Service.ReportRun and
// tracking.Service.CreateRun; the rules live there.

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

// stateOf maps MLflow's RunStatus name to a trainyard state.
func stateOf(status string) trainyard.State {
	switch status {
	case "SCHEDULED":
		return trainyard.StateQueued
	case "FINISHED":
		return trainyard.StateSucceeded
	case "FAILED":
		return trainyard.StateFailed
	case "KILLED":
		return trainyard.StateCanceled
	}
	return trainyard.StateRunning
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

// runArtifactURI is MLflow's artifact_uri of a run: its experiment's
// artifact location, the run's ID, "artifacts".
func (s *Server) runArtifactURI(e *trainyard.Experiment, runID string) string {
	return appendURIPath(s.artifactLocation(e), runID, "artifacts")
}

func runStart(r *trainyard.Run) time.Time {
	if !r.StartedAt.IsZero() {
		return r.StartedAt
	}
	return r.CreatedAt
}

func (s *Server) renderRunInfo(r *trainyard.Run, e *trainyard.Experiment) mlRunInfo {
	info := mlRunInfo{
		RunID: r.ID, RunUUID: r.ID, RunName: r.Name, ExperimentID: e.ID, UserID: r.Tags[userTag],
		Status: mlStatus(r.State), StartTime: runStart(r).UnixMilli(), ArtifactURI: s.runArtifactURI(e, r.ID),
		LifecycleStage: lifecycle(r.Deleted),
	}
	if !r.EndedAt.IsZero() {
		end := r.EndedAt.UnixMilli()
		info.EndTime = &end
	}
	return info
}

func (s *Server) renderRun(r *trainyard.Run, e *trainyard.Experiment) mlRun {
	out := mlRun{Info: s.renderRunInfo(r, e)}
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

// experimentOf returns the experiment of a project.
func (s *Server) experimentOf(ctx context.Context, project string) (*trainyard.Experiment, error) {
	return s.cfg.Store.ExperimentByName(ctx, project)
}

// mlRunOf returns a run, answering MLflow's message when it is missing.
func (s *Server) mlRunOf(ctx context.Context, id string) (*trainyard.Run, error) {
	run, err := s.cfg.Store.Run(ctx, id)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Run with id=%s not found", id)
	}
	return run, err
}

// runErr words a tracking error about run id as MLflow does.
func runErr(err error, id string) error {
	if err == nil {
		return nil
	}
	if _, ok := tracking.IsViolation(err); ok {
		return err
	}
	if trainyard.IsCode(err, trainyard.ENOTFOUND) && strings.HasPrefix(trainyard.ErrorMessage(err), "run ") {
		return trainyard.Errorf(trainyard.ENOTFOUND, "Run with id=%s not found", id)
	}
	return err
}

// runID is the request's run_id, or its deprecated run_uuid.
func (q *mlreq) runID() string {
	if id := q.str("run_id"); id != "" {
		return id
	}
	return q.str("run_uuid")
}

func (s *Server) mlCreateRun(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pCreateRun)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", isString), field("start_time", intLike), field("run_name", isString)); err != nil {
		return err
	}
	if q.notJSON {
		// MLflow reads such a body as {} and then fails on the missing
		// experiment; a body that is not JSON creates no run.
		return trainyard.Errorf(trainyard.EINVALID, "The request body is not JSON.")
	}
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	if err := checkExperimentActive(e); err != nil {
		return err
	}
	tags := map[string]string{}
	for _, t := range q.kvs("tags") {
		tags[t.Key] = t.Value
	}
	name, tagName := q.str("run_name"), tags[runNameTag]
	if name != "" && tagName != "" && name != tagName {
		return trainyard.Errorf(trainyard.EINVALID, "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values (run_name='%s', mlflow.runName='%s').", name, tagName)
	}
	if name == "" {
		name = tagName
	}
	if u := q.str("user_id"); u != "" && tags[userTag] == "" {
		tags[userTag] = u
	}
	n := trainyard.NewRun{Project: e.Name, Name: name, DefaultName: randomRunName(), Tags: tags}
	if ms := q.i64("start_time"); ms != 0 { // none (or 0, which MLflow stores) starts the run now
		n.StartedAt = time.UnixMilli(ms).UTC()
	}
	run, err := s.cfg.Tracking.CreateRun(r.Context(), n)
	if err != nil {
		return err
	}
	if run.Project != e.Name { // a job's run, claimed from another experiment
		if e, err = s.experimentOf(r.Context(), run.Project); err != nil {
			return err
		}
	}
	out := s.renderRun(run, e)
	out.Inputs = &mlRunInputs{}
	return writeJSON(w, http.StatusOK, map[string]any{"run": out})
}

func (s *Server) mlGetRun(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pRunID)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString)); err != nil {
		return err
	}
	run, err := s.mlRunOf(r.Context(), q.runID())
	if err != nil {
		return err
	}
	e, err := s.experimentOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	io, err := s.cfg.Store.RunIO(r.Context(), run.ID)
	if err != nil {
		return err
	}
	out := s.renderRun(run, e)
	out.Inputs, out.Outputs = renderRunIO(io)
	return writeJSON(w, http.StatusOK, map[string]any{"run": out})
}

func (s *Server) mlUpdateRun(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pUpdateRun)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("end_time", intLike), field("status", isString), field("run_name", isString)); err != nil {
		return err
	}
	var u trainyard.RunUpdate
	if name := q.str("run_name"); name != "" {
		u.Name = &name
		u.Tags = map[string]string{runNameTag: name}
	}
	if name := q.enum("status", pStatus, ""); name != "" { // an unknown name is ignored, as protobuf's parser does
		st := stateOf(name)
		u.State = &st
	}
	if q.has("end_time") {
		end := time.UnixMilli(q.i64("end_time")).UTC()
		u.EndedAt = &end
	}
	run, err := s.cfg.Tracking.ReportRun(r.Context(), q.runID(), u)
	if err != nil {
		return runErr(err, q.runID())
	}
	e, err := s.experimentOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"run_info": s.renderRunInfo(run, e)})
}

func (s *Server) setRunDeleted(w http.ResponseWriter, r *http.Request, deleted bool) error {
	q, err := s.read(w, r, pmsg{"run_id": fStr})
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString)); err != nil {
		return err
	}
	if err := s.cfg.Tracking.SetRunDeleted(r.Context(), q.str("run_id"), deleted); err != nil {
		return runErr(err, q.str("run_id"))
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteRun(w http.ResponseWriter, r *http.Request) error {
	return s.setRunDeleted(w, r, true)
}

func (s *Server) mlRestoreRun(w http.ResponseWriter, r *http.Request) error {
	return s.setRunDeleted(w, r, false)
}

// lessEq is an MLflow schema check with no message of its own: a failure
// reads "Invalid value ... Hint: Value was of type ...".
func lessEq(limit int64) check {
	return custom(func(v any) string {
		if n, ok := pyInt(v, 64); ok && n <= limit {
			return ""
		}
		if f, ok := pyFloatOf(v); ok && f <= float64(limit) {
			return ""
		}
		return invalidValue("max_results", pyValue(v), " Hint: Value was of type '"+pyType(v)+"'.")
	})
}

func (s *Server) mlSearchRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSearch)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_ids", isArray), field("filter", isString),
		field("max_results", intLike, lessEq(mlMaxSearchRuns)), field("order_by", isArray, itemsStrings)); err != nil {
		return err
	}
	view := viewOf(q.enum("run_view_type", pViewType, "ACTIVE_ONLY"))
	limit := int64(mlDefaultResults)
	if q.has("max_results") {
		limit = q.i64("max_results")
	}
	if err := checkMaxResults(limit, mlMaxSearchRuns); err != nil {
		return err
	}
	filter, order, err := runSearch.parse(q.str("filter"), q.strs("order_by"))
	if err != nil {
		return err
	}
	var ids []string
	for _, id := range q.strs("experiment_ids") {
		id, err := experimentID(id)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "start_time", Desc: true},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "run_id"})

	exps, err := s.cfg.Store.Experiments(r.Context(), trainyard.ViewAll)
	if err != nil {
		return err
	}
	expOf := make(map[string]*trainyard.Experiment, len(exps)) // by project
	for _, e := range exps {
		expOf[e.Name] = e
	}
	resp := map[string]any{}
	projects := projectsOf(ids, exps)
	if len(projects) == 0 {
		return writeJSON(w, http.StatusOK, resp)
	}
	// The store compiles the search (SQL on PostgreSQL); its page token
	// is MLflow's.
	search, none, err := s.storeSearch(filter, order, view, exps)
	if err != nil || none {
		return orNone(err, w, resp)
	}
	search.Projects, search.PageToken, search.Limit = projects, q.str("page_token"), int(limit)
	if search.PageToken != "" {
		if _, err := runquery.DecodeToken(search.Order, search.PageToken); err != nil {
			return trainyard.FieldError("page_token", "%q is not a page token this server gave", search.PageToken)
		}
	}
	runs, next, err := s.cfg.Store.SearchRuns(r.Context(), search)
	if err != nil {
		return err
	}
	if len(runs) > 0 {
		out := make([]mlRun, len(runs))
		for i, run := range runs {
			io, err := s.cfg.Store.RunIO(r.Context(), run.ID)
			if err != nil {
				return err
			}
			out[i] = s.renderRun(run, expOf[run.Project])
			out[i].Inputs, out[i].Outputs = renderRunIO(trainyard.RunIO{Datasets: io.Datasets, ModelOutputs: io.ModelOutputs})
		}
		resp["runs"] = out
	}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

// orNone answers a search that matches nothing, or its error.
func orNone(err error, w http.ResponseWriter, resp map[string]any) error {
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, resp)
}

// validateTag checks a tag of something other than a run (a registered
// model, a logged model) with MLflow's run-tag limits.
func validateTag(k, v string) error {
	return tracking.CheckKeyValue("tag", -1, k, v, tracking.MaxTagValue)
}

// validateParam checks a param of something other than a run.
func validateParam(k, v string) error {
	return tracking.CheckKeyValue("param", -1, k, v, tracking.MaxParamValue)
}

func (s *Server) mlLogParam(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pRunKV)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("key", required, isString), field("value", isString)); err != nil {
		return err
	}
	id := q.runID()
	err = s.cfg.Tracking.LogBatch(r.Context(), id, tracking.Batch{One: true, Params: []tracking.KV{{Key: q.str("key"), Value: q.str("value")}}})
	if v, ok := tracking.IsViolation(err); ok && v.Problem == tracking.ParamChanged {
		v.Index = -1 // log-param words it for one param
	}
	if err != nil {
		return runErr(err, id)
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pRunKV)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("key", required, isString), field("value", isString)); err != nil {
		return err
	}
	id := q.runID()
	if err := s.cfg.Tracking.LogBatch(r.Context(), id, tracking.Batch{One: true, Tags: []tracking.KV{{Key: q.str("key"), Value: q.str("value")}}}); err != nil {
		return runErr(err, id)
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pDeleteTag)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("key", required, isString)); err != nil {
		return err
	}
	id, key := q.str("run_id"), q.str("key")
	if err := s.cfg.Tracking.DeleteTag(r.Context(), id, key); err != nil {
		if trainyard.IsCode(err, trainyard.ENOTFOUND) && strings.Contains(trainyard.ErrorMessage(err), "no tag") {
			return trainyard.Errorf(trainyard.ENOTFOUND, "No tag with name: %s in run with id %s", key, id)
		}
		return runErr(err, id)
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogInputs(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLogInputs)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("datasets", isArray), field("models", isArray)); err != nil {
		return err
	}
	var io trainyard.RunIO
	for _, d := range q.list("datasets") {
		ds, _ := d["dataset"].(map[string]any)
		str := func(k string) string { s, _ := ds[k].(string); return s }
		tags := map[string]string{}
		if list, ok := d["tags"].([]any); ok {
			for _, t := range list {
				if m, ok := t.(map[string]any); ok {
					k, _ := m["key"].(string)
					v, _ := m["value"].(string)
					tags[k] = v
				}
			}
		}
		io.Datasets = append(io.Datasets, trainyard.DatasetInput{
			Name: str("name"), Digest: str("digest"), SourceType: str("source_type"), Source: str("source"),
			Schema: str("schema"), Profile: str("profile"), Tags: tags,
		})
	}
	for _, m := range q.list("models") {
		id, _ := m["model_id"].(string)
		io.ModelInputs = append(io.ModelInputs, trainyard.ModelRef{ModelID: id})
	}
	if err := s.cfg.Tracking.AddRunIO(r.Context(), q.str("run_id"), io); err != nil {
		return runErr(err, q.str("run_id"))
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogOutputs(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLogOutputs)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", required, isString), field("models", required, isArray)); err != nil {
		return err
	}
	var io trainyard.RunIO
	for _, m := range q.list("models") {
		id, _ := m["model_id"].(string)
		step, _ := pyInt(m["step"], 64)
		io.ModelOutputs = append(io.ModelOutputs, trainyard.ModelRef{ModelID: id, Step: step})
	}
	if err := s.cfg.Tracking.AddRunIO(r.Context(), q.str("run_id"), io); err != nil {
		return runErr(err, q.str("run_id"))
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// mlLogModel records MLflow 2's model metadata in the run's
// mlflow.log-model.history tag, as MLflow's server does.
func (s *Server) mlLogModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLogModel)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", isString, required), field("model_json", isString, required)); err != nil {
		return err
	}
	id, modelJSON := q.str("run_id"), q.str("model_json")
	var model map[string]any
	if err := json.Unmarshal([]byte(modelJSON), &model); err != nil {
		return trainyard.Errorf(trainyard.EINVALID, "Malformed model info. \n %s \n is not a valid JSON.", modelJSON)
	}
	var missing []string
	for _, f := range []string{"artifact_path", "flavors", "utc_time_created", "run_id"} {
		if _, ok := model[f]; !ok {
			missing = append(missing, "'"+f+"'")
		}
	}
	if len(missing) > 0 {
		return trainyard.Errorf(trainyard.EINVALID, "Model json is missing mandatory fields: {%s}", strings.Join(missing, ", "))
	}
	run, err := s.cfg.Tracking.LiveRun(r.Context(), id)
	if err != nil {
		return runErr(err, id)
	}
	hist := run.Tags["mlflow.log-model.history"]
	if hist == "" || hist == "[]" {
		hist = "[" + modelJSON + "]"
	} else {
		hist = strings.TrimSuffix(hist, "]") + ", " + modelJSON + "]"
	}
	if err := s.cfg.Tracking.LogBatch(r.Context(), run.ID, tracking.Batch{Tags: []tracking.KV{{Key: "mlflow.log-model.history", Value: hist}}}); err != nil {
		return runErr(err, run.ID)
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}
