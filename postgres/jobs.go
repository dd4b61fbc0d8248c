package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
)

// jobsChannel is the NOTIFY channel of new jobs and cancel requests.
const jobsChannel = "trainyard_jobs"

// CreateJob stores a new job and its run in one transaction, and tells
// the leader (NOTIFY, delivered when the transaction commits).
func (s *Store) CreateJob(ctx context.Context, j *trainyard.Job) error {
	spec, err := json.Marshal(j.JobSpec)
	if err != nil {
		return fmt.Errorf("encode job spec: %w", err)
	}
	placement, err := json.Marshal(orEmpty(j.Placement))
	if err != nil {
		return fmt.Errorf("encode placement: %w", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO jobs (id, spec, project, priority, state, reason, exit_code, version, placement, backend_id, launched, handle, restarts, submitted_at, started_at, ended_at, owner)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
			j.ID, string(spec), j.Project, j.Priority, j.State, j.Reason, j.ExitCode, j.Version, string(placement), j.BackendID, j.Launched, string(j.Handle), j.Restarts,
			toMicros(j.SubmittedAt), toMicros(j.StartedAt), toMicros(j.EndedAt), j.Owner)
		if isUniqueViolation(err) {
			return trainyard.Errorf(trainyard.ECONFLICT, "job %s already exists", j.ID)
		}
		if err != nil {
			return wrap(err, "insert job %s", j.ID)
		}
		run := &trainyard.Run{
			ID: j.ID, Project: j.Project, Name: j.Name, State: j.State, JobID: j.ID,
			Config: trainyard.FlattenConfig(j.Config), Tags: j.Tags, Command: j.Command,
			Workdir: j.Workdir, Git: j.Git, CreatedAt: j.SubmittedAt, Owner: j.Owner,
		}
		if err := insertRun(ctx, tx, run); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, jobsChannel, j.ID)
		return wrap(err, "notify job %s", j.ID)
	})
	if err == nil {
		s.me.KnownRun(j.ID)
	}
	return err
}

