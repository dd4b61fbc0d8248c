package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

var _ trainyard.TrackingStore = (*Store)(nil)

const experimentColumns = `id, name, artifact_location, deleted, tags, created_at, updated_at`

func scanExperiment(row pgx.Row) (*trainyard.Experiment, error) {
	var (
		id               int64
		tags             string
		created, updated int64
	)
	x := &trainyard.Experiment{}
	if err := row.Scan(&id, &x.Name, &x.ArtifactLocation, &x.Deleted, &tags, &created, &updated); err != nil {
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
	now := s.now()
	tags, _ := json.Marshal(orEmptyStrMap(x.Tags))
	var id int64
	// A taken name spends no ID (as on SQLite and MLflow's store, IDs
	// follow each other): the row is not even tried when the name exists.
	err := s.pool.QueryRow(ctx, `INSERT INTO experiments (name, artifact_location, tags, created_at, updated_at)
		SELECT $1::text, $2, $3, $4, $4 WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE name = $1) RETURNING id`,
		x.Name, x.ArtifactLocation, string(tags), toMicros(now)).Scan(&id)
	if isUniqueViolation(err) || errors.Is(err, pgx.ErrNoRows) {
		return trainyard.Errorf(trainyard.ECONFLICT, "experiment %q already exists", x.Name)
	}
	if err != nil {
		return wrap(err, "insert experiment %q", x.Name)
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
	x, err := scanExperiment(s.pool.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE id = $1`, n))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %s not found", id)
	}
	return x, wrap(err, "read experiment %s", id)
}

// ExperimentByName returns one experiment.
func (s *Store) ExperimentByName(ctx context.Context, name string) (*trainyard.Experiment, error) {
	x, err := scanExperiment(s.pool.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "experiment %q not found", name)
	}
	return x, wrap(err, "read experiment %q", name)
}

// Experiments lists experiments, oldest first.
func (s *Store) Experiments(ctx context.Context, view trainyard.View) ([]*trainyard.Experiment, error) {
	q := `SELECT ` + experimentColumns + ` FROM experiments`
	if w := viewWhere(view, ""); w != "" {
		q += " WHERE " + w
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id")
	if err != nil {
		return nil, wrap(err, "list experiments")
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
	return out, wrap(rows.Err(), "list experiments")
}

// UpdateExperiment renames, tags, deletes or restores an experiment; a
// rename moves the project's runs and jobs, a deletion its runs.
func (s *Store) UpdateExperiment(ctx context.Context, id string, u trainyard.ExperimentUpdate) (*trainyard.Experiment, error) {
	n, err := experimentKey(id)
	if err != nil {
		return nil, err
	}
	var x *trainyard.Experiment
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		x, err = scanExperiment(tx.QueryRow(ctx, `SELECT `+experimentColumns+` FROM experiments WHERE id = $1 FOR UPDATE`, n))
		if errors.Is(err, pgx.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "experiment %s not found", id)
		}
		if err != nil {
			return wrap(err, "read experiment %s", id)
		}
		old := x.Name
		if u.Name != nil && *u.Name != old {
			x.Name = *u.Name
			if _, err := tx.Exec(ctx, `UPDATE runs SET project = $1, project_lower = $2 WHERE project = $3`, x.Name, strings.ToLower(x.Name), old); err != nil {
				return wrap(err, "rename experiment %s", id)
			}
			if _, err := tx.Exec(ctx, `UPDATE jobs SET project = $1 WHERE project = $2`, x.Name, old); err != nil {
				return wrap(err, "rename experiment %s", id)
			}
			// Role bindings and token limits follow the project (a binding
			// the new name already has is kept, the old one dropped).
			if _, err := tx.Exec(ctx, `UPDATE user_roles AS u SET project = $1 WHERE project = $2
				AND NOT EXISTS (SELECT 1 FROM user_roles AS o WHERE o.user_name = u.user_name AND o.project = $1)`, x.Name, old); err != nil {
				return wrap(err, "rename experiment %s", id)
			}
			if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE project = $1`, old); err != nil {
				return wrap(err, "rename experiment %s", id)
			}
			if _, err := tx.Exec(ctx, `UPDATE tokens SET project = $1 WHERE project = $2`, x.Name, old); err != nil {
				return wrap(err, "rename experiment %s", id)
			}
		}
		maps.Copy(x.Tags, u.Tags)
		for _, k := range u.DeleteTags {
			delete(x.Tags, k)
		}
		if u.Deleted != nil && *u.Deleted != x.Deleted {
			x.Deleted = *u.Deleted
			if _, err := tx.Exec(ctx, `UPDATE runs SET deleted = $1 WHERE project = $2`, x.Deleted, x.Name); err != nil {
				return wrap(err, "mark runs of experiment %s", id)
			}
		}
		x.UpdatedAt = s.now()
		tags, _ := json.Marshal(x.Tags)
		_, err = tx.Exec(ctx, `UPDATE experiments SET name = $1, tags = $2, deleted = $3, updated_at = $4 WHERE id = $5`,
			x.Name, string(tags), x.Deleted, toMicros(x.UpdatedAt), n)
		if isUniqueViolation(err) {
			return trainyard.Errorf(trainyard.ECONFLICT, "experiment %q already exists", x.Name)
		}
		return wrap(err, "update experiment %s", id)
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// SetRunDeleted marks a run deleted or live.
func (s *Store) SetRunDeleted(ctx context.Context, id string, deleted bool) error {
	return s.writeRun(ctx, id, func(tx pgx.Tx, r *trainyard.Run) error {
		_, err := tx.Exec(ctx, `UPDATE runs SET deleted = $1 WHERE id = $2`, deleted, id)
		return wrap(err, "update run %s", id)
	})
}

// SetParams adds params to a run's config, refusing to change one.
func (s *Store) SetParams(ctx context.Context, id string, params map[string]string) error {
	if len(params) == 0 {
		_, err := s.Run(ctx, id)
		return err
	}
	return s.writeRun(ctx, id, func(tx pgx.Tx, r *trainyard.Run) error {
		added, err := runquery.MergeParams(id, r.Config, params)
		if err != nil {
			return err
		}
		config, err := json.Marshal(r.Config)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE runs SET config = $1 WHERE id = $2`, string(config), id); err != nil {
			return wrap(err, "update run %s", id)
		}
		return writeParams(ctx, tx, id, added, false)
	})
}

// AddRunIO records a run's inputs and outputs.
func (s *Store) AddRunIO(ctx context.Context, id string, add trainyard.RunIO) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM runs WHERE id = $1 FOR UPDATE`, id).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
		} else if err != nil {
			return wrap(err, "read run %s", id)
		}
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
		_, err = tx.Exec(ctx, `INSERT INTO run_io (run_id, data) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET data = excluded.data`, id, string(data))
		return wrap(err, "store inputs of run %s", id)
	})
}

// RunIO returns a run's recorded inputs and outputs.
func (s *Store) RunIO(ctx context.Context, id string) (trainyard.RunIO, error) {
	return runIO(ctx, s.pool, id)
}

type rowQuerierOne interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func runIO(ctx context.Context, q rowQuerierOne, id string) (trainyard.RunIO, error) {
	var io trainyard.RunIO
	var data *string
	err := q.QueryRow(ctx, `SELECT io.data FROM runs LEFT JOIN run_io io ON io.run_id = runs.id WHERE runs.id = $1`, id).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return io, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return io, wrap(err, "read inputs of run %s", id)
	}
	if data != nil {
		if err := json.Unmarshal([]byte(*data), &io); err != nil {
			return io, fmt.Errorf("decode inputs of run %s: %w", id, err)
		}
	}
	return io, nil
}
