package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

var _ trainyard.TrackingStore = (*Store)(nil)

const migrationTracking = `
	ALTER TABLE runs ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
	CREATE TABLE experiments (
		id INTEGER PRIMARY KEY,
		name TEXT NOT NULL UNIQUE,
		artifact_location TEXT NOT NULL DEFAULT '',
		deleted INTEGER NOT NULL DEFAULT 0,
		tags TEXT NOT NULL DEFAULT '{}',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	INSERT INTO experiments (id, name, created_at, updated_at)
		VALUES (0, 'default', CAST(strftime('%s', 'now') AS INTEGER) * 1000000, CAST(strftime('%s', 'now') AS INTEGER) * 1000000);
	INSERT OR IGNORE INTO experiments (name, created_at, updated_at)
		SELECT project, min(created_at), min(created_at) FROM runs GROUP BY project ORDER BY min(created_at);
	CREATE TABLE run_io (
		run_id TEXT PRIMARY KEY REFERENCES runs(id),
		data TEXT NOT NULL
	);
	CREATE TABLE registered_models (
		name TEXT PRIMARY KEY,
		description TEXT NOT NULL DEFAULT '',
		tags TEXT NOT NULL DEFAULT '{}',
		aliases TEXT NOT NULL DEFAULT '{}',
		next_version INTEGER NOT NULL DEFAULT 1,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE TABLE model_versions (
		name TEXT NOT NULL REFERENCES registered_models(name) ON UPDATE CASCADE ON DELETE CASCADE,
		version INTEGER NOT NULL,
		source TEXT NOT NULL,
		run_id TEXT NOT NULL DEFAULT '',
		model_id TEXT NOT NULL DEFAULT '',
		run_link TEXT NOT NULL DEFAULT '',
		stage TEXT NOT NULL DEFAULT 'None',
		description TEXT NOT NULL DEFAULT '',
		tags TEXT NOT NULL DEFAULT '{}',
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (name, version)
	);
	CREATE TABLE logged_models (
		id TEXT PRIMARY KEY,
		experiment_id TEXT NOT NULL,
		name TEXT NOT NULL,
		artifact_location TEXT NOT NULL,
		status TEXT NOT NULL,
		status_message TEXT NOT NULL DEFAULT '',
		source_run_id TEXT NOT NULL DEFAULT '',
		model_type TEXT NOT NULL DEFAULT '',
		tags TEXT NOT NULL DEFAULT '{}',
		params TEXT NOT NULL DEFAULT '{}',
		deleted INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	);
	CREATE INDEX logged_models_experiment ON logged_models(experiment_id, created_at DESC);`

// ensureExperiment creates the experiment row of a project the first time
// one of its runs is stored.
func ensureExperiment(ctx context.Context, tx execer, project string, at time.Time) error {
	us := toMicros(at)
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO experiments (name, created_at, updated_at) VALUES (?, ?, ?)`, project, us, us); err != nil {
		return fmt.Errorf("create experiment of project %q: %w", project, err)
	}
	return nil
}

func viewWhere(v trainyard.View) string {
	switch v {
	case trainyard.ViewDeleted:
		return "deleted = 1"
	case trainyard.ViewAll:
		return ""
	}
	return "deleted = 0"
}

const experimentColumns = `id, name, artifact_location, deleted, tags, created_at, updated_at`

func scanExperiment(sc scanner) (*trainyard.Experiment, error) {
	var (
		id               int64
		tags             string
		created, updated int64
	)
	x := &trainyard.Experiment{}
	if err := sc.Scan(&id, &x.Name, &x.ArtifactLocation, &x.Deleted, &tags, &created, &updated); err != nil {
		return nil, err
	}
	x.ID = strconv.FormatInt(id, 10)
	if err := json.Unmarshal([]byte(tags), &x.Tags); err != nil {
		return nil, fmt.Errorf("decode tags of experiment %s: %w", x.ID, err)
	}
	if x.Tags == nil {
		x.Tags = map[string]string{}
	}
	x.CreatedAt, x.UpdatedAt = fromMicros(created), fromMicros(updated)
	return x, nil
}

// CreateExperiment stores a new experiment.
func (s *Store) CreateExperiment(ctx context.Context, x *trainyard.Experiment) error {
	now := s.clock().UTC().Truncate(time.Microsecond)
	tags, _ := json.Marshal(orEmptyStrMap(x.Tags))
	res, err := s.w.ExecContext(ctx, `INSERT INTO experiments (name, artifact_location, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		x.Name, x.ArtifactLocation, tags, toMicros(now), toMicros(now))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "experiment %q already exists", x.Name)
	}
	if err != nil {
		return fmt.Errorf("insert experiment %q: %w", x.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	x.ID = strconv.FormatInt(id, 10)
	x.CreatedAt, x.UpdatedAt = now, now
	if x.Tags == nil {
		x.Tags = map[string]string{}
	}
	return nil
}

func experimentKey(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %q not found", id)
	}
	return n, nil
}

