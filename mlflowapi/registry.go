package mlflowapi

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
	"github.com/trainyard/trainyard/tracking"
)

// The model registry. Versions are READY as soon as they are created: the
// files already sit in the artifact store.

// MLflow's registry limits.
const (
	mlMaxRegistryTagValue = 100_000
	mlMaxAliasLen         = 255
	mlMaxSearchModels     = 1000
	mlMaxSearchVersions   = 200_000
)

// Request messages (model_registry.proto).
var (
	pCreateModel   = pmsg{"name": fStr, "tags": fRepMsg(pKV), "description": fStr, "deployment_job_id": fStr}
	pName          = pmsg{"name": fStr}
	pRenameModel   = pmsg{"name": fStr, "new_name": fStr}
	pUpdateModel   = pmsg{"name": fStr, "description": fStr, "deployment_job_id": fStr}
	pSearchModels  = pmsg{"filter": fStr, "max_results": fI64, "order_by": fRep(fStr), "page_token": fStr}
	pLatest        = pmsg{"name": fStr, "stages": fRep(fStr)}
	pModelTag      = pmsg{"name": fStr, "key": fStr, "value": fStr}
	pModelTagKey   = pmsg{"name": fStr, "key": fStr}
	pSetAlias      = pmsg{"name": fStr, "alias": fStr, "version": fStr}
	pAlias         = pmsg{"name": fStr, "alias": fStr}
	pCreateVersion = pmsg{"name": fStr, "source": fStr, "run_id": fStr, "tags": fRepMsg(pKV), "run_link": fStr, "description": fStr, "model_id": fStr}
	pVersion       = pmsg{"name": fStr, "version": fStr}
	pUpdateVersion = pmsg{"name": fStr, "version": fStr, "description": fStr}
	pTransition    = pmsg{"name": fStr, "version": fStr, "stage": fStr, "archive_existing_versions": fBool}
	pVersionTag    = pmsg{"name": fStr, "version": fStr, "key": fStr, "value": fStr}
	pVersionTagKey = pmsg{"name": fStr, "version": fStr, "key": fStr}
)

type mlAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

type mlModelVersion struct {
	Name                 string   `json:"name"`
	Version              string   `json:"version"`
	CreationTimestamp    int64    `json:"creation_timestamp"`
	LastUpdatedTimestamp int64    `json:"last_updated_timestamp"`
	CurrentStage         string   `json:"current_stage"`
	Description          string   `json:"description"`
	Source               string   `json:"source"`
	RunID                string   `json:"run_id,omitempty"`
	Status               string   `json:"status"`
	Tags                 []mlKV   `json:"tags,omitempty"`
	RunLink              string   `json:"run_link"`
	Aliases              []string `json:"aliases,omitempty"`
}

type mlRegisteredModel struct {
	Name                 string           `json:"name"`
	CreationTimestamp    int64            `json:"creation_timestamp"`
	LastUpdatedTimestamp int64            `json:"last_updated_timestamp"`
	Description          string           `json:"description,omitempty"`
	LatestVersions       []mlModelVersion `json:"latest_versions,omitempty"`
	Tags                 []mlKV           `json:"tags,omitempty"`
	Aliases              []mlAlias        `json:"aliases,omitempty"`
}

func renderModelVersion(v *trainyard.ModelVersion, aliases map[string]int64) mlModelVersion {
	out := mlModelVersion{
		Name: v.Name, Version: strconv.FormatInt(v.Version, 10), CreationTimestamp: v.CreatedAt.UnixMilli(),
		LastUpdatedTimestamp: v.UpdatedAt.UnixMilli(), CurrentStage: v.Stage, Description: v.Description, Source: v.Source,
		RunID: v.RunID, Status: "READY", Tags: kvList(v.Tags), RunLink: v.RunLink,
	}
	for _, a := range trainyard.SortedKeys(aliases) {
		if aliases[a] == v.Version {
			out.Aliases = append(out.Aliases, a)
		}
	}
	return out
}

