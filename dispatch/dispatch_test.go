package dispatch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/sqlite"
)

// The test binary doubles as the job shim, as the trainyard binary does.
const shimEnv = "TRAINYARD_DISPATCH_TEST_SHIM"

func TestMain(m *testing.M) {
	if os.Getenv(shimEnv) == "1" {
		os.Exit(local.ShimMain(os.Args[1:]))
	}
	os.Exit(pgtest.Main(m)) // stops the PostgreSQL the shared-store tests start
}

var ctx = context.Background()

type rig struct {
	t     *testing.T
	dir   string
	store *sqlite.Store
	logs  *disk.Logs
	exec  *local.Executor
	d     *dispatch.Dispatcher
}

func machine(gpus int) trainyard.Machine {
	m := trainyard.Machine{Hostname: "test", CPUs: 4, Memory: 8 << 30}
	for i := range gpus {
		m.GPUs = append(m.GPUs, trainyard.GPU{Index: i, Name: "fake"})
	}
	return m
}

func newRig(t *testing.T, m trainyard.Machine) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir()}
	var err error
	if r.store, err = sqlite.Open(ctx, filepath.Join(r.dir, "db"), sqlite.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	if r.logs, err = disk.NewLogs(filepath.Join(r.dir, "logs")); err != nil {
		t.Fatal(err)
	}
	r.start(m)
	return r
}

// start starts a dispatcher on the rig's store, as a (re)started server does.
func (r *rig) start(m trainyard.Machine) {
	var err error
	if r.exec, err = local.New(local.Config{ShimCommand: []string{os.Args[0]}, StateDir: filepath.Join(r.dir, "state"), Node: m.Node()}); err != nil {
		r.t.Fatal(err)
	}
	r.d = dispatch.New(dispatch.Config{
		Machine: m, ServerURL: "http://test", KillGrace: 500 * time.Millisecond, CheckWorkdir: true,
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: r.dir,
	}, r.store, r.exec, r.logs)
	if err := r.d.Start(ctx); err != nil {
		r.t.Fatal(err)
	}
	d := r.d
	r.t.Cleanup(d.Close)
}

func (r *rig) submit(spec trainyard.JobSpec) *trainyard.Job {
	r.t.Helper()
	j, err := r.d.Submit(ctx, spec)
	if err != nil {
		r.t.Fatal(err)
	}
	return j
}

