package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// MLflow 3 logged models: mlflow.<flavor>.log_model creates one, uploads
// its files to its own artifact location (mlflow-artifacts:/<experiment>/
// models/<model_id>/artifacts, stored in the ArtifactStore under the model
// ID), then finalizes it READY.

var loggedModelStatus = map[string]string{
	"PENDING": "LOGGED_MODEL_PENDING",
	"READY":   "LOGGED_MODEL_READY",
	"FAILED":  "LOGGED_MODEL_UPLOAD_FAILED",
}

func modelStatusOf(s string) (string, error) {
	switch strings.ToUpper(s) {
	case "LOGGED_MODEL_PENDING", "1":
		return "PENDING", nil
	case "LOGGED_MODEL_READY", "2":
		return "READY", nil
	case "LOGGED_MODEL_UPLOAD_FAILED", "3":
		return "FAILED", nil
	}
	return "", trainyard.FieldError("status", "%q is not one of LOGGED_MODEL_PENDING, LOGGED_MODEL_READY, LOGGED_MODEL_UPLOAD_FAILED", s)
}

type mlLoggedModelInfo struct {
	ModelID                string `json:"model_id"`
	ExperimentID           string `json:"experiment_id"`
	Name                   string `json:"name"`
	CreationTimestampMs    int64  `json:"creation_timestamp_ms"`
	LastUpdatedTimestampMs int64  `json:"last_updated_timestamp_ms"`
	ArtifactURI            string `json:"artifact_uri"`
	Status                 string `json:"status"`
	ModelType              string `json:"model_type,omitempty"`
	SourceRunID            string `json:"source_run_id,omitempty"`
	StatusMessage          string `json:"status_message,omitempty"`
	Tags                   []mlKV `json:"tags,omitempty"`
}

type mlLoggedModel struct {
	Info mlLoggedModelInfo `json:"info"`
	Data struct {
		Params  []mlKV     `json:"params,omitempty"`
		Metrics []mlMetric `json:"metrics,omitempty"`
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
	return out
}

func newModelID() string {
	var b [16]byte
	rand.Read(b[:])
	return "m-" + hex.EncodeToString(b[:])
}

func (s *Server) mlCreateLoggedModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ExperimentID string `json:"experiment_id"`
		Name         string `json:"name"`
		ModelType    string `json:"model_type"`
		SourceRunID  string `json:"source_run_id"`
		Params       []mlKV `json:"params"`
		Tags         []mlKV `json:"tags"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("experiment_id", req.ExperimentID); err != nil {
		return err
	}
	if _, err := s.experiment(r.Context(), req.ExperimentID); err != nil {
		return err
	}
	if req.SourceRunID != "" {
		if _, err := s.mlRunOf(r.Context(), req.SourceRunID); err != nil {
			return err
		}
	}
	id := newModelID()
	if req.Name == "" {
		req.Name = "model"
	}
	m := &trainyard.LoggedModel{
		ID: id, ExperimentID: req.ExperimentID, Name: req.Name, Status: "PENDING", SourceRunID: req.SourceRunID,
		ModelType: req.ModelType, ArtifactLocation: "mlflow-artifacts:/" + req.ExperimentID + "/models/" + id + "/artifacts",
		Tags: kvMap(req.Tags), Params: kvMap(req.Params),
	}
	if err := s.cfg.Store.CreateLoggedModel(r.Context(), m); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) loggedModel(ctx context.Context, id string) (*trainyard.LoggedModel, error) {
	m, err := s.cfg.Store.LoggedModel(ctx, id)
	if err == nil && m.Deleted {
		err = trainyard.Errorf(trainyard.ENOTFOUND, "Logged model with ID '%s' not found.", id)
	}
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Logged model with ID '%s' not found.", id)
	}
	return m, err
}

func (s *Server) mlGetLoggedModel(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loggedModel(r.Context(), r.PathValue("model_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) updateLoggedModel(w http.ResponseWriter, r *http.Request, u trainyard.LoggedModelUpdate) error {
	id := r.PathValue("model_id")
	if _, err := s.loggedModel(r.Context(), id); err != nil {
		return err
	}
	m, err := s.cfg.Store.UpdateLoggedModel(r.Context(), id, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model": renderLoggedModel(m)})
}

func (s *Server) mlFinalizeLoggedModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Status string `json:"status"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	st, err := modelStatusOf(req.Status)
	if err != nil {
		return err
	}
	return s.updateLoggedModel(w, r, trainyard.LoggedModelUpdate{Status: &st})
}

func (s *Server) mlDeleteLoggedModel(w http.ResponseWriter, r *http.Request) error {
	deleted := true
	if err := s.updateLoggedModel(discard{}, r, trainyard.LoggedModelUpdate{Deleted: &deleted}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetLoggedModelTags(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Tags []mlKV `json:"tags"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	for _, t := range req.Tags {
		if err := validateTag(t.Key, t.Value); err != nil {
			return err
		}
	}
	if err := s.updateLoggedModel(discard{}, r, trainyard.LoggedModelUpdate{Tags: kvMap(req.Tags)}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteLoggedModelTag(w http.ResponseWriter, r *http.Request) error {
	if err := s.updateLoggedModel(discard{}, r, trainyard.LoggedModelUpdate{DeleteTags: []string{r.PathValue("tag_key")}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlLogLoggedModelParams(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Params []mlKV `json:"params"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	for _, p := range req.Params {
		if err := validateParam(p.Key, p.Value); err != nil {
			return err
		}
	}
	if err := s.updateLoggedModel(discard{}, r, trainyard.LoggedModelUpdate{Params: kvMap(req.Params)}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlListLoggedModelArtifacts(w http.ResponseWriter, r *http.Request) error {
	m, err := s.loggedModel(r.Context(), r.PathValue("model_id"))
	if err != nil {
		return err
	}
	dir := r.URL.Query().Get("artifact_directory_path")
	files, err := s.listFiles(r.Context(), m.ID, dir, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"root_uri": m.ArtifactLocation, "files": files})
}

type loggedModelRecord struct{ m *trainyard.LoggedModel }

func (x loggedModelRecord) Metric(string) (float64, bool) { return 0, false }
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
	var req struct {
		ExperimentIDs mlStrings `json:"experiment_ids"`
		Filter        string    `json:"filter"`
		MaxResults    mlInt     `json:"max_results"`
		OrderBy       []struct {
			FieldName string  `json:"field_name"`
			Ascending *mlBool `json:"ascending"`
		} `json:"order_by"`
		PageToken string `json:"page_token"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	filter, err := runquery.Parse(req.Filter)
	if err != nil {
		return trainyard.FieldError("filter", "%v", err)
	}
	var order []runquery.OrderTerm
	for _, o := range req.OrderBy {
		t, err := runquery.ParseOrderBy([]string{o.FieldName})
		if err != nil || len(t) != 1 {
			return trainyard.FieldError("order_by", "%q is not a field to order by", o.FieldName)
		}
		t[0].Desc = o.Ascending != nil && !bool(*o.Ascending)
		order = append(order, t[0])
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "creation_timestamp", Desc: true},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "model_id"})
	limit := 100
	if req.MaxResults.Set && req.MaxResults.V > 0 {
		limit = int(min(req.MaxResults.V, 1000))
	}
	offset, err := decodePageToken(req.PageToken)
	if err != nil {
		return err
	}
	all, err := s.cfg.Store.LoggedModels(r.Context(), req.ExperimentIDs)
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
	out := []mlLoggedModel{}
	for _, m := range hits[lo:hi] {
		out = append(out, renderLoggedModel(m))
	}
	resp := map[string]any{"models": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}