// latestPerStage returns the newest version in each stage.
func latestPerStage(versions []*trainyard.ModelVersion, stages []string) []*trainyard.ModelVersion {
	want := map[string]bool{}
	for _, st := range stages {
		if c, err := canonicalStage(st); err == nil {
			want[c] = true
		}
	}
	latest := map[string]*trainyard.ModelVersion{}
	for _, v := range versions {
		if len(want) > 0 && !want[v.Stage] {
			continue
		}
		if cur := latest[v.Stage]; cur == nil || v.Version > cur.Version {
			latest[v.Stage] = v
		}
	}
	out := make([]*trainyard.ModelVersion, 0, len(latest))
	for _, v := range latest {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *trainyard.ModelVersion) int { return int(a.Version - b.Version) })
	return out
}

func (s *Server) renderRegisteredModel(ctx context.Context, m *trainyard.RegisteredModel) (mlRegisteredModel, error) {
	out := mlRegisteredModel{
		Name: m.Name, CreationTimestamp: m.CreatedAt.UnixMilli(), LastUpdatedTimestamp: m.UpdatedAt.UnixMilli(),
		Description: m.Description, Tags: kvList(m.Tags),
	}
	for _, a := range trainyard.SortedKeys(m.Aliases) {
		out.Aliases = append(out.Aliases, mlAlias{a, strconv.FormatInt(m.Aliases[a], 10)})
	}
	versions, err := s.cfg.Store.ModelVersions(ctx, m.Name)
	if err != nil {
		return out, err
	}
	for _, v := range latestPerStage(versions, nil) {
		out.LatestVersions = append(out.LatestVersions, renderModelVersion(v, nil)) // MLflow leaves their aliases out
	}
	return out, nil
}

var stages = []string{trainyard.StageNone, trainyard.StageStaging, trainyard.StageProduction, trainyard.StageArchived}

func canonicalStage(st string) (string, error) {
	for _, c := range stages {
		if strings.EqualFold(st, c) {
			return c, nil
		}
	}
	return "", trainyard.Errorf(trainyard.EINVALID, "Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", st)
}

// checkModelName is MLflow's _validate_model_name.
func checkModelName(name string) error {
	if strings.TrimSpace(name) == "" {
		return trainyard.Errorf(trainyard.EINVALID, "%s", missingValue("name"))
	}
	if strings.ContainsAny(name, "/:") {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid model name '%s'. Names cannot contain '/' or ':'.", name)
	}
	if pyPathNotUnique(name) {
		return trainyard.Errorf(trainyard.EINVALID, "%s", invalidValue("name", name, badPathMessage(name)))
	}
	return nil
}

// pyPathNotUnique is MLflow's path_not_unique.
func pyPathNotUnique(name string) bool {
	n := pyNormpath(name)
	return n != name || n == "." || strings.HasPrefix(n, "..") || strings.HasPrefix(n, "/")
}

// checkRegistryTag is MLflow's _validate_registered_model_tag (and the
// model-version one): the key grammar, a 100,000-character value.
func checkRegistryTag(k, v string) error {
	return tracking.CheckKeyValue("registry tag", -1, k, v, mlMaxRegistryTagValue)
}

func (s *Server) registeredModel(ctx context.Context, name string) (*trainyard.RegisteredModel, error) {
	if err := checkModelName(name); err != nil {
		return nil, err
	}
	m, err := s.cfg.Store.RegisteredModel(ctx, name)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Registered Model with name=%s not found", name)
	}
	return m, err
}

func (s *Server) writeRegisteredModel(w http.ResponseWriter, r *http.Request, m *trainyard.RegisteredModel) error {
	out, err := s.renderRegisteredModel(r.Context(), m)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"registered_model": out})
}

