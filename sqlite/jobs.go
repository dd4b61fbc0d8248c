package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
)

// CreateJob stores a new job and its run in one transaction.
func (s *Store) CreateJob(ctx context.Context, j *trainyard.Job) error {
	spec, err := json.Marshal(j.JobSpec)
	if err != nil {
		return fmt.Errorf("encode job spec: %w", err)
	}
	gpus, _ := json.Marshal(orEmpty(j.GPUs))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, spec, project, priority, state, reason, exit_code, gpus, pid, handle, restarts, submitted_at, started_at, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, spec, j.Project, j.Priority, j.State, j.Reason, j.ExitCode, gpus, j.PID, j.Handle, j.Restarts,
		toMicros(j.SubmittedAt), toMicros(j.StartedAt), toMicros(j.EndedAt))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "job %s already exists", j.ID)
	}
	if err != nil {
		return fmt.Errorf("insert job %s: %w", j.ID, err)
	}
	run := &trainyard.Run{
		ID: j.ID, Project: j.Project, Name: j.Name, State: j.State, JobID: j.ID,
		Config: trainyard.FlattenConfig(j.Config), Tags: j.Tags, Command: j.Command,
		Workdir: j.Workdir, Git: j.Git, CreatedAt: j.SubmittedAt,
	}
	if err := insertRun(ctx, tx, run); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit job %s: %w", j.ID, err)
	}
	s.index.changed(j.ID)
	s.mw.knownRun(j.ID)
	return nil
}

// UpdateJob writes the job's state fields and mirrors them onto its run.
func (s *Store) UpdateJob(ctx context.Context, j *trainyard.Job) error {
	gpus, _ := json.Marshal(orEmpty(j.GPUs))
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, exit_code = ?, gpus = ?, pid = ?, handle = ?,
		restarts = ?, started_at = ?, ended_at = ? WHERE id = ?`,
		j.State, j.Reason, j.ExitCode, gpus, j.PID, j.Handle, j.Restarts, toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID)
	if err != nil {
		return fmt.Errorf("update job %s: %w", j.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", j.ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, reason = ?, exit_code = ?, started_at = ?, ended_at = ? WHERE id = ?`,
		j.State, j.Reason, j.ExitCode, toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID); err != nil {
		return fmt.Errorf("update run of job %s: %w", j.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit job %s: %w", j.ID, err)
	}
	s.index.changed(j.ID)
	return nil
}

const jobColumns = `id, spec, state, reason, exit_code, gpus, pid, handle, restarts, submitted_at, started_at, ended_at`

// Job returns one job.
func (s *Store) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	row := s.r.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id)
	j, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", id)
	}
	return j, err
}

// Jobs lists jobs.
func (s *Store) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	var where []string
	var args []any
	order := "submitted_at DESC, id DESC"
	if f.Active {
		where = append(where, "state IN ('QUEUED', 'RUNNING')")
		order = "submitted_at, id"
	}
	if f.State != "" {
		where = append(where, "state = ?")
		args = append(args, f.State)
	}
	if f.Project != "" {
		where = append(where, "project = ?")
		args = append(args, f.Project)
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order
	if !f.Active || f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, limitOrDefault(f.Limit))
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanJob(sc scanner) (*trainyard.Job, error) {
	var (
		j                   trainyard.Job
		spec, gpus          string
		exit                sql.NullInt64
		sub, started, ended int64
	)
	if err := sc.Scan(&j.ID, &spec, &j.State, &j.Reason, &exit, &gpus, &j.PID, &j.Handle, &j.Restarts, &sub, &started, &ended); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(spec), &j.JobSpec); err != nil {
		return nil, fmt.Errorf("decode spec of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(gpus), &j.GPUs); err != nil {
		return nil, fmt.Errorf("decode gpus of job %s: %w", j.ID, err)
	}
	if len(j.GPUs) == 0 {
		j.GPUs = nil
	}
	if exit.Valid {
		c := int(exit.Int64)
		j.ExitCode = &c
	}
	j.SubmittedAt, j.StartedAt, j.EndedAt = fromMicros(sub), fromMicros(started), fromMicros(ended)
	return &j, nil
}

func orEmpty(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func limitOrDefault(n int) int {
	if n <= 0 {
		return trainyard.DefaultListLimit
	}
	return n
}
