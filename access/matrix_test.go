package access_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/access"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/tracking"
)

// The permission matrix, at the service layer both APIs call: every
// state-changing operation of the native API (the job service, the
// tracking service, artifacts, logs) and of the MLflow API (the tracking
// service and the store's experiments, logged models and registry, as
// package mlflowapi calls them), by every kind of caller, on things a
// member (alice) owns. The services are the real ones on a real SQLite
// store, with a real dispatcher running real processes; callers are
// authenticated from real tokens.

// The test binary doubles as the job shim, as the trainyard binary does.
const shimEnv = "TRAINYARD_ACCESS_TEST_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(shimEnv) == "1" {
		os.Exit(local.ShimMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

var bg = context.Background()

type world struct {
	t       *testing.T
	raw     *sqlite.Store
	acc     *access.Service
	d       *dispatch.Dispatcher
	jobs    trainyard.JobService
	store   trainyard.Store
	tracker *tracking.Service
	arts    trainyard.ArtifactStore
	logs    access.LogStore
	tokens  map[string]string // user → API token
	roles   map[string]trainyard.Role
	n       atomic.Int64
}

// The callers and their role in every project a fixture makes.
var roles = map[string]trainyard.Role{
	"alice": trainyard.RoleMember, // owns the fixture's things
	"bob":   trainyard.RoleMember,
	"vera":  trainyard.RoleViewer,
	"adam":  trainyard.RoleAdmin,
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	raw, err := sqlite.Open(bg, filepath.Join(dir, "db"), sqlite.Options{Sync: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	logs, _ := disk.NewLogs(filepath.Join(dir, "logs"))
	arts, _ := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	m := trainyard.Machine{Hostname: "h", CPUs: 1, Memory: 4 << 30}
	exec, err := local.New(local.Config{ShimCommand: []string{os.Args[0]}, StateDir: filepath.Join(dir, "state"), Node: m.Node()})
	if err != nil {
		t.Fatal(err)
	}
	d := dispatch.New(dispatch.Config{Machine: m, KillGrace: 200 * time.Millisecond, DefaultWorkdir: dir,
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}}, raw, exec, logs)
	if err := d.Start(bg); err != nil {
		t.Fatal(err)
	}
	acc := access.New(access.Config{Store: raw})
	w := &world{t: t, raw: raw, acc: acc, d: d, jobs: acc.Jobs(d), store: acc.Store(), arts: acc.Artifacts(arts), logs: acc.Logs(logs), tokens: map[string]string{}}
	w.tracker = tracking.New(tracking.Config{Store: w.store})
	open := trainyard.WithIdentity(bg, &trainyard.Identity{Admin: true, Via: "open"})
	root, err := acc.AddUser(open, access.NewUser{Name: "root", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	w.tokens["root"] = root.Secret
	rootCtx := w.as("root")
	for name := range roles {
		a, err := acc.AddUser(rootCtx, access.NewUser{Name: name, Token: true})
		if err != nil {
			t.Fatal(err)
		}
		w.tokens[name] = a.Secret
	}
	a, err := acc.AddUser(rootCtx, access.NewUser{Name: "olga", Token: true, Roles: map[string]trainyard.Role{"elsewhere": trainyard.RoleMember}})
	if err != nil {
		t.Fatal(err)
	}
	w.tokens["olga"] = a.Secret
	// A job that holds the only CPU, so that the fixtures' jobs stay queued.
	if _, err := d.Submit(bg, trainyard.JobSpec{Project: "blocker", Command: []string{"sleep", "600"}, Resources: trainyard.Resources{CPUs: 1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		js, _ := d.Jobs(bg, trainyard.JobFilter{Active: true})
		var ids []string
		for _, j := range js {
			ids = append(ids, j.ID)
		}
		if len(ids) > 0 {
			d.CancelMany(bg, ids)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if js, _ := d.Jobs(bg, trainyard.JobFilter{Active: true}); len(js) == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		d.Close()
		acc.Close()
	})
	return w
}

// as authenticates a user's token, as the front door does.
func (w *world) as(user string) context.Context {
	w.t.Helper()
	return w.withToken(w.tokens[user])
}

func (w *world) withToken(secret string) context.Context {
	w.t.Helper()
	id, err := w.acc.Authenticate(bg, access.Credentials{Bearer: secret})
	if err != nil {
		w.t.Fatalf("authenticate %s…: %v", secret[:10], err)
	}
	return trainyard.WithIdentity(bg, id)
}

// fixture is what alice owns in a project of its own, where every caller
// has its role.
type fixture struct {
	project, spare string // the project, and a name free for it
	expID          string
	run, job       string
	model          string // a logged model of the run
	registered     string // a registered model with version 1 from the run
	jobToken       string
}

func (w *world) fresh() *fixture {
	t := w.t
	t.Helper()
	n := w.n.Add(1)
	fx := &fixture{project: fmt.Sprintf("p%d", n), spare: fmt.Sprintf("s%d", n), registered: fmt.Sprintf("model%d", n)}
	root := w.as("root")
	for name, r := range roles {
		if _, err := w.acc.SetRoles(root, name, map[string]trainyard.Role{fx.project: r, fx.spare: r}, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice := w.as("alice")
	run, err := w.tracker.CreateRun(alice, trainyard.NewRun{Project: fx.project, Tags: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	fx.run = run.ID
	if run.Owner != "alice" {
		t.Fatalf("run owner %q, want alice", run.Owner)
	}
	j, err := w.jobs.Submit(alice, trainyard.JobSpec{Project: fx.project, Command: []string{"sleep", "600"}, Resources: trainyard.Resources{CPUs: 1}})
	if err != nil {
		t.Fatal(err)
	}
	fx.job = j.ID
	if j.Owner != "alice" {
		t.Fatalf("job owner %q, want alice", j.Owner)
	}
	e, err := w.store.ExperimentByName(alice, fx.project)
	if err != nil {
		t.Fatal(err)
	}
	fx.expID = e.ID
	fx.model = fmt.Sprintf("m-%032x", n)
	if err := w.store.CreateLoggedModel(alice, &trainyard.LoggedModel{ID: fx.model, ExperimentID: e.ID, Name: "net", SourceRunID: fx.run, Status: "PENDING"}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.CreateRegisteredModel(alice, &trainyard.RegisteredModel{Name: fx.registered}); err != nil {
		t.Fatal(err)
	}
	if err := w.store.CreateModelVersion(alice, &trainyard.ModelVersion{Name: fx.registered, Source: "runs:/" + fx.run + "/model", RunID: fx.run}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.arts.PutArtifact(alice, fx.run, "a.txt", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	env, err := w.acc.JobEnv(bg, j)
	if err != nil {
		t.Fatal(err)
	}
	fx.jobToken = strings.TrimPrefix(env[0], "TRAINYARD_TOKEN=")
	return fx
}

// kind is what an operation needs.
type kind int

const (
	create     kind = iota // member or admin in the project
	changeOwn              // alice's (member) or an admin's
	manage                 // the project's admin
	regWrite               // member in some project
	regDelete              // admin in some project
	read                   // viewer
	jobsOwnRun             // a write to the run of alice's job: alice, admins, and the job's own token
)

// callers: the users, then the token of alice's job ("job").
var callers = []string{"alice", "bob", "vera", "adam", "olga", "root", "job"}

var allowed = map[kind]map[string]bool{
	create:     {"alice": true, "bob": true, "adam": true, "root": true},
	changeOwn:  {"alice": true, "adam": true, "root": true},
	manage:     {"adam": true, "root": true},
	regWrite:   {"alice": true, "bob": true, "adam": true, "olga": true, "root": true},
	regDelete:  {"adam": true, "root": true},
	read:       {"alice": true, "bob": true, "vera": true, "adam": true, "root": true, "job": true},
	jobsOwnRun: {"alice": true, "adam": true, "root": true, "job": true},
}

type op struct {
	name string
	kind kind
	do   func(w *world, ctx context.Context, fx *fixture) error
}

func points() []trainyard.SeriesPoints {
	return []trainyard.SeriesPoints{{Key: "loss", Steps: []int64{1}, Values: []float64{0.5}, Times: []int64{1}}}
}

var nativeOps = []op{
	{"submit a job", create, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.jobs.Submit(ctx, trainyard.JobSpec{Project: fx.project, Command: []string{"sleep", "600"}, Resources: trainyard.Resources{CPUs: 1}})
		return err
	}},
	{"cancel a job", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.jobs.Cancel(ctx, fx.job)
		return err
	}},
	{"cancel jobs together", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.jobs.CancelMany(ctx, []string{fx.job})
		return err
	}},
	{"create a run", create, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.tracker.CreateRun(ctx, trainyard.NewRun{Project: fx.project})
		return err
	}},
	{"change a run's tags and summary", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.tracker.UpdateRun(ctx, fx.run, trainyard.RunUpdate{Tags: map[string]string{"x": "y"}, Summary: map[string]any{"best": 1.0}})
		return err
	}},
	{"end a run", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		st := trainyard.StateSucceeded
		_, err := w.tracker.UpdateRun(ctx, fx.run, trainyard.RunUpdate{State: &st})
		return err
	}},
	{"log metrics", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.tracker.AppendMetrics(ctx, fx.run, "b1", points())
		return err
	}},
	{"log metrics to a job's run", jobsOwnRun, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.tracker.AppendMetrics(ctx, fx.job, "b1", points())
		return err
	}},
	{"append to a run's log", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.logs.AppendLog(ctx, fx.run, []byte("hello\n"))
	}},
	{"upload an artifact", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.arts.PutArtifact(ctx, fx.run, "b.txt", strings.NewReader("b"))
		return err
	}},
	{"delete an artifact", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.arts.DeleteArtifact(ctx, fx.run, "a.txt")
	}},
	{"read a run", read, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.store.Run(ctx, fx.run)
		return err
	}},
	{"read a job", read, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.jobs.Job(ctx, fx.job)
		return err
	}},
	{"read metrics", read, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.store.ReadSeries(ctx, fx.run, "loss", trainyard.SeriesQuery{})
		if trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return nil // allowed; the run has no such series yet
		}
		return err
	}},
	{"read an artifact", read, func(w *world, ctx context.Context, fx *fixture) error {
		f, _, err := w.arts.OpenArtifact(ctx, fx.run, "a.txt")
		if err == nil {
			f.Close()
		}
		return err
	}},
}

