package mlflowapi

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
	"github.com/trainyard/trainyard/tracking"
)

// defaultExperimentName is what MLflow calls the experiment of trainyard's
// default project.
const defaultExperimentName = "Default"

// MLflow's limits on experiments (mlflow/utils/validation.py).
const (
	mlMaxExperimentName     = 500
	mlMaxExperimentTagValue = 20000
	mlMaxArtifactLocation   = 2048
	mlMaxSearchExperiments  = 50000
)

// Request messages (service.proto).
var (
	pCreateExperiment = pmsg{"name": fStr, "artifact_location": fStr, "tags": fRepMsg(pKV)}
	pExperimentID     = pmsg{"experiment_id": fStr}
	pByName           = pmsg{"experiment_name": fStr}
	pUpdateExperiment = pmsg{"experiment_id": fStr, "new_name": fStr}
	pViewType         = fEnum(1, "ACTIVE_ONLY", "DELETED_ONLY", "ALL")
	pSearchExp        = pmsg{"max_results": fI64, "page_token": fStr, "filter": fStr, "order_by": fRep(fStr), "view_type": pViewType}
	pExperimentTag    = pmsg{"experiment_id": fStr, "key": fStr, "value": fStr}
	pDelExperimentTag = pmsg{"experiment_id": fStr, "key": fStr}
)

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
	LastUpdateTime   int64  `json:"last_update_time,omitempty"`
	CreationTime     int64  `json:"creation_time,omitempty"`
	Tags             []mlKV `json:"tags,omitempty"`
	Workspace        string `json:"workspace"`
}

func lifecycle(deleted bool) string {
	if deleted {
		return "deleted"
	}
	return "active"
}

// artifactLocation is an experiment's artifact location: the one it was
// created with, or the default root with its ID.
func (s *Server) artifactLocation(e *trainyard.Experiment) string {
	if e.ArtifactLocation != "" {
		return e.ArtifactLocation
	}
	return appendURIPath(s.cfg.DefaultArtifactRoot, e.ID)
}

// appendURIPath is MLflow's append_to_uri_path.
func appendURIPath(root string, parts ...string) string {
	out := root
	for _, p := range parts {
		if !strings.HasSuffix(out, "/") {
			out += "/"
		}
		out += strings.TrimPrefix(p, "/")
	}
	return out
}

func (s *Server) renderExperiment(e *trainyard.Experiment) mlExperiment {
	return mlExperiment{
		ExperimentID: e.ID, Name: experimentName(e), ArtifactLocation: s.artifactLocation(e),
		LifecycleStage: lifecycle(e.Deleted), LastUpdateTime: e.UpdatedAt.UnixMilli(), CreationTime: e.CreatedAt.UnixMilli(),
		Tags: kvList(e.Tags), Workspace: "default",
	}
}

// checkExperimentName is MLflow's _validate_experiment_name.
func checkExperimentName(name string) error {
	if name == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid experiment name: ''")
	}
	if len([]rune(name)) > mlMaxExperimentName {
		return trainyard.Errorf(trainyard.EINVALID, "'name' exceeds the maximum length of %d characters", mlMaxExperimentName)
	}
	return nil
}

// checkExperimentTag is MLflow's _validate_experiment_tag: the key grammar
// of every tag, with an experiment tag's own value limit.
func checkExperimentTag(k, v string) error {
	if err := tracking.CheckKeyValue("experiment tag", -1, k, v, mlMaxExperimentTagValue); err != nil {
		return err
	}
	return nil
}

