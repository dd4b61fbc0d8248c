package e2e

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

var ctx = context.Background()

const trainScript = `
import math, os, sys, trainyard
run = trainyard.init(config={"model": {"layers": 2, "act": "relu"}, "lr": 0.1})
for step in range(50):
    loss = 1.0 / (step + 1)
    if step == 10:
        loss = float("nan")
    run.log({"loss": loss, "acc": step / 50}, step=step)
    print(f"step {step} loss {loss}", flush=True)
with open("weights.txt", "w") as f:
    f.write("W" * 1000)
os.makedirs("plots", exist_ok=True)
with open("plots/curve.csv", "w") as f:
    f.write("step,loss\n0,1.0\n")
run.log_artifact("weights.txt")
run.log_artifact("plots", name="plots")
run.summary["best_acc"] = 0.98
print("CUDA_VISIBLE_DEVICES=[" + os.environ.get("CUDA_VISIBLE_DEVICES", "unset") + "]", flush=True)
print("stderr line", file=sys.stderr, flush=True)
`

// gitRepo makes dir a git repository with one commit, then dirties it.
func gitRepo(t *testing.T, dir string) string {
	t.Helper()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	run("add", "train.py")
	run("commit", "-q", "-m", "first")
	os.WriteFile(filepath.Join(dir, "train.py"), []byte(trainScript+"\n# edited\n"), 0o644)
	return run("rev-parse", "HEAD")
}

