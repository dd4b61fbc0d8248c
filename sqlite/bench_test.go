package sqlite_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
)

func benchStore(b *testing.B, sync string) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "t.db"), sqlite.Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppend measures durable appends straight into the store (no
// HTTP): batches of 1,000 points over 10 keys from several writers.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []string{"FULL", "NORMAL"} {
		for _, writers := range []int{1, 8, 64} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", mode, writers), func(b *testing.B) {
				s := benchStore(b, mode)
				ctx := context.Background()
				for w := range writers {
					s.CreateRun(ctx, &trainyard.Run{ID: fmt.Sprint("r", w), Project: "p", Name: "r", State: trainyard.StateRunning, CreatedAt: time.Now()})
				}
				const perBatch = 1000
				var wg sync.WaitGroup
				work := make(chan int, b.N)
				for i := range b.N {
					work <- i
				}
				close(work)
				b.ResetTimer()
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						step := int64(0)
						for range work {
							batch := make([]trainyard.SeriesPoints, 10)
							for k := range batch {
								sp := &batch[k]
								sp.Key = fmt.Sprint("m", k)
								for range perBatch / 10 {
									sp.Steps = append(sp.Steps, step)
									sp.Values = append(sp.Values, float64(step)*0.001)
									sp.Times = append(sp.Times, 1_700_000_000_000+step)
									step++
								}
							}
							if err := s.AppendMetrics(ctx, fmt.Sprint("r", w), batch); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

// BenchmarkReadDownsampled reads one run's 1,000,000-point series
// downsampled to 1,000 buckets.
func BenchmarkReadDownsampled(b *testing.B) {
	s := benchStore(b, "NORMAL")
	ctx := context.Background()
	s.CreateRun(ctx, &trainyard.Run{ID: "r", Project: "p", Name: "r", State: trainyard.StateRunning, CreatedAt: time.Now()})
	const n = 1_000_000
	for lo := 0; lo < n; lo += 100_000 {
		sp := trainyard.SeriesPoints{Key: "loss"}
		for i := lo; i < lo+100_000; i++ {
			sp.Steps = append(sp.Steps, int64(i))
			sp.Values = append(sp.Values, math.Sin(float64(i)/1000))
			sp.Times = append(sp.Times, 1_700_000_000_000+int64(i)*7)
		}
		if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{MaxPoints: 1000})
		if err != nil || got.Total != n {
			b.Fatal(err, got.Total)
		}
	}
}
