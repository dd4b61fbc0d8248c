package migrate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/internal/s3test"
	"github.com/trainyard/trainyard/migrate"
	"github.com/trainyard/trainyard/postgres"
	"github.com/trainyard/trainyard/s3"
	"github.com/trainyard/trainyard/sqlite"
)

// A real PostgreSQL (pgtest) and a real S3-compatible server (s3test),
// started for the package; neither can be missing without the tests
// failing.
func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	s3test.StopShared()
	os.Exit(code)
}

var ctx = context.Background()

var prefixes atomic.Int64

// s3Store opens an artifact store on a new prefix of the package's bucket.
func s3Store(t *testing.T) (*s3.Artifacts, s3.Config) {
	t.Helper()
	srv, err := s3test.Shared()
	if err != nil {
		t.Fatalf("the S3 test server: %v", err)
	}
	bucket := fmt.Sprintf("migrate-%d", os.Getpid())
	if prefixes.Add(1) == 1 {
		if err := srv.NewBucket(ctx, bucket); err != nil {
			t.Fatal(err)
		}
	}
	cfg := s3.Config{Bucket: bucket, Prefix: fmt.Sprintf("t%d/", prefixes.Load()),
		Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	a, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, cfg
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// special floats that must arrive bit for bit.
var special = []float64{math.NaN(), math.Float64frombits(0x7ff8_dead_beef_0001), math.Inf(1), math.Inf(-1),
	math.Copysign(0, -1), 5e-324, math.MaxFloat64, -math.SmallestNonzeroFloat64, 0.1, 1.0 / 3}

// populate fills an installation through the real store and artifact
// APIs: jobs and their runs in several states, runs of their own with
// params, tags and metrics (one long series over many chunks, special
// floats, a batch sent with an ID), experiments, run inputs, the model
// registry, logged models, sweeps with trials and searcher state, users,
// roles, tokens, the audit log, the server secret, and artifacts.
func populate(t *testing.T, dir string) (points int64) {
	t.Helper()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []*trainyard.User{
		{Name: "root", Admin: true, Roles: map[string]trainyard.Role{}, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: t0, UpdatedAt: t0},
		{Name: "alice", Roles: map[string]trainyard.Role{"vision": trainyard.RoleMember, "nlp": trainyard.RoleViewer}, CreatedAt: t0, UpdatedAt: t0},
	} {
		must(s.CreateUser(ctx, u))
	}
	for i, kind := range []trainyard.TokenKind{trainyard.TokenAPI, trainyard.TokenAPI, trainyard.TokenSession} {
		id := fmt.Sprintf("tok%d", i)
		must(s.CreateToken(ctx, &trainyard.Token{ID: id, Hash: fmt.Sprintf("%064x", []byte(id)), Kind: kind, User: "alice",
			Name: "laptop " + id, Prefix: "tya_" + id, CreatedBy: "root", CreatedAt: t0.Add(time.Duration(i) * time.Second),
			ExpiresAt: t0.Add(90 * 24 * time.Hour)}))
	}
	if _, err := s.RevokeToken(ctx, "tok1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerSecret(ctx); err != nil {
		t.Fatal(err)
	}

	// Jobs (each with its run): one finished, one running, one queued.
	var jobs []*trainyard.Job
	for i := range 3 {
		j := &trainyard.Job{ID: fmt.Sprintf("job%d", i), State: trainyard.StateQueued, SubmittedAt: t0.Add(time.Duration(i) * time.Minute), Owner: "alice",
			JobSpec: trainyard.JobSpec{Name: fmt.Sprintf("train %d", i), Project: "vision", Command: []string{"python", "train.py", "--lr", "0.1"},
				Workdir: "/src", Env: map[string]string{"A": "1"}, Resources: trainyard.Resources{GPUs: 1, CPUs: 4, Memory: 8 << 30}, Priority: i,
				Config: map[string]any{"lr": 0.001 * float64(i+1), "model": map[string]any{"layers": 3.0}, "opt": "adam"},
				Tags:   map[string]string{"team": "cv"}, Git: &trainyard.GitInfo{Commit: "abc123", Dirty: true}}}
		must(s.CreateJob(ctx, j))
		jobs = append(jobs, j)
	}
	exit := 0
	jobs[0].State, jobs[0].StartedAt, jobs[0].EndedAt, jobs[0].ExitCode = trainyard.StateSucceeded, t0.Add(2*time.Minute), t0.Add(9*time.Minute), &exit
	jobs[0].Placement = []trainyard.Placement{{Node: "", GPUs: []int{0}}}
	jobs[1].State, jobs[1].StartedAt, jobs[1].BackendID, jobs[1].Handle = trainyard.StateRunning, t0.Add(3*time.Minute), "4242", `{"pid":4242}`
	must(s.UpdateJobs(ctx, jobs[0], jobs[1]))

	// Runs of their own, in two projects, one deleted.
	for i := range 4 {
		project := []string{"nlp", "Vision"}[i%2]
		r := &trainyard.Run{ID: fmt.Sprintf("run%d", i), Project: project, Name: fmt.Sprintf("Sweep-Run %d", i), State: trainyard.StateRunning,
			Config: map[string]any{"lr": 0.01 * float64(i), "batch": float64(int(32) << i), "name": "bert", "nested.x": []any{1.0, "a"}},
			Tags:   map[string]string{"stage": []string{"dev", "prod"}[i%2], "seed": fmt.Sprint(i)}, Summary: map[string]any{"best": float64(i)},
			Command: []string{"python", "x.py"}, Owner: "alice", CreatedAt: t0.Add(time.Duration(10+i) * time.Minute)}
		must(s.CreateRun(ctx, r))
	}
	must(s.SetRunDeleted(ctx, "run3", true))
	must(s.SetParams(ctx, "run1", map[string]string{"extra": "7"}))
	done := trainyard.StateFailed
	if _, err := s.UpdateRun(ctx, "run2", trainyard.RunUpdate{State: &done, Tags: map[string]string{"note": "diverged"}, DeleteTags: []string{"seed"}}); err != nil {
		t.Fatal(err)
	}

	// Metrics: a long series in many batches (chunks, tail compaction),
	// special floats, a batch with an ID, metrics through LogBatch.
	rng := rand.New(rand.NewPCG(1, 2))
	for b := range 30 {
		sp := trainyard.SeriesPoints{Key: "train/loss"}
		for i := range 500 {
			step := int64(b*500 + i)
			sp.Steps, sp.Values, sp.Times = append(sp.Steps, step), append(sp.Values, rng.NormFloat64()), append(sp.Times, t0.UnixMilli()+step)
		}
		must(s.AppendMetrics(ctx, "run0", []trainyard.SeriesPoints{sp}))
		points += 500
	}
	sp := trainyard.SeriesPoints{Key: "weird"}
	for i, v := range special {
		sp.Steps, sp.Values, sp.Times = append(sp.Steps, int64(i%3)), append(sp.Values, v), append(sp.Times, t0.UnixMilli()-int64(i))
	}
	must(s.AppendMetrics(ctx, "run1", []trainyard.SeriesPoints{sp}))
	points += int64(len(special))
	if _, err := s.AppendMetricsOnce(ctx, "job0", "batch-1", []trainyard.SeriesPoints{{Key: "acc", Steps: []int64{0, 1}, Values: []float64{0.5, 0.75}, Times: []int64{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	points += 2
	name := "renamed"
	must(s.LogBatch(ctx, "run2", trainyard.RunBatch{Params: map[string]string{"wd": "0.01"}, Tags: map[string]string{"mlflow.note.content": "hi"}, Name: &name,
		Metrics: []trainyard.SeriesPoints{{Key: "val/acc", Steps: []int64{5}, Values: []float64{0.9}, Times: []int64{t0.UnixMilli()}}}}))
	points++

	// MLflow's side: an experiment with its own artifact location and
	// tags, run inputs, the registry and logged models.
	must(s.CreateExperiment(ctx, &trainyard.Experiment{Name: "mlflow-exp", ArtifactLocation: "s3://elsewhere/exp", Tags: map[string]string{"k": "v"}}))
	must(s.AddRunIO(ctx, "run1", trainyard.RunIO{Datasets: []trainyard.DatasetInput{{Name: "iris", Digest: "d1", SourceType: "local", Source: "/data"}},
		ModelOutputs: []trainyard.ModelRef{{ModelID: "m-1", Step: 3}}}))
	must(s.CreateRegisteredModel(ctx, &trainyard.RegisteredModel{Name: "iris", Description: "flowers", Tags: map[string]string{"a": "1"}}))
	for i := 1; i <= 3; i++ {
		must(s.CreateModelVersion(ctx, &trainyard.ModelVersion{Name: "iris", Source: fmt.Sprintf("models:/m-%d", i), RunID: "run1"}))
	}
	if _, err := s.UpdateRegisteredModel(ctx, "iris", trainyard.RegisteredModelUpdate{Aliases: map[string]int64{"champion": 2}}); err != nil {
		t.Fatal(err)
	}
	prod := trainyard.StageProduction
	if _, err := s.UpdateModelVersion(ctx, "iris", 2, trainyard.ModelVersionUpdate{Stage: &prod, Tags: map[string]string{"ok": "1"}}); err != nil {
		t.Fatal(err)
	}
	must(s.DeleteModelVersion(ctx, "iris", 1))
	must(s.CreateLoggedModel(ctx, &trainyard.LoggedModel{ID: "m-1", ExperimentID: "1", Name: "model", Status: "PENDING", SourceRunID: "run1",
		ArtifactLocation: "mlflow-artifacts:/1/models/m-1/artifacts", Params: map[string]string{"p": "1"}, Tags: map[string]string{"t": "x"}}))
	ready := "READY"
	if _, err := s.UpdateLoggedModel(ctx, "m-1", trainyard.LoggedModelUpdate{Status: &ready,
		AddMetrics: []trainyard.ModelMetric{{Key: "auc", Value: trainyard.Float(math.Inf(1)), Timestamp: 5, Step: 1, RunID: "run1"}}}); err != nil {
		t.Fatal(err)
	}

	// A sweep with trials and its searcher's snapshot.
	best := trainyard.Float(0.25)
	sw := &trainyard.Sweep{ID: "sw1", Name: "search", Project: "vision", State: trainyard.SweepRunning, Metric: "val/loss", Mode: "min", Managed: true, Owner: "alice",
		Spec: json.RawMessage(`{"format":"trainyard","metric":{"name":"val/loss","mode":"min"}}`), Snapshot: json.RawMessage(`{"version":1,"tpe":{"seen":[0.5,0.25]}}`),
		CreatedAt: t0, UpdatedAt: t0}
	var trials []*trainyard.Trial
	for n := 1; n <= 2; n++ {
		v := trainyard.Float(1.0 / float64(n))
		trials = append(trials, &trainyard.Trial{SweepID: "sw1", Number: n, State: trainyard.TrialQueued, Config: map[string]any{"lr": 0.1 * float64(n)},
			Segment: 1, Jobs: []string{fmt.Sprintf("job%d", n)}, JobState: trainyard.StateQueued, Pending: trainyard.PendingSubmit, Until: 9, Step: n, Value: &v,
			Results: n, CreatedAt: t0, UpdatedAt: t0})
	}
	must(s.CreateSweep(ctx, sw, trials...))
	sw.BestTrial, sw.BestValue, sw.UpdatedAt = 2, &best, t0.Add(time.Minute)
	must(s.UpdateSweep(ctx, sw))

	var audit []*trainyard.AuditEntry
	for i := range 5 {
		audit = append(audit, &trainyard.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "alice", Action: "job.submit",
			Target: fmt.Sprintf("job/%d", i), Project: "vision", Detail: fmt.Sprintf(`{"i":%d}`, i)})
	}
	must(s.AppendAudit(ctx, audit...))

	// Artifacts, through the real local store.
	a, err := disk.NewArtifacts(filepath.Join(dir, "artifacts"))
	must(err)
	big := make([]byte, 7<<20+123) // several parts in S3
	for i := range big {
		big[i] = byte(rng.IntN(256))
	}
	for run, files := range map[string]map[string][]byte{
		"run0": {"model/weights.bin": big, "model/config.json": []byte(`{"layers":3}`), "empty.txt": nil},
		"run1": {"plots/deep/nested/loss.png": []byte("\x89PNG..."), "notes with space.md": []byte("# hello")},
		"job0": {"out.txt": []byte("done\n")},
	} {
		for p, b := range files {
			if _, err := a.PutArtifact(ctx, run, p, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return points
}

func hashFile(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// floats compares floats bit for bit (every NaN payload too).
var floats = cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })
var tyFloats = cmp.Comparer(func(a, b trainyard.Float) bool {
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b)) || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
})

// TestMigrateMovesEverything moves a realistic installation into a real
// PostgreSQL and S3 and reads everything back through both stores' APIs.
func TestMigrateMovesEverything(t *testing.T) {
	dir := t.TempDir()
	points := populate(t, dir)
	before := hashFile(t, filepath.Join(dir, "trainyard.db"))
	url := pgtest.NewDatabase(t)
	art, _ := s3Store(t)

	var progress bytes.Buffer
	rep, err := migrate.Run(ctx, migrate.Options{From: dir, To: url, Artifacts: art, Progress: &progress})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("progress:\n%s\ncheck:\n%s", progress.String(), table.String())
	if !rep.OK() {
		t.Fatalf("counts differ:\n%s", table.String())
	}
	counts := map[string]migrate.Count{}
	for _, c := range rep.Counts {
		counts[c.What] = c
	}
	for what, want := range map[string]int64{"metric points": points, "artifact files": 6, "jobs": 3, "runs": 7, "users": 2, "tokens": 3, "audit": 5, "sweeps": 1, "trials": 2} {
		if c := counts[what]; c.Source != want || c.Target != want {
			t.Errorf("%s: source %d, target %d; want %d", what, c.Source, c.Target, want)
		}
	}
	for _, p := range []string{"jobs", "runs", "chunks", "artifacts"} {
		if !strings.Contains(progress.String(), p) {
			t.Errorf("the progress does not mention %s:\n%s", p, progress.String())
		}
	}
	if after := hashFile(t, filepath.Join(dir, "trainyard.db")); after != before {
		t.Errorf("the source database changed")
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "artifacts", ".uploads")); len(entries) != 0 {
		t.Errorf("the source's artifacts changed")
	}

	src, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	compareStores(t, src, dst)

	// Artifacts: the same bytes in S3.
	srcArt := filepath.Join(dir, "artifacts")
	for _, run := range []string{"run0", "run1", "job0"} {
		err := filepath.WalkDir(filepath.Join(srcArt, run), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			want, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(filepath.Join(srcArt, run), p)
			r, info, err := art.OpenArtifact(ctx, run, filepath.ToSlash(rel))
			if err != nil {
				return fmt.Errorf("S3 artifact %s/%s: %w", run, rel, err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) || info.Size != int64(len(want)) {
				return fmt.Errorf("S3 artifact %s/%s: %d bytes differ from the source's %d", run, rel, len(got), len(want))
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	}

	// The target takes writes after the move: sequences continue past
	// the copied IDs, versions and series carry on.
	if err := dst.AppendAudit(ctx, &trainyard.AuditEntry{Time: t0, Actor: "root", Action: "user.add", Target: "bob"}); err != nil {
		t.Fatal(err)
	}
	entries, err := dst.Audit(ctx, trainyard.AuditFilter{Limit: 1})
	if err != nil || len(entries) != 1 || entries[0].Seq <= 5 {
		t.Errorf("a new audit entry after the move: %+v, %v; want seq > 5", entries, err)
	}
	e := &trainyard.Experiment{Name: "after-move"}
	if err := dst.CreateExperiment(ctx, e); err != nil {
		t.Fatalf("create an experiment after the move: %v", err)
	}
	if err := dst.AppendMetrics(ctx, "run0", []trainyard.SeriesPoints{{Key: "train/loss", Steps: []int64{15000}, Values: []float64{-1}, Times: []int64{1}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := dst.ReadSeries(ctx, "run0", "train/loss", trainyard.SeriesQuery{}); err != nil || got.Total != 15001 {
		t.Errorf("after one more point: %d points, %v; want 15001", got.Total, err)
	}
	v := &trainyard.ModelVersion{Name: "iris", Source: "models:/m-9"}
	if err := dst.CreateModelVersion(ctx, v); err != nil || v.Version != 4 {
		t.Errorf("a new model version after the move: %d, %v; want version 4", v.Version, err)
	}

	// Again: the target holds data now, and is refused.
	_, err = migrate.Run(ctx, migrate.Options{From: dir, To: url, Artifacts: art})
	if err == nil || !strings.Contains(err.Error(), "already holds data") || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("a second migration into the same database: %v; want it refused, naming --overwrite", err)
	}
	// The artifact prefix alone holding data is refused too.
	_, err = migrate.Run(ctx, migrate.Options{From: dir, To: pgtest.NewDatabase(t), Artifacts: art})
	if err == nil || !strings.Contains(err.Error(), "already holds artifacts of run") {
		t.Fatalf("a migration into an artifact prefix that holds the runs' artifacts: %v; want it refused", err)
	}
	// With --overwrite it replaces what the target held.
	rep, err = migrate.Run(ctx, migrate.Options{From: dir, To: url, Artifacts: art, Overwrite: true})
	if err != nil || !rep.OK() {
		t.Fatalf("with Overwrite: %v", err)
	}
	if _, err := dst.Experiment(ctx, e.ID); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Errorf("with Overwrite, what the target held stays: %v", err)
	}
	compareStores(t, src, dst)
}

// compareStores reads everything through both stores' APIs.
func compareStores(t *testing.T, src, dst trainyard.Store) {
	t.Helper()
	opts := cmp.Options{floats, tyFloats, cmpopts.EquateEmpty()}
	same := func(what string, a, b any) {
		t.Helper()
		if d := cmp.Diff(a, b, opts); d != "" {
			t.Errorf("%s differ (-source +target):\n%s", what, d)
		}
	}
	both := func(what string, get func(s trainyard.Store) (any, error)) any {
		t.Helper()
		a, err := get(src)
		if err != nil {
			t.Fatalf("%s from the source: %v", what, err)
		}
		b, err := get(dst)
		if err != nil {
			t.Fatalf("%s from the target: %v", what, err)
		}
		same(what, a, b)
		return a
	}
	both("jobs", func(s trainyard.Store) (any, error) { return s.Jobs(ctx, trainyard.JobFilter{Limit: 1000}) })
	runs := both("runs", func(s trainyard.Store) (any, error) {
		return s.Runs(ctx, trainyard.RunFilter{View: trainyard.ViewAll, Limit: 1000})
	}).([]*trainyard.Run)
	if len(runs) != 7 {
		t.Fatalf("%d runs; want 7", len(runs))
	}
	both("projects", func(s trainyard.Store) (any, error) { return s.Projects(ctx) })
	for _, r := range runs {
		both("run "+r.ID, func(s trainyard.Store) (any, error) { return s.Run(ctx, r.ID) })
		both("inputs of run "+r.ID, func(s trainyard.Store) (any, error) { return s.RunIO(ctx, r.ID) })
		for key := range r.Metrics {
			raw := both("points of "+r.ID+"/"+key, func(s trainyard.Store) (any, error) {
				return s.ReadSeries(ctx, r.ID, key, trainyard.SeriesQuery{})
			}).(*trainyard.Series)
			if raw.Total != r.Metrics[key].Count || int64(len(raw.Values)) != raw.Total {
				t.Errorf("%s/%s: %d points read, summary says %d", r.ID, key, len(raw.Values), r.Metrics[key].Count)
			}
			both("chart of "+r.ID+"/"+key, func(s trainyard.Store) (any, error) {
				return s.ReadSeries(ctx, r.ID, key, trainyard.SeriesQuery{MaxPoints: 100})
			})
		}
	}
	// The search rows PostgreSQL computes: params, tags, metrics, names.
	for _, f := range []trainyard.RunClause{
		{Kind: trainyard.RunParam, Key: "lr", Op: ">", Str: "0.005", Num: 0.005, IsNum: true},
		{Kind: trainyard.RunParam, Key: "name", Op: "ILIKE", Str: "BE%"},
		{Kind: trainyard.RunTag, Key: "stage", Op: "=", Str: "prod"},
		{Kind: trainyard.RunMetric, Key: "val/acc", Op: ">=", Str: "0.5", Num: 0.5, IsNum: true},
		{Kind: trainyard.RunAttribute, Key: "run_name", Op: "LIKE", Str: "%Run%"},
	} {
		found := both(fmt.Sprintf("search %s %s %s %s", f.Kind, f.Key, f.Op, f.Str), func(s trainyard.Store) (any, error) {
			rs, _, err := s.SearchRuns(ctx, trainyard.RunSearch{View: trainyard.ViewAll, Filter: []trainyard.RunClause{f}})
			ids := []string{}
			for _, r := range rs {
				ids = append(ids, r.ID)
			}
			return ids, err
		}).([]string)
		if len(found) == 0 {
			t.Errorf("search %s %s %s %s finds nothing in the source: the test's data misses it", f.Kind, f.Key, f.Op, f.Str)
		}
	}
	both("experiments", func(s trainyard.Store) (any, error) { return s.Experiments(ctx, trainyard.ViewAll) })
	both("registered models", func(s trainyard.Store) (any, error) { return s.RegisteredModels(ctx) })
	both("model versions", func(s trainyard.Store) (any, error) { return s.ModelVersions(ctx, "") })
	both("logged models", func(s trainyard.Store) (any, error) { return s.LoggedModels(ctx, []string{"1"}) })
	sweeps := both("sweeps", func(s trainyard.Store) (any, error) { return s.Sweeps(ctx, trainyard.SweepFilter{}) }).([]*trainyard.Sweep)
	for _, sw := range sweeps {
		both("trials of "+sw.ID, func(s trainyard.Store) (any, error) { return s.Trials(ctx, sw.ID) })
	}
	both("users", func(s trainyard.Store) (any, error) { return s.Users(ctx) })
	both("tokens", func(s trainyard.Store) (any, error) {
		return s.Tokens(ctx, trainyard.TokenFilter{Inactive: true, Now: t0})
	})
	both("a token by its hash", func(s trainyard.Store) (any, error) { return s.TokenByHash(ctx, fmt.Sprintf("%064x", []byte("tok0"))) })
	both("audit log", func(s trainyard.Store) (any, error) { return s.Audit(ctx, trainyard.AuditFilter{Limit: 1000}) })
	both("server secret", func(s trainyard.Store) (any, error) { return s.ServerSecret(ctx) })
}

// TestEveryTableAndColumnIsCopied compares the tables and columns of
// both schemas, as the stores create them, with what migrate copies: a
// table or column added to either schema and not to migrate fails here.
func TestEveryTableAndColumnIsCopied(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := migrate.OpenSQLiteForTest(filepath.Join(dir, "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sqliteCols := map[string][]string{}
	rows, err := db.Query(`SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		sqliteCols[tbl] = append(sqliteCols[tbl], col)
	}
	rows.Close()

	url := pgtest.NewDatabase(t)
	pg, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pg.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pgCols := map[string][]string{}
	prows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	for prows.Next() {
		var tbl, col string
		if err := prows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		pgCols[tbl] = append(pgCols[tbl], col)
	}
	prows.Close()
	if len(sqliteCols) < 10 || len(pgCols) < 10 {
		t.Fatalf("read %d SQLite and %d PostgreSQL tables: too few", len(sqliteCols), len(pgCols))
	}
	wantSQLite, wantPG, skipSQLite, skipPG := migrate.SchemaForTest()
	for _, n := range skipSQLite {
		delete(sqliteCols, n)
	}
	for _, n := range skipPG {
		delete(pgCols, n)
	}
	sortCols := cmpopts.SortSlices(func(a, b string) bool { return a < b })
	if d := cmp.Diff(wantSQLite, sqliteCols, sortCols); d != "" {
		t.Errorf("SQLite's schema and what migrate reads differ (-migrate +schema): add the table or column to migrate/tables.go:\n%s", d)
	}
	if d := cmp.Diff(wantPG, pgCols, sortCols); d != "" {
		t.Errorf("PostgreSQL's schema and what migrate writes differ (-migrate +schema): add the table or column to migrate/tables.go:\n%s", d)
	}
}

// Bad input gets an error that names it.
func TestMigrateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name     string
		opt      migrate.Options
		wantErrs []string
	}{
		{"unknown scheme", migrate.Options{From: dir, To: "mysql://u@h/db"}, []string{"mysql://u@h/db", "PostgreSQL"}},
		{"no database there", migrate.Options{From: dir, To: "postgres://trainyard@" + closed + "/x?connect_timeout=5"}, []string{closed}},
		{"missing source", migrate.Options{From: filepath.Join(dir, "absent"), To: pgtest.NewDatabase(t)}, []string{filepath.Join(dir, "absent")}},
		{"no database in the source", migrate.Options{From: t.TempDir(), To: pgtest.NewDatabase(t)}, []string{"trainyard.db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := migrate.Run(ctx, tc.opt)
			if err == nil {
				t.Fatal("migrated")
			}
			for _, w := range tc.wantErrs {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
	// A password never shows in a message.
	_, err = migrate.Run(ctx, migrate.Options{From: dir, To: "postgres://u:s3cret@" + closed + "/x?connect_timeout=5"})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v shows the password", err)
	}
}

// Without an artifact store the database moves and the artifacts stay
// where they are, unchecked and untouched.
func TestMigrateWithoutArtifacts(t *testing.T) {
	dir := t.TempDir()
	populate(t, dir)
	url := pgtest.NewDatabase(t)
	rep, err := migrate.Run(ctx, migrate.Options{From: dir, To: url})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	rep.WriteTable(&table)
	t.Logf("check:\n%s", table.String())
	for _, c := range rep.Counts {
		if strings.HasPrefix(c.What, "artifact") {
			t.Errorf("artifacts counted without an artifact store: %+v", c)
		}
	}
	src, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	compareStores(t, src, dst)
}

// A server that schedules on the target (it holds the leadership) makes
// migrate refuse; once it is gone, migrate runs.
func TestMigrateRefusesATargetWithAServer(t *testing.T) {
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "trainyard.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	url := pgtest.NewDatabase(t)
	pg, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	lease, err := pg.Campaign(ctx, "a server")
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Run(ctx, migrate.Options{From: dir, To: url})
	if err == nil || !strings.Contains(err.Error(), "server is running") {
		t.Fatalf("migrate into a database a server leads: %v; want it refused", err)
	}
	lease.Release()
	if _, err := migrate.Run(ctx, migrate.Options{From: dir, To: url}); err != nil {
		t.Fatalf("after the server left: %v", err)
	}
}
