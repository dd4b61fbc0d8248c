package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// trialScript is a sweep trial as a user writes one with the SDK: it
// resumes from its checkpoint when there is one, reports the metric each
// epoch, saves a checkpoint, and stops when told. Each start appends a
// line to $EVENTS, so the test sees every process a trial ran as.
const trialScript = `
import json, os, sys, time, trainyard
run = trainyard.init(system_metrics_interval=0)
max_steps, epoch_s = int(os.environ["MAX_STEPS"]), float(os.environ["EPOCH_S"])
x = float(run.config["x"])
start, source = 0, None
ckpt = run.restore()
if ckpt:
    state = json.load(open(os.path.join(ckpt, "state.json")))
    start, source = state["step"], state["trial"]
    assert start == run.resume_step(), (start, run.resume_step())
with open(os.environ["EVENTS"], "a") as f:
    f.write(json.dumps({"trial": int(os.environ["TRAINYARD_TRIAL"]), "segment": int(os.environ["TRAINYARD_TRIAL_SEGMENT"]),
                        "run": run.id, "pid": os.getpid(), "restored": start, "source": source}) + "\n")
for epoch in range(start + 1, max_steps + 1):
    time.sleep(epoch_s)
    run.log({"loss": (x - 0.3) ** 2 + 1.0 / epoch}, step=epoch)
    with open(os.path.join(run.checkpoint_dir(epoch), "state.json"), "w") as f:
        json.dump({"step": epoch, "trial": int(os.environ["TRAINYARD_TRIAL"])}, f)
    if run.should_stop():
        break
run.finish()
`

type trialEvent struct {
	Trial, Segment int
	Run            string
	Pid            int
	Restored       int
	Source         *int
}

