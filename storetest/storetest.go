// Package storetest is the conformance suite for trainyard.Store. Every
// implementation (SQLite now, PostgreSQL later) runs it from its own tests:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, factory) }
package storetest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard"
)

// Factory opens a fresh, empty store for one test. Reopen closes nothing:
// the suite closes the first store, then calls reopen to open the same data
// again.
type Factory func(t *testing.T) (s trainyard.Store, reopen func() trainyard.Store)

// Run runs every conformance test against stores made by f.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f Factory)
	}{
		{"JobLifecycle", testJobLifecycle},
		{"JobCompareAndSet", testJobCompareAndSet},
		{"JobErrors", testJobErrors},
		{"JobLists", testJobLists},
		{"RunCreateAndGet", testRunCreateAndGet},
		{"RunUpdate", testRunUpdate},
		{"RunListsAndProjects", testRunLists},
		{"MetricsRoundTrip", testMetricsRoundTrip},
		{"MetricsSummary", testMetricsSummary},
		{"MetricsErrors", testMetricsErrors},
		{"MetricsBatchOnce", testMetricsBatchOnce},
		{"MetricsIdenticalPointsOnce", testMetricsIdenticalPointsOnce},
		{"MetricsPaging", testMetricsPaging},
		{"MetricsManySmallAppends", testMetricsManySmallAppends},
		{"MetricsDownsample", testMetricsDownsample},
		{"MetricsStepRange", testMetricsStepRange},
		{"MetricsConcurrentAppends", testMetricsConcurrent},
		{"SurvivesReopen", testSurvivesReopen},
		{"Experiments", testExperiments},
		{"ExperimentIDs", testExperimentIDs},
		{"RunDeleted", testRunDeleted},
		{"SetParams", testSetParams},
		{"LogBatchAtomic", testLogBatchAtomic},
		{"SearchRuns", testSearchRuns},
		{"SearchRunsConcurrent", testSearchRunsConcurrent},
		{"SearchMatchesReference", testSearchMatchesReference},
		{"RunIO", testRunIO},
		{"Registry", testRegistry},
		{"LoggedModels", testLoggedModels},
		{"SweepLifecycle", testSweepLifecycle},
		{"SweepCompareAndSet", testSweepCompareAndSet},
		{"SweepErrors", testSweepErrors},
		{"SweepOwners", testSweepOwners},
		{"SweepLists", testSweepLists},
		{"SweepSurvivesReopen", testSweepSurvivesReopen},
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"ServerSecret", testServerSecret},
		{"Audit", testAudit},
		{"Owners", testOwners},
		{"JobProjects", testJobProjects},
		{"RenameMovesRoles", testRenameMovesRoles},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

var ctx = context.Background()

// t0 is a fixed time with microsecond precision, as stores keep it.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func open(t *testing.T, f Factory) trainyard.Store {
	s, _ := f(t)
	t.Cleanup(func() { s.Close() })
	return s
}

func newJob(id string, at time.Time) *trainyard.Job {
	spec := trainyard.JobSpec{
		Name: "train " + id, Project: "vision", Command: []string{"python", "train.py", "--lr", "0.1"},
		Workdir: "/src", Env: map[string]string{"A": "1"}, Resources: trainyard.Resources{GPUs: 2, CPUs: 4, Memory: 8 << 30},
		Priority: 5, MaxRestarts: 1, Config: map[string]any{"model": map[string]any{"layers": 3.0}},
		Tags: map[string]string{"team": "cv"}, Git: &trainyard.GitInfo{Commit: "abc123", Dirty: true},
	}
	return &trainyard.Job{JobSpec: spec, ID: id, State: trainyard.StateQueued, SubmittedAt: at}
}

