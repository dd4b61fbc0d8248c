package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

func insertRun(ctx context.Context, tx pgx.Tx, r *trainyard.Run) error {
	config, err := json.Marshal(orEmptyMap(r.Config))
	if err != nil {
		return trainyard.FieldError("config", "cannot be stored as JSON: %v", err)
	}
	tags, _ := json.Marshal(orEmptyStrMap(r.Tags))
	summary, err := json.Marshal(orEmptyMap(r.Summary))
	if err != nil {
		return trainyard.FieldError("summary", "cannot be stored as JSON: %v", err)
	}
	command, _ := json.Marshal(orEmptyStrs(r.Command))
	git := ""
	if r.Git != nil {
		b, _ := json.Marshal(r.Git)
		git = string(b)
	}
	_, err = tx.Exec(ctx, `INSERT INTO runs (id, project, project_lower, name, name_lower, state, job_id, config, tags, summary, command, workdir, git, exit_code, reason, deleted, created_at, started_at, ended_at, owner)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)`,
		r.ID, r.Project, strings.ToLower(r.Project), r.Name, strings.ToLower(r.Name), r.State, r.JobID, string(config), string(tags), string(summary),
		string(command), r.Workdir, git, r.ExitCode, r.Reason, r.Deleted, toMicros(r.CreatedAt), toMicros(r.StartedAt), toMicros(r.EndedAt), r.Owner)
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "run %s already exists", r.ID)
	}
	if err != nil {
		return wrap(err, "insert run %s", r.ID)
	}
	if err := writeParams(ctx, tx, r.ID, r.Config, true); err != nil {
		return err
	}
	if err := writeTags(ctx, tx, r.ID, r.Tags, true); err != nil {
		return err
	}
	return ensureExperiment(ctx, tx, r.Project, r.CreatedAt)
}

// writeParams stores the search rows of a run's config: every key (all,
// replacing the run's rows), or just these.
func writeParams(ctx context.Context, tx pgx.Tx, runID string, config map[string]any, all bool) error {
	strs := make(map[string]string, len(config))
	for k, v := range config {
		strs[k] = runquery.ParamString(v)
	}
	return writeSearchRows(ctx, tx, "run_params", runID, strs, nil, all)
}

// writeTags stores the search rows of tags, and removes those of deleted.
func writeTags(ctx context.Context, tx pgx.Tx, runID string, tags map[string]string, all bool) error {
	return writeSearchRows(ctx, tx, "run_tags", runID, tags, nil, all)
}

func writeSearchRows(ctx context.Context, tx pgx.Tx, table, runID string, kv map[string]string, deleted []string, all bool) error {
	if all {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE run_id = $1`, runID); err != nil {
			return wrap(err, "clear %s of run %s", table, runID)
		}
	} else if len(deleted) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE run_id = $1 AND key = ANY($2)`, runID, deleted); err != nil {
			return wrap(err, "delete %s of run %s", table, runID)
		}
	}
	if len(kv) == 0 {
		return nil
	}
	keys := make([]string, 0, len(kv))
	values := make([]string, 0, len(kv))
	lower := make([]string, 0, len(kv))
	nums := make([]*float64, 0, len(kv))
	for _, k := range trainyard.SortedKeys(kv) {
		v := kv[k]
		keys, values, lower = append(keys, k), append(values, v), append(lower, strings.ToLower(v))
		if f, ok := runquery.NumericString(v); ok {
			nums = append(nums, &f)
		} else {
			nums = append(nums, nil)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO `+table+` (run_id, key, value, value_lower, num)
		SELECT $1, k, v, l, n FROM unnest($2::text[], $3::text[], $4::text[], $5::float8[]) AS t(k, v, l, n)
		ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, value_lower = excluded.value_lower, num = excluded.num`,
		runID, keys, values, lower, nums)
	return wrap(err, "store %s of run %s", table, runID)
}

// ensureExperiment creates the experiment row of a project the first time
// one of its runs is stored (without spending a sequence number when it
// exists).
func ensureExperiment(ctx context.Context, tx pgx.Tx, project string, at time.Time) error {
	us := toMicros(at)
	_, err := tx.Exec(ctx, `INSERT INTO experiments (name, created_at, updated_at)
		SELECT $1::text, $2::bigint, $2::bigint WHERE NOT EXISTS (SELECT 1 FROM experiments WHERE name = $1)
		ON CONFLICT (name) DO NOTHING`, project, us)
	return wrap(err, "create experiment of project %q", project)
}

// CreateRun stores a run created outside any job.
func (s *Store) CreateRun(ctx context.Context, r *trainyard.Run) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error { return insertRun(ctx, tx, r) })
	if err == nil {
		s.me.KnownRun(r.ID)
	}
	return err
}

const runColumns = `id, project, name, state, job_id, config, tags, summary, command, workdir, git, exit_code, reason, created_at, started_at, ended_at, deleted, owner`

// Run returns one run with its metric summaries.
func (s *Store) Run(ctx context.Context, id string) (*trainyard.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return nil, wrap(err, "read run %s", id)
	}
	if err := loadSummaries(ctx, s.pool, []*trainyard.Run{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// RunHeader returns one run without its metric summaries.
func (s *Store) RunHeader(ctx context.Context, id string) (*trainyard.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	return r, wrap(err, "read run %s", id)
}

// Runs lists runs, newest first, with their metric summaries.
func (s *Store) Runs(ctx context.Context, f trainyard.RunFilter) ([]*trainyard.Run, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Project != "" {
		where = append(where, "project = "+arg(f.Project))
	}
	if f.State != "" {
		where = append(where, "state = "+arg(f.State))
	}
	if w := viewWhere(f.View, ""); w != "" {
		where = append(where, w)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + arg(limitOrDefault(f.Limit)) + " OFFSET " + arg(max(f.Offset, 0))
	return s.queryRuns(ctx, q, args...)
}

// queryRuns reads runs and their summaries.
func (s *Store) queryRuns(ctx context.Context, q string, args ...any) ([]*trainyard.Run, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list runs")
	}
	var out []*trainyard.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list runs")
	}
	return out, loadSummaries(ctx, s.pool, out)
}

func viewWhere(v trainyard.View, alias string) string {
	switch v {
	case trainyard.ViewDeleted:
		return alias + "deleted"
	case trainyard.ViewAll:
		return ""
	}
	return "NOT " + alias + "deleted"
}

// rowQuerier is what loadSummaries reads through: a pool or a transaction.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// loadSummaries fills the Metrics of runs.
func loadSummaries(ctx context.Context, q rowQuerier, runs []*trainyard.Run) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*trainyard.Run, len(runs))
	ids := make([]string, len(runs))
	for i, r := range runs {
		byID[r.ID] = r
		ids[i] = r.ID
		r.Metrics = map[string]trainyard.MetricSummary{}
	}
	rows, err := q.Query(ctx, `SELECT run_id, key, count, last, last_step, last_time, min, max FROM series WHERE run_id = ANY($1) AND count > 0`, ids)
	if err != nil {
		return wrap(err, "load metric summaries")
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		var m trainyard.MetricSummary
		var last, mn, mx float64
		if err := rows.Scan(&id, &key, &m.Count, &last, &m.LastStep, &m.LastTime, &mn, &mx); err != nil {
			return err
		}
		m.Last, m.Min, m.Max = trainyard.Float(last), trainyard.Float(mn), trainyard.Float(mx)
		byID[id].Metrics[key] = m
	}
	return wrap(rows.Err(), "load metric summaries")
}

// UpdateRun applies u.
func (s *Store) UpdateRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	var out *trainyard.Run
	err := s.writeRun(ctx, id, func(tx pgx.Tx, r *trainyard.Run) error {
		if u.Name != nil {
			r.Name = *u.Name
		}
		if u.Project != nil && *u.Project != r.Project {
			r.Project = *u.Project
			if err := ensureExperiment(ctx, tx, r.Project, s.now()); err != nil {
				return err
			}
		}
		if u.State != nil && *u.State != r.State {
			r.State = *u.State
			now := s.now()
			if r.State == trainyard.StateRunning && r.StartedAt.IsZero() {
				r.StartedAt = now
			}
			if r.State.Terminal() {
				r.EndedAt = now
				if u.EndedAt != nil {
					r.EndedAt = u.EndedAt.UTC().Truncate(time.Microsecond)
				}
			} else {
				r.EndedAt = time.Time{}
			}
		}
		if u.Reason != nil {
			r.Reason = *u.Reason
		}
		if u.ExitCode != nil {
			c := *u.ExitCode
			r.ExitCode = &c
		}
		config := trainyard.FlattenConfig(u.Config)
		maps.Copy(r.Config, config)
		maps.Copy(r.Tags, u.Tags)
		for _, k := range u.DeleteTags {
			delete(r.Tags, k)
		}
		for k, v := range u.Summary {
			if v == nil {
				delete(r.Summary, k)
				continue
			}
			r.Summary[k] = v
		}
		cb, err := json.Marshal(r.Config)
		if err != nil {
			return trainyard.FieldError("config", "cannot be stored as JSON: %v", err)
		}
		sb, err := json.Marshal(r.Summary)
		if err != nil {
			return trainyard.FieldError("summary", "cannot be stored as JSON: %v", err)
		}
		tb, _ := json.Marshal(r.Tags)
		if _, err := tx.Exec(ctx, `UPDATE runs SET name = $1, name_lower = $2, state = $3, reason = $4, exit_code = $5, config = $6, tags = $7, summary = $8, started_at = $9, ended_at = $10,
				project = $11, project_lower = $12 WHERE id = $13`,
			r.Name, strings.ToLower(r.Name), r.State, r.Reason, r.ExitCode, string(cb), string(tb), string(sb), toMicros(r.StartedAt), toMicros(r.EndedAt),
			r.Project, strings.ToLower(r.Project), id); err != nil {
			return wrap(err, "update run %s", id)
		}
		if len(config) > 0 {
			if err := writeParams(ctx, tx, id, config, false); err != nil {
				return err
			}
		}
		if len(u.Tags) > 0 || len(u.DeleteTags) > 0 {
			set := maps.Clone(u.Tags)
			for _, k := range u.DeleteTags {
				delete(set, k)
			}
			if err := writeSearchRows(ctx, tx, "run_tags", id, set, u.DeleteTags, false); err != nil {
				return err
			}
		}
		out = r
		return loadSummaries(ctx, tx, []*trainyard.Run{r})
	})
	return out, err
}

// writeRun runs change on the run, read and locked, in a transaction.
func (s *Store) writeRun(ctx context.Context, id string, change func(tx pgx.Tx, r *trainyard.Run) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		r, err := scanRun(tx.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
		}
		if err != nil {
			return wrap(err, "read run %s", id)
		}
		return change(tx, r)
	})
}

// Projects lists projects with their run counts.
func (s *Store) Projects(ctx context.Context) ([]trainyard.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT project, count(*), max(created_at) FROM runs GROUP BY project ORDER BY project`)
	if err != nil {
		return nil, wrap(err, "list projects")
	}
	defer rows.Close()
	var out []trainyard.Project
	for rows.Next() {
		var p trainyard.Project
		var n, last int64
		if err := rows.Scan(&p.Name, &n, &last); err != nil {
			return nil, err
		}
		p.Runs, p.LastRunAt = int(n), fromMicros(last)
		out = append(out, p)
	}
	return out, wrap(rows.Err(), "list projects")
}

func scanRun(row pgx.Row) (*trainyard.Run, error) {
	var (
		r                                   trainyard.Run
		config, tags, summary, command, git string
		exit                                *int32
		created, started, ended             int64
	)
	if err := row.Scan(&r.ID, &r.Project, &r.Name, &r.State, &r.JobID, &config, &tags, &summary, &command, &r.Workdir, &git,
		&exit, &r.Reason, &created, &started, &ended, &r.Deleted, &r.Owner); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src string
		dst any
	}{{config, &r.Config}, {tags, &r.Tags}, {summary, &r.Summary}, {command, &r.Command}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("decode run %s: %w", r.ID, err)
		}
	}
	if git != "" {
		r.Git = &trainyard.GitInfo{}
		if err := json.Unmarshal([]byte(git), r.Git); err != nil {
			return nil, fmt.Errorf("decode git of run %s: %w", r.ID, err)
		}
	}
	if r.Config == nil {
		r.Config = map[string]any{}
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	if r.Summary == nil {
		r.Summary = map[string]any{}
	}
	if len(r.Command) == 0 {
		r.Command = nil
	}
	if exit != nil {
		c := int(*exit)
		r.ExitCode = &c
	}
	r.CreatedAt, r.StartedAt, r.EndedAt = fromMicros(created), fromMicros(started), fromMicros(ended)
	return &r, nil
}

func orEmptyMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func orEmptyStrMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func orEmptyStrs(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
