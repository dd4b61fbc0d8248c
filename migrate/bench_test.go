package migrate_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/migrate"
	"github.com/trainyard/trainyard/sqlite"
)

// BenchmarkMigrate moves 500 runs of 4 series of 5,000 points each (10
// million points) from SQLite into a real PostgreSQL (pgtest, fsync off)
// and reports points and rows a second:
//
//	go test -run '^$' -bench Migrate -benchtime 3x ./migrate
func BenchmarkMigrate(b *testing.B) {
	const runs, series, points = 500, 4, 5000
	dir := b.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range runs {
		id := fmt.Sprintf("r%04d", i)
		if err := s.CreateRun(ctx, &trainyard.Run{ID: id, Project: "bench", Name: id, State: trainyard.StateSucceeded,
			Config: map[string]any{"lr": rng.Float64(), "layers": float64(rng.IntN(10))}, Tags: map[string]string{"k": "v"}, CreatedAt: t0}); err != nil {
			b.Fatal(err)
		}
		batch := make([]trainyard.SeriesPoints, series)
		for k := range batch {
			sp := trainyard.SeriesPoints{Key: fmt.Sprintf("m%d", k)}
			for p := range points {
				sp.Steps, sp.Values, sp.Times = append(sp.Steps, int64(p)), append(sp.Values, rng.NormFloat64()), append(sp.Times, int64(p))
			}
			batch[k] = sp
		}
		if err := s.AppendMetrics(ctx, id, batch); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.ResetTimer()
	var took time.Duration
	for b.Loop() {
		url := pgtest.NewDatabase(b)
		start := time.Now()
		rep, err := migrate.Run(ctx, migrate.Options{From: dir, To: url})
		took += time.Since(start)
		if err != nil || !rep.OK() {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(runs*series*points*b.N)/took.Seconds(), "points/s")
}