var mlflowOps = []op{
	{"log a batch (params, metrics, tags)", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.tracker.LogBatch(ctx, fx.run, tracking.Batch{Metrics: []tracking.Point{{Key: "loss", Value: 0.5, Timestamp: 1, Step: 1}}, Params: []tracking.KV{{Key: "lr", Value: "0.1"}}, Tags: []tracking.KV{{Key: "t", Value: "1"}}})
	}},
	{"update a run (end_run)", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		st := trainyard.StateSucceeded
		_, err := w.tracker.ReportRun(ctx, fx.run, trainyard.RunUpdate{State: &st})
		return err
	}},
	{"delete a run", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.tracker.SetRunDeleted(ctx, fx.run, true)
	}},
	{"delete a tag", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.tracker.DeleteTag(ctx, fx.run, "k")
	}},
	{"log inputs", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.tracker.AddRunIO(ctx, fx.run, trainyard.RunIO{Datasets: []trainyard.DatasetInput{{Name: "d", Digest: "x", SourceType: "local", Source: "/d"}}})
	}},
	{"create an experiment", create, func(w *world, ctx context.Context, fx *fixture) error {
		return w.store.CreateExperiment(ctx, &trainyard.Experiment{Name: fx.spare, Tags: map[string]string{}})
	}},
	{"tag an experiment", create, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.store.UpdateExperiment(ctx, fx.expID, trainyard.ExperimentUpdate{Tags: map[string]string{"a": "b"}})
		return err
	}},
	{"rename an experiment", manage, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.store.UpdateExperiment(ctx, fx.expID, trainyard.ExperimentUpdate{Name: &fx.spare})
		return err
	}},
	{"delete an experiment", manage, func(w *world, ctx context.Context, fx *fixture) error {
		yes := true
		_, err := w.store.UpdateExperiment(ctx, fx.expID, trainyard.ExperimentUpdate{Deleted: &yes})
		return err
	}},
	{"create a logged model from a run", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		return w.store.CreateLoggedModel(ctx, &trainyard.LoggedModel{ID: "m-" + strings.Repeat("f", 28) + fx.run[:4], ExperimentID: fx.expID, Name: "n", SourceRunID: fx.run, Status: "PENDING"})
	}},
	{"finalize a logged model", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		ready := "READY"
		_, err := w.store.UpdateLoggedModel(ctx, fx.model, trainyard.LoggedModelUpdate{Status: &ready})
		return err
	}},
	{"upload a logged model's file", changeOwn, func(w *world, ctx context.Context, fx *fixture) error {
		_, err := w.arts.PutArtifact(ctx, fx.model, "MLmodel", strings.NewReader("flavors: {}"))
		return err
	}},
	{"register a model", regWrite, func(w *world, ctx context.Context, fx *fixture) error {
		return w.store.CreateRegisteredModel(ctx, &trainyard.RegisteredModel{Name: fx.registered + "-new"})
	}},
	{"change a registered model", regWrite, func(w *world, ctx context.Context, fx *fixture) error {
		d := "best"
		_, err := w.store.UpdateRegisteredModel(ctx, fx.registered, trainyard.RegisteredModelUpdate{Description: &d})
		return err
	}},
	{"move a version's stage", regWrite, func(w *world, ctx context.Context, fx *fixture) error {
		st := trainyard.StageProduction
		_, err := w.store.UpdateModelVersion(ctx, fx.registered, 1, trainyard.ModelVersionUpdate{Stage: &st})
		return err
	}},
	{"delete a version", regDelete, func(w *world, ctx context.Context, fx *fixture) error {
		return w.store.DeleteModelVersion(ctx, fx.registered, 1)
	}},
	{"delete a registered model", regDelete, func(w *world, ctx context.Context, fx *fixture) error {
		return w.store.DeleteRegisteredModel(ctx, fx.registered)
	}},
	{"search runs of the project", read, func(w *world, ctx context.Context, fx *fixture) error {
		_, _, err := w.store.SearchRuns(ctx, trainyard.RunSearch{Projects: []string{fx.project}})
		return err
	}},
}

