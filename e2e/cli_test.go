package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/gpu"
)

// The CLI's habits, driven as a user types them.

func must(out, _ string, _ int) string { return out }

func s0(url string) *client.Client { return client.New(url, "") }

// post sends JSON to the server and fails the test on an error status.
func (s *server) post(path string, body any) []byte {
	s.t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(s.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("POST %s: %d %s", path, resp.StatusCode, out.String())
	}
	return out.Bytes()
}

func TestCLITakesUniqueIDPrefixes(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	for _, id := range []string{"abc111", "abc222", "xyz999"} {
		s.post("/api/v1/runs", map[string]any{"id": id, "name": "run-" + id, "project": "prefixes"})
		s.post("/api/v1/runs/"+id+"/metrics", map[string]any{"points": []map[string]any{{"key": "loss", "value": 0.5, "step": 1}}})
	}
	out, stderr, code := s.cli(dir, "runs", "show", "xyz")
	if code != 0 || !strings.Contains(out, "run      xyz999") {
		t.Errorf("runs show xyz: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = s.cli(dir, "metrics", "abc2")
	if code != 0 || !strings.Contains(out, "loss") {
		t.Errorf("metrics abc2: exit %d\n%s", code, out)
	}
	_, stderr, code = s.cli(dir, "runs", "show", "abc")
	if code != 1 || !strings.Contains(stderr, `run ID prefix "abc" is ambiguous`) ||
		!strings.Contains(stderr, "abc111") || !strings.Contains(stderr, "abc222") || strings.Contains(stderr, "xyz999") {
		t.Errorf("runs show abc (ambiguous): exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = s.cli(dir, "runs", "show", "qqq")
	if code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("runs show qqq: exit %d, stderr %q", code, stderr)
	}
	// A whole ID wins over being the prefix of another.
	s.post("/api/v1/runs", map[string]any{"id": "abc1"})
	if out, _, code := s.cli(dir, "runs", "show", "abc1"); code != 0 || !strings.Contains(out, "run      abc1\n") {
		t.Errorf("runs show abc1 (an ID and a prefix): exit %d\n%s", code, out)
	}

	// Jobs: 17 jobs share a first hex digit at least pairwise; every job's
	// shortest unique prefix works for logs, and a shared one is refused.
	var ids []string
	for range 17 {
		j, err := s.C.Submit(ctx, trainyard.JobSpec{Command: []string{"sh", "-c", "echo out-$TRAINYARD_JOB_ID"}, Workdir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	eventually(t, 30*time.Second, "the jobs to finish", func() bool {
		js, _ := s.C.Jobs(ctx, trainyard.JobFilter{Active: true})
		return len(js) == 0
	})
	byFirst := map[byte][]string{}
	for _, id := range ids {
		byFirst[id[0]] = append(byFirst[id[0]], id)
	}
	for first, group := range byFirst {
		if len(group) < 2 {
			continue
		}
		_, stderr, code := s.cli(dir, "logs", string(first))
		if code != 1 || !strings.Contains(stderr, "is ambiguous") || !strings.Contains(stderr, group[0]) || !strings.Contains(stderr, group[1]) {
			t.Errorf("logs %c (ambiguous): exit %d, stderr:\n%s", first, code, stderr)
		}
		break
	}
	id := ids[0]
	short := id[:8]
	for _, other := range ids[1:] {
		for strings.HasPrefix(other, short) {
			short = id[:len(short)+1]
		}
	}
	out, stderr, code = s.cli(dir, "logs", short)
	if code != 0 || !strings.Contains(out, "out-"+id) {
		t.Errorf("logs %s: exit %d %q %q", short, code, out, stderr)
	}
	_, stderr, code = s.cli(dir, "cancel", short)
	if code != 1 || !strings.Contains(stderr, "already finished") {
		t.Errorf("cancel %s (finished): exit %d %q", short, code, stderr)
	}
	// logs --tail N prints the last N lines, as docker and kubectl do.
	five := strings.TrimSpace(must(s.cli(dir, "run", "--wait", "--", "seq", "5")))
	jobs, _ := s.C.Jobs(ctx, trainyard.JobFilter{Limit: 1})
	if out, _, code := s.cli(dir, "logs", "--tail", "2", jobs[0].ID); code != 0 || out != "4\n5\n" || five != "1\n2\n3\n4\n5" {
		t.Errorf("logs --tail 2: exit %d %q (the whole log: %q)", code, out, five)
	}
	// The API refuses a prefix outside the ID alphabet by name.
	resp, err := http.Get(s.URL + "/api/v1/jobs?id_prefix=a%2Fb")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("id_prefix=a/b: %d, want 400", resp.StatusCode)
	}
}

func TestCancelSeveralJobsAtOnce(t *testing.T) {
	s := startServer(t, "--cpus=1")
	dir := t.TempDir()
	run := func(args ...string) string {
		out, stderr, code := s.cli(dir, append([]string{"run"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: %d %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	a := run("--name", "a", "--", "sleep", "300")
	eventually(t, 10*time.Second, "a to run", func() bool {
		j, _ := s.C.Job(ctx, a)
		return j.State == trainyard.StateRunning && j.BackendID != ""
	})
	b := run("--name", "b", "--", "sh", "-c", "echo b-ran")
	c := run("--name", "c", "--", "sh", "-c", "echo c-ran")
	d := run("--name", "d", "--", "sh", "-c", "echo d-ran")

	// An unknown ID cancels nothing.
	_, stderr, code := s.cli(dir, "cancel", b, "nosuchjob")
	if code != 1 || !strings.Contains(stderr, "nothing canceled") || !strings.Contains(stderr, "nosuchjob") {
		t.Errorf("cancel with an unknown ID: exit %d %q", code, stderr)
	}
	if j, _ := s.C.Job(ctx, b); j.State != trainyard.StateQueued {
		t.Fatalf("b after a refused cancel: %s", j.State)
	}

	// The running job first: the CPU it frees must not start b or c.
	out, stderr, code := s.cli(dir, "cancel", a, b[:8], c)
	if code != 0 {
		t.Fatalf("cancel a b c: exit %d\n%s%s", code, out, stderr)
	}
	for _, want := range []struct{ id, state, outcome string }{
		{a, "RUNNING", "stopping: sent SIGTERM"}, {b, "CANCELED", "canceled while queued"}, {c, "CANCELED", "canceled while queued"},
	} {
		found := false
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			found = found || len(f) > 3 && f[0] == want.id && f[2] == want.state && strings.Contains(l, want.outcome)
		}
		if !found {
			t.Errorf("cancel output lacks %s %s %q:\n%s", want.id, want.state, want.outcome, out)
		}
	}
	eventually(t, 15*time.Second, "a to end and d to run", func() bool {
		ja, _ := s.C.Job(ctx, a)
		jd, _ := s.C.Job(ctx, d)
		return ja.State == trainyard.StateCanceled && jd.State == trainyard.StateSucceeded
	})
	for _, id := range []string{b, c} {
		j, _ := s.C.Job(ctx, id)
		logs, _, _ := s.cli(dir, "logs", id)
		if j.State != trainyard.StateCanceled || !j.StartedAt.IsZero() || strings.Contains(logs, "ran") {
			t.Errorf("job %s ran after being canceled: %+v %q", id, j, logs)
		}
	}
	// Finished ones: exit 1, and the output says so.
	out, stderr, code = s.cli(dir, "cancel", b, d)
	if code != 1 || !strings.Contains(out, "already finished (SUCCEEDED)") || !strings.Contains(stderr, "already finished") {
		t.Errorf("cancel of finished jobs: exit %d\n%s%s", code, out, stderr)
	}
}

func TestVersion(t *testing.T) {
	s := startServer(t)
	out, stderr, code := s.cli(t.TempDir(), "version")
	if code != 0 || !regexp.MustCompile(`(?m)^trainyard \S+ \(go`).MatchString(out) || !strings.Contains(out, "server ") || !strings.Contains(out, s.URL) {
		t.Errorf("version: exit %d\n%s%s", code, out, stderr)
	}
	out, _, code = s.cli(t.TempDir(), "--version")
	if code != 0 || !regexp.MustCompile(`^trainyard \S+\n$`).MatchString(out) {
		t.Errorf("--version: exit %d %q", code, out)
	}
}

func TestRunsLsFiltersSortsAndCutsLongValues(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	long := strings.Repeat("x", 5_000) // long, within the caps on config and tag values
	for i, acc := range []float64{0.7, 0.9, 0.4} {
		id := fmt.Sprintf("run%d", i)
		s.post("/api/v1/runs", map[string]any{"id": id, "project": "ls", "config": map[string]any{"lr": 0.1 * float64(i+1), "notes": long}, "tags": map[string]string{"big": long}})
		s.post("/api/v1/runs/"+id+"/metrics", map[string]any{"points": []map[string]any{
			{"key": "acc", "value": acc, "step": 1},
			{"key": "system/memory_used_bytes", "value": 763253000, "step": 1},
		}})
	}
	req, _ := http.NewRequest("PATCH", s.URL+"/api/v1/runs/run2", strings.NewReader(`{"state":"FAILED"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("PATCH: %v %v", resp, err)
	}
	ids := func(out string) []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			got = append(got, strings.Fields(l)[0])
		}
		return got
	}
	out, stderr, code := s.cli(dir, "runs", "ls", "--filter", "metrics.acc > 0.5", "--sort", "-metrics.acc")
	if code != 0 || strings.Join(ids(out), ",") != "run1,run0" {
		t.Errorf("runs ls --filter --sort: exit %d\n%s%s", code, out, stderr)
	}
	out, _, _ = s.cli(dir, "runs", "ls", "--sort", "metrics.acc ASC")
	if strings.Join(ids(out), ",") != "run2,run0,run1" {
		t.Errorf("runs ls --sort 'metrics.acc ASC':\n%s", out)
	}
	out, _, _ = s.cli(dir, "runs", "ls", "--state", "failed")
	if strings.Join(ids(out), ",") != "run2" {
		t.Errorf("runs ls --state failed:\n%s", out)
	}
	if !strings.Contains(out, "727.9 MiB") || strings.Contains(out, "e+08") {
		t.Errorf("runs ls prints sizes for people:\n%s", out)
	}
	_, stderr, code = s.cli(dir, "runs", "ls", "--filter", "metrics.acc >")
	if code != 1 || !strings.Contains(stderr, "filter") {
		t.Errorf("bad --filter: exit %d %q", code, stderr)
	}
	_, stderr, code = s.cli(dir, "runs", "ls", "--state", "DONE")
	if code != 2 || !strings.Contains(stderr, "--state") {
		t.Errorf("bad --state: exit %d %q", code, stderr)
	}
	_, stderr, code = s.cli(dir, "runs", "ls", "--sort", "metrics.acc SIDEWAYS")
	if code != 2 || !strings.Contains(stderr, "--sort") {
		t.Errorf("bad --sort: exit %d %q", code, stderr)
	}

	// A 10,000-character config value and tag are cut in runs show, whole with --full or --json.
	out, stderr, code = s.cli(dir, "runs", "show", "run0")
	if code != 0 || len(out) > 4000 || !strings.Contains(out, "… (5000 chars)") || !strings.Contains(stderr, "--full") {
		t.Errorf("runs show with long values: exit %d, %d bytes\n%.2000s\n%s", code, len(out), out, stderr)
	}
	if !strings.Contains(out, "727.9 MiB") || strings.Contains(out, "e+08") {
		t.Errorf("runs show prints sizes for people:\n%s", out)
	}
	out, _, _ = s.cli(dir, "runs", "show", "run0", "--full")
	if strings.Count(out, long) != 2 {
		t.Errorf("runs show --full does not print both long values whole")
	}
	out, _, _ = s.cli(dir, "runs", "show", "run0", "--json")
	if strings.Count(out, long) != 2 {
		t.Errorf("runs show --json does not hold both long values whole")
	}
	out, _, _ = s.cli(dir, "metrics", "run0")
	if !strings.Contains(out, "727.9 MiB") || strings.Contains(out, "e+08") {
		t.Errorf("metrics prints sizes for people:\n%s", out)
	}
}

func TestPsShowsGPUCountAndIndicesApart(t *testing.T) {
	smi, err := gpu.FakeNvidiaSMI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--nvidia-smi="+smi)
	dir := t.TempDir()
	run := func(args ...string) string {
		out, stderr, code := s.cli(dir, append([]string{"run"}, args...)...)
		if code != 0 {
			t.Fatalf("run %v: %d %s", args, code, stderr)
		}
		return strings.TrimSpace(out)
	}
	a := run("--gpus", "3", "--mem", "1536MiB", "--name", "three", "--", "sleep", "300")
	eventually(t, 10*time.Second, "three to run", func() bool {
		j, _ := s.C.Job(ctx, a)
		return j.State == trainyard.StateRunning
	})
	b := run("--gpus", "2", "--name", "two", "--", "true")
	eventually(t, 5*time.Second, "two to wait", func() bool {
		j, _ := s.C.Job(ctx, b)
		return j.QueuePosition == 1
	})
	out, _, _ := s.cli(dir, "ps")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	header := strings.Fields(strings.NewReplacer("GPU IDS", "GPU_IDS", "BACKEND ID", "BACKEND_ID").Replace(lines[0]))
	want := []string{"ID", "NAME", "STATE", "GPUS", "GPU_IDS", "CPUS", "MEM", "NODES", "RANKS", "BACKEND_ID", "AGE", "TIME", "REASON"}
	if strings.Join(header, " ") != strings.Join(want, " ") {
		t.Fatalf("ps header = %v, want %v", header, want)
	}
	row := func(id string) []string {
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, id) {
				return strings.Fields(strings.Replace(strings.Replace(l, "QUEUED #", "QUEUED#", 1), "1.5 GiB", "1.5GiB", 1))
			}
		}
		t.Fatalf("ps lacks %s:\n%s", id, out)
		return nil
	}
	if r := row(a); r[3] != "3" || r[4] != "0,1,2" || r[6] != "1.5GiB" {
		t.Errorf("running job's row %v: want 3 GPUs, GPU IDs 0,1,2, 1.5 GiB\n%s", r, out)
	}
	if r := row(b); r[3] != "2" || r[4] != "-" || r[11] != "-" {
		t.Errorf("queued job's row %v: want 2 GPUs, no GPU IDs, no TIME\n%s", r, out)
	}
	s.cli(dir, "cancel", a, b)
}

func TestSubmitReportsEveryUnknownField(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	jf := filepath.Join(dir, "job.yaml")
	os.WriteFile(jf, []byte("name: x\ncommand: [echo, hi]\ngpus: 1\nresources:\n  gpu: 1\nprioirty: 2\n"), 0o644)
	_, stderr, code := s.cli(dir, "submit", jf)
	for _, want := range []string{"job.yaml:3: gpus: unknown field", "job.yaml:5: resources.gpu: unknown field", "job.yaml:6: prioirty: unknown field; did you mean \"priority\"?"} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("submit: exit %d; stderr lacks %q:\n%s", code, want, stderr)
		}
	}
	os.WriteFile(jf, []byte("name: x\ncommand: [echo, hi\nresources: {gpus: 1}\n"), 0o644)
	_, stderr, code = s.cli(dir, "submit", jf)
	if code != 1 || !strings.Contains(stderr, "job.yaml:3:10: YAML syntax") || !strings.Contains(stderr, "flow sequence at line 2") {
		t.Errorf("submit with a syntax error: exit %d %q", code, stderr)
	}
	if js, _ := s.C.Jobs(ctx, trainyard.JobFilter{}); len(js) != 0 {
		t.Errorf("a refused file queued %d jobs", len(js))
	}
}

func TestSyncWithoutArgumentsReadsTheDefaultSpool(t *testing.T) {
	s := startServer(t)
	spool := t.TempDir()
	lines := `{"type":"run","id":"spooled01","created":false,"run":{"project":"offline","name":"away"}}
{"type":"metrics","points":[{"key":"x","value":1,"step":0,"timestamp":1}],"batch_id":"b1"}
{"type":"update","update":{"state":"SUCCEEDED","exit_code":0}}
`
	os.WriteFile(filepath.Join(spool, "spooled01.jsonl"), []byte(lines), 0o644)
	cmd := exec.Command(bin, "sync")
	cmd.Env = append(os.Environ(), "TRAINYARD_URL="+s.URL, "TRAINYARD_SPOOL_DIR="+spool)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "synced run spooled01") {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	r, err := s.C.Run(ctx, "spooled01")
	if err != nil || r.State != trainyard.StateSucceeded || r.Metrics["x"].Count != 1 {
		t.Errorf("synced run = %+v, %v", r, err)
	}
	cmd = exec.Command(bin, "sync")
	cmd.Env = append(os.Environ(), "TRAINYARD_URL="+s.URL, "TRAINYARD_SPOOL_DIR="+filepath.Join(spool, "none"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "nothing to sync") {
		t.Errorf("sync of a missing default dir: %v %s", err, out)
	}
}

func TestUpDetachAndDown(t *testing.T) {
	data := t.TempDir()
	addr := freePort(t)
	up := exec.Command(bin, "up", "--detach", "--data", data, "--addr", addr, "--nvidia-smi", "none")
	out, err := up.CombinedOutput()
	if err != nil {
		t.Fatalf("up --detach: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command(bin, "down", "--data", data).Run() })
	for _, want := range []string{"trainyard is up at http://" + addr, filepath.Join(data, "server.log"), filepath.Join(data, "server.pid"), "trainyard down"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("up --detach output lacks %q:\n%s", want, out)
		}
	}
	pidb, err := os.ReadFile(filepath.Join(data, "server.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidb), &pid)
	if pid <= 0 || !processExists(pid) {
		t.Fatalf("server.pid holds %q, not a live process", pidb)
	}
	if resp, err := http.Get("http://" + addr + "/api/v1/health"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("health after up --detach: %v %v", resp, err)
	}
	// A job started on it keeps running across down and up.
	j := exec.Command(bin, "run", "--", "sleep", "300")
	j.Env = append(os.Environ(), "TRAINYARD_URL=http://"+addr)
	jout, err := j.Output()
	if err != nil {
		t.Fatal(err)
	}
	jobID := strings.TrimSpace(string(jout))
	live := &server{t: t, URL: "http://" + addr}
	live.C = s0(live.URL)
	eventually(t, 10*time.Second, "the job to run", func() bool {
		j, err := live.C.Job(ctx, jobID)
		return err == nil && j.State == trainyard.StateRunning && j.BackendID != ""
	})

	again, err := exec.Command(bin, "up", "--detach", "--data", data, "--addr", freePort(t)).CombinedOutput()
	if err == nil || !strings.Contains(string(again), "already runs on") {
		t.Errorf("a second up --detach on the same data: %v %s", err, again)
	}

	down, err := exec.Command(bin, "down", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(down), fmt.Sprintf("stopped trainyard (pid %d)", pid)) {
		t.Fatalf("down: %v %s", err, down)
	}
	if processExists(pid) {
		t.Errorf("the server (pid %d) still runs after down returned", pid)
	}
	if _, err := os.Stat(filepath.Join(data, "server.pid")); !os.IsNotExist(err) {
		t.Errorf("server.pid left after down: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "server.log")); !strings.Contains(string(b), "shutting down") {
		t.Errorf("server.log lacks the server's output:\n%s", b)
	}
	down, err = exec.Command(bin, "down", "--data", data).CombinedOutput()
	if err != nil || !strings.Contains(string(down), "no trainyard is running") {
		t.Errorf("down with nothing running: %v %s", err, down)
	}
	s := &server{t: t, Data: data, URL: "http://" + addr}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	if job, err := s.C.Job(ctx, jobID); err != nil || job.State != trainyard.StateRunning {
		b, _ := os.ReadFile(filepath.Join(data, "server.log"))
		t.Errorf("job after down and up: %+v %v\n%s", job, err, b)
	}
	s.C.Cancel(ctx, jobID)
	eventually(t, 20*time.Second, "the job to end", func() bool { // its shim writes under data until then
		j, err := s.C.Job(ctx, jobID)
		return err == nil && j.State.Terminal()
	})
}
