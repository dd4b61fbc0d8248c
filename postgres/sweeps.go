package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
)

var _ trainyard.SweepStore = (*Store)(nil)

const sweepColumns = `id, name, project, owner, state, reason, metric, mode, managed, spec, snapshot, best_trial, best_value, version, created_at, updated_at, ended_at`

// CreateSweep stores a new sweep and its first trials in one transaction.
func (s *Store) CreateSweep(ctx context.Context, sw *trainyard.Sweep, trials ...*trainyard.Trial) error {
	docs, err := trialDocs(sw.ID, trials)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sweeps (`+sweepColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16)`,
			sw.ID, sw.Name, sw.Project, sw.Owner, string(sw.State), sw.Reason, sw.Metric, sw.Mode, sw.Managed,
			string(orEmptyJSON(sw.Spec)), string(sw.Snapshot), sw.BestTrial, bestValue(sw.BestValue),
			toMicros(sw.CreatedAt), toMicros(sw.UpdatedAt), toMicros(sw.EndedAt))
		if isUniqueViolation(err) {
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s already exists", sw.ID)
		}
		if err != nil {
			return wrap(err, "insert sweep %s", sw.ID)
		}
		return putTrials(ctx, tx, sw.ID, docs)
	})
	if err != nil {
		return err
	}
	sw.Version = 0
	return nil
}

// UpdateSweep writes the sweep's changeable fields over the version it was
// read at, and its changed trials, in one transaction.
func (s *Store) UpdateSweep(ctx context.Context, sw *trainyard.Sweep, trials ...*trainyard.Trial) error {
	docs, err := trialDocs(sw.ID, trials)
	if err != nil {
		return err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE sweeps SET name = $1, state = $2, reason = $3, snapshot = $4, best_trial = $5, best_value = $6,
			version = version + 1, updated_at = $7, ended_at = $8 WHERE id = $9 AND version = $10`,
			sw.Name, string(sw.State), sw.Reason, string(sw.Snapshot), sw.BestTrial, bestValue(sw.BestValue),
			toMicros(sw.UpdatedAt), toMicros(sw.EndedAt), sw.ID, sw.Version)
		if err != nil {
			return wrap(err, "update sweep %s", sw.ID)
		}
		if tag.RowsAffected() == 0 {
			var v int64
			err := tx.QueryRow(ctx, `SELECT version FROM sweeps WHERE id = $1`, sw.ID).Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				return trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", sw.ID)
			}
			if err != nil {
				return wrap(err, "read version of sweep %s", sw.ID)
			}
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s changed since it was read (version %d, now %d)", sw.ID, sw.Version, v)
		}
		return putTrials(ctx, tx, sw.ID, docs)
	})
	if err != nil {
		return err
	}
	sw.Version++
	return nil
}

type trialDoc struct {
	number int
	data   []byte
}

// trialDocs encodes trials, refusing one of another sweep or numbered
// below 1 before anything is written.
func trialDocs(sweepID string, trials []*trainyard.Trial) ([]trialDoc, error) {
	docs := make([]trialDoc, len(trials))
	for i, t := range trials {
		if t.SweepID != sweepID {
			return nil, trainyard.FieldError("trials", "trial %d belongs to sweep %q, not %s", t.Number, t.SweepID, sweepID)
		}
		if t.Number < 1 {
			return nil, trainyard.FieldError("trials", "trial number %d; numbers start at 1", t.Number)
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, fmt.Errorf("encode trial %d of sweep %s: %w", t.Number, sweepID, err)
		}
		docs[i] = trialDoc{t.Number, b}
	}
	return docs, nil
}

func putTrials(ctx context.Context, tx pgx.Tx, sweepID string, docs []trialDoc) error {
	for _, d := range docs {
		if _, err := tx.Exec(ctx, `INSERT INTO trials (sweep_id, number, data) VALUES ($1, $2, $3)
			ON CONFLICT (sweep_id, number) DO UPDATE SET data = excluded.data`,
			sweepID, d.number, string(d.data)); err != nil {
			return wrap(err, "write trial %d of sweep %s", d.number, sweepID)
		}
	}
	return nil
}

// Sweep returns one sweep.
func (s *Store) Sweep(ctx context.Context, id string) (*trainyard.Sweep, error) {
	sw, err := scanSweep(s.pool.QueryRow(ctx, `SELECT `+sweepColumns+` FROM sweeps WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", id)
	}
	return sw, wrap(err, "read sweep %s", id)
}

