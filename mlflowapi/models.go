package mlflowapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// MLflow 3 logged models: mlflow.<flavor>.log_model creates one, uploads
// its files to its own artifact location (<experiment's location>/models/
// <model_id>/artifacts, stored in the ArtifactStore under the model ID),
// then finalizes it READY.

// Request messages (service.proto).
var (
	pLoggedStatus      = fEnum(0, "LOGGED_MODEL_STATUS_UNSPECIFIED", "LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED")
	pCreateLoggedModel = pmsg{"experiment_id": fStr, "name": fStr, "model_type": fStr, "source_run_id": fStr,
		"params": fRepMsg(pKV), "tags": fRepMsg(pKV)}
	pFinalize      = pmsg{"model_id": fStr, "status": pLoggedStatus}
	pLoggedTags    = pmsg{"model_id": fStr, "tags": fRepMsg(pKV)}
	pLoggedParams  = pmsg{"model_id": fStr, "params": fRepMsg(pKV)}
	pSearchLogged  = pmsg{"experiment_ids": fRep(fStr), "filter": fStr, "datasets": fRepMsg(pmsg{"dataset_name": fStr, "dataset_digest": fStr}), "max_results": fI32, "order_by": fRepMsg(pmsg{"field_name": fStr, "ascending": fBool, "dataset_name": fStr, "dataset_digest": fStr}), "page_token": fStr}
	pListLoggedArt = pmsg{"model_id": fStr, "artifact_directory_path": fStr, "page_token": fStr}
)

// Logged model statuses as stored, and as MLflow names them.
var loggedModelStatus = map[string]string{
	"":        "LOGGED_MODEL_STATUS_UNSPECIFIED",
	"PENDING": "LOGGED_MODEL_PENDING",
	"READY":   "LOGGED_MODEL_READY",
	"FAILED":  "LOGGED_MODEL_UPLOAD_FAILED",
}

type mlLoggedModelInfo struct {
	ModelID                string `json:"model_id"`
	ExperimentID           string `json:"experiment_id"`
	Name                   string `json:"name"`
	CreationTimestampMs    int64  `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64  `json:"last_updated_timestamp_ms"`
	ArtifactURI            string `json:"artifact_uri"`
	Status                 string `json:"status"`
	ModelType              string `json:"model_type"`
	SourceRunID            string `json:"source_run_id"`
	StatusMessage          string `json:"status_message,omitempty"`
	Tags                   []mlKV `json:"tags,omitempty"`
}

type mlModelMetric struct {
	Key           string          `json:"key"`
	Value         trainyard.Float `json:"value"`
	Timestamp     int64           `json:"timestamp"`
	Step          int64           `json:"step"`
	DatasetName   string          `json:"dataset_name,omitempty"`
	DatasetDigest string          `json:"dataset_digest,omitempty"`
	ModelID       string          `json:"model_id"`
	RunID         string          `json:"run_id,omitempty"`
}

type mlLoggedModel struct {
	Info mlLoggedModelInfo `json:"info"`
	Data struct {
		Params  []mlKV          `json:"params,omitempty"`
		Metrics []mlModelMetric `json:"metrics,omitempty"`
	} `json:"data"`
}

func renderLoggedModel(m *trainyard.LoggedModel) mlLoggedModel {
	var out mlLoggedModel
	out.Info = mlLoggedModelInfo{
		ModelID: m.ID, ExperimentID: m.ExperimentID, Name: m.Name, CreationTimestampMs: m.CreatedAt.UnixMilli(),
		LastUpdatedTimestampMs: m.UpdatedAt.UnixMilli(), ArtifactURI: m.ArtifactLocation, Status: loggedModelStatus[m.Status],
		ModelType: m.ModelType, SourceRunID: m.SourceRunID, StatusMessage: m.StatusMessage, Tags: kvList(m.Tags),
	}
	out.Data.Params = kvList(m.Params)
	for _, x := range m.Metrics {
		out.Data.Metrics = append(out.Data.Metrics, mlModelMetric{Key: x.Key, Value: x.Value, Timestamp: x.Timestamp, Step: x.Step,
			DatasetName: x.DatasetName, DatasetDigest: x.DatasetDigest, ModelID: m.ID, RunID: x.RunID})
	}
	return out
}

func newModelID() string {
	var b [16]byte
	rand.Read(b[:])
	return "m-" + hex.EncodeToString(b[:])
}

// checkLoggedModelName is MLflow's _validate_logged_model_name.
func checkLoggedModelName(name string) error {
	if strings.ContainsAny(name, `/:.%"'`) {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid model name (%s) provided. Model name must be a non-empty string and cannot contain the following characters: ('/', ':', '.', '%%', '\"', \"'\")", pyRepr(name))
	}
	return nil
}

