package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

var (
	_ trainyard.RegistryStore    = (*Store)(nil)
	_ trainyard.LoggedModelStore = (*Store)(nil)
)

const registeredModelColumns = `name, description, tags, aliases, created_at, updated_at`

func scanRegisteredModel(sc scanner) (*trainyard.RegisteredModel, error) {
	var m trainyard.RegisteredModel
	var tags, aliases string
	var created, updated int64
	if err := sc.Scan(&m.Name, &m.Description, &tags, &aliases, &created, &updated); err != nil {
		return nil, err
	}
	if err := decodeJSONColumns(m.Name, tags, &m.Tags, aliases, &m.Aliases); err != nil {
		return nil, err
	}
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	if m.Aliases == nil {
		m.Aliases = map[string]int64{}
	}
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &m, nil
}

func decodeJSONColumns(what string, pairs ...any) error {
	for i := 0; i < len(pairs); i += 2 {
		if err := json.Unmarshal([]byte(pairs[i].(string)), pairs[i+1]); err != nil {
			return fmt.Errorf("decode %s: %w", what, err)
		}
	}
	return nil
}

func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// CreateRegisteredModel stores a new registered model.
func (s *Store) CreateRegisteredModel(ctx context.Context, m *trainyard.RegisteredModel) error {
	now := s.now()
	tags, _ := json.Marshal(orEmptyStrMap(m.Tags))
	_, err := s.w.ExecContext(ctx, `INSERT INTO registered_models (name, description, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		m.Name, m.Description, tags, toMicros(now), toMicros(now))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "registered model %q already exists", m.Name)
	}
	if err != nil {
		return fmt.Errorf("insert registered model %q: %w", m.Name, err)
	}
	m.CreatedAt, m.UpdatedAt = now, now
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	m.Aliases = map[string]int64{}
	return nil
}

// RegisteredModel returns one registered model.
func (s *Store) RegisteredModel(ctx context.Context, name string) (*trainyard.RegisteredModel, error) {
	return registeredModel(ctx, s.r, name)
}

func registeredModel(ctx context.Context, q querier, name string) (*trainyard.RegisteredModel, error) {
	m, err := scanRegisteredModel(q.QueryRowContext(ctx, `SELECT `+registeredModelColumns+` FROM registered_models WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", name)
	}
	return m, err
}

// RegisteredModels lists every registered model by name.
func (s *Store) RegisteredModels(ctx context.Context) ([]*trainyard.RegisteredModel, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+registeredModelColumns+` FROM registered_models ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list registered models: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.RegisteredModel
	for rows.Next() {
		m, err := scanRegisteredModel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateRegisteredModel renames, describes, tags or aliases a model.
func (s *Store) UpdateRegisteredModel(ctx context.Context, name string, u trainyard.RegisteredModelUpdate) (*trainyard.RegisteredModel, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	m, err := registeredModel(ctx, tx, name)
	if err != nil {
		return nil, err
	}
	if u.Description != nil {
		m.Description = *u.Description
	}
	for k, v := range u.Tags {
		m.Tags[k] = v
	}
	for _, k := range u.DeleteTags {
		delete(m.Tags, k)
	}
	for alias, v := range u.Aliases {
		if v == 0 {
			delete(m.Aliases, alias)
			continue
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM model_versions WHERE name = ? AND version = ?`, name, v).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return nil, trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q has no version %d", name, v)
		} else if err != nil {
			return nil, err
		}
		m.Aliases[alias] = v
	}
	if u.Name != nil || u.Description != nil { // tags and aliases leave the time alone, as in MLflow
		m.UpdatedAt = s.now()
	}
	if u.Name != nil {
		m.Name = *u.Name
	}
	tags, _ := json.Marshal(m.Tags)
	aliases, _ := json.Marshal(m.Aliases)
	_, err = tx.ExecContext(ctx, `UPDATE registered_models SET name = ?, description = ?, tags = ?, aliases = ?, updated_at = ? WHERE name = ?`,
		m.Name, m.Description, tags, aliases, toMicros(m.UpdatedAt), name)
	if isUniqueViolation(err) {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "registered model %q already exists", m.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update registered model %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit registered model %q: %w", name, err)
	}
	return m, nil
}

// DeleteRegisteredModel removes a model and its versions.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM registered_models WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete registered model %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", name)
	}
	return nil
}

const modelVersionColumns = `name, version, source, run_id, model_id, run_link, stage, description, tags, created_at, updated_at`

func scanModelVersion(sc scanner) (*trainyard.ModelVersion, error) {
	var v trainyard.ModelVersion
	var tags string
	var created, updated int64
	if err := sc.Scan(&v.Name, &v.Version, &v.Source, &v.RunID, &v.ModelID, &v.RunLink, &v.Stage, &v.Description, &tags, &created, &updated); err != nil {
		return nil, err
	}
	if err := decodeJSONColumns(v.Name, tags, &v.Tags); err != nil {
		return nil, err
	}
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	v.CreatedAt, v.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &v, nil
}

