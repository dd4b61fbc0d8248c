package slurm

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func TestInfoListsTheClusterNodes(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	info, err := e.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != "slurm" || !info.Places {
		t.Errorf("Info = kind %q places %v, want slurm and true", info.Kind, info.Places)
	}
	var names []string
	for _, n := range info.Nodes {
		names = append(names, n.Name)
		want := trainyard.Node{Name: n.Name, Addr: "127.0.0.1", GPUs: []int{0, 1}, CPUs: 2, Memory: 4000 << 20,
			Labels: map[string]string{"pool": "main", "slurm_state": n.Labels["slurm_state"]}}
		if diff := cmp.Diff(want, n); diff != "" {
			t.Errorf("node %s (-want +got):\n%s", n.Name, diff)
		}
	}
	if want := []string{"n1", "n2", "n3"}; !slicesEqual(names, want) {
		t.Errorf("nodes %v, want %v", names, want)
	}
	if len(info.Warnings) != 0 {
		t.Errorf("warnings %q: the test cluster keeps a job completion log", info.Warnings)
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestPendingReasons fills every GPU of the cluster, then checks that the
// next jobs wait with Slurm's reasons, that Inspect says so, and that a
// pending job is cancelled by SIGTERM.
func TestPendingReasons(t *testing.T) {
	e := newExecutor(t)
	gpus := func(task trainyard.Task) trainyard.Task {
		task.Resources.GPUs = 2
		return task
	}
	var fill []trainyard.Handle
	for range clusterNodes {
		task := gpus(newTask(t, "while :; do sleep 0.1; done"))
		fill = append(fill, startTask(t, e, task))
	}
	for _, h := range fill {
		eventually(t, "the filling jobs running", func() bool {
			ts, err := e.Inspect(testCtx(t), h)
			return err == nil && ts.Phase == trainyard.PhaseRunning
		})
	}
	first := gpus(newTask(t, "echo never"))
	second := gpus(newTask(t, "echo never"))
	h1, h2 := startTask(t, e, first), startTask(t, e, second)
	reasons := func() (string, string) {
		a, err1 := e.Inspect(testCtx(t), h1)
		b, err2 := e.Inspect(testCtx(t), h2)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if a.Phase != trainyard.PhasePending || b.Phase != trainyard.PhasePending {
			t.Fatalf("jobs that cannot fit are %s and %s", a.Phase, b.Phase)
		}
		if len(a.Nodes) > 0 || a.BackendID == "" {
			t.Errorf("pending job: nodes %v, backend id %q; want none and the Slurm job id", a.Nodes, a.BackendID)
		}
		return a.Reason, b.Reason
	}
	// The first waits for resources; the one behind it for its priority.
	// (Slurm says "None" until its scheduler has looked at a job.)
	eventually(t, "Slurm's reasons", func() bool {
		a, b := reasons()
		return a == "Resources" && b == "Priority"
	})

	if err := e.Signal(testCtx(t), h2, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st := waitTask(t, e, h2, second)
	if st.Code != 143 || st.Reason != "CANCELLED" {
		t.Errorf("a pending job cancelled by SIGTERM ended %+v, want 143 CANCELLED", st)
	}
	if log := readLog(second.LogPath); strings.Contains(log, "never") {
		t.Errorf("the cancelled job ran: %q", log)
	}
	// Freeing a node lets the first one start.
	e.Signal(testCtx(t), fill[0], trainyard.SIGKILL)
	if st := waitTask(t, e, h1, first); st.Code != 0 {
		t.Errorf("the first waiting job ended %+v once a node was free; log:\n%s", st, readLog(first.LogPath))
	}
}

// TestTimeLimit: a job that outlives its time limit ends TIMEOUT. Slurm
// counts minutes and checks limits every 30 s, so this takes 60-100 s; it
// runs in parallel with the others (it takes one CPU and no GPU).
func TestTimeLimit(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	task := newTask(t, "echo started; while :; do sleep 0.1; done")
	task.TimeLimit = 30 * time.Second // asks for 1 minute, Slurm's least
	h := startTask(t, e, task)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st, err := e.Wait(ctx, h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.Code == 0 || !strings.HasPrefix(st.Reason, "TIMEOUT") {
		t.Errorf("a job past its time limit ended %+v, want a failure with reason TIMEOUT", st)
	}
	if log := readLog(task.LogPath); !strings.Contains(log, "started") {
		t.Errorf("log %q", log)
	}
}

// TestMultiNodeEnvironment runs 3 nodes × 2 ranks with torchrun's
// environment and checks what every rank saw; then the same with launch
// none (one process per node), which still gets the rendezvous variables.
func TestMultiNodeEnvironment(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	vars := []string{"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "NNODES", "GROUP_RANK",
		"MASTER_ADDR", "MASTER_PORT", "CUDA_VISIBLE_DEVICES", "TRAINYARD_RANK", "SLURM_NODEID"}
	script := "echo env"
	for _, v := range vars {
		script += fmt.Sprintf(" %s=${%s-unset}", v, v)
	}
	task := newTask(t, script)
	task.Nodes, task.ProcsPerNode, task.Launch = 3, 2, trainyard.LaunchTorchrun
	task.Resources.GPUs = 2
	h := startTask(t, e, task)
	if st := waitTask(t, e, h, task); st.Code != 0 {
		t.Fatalf("ended %+v; log:\n%s", st, readLog(task.LogPath))
	}
	ranks := parseEnvLines(t, readLog(task.LogPath), 6)
	port := ranks[0]["MASTER_PORT"]
	if p, err := strconv.Atoi(port); err != nil || p < 20000 || p > 29999 {
		t.Errorf("MASTER_PORT %q: want the port derived from the job id", port)
	}
	for r := range 6 {
		want := map[string]string{
			"RANK": strconv.Itoa(r), "LOCAL_RANK": strconv.Itoa(r % 2), "WORLD_SIZE": "6", "LOCAL_WORLD_SIZE": "2",
			"NODE_RANK": strconv.Itoa(r / 2), "GROUP_RANK": strconv.Itoa(r / 2), "NNODES": "3",
			"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "CUDA_VISIBLE_DEVICES": "0,1",
			"TRAINYARD_RANK": strconv.Itoa(r), "SLURM_NODEID": strconv.Itoa(r / 2),
		}
		if diff := cmp.Diff(want, ranks[r]); diff != "" {
			t.Errorf("rank %d's environment (-want +got):\n%s", r, diff)
		}
	}
	ts, err := e.Inspect(testCtx(t), h)
	if err != nil || !slicesEqual(ts.Nodes, []string{"n1", "n2", "n3"}) {
		t.Errorf("Inspect after the end: nodes %v, %v; want n1-n3", ts.Nodes, err)
	}

	// launch none: one process per node; every node still gets NNODES, NODE_RANK, MASTER_ADDR and MASTER_PORT.
	task = newTask(t, script)
	task.Nodes = 2
	h = startTask(t, e, task)
	if st := waitTask(t, e, h, task); st.Code != 0 {
		t.Fatalf("ended %+v; log:\n%s", st, readLog(task.LogPath))
	}
	nodes := parseEnvLines(t, readLog(task.LogPath), 2)
	for n := range 2 {
		got := nodes[n]
		if got["NNODES"] != "2" || got["NODE_RANK"] != strconv.Itoa(n) || got["MASTER_ADDR"] != "127.0.0.1" || got["MASTER_PORT"] == "unset" ||
			got["RANK"] != "unset" || got["WORLD_SIZE"] != "unset" {
			t.Errorf("launch none, node %d: %v", n, got)
		}
	}
}

var envLine = regexp.MustCompile(`(?m)^\[rank (\d+)\] env (.*)$`)

// parseEnvLines reads the "[rank N] env K=V ..." lines of a log, one per rank.
func parseEnvLines(t *testing.T, log string, ranks int) []map[string]string {
	t.Helper()
	out := make([]map[string]string, ranks)
	for _, m := range envLine.FindAllStringSubmatch(log, -1) {
		r, _ := strconv.Atoi(m[1])
		if r >= ranks || out[r] != nil {
			t.Fatalf("rank %s twice or out of range in:\n%s", m[1], log)
		}
		out[r] = map[string]string{}
		for _, kv := range strings.Fields(m[2]) {
			k, v, _ := strings.Cut(kv, "=")
			out[r][k] = v
		}
	}
	for r, m := range out {
		if m == nil {
			t.Fatalf("no line of rank %d in:\n%s", r, log)
		}
	}
	return out
}

// TestRankLogs: the run's log has every rank's lines, prefixed; each rank's
// own log, next to it, has its lines alone; one failing rank fails the job
// on every node.
func TestRankLogs(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	task := newTask(t, `for i in 1 2 3; do echo "line $i of $RANK"; done; echo "err of $RANK" >&2`)
	task.Nodes, task.ProcsPerNode, task.Launch = 2, 2, trainyard.LaunchTorchrun
	h := startTask(t, e, task)
	if st := waitTask(t, e, h, task); st.Code != 0 {
		t.Fatalf("ended %+v; log:\n%s", st, readLog(task.LogPath))
	}
	log := readLog(task.LogPath)
	for r := range 4 {
		want := fmt.Sprintf("line 1 of %d\nline 2 of %d\nline 3 of %d\nerr of %d\n", r, r, r, r)
		own := readLog(trainyard.RankLogPath(task.LogPath, r))
		if own != want {
			t.Errorf("rank %d's own log = %q, want %q", r, own, want)
		}
		for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
			if !strings.Contains(log, fmt.Sprintf("[rank %d] %s\n", r, line)) {
				t.Errorf("the run's log lacks %q:\n%s", fmt.Sprintf("[rank %d] %s", r, line), log)
			}
		}
	}

	// Rank 3 (node 1) fails; rank 0 on node 0 would run for a minute.
	task = newTask(t, `if [ "$RANK" = 3 ]; then echo failing; exit 9; fi; sleep 60`)
	task.Nodes, task.ProcsPerNode, task.Launch = 2, 2, trainyard.LaunchTorchrun
	start := time.Now()
	h = startTask(t, e, task)
	st := waitTask(t, e, h, task)
	if st.Code != 9 {
		t.Errorf("a job whose rank 3 exits 9 ended %+v; log:\n%s", st, readLog(task.LogPath))
	}
	if d := time.Since(start); d > 45*time.Second {
		t.Errorf("the other ranks ran on for %s after rank 3 failed", d)
	}
	if log := readLog(task.LogPath); !strings.Contains(log, "rank 3 exited with code 9") {
		t.Errorf("the log does not say which rank failed:\n%s", log)
	}
}

// TestRestart: a new Executor (a restarted server) finds a running job by
// its handle and by Recover, signals it, and learns how it ended; once
// squeue has forgotten a job, its end comes from the job completion log.
func TestRestart(t *testing.T) {
	t.Parallel()
	a := newExecutor(t)
	task := newTask(t, `trap 'echo stopping; exit 42' TERM; echo up; while :; do sleep 0.1; done`)
	h := startTask(t, a, task)
	eventually(t, "the job up", func() bool { return strings.Contains(readLog(task.LogPath), "up") })

	b := newExecutor(t)
	rh, err := b.Recover(testCtx(t), task.TaskRef)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := decodeHandle(h)
	d2, _ := decodeHandle(rh)
	if d1.JobID != d2.JobID || d1.Name != d2.Name {
		t.Errorf("Recover found %+v, want %+v", d2, d1)
	}
	if err := b.Signal(testCtx(t), rh, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := waitTask(t, b, h, task); st.Code != 42 {
		t.Errorf("ended %+v, want the trap's 42; log:\n%s", st, readLog(task.LogPath))
	}

	// A third server, started after squeue forgot the job (MinJobAge is 5
	// minutes, so the test hands it an empty squeue answer): the job
	// completion log tells.
	c := newExecutor(t)
	c.queue.snap = snapshot{at: time.Now().Add(time.Hour), jobs: map[string]job{}}
	ts, err := c.Inspect(testCtx(t), h)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Phase != trainyard.PhaseEnded || ts.Exit.Code != 42 || ts.Exit.Lost {
		t.Errorf("from the job completion log: %+v, want ended with 42", ts)
	}
	rh, err = c.Recover(context.Background(), task.TaskRef)
	if err != nil {
		t.Fatalf("Recover of a job only the history has: %v", err)
	}
	if d, _ := decodeHandle(rh); d.JobID != d1.JobID {
		t.Errorf("Recover from the history found job %s, want %s", d.JobID, d1.JobID)
	}
	// A job id Slurm reused for another job (its state wiped) is not ours.
	other := handle{V: handleVersion, JobID: d1.JobID, Name: "trainyard-someone-else-a0"}.encode()
	if ts, err := c.Inspect(testCtx(t), other); err != nil || !ts.Exit.Lost {
		t.Errorf("a handle whose job id now names another job: %+v, %v; want ended, lost", ts, err)
	}
}

// TestStartRefused: what Slurm refuses is EINVALID, with Slurm's words in
// the run's log, and nothing runs. (Slurm keeps a FAILED record of a job it
// refused, so Recover may find that one, ended.) A job this cluster can
// never run but accepts (EnforcePartLimits=NO: more nodes than the
// partition has) waits with Slurm's reason.
func TestStartRefused(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	for _, tc := range []struct {
		name   string
		change func(*trainyard.Task)
		want   string
	}{
		{"unknown partition", func(t *trainyard.Task) { t.Pool = "nosuch" }, "Invalid partition"},
		{"more GPUs than a node has", func(t *trainyard.Task) { t.Resources.GPUs = 3 }, "Requested node configuration is not available"},
		{"an unknown GPU type", func(t *trainyard.Task) { t.Resources.GPUs = 1; t.GPUType = "h100" }, "Requested node configuration is not available"},
		{"a log path Slurm cannot write", func(t *trainyard.Task) { t.LogPath += "%j" }, "log_path"},
	} {
		task := newTask(t, "echo ran")
		tc.change(&task)
		_, err := e.Start(testCtx(t), task)
		if !trainyard.IsCode(err, trainyard.EINVALID) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start = %v, want EINVALID saying %q", tc.name, err, tc.want)
		}
		if log := readLog(task.LogPath); !strings.Contains(log, "trainyard: ") || strings.Contains(log, "ran") {
			t.Errorf("%s: the log does not say why, or the job ran: %q", tc.name, log)
		}
		if h, err := e.Recover(testCtx(t), task.TaskRef); err == nil {
			if ts, err := e.Inspect(testCtx(t), h); err != nil || ts.Phase != trainyard.PhaseEnded {
				t.Errorf("%s: a refused job is %+v, %v", tc.name, ts, err)
			}
		} else if !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			t.Errorf("%s: Recover = %v", tc.name, err)
		}
	}

	task := newTask(t, "echo ran")
	task.Nodes = clusterNodes + 1
	h := startTask(t, e, task)
	eventually(t, "Slurm's reason", func() bool {
		ts, err := e.Inspect(testCtx(t), h)
		return err == nil && ts.Phase == trainyard.PhasePending && ts.Reason == "PartitionNodeLimit"
	})
}

// TestOneSqueuePerPoll: however many tasks are waited for and inspected,
// the executor asks squeue at most about once per poll interval.
func TestOneSqueuePerPoll(t *testing.T) {
	e := newExecutor(t, func(c *Config) { c.PollInterval = 500 * time.Millisecond })
	var hs []trainyard.Handle
	var tasks []trainyard.Task
	for i := range 6 {
		task := newTask(t, fmt.Sprintf("sleep %d", 2+i%3))
		tasks = append(tasks, task)
		hs = append(hs, startTask(t, e, task))
	}
	start := time.Now()
	before := e.queue.calls.Load()
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if st, err := e.Wait(testCtx(t), h); err != nil || st.Code != 0 {
				t.Errorf("Wait = %+v, %v; log: %s", st, err, readLog(tasks[i].LogPath))
			}
		}()
		go func() { // a dispatcher polling Inspect besides
			defer wg.Done()
			for time.Since(start) < 3*time.Second {
				e.Inspect(testCtx(t), h)
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	calls := e.queue.calls.Load() - before
	limit := int64(time.Since(start)/(500*time.Millisecond)) + 2
	if calls > limit {
		t.Errorf("%d squeue calls in %s for 6 tasks, want at most %d (one per poll)", calls, time.Since(start), limit)
	}
	t.Logf("%d squeue calls in %s", calls, time.Since(start).Round(time.Millisecond))
}

// TestGPUTypeMatching maps a job's GPU type to the cluster's GRES types as
// GPUTypeMatches does, and refuses what no node has.
func TestGPUTypeMatching(t *testing.T) {
	t.Parallel()
	e := newExecutor(t)
	e.info = trainyard.ExecutorInfo{Kind: "slurm", Nodes: []trainyard.Node{
		{Name: "a", Labels: map[string]string{trainyard.LabelGPUType: "a100-80gb"}},
		{Name: "b", Labels: map[string]string{trainyard.LabelGPUType: "h100"}},
		{Name: "c", Labels: map[string]string{trainyard.LabelGPUType: "a100-40gb"}},
	}}
	e.infoAt = time.Now()
	for want, got := range map[string]string{"h100": "h100", "H100": "h100", "NVIDIA H100": "h100", "a100-80gb": "a100-80gb"} {
		task := newTask(t, "true")
		task.Resources.GPUs, task.GPUType = 1, want
		if typ, err := e.gpuType(testCtx(t), task); err != nil || typ != got {
			t.Errorf("gpuType(%q) = %q, %v; want %q", want, typ, err, got)
		}
	}
	for typ, msg := range map[string]string{"a100": "matches several", "v100": "no node"} {
		task := newTask(t, "true")
		task.Resources.GPUs, task.GPUType = 1, typ
		if _, err := e.gpuType(testCtx(t), task); !trainyard.IsCode(err, trainyard.EINVALID) || !strings.Contains(err.Error(), msg) {
			t.Errorf("gpuType(%q) = %v, want EINVALID %q", typ, err, msg)
		}
	}
}
