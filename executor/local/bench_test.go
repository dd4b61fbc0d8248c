package local

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// BenchmarkStart starts `true` and waits for it. Besides the time per start
// and wait, it reports the median and 95th percentile of Start alone: from
// submit to a running job process.
func BenchmarkStart(b *testing.B) {
	e := newExecutor(b, b.TempDir())
	task := newTask(b, "true")
	var starts []time.Duration
	for b.Loop() {
		t0 := time.Now()
		h, err := e.Start(context.Background(), task)
		if err != nil {
			b.Fatal(err)
		}
		starts = append(starts, time.Since(t0))
		if st, err := e.Wait(context.Background(), h); err != nil || st != (trainyard.ExitStatus{}) {
			b.Fatalf("Wait = %+v, %v", st, err)
		}
		e.Cleanup(ctx, h)
	}
	slices.Sort(starts)
	b.ReportMetric(float64(starts[len(starts)/2].Microseconds())/1000, "start-p50-ms")
	b.ReportMetric(float64(starts[len(starts)*95/100].Microseconds())/1000, "start-p95-ms")
}