func (s *Server) mlCreateRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pCreateModel)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("tags", isArray), field("description", isString)); err != nil {
		return err
	}
	name := q.str("name")
	if err := checkModelName(name); err != nil {
		return err
	}
	tags := map[string]string{}
	for _, t := range q.kvs("tags") {
		if err := checkRegistryTag(t.Key, t.Value); err != nil {
			return err
		}
		tags[t.Key] = t.Value
	}
	m := &trainyard.RegisteredModel{Name: name, Description: q.str("description"), Tags: tags}
	if err := s.cfg.Store.CreateRegisteredModel(r.Context(), m); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return trainyard.Errorf(trainyard.ECONFLICT, "Registered Model (name=%s) already exists.", name)
		}
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) mlGetRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pName)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required)); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), q.str("name"))
	if err != nil {
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) updateRegisteredModel(ctx context.Context, name string, u trainyard.RegisteredModelUpdate) (*trainyard.RegisteredModel, error) {
	if _, err := s.registeredModel(ctx, name); err != nil {
		return nil, err
	}
	m, err := s.cfg.Store.UpdateRegisteredModel(ctx, name, u)
	if trainyard.IsCode(err, trainyard.ECONFLICT) && u.Name != nil {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "Registered Model (name=%s) already exists.", *u.Name)
	}
	return m, err
}

