package tracking_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/tracking"
)

var ctx = context.Background()

// rig is the service on a real SQLite store.
func rig(t *testing.T) (*tracking.Service, *sqlite.Store) {
	t.Helper()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	n := 0
	return tracking.New(tracking.Config{Store: store, NewID: func() string {
		n++
		return "run" + string(rune('a'+n))
	}}), store
}

func mustViolate(t *testing.T, err error, p tracking.Problem) *tracking.Violation {
	t.Helper()
	v, ok := tracking.IsViolation(err)
	if !ok || v.Problem != p {
		t.Fatalf("err = %v, want violation %d", err, p)
	}
	var de *trainyard.Error
	if !errors.As(err, &de) || de.Code == "" || de.Message == "" {
		t.Fatalf("a violation must read as a domain error, got %#v", de)
	}
	return v
}

func TestParamsAreImmutable(t *testing.T) {
	s, _ := rig(t)
	run, err := s.CreateRun(ctx, trainyard.NewRun{Project: "p", Config: map[string]any{"lr": 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LogBatch(ctx, run.ID, tracking.Batch{Params: []tracking.KV{{Key: "lr", Value: "0.1"}, {Key: "opt", Value: "adam"}}}); err != nil {
		t.Fatalf("the same value again and a new key: %v", err)
	}
	err = s.LogBatch(ctx, run.ID, tracking.Batch{Params: []tracking.KV{{Key: "lr", Value: "0.2"}}})
	if !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("changing a param: %v", err)
	}
	err = s.LogBatch(ctx, run.ID, tracking.Batch{Params: []tracking.KV{{Key: "x", Value: "1"}, {Key: "x", Value: "2"}}})
	mustViolate(t, err, tracking.DuplicateParam)
}

func TestAJobsRunBelongsToItsJob(t *testing.T) {
	s, store := rig(t)
	job := &trainyard.Job{ID: "job1", JobSpec: trainyard.JobSpec{Project: "p", Command: []string{"true"}}, State: trainyard.StateRunning, SubmittedAt: time.Now()}
	if err := store.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	done := trainyard.StateSucceeded
	_, err := s.UpdateRun(ctx, "job1", trainyard.RunUpdate{State: &done})
	v := mustViolate(t, err, tracking.JobOwnsState)
	if v.JobID != "job1" {
		t.Fatalf("violation names job %q", v.JobID)
	}
	// The run's own code reporting its end (mlflow.end_run) is not an
	// error: the name applies, the state waits for the job's exit.
	name := "renamed"
	run, err := s.ReportRun(ctx, "job1", trainyard.RunUpdate{Name: &name, State: &done})
	if err != nil {
		t.Fatal(err)
	}
	if run.Name != "renamed" || run.State == trainyard.StateSucceeded {
		t.Fatalf("run after report = %s %s", run.Name, run.State)
	}
}

func TestADeletedRunTakesNoWrites(t *testing.T) {
	s, _ := rig(t)
	run, err := s.CreateRun(ctx, trainyard.NewRun{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetRunDeleted(ctx, run.ID, true); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func() error{
		"log batch": func() error {
			return s.LogBatch(ctx, run.ID, tracking.Batch{Tags: []tracking.KV{{Key: "a", Value: "b"}}})
		},
		"delete tag": func() error { return s.DeleteTag(ctx, run.ID, "a") },
		"run io":     func() error { return s.AddRunIO(ctx, run.ID, trainyard.RunIO{}) },
	} {
		mustViolate(t, write(), tracking.RunDeleted)
		_ = name
	}
	if err := s.SetRunDeleted(ctx, run.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.LogBatch(ctx, run.ID, tracking.Batch{Tags: []tracking.KV{{Key: "a", Value: "b"}}}); err != nil {
		t.Fatalf("a restored run takes writes: %v", err)
	}
}

func TestBatchLimits(t *testing.T) {
	s, _ := rig(t)
	run, _ := s.CreateRun(ctx, trainyard.NewRun{})
	many := func(n int) []tracking.KV {
		out := make([]tracking.KV, n)
		for i := range out {
			out[i] = tracking.KV{Key: "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)), Value: "v"}
		}
		return out
	}
	points := func(n int) []tracking.Point {
		out := make([]tracking.Point, n)
		for i := range out {
			out[i] = tracking.Point{Key: "m", Step: int64(i)}
		}
		return out
	}
	for name, tc := range map[string]struct {
		b    tracking.Batch
		what string
	}{
		"metrics":  {tracking.Batch{Metrics: points(1001)}, "metrics"},
		"params":   {tracking.Batch{Params: many(101)}, "params"},
		"tags":     {tracking.Batch{Tags: many(101)}, "tags"},
		"together": {tracking.Batch{Params: many(100), Tags: many(100), Metrics: points(900)}, "metrics, params, and tags"},
	} {
		v := mustViolate(t, s.LogBatch(ctx, run.ID, tc.b), tracking.TooMany)
		if v.What != tc.what {
			t.Errorf("%s: violation is about %q", name, v.What)
		}
	}
	v := mustViolate(t, s.LogBatch(ctx, run.ID, tracking.Batch{Params: []tracking.KV{{Key: "p", Value: strings.Repeat("x", 6001)}}}), tracking.ValueTooLong)
	if v.Limit != 6000 || v.Len != 6001 {
		t.Errorf("long param: %+v", v)
	}
	mustViolate(t, s.LogBatch(ctx, run.ID, tracking.Batch{Tags: []tracking.KV{{Key: "t", Value: strings.Repeat("x", 8001)}}}), tracking.ValueTooLong)
	mustViolate(t, s.LogBatch(ctx, run.ID, tracking.Batch{Tags: []tracking.KV{{Key: "a/../b", Value: "x"}}}), tracking.KeyInvalid)
}
