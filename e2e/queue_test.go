package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/gpu"
)

func TestBadInputIsRefusedClearly(t *testing.T) {
	s := startServer(t, "--cpus=2")
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"run", "--gpus", "1", "--", "true"}, 1, "this machine has 0 GPUs (and 2 CPUs"},
		{[]string{"run", "--cpus", "3", "--", "true"}, 1, "asks for 3 CPUs but this machine has 2"},
		{[]string{"run", "--mem", "4XB", "--", "true"}, 2, "--mem"},
		{[]string{"run", "--env", "NOEQUALS", "--", "true"}, 2, "KEY=VALUE"},
		{[]string{"run", "--priority", "5000", "--", "true"}, 1, "priority"},
		{[]string{"run"}, 2, "give the command"},
		{[]string{"logs", "nosuchjob"}, 1, "not found"},
		{[]string{"frobnicate"}, 2, "unknown command"},
	} {
		_, stderr, code := s.cli(dir, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.contains) {
			t.Errorf("trainyard %v: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.contains)
		}
	}

	post := func(path, body string) (int, string) {
		resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path, body string
		status     int
		field      string
	}{
		{"/api/v1/jobs", `{"command": ["true"], "gpu": 1}`, 400, `"field":"gpu"`},
		{"/api/v1/jobs", `{"command": ["true"], "resources": {"gpus": "two"}}`, 400, `resources.gpus`},
		{"/api/v1/jobs", `{"command": []}`, 400, `"field":"command"`},
		{"/api/v1/jobs", `{"command": ["true"], "resources": {"memory": "lots"}}`, 400, `lots`},
		{"/api/v1/jobs", `{"command": ["true"]`, 400, `not valid JSON`},
		{"/api/v1/jobs", `{"command": ["true"], "workdir": "relative"}`, 400, `"field":"workdir"`},
		{"/api/v1/runs", `{"project": "bad project!"}`, 400, `"field":"project"`},
		{"/api/v1/runs/nope/metrics", `{"points": [{"key": "x", "value": 1}]}`, 404, `run nope not found`},
	} {
		status, body := post(tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.field) || !strings.Contains(body, `"error":{"code":`) {
			t.Errorf("POST %s %s: %d %s; want %d with %s", tc.path, tc.body, status, body, tc.status, tc.field)
		}
	}
	// A refused metric batch stores nothing of itself.
	r, _ := s.C.CreateRun(ctx, trainyard.NewRun{Project: "p"})
	status, body := post("/api/v1/runs/"+r.ID+"/metrics", `{"points": [{"key": "ok", "value": 1}, {"key": "bad", "value": "high"}]}`)
	if status != 400 || !strings.Contains(body, "points[1].value") {
		t.Errorf("bad value: %d %s", status, body)
	}
	if got, _ := s.C.Run(ctx, r.ID); len(got.Metrics) != 0 {
		t.Errorf("refused batch left metrics %v", got.Metrics)
	}
	// Oversized bodies are refused with 413, not read to the end.
	big := bytes.Repeat([]byte(" "), 65<<20)
	resp, err := http.Post(s.URL+"/api/v1/runs/"+r.ID+"/metrics", "application/json", bytes.NewReader(big))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("65 MiB body: status %d, want 413", resp.StatusCode)
		}
	}

	// A job file with an unknown field names its line.
	jf := filepath.Join(dir, "job.yaml")
	os.WriteFile(jf, []byte("name: x\ncommand: [echo, hi]\nresources:\n  gpu: 1\n"), 0o644)
	_, stderr, code := s.cli(dir, "submit", jf)
	if code != 1 || !strings.Contains(stderr, "job.yaml:4") || !strings.Contains(stderr, "resources.gpu") {
		t.Errorf("submit with unknown field: exit %d, %q", code, stderr)
	}
}

func TestSubmitJobFile(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	jf := filepath.Join(dir, "job.yaml")
	os.WriteFile(jf, []byte(`name: from-file
project: files
command: echo "in $(pwd) seed=$SEED"
workdir: sub
resources: {cpus: 1, memory: 1GiB}
env: {SEED: "7"}
config: {lr: 0.5}
`), 0o644)
	out, stderr, code := s.cli(dir, "submit", "--wait", jf)
	if code != 0 || !strings.Contains(out, "in "+filepath.Join(dir, "sub")+" seed=7") {
		t.Fatalf("submit --wait: exit %d\n%s\n%s", code, out, stderr)
	}
	js, _ := s.C.Jobs(ctx, trainyard.JobFilter{Project: "files"})
	if len(js) != 1 || js[0].Resources.Memory != 1<<30 || js[0].Name != "from-file" {
		t.Fatalf("jobs = %+v", js)
	}
}