func (s *Server) mlRenameRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pRenameModel)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("new_name", isString, required)); err != nil {
		return err
	}
	newName := q.str("new_name")
	if err := checkModelName(newName); err != nil {
		return err
	}
	m, err := s.updateRegisteredModel(r.Context(), q.str("name"), trainyard.RegisteredModelUpdate{Name: &newName})
	if err != nil {
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) mlUpdateRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pUpdateModel)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("description", isString)); err != nil {
		return err
	}
	d := q.str("description")
	m, err := s.updateRegisteredModel(r.Context(), q.str("name"), trainyard.RegisteredModelUpdate{Description: &d})
	if err != nil {
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) mlDeleteRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pName)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required)); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), q.str("name"))
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteRegisteredModel(r.Context(), m.Name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

type registeredModelRecord struct{ m *trainyard.RegisteredModel }

func (x registeredModelRecord) Metric(string) (float64, bool) { return 0, false }
func (x registeredModelRecord) Param(string) (string, bool)   { return "", false }

// Tag reads a missing tag as "": the client adds
// tag.`mlflow.prompt.is_prompt` != 'true' to every registry search, which
// must match models without the tag.
func (x registeredModelRecord) Tag(k string) (string, bool) { return x.m.Tags[k], true }
func (x registeredModelRecord) Attr(name string) (any, bool) {
	switch name {
	case "name":
		return x.m.Name, true
	case "creation_timestamp", "creation_time":
		return float64(x.m.CreatedAt.UnixMilli()), true
	case "last_updated_timestamp", "last_update_time":
		return float64(x.m.UpdatedAt.UnixMilli()), true
	}
	return nil, false
}

// searchQuery is what a registry search asks: its filter, its order with
// tie-breakers, the page's offset and its size.
type searchQuery struct {
	filter *runquery.Filter
	order  []runquery.OrderTerm
	offset int
	limit  int
}

func (s *Server) mlSearchRegisteredModels(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSearchModels)
	if err != nil {
		return err
	}
	if err := q.validate(field("filter", isString), field("max_results", intLike, lessEq(mlMaxSearchModels)),
		field("order_by", isArray, itemsStrings), field("page_token", isString)); err != nil {
		return err
	}
	limit := int64(100)
	if q.has("max_results") {
		limit = q.i64("max_results")
	}
	if limit < 1 {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid value for request parameter max_results. It must be at least 1, but got value %d", limit)
	}
	filter, order, err := modelSearch.parse(q.str("filter"), q.strs("order_by"))
	if err != nil {
		return err
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "name"})
	offset, err := decodePageToken(q.str("page_token"))
	if err != nil {
		return err
	}
	all, err := s.cfg.Store.RegisteredModels(r.Context())
	if err != nil {
		return err
	}
	var hits []*trainyard.RegisteredModel
	for _, m := range all {
		if filter.Match(registeredModelRecord{m}) {
			hits = append(hits, m)
		}
	}
	slices.SortStableFunc(hits, func(a, b *trainyard.RegisteredModel) int {
		return runquery.Compare(registeredModelRecord{a}, registeredModelRecord{b}, order)
	})
	lo, hi, next := page(len(hits), offset, int(limit))
	var out []mlRegisteredModel
	for _, m := range hits[lo:hi] {
		rm, err := s.renderRegisteredModel(r.Context(), m)
		if err != nil {
			return err
		}
		out = append(out, rm)
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["registered_models"] = out
	}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mlGetLatestVersions(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pLatest)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("stages", isArray, itemsStrings)); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), q.str("name"))
	if err != nil {
		return err
	}
	stages := q.strs("stages")
	for _, st := range stages {
		if _, err := canonicalStage(st); err != nil {
			return err
		}
	}
	versions, err := s.cfg.Store.ModelVersions(r.Context(), m.Name)
	if err != nil {
		return err
	}
	var out []mlModelVersion
	for _, v := range latestPerStage(versions, stages) {
		out = append(out, renderModelVersion(v, m.Aliases))
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["model_versions"] = out
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mlSetRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pModelTag)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("key", isString, required), field("value", isString)); err != nil {
		return err
	}
	if err := checkModelName(q.str("name")); err != nil {
		return err
	}
	if err := checkRegistryTag(q.str("key"), q.str("value")); err != nil {
		return err
	}
	if _, err := s.updateRegisteredModel(r.Context(), q.str("name"), trainyard.RegisteredModelUpdate{Tags: map[string]string{q.str("key"): q.str("value")}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pModelTagKey)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("key", isString, required)); err != nil {
		return err
	}
	if err := checkModelName(q.str("name")); err != nil {
		return err
	}
	if err := tracking.CheckKey("registry tag", -1, q.str("key")); err != nil {
		return err
	}
	if _, err := s.updateRegisteredModel(r.Context(), q.str("name"), trainyard.RegisteredModelUpdate{DeleteTags: []string{q.str("key")}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// parseVersion is MLflow's _validate_model_version.
func parseVersion(v string) (int64, error) {
	n, ok := pyInt(v, 64)
	if !ok {
		return 0, trainyard.Errorf(trainyard.EINVALID, "Parameter 'version' must be an integer, got '%s'.", v)
	}
	return n, nil
}

var (
	aliasName        = regexp.MustCompile(`^[\pL\pN_\-]*$`)
	aliasVersionName = regexp.MustCompile(`^[vV]\d+$`)
)

// checkAlias is MLflow's _validate_model_alias_name.
func checkAlias(a string) error {
	if a == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Registered model alias name cannot be empty.")
	}
	if !aliasName.MatchString(a) {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid alias name: '%s'. Names may only contain alphanumerics, underscores (_), and dashes (-).", a)
	}
	if len([]rune(a)) > mlMaxAliasLen {
		return trainyard.Errorf(trainyard.EINVALID, "'Registered model alias name' exceeds the maximum length of %d characters", mlMaxAliasLen)
	}
	return nil
}

func (s *Server) mlSetAlias(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSetAlias)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("alias", isString, required), field("version", isString, required)); err != nil {
		return err
	}
	name, alias := q.str("name"), q.str("alias")
	if err := checkModelName(name); err != nil {
		return err
	}
	if err := checkAlias(alias); err != nil {
		return err
	}
	if strings.EqualFold(alias, "latest") {
		return trainyard.Errorf(trainyard.EINVALID, "'latest' alias name (case insensitive) is reserved.")
	}
	if aliasVersionName.MatchString(alias) {
		return trainyard.Errorf(trainyard.EINVALID, "Version alias name '%s' is reserved.", alias)
	}
	v, err := parseVersion(q.str("version"))
	if err != nil {
		return err
	}
	if _, err := s.modelVersion(r.Context(), name, v); err != nil {
		return err
	}
	if _, err := s.updateRegisteredModel(r.Context(), name, trainyard.RegisteredModelUpdate{Aliases: map[string]int64{alias: v}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteAlias(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pAlias)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("alias", isString, required)); err != nil {
		return err
	}
	if err := checkAlias(q.str("alias")); err != nil {
		return err
	}
	if _, err := s.updateRegisteredModel(r.Context(), q.str("name"), trainyard.RegisteredModelUpdate{Aliases: map[string]int64{q.str("alias"): 0}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlGetByAlias(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pAlias)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("alias", isString, required)); err != nil {
		return err
	}
	alias := q.str("alias")
	if err := checkAlias(alias); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), q.str("name"))
	if err != nil {
		return err
	}
	var v int64
	if strings.EqualFold(alias, "latest") {
		versions, err := s.cfg.Store.ModelVersions(r.Context(), m.Name)
		if err != nil {
			return err
		}
		for _, mv := range versions {
			v = max(v, mv.Version)
		}
		if v == 0 {
			return trainyard.Errorf(trainyard.ENOTFOUND, "Latest version not found for model %s.", m.Name)
		}
	} else {
		var ok bool
		if v, ok = m.Aliases[alias]; !ok {
			return trainyard.Errorf(trainyard.EINVALID, "Registered model alias %s not found.", alias)
		}
	}
	mv, err := s.modelVersion(r.Context(), m.Name, v)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model_version": renderModelVersion(mv, m.Aliases)})
}

