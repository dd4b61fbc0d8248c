package http

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// defaultExperimentName is what MLflow calls the experiment of trainyard's
// default project.
const defaultExperimentName = "Default"

// projectOf maps an MLflow experiment name to a project name.
func projectOf(name string) string {
	if name == defaultExperimentName {
		return trainyard.DefaultProject
	}
	return name
}

// experimentName maps an experiment as stored to the name MLflow shows.
func experimentName(e *trainyard.Experiment) string {
	if e.ID == trainyard.DefaultExperimentID && e.Name == trainyard.DefaultProject {
		return defaultExperimentName
	}
	return e.Name
}

type mlExperiment struct {
	ExperimentID     string `json:"experiment_id"`
	Name             string `json:"name"`
	ArtifactLocation string `json:"artifact_location"`
	LifecycleStage   string `json:"lifecycle_stage"`
	LastUpdateTime   int64  `json:"last_update_time"`
	CreationTime     int64  `json:"creation_time"`
	Tags             []mlKV `json:"tags,omitempty"`
}

func lifecycle(deleted bool) string {
	if deleted {
		return "deleted"
	}
	return "active"
}

func experimentArtifactLocation(e *trainyard.Experiment) string {
	if e.ArtifactLocation != "" {
		return e.ArtifactLocation
	}
	return "mlflow-artifacts:/" + e.ID
}

func renderExperiment(e *trainyard.Experiment) mlExperiment {
	return mlExperiment{
		ExperimentID: e.ID, Name: experimentName(e), ArtifactLocation: experimentArtifactLocation(e),
		LifecycleStage: lifecycle(e.Deleted), LastUpdateTime: e.UpdatedAt.UnixMilli(), CreationTime: e.CreatedAt.UnixMilli(),
		Tags: kvList(e.Tags),
	}
}

func (s *Server) mlCreateExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name             string `json:"name"`
		ArtifactLocation string `json:"artifact_location"`
		Tags             []mlKV `json:"tags"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("name", req.Name); err != nil {
		return err
	}
	if len(req.Name) > 500 {
		return trainyard.FieldError("name", "is %d characters, more than 500", len(req.Name))
	}
	e := &trainyard.Experiment{Name: projectOf(req.Name), ArtifactLocation: req.ArtifactLocation, Tags: kvMap(req.Tags)}
	if err := s.cfg.Store.CreateExperiment(r.Context(), e); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return trainyard.Errorf(trainyard.ECONFLICT, "Experiment '%s' already exists.", req.Name)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"experiment_id": e.ID})
}

func (s *Server) mlGetExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID string `json:"experiment_id"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("experiment_id", req.ID); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), req.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"experiment": renderExperiment(e)})
}

func (s *Server) experiment(ctx context.Context, id string) (*trainyard.Experiment, error) {
	e, err := s.cfg.Store.Experiment(ctx, id)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "No Experiment with id=%s exists", id)
	}
	return e, err
}

func (s *Server) mlGetExperimentByName(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"experiment_name"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("experiment_name", req.Name); err != nil {
		return err
	}
	e, err := s.cfg.Store.ExperimentByName(r.Context(), projectOf(req.Name))
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "Could not find experiment with name '%s'", req.Name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"experiment": renderExperiment(e)})
}

func parseView(v string) (trainyard.View, error) {
	switch strings.ToUpper(v) {
	case "", "ACTIVE_ONLY", "1":
		return trainyard.ViewActive, nil
	case "DELETED_ONLY", "2":
		return trainyard.ViewDeleted, nil
	case "ALL", "3":
		return trainyard.ViewAll, nil
	}
	return 0, trainyard.FieldError("view_type", "%q is not one of ACTIVE_ONLY, DELETED_ONLY, ALL", v)
}

// experimentRecord lets runquery filter and order experiments.
type experimentRecord struct{ e *trainyard.Experiment }

func (x experimentRecord) Metric(string) (float64, bool) { return 0, false }
func (x experimentRecord) Param(string) (string, bool)   { return "", false }
func (x experimentRecord) Tag(k string) (string, bool) {
	v, ok := x.e.Tags[k]
	return v, ok
}
func (x experimentRecord) Attr(name string) (any, bool) {
	switch name {
	case "name":
		return experimentName(x.e), true
	case "experiment_id", "id":
		return x.e.ID, true
	case "creation_time", "created":
		return float64(x.e.CreatedAt.UnixMilli()), true
	case "last_update_time":
		return float64(x.e.UpdatedAt.UnixMilli()), true
	case "lifecycle_stage":
		return lifecycle(x.e.Deleted), true
	}
	return nil, false
}

