package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executor/kubernetes"
	"github.com/trainyard/trainyard/executor/kubernetes/k8stest"
)

// TestKubernetesExecutor_SimulatedPods runs `trainyard up --executor
// kubernetes` against a real Kubernetes control plane (API server, Job
// controller, scheduler, garbage collector; package k8stest) whose two
// nodes of 8 GPUs are simulated by kwok: nothing runs in a pod, and a
// job's KWOK_FOREVER=1 keeps its pods running. It checks, through the CLI,
// that a 2-node torchrun job becomes an Indexed Job that the scheduler
// places, that `trainyard ps` shows its backend id and nodes, and the
// scheduler's reason for a job that does not fit now, and that `trainyard
// cancel` deletes the Job (and lets the waiting one run).
func TestKubernetesExecutor_SimulatedPods(t *testing.T) {
	cp, err := k8stest.Start()
	if err != nil {
		t.Fatalf("the Kubernetes control plane did not start: %v", err)
	}
	t.Cleanup(cp.Stop)
	s := startServer(t, "--executor", "kubernetes", "--kubeconfig", cp.Kubeconfig, "--k8s-namespace", k8stest.Namespace,
		"--k8s-image", "registry.example/train:1", "--k8s-server-url", "http://trainyard.example:8080", "--kill-grace", "1s")
	dir := t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := s.cli(dir, append([]string{"run", "--env", "KWOK_FOREVER=1"}, args...)...)
		if code != 0 {
			t.Fatalf("trainyard run %v: exit %d\n%s%s\nserver:\n%s", args, code, out, errOut, s.stderr)
		}
		return strings.TrimSpace(out)
	}
	// ps reads the JSON form first: a state seen there has been reached
	// by the time the table is printed (jobs here only move forward).
	ps := func() (string, map[string]trainyard.Job) {
		t.Helper()
		out, _, _ := s.cli(dir, "ps", "-a", "--json")
		human, errOut, code := s.cli(dir, "ps", "-a")
		if code != 0 {
			t.Fatalf("trainyard ps: exit %d: %s", code, errOut)
		}
		var js []trainyard.Job
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatalf("ps --json: %v\n%s", err, out)
		}
		m := map[string]trainyard.Job{}
		for _, j := range js {
			m[j.ID] = j
		}
		return human, m
	}
	line := func(human, id string) string {
		for _, l := range strings.Split(human, "\n") {
			if strings.HasPrefix(l, id) {
				return l
			}
		}
		return ""
	}

	a := run("--nodes", "2", "--gpus", "4", "--launch", "torchrun", "--", "python", "train.py")
	jobA := kubernetes.Name(trainyard.TaskRef{JobID: a})
	var human string
	eventually(t, 90*time.Second, "job A running on its nodes", func() bool {
		var js map[string]trainyard.Job
		human, js = ps()
		j := js[a]
		return j.State == trainyard.StateRunning && j.BackendID == jobA && len(j.Placement) == 2 &&
			strings.HasPrefix(j.Placement[0].Node, "gpu-node-") && strings.HasPrefix(j.Placement[1].Node, "gpu-node-")
	})
	if l := line(human, a); !strings.Contains(l, jobA) || !strings.Contains(l, "gpu-node-") || !strings.Contains(l, " 8 ") {
		t.Errorf("trainyard ps shows job A as %q: want its backend id %s, its nodes and 8 ranks", l, jobA)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	job, err := cp.Client.BatchV1().Jobs(k8stest.Namespace).Get(ctx, jobA, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("job A's Job: %v", err)
	}
	ct := job.Spec.Template.Spec.Containers[0]
	gpus := ct.Resources.Limits["nvidia.com/gpu"]
	if *job.Spec.Completions != 2 || gpus.Value() != 4 ||
		!strings.Contains(strings.Join(ct.Command, " "), "__launch --launch torchrun --nnodes 2 --nproc 4") ||
		ct.Image != "registry.example/train:1" {
		t.Errorf("job A's Job: completions %d, limits %v, command %q, image %s", *job.Spec.Completions, ct.Resources.Limits, ct.Command, ct.Image)
	}

	// Two nodes of 8 GPUs each, with 4 of them taken on each node (or all 8
	// of one): a job of 2 nodes × 8 GPUs cannot be placed now.
	b := run("--nodes", "2", "--gpus", "8", "--", "python", "train.py")
	eventually(t, 90*time.Second, "job B waiting with the scheduler's reason", func() bool {
		var js map[string]trainyard.Job
		human, js = ps()
		return js[b].State == trainyard.StateQueued && strings.Contains(js[b].Reason, "Insufficient nvidia.com/gpu")
	})
	// ps cuts reasons at 100 characters (the JSON form has them whole).
	if l := line(human, b); !strings.Contains(l, "QUEUED") || !strings.Contains(l, "kubernetes: 0 of 2 pods started; pod 0: 0/2 nodes are available: 2 Insufficient") {
		t.Errorf("trainyard ps shows job B as %q: want QUEUED with Kubernetes' reason", l)
	}
	t.Logf("trainyard ps:\n%s", human)

	if out, errOut, code := s.cli(dir, "cancel", a); code != 0 {
		t.Fatalf("trainyard cancel: exit %d %s%s", code, out, errOut)
	}
	eventually(t, 90*time.Second, "job A canceled and its Job deleted", func() bool {
		_, js := ps()
		_, err := cp.Client.BatchV1().Jobs(k8stest.Namespace).Get(ctx, jobA, metav1.GetOptions{})
		return js[a].State == trainyard.StateCanceled && apierrors.IsNotFound(err)
	})
	eventually(t, 90*time.Second, "job B running once A's GPUs are free", func() bool {
		_, js := ps()
		return js[b].State == trainyard.StateRunning
	})
	if _, errOut, code := s.cli(dir, "cancel", b); code != 0 {
		t.Fatalf("trainyard cancel: %s", errOut)
	}
}