func (s *Server) mlCreateLoggedModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pCreateLoggedModel)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", isString, required), field("name", isString), field("model_type", isString),
		field("source_run_id", isString), field("params", isArray), field("tags", isArray)); err != nil {
		return err
	}
	name := q.str("name")
	if err := checkLoggedModelName(name); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	if err := checkExperimentActive(e); err != nil {
		return err
	}
	if name == "" {
		name = randomRunName()
	}
	id := newModelID()
	params, tags := map[string]string{}, map[string]string{}
	for _, p := range q.kvs("params") {
		params[p.Key] = p.Value
	}
	for _, t := range q.kvs("tags") {
		tags[t.Key] = t.Value
	}
	m := &trainyard.LoggedModel{
		ID: id, ExperimentID: e.ID, Name: name, Status: "PENDING", SourceRunID: q.str("source_run_id"),
		ModelType: q.str("model_type"), ArtifactLocation: appendURIPath(s.artifactLocation(e), "models", id, "artifacts"),
		Tags: tags, Params: params,
	}
	if err := s.cfg.Store.CreateLoggedModel(r.Context(), m); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) loggedModel(ctx context.Context, id string, allowDeleted bool) (*trainyard.LoggedModel, error) {
	m, err := s.cfg.Store.LoggedModel(ctx, id)
	if err == nil && m.Deleted && !allowDeleted {
		err = trainyard.Errorf(trainyard.ENOTFOUND, "deleted")
	}
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Logged model with ID '%s' not found.", id)
	}
	return m, err
}

