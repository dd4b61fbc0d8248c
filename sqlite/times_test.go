package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
)

// A run whose times an older trainyard stored out of range (microseconds
// sent as milliseconds, 2^63-1) must not break the reads that list it: the
// times read as the nearest representable ones.
func TestRunTimesOutOfRangeStillRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"big", "small", "ok"} {
		r := &trainyard.Run{ID: id, Project: "p", Name: id, State: trainyard.StateRunning, Config: map[string]any{}, Tags: map[string]string{},
			Summary: map[string]any{}, CreatedAt: time.Now(), StartedAt: time.Now()}
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`UPDATE runs SET created_at = 9223372036854775807, started_at = 1700000000000000000, ended_at = -1 WHERE id = 'big'`,
		`UPDATE runs SET created_at = -9223372036854775807, started_at = -62135596800000001 WHERE id = 'small'`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.Runs(ctx, trainyard.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(runs); err != nil {
		t.Fatalf("runs with out-of-range times cannot be written as JSON: %v", err)
	}
	if _, err := s.Projects(ctx); err != nil {
		t.Fatal(err)
	}
	big, err := s.Run(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if y := big.CreatedAt.Year(); y != 9999 {
		t.Errorf("created_at 2^63-1 µs reads as year %d, want 9999", y)
	}
	if b, err := json.Marshal(big); err != nil {
		t.Fatalf("run: %v (%s)", err, b)
	}
}