// CreateModelVersion stores the model's next version.
func (s *Store) CreateModelVersion(ctx context.Context, v *trainyard.ModelVersion) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var next int64
	err = tx.QueryRowContext(ctx, `SELECT next_version FROM registered_models WHERE name = ?`, v.Name).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", v.Name)
	}
	if err != nil {
		return fmt.Errorf("look up registered model %q: %w", v.Name, err)
	}
	now := s.now()
	if v.Stage == "" {
		v.Stage = trainyard.StageNone
	}
	tags, _ := json.Marshal(orEmptyStrMap(v.Tags))
	if _, err := tx.ExecContext(ctx, `INSERT INTO model_versions (`+modelVersionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Name, next, v.Source, v.RunID, v.ModelID, v.RunLink, v.Stage, v.Description, tags, toMicros(now), toMicros(now)); err != nil {
		return fmt.Errorf("insert version of %q: %w", v.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE registered_models SET next_version = ?, updated_at = ? WHERE name = ?`, next+1, toMicros(now), v.Name); err != nil {
		return fmt.Errorf("update registered model %q: %w", v.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit version of %q: %w", v.Name, err)
	}
	v.Version, v.CreatedAt, v.UpdatedAt = next, now, now
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	return nil
}

// ModelVersion returns one version.
func (s *Store) ModelVersion(ctx context.Context, name string, version int64) (*trainyard.ModelVersion, error) {
	return modelVersion(ctx, s.r, name, version)
}

func modelVersion(ctx context.Context, q querier, name string, version int64) (*trainyard.ModelVersion, error) {
	v, err := scanModelVersion(q.QueryRowContext(ctx, `SELECT `+modelVersionColumns+` FROM model_versions WHERE name = ? AND version = ?`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "model version %d of %q not found", version, name)
	}
	return v, err
}

// ModelVersions lists versions by name and version.
func (s *Store) ModelVersions(ctx context.Context, name string) ([]*trainyard.ModelVersion, error) {
	q, args := `SELECT `+modelVersionColumns+` FROM model_versions`, []any{}
	if name != "" {
		q += ` WHERE name = ?`
		args = append(args, name)
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY name, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("list model versions: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.ModelVersion
	for rows.Next() {
		v, err := scanModelVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateModelVersion describes, stages or tags a version.
func (s *Store) UpdateModelVersion(ctx context.Context, name string, version int64, u trainyard.ModelVersionUpdate) (*trainyard.ModelVersion, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	v, err := modelVersion(ctx, tx, name, version)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if u.Description != nil {
		v.Description = *u.Description
	}
	if u.Stage != nil {
		v.Stage = *u.Stage
		if u.ArchiveOthers && v.Stage != trainyard.StageNone && v.Stage != trainyard.StageArchived {
			if _, err := tx.ExecContext(ctx, `UPDATE model_versions SET stage = ?, updated_at = ? WHERE name = ? AND stage = ? AND version != ?`,
				trainyard.StageArchived, toMicros(now), name, v.Stage, version); err != nil {
				return nil, fmt.Errorf("archive versions of %q: %w", name, err)
			}
		}
	}
	for k, val := range u.Tags {
		v.Tags[k] = val
	}
	for _, k := range u.DeleteTags {
		delete(v.Tags, k)
	}
	if u.Description != nil || u.Stage != nil { // tags leave the time alone, as in MLflow
		v.UpdatedAt = now
	}
	tags, _ := json.Marshal(v.Tags)
	if _, err := tx.ExecContext(ctx, `UPDATE model_versions SET stage = ?, description = ?, tags = ?, updated_at = ? WHERE name = ? AND version = ?`,
		v.Stage, v.Description, tags, toMicros(v.UpdatedAt), name, version); err != nil {
		return nil, fmt.Errorf("update version %d of %q: %w", version, name, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit version %d of %q: %w", version, name, err)
	}
	return v, nil
}

// DeleteModelVersion removes a version and its aliases.
func (s *Store) DeleteModelVersion(ctx context.Context, name string, version int64) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM model_versions WHERE name = ? AND version = ?`, name, version)
	if err != nil {
		return fmt.Errorf("delete version %d of %q: %w", version, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "model version %d of %q not found", version, name)
	}
	m, err := registeredModel(ctx, tx, name)
	if err != nil {
		return err
	}
	for a, v := range m.Aliases {
		if v == version {
			delete(m.Aliases, a)
		}
	}
	aliases, _ := json.Marshal(m.Aliases)
	if _, err := tx.ExecContext(ctx, `UPDATE registered_models SET aliases = ?, updated_at = ? WHERE name = ?`, aliases, toMicros(s.now()), name); err != nil {
		return fmt.Errorf("update aliases of %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit deletion of version %d of %q: %w", version, name, err)
	}
	return nil
}

const loggedModelColumns = `id, experiment_id, name, artifact_location, status, status_message, source_run_id, model_type, tags, params, deleted, created_at, updated_at, metrics`

