package sqlite_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// BenchmarkReadDownsampled100k reads a 100,000-point series downsampled
// to 700 buckets, as a chart of the compare page does for each run.
func BenchmarkReadDownsampled100k(b *testing.B) {
	s := benchStore(b, "NORMAL")
	ctx := context.Background()
	s.CreateRun(ctx, &trainyard.Run{ID: "r", Project: "p", Name: "r", State: trainyard.StateRunning, CreatedAt: time.Now()})
	sp := trainyard.SeriesPoints{Key: "loss"}
	for i := range 100_000 {
		sp.Steps = append(sp.Steps, int64(i))
		sp.Values = append(sp.Values, math.Sin(float64(i)/1000))
		sp.Times = append(sp.Times, 1_700_000_000_000+int64(i)*7)
	}
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{MaxPoints: 700})
		if err != nil || got.Total != 100_000 {
			b.Fatal(err)
		}
	}
}