// Sweeps lists sweeps, newest first; with Active, oldest first.
func (s *Store) Sweeps(ctx context.Context, f trainyard.SweepFilter) ([]*trainyard.Sweep, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	order := "created_at DESC, id DESC"
	if f.Active {
		where = append(where, "state IN ('RUNNING', 'PAUSED', 'STOPPING')")
		order = "created_at, id"
	}
	if f.Project != "" {
		where = append(where, "project = "+arg(f.Project))
	}
	if f.IDPrefix != "" {
		where = append(where, "id >= "+arg(f.IDPrefix)+" AND starts_with(id, "+arg(f.IDPrefix)+")")
	}
	q := `SELECT ` + sweepColumns + ` FROM sweeps`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT " + arg(limitOrDefault(f.Limit))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, wrap(err, "list sweeps")
	}
	defer rows.Close()
	var out []*trainyard.Sweep
	for rows.Next() {
		sw, err := scanSweep(rows)
		if err != nil {
			return nil, wrap(err, "list sweeps")
		}
		out = append(out, sw)
	}
	return out, wrap(rows.Err(), "list sweeps")
}

// Trials returns a sweep's trials by number.
func (s *Store) Trials(ctx context.Context, sweepID string) ([]*trainyard.Trial, error) {
	// One repeatable-read transaction: the sweep's existence and its
	// trials agree.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, wrap(err, "begin")
	}
	defer tx.Rollback(ctx)
	var one int
	if err := tx.QueryRow(ctx, `SELECT 1 FROM sweeps WHERE id = $1`, sweepID).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", sweepID)
	} else if err != nil {
		return nil, wrap(err, "find sweep %s", sweepID)
	}
	rows, err := tx.Query(ctx, `SELECT data FROM trials WHERE sweep_id = $1 ORDER BY number`, sweepID)
	if err != nil {
		return nil, wrap(err, "list trials of sweep %s", sweepID)
	}
	defer rows.Close()
	out := []*trainyard.Trial{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, wrap(err, "list trials of sweep %s", sweepID)
		}
		t := new(trainyard.Trial)
		if err := json.Unmarshal([]byte(data), t); err != nil {
			return nil, fmt.Errorf("decode a trial of sweep %s: %w", sweepID, err)
		}
		out = append(out, t)
	}
	return out, wrap(rows.Err(), "list trials of sweep %s", sweepID)
}

func scanSweep(row pgx.Row) (*trainyard.Sweep, error) {
	var (
		sw                      trainyard.Sweep
		state, spec, snapshot   string
		best                    *string
		created, updated, ended int64
	)
	if err := row.Scan(&sw.ID, &sw.Name, &sw.Project, &sw.Owner, &state, &sw.Reason, &sw.Metric, &sw.Mode, &sw.Managed, &spec, &snapshot,
		&sw.BestTrial, &best, &sw.Version, &created, &updated, &ended); err != nil {
		return nil, err
	}
	sw.State = trainyard.SweepState(state)
	sw.Spec = json.RawMessage(spec)
	if snapshot != "" {
		sw.Snapshot = json.RawMessage(snapshot)
	}
	if best != nil {
		if v, ok := trainyard.ParseSpecialFloat(*best); ok {
			f := trainyard.Float(v)
			sw.BestValue = &f
		}
	}
	sw.CreatedAt, sw.UpdatedAt, sw.EndedAt = fromMicros(created), fromMicros(updated), fromMicros(ended)
	return &sw, nil
}

// bestValue is the text form of a best value (NaN and ±Inf kept), or NULL.
func bestValue(v *trainyard.Float) any {
	if v == nil {
		return nil
	}
	return strconv.FormatFloat(float64(*v), 'g', -1, 64)
}

func orEmptyJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("{}")
	}
	return b
}