// resolveArtifactLocation checks an experiment's artifact location as
// MLflow's server does and makes a relative local path absolute (against
// the server's working directory, as MLflow's resolve_uri_if_local).
func resolveArtifactLocation(loc string) (string, error) {
	u, err := url.Parse(loc)
	if err == nil && (u.Fragment != "" || strings.Contains(u.Path, ";")) {
		return "", trainyard.Errorf(trainyard.EINVALID, "'artifact_location' URL can't include fragments or params.")
	}
	if strings.HasPrefix(loc, "runs:/") {
		return "", trainyard.Errorf(trainyard.EINVALID, "Artifact location cannot be a runs:/ URI. Given: '%s'", loc)
	}
	if !strings.Contains(loc, ":") && !filepath.IsAbs(loc) {
		if wd, err := os.Getwd(); err == nil {
			loc = filepath.Join(wd, loc)
		}
	} else if rest, ok := strings.CutPrefix(loc, "file:"); ok && !strings.HasPrefix(rest, "/") {
		if wd, err := os.Getwd(); err == nil {
			loc = "file://" + filepath.Join(wd, rest)
		}
	}
	if len(loc) > mlMaxArtifactLocation {
		return "", trainyard.Errorf(trainyard.EINVALID, "Invalid artifact path length. The length of the artifact path cannot be greater than %d characters. To configure this limit, please set the MLFLOW_ARTIFACT_LOCATION_MAX_LENGTH environment variable.", mlMaxArtifactLocation)
	}
	return loc, nil
}

func (s *Server) mlCreateExperiment(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pCreateExperiment)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", required, isString), field("artifact_location", isString), field("tags", isArray)); err != nil {
		return err
	}
	name, loc := q.str("name"), q.str("artifact_location")
	if err := checkExperimentName(name); err != nil {
		return err
	}
	if loc != "" {
		if loc, err = resolveArtifactLocation(loc); err != nil {
			return err
		}
	}
	tags := map[string]string{}
	for _, t := range q.kvs("tags") {
		if err := checkExperimentTag(t.Key, t.Value); err != nil {
			return err
		}
		tags[t.Key] = t.Value
	}
	e := &trainyard.Experiment{Name: projectOf(name), ArtifactLocation: loc, Tags: tags}
	if err := s.cfg.Store.CreateExperiment(r.Context(), e); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return trainyard.Errorf(trainyard.ECONFLICT, "Experiment(name=%s) already exists.", name)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"experiment_id": e.ID})
}

// experimentID is MLflow's _parse_experiment_id: an experiment ID must be
// an integer.
func experimentID(id string) (string, error) {
	n, ok := pyInt(id, 64)
	if !ok {
		return "", trainyard.Errorf(trainyard.EINVALID, "Invalid experiment ID '%s'. Experiment ID must be a valid integer.", id)
	}
	return strconv.FormatInt(n, 10), nil
}

// experiment returns an experiment in the view, as MLflow's store's
// _get_experiment: an empty ID is the default experiment.
func (s *Server) experiment(ctx context.Context, id string, view trainyard.View) (*trainyard.Experiment, error) {
	if id == "" {
		id = trainyard.DefaultExperimentID
	}
	id, err := experimentID(id)
	if err != nil {
		return nil, err
	}
	e, err := s.cfg.Store.Experiment(ctx, id)
	if err == nil && !view.Includes(e.Deleted) {
		err = trainyard.Errorf(trainyard.ENOTFOUND, "gone")
	}
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "No Experiment with id=%s exists", id)
	}
	return e, err
}

// checkExperimentActive is MLflow's _check_experiment_is_active.
func checkExperimentActive(e *trainyard.Experiment) error {
	if e.Deleted {
		return trainyard.Errorf(trainyard.EINVALID, "The experiment %s must be in the 'active' state. Current state is deleted.", e.ID)
	}
	return nil
}

func (s *Server) mlGetExperiment(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pExperimentID)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", required, isString)); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"experiment": s.renderExperiment(e)})
}

func (s *Server) mlGetExperimentByName(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pByName)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_name", required, isString)); err != nil {
		return err
	}
	name := q.str("experiment_name")
	e, err := s.cfg.Store.ExperimentByName(r.Context(), projectOf(name))
	if trainyard.IsCode(err, trainyard.ENOTFOUND) || (err == nil && name == trainyard.DefaultProject && e.ID == trainyard.DefaultExperimentID) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "Could not find experiment with name '%s'", name)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"experiment": s.renderExperiment(e)})
}

