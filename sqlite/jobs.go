package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricengine"
)

// CreateJob stores a new job and its run in one transaction. Concurrent
// calls are group-committed (see jobCreator): each job is its own
// savepoint, so one refused job never refuses another, and they share one
// commit.
func (s *Store) CreateJob(ctx context.Context, j *trainyard.Job) error {
	req := &createReq{ctx: ctx, job: j, done: make(chan error, 1)}
	select {
	case s.jc.reqs <- req:
	case <-s.jc.quit:
		return metricengine.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		if err == nil {
			s.index.changed(j.ID)
			s.me.KnownRun(j.ID)
		}
		return err
	case <-ctx.Done():
		return ctx.Err() // it may still be stored; it was not acknowledged
	}
}

type createReq struct {
	ctx  context.Context
	job  *trainyard.Job
	done chan error
}

// jobCreator is the goroutine that stores new jobs: it takes every
// creation waiting when it starts a transaction, so that a burst of
// submissions costs one commit (one fsync) instead of one each.
type jobCreator struct {
	s    *Store
	reqs chan *createReq
	quit chan struct{}
	done chan struct{}
}

func newJobCreator(s *Store) *jobCreator {
	c := &jobCreator{s: s, reqs: make(chan *createReq, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

func (c *jobCreator) stop() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
}

func (c *jobCreator) loop() {
	defer close(c.done)
	for {
		var group []*createReq
		select {
		case r := <-c.reqs:
			group = append(group, r)
		case <-c.quit:
			return
		}
	fill:
		for len(group) < 512 {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break fill
			}
		}
		errs := c.store(group)
		for i, r := range group {
			r.done <- errs[i]
		}
	}
}

// store writes a group of new jobs in one transaction, each in a
// savepoint of its own; it returns each job's outcome.
func (c *jobCreator) store(group []*createReq) []error {
	errs := make([]error, len(group))
	all := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	ctx := context.Background()
	tx, err := c.s.w.BeginTx(ctx, nil)
	if err != nil {
		return all(fmt.Errorf("begin: %w", err))
	}
	defer tx.Rollback()
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(ctx, "SAVEPOINT job"); err != nil {
			return all(fmt.Errorf("savepoint: %w", err))
		}
		if errs[i] = insertJob(ctx, tx, r.job); errs[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO job"); err != nil {
				return all(fmt.Errorf("roll back to savepoint: %w", err))
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE job"); err != nil {
			return all(fmt.Errorf("release savepoint: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return all(fmt.Errorf("commit new jobs: %w", err))
	}
	return errs
}

// insertJob inserts a job and its run.
func insertJob(ctx context.Context, tx *sql.Tx, j *trainyard.Job) error {
	spec, err := json.Marshal(j.JobSpec)
	if err != nil {
		return fmt.Errorf("encode job spec: %w", err)
	}
	placement, err := json.Marshal(orEmpty(j.Placement))
	if err != nil {
		return fmt.Errorf("encode placement: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, spec, project, priority, state, reason, exit_code, version, placement, backend_id, launched, handle, restarts, submitted_at, started_at, ended_at, owner)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, spec, j.Project, j.Priority, j.State, j.Reason, j.ExitCode, j.Version, placement, j.BackendID, j.Launched, string(j.Handle), j.Restarts,
		toMicros(j.SubmittedAt), toMicros(j.StartedAt), toMicros(j.EndedAt), j.Owner)
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "job %s already exists", j.ID)
	}
	if err != nil {
		return fmt.Errorf("insert job %s: %w", j.ID, err)
	}
	run := &trainyard.Run{
		ID: j.ID, Project: j.Project, Name: j.Name, State: j.State, JobID: j.ID,
		Config: trainyard.FlattenConfig(j.Config), Tags: j.Tags, Command: j.Command,
		Workdir: j.Workdir, Git: j.Git, CreatedAt: j.SubmittedAt, Owner: j.Owner,
	}
	return insertRun(ctx, tx, run)
}

// UpdateJobs writes the jobs' state fields and mirrors them onto their
// runs, all or none, each only over the version it was read at.
func (s *Store) UpdateJobs(ctx context.Context, jobs ...*trainyard.Job) error {
	if len(jobs) == 0 {
		return nil
	}
	placements := make([][]byte, len(jobs))
	for i, j := range jobs {
		b, err := json.Marshal(orEmpty(j.Placement))
		if err != nil {
			return fmt.Errorf("encode placement of job %s: %w", j.ID, err)
		}
		placements[i] = b
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for i, j := range jobs {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, exit_code = ?, version = version + 1, placement = ?,
			backend_id = ?, launched = ?, handle = ?, restarts = ?, started_at = ?, ended_at = ? WHERE id = ? AND version = ?`,
			j.State, j.Reason, j.ExitCode, placements[i], j.BackendID, j.Launched, string(j.Handle), j.Restarts,
			toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID, j.Version)
		if err != nil {
			return fmt.Errorf("update job %s: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var v int64
			err := tx.QueryRowContext(ctx, `SELECT version FROM jobs WHERE id = ?`, j.ID).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return trainyard.Errorf(trainyard.ENOTFOUND, "job %s not found", j.ID)
			}
			if err != nil {
				return fmt.Errorf("read version of job %s: %w", j.ID, err)
			}
			return trainyard.Errorf(trainyard.ECONFLICT, "job %s changed since it was read (version %d, now %d)", j.ID, j.Version, v)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE runs SET state = ?, reason = ?, exit_code = ?, started_at = ?, ended_at = ? WHERE id = ?`,
			j.State, j.Reason, j.ExitCode, toMicros(j.StartedAt), toMicros(j.EndedAt), j.ID); err != nil {
			return fmt.Errorf("update run of job %s: %w", j.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit jobs: %w", err)
	}
	for _, j := range jobs {
		j.Version++
		s.index.changed(j.ID)
	}
	return nil
}

const jobColumns = `id, spec, state, reason, exit_code, version, placement, backend_id, launched, handle, restarts, submitted_at, started_at, ended_at, owner`

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
	if len(f.Projects) > 0 {
		where = append(where, "project IN (?"+strings.Repeat(",?", len(f.Projects)-1)+")")
		for _, p := range f.Projects {
			args = append(args, p)
		}
	}
	if f.IDPrefix != "" {
		// IDs sort bytewise; every ID with the prefix sorts in [p, p+"\x7f"),
		// since IDs hold only ASCII letters, digits, '-' and '_'.
		where = append(where, "id >= ? AND id < ?")
		args = append(args, f.IDPrefix, f.IDPrefix+"\x7f")
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
		spec, placement     string
		handle              string
		exit                sql.NullInt64
		sub, started, ended int64
	)
	if err := sc.Scan(&j.ID, &spec, &j.State, &j.Reason, &exit, &j.Version, &placement, &j.BackendID, &j.Launched, &handle, &j.Restarts, &sub, &started, &ended, &j.Owner); err != nil {
		return nil, err
	}
	j.Handle = trainyard.Handle(handle)
	if err := json.Unmarshal([]byte(spec), &j.JobSpec); err != nil {
		return nil, fmt.Errorf("decode spec of job %s: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(placement), &j.Placement); err != nil {
		return nil, fmt.Errorf("decode placement of job %s: %w", j.ID, err)
	}
	if len(j.Placement) == 0 {
		j.Placement = nil
	}
	if exit.Valid {
		c := int(exit.Int64)
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

func limitOrDefault(n int) int {
	if n <= 0 {
		return trainyard.DefaultListLimit
	}
	return n
}
