package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// RunShared runs the conformance tests of a store several servers use at
// once (trainyard.SharedStore). Each test opens two stores on the same
// data: f's store and a second one from its reopen, both open at once, as
// two servers would.
func RunShared(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b trainyard.SharedStore)
	}{
		{"MetricsFromTwoWriters", testSharedMetrics},
		{"ReadsSeeOtherWrites", testSharedReads},
		{"Election", testElection},
		{"FencedUpdates", testFencing},
		{"CancelRequests", testCancelRequests},
		{"SweepCompareAndSet", testSharedSweepCompareAndSet},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, reopen := f(t)
			a, ok := s.(trainyard.SharedStore)
			if !ok {
				s.Close()
				t.Fatalf("%T is not a trainyard.SharedStore", s)
			}
			b := reopen().(trainyard.SharedStore)
			t.Cleanup(func() { b.Close(); a.Close() })
			tc.fn(t, a, b)
		})
	}
}

// Two servers append to the same series at once; every point is stored
// once, in the series' order of arrival per writer, and the summary counts
// them all.
func testSharedMetrics(t *testing.T, a, b trainyard.SharedStore) {
	if err := a.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	const writes, per = 40, 50
	var wg sync.WaitGroup
	for w, s := range []trainyard.SharedStore{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				step := int64(w*writes*per + i*per)
				sp := trainyard.SeriesPoints{Key: "loss"}
				for j := range per {
					sp.Steps = append(sp.Steps, step+int64(j))
					sp.Values = append(sp.Values, float64(step+int64(j)))
					sp.Times = append(sp.Times, 1)
				}
				if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, s := range []trainyard.SharedStore{a, b} {
		got := readAll(t, s, "r", "loss")
		if got.Total != 2*writes*per || len(got.Steps) != 2*writes*per {
			t.Fatalf("%d points, want %d", len(got.Steps), 2*writes*per)
		}
		seen := map[int64]bool{}
		for i, st := range got.Steps {
			if seen[st] || got.Values[i] != float64(st) {
				t.Fatalf("point %d: step %d value %v (seen before: %v)", i, st, got.Values[i], seen[st])
			}
			seen[st] = true
		}
		run, err := s.Run(ctx, "r")
		if err != nil || run.Metrics["loss"].Count != 2*writes*per || run.Metrics["loss"].LastStep != 2*writes*per-1 {
			t.Fatalf("summary %+v, %v", run.Metrics["loss"], err)
		}
	}
	// A batch ID is stored once, whichever server gets it.
	sp := []trainyard.SeriesPoints{{Key: "once", Steps: []int64{1}, Values: []float64{1}, Times: []int64{1}}}
	if dup, err := a.AppendMetricsOnce(ctx, "r", "b1", sp); dup || err != nil {
		t.Fatalf("first send: dup %v, %v", dup, err)
	}
	if dup, err := b.AppendMetricsOnce(ctx, "r", "b1", sp); !dup || err != nil {
		t.Fatalf("second send to the other server: dup %v, %v; want dup", dup, err)
	}
}

// What one server writes, the other's reads and searches see at once.
func testSharedReads(t *testing.T, a, b trainyard.SharedStore) {
	if err := a.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	if err := a.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{{Key: "acc", Steps: []int64{0}, Values: []float64{0.5}, Times: []int64{1}}}); err != nil {
		t.Fatal(err)
	}
	hot := []trainyard.RunClause{{Kind: trainyard.RunMetric, Key: "acc", Op: ">", Num: 0.9, IsNum: true}}
	if runs, _, err := b.SearchRuns(ctx, trainyard.RunSearch{Filter: hot}); err != nil || len(runs) != 0 {
		t.Fatalf("before: %d runs, %v", len(runs), err)
	}
	if err := a.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{{Key: "acc", Steps: []int64{1}, Values: []float64{0.95}, Times: []int64{2}}}); err != nil {
		t.Fatal(err)
	}
	if runs, _, err := b.SearchRuns(ctx, trainyard.RunSearch{Filter: hot}); err != nil || len(runs) != 1 || float64(runs[0].Metrics["acc"].Last) != 0.95 {
		t.Fatalf("after another server's write: %v, %v", runs, err)
	}
	name := "renamed"
	if _, err := b.UpdateRun(ctx, "r", trainyard.RunUpdate{Name: &name, Tags: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	named := []trainyard.RunClause{{Kind: trainyard.RunTag, Key: "k", Op: "=", Str: "v"}, {Kind: trainyard.RunAttribute, Key: "name", Op: "=", Str: name}}
	if runs, _, err := a.SearchRuns(ctx, trainyard.RunSearch{Filter: named}); err != nil || len(runs) != 1 {
		t.Fatalf("the first server's search after the second's update: %v, %v", runs, err)
	}
}

// One server leads at a time; the next leads once the first lets go, with
// a higher epoch.
func testElection(t *testing.T, a, b trainyard.SharedStore) {
	la, err := a.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	won := make(chan trainyard.Lease, 1)
	go func() {
		lb, err := b.Campaign(ctx, "b")
		if err != nil {
			t.Error(err)
			return
		}
		won <- lb
	}()
	select {
	case <-won:
		t.Fatal("two leaders at once")
	case <-time.After(time.Second):
	}
	la.Release()
	select {
	case <-la.Lost():
	default:
		t.Fatal("a released lease is not lost")
	}
	select {
	case lb := <-won:
		defer lb.Release()
		if lb.Epoch() <= la.Epoch() {
			t.Fatalf("epoch %d after %d: must rise", lb.Epoch(), la.Epoch())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no new leader 10 s after the first let go")
	}
	// A campaign ends with its context.
	c, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := a.Campaign(c, "a"); err == nil {
		t.Fatal("a campaign against a held lease won")
	}
}

// A job update made for an old epoch writes nothing.
func testFencing(t *testing.T, a, b trainyard.SharedStore) {
	j := newJob("j", t0)
	if err := a.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	la, err := a.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	old := trainyard.WithLeaderEpoch(ctx, la.Epoch())
	j.Reason = "planned by a"
	if err := a.UpdateJobs(old, j); err != nil {
		t.Fatalf("the leader's update: %v", err)
	}
	la.Release()
	lb, err := b.Campaign(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Release()
	start := j.Clone()
	start.State, start.Launched, start.StartedAt = trainyard.StateRunning, true, t0.Add(time.Second)
	mustCode(t, a.UpdateJobs(old, start), trainyard.ECONFLICT)
	if got, _ := b.Job(ctx, "j"); got.State != trainyard.StateQueued || got.Launched || got.Version != j.Version {
		t.Fatalf("a deposed leader's start was written: %+v", got)
	}
	if err := b.UpdateJobs(trainyard.WithLeaderEpoch(ctx, lb.Epoch()), start); err != nil {
		t.Fatalf("the new leader's start: %v", err)
	}
}

// A cancel asked of one server reaches the other: the job is marked, a
// watcher hears of it, and it is listed until the job ends.
func testCancelRequests(t *testing.T, a, b trainyard.SharedStore) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events := b.WatchJobs(wctx)
	drain := func() {
		for {
			select {
			case <-events:
			case <-time.After(300 * time.Millisecond):
				return
			}
		}
	}
	hear := func(what string) {
		t.Helper()
		select {
		case <-events:
		case <-time.After(5 * time.Second):
			t.Fatalf("the other server did not hear of %s within 5 s", what)
		}
	}
	drain()
	j := newJob("j", t0)
	if err := a.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	hear("a new job")
	drain()
	got, err := a.RequestCancel(ctx, "j")
	if err != nil || !got.CancelRequested || got.State != trainyard.StateQueued {
		t.Fatalf("RequestCancel: %+v, %v", got, err)
	}
	hear("a cancel request")
	ids, err := b.CancelRequests(ctx)
	if err != nil || fmt.Sprint(ids) != "[j]" {
		t.Fatalf("CancelRequests: %v, %v", ids, err)
	}
	if j2, _ := b.Job(ctx, "j"); !j2.CancelRequested || j2.Version != j.Version {
		t.Fatalf("job after the request: %+v (a request must not move the version)", j2)
	}
	j.State, j.EndedAt = trainyard.StateCanceled, t0.Add(time.Minute)
	if err := b.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	if ids, err := a.CancelRequests(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("after the job ended: %v, %v", ids, err)
	}
	if j3, err := a.RequestCancel(ctx, "j"); err != nil || j3.State != trainyard.StateCanceled {
		t.Fatalf("RequestCancel of a finished job: %+v, %v; want it unchanged", j3, err)
	}
	_, err = a.RequestCancel(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)
}
