package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

// Conformance tests for what the MLflow-compatible API needs of a store:
// experiments, soft-deleted runs, immutable params, search, run inputs and
// outputs, the model registry and logged models.

func testExperiments(t *testing.T, f Factory) {
	s := open(t, f)
	def, err := s.Experiment(ctx, trainyard.DefaultExperimentID)
	if err != nil {
		t.Fatalf("default experiment: %v", err)
	}
	if def.Name != trainyard.DefaultProject || def.Deleted {
		t.Fatalf("default experiment = %+v", def)
	}
	e := &trainyard.Experiment{Name: "vision", Tags: map[string]string{"owner": "ana"}}
	if err := s.CreateExperiment(ctx, e); err != nil {
		t.Fatal(err)
	}
	if e.ID == "" || e.ID == trainyard.DefaultExperimentID || e.CreatedAt.IsZero() {
		t.Fatalf("created experiment = %+v", e)
	}
	mustCode(t, s.CreateExperiment(ctx, &trainyard.Experiment{Name: "vision"}), trainyard.ECONFLICT)
	got, err := s.ExperimentByName(ctx, "vision")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(e, got); diff != "" {
		t.Fatalf("experiment by name differs (-want +got):\n%s", diff)
	}
	_, err = s.Experiment(ctx, "424242")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.Experiment(ctx, "not-a-number")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.ExperimentByName(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)

	// A project known only through its runs is an experiment too.
	if err := s.CreateRun(ctx, newRun("r1", "nlp", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJob(ctx, newJob("j1", t0)); err != nil { // project "vision"
		t.Fatal(err)
	}
	nlp, err := s.ExperimentByName(ctx, "nlp")
	if err != nil {
		t.Fatalf("experiment of a native project: %v", err)
	}

	// Renaming moves the project's runs; deleting marks them deleted.
	name := "language"
	if _, err := s.UpdateExperiment(ctx, nlp.ID, trainyard.ExperimentUpdate{Name: &name, Tags: map[string]string{"k": "v", "gone": "x"}}); err != nil {
		t.Fatal(err)
	}
	if x, err := s.UpdateExperiment(ctx, nlp.ID, trainyard.ExperimentUpdate{DeleteTags: []string{"gone"}}); err != nil || len(x.Tags) != 1 {
		t.Fatalf("experiment after deleting a tag = %+v, %v", x, err)
	}
	r1, err := s.Run(ctx, "r1")
	if err != nil || r1.Project != "language" {
		t.Fatalf("run after rename = %+v, %v", r1, err)
	}
	taken := "vision"
	_, err = s.UpdateExperiment(ctx, nlp.ID, trainyard.ExperimentUpdate{Name: &taken})
	mustCode(t, err, trainyard.ECONFLICT)
	yes, no := true, false
	if _, err := s.UpdateExperiment(ctx, e.ID, trainyard.ExperimentUpdate{Deleted: &yes}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Run(ctx, "j1"); err != nil || !j.Deleted {
		t.Fatalf("run of a deleted experiment = %+v, %v", j, err)
	}
	live, err := s.Experiments(ctx, trainyard.ViewActive)
	if err != nil {
		t.Fatal(err)
	}
	names := func(es []*trainyard.Experiment) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	if diff := gocmp.Diff([]string{"default", "language"}, names(live)); diff != "" {
		t.Fatalf("live experiments (-want +got):\n%s", diff)
	}
	deleted, _ := s.Experiments(ctx, trainyard.ViewDeleted)
	if diff := gocmp.Diff([]string{"vision"}, names(deleted)); diff != "" {
		t.Fatalf("deleted experiments (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateExperiment(ctx, e.ID, trainyard.ExperimentUpdate{Deleted: &no}); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.Run(ctx, "j1"); j.Deleted {
		t.Fatal("restoring the experiment left its run deleted")
	}
	all, _ := s.Experiments(ctx, trainyard.ViewAll)
	if len(all) != 3 {
		t.Fatalf("all experiments = %v", names(all))
	}
}

func testRunDeleted(t *testing.T, f Factory) {
	s, reopen := f(t)
	for i, id := range []string{"a", "b", "c"} {
		if err := s.CreateRun(ctx, newRun(id, "p", t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetRunDeleted(ctx, "b", true); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.SetRunDeleted(ctx, "nope", true), trainyard.ENOTFOUND)
	s.Close()
	s = reopen()
	t.Cleanup(func() { s.Close() })
	ids := func(v trainyard.View) []string {
		runs, err := s.Runs(ctx, trainyard.RunFilter{Project: "p", View: v})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range runs {
			out = append(out, r.ID)
		}
		return out
	}
	if diff := gocmp.Diff([]string{"c", "a"}, ids(trainyard.ViewActive)); diff != "" {
		t.Fatalf("listing hides deleted runs (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"b"}, ids(trainyard.ViewDeleted)); diff != "" {
		t.Fatalf("deleted view (-want +got):\n%s", diff)
	}
	if diff := gocmp.Diff([]string{"c", "b", "a"}, ids(trainyard.ViewAll)); diff != "" {
		t.Fatalf("all view (-want +got):\n%s", diff)
	}
	if b, err := s.Run(ctx, "b"); err != nil || !b.Deleted {
		t.Fatalf("deleted run = %+v, %v", b, err)
	}
	if err := s.SetRunDeleted(ctx, "b", false); err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff([]string{"c", "b", "a"}, ids(trainyard.ViewActive)); diff != "" {
		t.Fatalf("restored run (-want +got):\n%s", diff)
	}
}

func testSetParams(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil { // config lr = 0.1
		t.Fatal(err)
	}
	if err := s.SetParams(ctx, "r", map[string]string{"lr": "0.1", "opt": "adam"}); err != nil {
		t.Fatalf("same value again, and a new key: %v", err)
	}
	err := s.SetParams(ctx, "r", map[string]string{"opt": "sgd", "new": "x"})
	mustCode(t, err, trainyard.EINVALID)
	if !strings.Contains(trainyard.ErrorMessage(err), `"opt"`) {
		t.Fatalf("error %q does not name the key", err)
	}
	r, err := s.Run(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(map[string]any{"lr": 0.1, "opt": "adam"}, r.Config); diff != "" {
		t.Fatalf("config after a refused change (-want +got):\n%s", diff)
	}
	mustCode(t, s.SetParams(ctx, "nope", map[string]string{"a": "b"}), trainyard.ENOTFOUND)
}

func testSearchRuns(t *testing.T, f Factory) {
	s := open(t, f)
	for i := range 20 {
		r := newRun(string(rune('a'+i)), []string{"p", "q"}[i%2], t0.Add(time.Duration(i)*time.Second))
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendMetrics(ctx, r.ID, []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{0}, Values: []float64{float64(i)}, Times: []int64{0}}}); err != nil {
			t.Fatal(err)
		}
	}
	byLoss := []trainyard.RunOrder{{Kind: trainyard.RunMetric, Key: "loss"}}
	search := func(q trainyard.RunSearch) ([]string, string) {
		t.Helper()
		runs, next, err := s.SearchRuns(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		return ids, next
	}
	low := []trainyard.RunClause{{Kind: trainyard.RunMetric, Key: "loss", Op: "<", Num: 10, IsNum: true, Str: "10"}}
	ids, next := search(trainyard.RunSearch{Projects: []string{"p"}, Filter: low, Order: byLoss, Offset: 1, Limit: 2})
	if diff := gocmp.Diff([]string{"c", "e"}, ids); diff != "" || next == "" {
		t.Fatalf("page (-want +got):\n%s\nnext %q, want a token", diff, next)
	}
	ids, next = search(trainyard.RunSearch{Projects: []string{"p"}, Filter: low, Order: byLoss, PageToken: next, Limit: 2})
	if diff := gocmp.Diff([]string{"g", "i"}, ids); diff != "" || next != "" {
		t.Fatalf("next page (-want +got):\n%s\nnext %q, want none", diff, next)
	}
	ids, _ = search(trainyard.RunSearch{Limit: 3}) // every project, newest first
	if diff := gocmp.Diff([]string{"t", "s", "r"}, ids); diff != "" {
		t.Fatalf("default order (-want +got):\n%s", diff)
	}
	_, _, err := s.SearchRuns(ctx, trainyard.RunSearch{Order: byLoss, PageToken: "nonsense"})
	mustCode(t, err, trainyard.EINVALID)

	// The search sees every write that returned before it.
	if err := s.AppendMetrics(ctx, "t", []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{1}, Values: []float64{-1}, Times: []int64{0}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRunDeleted(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := s.UpdateRun(ctx, "c", trainyard.RunUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRun(ctx, newRun("z", "q", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	runs, _, err := s.SearchRuns(ctx, trainyard.RunSearch{Order: byLoss, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if runs[0].ID != "t" || float64(runs[0].Metrics["loss"].Last) != -1 {
		t.Fatalf("search after writes: first %s (loss %v); want t (-1)", runs[0].ID, runs[0].Metrics["loss"].Last)
	}
	deleted, _ := search(trainyard.RunSearch{View: trainyard.ViewDeleted})
	if diff := gocmp.Diff([]string{"a"}, deleted); diff != "" {
		t.Fatalf("deleted view (-want +got):\n%s", diff)
	}
	named, _ := search(trainyard.RunSearch{Filter: []trainyard.RunClause{{Kind: trainyard.RunAttribute, Key: "name", Op: "=", Str: "renamed"}}})
	if diff := gocmp.Diff([]string{"c"}, named); diff != "" {
		t.Fatalf("renamed run (-want +got):\n%s", diff)
	}
	// What a search returns is the caller's to change.
	runs[0].Tags["mine"] = "x"
	again, _, _ := s.SearchRuns(ctx, trainyard.RunSearch{Order: byLoss, Limit: 1})
	if _, ok := again[0].Tags["mine"]; ok {
		t.Fatal("a search shares its runs' maps with earlier callers")
	}
}

func testRunIO(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	io, err := s.RunIO(ctx, "r")
	if err != nil || len(io.Datasets)+len(io.ModelInputs)+len(io.ModelOutputs) != 0 {
		t.Fatalf("empty io = %+v, %v", io, err)
	}
	d := trainyard.DatasetInput{Name: "iris", Digest: "abc", SourceType: "code", Source: "{}", Tags: map[string]string{"mlflow.data.context": "train"}}
	add := trainyard.RunIO{Datasets: []trainyard.DatasetInput{d}, ModelOutputs: []trainyard.ModelRef{{ModelID: "m-1", Step: 3}}}
	for range 2 { // the second adds nothing
		if err := s.AddRunIO(ctx, "r", add); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddRunIO(ctx, "r", trainyard.RunIO{ModelInputs: []trainyard.ModelRef{{ModelID: "m-0"}}}); err != nil {
		t.Fatal(err)
	}
	io, err = s.RunIO(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	want := trainyard.RunIO{Datasets: []trainyard.DatasetInput{d}, ModelInputs: []trainyard.ModelRef{{ModelID: "m-0"}}, ModelOutputs: []trainyard.ModelRef{{ModelID: "m-1", Step: 3}}}
	if diff := gocmp.Diff(want, io); diff != "" {
		t.Fatalf("run io (-want +got):\n%s", diff)
	}
	mustCode(t, s.AddRunIO(ctx, "nope", add), trainyard.ENOTFOUND)
	_, err = s.RunIO(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testRegistry(t *testing.T, f Factory) {
	s := open(t, f)
	m := &trainyard.RegisteredModel{Name: "iris", Description: "d", Tags: map[string]string{"a": "1"}}
	if err := s.CreateRegisteredModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.CreateRegisteredModel(ctx, &trainyard.RegisteredModel{Name: "iris"}), trainyard.ECONFLICT)
	mustCode(t, s.CreateModelVersion(ctx, &trainyard.ModelVersion{Name: "nope", Source: "x"}), trainyard.ENOTFOUND)
	for i := 1; i <= 3; i++ {
		v := &trainyard.ModelVersion{Name: "iris", Source: "models:/m-" + string(rune('0'+i)), RunID: "r"}
		if err := s.CreateModelVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.Version != int64(i) || v.Stage != trainyard.StageNone {
			t.Fatalf("version %d = %+v", i, v)
		}
	}
	if _, err := s.UpdateRegisteredModel(ctx, "iris", trainyard.RegisteredModelUpdate{Aliases: map[string]int64{"champion": 2, "old": 1}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateRegisteredModel(ctx, "iris", trainyard.RegisteredModelUpdate{Aliases: map[string]int64{"x": 9}})
	mustCode(t, err, trainyard.ENOTFOUND)
	prod := trainyard.StageProduction
	for _, v := range []int64{1, 2} {
		if _, err := s.UpdateModelVersion(ctx, "iris", v, trainyard.ModelVersionUpdate{Stage: &prod, ArchiveOthers: true, Tags: map[string]string{"ok": "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	v1, err := s.ModelVersion(ctx, "iris", 1)
	if err != nil || v1.Stage != trainyard.StageArchived || v1.Tags["ok"] != "1" {
		t.Fatalf("version 1 after archiving = %+v, %v", v1, err)
	}
	if err := s.DeleteModelVersion(ctx, "iris", 1); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.DeleteModelVersion(ctx, "iris", 1), trainyard.ENOTFOUND)
	v4 := &trainyard.ModelVersion{Name: "iris", Source: "s"}
	if err := s.CreateModelVersion(ctx, v4); err != nil || v4.Version != 4 {
		t.Fatalf("versions are not reused: got %d, %v", v4.Version, err)
	}
	newName, desc := "iris2", "new"
	got, err := s.UpdateRegisteredModel(ctx, "iris", trainyard.RegisteredModelUpdate{Name: &newName, Description: &desc, DeleteTags: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := gocmp.Diff(map[string]int64{"champion": 2}, got.Aliases); diff != "" || got.Description != "new" || len(got.Tags) != 0 {
		t.Fatalf("model after rename = %+v (aliases -want +got:\n%s)", got, diff)
	}
	vs, err := s.ModelVersions(ctx, "iris2")
	if err != nil {
		t.Fatal(err)
	}
	var nums []int64
	for _, v := range vs {
		nums = append(nums, v.Version)
	}
	if diff := gocmp.Diff([]int64{2, 3, 4}, nums); diff != "" {
		t.Fatalf("versions follow the rename (-want +got):\n%s", diff)
	}
	other := &trainyard.RegisteredModel{Name: "other"}
	if err := s.CreateRegisteredModel(ctx, other); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateRegisteredModel(ctx, "other", trainyard.RegisteredModelUpdate{Name: &newName})
	mustCode(t, err, trainyard.ECONFLICT)
	models, _ := s.RegisteredModels(ctx)
	if len(models) != 2 || models[0].Name != "iris2" {
		t.Fatalf("registered models = %v", models)
	}
	if err := s.DeleteRegisteredModel(ctx, "iris2"); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.DeleteRegisteredModel(ctx, "iris2"), trainyard.ENOTFOUND)
	if vs, _ := s.ModelVersions(ctx, ""); len(vs) != 0 {
		t.Fatalf("versions outlive their model: %v", vs)
	}
}

func testLoggedModels(t *testing.T, f Factory) {
	s := open(t, f)
	for i, exp := range []string{"1", "1", "2"} {
		m := &trainyard.LoggedModel{ID: "m-" + string(rune('a'+i)), ExperimentID: exp, Name: "model", Status: "PENDING",
			ArtifactLocation: "mlflow-artifacts:/" + exp + "/models/m/artifacts", Params: map[string]string{"p": "1"}}
		if err := s.CreateLoggedModel(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	mustCode(t, s.CreateLoggedModel(ctx, &trainyard.LoggedModel{ID: "m-a", ExperimentID: "1"}), trainyard.ECONFLICT)
	ready, yes := "READY", true
	got, err := s.UpdateLoggedModel(ctx, "m-a", trainyard.LoggedModelUpdate{Status: &ready, Tags: map[string]string{"t": "1"}, Params: map[string]string{"q": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "READY" || got.Tags["t"] != "1" || !slices.Equal(trainyard.SortedKeys(got.Params), []string{"p", "q"}) {
		t.Fatalf("updated model = %+v", got)
	}
	if _, err := s.UpdateLoggedModel(ctx, "m-b", trainyard.LoggedModelUpdate{Deleted: &yes}); err != nil {
		t.Fatal(err)
	}
	list, err := s.LoggedModels(ctx, []string{"1"})
	if err != nil || len(list) != 1 || list[0].ID != "m-a" {
		t.Fatalf("live models of experiment 1 = %v, %v", list, err)
	}
	if all, _ := s.LoggedModels(ctx, nil); len(all) != 2 {
		t.Fatalf("every live model = %v", all)
	}
	_, err = s.LoggedModel(ctx, "m-zz")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.UpdateLoggedModel(ctx, "m-zz", trainyard.LoggedModelUpdate{Status: &ready})
	mustCode(t, err, trainyard.ENOTFOUND)
}

// testSearchRunsConcurrent searches while runs are written; once the
// writers return, a search sees each run's last write.
func testSearchRunsConcurrent(t *testing.T, f Factory) {
	s := open(t, f)
	const runs, writes = 4, 30
	for i := range runs {
		if err := s.CreateRun(ctx, newRun(string(rune('a'+i)), "p", t0)); err != nil {
			t.Fatal(err)
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var searchErr error
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, err := s.SearchRuns(ctx, trainyard.RunSearch{Projects: []string{"p"}}); err != nil && !trainyard.IsCode(err, trainyard.EUNAVAILABLE) {
				searchErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			for n := range writes {
				v := strconv.Itoa(n)
				if _, err := s.UpdateRun(ctx, id, trainyard.RunUpdate{Tags: map[string]string{"n": v}}); err != nil {
					t.Error(err)
					return
				}
				if err := s.AppendMetrics(ctx, id, []trainyard.SeriesPoints{{Key: "m", Steps: []int64{int64(n)}, Values: []float64{float64(n)}, Times: []int64{0}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}(string(rune('a' + i)))
	}
	wg.Wait()
	got, _, err := s.SearchRuns(ctx, trainyard.RunSearch{Projects: []string{"p"}})
	if err != nil || len(got) != runs {
		t.Fatalf("search after the writes: %d runs, %v", len(got), err)
	}
	for _, r := range got {
		if r.Tags["n"] != strconv.Itoa(writes-1) || r.Metrics["m"].Count != writes || float64(r.Metrics["m"].Last) != writes-1 {
			t.Errorf("run %s: tag n=%q, metric %+v; want the last write (%d)", r.ID, r.Tags["n"], r.Metrics["m"], writes-1)
		}
	}
	close(stop)
	<-done
	if searchErr != nil {
		t.Fatal(searchErr)
	}
}

// testLogBatchAtomic: a log-batch's params, tags, name and points are one
// transaction; a batch refused for a changed param leaves nothing behind.
func testLogBatchAtomic(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "p", t0)); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	ok := trainyard.RunBatch{
		Params: map[string]string{"lr": "0.1"}, Tags: map[string]string{"team": "a", "mlflow.runName": name}, Name: &name,
		Metrics: []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{0, 1}, Values: []float64{1, 0.5}, Times: []int64{1, 2}}},
	}
	if err := s.LogBatch(ctx, "r", ok); err != nil {
		t.Fatal(err)
	}
	bad := trainyard.RunBatch{
		Params: map[string]string{"lr": "0.2", "new": "x"}, Tags: map[string]string{"team": "b"},
		Metrics: []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{2}, Values: []float64{0.25}, Times: []int64{3}}, {Key: "acc", Steps: []int64{0}, Values: []float64{1}, Times: []int64{3}}},
	}
	mustCode(t, s.LogBatch(ctx, "r", bad), trainyard.EINVALID)
	run, err := s.Run(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if run.Name != "renamed" || run.Tags["team"] != "a" || fmt.Sprint(run.Config["lr"]) != "0.1" || run.Config["new"] != nil {
		t.Fatalf("after a refused batch: name %q, tags %v, config %v", run.Name, run.Tags, run.Config)
	}
	if run.Metrics["loss"].Count != 2 || run.Metrics["acc"].Count != 0 {
		t.Fatalf("after a refused batch: metrics %v", run.Metrics)
	}
	mustCode(t, s.LogBatch(ctx, "nope", ok), trainyard.ENOTFOUND)
}

// testExperimentIDs: a taken name spends no ID; IDs follow each other, as
// in MLflow's store.
func testExperimentIDs(t *testing.T, f Factory) {
	s := open(t, f)
	a := &trainyard.Experiment{Name: "a"}
	if err := s.CreateExperiment(ctx, a); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustCode(t, s.CreateExperiment(ctx, &trainyard.Experiment{Name: "a"}), trainyard.ECONFLICT)
	}
	b := &trainyard.Experiment{Name: "b"}
	if err := s.CreateExperiment(ctx, b); err != nil {
		t.Fatal(err)
	}
	if x, y := mustAtoi(t, a.ID), mustAtoi(t, b.ID); y != x+1 {
		t.Fatalf("experiment after refused duplicates has ID %d, want %d", y, x+1)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("ID %q is not a number: %v", s, err)
	}
	return n
}
