package kubernetes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trainyard/trainyard"
)

// These tests run on the test control plane (see controlplane_test.go):
// real API server, Job controller, scheduler and garbage collector; pods
// simulated by kwok. Each checks what the executor asked of Kubernetes,
// or how it follows what Kubernetes reports.

var jobSeq atomic.Int64

// task returns a task of a fresh job id with env telling kwok what its
// pods do.
func task(t *testing.T, nodes int, res trainyard.Resources, env ...string) trainyard.Task {
	return trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e8, jobSeq.Add(1))},
		Command: []string{"python", "train.py"}, Env: env, Launch: trainyard.LaunchNone, ProcsPerNode: 1,
		Nodes: nodes, Resources: res, LogPath: filepath.Join(t.TempDir(), "logs", "run.log"),
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func start(t *testing.T, e *Executor, task trainyard.Task) trainyard.Handle {
	t.Helper()
	h, err := e.Start(ctxFor(t, time.Minute), task)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return h
}

// eventually polls Inspect until cond holds.
func eventually(t *testing.T, e *Executor, h trainyard.Handle, what string, cond func(trainyard.TaskStatus) bool) trainyard.TaskStatus {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ts, err := e.Inspect(ctxFor(t, time.Minute), h)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		if cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last status %+v", what, ts)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func labelNode(t *testing.T, node string, labels map[string]string) {
	t.Helper()
	ctx := ctxFor(t, time.Minute)
	var parts []string
	undo := []string{}
	for k, v := range labels {
		parts = append(parts, fmt.Sprintf("%q:%q", k, v))
		undo = append(undo, fmt.Sprintf("%q:null", k))
	}
	nodes := testCluster.Client.CoreV1().Nodes()
	if _, err := nodes.Patch(ctx, node, types.MergePatchType, []byte(`{"metadata":{"labels":{`+strings.Join(parts, ",")+`}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nodes.Patch(context.Background(), node, types.MergePatchType, []byte(`{"metadata":{"labels":{`+strings.Join(undo, ",")+`}}}`), metav1.PatchOptions{})
	})
}

// TestJobAsked_GPUTypePoolAndService starts a 2-node torchrun task asking
// for H100s in a pool and checks the Job and Service the API server holds
// and that the real scheduler put both pods on the one node that matches.
func TestJobAsked_GPUTypePoolAndService(t *testing.T) {
	labelNode(t, "gpu-node-1", map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "trainyard.io/pool": "train"})
	labelNode(t, "gpu-node-2", map[string]string{"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "trainyard.io/pool": "train"})
	e := newExecutor(t, Config{ServerURL: "http://trainyard.example:8080"})
	// The node informer must have seen the labels to turn "h100" into the
	// label's values.
	deadline := time.Now().Add(30 * time.Second)
	for !slices.Contains(e.gpuTypes(), "NVIDIA-H100-80GB-HBM3") {
		if time.Now().After(deadline) {
			t.Fatalf("the node informer never saw the GPU labels: %v", e.gpuTypes())
		}
		time.Sleep(50 * time.Millisecond)
	}
	tk := task(t, 2, trainyard.Resources{GPUs: 4, CPUs: 8, Memory: 32 << 30}, "KWOK_FOREVER=1", "PATH=/server/bin", "SEED=1")
	tk.Launch, tk.ProcsPerNode, tk.GPUType, tk.Pool, tk.TimeLimit = trainyard.LaunchTorchrun, 4, "h100", "train", time.Hour
	h := start(t, e, tk)
	t.Cleanup(func() { e.Signal(context.Background(), h, trainyard.SIGKILL) })
	name := Name(tk.TaskRef)
	ctx := ctxFor(t, time.Minute)

	job, err := testCluster.Client.BatchV1().Jobs(testNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Job is not on the API server: %v", err)
	}
	if *job.Spec.Completions != 2 || *job.Spec.Parallelism != 2 || *job.Spec.CompletionMode != batchv1.IndexedCompletion ||
		*job.Spec.BackoffLimit != 0 || *job.Spec.ActiveDeadlineSeconds != 3600 {
		t.Errorf("Job spec %+v: want an Indexed Job of 2, backoffLimit 0, activeDeadlineSeconds 3600", job.Spec)
	}
	if job.Labels[LabelJobID] != tk.JobID || job.Labels[LabelAttempt] != "0" || job.Annotations[AnnotLogPath] != tk.LogPath {
		t.Errorf("Job labels %v annotations %v", job.Labels, job.Annotations)
	}
	ct := job.Spec.Template.Spec.Containers[0]
	if q := ct.Resources.Limits["nvidia.com/gpu"]; q.Value() != 4 {
		t.Errorf("GPU limit %s, want 4", q.String())
	}
	if q := ct.Resources.Requests[corev1.ResourceMemory]; q.Value() != 32<<30 {
		t.Errorf("memory request %s, want 32Gi", q.String())
	}
	if slicesContainsEnv(ct.Env, "PATH", "/server/bin") || !slicesContainsEnv(ct.Env, "SEED", "1") || !slicesContainsEnv(ct.Env, "TRAINYARD_URL", "http://trainyard.example:8080") {
		t.Errorf("env %v: want SEED and TRAINYARD_URL, and not the server's PATH", ct.Env)
	}
	svc, err := testCluster.Client.CoreV1().Services(testNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no headless Service for the 2-node task: %v", err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || svc.OwnerReferences[0].UID != job.UID {
		t.Errorf("Service %+v owners %+v: want headless and owned by the Job", svc.Spec, svc.OwnerReferences)
	}

	ts := eventually(t, e, h, "the task running", func(ts trainyard.TaskStatus) bool { return ts.Phase == trainyard.PhaseRunning })
	if ts.BackendID != name || !slices.Equal(ts.Nodes, []string{"gpu-node-1", "gpu-node-1"}) {
		t.Errorf("Inspect = %+v: want Job %s on gpu-node-1 twice (the only H100 node; 2×4 of its 8 GPUs)", ts, name)
	}
	pods, _ := testCluster.Client.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: LabelTask + "=" + name})
	var host []string
	for _, p := range pods.Items {
		host = append(host, p.Spec.Hostname+"."+p.Spec.Subdomain)
	}
	slices.Sort(host)
	if want := []string{name + "-0." + name, name + "-1." + name}; !slices.Equal(host, want) {
		t.Errorf("pod host names %v, want %v: MASTER_ADDR %s-0.%s must resolve to node rank 0's pod", host, want, name, name)
	}
}

// TestPendingReason_Unschedulable asks for more GPUs per node than any
// node has: the task stays pending with the scheduler's message, and a
// cancel deletes the Job (foreground) and reads as SIGTERM.
func TestPendingReason_Unschedulable(t *testing.T) {
	e := newExecutor(t, Config{})
	tk := task(t, 2, trainyard.Resources{GPUs: 16, CPUs: 1}, "KWOK_FOREVER=1")
	h := start(t, e, tk)
	ts := eventually(t, e, h, "the scheduler's reason", func(ts trainyard.TaskStatus) bool {
		return strings.Contains(ts.Reason, "Insufficient nvidia.com/gpu")
	})
	if ts.Phase != trainyard.PhasePending || !strings.Contains(ts.Reason, "0 of 2 pods started; pod 0: 0/2 nodes are available") || len(ts.Nodes) != 0 {
		t.Errorf("Inspect = %+v: want pending with the scheduler's message", ts)
	}
	if err := e.Cleanup(ctxFor(t, time.Minute), h); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Errorf("Cleanup of a pending task = %v, want ECONFLICT", err)
	}
	if err := e.Signal(ctxFor(t, time.Minute), h, trainyard.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st, err := e.Wait(ctxFor(t, 90*time.Second), h)
	if err != nil {
		t.Fatal(err)
	}
	if st.Code != 143 || st.Signal != "SIGTERM" {
		t.Errorf("Wait after SIGTERM = %+v, want 143 by SIGTERM", st)
	}
	_, err = testCluster.Client.BatchV1().Jobs(testNamespace).Get(ctxFor(t, time.Minute), Name(tk.TaskRef), metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("the Job after a cancel: %v, want it deleted", err)
	}
}

// TestKueue_SuspendedWithQueueLabel: with Kueue on, the Job is created
// suspended with its queue's label and reads as pending; when admitted
// (Kueue sets suspend to false; the test does it in Kueue's place, as no
// Kueue runs here) it runs to its end.
func TestKueue_SuspendedWithQueueLabel(t *testing.T) {
	e := newExecutor(t, Config{Kueue: true, Queue: "team-a"})
	tk := task(t, 1, trainyard.Resources{GPUs: 1, CPUs: 1}, "KWOK_RUN_FOR=1s")
	tk.Queue = "team-b"
	h := start(t, e, tk)
	ctx := ctxFor(t, 2*time.Minute)
	jobs := testCluster.Client.BatchV1().Jobs(testNamespace)
	job, err := jobs.Get(ctx, Name(tk.TaskRef), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !*job.Spec.Suspend || job.Labels[LabelKueueQueue] != "team-b" {
		t.Fatalf("suspend %v, queue label %q: want suspended in team-b", *job.Spec.Suspend, job.Labels[LabelKueueQueue])
	}
	time.Sleep(time.Second) // a suspended Job gets no pods
	ts, _ := e.Inspect(ctx, h)
	if ts.Phase != trainyard.PhasePending || !strings.Contains(ts.Reason, "Kueue") || !strings.Contains(ts.Reason, "team-b") {
		t.Errorf("Inspect of a suspended Job = %+v, want pending for Kueue's queue team-b", ts)
	}
	if _, err := jobs.Patch(ctx, job.Name, types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, err := e.Wait(ctx, h); err != nil || st.Code != 0 {
		t.Errorf("Wait after admission = %+v, %v; want code 0", st, err)
	}

	// Without Kueue a task that names a queue is refused, saying so in its log.
	plain := newExecutor(t, Config{})
	tk = task(t, 1, trainyard.Resources{CPUs: 1})
	tk.Queue = "team-b"
	if _, err := plain.Start(ctx, tk); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Errorf("Start of a queued task without Kueue = %v, want EINVALID", err)
	}
	if b, _ := os.ReadFile(tk.LogPath); !strings.Contains(string(b), "Kueue") {
		t.Errorf("the run's log says %q, want why the task cannot start", b)
	}
}

// TestEnds_OOMKilledAndTimeLimit: a container Kubernetes reports
// OOMKilled, and a Job past its activeDeadlineSeconds (enforced by the
// real Job controller).
func TestEnds_OOMKilledAndTimeLimit(t *testing.T) {
	e := newExecutor(t, Config{})
	h := start(t, e, task(t, 1, trainyard.Resources{CPUs: 1, Memory: 1 << 30}, "KWOK_RUN_FOR=500ms", "KWOK_EXIT_CODE=137", "KWOK_REASON=OOMKilled"))
	st, err := e.Wait(ctxFor(t, 90*time.Second), h)
	if err != nil || st.Code != 137 || st.Signal != "SIGKILL" || !strings.HasPrefix(st.Reason, "OOMKilled: node rank 0") || !strings.Contains(st.Reason, "limit 1Gi") {
		t.Errorf("Wait = %+v, %v; want 137 OOMKilled naming the pod and the limit", st, err)
	}

	tk := task(t, 1, trainyard.Resources{CPUs: 1}, "KWOK_FOREVER=1")
	tk.TimeLimit = 2 * time.Second
	h = start(t, e, tk)
	st, err = e.Wait(ctxFor(t, 90*time.Second), h)
	if err != nil || st.Code != 143 || !strings.HasPrefix(st.Reason, "DeadlineExceeded: the time limit of 2s passed") {
		t.Errorf("Wait = %+v, %v; want the time limit's DeadlineExceeded", st, err)
	}
}

// TestInfo_Nodes lists the kwok nodes as the scheduler sees them, and
// drops a cordoned one.
func TestInfo_Nodes(t *testing.T) {
	labelNode(t, "gpu-node-2", map[string]string{"nvidia.com/gpu.product": "NVIDIA-L4", "trainyard.io/pool": "infer"})
	e := newExecutor(t, Config{})
	var info trainyard.ExecutorInfo
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if info, err = e.Info(ctxFor(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if len(info.Nodes) == 2 && info.Nodes[1].Labels[trainyard.LabelPool] == "infer" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info.Kind != "kubernetes" || !info.Places || len(info.Nodes) != 2 {
		t.Fatalf("Info = %+v, want kubernetes, placing, 2 nodes", info)
	}
	n := info.Nodes[1]
	if n.Name != "gpu-node-2" || len(n.GPUs) != 8 || n.CPUs != 32 || n.Memory != 256<<30 || n.Addr != "127.0.0.1" ||
		n.Labels[trainyard.LabelGPUType] != "l4" || n.Labels[trainyard.LabelPool] != "infer" {
		t.Errorf("node %+v: want gpu-node-2, 8 GPUs, 32 CPUs, 256GiB, gpu_type l4, pool infer", n)
	}

	nodes := testCluster.Client.CoreV1().Nodes()
	ctx := ctxFor(t, time.Minute)
	if _, err := nodes.Patch(ctx, "gpu-node-2", types.MergePatchType, []byte(`{"spec":{"unschedulable":true}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nodes.Patch(context.Background(), "gpu-node-2", types.MergePatchType, []byte(`{"spec":{"unschedulable":null}}`), metav1.PatchOptions{})
	})
	deadline = time.Now().Add(30 * time.Second)
	for {
		info, _ = e.Info(ctx)
		if len(info.Nodes) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Info after cordoning gpu-node-2 = %+v, want only gpu-node-1", info.Nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStart_AdoptsItsOwnJobAndRefusesAnother: starting an attempt twice
// returns the one Job; a Job of that name made by someone else is a
// conflict.
func TestStart_AdoptsItsOwnJobAndRefusesAnother(t *testing.T) {
	e := newExecutor(t, Config{})
	tk := task(t, 1, trainyard.Resources{CPUs: 1}, "KWOK_FOREVER=1")
	h1 := start(t, e, tk)
	t.Cleanup(func() { e.Signal(context.Background(), h1, trainyard.SIGKILL) })
	if h2 := start(t, e, tk); h2 != h1 {
		t.Errorf("Start twice = %s and %s, want the same Job", h1, h2)
	}
	other := newExecutor(t, Config{Instance: "someone-else"})
	if _, err := other.Start(ctxFor(t, time.Minute), tk); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Errorf("Start by another instance = %v, want ECONFLICT", err)
	}
	if _, err := other.Recover(ctxFor(t, time.Minute), tk.TaskRef); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Errorf("Recover by another instance = %v, want ENOTFOUND (it sees only its own Jobs)", err)
	}
}
