package http

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// The model registry. Versions are READY as soon as they are created: the
// files already sit in the artifact store.

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
	Description          string   `json:"description,omitempty"`
	Source               string   `json:"source"`
	RunID                string   `json:"run_id,omitempty"`
	Status               string   `json:"status"`
	Tags                 []mlKV   `json:"tags,omitempty"`
	RunLink              string   `json:"run_link,omitempty"`
	Aliases              []string `json:"aliases,omitempty"`
	ModelID              string   `json:"model_id,omitempty"`
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
		RunID: v.RunID, Status: "READY", Tags: kvList(v.Tags), RunLink: v.RunLink, ModelID: v.ModelID,
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
		out.LatestVersions = append(out.LatestVersions, renderModelVersion(v, m.Aliases))
	}
	return out, nil
}

func canonicalStage(st string) (string, error) {
	for _, c := range []string{trainyard.StageNone, trainyard.StageStaging, trainyard.StageProduction, trainyard.StageArchived} {
		if strings.EqualFold(st, c) {
			return c, nil
		}
	}
	return "", trainyard.FieldError("stage", "Invalid Model Version stage: %s. Value must be one of None, Staging, Production, Archived.", st)
}

func (s *Server) registeredModel(ctx context.Context, name string) (*trainyard.RegisteredModel, error) {
	if err := requireField("name", name); err != nil {
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
	var req struct {
		Name        string `json:"name"`
		Tags        []mlKV `json:"tags"`
		Description string `json:"description"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("name", req.Name); err != nil {
		return err
	}
	m := &trainyard.RegisteredModel{Name: req.Name, Description: req.Description, Tags: kvMap(req.Tags)}
	if err := s.cfg.Store.CreateRegisteredModel(r.Context(), m); err != nil {
		if trainyard.IsCode(err, trainyard.ECONFLICT) {
			return trainyard.Errorf(trainyard.ECONFLICT, "Registered Model (name=%s) already exists.", req.Name)
		}
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

type nameField struct {
	Name string `json:"name"`
}

func (s *Server) mlGetRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req nameField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), req.Name)
	if err != nil {
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) updateRegisteredModel(w http.ResponseWriter, r *http.Request, name string, u trainyard.RegisteredModelUpdate) error {
	if _, err := s.registeredModel(r.Context(), name); err != nil {
		return err
	}
	m, err := s.cfg.Store.UpdateRegisteredModel(r.Context(), name, u)
	if trainyard.IsCode(err, trainyard.ECONFLICT) {
		return trainyard.Errorf(trainyard.ECONFLICT, "Registered Model (name=%s) already exists.", *u.Name)
	}
	if err != nil {
		return err
	}
	return s.writeRegisteredModel(w, r, m)
}

func (s *Server) mlRenameRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    string `json:"name"`
		NewName string `json:"new_name"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("new_name", req.NewName); err != nil {
		return err
	}
	return s.updateRegisteredModel(w, r, req.Name, trainyard.RegisteredModelUpdate{Name: &req.NewName})
}

func (s *Server) mlUpdateRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	return s.updateRegisteredModel(w, r, req.Name, trainyard.RegisteredModelUpdate{Description: req.Description})
}

func (s *Server) mlDeleteRegisteredModel(w http.ResponseWriter, r *http.Request) error {
	var req nameField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if _, err := s.registeredModel(r.Context(), req.Name); err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteRegisteredModel(r.Context(), req.Name); err != nil {
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

type searchRequest struct {
	Filter     string    `json:"filter"`
	MaxResults mlInt     `json:"max_results"`
	OrderBy    mlStrings `json:"order_by"`
	PageToken  string    `json:"page_token"`
}

// parse returns the filter, the order with tie-breakers, the page's
// offset and its size.
func (q *searchRequest) parse(defLimit, maxLimit int, tail ...runquery.OrderTerm) (*runquery.Filter, []runquery.OrderTerm, int, int, error) {
	limit := defLimit
	if q.MaxResults.Set {
		if q.MaxResults.V < 1 || q.MaxResults.V > int64(maxLimit) {
			return nil, nil, 0, 0, trainyard.FieldError("max_results", "Invalid value for max_results: %d. It must be between 1 and %d.", q.MaxResults.V, maxLimit)
		}
		limit = int(q.MaxResults.V)
	}
	offset, err := decodePageToken(q.PageToken)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	filter, err := runquery.Parse(q.Filter)
	if err != nil {
		return nil, nil, 0, 0, trainyard.FieldError("filter", "%v", err)
	}
	order, err := runquery.ParseOrderBy(q.OrderBy)
	if err != nil {
		return nil, nil, 0, 0, trainyard.FieldError("order_by", "%v", err)
	}
	return filter, append(order, tail...), offset, limit, nil
}

func (s *Server) mlSearchRegisteredModels(w http.ResponseWriter, r *http.Request) error {
	var req searchRequest
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	filter, order, offset, limit, err := req.parse(100, 1000, runquery.OrderTerm{Kind: runquery.Attribute, Key: "name"})
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
	lo, hi, next := page(len(hits), offset, limit)
	out := []mlRegisteredModel{}
	for _, m := range hits[lo:hi] {
		rm, err := s.renderRegisteredModel(r.Context(), m)
		if err != nil {
			return err
		}
		out = append(out, rm)
	}
	resp := map[string]any{"registered_models": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mlGetLatestVersions(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name   string    `json:"name"`
		Stages mlStrings `json:"stages"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), req.Name)
	if err != nil {
		return err
	}
	for _, st := range req.Stages {
		if _, err := canonicalStage(st); err != nil {
			return err
		}
	}
	versions, err := s.cfg.Store.ModelVersions(r.Context(), m.Name)
	if err != nil {
		return err
	}
	out := []mlModelVersion{}
	for _, v := range latestPerStage(versions, req.Stages) {
		out = append(out, renderModelVersion(v, m.Aliases))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"model_versions": out})
}

func (s *Server) mlSetRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  string `json:"name"`
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateTag(req.Key, req.Value); err != nil {
		return err
	}
	if err := s.updateRegisteredModel(discard{}, r, req.Name, trainyard.RegisteredModelUpdate{Tags: map[string]string{req.Key: req.Value}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteRegisteredModelTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := s.updateRegisteredModel(discard{}, r, req.Name, trainyard.RegisteredModelUpdate{DeleteTags: []string{req.Key}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// discard is a ResponseWriter for reusing a handler's logic without its
// answer.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

func parseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 {
		return 0, trainyard.FieldError("version", "Parameter 'version' must be an integer, got '%s'.", v)
	}
	return n, nil
}

func (s *Server) mlSetAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name    string `json:"name"`
		Alias   string `json:"alias"`
		Version string `json:"version"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("alias", req.Alias); err != nil {
		return err
	}
	if strings.EqualFold(req.Alias, "latest") || (len(req.Alias) > 1 && (req.Alias[0] == 'v' || req.Alias[0] == 'V') && isDigits(req.Alias[1:])) {
		return trainyard.FieldError("alias", "'%s' alias name (case insensitive) is reserved.", req.Alias)
	}
	v, err := parseVersion(req.Version)
	if err != nil {
		return err
	}
	if _, err := s.modelVersion(r.Context(), req.Name, v); err != nil {
		return err
	}
	if err := s.updateRegisteredModel(discard{}, r, req.Name, trainyard.RegisteredModelUpdate{Aliases: map[string]int64{req.Alias: v}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func (s *Server) mlDeleteAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := s.updateRegisteredModel(discard{}, r, req.Name, trainyard.RegisteredModelUpdate{Aliases: map[string]int64{req.Alias: 0}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlGetByAlias(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Name  string `json:"name"`
		Alias string `json:"alias"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	m, err := s.registeredModel(r.Context(), req.Name)
	if err != nil {
		return err
	}
	v, ok := m.Aliases[req.Alias]
	if !ok {
		return trainyard.Errorf(trainyard.ENOTFOUND, "Registered model alias %s not found.", req.Alias)
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
	var req struct {
		Name        string `json:"name"`
		Source      string `json:"source"`
		RunID       string `json:"run_id"`
		Tags        []mlKV `json:"tags"`
		RunLink     string `json:"run_link"`
		Description string `json:"description"`
		ModelID     string `json:"model_id"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := requireField("source", req.Source); err != nil {
		return err
	}
	if _, err := s.registeredModel(r.Context(), req.Name); err != nil {
		return err
	}
	modelID := req.ModelID
	if id, ok := strings.CutPrefix(req.Source, "models:/"); ok && modelID == "" {
		modelID = strings.SplitN(id, "/", 2)[0]
	}
	if modelID != "" && req.RunID == "" {
		if m, err := s.cfg.Store.LoggedModel(r.Context(), modelID); err == nil {
			req.ModelID, req.RunID = m.ID, m.SourceRunID
		}
	}
	if req.RunID != "" {
		if _, err := s.mlRunOf(r.Context(), req.RunID); err != nil {
			return err
		}
	}
	v := &trainyard.ModelVersion{Name: req.Name, Source: req.Source, RunID: req.RunID, ModelID: req.ModelID,
		RunLink: req.RunLink, Description: req.Description, Tags: kvMap(req.Tags)}
	if err := s.cfg.Store.CreateModelVersion(r.Context(), v); err != nil {
		return err
	}
	return s.writeModelVersion(w, r, v)
}

type versionField struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Server) versionOf(ctx context.Context, f versionField) (*trainyard.ModelVersion, error) {
	if err := requireField("name", f.Name); err != nil {
		return nil, err
	}
	n, err := parseVersion(f.Version)
	if err != nil {
		return nil, err
	}
	return s.modelVersion(ctx, f.Name, n)
}

func (s *Server) mlGetModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req versionField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), req)
	if err != nil {
		return err
	}
	return s.writeModelVersion(w, r, v)
}

func (s *Server) updateVersion(w http.ResponseWriter, r *http.Request, f versionField, u trainyard.ModelVersionUpdate) error {
	v, err := s.versionOf(r.Context(), f)
	if err != nil {
		return err
	}
	if v, err = s.cfg.Store.UpdateModelVersion(r.Context(), v.Name, v.Version, u); err != nil {
		return err
	}
	return s.writeModelVersion(w, r, v)
}

func (s *Server) mlUpdateModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionField
		Description *string `json:"description"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	return s.updateVersion(w, r, req.versionField, trainyard.ModelVersionUpdate{Description: req.Description})
}

func (s *Server) mlTransitionStage(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionField
		Stage   string `json:"stage"`
		Archive mlBool `json:"archive_existing_versions"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	st, err := canonicalStage(req.Stage)
	if err != nil {
		return err
	}
	return s.updateVersion(w, r, req.versionField, trainyard.ModelVersionUpdate{Stage: &st, ArchiveOthers: bool(req.Archive)})
}

func (s *Server) mlDeleteModelVersion(w http.ResponseWriter, r *http.Request) error {
	var req versionField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), req)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteModelVersion(r.Context(), v.Name, v.Version); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlSetModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionField
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := validateTag(req.Key, req.Value); err != nil {
		return err
	}
	if err := s.updateVersion(discard{}, r, req.versionField, trainyard.ModelVersionUpdate{Tags: map[string]string{req.Key: req.Value}}); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteModelVersionTag(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		versionField
		Key string `json:"key"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	if err := s.updateVersion(discard{}, r, req.versionField, trainyard.ModelVersionUpdate{DeleteTags: []string{req.Key}}); err != nil {
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
	var req searchRequest
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	filter, order, offset, limit, err := req.parse(10000, 200000,
		runquery.OrderTerm{Kind: runquery.Attribute, Key: "name"}, runquery.OrderTerm{Kind: runquery.Attribute, Key: "version_number", Desc: true})
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
	lo, hi, next := page(len(hits), offset, limit)
	aliases := map[string]map[string]int64{}
	out := []mlModelVersion{}
	for _, v := range hits[lo:hi] {
		a, ok := aliases[v.Name]
		if !ok {
			if m, err := s.cfg.Store.RegisteredModel(r.Context(), v.Name); err == nil {
				a = m.Aliases
			}
			aliases[v.Name] = a
		}
		out = append(out, renderModelVersion(v, a))
	}
	resp := map[string]any{"model_versions": out}
	if next != "" {
		resp["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, resp)
}

// mlGetDownloadURI resolves a version's source to the artifact URI its
// files can be downloaded from.
func (s *Server) mlGetDownloadURI(w http.ResponseWriter, r *http.Request) error {
	var req versionField
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	v, err := s.versionOf(r.Context(), req)
	if err != nil {
		return err
	}
	uri, err := s.resolveSource(r.Context(), v.Source)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"artifact_uri": uri})
}

func (s *Server) resolveSource(ctx context.Context, src string) (string, error) {
	switch {
	case strings.HasPrefix(src, "models:/"):
		id := strings.SplitN(strings.TrimPrefix(src, "models:/"), "/", 2)[0]
		m, err := s.cfg.Store.LoggedModel(ctx, id)
		if err != nil {
			return src, nil // a registry URI (models:/name/1): the client resolves it
		}
		return m.ArtifactLocation, nil
	case strings.HasPrefix(src, "runs:/"):
		rest := strings.TrimPrefix(src, "runs:/")
		id, p, _ := strings.Cut(rest, "/")
		run, err := s.mlRunOf(ctx, id)
		if err != nil {
			return "", err
		}
		expID, err := s.experimentIDOf(ctx, run.Project)
		if err != nil {
			return "", err
		}
		uri := runArtifactURI(expID, run.ID)
		if p != "" {
			uri += "/" + p
		}
		return uri, nil
	}
	return src, nil
}