func (s *Server) modelVersion(ctx context.Context, name string, version int64) (*trainyard.ModelVersion, error) {
	v, err := s.cfg.Store.ModelVersion(ctx, name, version)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Model Version (name=%s, version=%d) not found", name, version)
	}
	return v, err
}

func (s *Server) writeModelVersion(w http.ResponseWriter, r *http.Request, v *trainyard.ModelVersion) error {
	m, err := s.registeredModel(r.Context(), v.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model_version": renderModelVersion(v, m.Aliases)})
}

func (s *Server) mlCreateModelVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pCreateVersion)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("source", isString, required), field("run_id", isString),
		field("tags", isArray), field("run_link", isString), field("description", isString), field("model_id", isString)); err != nil {
		return err
	}
	ctx := r.Context()
	name, source, runID, modelID := q.str("name"), q.str("source"), q.str("run_id"), q.str("model_id")
	// A models:/<name>/<version> source is the version it names.
	if uriScheme(source) == "models" {
		if strings.HasPrefix(source, "models://") {
			return trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. Registered model sources must use the active model registry.", source)
		}
		if n, ref, id, ok := modelsURI(source); ok && id == "" {
			src, err := s.resolveVersionRef(ctx, n, ref)
			if err != nil {
				return err
			}
			if (q.has("run_id") && runID != src.RunID) || (q.has("model_id") && modelID != src.ModelID) {
				return trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. The run_id and model_id request parameters must match the referenced model version.", source)
			}
			source = "models:/" + src.Name + "/" + strconv.FormatInt(src.Version, 10)
			if !q.has("run_id") {
				runID = src.RunID
			}
			if !q.has("model_id") {
				modelID = src.ModelID
			}
		}
	}
	if modelID != "" {
		if err := s.checkSourceModel(ctx, source, modelID); err != nil {
			return err
		}
	} else if err := s.checkSourceRun(ctx, source, runID); err != nil {
		return err
	}
	if err := checkModelName(name); err != nil {
		return err
	}
	tags := map[string]string{}
	for _, t := range q.kvs("tags") {
		if err := checkRegistryTag(t.Key, t.Value); err != nil {
			return err
		}
		tags[t.Key] = t.Value
	}
	if _, _, id, ok := modelsURI(source); ok && id != "" && runID == "" {
		if lm, err := s.cfg.Store.LoggedModel(ctx, id); err == nil {
			runID = lm.SourceRunID
		}
	}
	if runID == "" && modelID != "" {
		if lm, err := s.cfg.Store.LoggedModel(ctx, modelID); err == nil {
			runID = lm.SourceRunID
		}
	}
	if _, err := s.registeredModel(ctx, name); err != nil {
		return err
	}
	v := &trainyard.ModelVersion{Name: name, Source: source, RunID: runID, ModelID: modelID,
		RunLink: q.str("run_link"), Description: q.str("description"), Tags: tags}
	if err := s.cfg.Store.CreateModelVersion(ctx, v); err != nil {
		return err
	}
	if modelID != "" {
		if err := s.tagLoggedModelVersion(ctx, modelID, name, v.Version); err != nil {
			return err
		}
	}
	return s.writeModelVersion(w, r, v)
}