func (s *Server) mlSearchExperiments(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		MaxResults mlInt     `json:"max_results"`
		PageToken  string    `json:"page_token"`
		Filter     string    `json:"filter"`
		OrderBy    mlStrings `json:"order_by"`
		ViewType   string    `json:"view_type"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	view, err := parseView(req.ViewType)
	if err != nil {
		return err
	}
	limit := 1000
	if req.MaxResults.Set {
		if req.MaxResults.V < 1 || req.MaxResults.V > 50000 {
			return trainyard.FieldError("max_results", "must be between 1 and 50000, got %d", req.MaxResults.V)
		}
		limit = int(req.MaxResults.V)
	}
	offset, err := decodePageToken(req.PageToken)
	if err != nil {
		return err
	}
	filter, err := runquery.Parse(req.Filter)
	if err != nil {
		return trainyard.FieldError("filter", "%v", err)
	}
	order, err := runquery.ParseOrderBy(req.OrderBy)
	if err != nil {
		return trainyard.FieldError("order_by", "%v", err)
	}
	// MLflow's default order and tie-breakers.
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "creation_time", Desc: true},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "experiment_id"})
	all, err := s.cfg.Store.Experiments(r.Context(), view)
	if err != nil {
		return err
	}
	var hits []*trainyard.Experiment
	for _, e := range all {
		if filter.Match(experimentRecord{e}) {
			hits = append(hits, e)
		}
	}
	slices.SortStableFunc(hits, func(a, b *trainyard.Experiment) int {
		return runquery.Compare(experimentRecord{a}, experimentRecord{b}, order)
	})
	lo, hi, next := page(len(hits), offset, limit)
	out := make([]mlExperiment, 0, hi-lo)
	for _, e := range hits[lo:hi] {
		out = append(out, renderExperiment(e))
	}
	resp := map[string]any{"experiments": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mlUpdateExperiment(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID      string `json:"experiment_id"`
		NewName string `json:"new_name"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("experiment_id", req.ID); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), req.ID)
	if err != nil {
		return err
	}
	if e.Deleted {
		return trainyard.Errorf(trainyard.EINVALID, "Cannot rename a non-active experiment.")
	}
	if req.NewName == "" {
		return writeJSON(w, http.StatusOK, map[string]any{})
	}
	name := projectOf(req.NewName)
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), req.ID, trainyard.ExperimentUpdate{Name: &name}); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return trainyard.Errorf(trainyard.ECONFLICT, "Experiment '%s' already exists.", req.NewName)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) setExperimentDeleted(w http.ResponseWriter, r *http.Request, deleted bool) error {
	var req struct {
		ID string `json:"experiment_id"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("experiment_id", req.ID); err != nil {
		return err
	}
	if deleted && req.ID == trainyard.DefaultExperimentID {
		return trainyard.Errorf(trainyard.EINVALID, "Cannot delete the default experiment '0'. This is an internally reserved experiment.")
	}
	e, err := s.experiment(r.Context(), req.ID)
	if err != nil {
		return err
	}
	if !deleted && !e.Deleted {
		return trainyard.Errorf(trainyard.EINVALID, "Cannot restore an active experiment.")
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), req.ID, trainyard.ExperimentUpdate{Deleted: &deleted}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteExperiment(w http.ResponseWriter, r *http.Request) error {
	return s.setExperimentDeleted(w, r, true)
}

func (s *Server) mlRestoreExperiment(w http.ResponseWriter, r *http.Request) error {
	return s.setExperimentDeleted(w, r, false)
}

func (s *Server) mlSetExperimentTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID    string `json:"experiment_id"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateTag(req.Key, req.Value); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), req.ID)
	if err != nil {
		return err
	}
	if e.Deleted {
		return trainyard.Errorf(trainyard.EINVALID, "The experiment %s must be in the 'active' state. Current state is deleted.", e.ID)
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), req.ID, trainyard.ExperimentUpdate{Tags: map[string]string{req.Key: req.Value}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteExperimentTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID  string `json:"experiment_id"`
		Key string `json:"key"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), req.ID)
	if err != nil {
		return err
	}
	if _, ok := e.Tags[req.Key]; !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "No tag with name: %s in experiment with id %s", req.Key, e.ID)
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), e.ID, trainyard.ExperimentUpdate{DeleteTags: []string{req.Key}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}