func (r *rig) waitFor(id string, what string, cond func(*trainyard.Job) bool) *trainyard.Job {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		j, err := r.d.Job(ctx, id)
		if err == nil && cond(j) {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := r.d.Job(ctx, id)
	r.t.Fatalf("job %s: timed out waiting for %s; it is %+v", id, what, j)
	return nil
}

func ended(j *trainyard.Job) bool { return j.State.Terminal() }

func (r *rig) log(id string) string {
	b, _ := os.ReadFile(r.logs.Path(id))
	return string(b)
}

// sh is a job running script with the default request (one CPU), as the
// API and the CLI fill it.
func sh(script string) trainyard.JobSpec {
	return trainyard.JobSpec{Command: []string{"sh", "-c", script}, Resources: trainyard.Resources{CPUs: trainyard.DefaultCPUs}}
}

func TestJobsRunWithTheirGPUsAndEnvironment(t *testing.T) {
	r := newRig(t, machine(2))
	spec := sh(`echo "run=$TRAINYARD_RUN_ID url=$TRAINYARD_URL cvd=$CUDA_VISIBLE_DEVICES nvd=$NVIDIA_VISIBLE_DEVICES omp=$OMP_NUM_THREADS seed=$SEED order=$CUDA_DEVICE_ORDER"; sleep 0.3`)
	spec.Resources = trainyard.Resources{GPUs: 1, CPUs: 2}
	spec.Env = map[string]string{"SEED": "42", "CUDA_VISIBLE_DEVICES": "7"} // the job cannot pick its GPUs
	a, b := r.submit(spec), r.submit(spec)
	cpu := r.submit(sh(`echo "cvd=[$CUDA_VISIBLE_DEVICES] nvd=$NVIDIA_VISIBLE_DEVICES"`))
	for _, j := range []*trainyard.Job{a, b, cpu} {
		if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateSucceeded || *got.ExitCode != 0 {
			t.Fatalf("job %s = %+v\nlog: %s", j.ID, got, r.log(j.ID))
		}
	}
	la, lb := r.log(a.ID), r.log(b.ID)
	if !strings.Contains(la, "run="+a.ID+" url=http://test") || !strings.Contains(la, "omp=2 seed=42 order=PCI_BUS_ID") {
		t.Errorf("job a's environment: %s", la)
	}
	ga, gb := r.waitFor(a.ID, "gpus", ended).GPUs(), r.waitFor(b.ID, "gpus", ended).GPUs()
	if len(ga) != 1 || len(gb) != 1 || ga[0] == gb[0] {
		t.Fatalf("GPUs a=%v b=%v: want one each, different", ga, gb)
	}
	for _, c := range []struct {
		log string
		gpu int
	}{{la, ga[0]}, {lb, gb[0]}} {
		want := "cvd=" + string(rune('0'+c.gpu)) + " nvd=" + string(rune('0'+c.gpu))
		if !strings.Contains(c.log, want) {
			t.Errorf("log %q lacks %q", c.log, want)
		}
	}
	if l := r.log(cpu.ID); !strings.Contains(l, "cvd=[] nvd=void") {
		t.Errorf("CPU job sees GPUs: %s", l)
	}
	run, err := r.store.Run(ctx, a.ID)
	if err != nil || run.State != trainyard.StateSucceeded || run.JobID != a.ID {
		t.Errorf("job's run = %+v, %v", run, err)
	}
}

func TestSubmitRefusesWhatCanNeverRun(t *testing.T) {
	r := newRig(t, machine(1))
	for _, tc := range []struct {
		spec trainyard.JobSpec
		code string
		msg  string
	}{
		{trainyard.JobSpec{Command: []string{"true"}, Resources: trainyard.Resources{GPUs: 2}}, trainyard.EUNSATISFIABLE, "asks for 2 GPUs but this machine has 1 GPU"},
		{trainyard.JobSpec{Command: []string{"true"}, Resources: trainyard.Resources{Memory: 1 << 40}}, trainyard.EUNSATISFIABLE, "memory"},
		{trainyard.JobSpec{Command: []string{"true"}, Workdir: "relative/dir"}, trainyard.EINVALID, "workdir"},
		{trainyard.JobSpec{Command: []string{"true"}, Workdir: "/no/such/dir"}, trainyard.EINVALID, "is not a directory"},
		{trainyard.JobSpec{}, trainyard.EINVALID, "command"},
	} {
		_, err := r.d.Submit(ctx, tc.spec)
		if trainyard.ErrorCode(err) != tc.code || !strings.Contains(trainyard.ErrorMessage(err), tc.msg) {
			t.Errorf("Submit(%+v) = %v; want %s containing %q", tc.spec, err, tc.code, tc.msg)
		}
	}
	if js, _ := r.store.Jobs(ctx, trainyard.JobFilter{}); len(js) != 0 {
		t.Errorf("refused jobs were stored: %v", js)
	}
}

func TestFailedJobsRestartThenFail(t *testing.T) {
	r := newRig(t, machine(0))
	spec := sh("echo try; exit 9")
	spec.MaxRestarts = 2
	j := r.waitFor(r.submit(spec).ID, "end", ended)
	if j.State != trainyard.StateFailed || j.Restarts != 2 || *j.ExitCode != 9 || j.Reason != "exit code 9" {
		t.Fatalf("job = %+v", j)
	}
	if l := r.log(j.ID); strings.Count(l, "try") != 3 || !strings.Contains(l, "[trainyard] restart 1 of 2 after exit code 9") {
		t.Errorf("log:\n%s", l)
	}
	ok := sh("exit 0")
	ok.MaxRestarts = 3
	if j := r.waitFor(r.submit(ok).ID, "end", ended); j.State != trainyard.StateSucceeded || j.Restarts != 0 {
		t.Errorf("succeeding job = %+v", j)
	}
}

func TestCancel(t *testing.T) {
	m := machine(0)
	m.CPUs = 1
	r := newRig(t, m)
	running := r.submit(sh("sleep 60"))
	queued := r.submit(sh("true"))
	r.waitFor(running.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning && j.BackendID != "" })
	q := r.waitFor(queued.ID, "a wait reason", func(j *trainyard.Job) bool { return strings.Contains(j.Reason, "waiting for 1 CPU") })
	if q.QueuePosition != 1 {
		t.Errorf("queued job position %d, want 1", q.QueuePosition)
	}
	if j, err := r.d.Cancel(ctx, queued.ID); err != nil || j.State != trainyard.StateCanceled {
		t.Fatalf("cancel queued: %+v %v", j, err)
	}
	if _, err := r.d.Cancel(ctx, running.ID); err != nil {
		t.Fatal(err)
	}
	j := r.waitFor(running.ID, "canceled", ended)
	if j.State != trainyard.StateCanceled || j.ExitCode == nil || *j.ExitCode != 143 {
		t.Errorf("canceled job = %+v", j)
	}
	if _, err := r.d.Cancel(ctx, running.ID); trainyard.ErrorCode(err) != trainyard.ECONFLICT {
		t.Errorf("second cancel: %v, want conflict", err)
	}
	if _, err := r.d.Cancel(ctx, "nope"); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Errorf("cancel unknown: %v", err)
	}
	stubborn := r.submit(sh("trap '' TERM; while true; do sleep 0.05; done"))
	r.waitFor(stubborn.ID, "running", func(j *trainyard.Job) bool { return j.BackendID != "" })
	time.Sleep(100 * time.Millisecond) // let the trap be set
	r.d.Cancel(ctx, stubborn.ID)
	if j := r.waitFor(stubborn.ID, "killed", ended); j.State != trainyard.StateCanceled || !strings.Contains(j.Reason, "SIGKILL") {
		t.Errorf("stubborn job = %+v", j)
	}
}

