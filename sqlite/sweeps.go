package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// migrationSweeps (6): sweeps and their trials. A trial is one JSON
// document: it is read and written whole, always with its sweep.
const migrationSweeps = `
	CREATE TABLE sweeps (
		id TEXT PRIMARY KEY,
		name TEXT NOT NULL,
		project TEXT NOT NULL,
		state TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		metric TEXT NOT NULL,
		mode TEXT NOT NULL,
		managed INTEGER NOT NULL,
		spec TEXT NOT NULL,
		snapshot TEXT NOT NULL DEFAULT '',
		best_trial INTEGER NOT NULL DEFAULT 0,
		best_value TEXT,
		version INTEGER NOT NULL DEFAULT 0,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL,
		ended_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX sweeps_created ON sweeps(created_at DESC, id);
	CREATE INDEX sweeps_active ON sweeps(created_at, id) WHERE state IN ('RUNNING', 'PAUSED', 'STOPPING');
	CREATE TABLE trials (
		sweep_id TEXT NOT NULL REFERENCES sweeps(id),
		number INTEGER NOT NULL,
		data TEXT NOT NULL,
		PRIMARY KEY (sweep_id, number)
	) WITHOUT ROWID;`

// migrationSweepOwners (8): the user who created each sweep.
const migrationSweepOwners = `ALTER TABLE sweeps ADD COLUMN owner TEXT NOT NULL DEFAULT '';`

var _ trainyard.SweepStore = (*Store)(nil)

// CreateSweep stores a new sweep and its first trials in one transaction.
func (s *Store) CreateSweep(ctx context.Context, sw *trainyard.Sweep, trials ...*trainyard.Trial) error {
	docs, err := trialDocs(sw.ID, trials)
	if err != nil {
		return err
	}
	best := bestValue(sw.BestValue)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO sweeps (id, name, project, owner, state, reason, metric, mode, managed, spec, snapshot,
		best_trial, best_value, version, created_at, updated_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
		sw.ID, sw.Name, sw.Project, sw.Owner, sw.State, sw.Reason, sw.Metric, sw.Mode, sw.Managed, string(orEmptyJSON(sw.Spec)), string(sw.Snapshot),
		sw.BestTrial, best, toMicros(sw.CreatedAt), toMicros(sw.UpdatedAt), toMicros(sw.EndedAt))
	if isUniqueViolation(err) {
		return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s already exists", sw.ID)
	}
	if err != nil {
		return fmt.Errorf("insert sweep %s: %w", sw.ID, err)
	}
	if err := putTrials(ctx, tx, sw.ID, docs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit sweep %s: %w", sw.ID, err)
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
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE sweeps SET name = ?, state = ?, reason = ?, snapshot = ?, best_trial = ?, best_value = ?,
		version = version + 1, updated_at = ?, ended_at = ? WHERE id = ? AND version = ?`,
		sw.Name, sw.State, sw.Reason, string(sw.Snapshot), sw.BestTrial, bestValue(sw.BestValue),
		toMicros(sw.UpdatedAt), toMicros(sw.EndedAt), sw.ID, sw.Version)
	if err != nil {
		return fmt.Errorf("update sweep %s: %w", sw.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var v int64
		err := tx.QueryRowContext(ctx, `SELECT version FROM sweeps WHERE id = ?`, sw.ID).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", sw.ID)
		}
		if err != nil {
			return fmt.Errorf("read version of sweep %s: %w", sw.ID, err)
		}
		return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s changed since it was read (version %d, now %d)", sw.ID, sw.Version, v)
	}
	if err := putTrials(ctx, tx, sw.ID, docs); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit sweep %s: %w", sw.ID, err)
	}
	sw.Version++
	return nil
}

type trialDoc struct {
	number int
	data   []byte
}

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

func putTrials(ctx context.Context, tx *sql.Tx, sweepID string, docs []trialDoc) error {
	for _, d := range docs {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO trials (sweep_id, number, data) VALUES (?, ?, ?)`,
			sweepID, d.number, d.data); err != nil {
			return fmt.Errorf("write trial %d of sweep %s: %w", d.number, sweepID, err)
		}
	}
	return nil
}

const sweepColumns = `id, name, project, owner, state, reason, metric, mode, managed, spec, snapshot, best_trial, best_value, version, created_at, updated_at, ended_at`

// Sweep returns one sweep.
func (s *Store) Sweep(ctx context.Context, id string) (*trainyard.Sweep, error) {
	sw, err := scanSweep(s.r.QueryRowContext(ctx, `SELECT `+sweepColumns+` FROM sweeps WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", id)
	}
	return sw, err
}

// Sweeps lists sweeps.
func (s *Store) Sweeps(ctx context.Context, f trainyard.SweepFilter) ([]*trainyard.Sweep, error) {
	var where []string
	var args []any
	order := "created_at DESC, id DESC"
	if f.Active {
		where = append(where, "state IN ('RUNNING', 'PAUSED', 'STOPPING')")
		order = "created_at, id"
	}
	if f.Project != "" {
		where = append(where, "project = ?")
		args = append(args, f.Project)
	}
	if f.IDPrefix != "" {
		where = append(where, "id >= ? AND id < ?")
		args = append(args, f.IDPrefix, f.IDPrefix+"\x7f")
	}
	q := `SELECT ` + sweepColumns + ` FROM sweeps`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY " + order + " LIMIT ?"
	args = append(args, limitOrDefault(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	defer rows.Close()
	var out []*trainyard.Sweep
	for rows.Next() {
		sw, err := scanSweep(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sw)
	}
	return out, rows.Err()
}

// Trials returns a sweep's trials by number.
func (s *Store) Trials(ctx context.Context, sweepID string) ([]*trainyard.Trial, error) {
	// One read transaction: the sweep's existence and its trials agree.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sweeps WHERE id = ?`, sweepID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s not found", sweepID)
	} else if err != nil {
		return nil, fmt.Errorf("find sweep %s: %w", sweepID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT data FROM trials WHERE sweep_id = ? ORDER BY number`, sweepID)
	if err != nil {
		return nil, fmt.Errorf("list trials of sweep %s: %w", sweepID, err)
	}
	defer rows.Close()
	out := []*trainyard.Trial{}
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		t := new(trainyard.Trial)
		if err := json.Unmarshal(data, t); err != nil {
			return nil, fmt.Errorf("decode a trial of sweep %s: %w", sweepID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func scanSweep(sc scanner) (*trainyard.Sweep, error) {
	var (
		sw                      trainyard.Sweep
		spec, snapshot          string
		best                    sql.NullString
		created, updated, ended int64
	)
	if err := sc.Scan(&sw.ID, &sw.Name, &sw.Project, &sw.Owner, &sw.State, &sw.Reason, &sw.Metric, &sw.Mode, &sw.Managed, &spec, &snapshot,
		&sw.BestTrial, &best, &sw.Version, &created, &updated, &ended); err != nil {
		return nil, err
	}
	sw.Spec = json.RawMessage(spec)
	if snapshot != "" {
		sw.Snapshot = json.RawMessage(snapshot)
	}
	if best.Valid {
		if v, ok := trainyard.ParseSpecialFloat(best.String); ok {
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