func TestPythonJobThroughCLIAndAPI(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "train.py"), []byte(trainScript), 0o644)
	commit := gitRepo(t, dir)

	stdout, stderr, code := s.cli(dir, "run", "--wait", "--name", "e2e-train", "--project", "e2e", "--tag", "team=qa", "--", "python", "train.py")
	if code != 0 {
		t.Fatalf("run --wait exit %d\nstdout:\n%s\nstderr:\n%s\nserver:\n%s", code, stdout, stderr, s.stderr)
	}
	for _, want := range []string{"step 0 loss 1.0", "step 49 loss", "CUDA_VISIBLE_DEVICES=[]", "stderr line"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--wait output lacks %q:\n%s", want, stdout)
		}
	}

	jobs, err := s.C.Jobs(ctx, trainyard.JobFilter{Limit: 10})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs %v %v", jobs, err)
	}
	j := jobs[0]
	if j.State != trainyard.StateSucceeded || j.ExitCode == nil || *j.ExitCode != 0 || j.Name != "e2e-train" {
		t.Fatalf("job = %+v", j)
	}

	r, err := s.C.Run(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.JobID != j.ID || r.Project != "e2e" || r.State != trainyard.StateSucceeded || r.Tags["team"] != "qa" {
		t.Errorf("run = %+v", r)
	}
	if r.Config["model.layers"] != 2.0 || r.Config["model.act"] != "relu" || r.Config["lr"] != 0.1 {
		t.Errorf("config not flattened and stored: %v", r.Config)
	}
	if r.Git == nil || r.Git.Commit != commit || !r.Git.Dirty {
		t.Errorf("git = %+v, want commit %s dirty", r.Git, commit)
	}
	if r.Summary["best_acc"] != 0.98 {
		t.Errorf("summary = %v", r.Summary)
	}
	loss := r.Metrics["loss"]
	if loss.Count != 50 || loss.LastStep != 49 || float64(loss.Last) != 1.0/50 || float64(loss.Min) != 1.0/50 || float64(loss.Max) != 1 {
		t.Errorf("loss summary = %+v", loss)
	}

	ser, err := s.C.Metric(ctx, j.ID, "loss", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ser.Values) != 50 {
		t.Fatalf("loss has %d points, want 50", len(ser.Values))
	}
	for i, v := range ser.Values {
		want := 1.0 / float64(i+1)
		if i == 10 {
			if !math.IsNaN(float64(v)) {
				t.Errorf("step 10 = %v, want NaN", v)
			}
			continue
		}
		if float64(v) != want || ser.Steps[i] != int64(i) {
			t.Errorf("point %d = (%d, %v), want (%d, %v)", i, ser.Steps[i], v, i, want)
		}
	}

	arts, err := s.C.Artifacts(ctx, j.ID, "", true)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, a := range arts {
		paths = append(paths, a.Path)
	}
	if strings.Join(paths, ",") != "plots/curve.csv,weights.txt" {
		t.Errorf("artifacts = %v", paths)
	}
	body, err := s.C.Artifact(ctx, j.ID, "weights.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != strings.Repeat("W", 1000) {
		t.Errorf("downloaded weights.txt has %d bytes", len(b))
	}

	// The CLI shows the same.
	out, _, code := s.cli(dir, "runs", "ls", "--project", "e2e", "--json")
	var listed []trainyard.Run
	if code != 0 || json.Unmarshal([]byte(out), &listed) != nil || len(listed) != 1 || listed[0].ID != j.ID {
		t.Errorf("runs ls --json = %q (exit %d)", out, code)
	}
	out, _, _ = s.cli(dir, "metrics", j.ID)
	if !strings.Contains(out, "loss") || !strings.Contains(out, "0.02") {
		t.Errorf("metrics table:\n%s", out)
	}
	out, _, code = s.cli(dir, "metrics", j.ID, "loss", "--json")
	var sj struct{ Values []trainyard.Float }
	if code != 0 || json.Unmarshal([]byte(out), &sj) != nil || len(sj.Values) != 50 {
		t.Errorf("metrics RUN loss --json: exit %d, %q", code, out)
	}
	out, _, _ = s.cli(dir, "runs", "show", j.ID)
	for _, want := range []string{"model.layers", "weights.txt", commit, "(dirty)", "best_acc"} {
		if !strings.Contains(out, want) {
			t.Errorf("runs show lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = s.cli(dir, "logs", j.ID)
	if !strings.Contains(out, "step 49") {
		t.Errorf("logs:\n%s", out)
	}
	out, _, _ = s.cli(dir, "ps", "--all")
	if !strings.Contains(out, j.ID) || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("ps --all:\n%s", out)
	}
}

func TestStandaloneRunWithSDK(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	script := `
import sys, trainyard
with trainyard.init(project="solo", name=sys.argv[1], system_metrics_interval=0) as run:
    for i in range(5):
        run.log({"x": i * 1.5})
    if sys.argv[1] == "bad":
        raise ValueError("boom")
`
	os.WriteFile(filepath.Join(dir, "solo.py"), []byte(script), 0o644)
	for _, name := range []string{"good", "bad"} {
		cmd := exec.Command(python, "solo.py", name)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TRAINYARD_URL="+s.URL, "PYTHONPATH="+sdkPath)
		out, err := cmd.CombinedOutput()
		if (name == "good") != (err == nil) {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	runs, err := s.C.Runs(ctx, trainyard.RunFilter{Project: "solo"})
	if err != nil || len(runs) != 2 {
		t.Fatalf("runs %v %v", runs, err)
	}
	for _, r := range runs {
		want := trainyard.StateSucceeded
		if r.Name == "bad" {
			want = trainyard.StateFailed
			if !strings.Contains(r.Reason, "ValueError") {
				t.Errorf("failed run's reason %q lacks the exception", r.Reason)
			}
		}
		if r.State != want || r.JobID != "" || r.Metrics["x"].Count != 5 || float64(r.Metrics["x"].Last) != 6 {
			t.Errorf("run %s: state %s, metrics %+v", r.Name, r.State, r.Metrics["x"])
		}
	}
}

func TestJobStatesRestartsAndCancel(t *testing.T) {
	s := startServer(t, "--kill-grace=1s")
	dir := t.TempDir()

	_, _, code := s.cli(dir, "run", "--wait", "--", "sh", "-c", "echo failing; exit 3")
	if code != 3 {
		t.Errorf("run --wait of a job that exits 3 exited %d", code)
	}

	out, _, _ := s.cli(dir, "run", "--max-restarts", "2", "--name", "flaky", "--", "sh", "-c", "echo attempt; exit 4")
	flaky := strings.TrimSpace(out)
	eventually(t, 30*time.Second, "flaky job to end", func() bool {
		j, err := s.C.Job(ctx, flaky)
		return err == nil && j.State.Terminal()
	})
	j, _ := s.C.Job(ctx, flaky)
	if j.State != trainyard.StateFailed || j.Restarts != 2 || *j.ExitCode != 4 || j.Reason != "exit code 4" {
		t.Errorf("flaky job = %+v", j)
	}
	logs, _, _ := s.cli(dir, "logs", flaky)
	if strings.Count(logs, "attempt") != 3 || !strings.Contains(logs, "restart 2 of 2 after exit code 4") {
		t.Errorf("flaky job's log:\n%s", logs)
	}

	// Cancel a running job; then one that ignores SIGTERM.
	for _, tc := range []struct{ name, cmd, reason string }{
		{"polite", "sleep 300", "canceled"},
		{"stubborn", "trap '' TERM; echo ready; while true; do sleep 0.1; done", "SIGKILL"},
	} {
		out, _, _ := s.cli(dir, "run", "--name", tc.name, "--", "sh", "-c", tc.cmd)
		id := strings.TrimSpace(out)
		eventually(t, 10*time.Second, tc.name+" to run", func() bool {
			j, _ := s.C.Job(ctx, id)
			return j.State == trainyard.StateRunning && j.BackendID != ""
		})
		j, _ := s.C.Job(ctx, id)
		pid, _ := strconv.Atoi(j.BackendID) // the job's process group on this machine
		if tc.name == "stubborn" {
			eventually(t, 10*time.Second, "the trap to be set", func() bool {
				l, _, _ := s.cli(dir, "logs", id)
				return strings.Contains(l, "ready")
			})
		}
		if _, _, code := s.cli(dir, "cancel", id); code != 0 {
			t.Fatalf("cancel %s exited %d", tc.name, code)
		}
		eventually(t, 15*time.Second, tc.name+" to be canceled", func() bool {
			j, _ := s.C.Job(ctx, id)
			return j.State == trainyard.StateCanceled
		})
		j, _ = s.C.Job(ctx, id)
		if !strings.Contains(j.Reason, tc.reason) {
			t.Errorf("%s: reason %q lacks %q", tc.name, j.Reason, tc.reason)
		}
		if processExists(pid) {
			t.Errorf("%s: process %d still exists after cancel", tc.name, pid)
		}
		if _, _, code := s.cli(dir, "cancel", id); code != 1 {
			t.Errorf("canceling a finished job exited %d, want 1", code)
		}
	}
}

func processExists(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}