func TestRestartedDispatcherReattaches(t *testing.T) {
	r := newRig(t, machine(1))
	spec := sh("sleep 1; exit 6")
	spec.Resources.GPUs = 1
	j := r.submit(spec)
	r.waitFor(j.ID, "running", func(j *trainyard.Job) bool { return j.BackendID != "" })
	other := r.submit(spec) // waits for the GPU
	r.d.Close()             // the server stops; the job runs on

	r.start(machine(1))
	if got, _ := r.d.Job(ctx, j.ID); got.State != trainyard.StateRunning {
		t.Fatalf("after restart the job is %s (%s)", got.State, got.Reason)
	}
	if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateFailed || *got.ExitCode != 6 {
		t.Errorf("re-attached job = %+v", got)
	}
	// The queued job was reloaded and gets the GPU once it is free.
	if got := r.waitFor(other.ID, "end", ended); *got.ExitCode != 6 || len(got.GPUs()) != 1 {
		t.Errorf("queued job = %+v", got)
	}
}

func TestRecoveryFindsAJobWhoseStartWasNotRecorded(t *testing.T) {
	r := newRig(t, machine(0))
	j := r.submit(sh("sleep 1; exit 4"))
	got := r.waitFor(j.ID, "running", func(j *trainyard.Job) bool { return j.BackendID != "" })
	r.d.Close()
	// As if the server died between starting the process and recording it.
	got, _ = r.store.Job(ctx, j.ID)
	got.BackendID, got.Handle = "", ""
	if err := r.store.UpdateJobs(ctx, got); err != nil {
		t.Fatal(err)
	}
	r.start(machine(0))
	if got := r.waitFor(j.ID, "end", ended); got.State != trainyard.StateFailed || got.ExitCode == nil || *got.ExitCode != 4 {
		t.Errorf("recovered job = %+v", got)
	}
}

// Many jobs that cannot start, started in one scheduling pass, must not
// wedge the loop (it records each failure itself).
func TestManyJobsThatCannotStart(t *testing.T) {
	m := machine(0)
	m.CPUs = 1000
	r := newRig(t, m)
	var ids []string
	for range 150 {
		ids = append(ids, r.submit(trainyard.JobSpec{Command: []string{"no-such-program-xyz"}}).ID)
	}
	for _, id := range ids {
		if j := r.waitFor(id, "end", ended); j.State != trainyard.StateFailed || !strings.Contains(j.Reason, "no-such-program-xyz") {
			t.Fatalf("job = %+v", j)
		}
	}
	if j := r.waitFor(r.submit(sh("exit 0")).ID, "end", ended); j.State != trainyard.StateSucceeded {
		t.Fatalf("a job after them = %+v", j)
	}
}
