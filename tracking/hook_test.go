package tracking_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/tracking"
)

// OnMetrics hears every stored batch of metric points (from the native
// API's append and from log-batch), after it is stored, and never a
// duplicate batch nor a refused one.
func TestOnMetricsHearsStoredBatches(t *testing.T) {
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	type call struct {
		run    string
		points int
		stored int64 // points of the series in the store when the hook ran
	}
	var calls []call
	svc := tracking.New(tracking.Config{Store: store, OnMetrics: func(ctx context.Context, runID string, batch []trainyard.SeriesPoints) {
		c := call{run: runID}
		for _, b := range batch {
			c.points += b.Len()
		}
		if sr, err := store.ReadSeries(ctx, runID, "loss", trainyard.SeriesQuery{}); err == nil {
			c.stored = sr.Total
		}
		calls = append(calls, c)
	}})
	run, err := svc.CreateRun(ctx, trainyard.NewRun{Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	pts := func(n int) []trainyard.SeriesPoints {
		sp := trainyard.SeriesPoints{Key: "loss"}
		for i := range n {
			sp.Steps, sp.Values, sp.Times = append(sp.Steps, int64(i)), append(sp.Values, 1), append(sp.Times, 1)
		}
		return []trainyard.SeriesPoints{sp}
	}
	if _, err := svc.AppendMetrics(ctx, run.ID, "b1", pts(3)); err != nil {
		t.Fatal(err)
	}
	if dup, err := svc.AppendMetrics(ctx, run.ID, "b1", pts(3)); err != nil || !dup {
		t.Fatalf("second send of batch b1: dup=%v err=%v", dup, err)
	}
	if err := svc.LogBatch(ctx, run.ID, tracking.Batch{Metrics: []tracking.Point{{Key: "loss", Value: 2, Timestamp: 1, Step: 10}, {Key: "loss", Value: 2, Timestamp: 1, Step: 11}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AppendMetrics(ctx, "nope", "", pts(1)); err == nil {
		t.Fatal("append to an unknown run succeeded")
	}
	want := []call{{run.ID, 3, 3}, {run.ID, 2, 5}}
	if len(calls) != len(want) || calls[0] != want[0] || calls[1] != want[1] {
		t.Fatalf("hook calls = %+v, want %+v", calls, want)
	}
}