// viewOf maps MLflow's ViewType to a view.
func viewOf(v string) trainyard.View {
	switch v {
	case "DELETED_ONLY":
		return trainyard.ViewDeleted
	case "ALL":
		return trainyard.ViewAll
	}
	return trainyard.ViewActive
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

// checkMaxResults is MLflow's store's _validate_max_results_param.
func checkMaxResults(n int64, threshold int64) error {
	if n < 1 {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be a positive integer", n)
	}
	if n > threshold {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid value %d for parameter 'max_results' supplied. It must be at most %d", n, threshold)
	}
	return nil
}

func (s *Server) mlSearchExperiments(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSearchExp)
	if err != nil {
		return err
	}
	if err := q.validate(field("view_type", intLike), field("max_results", intLike), field("order_by", isArray),
		field("filter", isString), field("page_token", isString)); err != nil {
		return err
	}
	view := viewOf(q.enum("view_type", pViewType, "ACTIVE_ONLY"))
	limit := q.i64("max_results")
	if err := checkMaxResults(limit, mlMaxSearchExperiments); err != nil {
		return err
	}
	filter, order, err := experimentSearch.parse(q.str("filter"), q.strs("order_by"))
	if err != nil {
		return err
	}
	offset, err := decodePageToken(q.str("page_token"))
	if err != nil {
		return err
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
	lo, hi, next := page(len(hits), offset, int(limit))
	out := make([]mlExperiment, 0, hi-lo)
	for _, e := range hits[lo:hi] {
		out = append(out, s.renderExperiment(e))
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["experiments"] = out
	}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mlUpdateExperiment(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pUpdateExperiment)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", required, isString), field("new_name", isString, required)); err != nil {
		return err
	}
	name := q.str("new_name")
	if err := checkExperimentName(name); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	if e.Deleted {
		return mlErrorf("INVALID_STATE", "Cannot rename a non-active experiment.")
	}
	project := projectOf(name)
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), e.ID, trainyard.ExperimentUpdate{Name: &project}); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return mlErrorf("BAD_REQUEST", "Experiment(name=%s) already exists.", name)
		}
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) setExperimentDeleted(w http.ResponseWriter, r *http.Request, deleted bool) error {
	q, err := s.read(w, r, pExperimentID)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", required, isString)); err != nil {
		return err
	}
	id := q.str("experiment_id")
	if deleted && id == trainyard.DefaultExperimentID {
		return trainyard.Errorf(trainyard.EINVALID, "Cannot delete the default experiment '0'. This is an internally reserved experiment.")
	}
	view := trainyard.ViewActive
	if !deleted {
		view = trainyard.ViewDeleted
	}
	e, err := s.experiment(r.Context(), id, view)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), e.ID, trainyard.ExperimentUpdate{Deleted: &deleted}); err != nil {
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
	q, err := s.read(w, r, pExperimentTag)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", required, isString), field("key", required, isString), field("value", isString)); err != nil {
		return err
	}
	key, value := q.str("key"), q.str("value")
	if err := checkExperimentTag(key, value); err != nil {
		return err
	}
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	if err := checkExperimentActive(e); err != nil {
		return err
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), e.ID, trainyard.ExperimentUpdate{Tags: map[string]string{key: value}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteExperimentTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pDelExperimentTag)
	if err != nil {
		return err
	}
	if err := q.validate(field("experiment_id", required, isString), field("key", required, isString)); err != nil {
		return err
	}
	key := q.str("key")
	e, err := s.experiment(r.Context(), q.str("experiment_id"), trainyard.ViewAll)
	if err != nil {
		return err
	}
	if err := checkExperimentActive(e); err != nil {
		return err
	}
	if _, ok := e.Tags[key]; !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "No tag with name: %s in experiment with id %s", key, q.str("experiment_id"))
	}
	if _, err := s.cfg.Store.UpdateExperiment(r.Context(), e.ID, trainyard.ExperimentUpdate{DeleteTags: []string{key}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}