func TestQueueWaitsWithReasonAndBackfills(t *testing.T) {
	s := startServer(t, "--cpus=2", "--backfill-window=1h")
	dir := t.TempDir()
	id := func(args ...string) string {
		out, stderr, code := s.cli(dir, append([]string{"run"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: %d %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	a := id("--cpus", "1", "--name", "a", "--", "sleep", "300")
	big := id("--cpus", "2", "--name", "big", "--", "true")
	small := id("--cpus", "1", "--name", "small", "--", "sleep", "300")
	eventually(t, 10*time.Second, "small to backfill past big", func() bool {
		j, _ := s.C.Job(ctx, small)
		return j.State == trainyard.StateRunning
	})
	eventually(t, 5*time.Second, "big's reason to count both running jobs", func() bool {
		j, _ := s.C.Job(ctx, big)
		return j.State == trainyard.StateQueued && j.QueuePosition == 1 && strings.Contains(j.Reason, "waiting for 2 CPUs: 0 of 2 free")
	})
	out, _, _ := s.cli(dir, "ps")
	if !strings.Contains(out, "QUEUED #1") || !strings.Contains(out, "waiting for 2 CPUs") {
		t.Errorf("ps does not say why big waits:\n%s", out)
	}
	s.cli(dir, "cancel", a, small)
	eventually(t, 20*time.Second, "big to run and finish", func() bool {
		j, _ := s.C.Job(ctx, big)
		return j.State == trainyard.StateSucceeded
	})
}

func TestGPUsArePinnedAndNeverShared(t *testing.T) {
	// CI has no GPU: a fake nvidia-smi built from a real H200 capture
	// reports 4 GPUs, so that pinning through CUDA_VISIBLE_DEVICES is
	// tested everywhere. Real discovery is checked on a GPU machine.
	smi, err := gpu.FakeNvidiaSMI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--nvidia-smi="+smi) // the later --nvidia-smi wins over startServer's "none"
	m, err := s.C.Machine(ctx)
	if err != nil || len(m.GPUs) != 4 || m.GPUs[0].Name != "NVIDIA H200" {
		t.Fatalf("machine = %+v, %v", m, err)
	}
	dir := t.TempDir()
	var ids []string
	for i := range 3 {
		out, stderr, code := s.cli(dir, "run", "--gpus", "2", "--name", "g"+string(rune('0'+i)), "--", "sh", "-c", "echo CVD=$CUDA_VISIBLE_DEVICES NVD=$NVIDIA_VISIBLE_DEVICES; sleep 1")
		if code != 0 {
			t.Fatalf("%s", stderr)
		}
		ids = append(ids, strings.TrimSpace(out))
	}
	eventually(t, 10*time.Second, "two jobs to hold all GPUs", func() bool {
		js, _ := s.C.Jobs(ctx, trainyard.JobFilter{State: trainyard.StateRunning})
		return len(js) == 2
	})
	eventually(t, 5*time.Second, "the third job to say why it waits", func() bool {
		j3, _ := s.C.Job(ctx, ids[2])
		return j3.State == trainyard.StateQueued && strings.Contains(j3.Reason, "waiting for 2 GPUs: 0 of 4 free")
	})
	out, _, _ := s.cli(dir, "gpus")
	if strings.Count(out, "NVIDIA H200") != 4 || strings.Contains(out, "free") {
		t.Errorf("trainyard gpus while all are held:\n%s", out)
	}
	eventually(t, 30*time.Second, "all to finish", func() bool {
		js, _ := s.C.Jobs(ctx, trainyard.JobFilter{Active: true})
		return len(js) == 0
	})
	var sets [][]int
	for _, id := range ids {
		j, _ := s.C.Job(ctx, id)
		logs, _, _ := s.cli(dir, "logs", id)
		want := "CVD=" + strings.Trim(strings.ReplaceAll(jsonOf(j.GPUs()), " ", ""), "[]") + " NVD="
		if j.State != trainyard.StateSucceeded || len(j.GPUs()) != 2 || !strings.Contains(logs, want) {
			t.Errorf("job %s: %s gpus %v log %q (want %q)", id, j.State, j.GPUs(), logs, want)
		}
		sets = append(sets, j.GPUs())
	}
	if !slices.Equal(sets[0], []int{0, 1}) || !slices.Equal(sets[1], []int{2, 3}) {
		t.Errorf("first two jobs got %v and %v, want [0 1] and [2 3]", sets[0], sets[1])
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }
