package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertRun(ctx context.Context, tx execer, r *trainyard.Run) error {
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
	_, err = tx.ExecContext(ctx, `INSERT INTO runs (id, project, name, state, job_id, config, tags, summary, command, workdir, git, exit_code, reason, created_at, started_at, ended_at, owner)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Project, r.Name, r.State, r.JobID, config, tags, summary, command, r.Workdir, git, r.ExitCode, r.Reason,
		toMicros(r.CreatedAt), toMicros(r.StartedAt), toMicros(r.EndedAt), r.Owner)
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "run %s already exists", r.ID)
	}
	if err != nil {
		return fmt.Errorf("insert run %s: %w", r.ID, err)
	}
	return ensureExperiment(ctx, tx, r.Project, r.CreatedAt)
}

// CreateRun stores a run created outside any job.
func (s *Store) CreateRun(ctx context.Context, r *trainyard.Run) error {
	if err := insertRun(ctx, s.w, r); err != nil {
		return err
	}
	s.index.changed(r.ID)
	s.me.KnownRun(r.ID)
	return nil
}

const runColumns = `id, project, name, state, job_id, config, tags, summary, command, workdir, git, exit_code, reason, created_at, started_at, ended_at, deleted, owner`

// Run returns one run with its metric summaries.
func (s *Store) Run(ctx context.Context, id string) (*trainyard.Run, error) {
	return s.run(ctx, s.r, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// RunHeader returns one run without its metric summaries.
func (s *Store) RunHeader(ctx context.Context, id string) (*trainyard.Run, error) {
	r, err := scanRun(s.r.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	return r, err
}

func (s *Store) run(ctx context.Context, q querier, id string) (*trainyard.Run, error) {
	r, err := scanRun(q.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if err := s.loadSummaries(ctx, q, []*trainyard.Run{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// Runs lists runs, newest first, with their metric summaries.
func (s *Store) Runs(ctx context.Context, f trainyard.RunFilter) ([]*trainyard.Run, error) {
	var where []string
	var args []any
	if f.Project != "" {
		where = append(where, "project = ?")
		args = append(args, f.Project)
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if w := viewWhere(f.View); w != "" {
		where = append(where, w)
	}
	q := `SELECT ` + runColumns + ` FROM runs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
	args = append(args, limitOrDefault(f.Limit), max(f.Offset, 0))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
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
		return nil, fmt.Errorf("list runs: %w", err)
	}
	if err := s.loadSummaries(ctx, s.r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// loadSummaries fills the Metrics of runs.
func (s *Store) loadSummaries(ctx context.Context, q querier, runs []*trainyard.Run) error {
	if len(runs) == 0 {
		return nil
	}
	byID := make(map[string]*trainyard.Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
		r.Metrics = map[string]trainyard.MetricSummary{}
	}
	// Chunks of IDs keep the statement under SQLite's variable limit.
	const batch = 500
	for i := 0; i < len(runs); i += batch {
		part := runs[i:min(i+batch, len(runs))]
		args := make([]any, len(part))
		for k, r := range part {
			args[k] = r.ID
		}
		rows, err := q.QueryContext(ctx, `SELECT run_id, key, summary FROM series WHERE run_id IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args...)
		if err != nil {
			return fmt.Errorf("load metric summaries: %w", err)
		}
		for rows.Next() {
			var id, key, sum string
			if err := rows.Scan(&id, &key, &sum); err != nil {
				rows.Close()
				return err
			}
			var m trainyard.MetricSummary
			if err := json.Unmarshal([]byte(sum), &m); err != nil {
				rows.Close()
				return fmt.Errorf("decode summary of %s/%s: %w", id, key, err)
			}
			byID[id].Metrics[key] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRun applies u.
func (s *Store) UpdateRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	r, err := scanRun(tx.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", id)
	}
	if err != nil {
		return nil, err
	}
	if u.Name != nil {
		r.Name = *u.Name
	}
	if u.Project != nil && *u.Project != r.Project {
		r.Project = *u.Project
		if err := ensureExperiment(ctx, tx, r.Project, s.clock()); err != nil {
			return nil, err
		}
	}
	if u.State != nil && *u.State != r.State {
		r.State = *u.State
		now := s.clock().UTC().Truncate(time.Microsecond)
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
	for k, v := range trainyard.FlattenConfig(u.Config) {
		r.Config[k] = v
	}
	for k, v := range u.Tags {
		r.Tags[k] = v
	}
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
	config, err := json.Marshal(r.Config)
	if err != nil {
		return nil, trainyard.FieldError("config", "cannot be stored as JSON: %v", err)
	}
	summary, err := json.Marshal(r.Summary)
	if err != nil {
		return nil, trainyard.FieldError("summary", "cannot be stored as JSON: %v", err)
	}
	tags, _ := json.Marshal(r.Tags)
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET name = ?, project = ?, state = ?, reason = ?, exit_code = ?, config = ?, tags = ?, summary = ?, started_at = ?, ended_at = ? WHERE id = ?`,
		r.Name, r.Project, r.State, r.Reason, r.ExitCode, config, tags, summary, toMicros(r.StartedAt), toMicros(r.EndedAt), id); err != nil {
		return nil, fmt.Errorf("update run %s: %w", id, err)
	}
	if err := s.loadSummaries(ctx, tx, []*trainyard.Run{r}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit run %s: %w", id, err)
	}
	s.index.changed(id)
	return r, nil
}

// Projects lists projects with their run counts.
func (s *Store) Projects(ctx context.Context) ([]trainyard.Project, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT project, count(*), max(created_at) FROM runs GROUP BY project ORDER BY project`)
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	defer rows.Close()
	var out []trainyard.Project
	for rows.Next() {
		var p trainyard.Project
		var last int64
		if err := rows.Scan(&p.Name, &p.Runs, &last); err != nil {
			return nil, err
		}
		p.LastRunAt = fromMicros(last)
		out = append(out, p)
	}
	return out, rows.Err()
}

func scanRun(sc scanner) (*trainyard.Run, error) {
	var (
		r                                   trainyard.Run
		config, tags, summary, command, git string
		exit                                sql.NullInt64
		created, started, ended             int64
	)
	if err := sc.Scan(&r.ID, &r.Project, &r.Name, &r.State, &r.JobID, &config, &tags, &summary, &command, &r.Workdir, &git,
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
	if exit.Valid {
		c := int(exit.Int64)
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
