package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
)

var (
	_ trainyard.RegistryStore    = (*Store)(nil)
	_ trainyard.LoggedModelStore = (*Store)(nil)
)

const registeredModelColumns = `name, description, tags, aliases, created_at, updated_at`

func scanRegisteredModel(row pgx.Row) (*trainyard.RegisteredModel, error) {
	var m trainyard.RegisteredModel
	var tags, aliases string
	var created, updated int64
	if err := row.Scan(&m.Name, &m.Description, &tags, &aliases, &created, &updated); err != nil {
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

// CreateRegisteredModel stores a new registered model.
func (s *Store) CreateRegisteredModel(ctx context.Context, m *trainyard.RegisteredModel) error {
	now := s.now()
	tags, _ := json.Marshal(orEmptyStrMap(m.Tags))
	_, err := s.pool.Exec(ctx, `INSERT INTO registered_models (name, description, tags, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)`,
		m.Name, m.Description, string(tags), toMicros(now))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "registered model %q already exists", m.Name)
	}
	if err != nil {
		return wrap(err, "insert registered model %q", m.Name)
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
	return registeredModel(ctx, s.pool, name, "")
}

func registeredModel(ctx context.Context, q rowQuerierOne, name, lock string) (*trainyard.RegisteredModel, error) {
	m, err := scanRegisteredModel(q.QueryRow(ctx, `SELECT `+registeredModelColumns+` FROM registered_models WHERE name = $1`+lock, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", name)
	}
	return m, wrap(err, "read registered model %q", name)
}

// RegisteredModels lists every registered model by name.
func (s *Store) RegisteredModels(ctx context.Context) ([]*trainyard.RegisteredModel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+registeredModelColumns+` FROM registered_models ORDER BY name`)
	if err != nil {
		return nil, wrap(err, "list registered models")
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
	return out, wrap(rows.Err(), "list registered models")
}

// UpdateRegisteredModel renames, describes, tags or aliases a model.
func (s *Store) UpdateRegisteredModel(ctx context.Context, name string, u trainyard.RegisteredModelUpdate) (*trainyard.RegisteredModel, error) {
	var m *trainyard.RegisteredModel
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = registeredModel(ctx, tx, name, " FOR UPDATE"); err != nil {
			return err
		}
		if u.Description != nil {
			m.Description = *u.Description
		}
		maps.Copy(m.Tags, u.Tags)
		for _, k := range u.DeleteTags {
			delete(m.Tags, k)
		}
		for alias, v := range u.Aliases {
			if v == 0 {
				delete(m.Aliases, alias)
				continue
			}
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM model_versions WHERE name = $1 AND version = $2`, name, v).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q has no version %d", name, v)
			} else if err != nil {
				return wrap(err, "read version %d of %q", v, name)
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
		_, err = tx.Exec(ctx, `UPDATE registered_models SET name = $1, description = $2, tags = $3, aliases = $4, updated_at = $5 WHERE name = $6`,
			m.Name, m.Description, string(tags), string(aliases), toMicros(m.UpdatedAt), name)
		if isUniqueViolation(err) {
			return trainyard.Errorf(trainyard.ECONFLICT, "registered model %q already exists", m.Name)
		}
		return wrap(err, "update registered model %q", name)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// DeleteRegisteredModel removes a model and its versions.
func (s *Store) DeleteRegisteredModel(ctx context.Context, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM registered_models WHERE name = $1`, name)
	if err != nil {
		return wrap(err, "delete registered model %q", name)
	}
	if tag.RowsAffected() == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", name)
	}
	return nil
}

const modelVersionColumns = `name, version, source, run_id, model_id, run_link, stage, description, tags, created_at, updated_at`

func scanModelVersion(row pgx.Row) (*trainyard.ModelVersion, error) {
	var v trainyard.ModelVersion
	var tags string
	var created, updated int64
	if err := row.Scan(&v.Name, &v.Version, &v.Source, &v.RunID, &v.ModelID, &v.RunLink, &v.Stage, &v.Description, &tags, &created, &updated); err != nil {
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
	now := s.now()
	if v.Stage == "" {
		v.Stage = trainyard.StageNone
	}
	var next int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE registered_models SET next_version = next_version + 1, updated_at = $1 WHERE name = $2 RETURNING next_version - 1`,
			toMicros(now), v.Name).Scan(&next)
		if errors.Is(err, pgx.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "registered model %q not found", v.Name)
		}
		if err != nil {
			return wrap(err, "look up registered model %q", v.Name)
		}
		tags, _ := json.Marshal(orEmptyStrMap(v.Tags))
		_, err = tx.Exec(ctx, `INSERT INTO model_versions (`+modelVersionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
			v.Name, next, v.Source, v.RunID, v.ModelID, v.RunLink, v.Stage, v.Description, string(tags), toMicros(now))
		return wrap(err, "insert version of %q", v.Name)
	})
	if err != nil {
		return err
	}
	v.Version, v.CreatedAt, v.UpdatedAt = next, now, now
	if v.Tags == nil {
		v.Tags = map[string]string{}
	}
	return nil
}

// ModelVersion returns one version.
func (s *Store) ModelVersion(ctx context.Context, name string, version int64) (*trainyard.ModelVersion, error) {
	return modelVersion(ctx, s.pool, name, version, "")
}

func modelVersion(ctx context.Context, q rowQuerierOne, name string, version int64, lock string) (*trainyard.ModelVersion, error) {
	v, err := scanModelVersion(q.QueryRow(ctx, `SELECT `+modelVersionColumns+` FROM model_versions WHERE name = $1 AND version = $2`+lock, name, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "model version %d of %q not found", version, name)
	}
	return v, wrap(err, "read version %d of %q", version, name)
}

// ModelVersions lists versions by name and version.
func (s *Store) ModelVersions(ctx context.Context, name string) ([]*trainyard.ModelVersion, error) {
	q, args := `SELECT `+modelVersionColumns+` FROM model_versions`, []any{}
	if name != "" {
		q += ` WHERE name = $1`
		args = append(args, name)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY name, version`, args...)
	if err != nil {
		return nil, wrap(err, "list model versions")
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
	return out, wrap(rows.Err(), "list model versions")
}

// UpdateModelVersion describes, stages or tags a version.
func (s *Store) UpdateModelVersion(ctx context.Context, name string, version int64, u trainyard.ModelVersionUpdate) (*trainyard.ModelVersion, error) {
	var v *trainyard.ModelVersion
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if v, err = modelVersion(ctx, tx, name, version, " FOR UPDATE"); err != nil {
			return err
		}
		now := s.now()
		if u.Description != nil {
			v.Description = *u.Description
		}
		if u.Stage != nil {
			v.Stage = *u.Stage
			if u.ArchiveOthers && v.Stage != trainyard.StageNone && v.Stage != trainyard.StageArchived {
				if _, err := tx.Exec(ctx, `UPDATE model_versions SET stage = $1, updated_at = $2 WHERE name = $3 AND stage = $4 AND version != $5`,
					trainyard.StageArchived, toMicros(now), name, v.Stage, version); err != nil {
					return wrap(err, "archive versions of %q", name)
				}
			}
		}
		maps.Copy(v.Tags, u.Tags)
		for _, k := range u.DeleteTags {
			delete(v.Tags, k)
		}
		if u.Description != nil || u.Stage != nil { // tags leave the time alone, as in MLflow
			v.UpdatedAt = now
		}
		tags, _ := json.Marshal(v.Tags)
		_, err = tx.Exec(ctx, `UPDATE model_versions SET stage = $1, description = $2, tags = $3, updated_at = $4 WHERE name = $5 AND version = $6`,
			v.Stage, v.Description, string(tags), toMicros(v.UpdatedAt), name, version)
		return wrap(err, "update version %d of %q", version, name)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DeleteModelVersion removes a version and its aliases.
func (s *Store) DeleteModelVersion(ctx context.Context, name string, version int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM model_versions WHERE name = $1 AND version = $2`, name, version)
		if err != nil {
			return wrap(err, "delete version %d of %q", version, name)
		}
		if tag.RowsAffected() == 0 {
			return trainyard.Errorf(trainyard.ENOTFOUND, "model version %d of %q not found", version, name)
		}
		m, err := registeredModel(ctx, tx, name, " FOR UPDATE")
		if err != nil {
			return err
		}
		for a, v := range m.Aliases {
			if v == version {
				delete(m.Aliases, a)
			}
		}
		aliases, _ := json.Marshal(m.Aliases)
		_, err = tx.Exec(ctx, `UPDATE registered_models SET aliases = $1, updated_at = $2 WHERE name = $3`, string(aliases), toMicros(s.now()), name)
		return wrap(err, "update aliases of %q", name)
	})
}

const loggedModelColumns = `id, experiment_id, name, artifact_location, status, status_message, source_run_id, model_type, tags, params, deleted, created_at, updated_at, metrics`

func scanLoggedModel(row pgx.Row) (*trainyard.LoggedModel, error) {
	var m trainyard.LoggedModel
	var tags, params, metrics string
	var created, updated int64
	if err := row.Scan(&m.ID, &m.ExperimentID, &m.Name, &m.ArtifactLocation, &m.Status, &m.StatusMessage, &m.SourceRunID, &m.ModelType,
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
	_, err := s.pool.Exec(ctx, `INSERT INTO logged_models (`+loggedModelColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, false, $11, $11, '[]')`,
		m.ID, m.ExperimentID, m.Name, m.ArtifactLocation, m.Status, m.StatusMessage, m.SourceRunID, m.ModelType, string(tags), string(params), toMicros(now))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "logged model %s already exists", m.ID)
	}
	if err != nil {
		return wrap(err, "insert logged model %s", m.ID)
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
	return loggedModel(ctx, s.pool, id, "")
}

func loggedModel(ctx context.Context, q rowQuerierOne, id, lock string) (*trainyard.LoggedModel, error) {
	m, err := scanLoggedModel(q.QueryRow(ctx, `SELECT `+loggedModelColumns+` FROM logged_models WHERE id = $1`+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "logged model %s not found", id)
	}
	return m, wrap(err, "read logged model %s", id)
}

// LoggedModels lists live logged models, newest first.
func (s *Store) LoggedModels(ctx context.Context, experimentIDs []string) ([]*trainyard.LoggedModel, error) {
	q, args := `SELECT `+loggedModelColumns+` FROM logged_models WHERE NOT deleted`, []any{}
	if len(experimentIDs) > 0 {
		q += ` AND experiment_id = ANY($1)`
		args = append(args, experimentIDs)
	}
	rows, err := s.pool.Query(ctx, q+` ORDER BY created_at DESC, id`, args...)
	if err != nil {
		return nil, wrap(err, "list logged models")
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
	return out, wrap(rows.Err(), "list logged models")
}

// UpdateLoggedModel changes a logged model's status, tags, params or
// lifecycle.
func (s *Store) UpdateLoggedModel(ctx context.Context, id string, u trainyard.LoggedModelUpdate) (*trainyard.LoggedModel, error) {
	var m *trainyard.LoggedModel
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if m, err = loggedModel(ctx, tx, id, " FOR UPDATE"); err != nil {
			return err
		}
		if u.Status != nil {
			m.Status = *u.Status
		}
		if u.StatusMessage != nil {
			m.StatusMessage = *u.StatusMessage
		}
		maps.Copy(m.Tags, u.Tags)
		for _, k := range u.DeleteTags {
			delete(m.Tags, k)
		}
		maps.Copy(m.Params, u.Params)
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
		metrics := []byte("[]")
		if len(m.Metrics) > 0 {
			if metrics, err = json.Marshal(m.Metrics); err != nil {
				return fmt.Errorf("encode metrics of logged model %s: %w", id, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE logged_models SET status = $1, status_message = $2, tags = $3, params = $4, metrics = $5, deleted = $6, updated_at = $7 WHERE id = $8`,
			m.Status, m.StatusMessage, string(tags), string(params), string(metrics), m.Deleted, toMicros(m.UpdatedAt), id)
		return wrap(err, "update logged model %s", id)
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// sameModelMetric reports whether two model metrics are the same point
// (NaN values equal), as MLflow's store keys them.
func sameModelMetric(a, b trainyard.ModelMetric) bool {
	av, bv := float64(a.Value), float64(b.Value)
	return a.Key == b.Key && a.Timestamp == b.Timestamp && a.Step == b.Step && a.RunID == b.RunID &&
		a.DatasetName == b.DatasetName && a.DatasetDigest == b.DatasetDigest && (av == bv || av != av && bv != bv)
}