func scanLoggedModel(sc scanner) (*trainyard.LoggedModel, error) {
	var m trainyard.LoggedModel
	var tags, params, metrics string
	var created, updated int64
	if err := sc.Scan(&m.ID, &m.ExperimentID, &m.Name, &m.ArtifactLocation, &m.Status, &m.StatusMessage, &m.SourceRunID, &m.ModelType,
		&tags, &params, &m.Deleted, &created, &updated, &metrics); err != nil {
		return nil, err
	}
	if err := decodeJSONColumns("logged model "+m.ID, tags, &m.Tags, params, &m.Params, metrics, &m.Metrics); err != nil {
		return nil, err
	}
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	if m.Params == nil {
		m.Params = map[string]string{}
	}
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &m, nil
}

// CreateLoggedModel stores a new logged model.
func (s *Store) CreateLoggedModel(ctx context.Context, m *trainyard.LoggedModel) error {
	now := s.now()
	tags, _ := json.Marshal(orEmptyStrMap(m.Tags))
	params, _ := json.Marshal(orEmptyStrMap(m.Params))
	_, err := s.w.ExecContext(ctx, `INSERT INTO logged_models (`+loggedModelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, '[]')`,
		m.ID, m.ExperimentID, m.Name, m.ArtifactLocation, m.Status, m.StatusMessage, m.SourceRunID, m.ModelType, tags, params, toMicros(now), toMicros(now))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "logged model %s already exists", m.ID)
	}
	if err != nil {
		return fmt.Errorf("insert logged model %s: %w", m.ID, err)
	}
	m.CreatedAt, m.UpdatedAt = now, now
	if m.Tags == nil {
		m.Tags = map[string]string{}
	}
	if m.Params == nil {
		m.Params = map[string]string{}
	}
	return nil
}

// LoggedModel returns one logged model.
func (s *Store) LoggedModel(ctx context.Context, id string) (*trainyard.LoggedModel, error) {
	return loggedModel(ctx, s.r, id)
}

func loggedModel(ctx context.Context, q querier, id string) (*trainyard.LoggedModel, error) {
	m, err := scanLoggedModel(q.QueryRowContext(ctx, `SELECT `+loggedModelColumns+` FROM logged_models WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "logged model %s not found", id)
	}
	return m, err
}

// LoggedModels lists live logged models, newest first.
func (s *Store) LoggedModels(ctx context.Context, experimentIDs []string) ([]*trainyard.LoggedModel, error) {
	q, args := `SELECT `+loggedModelColumns+` FROM logged_models WHERE deleted = 0`, []any{}
	if len(experimentIDs) > 0 {
		q += ` AND experiment_id IN (?` + strings.Repeat(",?", len(experimentIDs)-1) + `)`
		for _, id := range experimentIDs {
			args = append(args, id)
		}
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list logged models: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.LoggedModel
	for rows.Next() {
		m, err := scanLoggedModel(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// UpdateLoggedModel changes a logged model's status, tags, params or
// lifecycle.
func (s *Store) UpdateLoggedModel(ctx context.Context, id string, u trainyard.LoggedModelUpdate) (*trainyard.LoggedModel, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	m, err := loggedModel(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if u.Status != nil {
		m.Status = *u.Status
	}
	if u.StatusMessage != nil {
		m.StatusMessage = *u.StatusMessage
	}
	for k, v := range u.Tags {
		m.Tags[k] = v
	}
	for _, k := range u.DeleteTags {
		delete(m.Tags, k)
	}
	for k, v := range u.Params {
		m.Params[k] = v
	}
	for _, p := range u.AddMetrics {
		if !slices.ContainsFunc(m.Metrics, func(q trainyard.ModelMetric) bool { return sameModelMetric(p, q) }) {
			m.Metrics = append(m.Metrics, p)
		}
	}
	if u.Deleted != nil {
		m.Deleted = *u.Deleted
	}
	m.UpdatedAt = s.now()
	tags, _ := json.Marshal(m.Tags)
	params, _ := json.Marshal(m.Params)
	metrics, err := json.Marshal(orEmptyModelMetrics(m.Metrics))
	if err != nil {
		return nil, fmt.Errorf("encode metrics of logged model %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE logged_models SET status = ?, status_message = ?, tags = ?, params = ?, metrics = ?, deleted = ?, updated_at = ? WHERE id = ?`,
		m.Status, m.StatusMessage, tags, params, metrics, m.Deleted, toMicros(m.UpdatedAt), id); err != nil {
		return nil, fmt.Errorf("update logged model %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit logged model %s: %w", id, err)
	}
	return m, nil
}

func orEmptyModelMetrics(m []trainyard.ModelMetric) []trainyard.ModelMetric {
	if m == nil {
		return []trainyard.ModelMetric{}
	}
	return m
}

// sameModelMetric reports whether two model metrics are the same point
// (NaN values equal), as MLflow's store keys them.
func sameModelMetric(a, b trainyard.ModelMetric) bool {
	av, bv := float64(a.Value), float64(b.Value)
	return a.Key == b.Key && a.Timestamp == b.Timestamp && a.Step == b.Step && a.RunID == b.RunID &&
		a.DatasetName == b.DatasetName && a.DatasetDigest == b.DatasetDigest && (av == bv || av != av && bv != bv)
}