func (s *Server) mlGetLoggedModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loggedModel(r.Context(), r.PathValue("model_id"), strings.EqualFold(r.URL.Query().Get("allow_deleted"), "true"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) updateLoggedModel(ctx context.Context, id string, u trainyard.LoggedModelUpdate) (*trainyard.LoggedModel, error) {
	if _, err := s.loggedModel(ctx, id, false); err != nil {
		return nil, err
	}
	return s.cfg.Store.UpdateLoggedModel(ctx, id, u)
}

func (s *Server) mlFinalizeLoggedModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pFinalize)
	if err != nil {
		return err
	}
	if err := q.validate(field("model_id", isString, required), field("status", intLike, required)); err != nil {
		return err
	}
	st := ""
	switch q.enum("status", pLoggedStatus, "") {
	case "LOGGED_MODEL_PENDING":
		st = "PENDING"
	case "LOGGED_MODEL_READY":
		st = "READY"
	case "LOGGED_MODEL_UPLOAD_FAILED":
		st = "FAILED"
	}
	m, err := s.updateLoggedModel(r.Context(), q.str("model_id"), trainyard.LoggedModelUpdate{Status: &st})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) mlDeleteLoggedModel(w http.ResponseWriter, r *http.Request) error {
	deleted := true
	if _, err := s.updateLoggedModel(r.Context(), r.PathValue("model_id"), trainyard.LoggedModelUpdate{Deleted: &deleted}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetLoggedModelTags(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLoggedTags)
	if err != nil {
		return err
	}
	if err := q.validate(field("tags", isArray)); err != nil {
		return err
	}
	tags := map[string]string{}
	for _, t := range q.kvs("tags") {
		tags[t.Key] = t.Value
	}
	if _, err := s.updateLoggedModel(r.Context(), r.PathValue("model_id"), trainyard.LoggedModelUpdate{Tags: tags}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteLoggedModelTag(w http.ResponseWriter, r *http.Request) error {
	id, key := r.PathValue("model_id"), r.PathValue("tag_key")
	m, err := s.loggedModel(r.Context(), id, false)
	if err != nil {
		return err
	}
	if _, ok := m.Tags[key]; !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "No tag with key %s found for model with ID %s.", pyRepr(key), pyRepr(id))
	}
	if _, err := s.cfg.Store.UpdateLoggedModel(r.Context(), id, trainyard.LoggedModelUpdate{DeleteTags: []string{key}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogLoggedModelParams(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLoggedParams)
	if err != nil {
		return err
	}
	if err := q.validate(field("model_id", isString, required), field("params", isArray)); err != nil {
		return err
	}
	params := map[string]string{}
	for _, p := range q.kvs("params") {
		params[p.Key] = p.Value
	}
	if _, err := s.updateLoggedModel(r.Context(), q.str("model_id"), trainyard.LoggedModelUpdate{Params: params}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlListLoggedModelArtifacts(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pListLoggedArt)
	if err != nil {
		return err
	}
	if err := q.validate(field("artifact_directory_path", isString)); err != nil {
		return err
	}
	dir := ""
	if q.has("artifact_directory_path") {
		if dir, err = safePath(q.str("artifact_directory_path")); err != nil {
			return err
		}
	}
	m, err := s.loggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		return err
	}
	files, err := s.listFiles(r.Context(), m.ID, dir, "")
	if err != nil {
		return err
	}
	resp := map[string]any{"root_uri": m.ArtifactLocation}
	if len(files) > 0 {
		resp["files"] = files
	}
	return writeJSON(w, http.StatusOK, resp)
}

// tagLoggedModelVersion records a registered version made from a logged
// model in the model's mlflow.modelVersions tag, as MLflow's
// set_model_versions_tags does.
func (s *Server) tagLoggedModelVersion(ctx context.Context, modelID, name string, version int64) error {
	m, err := s.cfg.Store.LoggedModel(ctx, modelID)
	if err != nil {
		return err
	}
	type mv struct {
		Name    string `json:"name"`
		Version int64  `json:"version"`
	}
	var list []mv
	if cur := m.Tags["mlflow.modelVersions"]; cur != "" {
		json.Unmarshal([]byte(cur), &list)
	}
	if !slices.Contains(list, mv{name, version}) {
		list = append(list, mv{name, version})
	}
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = `{"name": ` + pyDumps(x.Name) + `, "version": ` + pyDumps(x.Version) + `}`
	}
	_, err = s.cfg.Store.UpdateLoggedModel(ctx, modelID, trainyard.LoggedModelUpdate{Tags: map[string]string{"mlflow.modelVersions": "[" + strings.Join(parts, ", ") + "]"}})
	return err
}

type loggedModelRecord struct{ m *trainyard.LoggedModel }

func (x loggedModelRecord) Metric(k string) (float64, bool) {
	for i := len(x.m.Metrics) - 1; i >= 0; i-- {
		if x.m.Metrics[i].Key == k {
			return float64(x.m.Metrics[i].Value), true
		}
	}
	return 0, false
}
func (x loggedModelRecord) Param(k string) (string, bool) {
	v, ok := x.m.Params[k]
	return v, ok
}
func (x loggedModelRecord) Tag(k string) (string, bool) {
	v, ok := x.m.Tags[k]
	return v, ok
}
func (x loggedModelRecord) Attr(name string) (any, bool) {
	switch name {
	case "name":
		return x.m.Name, true
	case "model_id":
		return x.m.ID, true
	case "source_run_id":
		return x.m.SourceRunID, true
	case "model_type":
		return x.m.ModelType, true
	case "status":
		return loggedModelStatus[x.m.Status], true
	case "experiment_id":
		return x.m.ExperimentID, true
	case "creation_timestamp", "creation_time", "creation_timestamp_ms":
		return float64(x.m.CreatedAt.UnixMilli()), true
	case "last_updated_timestamp", "last_updated_timestamp_ms":
		return float64(x.m.UpdatedAt.UnixMilli()), true
	}
	return nil, false
}

func (s *Server) mlSearchLoggedModels(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSearchLogged)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_ids", isArray, itemsStrings, required), field("filter", isString), field("datasets", isArray),
		field("max_results", intLike), field("order_by", isArray), field("page_token", isString)); err != nil {
		return err
	}
	filter, _, err := loggedSearch.parse(q.str("filter"), nil)
	if err != nil {
		return err
	}
	var order []runquery.OrderTerm
	for _, o := range q.list("order_by") {
		name, _ := o["field_name"].(string)
		t, err := runquery.ParseOrderBy([]string{name})
		if err != nil || len(t) != 1 {
			return trainyard.FieldError("order_by", "%q is not a field to order by", name)
		}
		asc, isBool := o["ascending"].(bool)
		t[0].Desc = isBool && !asc
		order = append(order, t[0])
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "creation_timestamp", Desc: true},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "model_id"})
	limit := 100
	if n := q.i64("max_results"); n > 0 {
		limit = int(n)
	}
	offset, err := decodePageToken(q.str("page_token"))
	if err != nil {
		return err
	}
	all, err := s.cfg.Store.LoggedModels(r.Context(), q.strs("experiment_ids"))
	if err != nil {
		return err
	}
	var hits []*trainyard.LoggedModel
	for _, m := range all {
		if filter.Match(loggedModelRecord{m}) {
			hits = append(hits, m)
		}
	}
	slices.SortStableFunc(hits, func(a, b *trainyard.LoggedModel) int {
		return runquery.Compare(loggedModelRecord{a}, loggedModelRecord{b}, order)
	})
	lo, hi, next := page(len(hits), offset, limit)
	var out []mlLoggedModel
	for _, m := range hits[lo:hi] {
		out = append(out, renderLoggedModel(m))
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["models"] = out
	}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}
