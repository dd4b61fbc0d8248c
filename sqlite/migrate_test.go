package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
)

// A database from before chunk summaries (schema 2) is rebuilt by
// migration 3 without losing a point, and its old chunks, which have no
// summary, are read by decoding them.
func TestMigrationKeepsChunksWrittenWithoutSummaries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	db.Exec("PRAGMA user_version = 2")
	if _, err := db.Exec(`INSERT INTO runs (id, project, name, state, created_at) VALUES ('r', 'p', 'r', 'RUNNING', 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO series (id, run_id, key, summary, next_seq) VALUES (1, 'r', 'loss', '{}', 40)`); err != nil {
		t.Fatal(err)
	}
	var want []float64
	for seq := range 40 { // 40 chunks × 1000 points: long enough for summaries to be tried
		var steps, times []int64
		var vals []float64
		for i := range 1000 {
			steps = append(steps, int64(seq*1000+i))
			vals = append(vals, float64(seq*1000+i)/7)
			times = append(times, 1)
		}
		want = append(want, vals...)
		data, meta := chunk.Encode(nil, steps, vals, times)
		if _, err := db.Exec(`INSERT INTO chunks (series_id, seq, count, min_step, max_step, data) VALUES (1, ?, ?, ?, ?, ?)`,
			seq, meta.Count, meta.MinStep, meta.MaxStep, data); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{Clock: func() time.Time { return time.Unix(1, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(want, raw.Values) {
		t.Fatalf("after the migration: %d points, want %d", len(raw.Values), len(want))
	}
	ds, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{MaxPoints: 100})
	if err != nil || !ds.Downsampled || ds.Total != 40_000 || ds.Steps[len(ds.Steps)-1] != 39_999 {
		t.Fatalf("downsampled old chunks: %v %+v", err, ds)
	}
	var v int
	s.r.QueryRow("PRAGMA user_version").Scan(&v)
	if v != len(migrations) {
		t.Fatalf("schema version %d, want %d", v, len(migrations))
	}
}

// A database from before sweep owners (schema 7) keeps its sweeps, with no
// owner, and new sweeps record theirs.
func TestMigrationGivesOldSweepsNoOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:7] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	db.Exec("PRAGMA user_version = 7")
	if _, err := db.Exec(`INSERT INTO sweeps (id, name, project, state, metric, mode, managed, spec, created_at, updated_at)
		VALUES ('old', 'old', 'p', 'RUNNING', 'loss', 'min', 1, '{}', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old, err := s.Sweep(ctx, "old")
	if err != nil || old.Owner != "" || old.Name != "old" {
		t.Fatalf("the old sweep after the migration: %+v, %v; want it with no owner", old, err)
	}
	if err := s.CreateSweep(ctx, &trainyard.Sweep{ID: "new", Name: "new", Project: "p", Owner: "alice", State: trainyard.SweepRunning,
		Metric: "loss", Mode: "min", CreatedAt: time.Unix(2, 0), UpdatedAt: time.Unix(2, 0)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Sweep(ctx, "new"); err != nil || got.Owner != "alice" {
		t.Fatalf("a new sweep's owner: %+v, %v", got, err)
	}
}