// resolveVersionRef finds the version a registry URI names: a version
// number, or an alias after "@".
func (s *Server) resolveVersionRef(ctx context.Context, name, ref string) (*trainyard.ModelVersion, error) {
	m, err := s.registeredModel(ctx, name)
	if err != nil {
		return nil, err
	}
	if alias, ok := strings.CutPrefix(ref, "@"); ok {
		v, found := m.Aliases[alias]
		if !found {
			return nil, trainyard.Errorf(trainyard.EINVALID, "Registered model alias %s not found.", alias)
		}
		return s.modelVersion(ctx, name, v)
	}
	if strings.EqualFold(ref, "latest") {
		versions, err := s.cfg.Store.ModelVersions(ctx, name)
		if err != nil || len(versions) == 0 {
			return nil, trainyard.Errorf(trainyard.ENOTFOUND, "Latest version not found for model %s.", name)
		}
		return versions[len(versions)-1], nil
	}
	n, err := parseVersion(ref)
	if err != nil {
		return nil, err
	}
	return s.modelVersion(ctx, name, n)
}

// versionOf returns the version a request names.
func (s *Server) versionOf(ctx context.Context, q *mlreq) (*trainyard.ModelVersion, error) {
	name := q.str("name")
	if err := checkModelName(name); err != nil {
		return nil, err
	}
	n, err := parseVersion(q.str("version"))
	if err != nil {
		return nil, err
	}
	return s.modelVersion(ctx, name, n)
}

func (s *Server) mlGetModelVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pVersion)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required)); err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), q)
	if err != nil {
		return err
	}
	return s.writeModelVersion(w, r, v)
}

func (s *Server) updateVersion(w http.ResponseWriter, r *http.Request, q *mlreq, u trainyard.ModelVersionUpdate) error {
	v, err := s.versionOf(r.Context(), q)
	if err != nil {
		return err
	}
	if v, err = s.cfg.Store.UpdateModelVersion(r.Context(), v.Name, v.Version, u); err != nil {
		return err
	}
	if w == nil {
		return nil
	}
	return s.writeModelVersion(w, r, v)
}

func (s *Server) mlUpdateModelVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pUpdateVersion)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required), field("description", isString)); err != nil {
		return err
	}
	var u trainyard.ModelVersionUpdate
	if q.has("description") {
		d := q.str("description")
		u.Description = &d
	}
	return s.updateVersion(w, r, q, u)
}

func (s *Server) mlTransitionStage(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pTransition)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required), field("stage", isString, required),
		field("archive_existing_versions", isBool)); err != nil {
		return err
	}
	st, err := canonicalStage(q.str("stage"))
	if err != nil {
		return err
	}
	archive := q.boolean("archive_existing_versions")
	if archive && st != trainyard.StageStaging && st != trainyard.StageProduction {
		return mlErrorf("INTERNAL_ERROR", "Model version transition cannot archive existing model versions because '%s' is not an Active stage. Valid stages are ['Staging', 'Production']", q.str("stage"))
	}
	return s.updateVersion(w, r, q, trainyard.ModelVersionUpdate{Stage: &st, ArchiveOthers: archive})
}