func TestPermissionMatrix(t *testing.T) {
	w := newWorld(t)
	for _, api := range []struct {
		name string
		ops  []op
	}{{"native", nativeOps}, {"mlflow", mlflowOps}} {
		for _, o := range api.ops {
			for _, who := range callers {
				t.Run(api.name+"/"+o.name+"/"+who, func(t *testing.T) {
					w.t = t
					fx := w.fresh()
					ctx := w.withToken(fx.jobToken)
					if who != "job" {
						ctx = w.as(who)
					}
					err := o.do(w, ctx, fx)
					if allowed[o.kind][who] {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						return
					}
					if trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
						t.Fatalf("allowed, or refused for another reason (%v); want forbidden", err)
					}
				})
			}
		}
	}
}

// Lists hold what the caller may read, and nothing else.
func TestListsHoldWhatTheCallerReads(t *testing.T) {
	w := newWorld(t)
	fx := w.fresh()
	for _, who := range []string{"olga", "vera", "root"} {
		ctx := w.as(who)
		runs, err := w.store.Runs(ctx, trainyard.RunFilter{})
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := w.jobs.Jobs(ctx, trainyard.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		found, _, err := w.store.SearchRuns(ctx, trainyard.RunSearch{})
		if err != nil {
			t.Fatal(err)
		}
		projects, _ := w.store.Projects(ctx)
		exps, _ := w.store.Experiments(ctx, trainyard.ViewActive)
		sees := func(n int) bool { return n > 0 }
		want := who != "olga"
		for what, n := range map[string]int{"runs": len(runs), "jobs": len(jobs), "searched runs": len(found), "projects": len(projects), "experiments": len(exps)} {
			if sees(n) != want {
				t.Errorf("%s sees %d %s; want some: %v", who, n, what, want)
			}
		}
		for _, j := range jobs {
			if who == "vera" && j.Project != fx.project {
				t.Errorf("vera sees a job of project %s", j.Project)
			}
		}
		if who == "olga" {
			_, err := w.store.Runs(ctx, trainyard.RunFilter{Project: fx.project})
			if trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
				t.Errorf("olga lists the runs of %s: %v; want forbidden", fx.project, err)
			}
		}
	}
}

// Things created are owned by their creator; changes are in the audit log
// with who made them.
func TestOwnersAndAudit(t *testing.T) {
	w := newWorld(t)
	fx := w.fresh()
	if _, err := w.jobs.Cancel(w.as("adam"), fx.job); err != nil {
		t.Fatal(err)
	}
	es, err := w.acc.Audit(w.as("root"), trainyard.AuditFilter{Project: fx.project})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
	}
	want := []string{"adam job.cancel job/" + fx.job, "alice job.submit job/" + fx.job, "alice run.create run/" + fx.run}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("audit of %s lacks %q: %v", fx.project, w, got)
		}
	}
}