func readEvents(t *testing.T, path string) []trialEvent {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []trialEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e trialEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func sweepDir(t *testing.T) (dir, events string) {
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "trial.py"), []byte(trialScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filepath.Join(dir, "events.jsonl")
}

func (s *server) waitSweep(id string, within time.Duration, done func(*sweep.View) bool) *sweep.View {
	s.t.Helper()
	var v *sweep.View
	eventually(s.t, within, "sweep "+id, func() bool {
		var err error
		v, err = s.C.Sweep(ctx, id)
		return err == nil && done(v)
	})
	return v
}

func ended(v *sweep.View) int {
	return v.Counts["COMPLETED"] + v.Counts["STOPPED"] + v.Counts["FAILED"]
}

// A sweep of real Python trials through the real server and scheduler,
// the server killed with SIGKILL in the middle and started again: the
// sweep goes on and completes, no trial is lost, none runs twice, and
// what the searcher decided before the kill stands.
func TestSweepSurvivesKill9(t *testing.T) {
	s := startServer(t)
	dir, events := sweepDir(t)
	out, errOut, code := s.cli(dir, "sweep", "create", "--search", "tpe", "--metric", "loss", "--max-trials", "10", "--parallel", "3",
		"--seed", "2", "--param", "x=uniform:0:1", "--project", "e2e-sweep", "--env", "EVENTS="+events, "--env", "MAX_STEPS=4",
		"--env", "EPOCH_S=0.25", "--", python, "trial.py")
	if code != 0 {
		t.Fatalf("sweep create: exit %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(out)
	before := s.waitSweep(id, 60*time.Second, func(v *sweep.View) bool { return ended(v) >= 3 && v.Counts["RUNNING"] > 0 })
	s.stop(syscall.SIGKILL)
	time.Sleep(time.Second) // trials run on, and some end, while no server is there
	s.restart()
	v := s.waitSweep(id, 120*time.Second, func(v *sweep.View) bool { return !v.State.Active() })
	if v.State != trainyard.SweepCompleted || len(v.Trials) != 10 || v.Counts["COMPLETED"] != 10 {
		t.Fatalf("after the restart: %s, trials %v\nserver:\n%s", v.State, v.Counts, s.stderr)
	}
	// What the searcher decided before the kill stands: the same trials
	// with the same configurations.
	for _, b := range before.Trials {
		a := v.Trials[b.Number-1]
		if fmt.Sprint(a.Config) != fmt.Sprint(b.Config) || len(b.Jobs) > 0 && (len(a.Jobs) == 0 || a.Jobs[0] != b.Jobs[0]) {
			t.Errorf("trial %d was %v in job %v before the kill, %v in %v after", b.Number, b.Config, b.Jobs, a.Config, a.Jobs)
		}
	}
	// No trial ran twice: one process and one job per trial.
	evs := readEvents(t, events)
	perTrial := map[int]int{}
	runs := map[string]bool{}
	for _, e := range evs {
		perTrial[e.Trial]++
		runs[e.Run] = true
	}
	for n := 1; n <= 10; n++ {
		if perTrial[n] != 1 {
			t.Errorf("trial %d started %d times", n, perTrial[n])
		}
	}
	if len(evs) != 10 || len(runs) != 10 {
		t.Errorf("%d trial processes in %d runs, want 10 and 10: %+v\nserver:\n%s", len(evs), len(runs), evs, s.stderr)
	}
	for _, tr := range v.Trials {
		if len(tr.Jobs) != 1 || tr.Step != 4 || tr.Results != 4 {
			t.Errorf("trial %d: jobs %v, step %d, %d results (want 1 job, step 4, 4 results: none lost, none twice)", tr.Number, tr.Jobs, tr.Step, tr.Results)
		}
	}
	if v.BestValue == nil {
		t.Error("no best trial")
	}
	// The CLI shows it all.
	show, _, code := s.cli(dir, "sweep", "show", id[:6])
	if code != 0 || !strings.Contains(show, "COMPLETED") || !strings.Contains(show, "best: trial") {
		t.Errorf("sweep show:\n%s", show)
	}
	ls, _, _ := s.cli(dir, "sweep", "ls")
	if !strings.Contains(ls, id) || !strings.Contains(ls, "10/10") {
		t.Errorf("sweep ls:\n%s", ls)
	}
}

// Promotion-based ASHA end to end: trials pause at their rungs (saving a
// checkpoint and exiting), and the promoted ones run again as new jobs
// that restore their own checkpoint and go on from its step.
func TestSweepASHAResumesFromCheckpoints(t *testing.T) {
	s := startServer(t)
	dir, events := sweepDir(t)
	spec := fmt.Sprintf(`name: asha-e2e
command: [%q, trial.py]
env: {EVENTS: %q, MAX_STEPS: "9", EPOCH_S: "0.05"}
metric: {name: loss, mode: min}
parameters:
  x: {min: 0.0, max: 1.0}
searcher: random
early_stopping: {name: asha, min_steps: 1, eta: 3, mode: promote}
max_steps: 9
max_trials: 9
parallel: 3
seed: 4
`, python, events)
	os.WriteFile(filepath.Join(dir, "sweep.yaml"), []byte(spec), 0o644)
	out, errOut, code := s.cli(dir, "sweep", "create", "sweep.yaml", "--wait")
	if code != 0 {
		t.Fatalf("sweep create --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "trials") || !strings.Contains(out, "best: trial") {
		t.Errorf("--wait printed:\n%s\n%s", errOut, out)
	}
	vs, _ := s.C.Sweeps(ctx, trainyard.SweepFilter{})
	v, err := s.C.Sweep(ctx, vs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != trainyard.SweepCompleted {
		t.Fatalf("sweep %s: %s", v.State, v.Reason)
	}
	evs := readEvents(t, events)
	resumed := 0
	seen := map[[2]int]bool{}
	for _, e := range evs {
		key := [2]int{e.Trial, e.Segment}
		if seen[key] {
			t.Errorf("trial %d segment %d ran twice", e.Trial, e.Segment)
		}
		seen[key] = true
		if e.Segment == 1 {
			if e.Restored != 0 {
				t.Errorf("trial %d's first segment restored from step %d", e.Trial, e.Restored)
			}
			continue
		}
		resumed++
		if e.Source == nil || *e.Source != e.Trial || (e.Restored != 1 && e.Restored != 3) {
			t.Errorf("trial %d segment %d restored step %d of trial %v; want its own rung (1 or 3)", e.Trial, e.Segment, e.Restored, e.Source)
		}
	}
	if resumed == 0 {
		t.Fatalf("no trial was resumed: %+v", evs)
	}
	full := 0
	for _, tr := range v.Trials {
		if tr.Results != tr.Step {
			t.Errorf("trial %d: %d results up to step %d", tr.Number, tr.Results, tr.Step)
		}
		if tr.Step == 9 {
			full++
		}
	}
	if full == 0 {
		t.Error("no trial reached step 9")
	}
}

// The CLI refuses a bad spec file naming its lines, and pause, resume and
// stop work by short ID.
func TestSweepCLIControls(t *testing.T) {
	s := startServer(t)
	dir, events := sweepDir(t)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("command: [python, t.py]\nmetric: loss\nparameters:\n  lr: {min: 1, max: 0}\nparallel: many\n"), 0o644)
	_, errOut, code := s.cli(dir, "sweep", "create", "bad.yaml")
	if code == 0 || !strings.Contains(errOut, "bad.yaml:5: parallel") {
		t.Fatalf("bad spec: exit %d\n%s", code, errOut)
	}
	out, errOut, code := s.cli(dir, "sweep", "create", "--metric", "loss", "--max-trials", "20", "--parallel", "2",
		"--param", "x=uniform:0:1", "--env", "EVENTS="+events, "--env", "MAX_STEPS=40", "--env", "EPOCH_S=0.1", "--", python, "trial.py")
	if code != 0 {
		t.Fatalf("sweep create: %s", errOut)
	}
	id := strings.TrimSpace(out)
	s.waitSweep(id, 30*time.Second, func(v *sweep.View) bool { return v.Counts["RUNNING"] == 2 })
	if out, errOut, code := s.cli(dir, "sweep", "pause", id[:5]); code != 0 || !strings.Contains(out, "PAUSED") {
		t.Fatalf("pause: %s %s", out, errOut)
	}
	v := s.waitSweep(id, 30*time.Second, func(v *sweep.View) bool { return v.Counts["PAUSED"] == 2 })
	for _, tr := range v.Trials {
		if !tr.Held || tr.JobState.Terminal() == false {
			t.Errorf("paused trial %d: held %v, job %s", tr.Number, tr.Held, tr.JobState)
		}
	}
	if out, _, code := s.cli(dir, "sweep", "resume", id); code != 0 || !strings.Contains(out, "RUNNING") {
		t.Fatalf("resume: %s", out)
	}
	var resumedFrom []int
	eventually(t, 30*time.Second, "a resumed trial running", func() bool {
		resumedFrom = resumedFrom[:0]
		for _, e := range readEvents(t, events) {
			if e.Segment == 2 {
				resumedFrom = append(resumedFrom, e.Restored)
			}
		}
		return len(resumedFrom) > 0
	})
	if resumedFrom[0] == 0 {
		t.Errorf("resumed trials restored from steps %v; want their checkpoints from before the pause", resumedFrom)
	}
	if out, _, code := s.cli(dir, "sweep", "stop", id); code != 0 {
		t.Fatalf("stop: %s", out)
	}
	v = s.waitSweep(id, 30*time.Second, func(v *sweep.View) bool { return v.State == trainyard.SweepStopped })
	js, _ := s.C.Jobs(ctx, trainyard.JobFilter{Active: true})
	if len(js) != 0 {
		t.Errorf("%d jobs still active after stop", len(js))
	}
	j, _, _ := s.cli(dir, "sweep", "show", id, "--json")
	var got sweep.View
	if err := json.Unmarshal([]byte(j), &got); err != nil || got.ID != id || len(got.Trials) == 0 {
		t.Errorf("sweep show --json: %v\n%s", err, j)
	}
}

// optunaScript drives trainyard through the ask/tell API with a real
// Optuna study: its TPE chooses each configuration, which runs as a job
// through trainyard's queue; then trainyard's own TPE suggests for trials
// the script evaluates itself (no queue).
const optunaScript = `
import json, sys, time, urllib.request
import optuna
url, queued, asked = sys.argv[1:4]
def call(method, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=1))
for _ in range(6):
    t = study.ask()
    x = t.suggest_float("x", -2.0, 2.0)
    n = call("POST", "/api/v1/sweeps/%s/suggest" % queued, {"config": {"x": x}})["trials"][0]["number"]
    while True:
        tr = call("GET", "/api/v1/sweeps/" + queued)["trials"][n - 1]
        if tr["state"] in ("COMPLETED", "FAILED", "STOPPED"):
            break
        time.sleep(0.1)
    study.tell(t, tr["value"])
n_told = 0
while True:
    s = call("POST", "/api/v1/sweeps/%s/suggest" % asked, {})
    if s["done"]:
        break
    for tr in s["trials"]:
        x = tr["config"]["x"]
        call("POST", "/api/v1/sweeps/%s/report" % asked, {"trial": tr["number"], "step": 1, "value": (x - 1) ** 2, "state": "completed"})
        n_told += 1
print(json.dumps({"optuna_best": study.best_value, "optuna_trials": len(study.trials), "told": n_told}))
`

func TestAskTellWithOptuna(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "quad.py"), []byte(`
import trainyard
run = trainyard.init(system_metrics_interval=0)
run.log({"loss": run.config["x"] ** 2}, step=1)
`), 0o644)
	os.WriteFile(filepath.Join(dir, "ask.py"), []byte(optunaScript), 0o644)
	out, errOut, code := s.cli(dir, "sweep", "create", "--search", "external", "--metric", "loss", "--max-trials", "6", "--", python, "quad.py")
	if code != 0 {
		t.Fatalf("external sweep: %s", errOut)
	}
	queued := strings.TrimSpace(out)
	asked, err := s.C.CreateSweep(ctx, "asked.yaml", []byte(`{"metric": "loss", "parameters": {"x": {"min": -2, "max": 2}}, "searcher": "tpe", "max_trials": 12, "seed": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, "ask.py", s.URL, queued, asked.ID)
	cmd.Dir = dir
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the Optuna driver failed: %v\n%s", err, res)
	}
	var got struct {
		OptunaBest   float64 `json:"optuna_best"`
		OptunaTrials int     `json:"optuna_trials"`
		Told         int
	}
	if err := json.Unmarshal(res[strings.LastIndex(string(res[:len(res)-1]), "\n")+1:], &got); err != nil {
		t.Fatalf("driver output %q: %v", res, err)
	}
	q := s.waitSweep(queued, 30*time.Second, func(v *sweep.View) bool { return !v.State.Active() })
	if q.State != trainyard.SweepCompleted || q.Counts["COMPLETED"] != 6 || float64(*q.BestValue) != got.OptunaBest {
		t.Fatalf("external sweep %s %v best %v; Optuna's best %v", q.State, q.Counts, q.BestValue, got.OptunaBest)
	}
	for _, tr := range q.Trials {
		if !tr.External || len(tr.Jobs) != 1 {
			t.Errorf("trial %d: external %v, jobs %v", tr.Number, tr.External, tr.Jobs)
		}
	}
	a := s.waitSweep(asked.ID, 10*time.Second, func(v *sweep.View) bool { return !v.State.Active() })
	if a.State != trainyard.SweepCompleted || got.Told != 12 || a.Counts["COMPLETED"] != 12 || a.Managed {
		t.Fatalf("ask/tell sweep %s %v, told %d", a.State, a.Counts, got.Told)
	}
	if v := float64(*a.BestValue); v > 0.5 {
		t.Errorf("trainyard's TPE found %v at best for (x-1)² in 12 trials", v)
	}
	_ = strconv.Itoa
}

// The CLI as a user first meets it: `sweep create` from flags, with run
// flags (--project) and --wait, follows the sweep to its end with a line
// per change (stderr is not a terminal here) and prints the trials table
// and the best trial; `sweep ls` lists it, `sweep show` prints the same
// table. A sweep whose command fails every time ends FAILED, and --wait
// exits 1.
func TestSweepCreateWaitLsShow(t *testing.T) {
	s := startServer(t)
	dir, events := sweepDir(t)
	out, errOut, code := s.cli(dir, "sweep", "create", "--name", "wait-e2e", "--project", "tune", "--search", "random", "--seed", "3",
		"--metric", "loss", "--mode", "min", "--max-trials", "4", "--parallel", "2",
		"--param", "x=uniform:0:1", "--param", "opt=choice:adam,sgd",
		"--env", "EVENTS="+events, "--env", "MAX_STEPS=3", "--env", "EPOCH_S=0.05", "--wait", "--", python, "trial.py")
	if code != 0 {
		t.Fatalf("sweep create --wait: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "4/4 trials") || !strings.Contains(errOut, "COMPLETED") {
		t.Errorf("--wait progress does not reach 4/4 trials COMPLETED:\n%s", errOut)
	}
	for _, want := range []string{"(tune)", "state     COMPLETED", "TRIAL", "CONFIG", "opt=", "x=", "best: trial "} {
		if !strings.Contains(out, want) {
			t.Errorf("--wait's final table lacks %q:\n%s", want, out)
		}
	}
	svs, err := s.C.Sweeps(ctx, trainyard.SweepFilter{})
	if err != nil || len(svs) != 1 {
		t.Fatalf("sweeps: %v %v", svs, err)
	}
	id := svs[0].ID
	v, err := s.C.Sweep(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Counts["COMPLETED"] != 4 || v.BestValue == nil {
		t.Fatalf("sweep after --wait: counts %v best %v", v.Counts, v.BestValue)
	}
	// Every trial ran once, as a job of the project --project named.
	if evs := readEvents(t, events); len(evs) != 4 {
		t.Errorf("%d trial processes, want 4: %+v", len(evs), evs)
	}
	for _, tr := range v.Trials {
		j, err := s.C.Job(ctx, tr.Job())
		if err != nil {
			t.Fatal(err)
		}
		if j.Project != "tune" {
			t.Errorf("trial %d's job %s is in project %q, want tune", tr.Number, j.ID, j.Project)
		}
	}

	ls, errOut, code := s.cli(dir, "sweep", "ls")
	if code != 0 || !strings.Contains(ls, id) || !strings.Contains(ls, "wait-e2e") || !strings.Contains(ls, "COMPLETED") {
		t.Errorf("sweep ls: exit %d\n%s%s", code, ls, errOut)
	}
	show, errOut, code := s.cli(dir, "sweep", "show", id[:6])
	if code != 0 || !strings.Contains(show, fmt.Sprintf("best: trial %d, loss = ", v.BestTrial)) ||
		!strings.Contains(show, fmt.Sprintf("%d *", v.BestTrial)) {
		t.Errorf("sweep show: exit %d\n%s%s", code, show, errOut)
	}

	_, errOut, code = s.cli(dir, "sweep", "create", "--metric", "loss", "--max-trials", "10", "--parallel", "1",
		"--param", "x=uniform:0:1", "--wait", "--", python, "-c", "raise SystemExit(3)")
	if code != 1 || !strings.Contains(errOut, "FAILED") {
		t.Errorf("--wait on a sweep whose trials all fail: exit %d, want 1\n%s", code, errOut)
	}
}