func (s *Server) mlDeleteModelVersion(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pVersion)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required)); err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), q)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteModelVersion(r.Context(), v.Name, v.Version); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pVersionTag)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required), field("key", isString, required),
		field("value", isString)); err != nil {
		return err
	}
	if err := checkModelName(q.str("name")); err != nil {
		return err
	}
	if err := checkRegistryTag(q.str("key"), q.str("value")); err != nil {
		return err
	}
	if err := s.updateVersion(nil, r, q, trainyard.ModelVersionUpdate{Tags: map[string]string{q.str("key"): q.str("value")}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pVersionTagKey)
	if err != nil {
		return err
	}
	if err := q.validate(field("name", isString, required), field("version", isString, required), field("key", isString, required)); err != nil {
		return err
	}
	if err := checkModelName(q.str("name")); err != nil {
		return err
	}
	if err := tracking.CheckKey("registry tag", -1, q.str("key")); err != nil {
		return err
	}
	if err := s.updateVersion(nil, r, q, trainyard.ModelVersionUpdate{DeleteTags: []string{q.str("key")}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

type modelVersionRecord struct{ v *trainyard.ModelVersion }

func (x modelVersionRecord) Metric(string) (float64, bool) { return 0, false }
func (x modelVersionRecord) Param(string) (string, bool)   { return "", false }
func (x modelVersionRecord) Tag(k string) (string, bool)   { return x.v.Tags[k], true }
func (x modelVersionRecord) Attr(name string) (any, bool) {
	switch name {
	case "name":
		return x.v.Name, true
	case "version_number", "version":
		return float64(x.v.Version), true
	case "run_id":
		return x.v.RunID, true
	case "source_path", "source":
		return x.v.Source, true
	case "current_stage":
		return x.v.Stage, true
	case "model_id":
		return x.v.ModelID, true
	case "creation_timestamp":
		return float64(x.v.CreatedAt.UnixMilli()), true
	case "last_updated_timestamp":
		return float64(x.v.UpdatedAt.UnixMilli()), true
	}
	return nil, false
}

func (s *Server) mlSearchModelVersions(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pSearchModels)
	if err != nil {
		return err
	}
	if err := q.validate(field("filter", isString), field("max_results", intLike, lessEq(mlMaxSearchVersions)),
		field("order_by", isArray, itemsStrings), field("page_token", isString)); err != nil {
		return err
	}
	limit := int64(10000)
	if q.has("max_results") {
		limit = q.i64("max_results")
	}
	if limit < 1 {
		return mlErrorf("INTERNAL_ERROR", "Invalid value for max_results. It must be a positive integer, but got %d", limit)
	}
	filter, order, err := versionSearch.parse(q.str("filter"), q.strs("order_by"))
	if err != nil {
		return err
	}
	if len(order) == 0 {
		order = []runquery.OrderTerm{{Kind: runquery.Attribute, Key: "last_updated_timestamp", Desc: true}}
	}
	order = append(order, runquery.OrderTerm{Kind: runquery.Attribute, Key: "name"},
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "version_number", Desc: true})
	offset, err := decodePageToken(q.str("page_token"))
	if err != nil {
		return err
	}
	all, err := s.cfg.Store.ModelVersions(r.Context(), "")
	if err != nil {
		return err
	}
	var hits []*trainyard.ModelVersion
	for _, v := range all {
		if filter.Match(modelVersionRecord{v}) {
			hits = append(hits, v)
		}
	}
	slices.SortStableFunc(hits, func(a, b *trainyard.ModelVersion) int {
		return runquery.Compare(modelVersionRecord{a}, modelVersionRecord{b}, order)
	})
	lo, hi, next := page(len(hits), offset, int(limit))
	var out []mlModelVersion
	for _, v := range hits[lo:hi] {
		out = append(out, renderModelVersion(v, nil)) // MLflow's search leaves aliases out
	}
	resp := map[string]any{}
	if len(out) > 0 {
		resp["model_versions"] = out
	}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

// mlGetDownloadURI resolves a version's source to the artifact URI its
// files can be downloaded from.
func (s *Server) mlGetDownloadURI(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pVersion)
	if err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), q)
	if err != nil {
		return err
	}
	uri, err := s.storageLocation(r.Context(), v.Source)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"artifact_uri": uri})
}

// storageLocation is where a version's files are: a logged model's
// artifact location, the location of the version a registry URI names,
// or the source itself.
func (s *Server) storageLocation(ctx context.Context, src string) (string, error) {
	if n, ref, id, ok := modelsURI(src); ok {
		if id != "" {
			m, err := s.cfg.Store.LoggedModel(ctx, id)
			if err != nil {
				return src, nil
			}
			return m.ArtifactLocation, nil
		}
		v, err := s.resolveVersionRef(ctx, n, ref)
		if err != nil {
			return "", err
		}
		return s.storageLocation(ctx, v.Source)
	}
	return src, nil
}