func newRun(id, project string, at time.Time) *trainyard.Run {
	return &trainyard.Run{ID: id, Project: project, Name: "run " + id, State: trainyard.StateRunning,
		Config: map[string]any{"lr": 0.1}, Tags: map[string]string{}, Summary: map[string]any{}, CreatedAt: at, StartedAt: at}
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := trainyard.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func testJobLifecycle(t *testing.T, f Factory) {
	s := open(t, f)
	j := newJob("j1", t0)
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, err := s.Job(ctx, "j1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(j, got); diff != "" {
		t.Fatalf("stored job differs (-want +got):\n%s", diff)
	}
	run, err := s.Run(ctx, "j1")
	if err != nil {
		t.Fatalf("job's run: %v", err)
	}
	if run.JobID != "j1" || run.State != trainyard.StateQueued || run.Project != "vision" || run.Name != "train j1" {
		t.Fatalf("job's run = %+v", run)
	}
	if diff := cmp.Diff(map[string]any{"model.layers": 3.0}, run.Config); diff != "" {
		t.Fatalf("run config not flattened (-want +got):\n%s", diff)
	}
	if run.Git == nil || run.Git.Commit != "abc123" || !run.Git.Dirty {
		t.Fatalf("run git = %+v", run.Git)
	}

	j.State, j.Handle, j.StartedAt, j.Launched, j.BackendID = trainyard.StateRunning, `{"pid":4242}`, t0.Add(time.Second), true, "4242"
	j.Placement = []trainyard.Placement{{Node: "n1", GPUs: []int{0, 3}, CPUs: 4, Memory: 1 << 30}, {Node: "n2", GPUs: []int{1}}}
	if err := s.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	if j.Version != 1 {
		t.Fatalf("version after one update = %d, want 1", j.Version)
	}
	code := 3
	j.State, j.ExitCode, j.Reason, j.EndedAt, j.Restarts, j.Launched = trainyard.StateFailed, &code, "exit code 3", t0.Add(time.Minute), 1, false
	if err := s.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Job(ctx, "j1")
	if diff := cmp.Diff(j, got); diff != "" {
		t.Fatalf("updated job differs (-want +got):\n%s", diff)
	}
	run, _ = s.Run(ctx, "j1")
	if run.State != trainyard.StateFailed || run.ExitCode == nil || *run.ExitCode != 3 || run.Reason != "exit code 3" ||
		!run.EndedAt.Equal(j.EndedAt) || !run.StartedAt.Equal(j.StartedAt) {
		t.Fatalf("run does not mirror the job: %+v", run)
	}
}

// testJobCompareAndSet: UpdateJobs writes only over the version a job was
// read at, and a batch with one stale job writes nothing.
func testJobCompareAndSet(t *testing.T, f Factory) {
	s := open(t, f)
	a, b := newJob("a", t0), newJob("b", t0.Add(time.Second))
	for _, j := range []*trainyard.Job{a, b} {
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	staleA := a.Clone()
	a.Reason = "first"
	if err := s.UpdateJobs(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Another writer read a before that update: refused, nothing written.
	staleA.State, staleA.Reason = trainyard.StateRunning, "stale"
	b.State = trainyard.StateRunning
	err := s.UpdateJobs(ctx, b, staleA)
	mustCode(t, err, trainyard.ECONFLICT)
	if !strings.Contains(trainyard.ErrorMessage(err), "job a") {
		t.Errorf("conflict %q does not name job a", trainyard.ErrorMessage(err))
	}
	if staleA.Version != 0 || b.Version != 0 {
		t.Errorf("versions after a refused batch: a %d, b %d; want unchanged 0, 0", staleA.Version, b.Version)
	}
	gotB, _ := s.Job(ctx, "b")
	gotA, _ := s.Job(ctx, "a")
	if gotB.State != trainyard.StateQueued || gotB.Version != 0 || gotA.Reason != "first" || gotA.Version != 1 {
		t.Fatalf("a refused batch wrote something: a = %+v, b = %+v", gotA, gotB)
	}
	// Both current: both written, both one version more.
	gotA.State, gotB.State = trainyard.StateRunning, trainyard.StateRunning
	if err := s.UpdateJobs(ctx, gotA, gotB); err != nil {
		t.Fatal(err)
	}
	if gotA.Version != 2 || gotB.Version != 1 {
		t.Errorf("versions after the batch: a %d, b %d; want 2, 1", gotA.Version, gotB.Version)
	}
	run, _ := s.Run(ctx, "b")
	if run.State != trainyard.StateRunning {
		t.Errorf("b's run is %s, want RUNNING mirrored", run.State)
	}
}

func testJobErrors(t *testing.T, f Factory) {
	s := open(t, f)
	_, err := s.Job(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)
	mustCode(t, s.UpdateJobs(ctx, newJob("nope", t0)), trainyard.ENOTFOUND)
	if err := s.CreateJob(ctx, newJob("j1", t0)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.CreateJob(ctx, newJob("j1", t0)), trainyard.ECONFLICT)
	// A run with the ID of a new job also conflicts, and no job is left behind.
	if err := s.CreateRun(ctx, newRun("taken", "p", t0)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.CreateJob(ctx, newJob("taken", t0)), trainyard.ECONFLICT)
	_, err = s.Job(ctx, "taken")
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testJobLists(t *testing.T, f Factory) {
	s := open(t, f)
	for i, st := range []trainyard.State{trainyard.StateQueued, trainyard.StateRunning, trainyard.StateSucceeded, trainyard.StateQueued} {
		j := newJob(fmt.Sprintf("j%d", i), t0.Add(time.Duration(i)*time.Second))
		if i == 3 {
			j.Project = "nlp"
		}
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		j.State = st
		if err := s.UpdateJobs(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(js []*trainyard.Job, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    trainyard.JobFilter
		want []string
	}{
		{"all, newest first", trainyard.JobFilter{}, []string{"j3", "j2", "j1", "j0"}},
		{"active, oldest first", trainyard.JobFilter{Active: true}, []string{"j0", "j1", "j3"}},
		{"by state", trainyard.JobFilter{State: trainyard.StateQueued}, []string{"j3", "j0"}},
		{"by project", trainyard.JobFilter{Project: "nlp"}, []string{"j3"}},
		{"limit", trainyard.JobFilter{Limit: 2}, []string{"j3", "j2"}},
		{"by id prefix", trainyard.JobFilter{IDPrefix: "j"}, []string{"j3", "j2", "j1", "j0"}},
		{"by a whole id as prefix", trainyard.JobFilter{IDPrefix: "j2"}, []string{"j2"}},
		{"by id prefix, none", trainyard.JobFilter{IDPrefix: "k"}, nil},
		{"by id prefix, active", trainyard.JobFilter{IDPrefix: "j", Active: true}, []string{"j0", "j1", "j3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(s.Jobs(ctx, tc.f))); diff != "" {
				t.Fatalf("(-want +got):\n%s", diff)
			}
		})
	}
}

func testRunCreateAndGet(t *testing.T, f Factory) {
	s := open(t, f)
	r := newRun("r1", "p", t0)
	r.Command = []string{"python", "x.py"}
	r.Workdir = "/w"
	r.Git = &trainyard.GitInfo{Commit: "c0ffee", Branch: "main"}
	r.Tags = map[string]string{"k": "v"}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Run(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	r.Metrics = map[string]trainyard.MetricSummary{}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	head, err := s.RunHeader(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	r.Metrics = nil
	if diff := cmp.Diff(r, head); diff != "" {
		t.Fatalf("RunHeader (-want +got):\n%s", diff)
	}
	mustCode(t, s.CreateRun(ctx, newRun("r1", "p", t0)), trainyard.ECONFLICT)
	_, err = s.Run(ctx, "missing")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.RunHeader(ctx, "missing")
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testRunUpdate(t *testing.T, f Factory) {
	s := open(t, f)
	r := newRun("r1", "p", t0)
	r.Tags = map[string]string{"keep": "1", "drop": "2"}
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	done := trainyard.StateSucceeded
	got, err := s.UpdateRun(ctx, "r1", trainyard.RunUpdate{
		Name: &name, State: &done,
		Config:     map[string]any{"opt": map[string]any{"name": "adam"}, "lr": 0.2},
		Tags:       map[string]string{"new": "3"},
		DeleteTags: []string{"drop"},
		Summary:    map[string]any{"best": 0.9},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "renamed" || got.State != trainyard.StateSucceeded || got.EndedAt.IsZero() {
		t.Fatalf("update not applied: %+v", got)
	}
	if diff := cmp.Diff(map[string]any{"lr": 0.2, "opt.name": "adam"}, got.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"keep": "1", "new": "3"}, got.Tags); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	again, _ := s.Run(ctx, "r1")
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("UpdateRun's answer differs from a later read (-returned +read):\n%s", diff)
	}
	_, err = s.UpdateRun(ctx, "missing", trainyard.RunUpdate{Name: &name})
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testRunLists(t *testing.T, f Factory) {
	s := open(t, f)
	for i := range 5 {
		p := "a"
		if i%2 == 1 {
			p = "b"
		}
		if err := s.CreateRun(ctx, newRun(fmt.Sprintf("r%d", i), p, t0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendMetrics(ctx, "r4", []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{1}, Values: []float64{0.5}, Times: []int64{1}}}); err != nil {
		t.Fatal(err)
	}
	list := func(f trainyard.RunFilter) []string {
		t.Helper()
		rs, err := s.Runs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	if diff := cmp.Diff([]string{"r4", "r3", "r2", "r1", "r0"}, list(trainyard.RunFilter{})); diff != "" {
		t.Errorf("all (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r3", "r1"}, list(trainyard.RunFilter{Project: "b"})); diff != "" {
		t.Errorf("project b (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r3", "r2"}, list(trainyard.RunFilter{Limit: 2, Offset: 1})); diff != "" {
		t.Errorf("page (-want +got):\n%s", diff)
	}
	rs, _ := s.Runs(ctx, trainyard.RunFilter{Limit: 1})
	if m, ok := rs[0].Metrics["loss"]; !ok || m.Count != 1 {
		t.Errorf("listed run lacks its metric summary: %+v", rs[0].Metrics)
	}
	ps, err := s.Projects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []trainyard.Project{{Name: "a", Runs: 3, LastRunAt: t0.Add(4 * time.Minute)}, {Name: "b", Runs: 2, LastRunAt: t0.Add(3 * time.Minute)}}
	if diff := cmp.Diff(want, ps); diff != "" {
		t.Errorf("projects (-want +got):\n%s", diff)
	}
}

// series builds a batch of n points starting at step from.
func series(key string, from, n int, val func(i int) float64) trainyard.SeriesPoints {
	sp := trainyard.SeriesPoints{Key: key}
	for i := from; i < from+n; i++ {
		sp.Steps = append(sp.Steps, int64(i))
		sp.Values = append(sp.Values, val(i))
		sp.Times = append(sp.Times, 1_700_000_000_000+int64(i))
	}
	return sp
}

func readAll(t *testing.T, s trainyard.Store, run, key string) *trainyard.Series {
	t.Helper()
	got, err := s.ReadSeries(ctx, run, key, trainyard.SeriesQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

var equateNaN = cmp.Options{cmpopts.EquateNaNs(), cmp.Comparer(func(a, b trainyard.Float) bool {
	return a == b || a != a && b != b
})}

func testMetricsRoundTrip(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	in := trainyard.SeriesPoints{Key: "loss/train", Steps: []int64{0, 1, 2, 2, 10, -5}, Values: []float64{1, math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 1e300},
		Times: []int64{10, 20, 30, 40, 50, 60}}
	big := series("acc", 0, 10_000, func(i int) float64 { return float64(i) / 10_000 })
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{in, big}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, "r", "loss/train")
	if diff := cmp.Diff(in.Steps, got.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(in.Values, got.Values, equateNaN); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(in.Times, got.Times); diff != "" {
		t.Errorf("times (-want +got):\n%s", diff)
	}
	if got.Total != 6 || got.Downsampled {
		t.Errorf("total %d downsampled %v, want 6 false", got.Total, got.Downsampled)
	}
	gb := readAll(t, s, "r", "acc")
	if diff := cmp.Diff(big.Values, gb.Values); diff != "" {
		t.Errorf("10,000-point series (-want +got):\n%s", diff)
	}
}

func testMetricsSummary(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	batches := [][]trainyard.SeriesPoints{
		{{Key: "loss", Steps: []int64{0, 1}, Values: []float64{math.NaN(), 3}, Times: []int64{1, 2}}},
		{{Key: "loss", Steps: []int64{5, 2}, Values: []float64{-1, 7}, Times: []int64{3, 4}}},
		{{Key: "nan", Steps: []int64{0}, Values: []float64{math.NaN()}, Times: []int64{9}}},
	}
	for _, b := range batches {
		if err := s.AppendMetrics(ctx, "r", b); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Run(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	nan := trainyard.Float(math.NaN())
	want := map[string]trainyard.MetricSummary{
		"loss": {Count: 4, Last: -1, LastStep: 5, LastTime: 3, Min: -1, Max: 7},
		"nan":  {Count: 1, Last: nan, LastStep: 0, LastTime: 9, Min: nan, Max: nan},
	}
	if diff := cmp.Diff(want, r.Metrics, equateNaN); diff != "" {
		t.Fatalf("summary (-want +got):\n%s", diff)
	}
}

func testMetricsErrors(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	ok := series("ok", 0, 3, func(i int) float64 { return 1 })
	mustCode(t, s.AppendMetrics(ctx, "missing", []trainyard.SeriesPoints{ok}), trainyard.ENOTFOUND)
	bad := trainyard.SeriesPoints{Key: "bad", Steps: []int64{1, 2}, Values: []float64{1}, Times: []int64{1, 2}}
	mustCode(t, s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{ok, bad}), trainyard.EINVALID)
	mustCode(t, s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{{Key: "", Steps: []int64{1}, Values: []float64{1}, Times: []int64{1}}}), trainyard.EINVALID)
	// Nothing of a refused batch is stored.
	_, err := s.ReadSeries(ctx, "r", "ok", trainyard.SeriesQuery{})
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.ReadSeries(ctx, "missing", "ok", trainyard.SeriesQuery{})
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testMetricsPaging(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	// Batches of odd sizes put chunk boundaries everywhere.
	n := 0
	for _, size := range []int{1, 4095, 4096, 4097, 7, 3000} {
		if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{series("x", n, size, func(i int) float64 { return float64(i) })}); err != nil {
			t.Fatal(err)
		}
		n += size
	}
	for _, tc := range []struct{ offset, limit int }{{0, 0}, {0, 1}, {1, 4095}, {4090, 20}, {8000, 5000}, {n - 1, 10}, {n, 10}, {n + 5, 1}, {100, 0}} {
		got, err := s.ReadSeries(ctx, "r", "x", trainyard.SeriesQuery{Offset: tc.offset, Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		end := n
		if tc.limit > 0 {
			end = min(n, tc.offset+tc.limit)
		}
		var want []int64
		for i := tc.offset; i < end; i++ {
			want = append(want, int64(i))
		}
		if diff := cmp.Diff(want, got.Steps, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("offset %d limit %d (-want +got):\n%s", tc.offset, tc.limit, diff)
		}
		if got.Total != int64(n) {
			t.Errorf("offset %d limit %d: total %d, want %d", tc.offset, tc.limit, got.Total, n)
		}
	}
}

func testMetricsManySmallAppends(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	var want []float64
	for b := range 300 {
		sp := series("loss", b*3, 3, func(i int) float64 { return float64(i) * 0.5 })
		want = append(want, sp.Values...)
		if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
			t.Fatal(err)
		}
		if b%50 == 49 { // read while the store may be compacting
			got := readAll(t, s, "r", "loss")
			if diff := cmp.Diff(want, got.Values); diff != "" {
				t.Fatalf("after %d appends (-want +got):\n%s", b+1, diff)
			}
		}
	}
}

func testMetricsDownsample(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	const n = 100_000
	sp := series("loss", 0, n, func(i int) float64 { return math.Sin(float64(i) / 1000) })
	sp.Values[54_321] = 99  // a spike
	sp.Values[12_345] = -99 // a dip
	sp.Values[777] = math.NaN()
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{sp}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{MaxPoints: 500})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Downsampled || len(got.Steps) > 500 || len(got.Steps) < 400 || got.Total != n {
		t.Fatalf("downsampled=%v buckets=%d total=%d, want true, 400..500, %d", got.Downsampled, len(got.Steps), got.Total, n)
	}
	if len(got.Min) != len(got.Steps) || len(got.Max) != len(got.Steps) || len(got.Values) != len(got.Steps) || len(got.Times) != len(got.Steps) {
		t.Fatalf("column lengths differ: %d %d %d %d %d", len(got.Steps), len(got.Values), len(got.Times), len(got.Min), len(got.Max))
	}
	mx, mn := math.Inf(-1), math.Inf(1)
	for i := range got.Max {
		mx, mn = math.Max(mx, got.Max[i]), math.Min(mn, got.Min[i])
	}
	if mx != 99 || mn != -99 {
		t.Fatalf("spike and dip lost: max %v min %v", mx, mn)
	}
	if got.Steps[len(got.Steps)-1] != n-1 {
		t.Fatalf("last bucket ends at step %d, want %d", got.Steps[len(got.Steps)-1], n-1)
	}
	// Steps written out of order are downsampled by step ranges, with the
	// same guarantees.
	late := series("late", 50_000, 50_000, func(i int) float64 { return float64(i % 1000) })
	early := series("late", 0, 50_000, func(i int) float64 { return -float64(i % 777) })
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{late}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{early}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.ReadSeries(ctx, "r", "late", trainyard.SeriesQuery{MaxPoints: 300})
	if err != nil {
		t.Fatal(err)
	}
	lmx, lmn := math.Inf(-1), math.Inf(1)
	for i := range ds.Max {
		lmx, lmn = math.Max(lmx, ds.Max[i]), math.Min(lmn, ds.Min[i])
		if i > 0 && ds.Steps[i] <= ds.Steps[i-1] {
			t.Fatalf("buckets not in step order at %d: %v", i, ds.Steps[i-1:i+1])
		}
	}
	if !ds.Downsampled || ds.Total != 100_000 || len(ds.Steps) > 300 || lmx != 999 || lmn != -776 || ds.Steps[len(ds.Steps)-1] != 99_999 {
		t.Fatalf("out-of-order series: downsampled=%v total=%d buckets=%d max=%v min=%v last=%d", ds.Downsampled, ds.Total, len(ds.Steps), lmx, lmn, ds.Steps[len(ds.Steps)-1])
	}
	// Asking for more points than exist returns them raw.
	raw, err := s.ReadSeries(ctx, "r", "loss", trainyard.SeriesQuery{MaxPoints: 2 * n})
	if err != nil {
		t.Fatal(err)
	}
	if raw.Downsampled || len(raw.Values) != n {
		t.Fatalf("max_points > total: downsampled=%v len=%d", raw.Downsampled, len(raw.Values))
	}
}

func testMetricsStepRange(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendMetrics(ctx, "r", []trainyard.SeriesPoints{series("x", 0, 20_000, func(i int) float64 { return float64(i) })}); err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(5000), int64(5009)
	got, err := s.ReadSeries(ctx, "r", "x", trainyard.SeriesQuery{StartStep: &lo, EndStep: &hi})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009}
	if diff := cmp.Diff(want, got.Steps); diff != "" || got.Total != 10 {
		t.Fatalf("range (-want +got):\n%s total %d", diff, got.Total)
	}
	hi = 15000
	ds, err := s.ReadSeries(ctx, "r", "x", trainyard.SeriesQuery{StartStep: &lo, EndStep: &hi, MaxPoints: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Downsampled || ds.Total != 10001 || ds.Steps[0] < lo || ds.Steps[len(ds.Steps)-1] != hi || ds.Min[0] != 5000 {
		t.Fatalf("downsampled range: %+v", ds)
	}
}

func testMetricsConcurrent(t *testing.T, f Factory) {
	s := open(t, f)
	const runs, writers, batches, per = 3, 8, 40, 25
	for r := range runs {
		if err := s.CreateRun(ctx, newRun(fmt.Sprintf("r%d", r), "p", t0)); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				run := fmt.Sprintf("r%d", (w+b)%runs)
				key := fmt.Sprintf("w%d", w)
				sp := series(key, b*per, per, func(i int) float64 { return float64(w*1_000_000 + i) })
				// Distinct values: a store keeps one copy of identical points.
				shared := series("shared", 0, 1, func(int) float64 { return float64(w*batches + b) })
				if err := s.AppendMetrics(ctx, run, []trainyard.SeriesPoints{sp, shared}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var shared int64
	for r := range runs {
		run, err := s.Run(ctx, fmt.Sprintf("r%d", r))
		if err != nil {
			t.Fatal(err)
		}
		shared += run.Metrics["shared"].Count
		for w := range writers {
			key := fmt.Sprintf("w%d", w)
			got, err := s.ReadSeries(ctx, run.ID, key, trainyard.SeriesQuery{})
			if err != nil {
				t.Fatal(err)
			}
			// Each writer's points to one series keep their order.
			if !sort.SliceIsSorted(got.Steps, func(i, j int) bool { return got.Steps[i] < got.Steps[j] }) {
				t.Fatalf("%s/%s out of order", run.ID, key)
			}
			if run.Metrics[key].Count != int64(len(got.Steps)) {
				t.Fatalf("%s/%s summary count %d, series has %d", run.ID, key, run.Metrics[key].Count, len(got.Steps))
			}
		}
	}
	if shared != writers*batches {
		t.Fatalf("shared points %d, want %d", shared, writers*batches)
	}
}

func testSurvivesReopen(t *testing.T, f Factory) {
	s, reopen := f(t)
	if err := s.CreateJob(ctx, newJob("j", t0)); err != nil {
		t.Fatal(err)
	}
	var want []float64
	for b := range 40 { // enough small batches to trigger compaction
		sp := series("loss", b*10, 10, func(i int) float64 { return float64(i) })
		want = append(want, sp.Values...)
		if err := s.AppendMetrics(ctx, "j", []trainyard.SeriesPoints{sp}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	defer s2.Close()
	if _, err := s2.Job(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s2, "j", "loss"); !cmp.Equal(want, got.Values) {
		t.Fatalf("after reopen: %d points, want %d", len(got.Values), len(want))
	}
	// Appending after reopen continues the series.
	if err := s2.AppendMetrics(ctx, "j", []trainyard.SeriesPoints{series("loss", 400, 5, func(i int) float64 { return float64(i) })}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s2, "j", "loss"); len(got.Values) != 405 || got.Steps[404] != 404 {
		t.Fatalf("after append: %d points", len(got.Values))
	}
	r, _ := s2.Run(ctx, "j")
	if r.Metrics["loss"].Count != 405 {
		t.Fatalf("summary count %d, want 405", r.Metrics["loss"].Count)
	}
}

func testMetricsBatchOnce(t *testing.T, f Factory) {
	s := open(t, f)
	for _, id := range []string{"r1", "r2"} {
		if err := s.CreateRun(ctx, newRun(id, "p", t0)); err != nil {
			t.Fatal(err)
		}
	}
	// Batches of distinct points (a store keeps one copy of identical
	// points): the same content k for the same batch ID.
	batchOf := func(k int) []trainyard.SeriesPoints {
		return []trainyard.SeriesPoints{series("loss", 0, 10, func(i int) float64 { return float64(k*100 + i) })}
	}
	b := batchOf(0)
	for i, tc := range []struct {
		run, id string
		k       int
		dup     bool
	}{{"r1", "b1", 1, false}, {"r1", "b1", 1, true}, {"r1", "b2", 2, false}, {"r2", "b1", 1, false}, {"r1", "", 3, false}, {"r1", "", 4, false}} {
		dup, err := s.AppendMetricsOnce(ctx, tc.run, tc.id, batchOf(tc.k))
		if err != nil || dup != tc.dup {
			t.Fatalf("append %d (%s, %q): dup=%v err=%v; want dup=%v", i, tc.run, tc.id, dup, err, tc.dup)
		}
	}
	r1, _ := s.Run(ctx, "r1")
	if n := r1.Metrics["loss"].Count; n != 40 {
		t.Fatalf("r1 has %d points, want 40 (b1, b2 and two batches without an ID)", n)
	}
	if _, err := s.AppendMetricsOnce(ctx, "r1", "bad id!", b); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("bad batch id: %v", err)
	}
	// Concurrent senders of one batch store it once.
	var wg sync.WaitGroup
	dups := make(chan bool, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dup, err := s.AppendMetricsOnce(ctx, "r2", "race", b)
			if err != nil {
				t.Error(err)
			}
			dups <- dup
		}()
	}
	wg.Wait()
	close(dups)
	stored := 0
	for d := range dups {
		if !d {
			stored++
		}
	}
	if r2, _ := s.Run(ctx, "r2"); stored != 1 || r2.Metrics["loss"].Count != 20 {
		t.Fatalf("batch sent 8 times concurrently stored %d times; r2 has %d points", stored, r2.Metrics["loss"].Count)
	}
}

// testMetricsIdenticalPointsOnce: a point identical to one the series holds
// (step, timestamp and value; NaN equals NaN) is stored once, as MLflow's
// store keeps it (mlflow.<flavor>.log_model logs a run's metrics again);
// points that differ in any of the three are all kept.
func testMetricsIdenticalPointsOnce(t *testing.T, f Factory) {
	s, reopen := f(t)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	pts := func(steps []int64, values []float64, times []int64) []trainyard.SeriesPoints {
		return []trainyard.SeriesPoints{{Key: "m", Steps: steps, Values: values, Times: times}}
	}
	appendAll := func(s trainyard.Store, b []trainyard.SeriesPoints) {
		t.Helper()
		if err := s.AppendMetrics(ctx, "r", b); err != nil {
			t.Fatal(err)
		}
	}
	// 5,000 points in order (more than a chunk), then the tail again.
	first := series("m", 0, 5000, func(i int) float64 { return float64(i) / 7 })
	appendAll(s, []trainyard.SeriesPoints{first})
	appendAll(s, pts([]int64{4999}, []float64{4999.0 / 7}, []int64{1_700_000_000_000 + 4999}))
	// A point from the first chunk, a NaN twice, duplicates inside a batch.
	appendAll(s, pts([]int64{3, 9000, 9000, 9001}, []float64{3.0 / 7, nan, nan, 1}, []int64{1_700_000_000_003, 5, 5, 6}))
	appendAll(s, pts([]int64{9000}, []float64{nan}, []int64{5}))
	// Same step and time, another value; same step and value, another time: kept.
	appendAll(s, pts([]int64{9001, 9001}, []float64{2, 1}, []int64{6, 7}))
	s.Close()
	s = reopen()
	defer s.Close()
	appendAll(s, pts([]int64{0}, []float64{0}, []int64{1_700_000_000_000})) // after a reopen too
	got := readAll(t, s, "r", "m")
	if want := 5000 + 1 + 1 + 2; len(got.Values) != want {
		t.Fatalf("series holds %d points, want %d", len(got.Values), want)
	}
	run, err := s.Run(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if run.Metrics["m"].Count != int64(len(got.Values)) {
		t.Fatalf("summary counts %d points, series holds %d", run.Metrics["m"].Count, len(got.Values))
	}
}