// UpdateJobs writes the jobs' state fields and mirrors them onto their
// runs, all or none, each only over the version it was read at. With a
// leader epoch in ctx (trainyard.WithLeaderEpoch) it first checks, holding
// the leader row against a new election until the transaction ends, that
// the epoch is still the current one.
func (s *Store) UpdateJobs(ctx context.Context, jobs ...*trainyard.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	placements := make([]string, len(jobs))
	for i, j := range jobs {
		b, err := json.Marshal(orEmpty(j.Placement))
		if err != nil {
			return fmt.Errorf("encode placement of job %s: %w", j.ID, err)
		}
		placements[i] = string(b)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if epoch, ok := trainyard.LeaderEpoch(ctx); ok {
			var cur int64
			if err := tx.QueryRow(ctx, `SELECT epoch FROM leader WHERE id = 1 FOR SHARE`).Scan(&cur); err != nil {
				return wrap(err, "read the leader epoch")
			}
			if cur != epoch {
				return trainyard.Errorf(trainyard.ECONFLICT, "this server no longer leads (its epoch is %d, the current one %d): job changes refused", epoch, cur)
			}
		}
		for i, j := range jobs {
			tag, err := tx.Exec(ctx, `UPDATE jobs SET state = $1, reason = $2, exit_code = $3, version = version + 1, placement = $4,
				backend_id = $5, launched = $6, handle = $7, restarts = $8, started_at = $9, ended_at = $10 WHERE id = $11 AND version = $12`,
				j.State, j.Reason, j.ExitCode, placements[i], j.BackendID, j.Launched, string(j.Handle), j.Restarts,
				toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID, j.Version)
			if err != nil {
				return wrap(err, "update job %s", j.ID)
			}
			if tag.RowsAffected() == 0 {
				var v int64
				err := tx.QueryRow(ctx, `SELECT version FROM jobs WHERE id = $1`, j.ID).Scan(&v)
				if errors.Is(err, pgx.ErrNoRows) {
					return trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", j.ID)
				}
				if err != nil {
					return wrap(err, "read version of job %s", j.ID)
				}
				return trainyard.Errorf(trainyard.ECONFLICT, "job %s changed since it was read (version %d, now %d)", j.ID, j.Version, v)
			}
			if _, err := tx.Exec(ctx, `UPDATE runs SET state = $1, reason = $2, exit_code = $3, started_at = $4, ended_at = $5 WHERE id = $6`,
				j.State, j.Reason, j.ExitCode, toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID); err != nil {
				return wrap(err, "update run of job %s", j.ID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		j.Version++
	}
	return nil
}

const jobColumns = `id, spec, state, reason, exit_code, version, placement, backend_id, launched, handle, restarts, cancel_requested, submitted_at, started_at, ended_at, owner`

// Job returns one job.
func (s *Store) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", id)
	}
	return j, wrap(err, "read job %s", id)
}

// Jobs lists jobs.
func (s *Store) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	order := "submitted_at DESC, id DESC"
	if f.Active {
		where = append(where, "state IN ('QUEUED', 'RUNNING')")
		order = "submitted_at, id"
	}
	if f.State != "" {
		where = append(where, "state = "+arg(f.State))
	}
	if f.Project != "" {
		where = append(where, "project = "+arg(f.Project))
	}
	if len(f.Projects) > 0 {
		where = append(where, "project = ANY("+arg(f.Projects)+")")
	}
	if f.IDPrefix != "" {
		where = append(where, "id >= "+arg(f.IDPrefix)+" AND starts_with(id, "+arg(f.IDPrefix)+")")
	}
	q := `SELECT ` + jobColumns + ` FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order
	if !f.Active || f.Limit > 0 {
		q += " LIMIT " + arg(limitOrDefault(f.Limit))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list jobs")
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
	return out, wrap(rows.Err(), "list jobs")
}

// RequestCancel records a cancel for the leader to carry out.
func (s *Store) RequestCancel(ctx context.Context, id string) (*trainyard.Job, error) {
	var j *trainyard.Job
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		j, err = scanJob(tx.QueryRow(ctx, `UPDATE jobs SET cancel_requested = true WHERE id = $1 AND state IN ('QUEUED', 'RUNNING') RETURNING `+jobColumns, id))
		if errors.Is(err, pgx.ErrNoRows) {
			j, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
			if errors.Is(err, pgx.ErrNoRows) {
				return trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", id)
			}
			return wrap(err, "read job %s", id)
		}
		if err != nil {
			return wrap(err, "request the cancel of job %s", id)
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, jobsChannel, id)
		return wrap(err, "notify job %s", id)
	})
	return j, err
}

// CancelRequests lists the active jobs whose cancel was requested.
func (s *Store) CancelRequests(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM jobs WHERE cancel_requested AND state IN ('QUEUED', 'RUNNING') ORDER BY id`)
	if err != nil {
		return nil, wrap(err, "list cancel requests")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "list cancel requests")
}

func scanJob(row pgx.Row) (*trainyard.Job, error) {
	var (
		j                   trainyard.Job
		spec, placement     string
		handle              string
		exit                *int32
		restarts            int32
		sub, started, ended int64
	)
	if err := row.Scan(&j.ID, &spec, &j.State, &j.Reason, &exit, &j.Version, &placement, &j.BackendID, &j.Launched, &handle, &restarts,
		&j.CancelRequested, &sub, &started, &ended, &j.Owner); err != nil {
		return nil, err
	}
	j.Handle = trainyard.Handle(handle)
	j.Restarts = int(restarts)
	if err := json.Unmarshal([]byte(spec), &j.JobSpec); err != nil {
		return nil, fmt.Errorf("decode spec of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(placement), &j.Placement); err != nil {
		return nil, fmt.Errorf("decode placement of job %s: %w", j.ID, err)
	}
	if len(j.Placement) == 0 {
		j.Placement = nil
	}
	if exit != nil {
		c := int(*exit)
		j.ExitCode = &c
	}
	j.SubmittedAt, j.StartedAt, j.EndedAt = fromMicros(sub), fromMicros(started), fromMicros(ended)
	return &j, nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