// Experiment returns one experiment.
func (s *Store) Experiment(ctx context.Context, id string) (*trainyard.Experiment, error) {
	n, err := experimentKey(id)
	if err != nil {
		return nil, err
	}
	x, err := scanExperiment(s.r.QueryRowContext(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE id = ?`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %s not found", id)
	}
	return x, err
}

// ExperimentByName returns one experiment.
func (s *Store) ExperimentByName(ctx context.Context, name string) (*trainyard.Experiment, error) {
	x, err := scanExperiment(s.r.QueryRowContext(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %q not found", name)
	}
	return x, err
}

// Experiments lists experiments, oldest first.
func (s *Store) Experiments(ctx context.Context, view trainyard.View) ([]*trainyard.Experiment, error) {
	q := `SELECT ` + experimentColumns + ` FROM experiments`
	if w := viewWhere(view); w != "" {
		q += " WHERE " + w
	}
	rows, err := s.r.QueryContext(ctx, q+" ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.Experiment
	for rows.Next() {
		x, err := scanExperiment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// UpdateExperiment renames, tags, deletes or restores an experiment; a
// rename moves the project's runs and jobs, a deletion its runs.
func (s *Store) UpdateExperiment(ctx context.Context, id string, u trainyard.ExperimentUpdate) (*trainyard.Experiment, error) {
	n, err := experimentKey(id)
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	x, err := scanExperiment(tx.QueryRowContext(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE id = ?`, n))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	old := x.Name
	if u.Name != nil && *u.Name != old {
		x.Name = *u.Name
		// Role bindings and token limits follow the project (a binding the
		// new name already has is kept).
		for _, q := range []string{`UPDATE runs SET project = ? WHERE project = ?`, `UPDATE jobs SET project = ? WHERE project = ?`,
			`UPDATE OR IGNORE user_roles SET project = ? WHERE project = ?`, `UPDATE tokens SET project = ? WHERE project = ?`} {
			if _, err := tx.ExecContext(ctx, q, x.Name, old); err != nil {
				return nil, fmt.Errorf("rename experiment %s: %w", id, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM user_roles WHERE project = ?`, old); err != nil {
			return nil, fmt.Errorf("rename experiment %s: %w", id, err)
		}
	}
	for k, v := range u.Tags {
		x.Tags[k] = v
	}
	for _, k := range u.DeleteTags {
		delete(x.Tags, k)
	}
	if u.Deleted != nil && *u.Deleted != x.Deleted {
		x.Deleted = *u.Deleted
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET deleted = ? WHERE project = ?`, x.Deleted, x.Name); err != nil {
			return nil, fmt.Errorf("mark runs of experiment %s: %w", id, err)
		}
	}
	x.UpdatedAt = s.clock().UTC().Truncate(time.Microsecond)
	tags, _ := json.Marshal(x.Tags)
	_, err = tx.ExecContext(ctx, `UPDATE experiments SET name = ?, tags = ?, deleted = ?, updated_at = ? WHERE id = ?`,
		x.Name, tags, x.Deleted, toMicros(x.UpdatedAt), n)
	if isUniqueViolation(err) {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "experiment %q already exists", x.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update experiment %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit experiment %s: %w", id, err)
	}
	if u.Name != nil || u.Deleted != nil {
		s.index.reset()
	}
	return x, nil
}

// SetRunDeleted marks a run deleted or live.
func (s *Store) SetRunDeleted(ctx context.Context, id string, deleted bool) error {
	return s.writeRun(ctx, id, func(ctx context.Context, tx *sql.Tx, r *trainyard.Run) error {
		r.Deleted = deleted
		_, err := tx.ExecContext(ctx, `UPDATE runs SET deleted = ? WHERE id = ?`, deleted, id)
		return err
	})
}

// SetParams adds params to a run's config, refusing to change one.
func (s *Store) SetParams(ctx context.Context, id string, params map[string]string) error {
	if len(params) == 0 {
		_, err := s.Run(ctx, id)
		return err
	}
	return s.writeRun(ctx, id, func(ctx context.Context, tx *sql.Tx, r *trainyard.Run) error {
		if _, err := runquery.MergeParams(id, r.Config, params); err != nil {
			return err
		}
		config, err := json.Marshal(r.Config)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE runs SET config = ? WHERE id = ?`, config, id)
		return err
	})
}

// writeRun runs change on the run inside a transaction, then tells the
// search index.
func (s *Store) writeRun(ctx context.Context, id string, change func(ctx context.Context, tx *sql.Tx, r *trainyard.Run) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return err
	}
	if err := change(ctx, tx, r); err != nil {
		if trainyard.ErrorCode(err) == trainyard.EINTERNAL {
			return fmt.Errorf("update run %s: %w", id, err)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit run %s: %w", id, err)
	}
	s.index.changed(id)
	return nil
}

// AddRunIO records a run's inputs and outputs.
func (s *Store) AddRunIO(ctx context.Context, id string, add trainyard.RunIO) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	cur, err := runIO(ctx, tx, id)
	if err != nil {
		return err
	}
	for _, d := range add.Datasets {
		if !slices.ContainsFunc(cur.Datasets, func(x trainyard.DatasetInput) bool { return x.Name == d.Name && x.Digest == d.Digest }) {
			cur.Datasets = append(cur.Datasets, d)
		}
	}
	for _, m := range add.ModelInputs {
		if !slices.Contains(cur.ModelInputs, m) {
			cur.ModelInputs = append(cur.ModelInputs, m)
		}
	}
	for _, m := range add.ModelOutputs {
		if !slices.Contains(cur.ModelOutputs, m) {
			cur.ModelOutputs = append(cur.ModelOutputs, m)
		}
	}
	data, err := json.Marshal(cur)
	if err != nil {
		return fmt.Errorf("encode inputs of run %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO run_io (run_id, data) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET data = excluded.data`, id, data); err != nil {
		return fmt.Errorf("store inputs of run %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit inputs of run %s: %w", id, err)
	}
	return nil
}

// RunIO returns a run's recorded inputs and outputs.
func (s *Store) RunIO(ctx context.Context, id string) (trainyard.RunIO, error) {
	return runIO(ctx, s.r, id)
}

func runIO(ctx context.Context, q querier, id string) (trainyard.RunIO, error) {
	var io trainyard.RunIO
	var data sql.NullString
	err := q.QueryRowContext(ctx, `SELECT io.data FROM runs LEFT JOIN run_io io ON io.run_id = runs.id WHERE runs.id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return io, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return io, fmt.Errorf("read inputs of run %s: %w", id, err)
	}
	if data.Valid {
		if err := json.Unmarshal([]byte(data.String), &io); err != nil {
			return io, fmt.Errorf("decode inputs of run %s: %w", id, err)
		}
	}
	return io, nil
}

// SearchRuns filters, orders and pages the runs of some projects, from the
// in-memory index (see index.go), with package runquery's reference
// evaluator.
func (s *Store) SearchRuns(ctx context.Context, q trainyard.RunSearch) ([]*trainyard.Run, string, error) {
	all, err := s.index.runs(ctx, s, q.Projects)
	if err != nil {
		return nil, "", err
	}
	page, next, err := runquery.Search(all, q)
	if err != nil {
		return nil, "", err
	}
	out := make([]*trainyard.Run, len(page))
	for i, r := range page {
		out[i] = cloneRun(r)
	}
	return out, next, nil
}
