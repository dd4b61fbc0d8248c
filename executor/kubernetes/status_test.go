package kubernetes

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/trainyard/trainyard"
)

// Objects as Kubernetes reports them, for the pure status function.

func testJob(n int32, conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "ty-j-0", Labels: map[string]string{}},
		Spec:   batchv1.JobSpec{Completions: ptr.To(n), Parallelism: ptr.To(n), Suspend: ptr.To(false)},
		Status: batchv1.JobStatus{Conditions: conds}}
}

func cond(t batchv1.JobConditionType, reason, msg string) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
}

type podOpt func(*corev1.Pod)

func testPod(index int, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ty-j-0-" + strconv.Itoa(index) + "-abcde",
		Annotations: map[string]string{annotCompletionIndex: strconv.Itoa(index)}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: ContainerName}}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }

func running(p *corev1.Pod) {
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
}

func unschedulable(msg string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: msg}}
	}
}

func waiting(reason, msg string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
	}
}

func exited(code int32, reason string, at int, msg string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodFailed
		if code == 0 {
			p.Status.Phase = corev1.PodSucceeded
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: ContainerName, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, Message: msg, FinishedAt: metav1.NewTime(time.Unix(1000+int64(at), 0))}}}}
	}
}

func TestJobStatus(t *testing.T) {
	const noRoom = "0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
	for _, tc := range []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want trainyard.TaskStatus
	}{
		{"no pods yet", testJob(1), nil,
			trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: "waiting for the Job controller to create the pod"}},
		{"unschedulable: the scheduler's words", testJob(1), []*corev1.Pod{testPod(0, unschedulable(noRoom))},
			trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: noRoom}},
		{"image pull", testJob(1), []*corev1.Pod{testPod(0, onNode("n1"), waiting("ImagePullBackOff", `Back-off pulling image "x"`))},
			trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: `ImagePullBackOff: Back-off pulling image "x"`, Nodes: []string{"n1"}}},
		{"one of two pods waits", testJob(2), []*corev1.Pod{testPod(0, onNode("n1"), running), testPod(1, unschedulable(noRoom))},
			trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: "1 of 2 pods started; pod 1: " + noRoom}},
		{"running, nodes by node rank", testJob(2), []*corev1.Pod{testPod(1, onNode("n2"), running), testPod(0, onNode("n1"), running)},
			trainyard.TaskStatus{Phase: trainyard.PhaseRunning, Nodes: []string{"n1", "n2"}}},
		{"suspended for Kueue", func() *batchv1.Job {
			j := testJob(1)
			j.Spec.Suspend = ptr.To(true)
			j.Labels[LabelKueueQueue] = "team-a"
			return j
		}(), nil, trainyard.TaskStatus{Phase: trainyard.PhasePending, Reason: "waiting for Kueue to admit the Job (queue team-a)"}},
		{"complete", testJob(1, cond(batchv1.JobComplete, "CompletionsReached", "")), []*corev1.Pod{testPod(0, onNode("n1"), exited(0, "Completed", 1, ""))},
			trainyard.TaskStatus{Phase: trainyard.PhaseEnded, Nodes: []string{"n1"}}},
		{"failed: the first pod to fail, with the launcher's reason",
			testJob(2, cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")),
			[]*corev1.Pod{
				testPod(0, onNode("n1"), exited(143, "Error", 5, "")),
				testPod(1, onNode("n2"), exited(3, "Error", 2, "[rank 5] Traceback...\ntrainyard: rank 5 exited with code 3\n")),
			},
			trainyard.TaskStatus{Phase: trainyard.PhaseEnded, Nodes: []string{"n1", "n2"},
				Exit: trainyard.ExitStatus{Code: 3, Reason: "node rank 1 (pod ty-j-0-1-abcde on n2) exited with code 3: rank 5 exited with code 3"}}},
		{"OOMKilled", testJob(1, cond(batchv1.JobFailed, "BackoffLimitExceeded", "")),
			[]*corev1.Pod{testPod(0, onNode("n1"), exited(137, "OOMKilled", 1, ""))},
			trainyard.TaskStatus{Phase: trainyard.PhaseEnded, Nodes: []string{"n1"},
				Exit: trainyard.ExitStatus{Code: 137, Signal: "SIGKILL", Reason: "OOMKilled: node rank 0 (pod ty-j-0-0-abcde on n1) ran out of memory"}}},
		{"time limit, pods gone", func() *batchv1.Job {
			j := testJob(1, cond(batchv1.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline"))
			j.Spec.ActiveDeadlineSeconds = ptr.To(int64(3600))
			return j
		}(), nil, trainyard.TaskStatus{Phase: trainyard.PhaseEnded,
			Exit: trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "DeadlineExceeded: the time limit of 1h0m0s passed"}}},
		{"failed without a pod's exit", testJob(1, cond(batchv1.JobFailed, "PodFailurePolicy", "Container task for pod x failed")), nil,
			trainyard.TaskStatus{Phase: trainyard.PhaseEnded, Exit: trainyard.ExitStatus{Code: 1, Reason: "PodFailurePolicy: Container task for pod x failed"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.want.BackendID = "ty-j-0"
			if d := cmp.Diff(tc.want, jobStatus(tc.job, tc.pods)); d != "" {
				t.Errorf("jobStatus (-want +got):\n%s", d)
			}
		})
	}
}

func TestGoneStatus(t *testing.T) {
	canceled := testJob(1)
	canceled.Annotations = map[string]string{AnnotSignal: "SIGTERM"}
	killed := testJob(1)
	killed.Annotations = map[string]string{AnnotSignal: "SIGKILL"}
	for _, tc := range []struct {
		name string
		last *batchv1.Job
		want trainyard.ExitStatus
	}{
		{"canceled", canceled, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "canceled: trainyard deleted the Job (SIGTERM)"}},
		{"killed", killed, trainyard.ExitStatus{Code: 137, Signal: "SIGKILL", Reason: "canceled: trainyard deleted the Job (SIGKILL)"}},
		{"finished, then deleted", testJob(1, cond(batchv1.JobComplete, "", "")), trainyard.ExitStatus{}},
		{"deleted by someone else", testJob(1), trainyard.ExitStatus{Lost: true, Reason: "the Job ty-j-0 was deleted outside trainyard"}},
		{"never seen", nil, trainyard.ExitStatus{Lost: true, Reason: "the Job ty-j-0 was deleted outside trainyard"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := goneStatus("ty-j-0", tc.last)
			if got.Phase != trainyard.PhaseEnded || cmp.Diff(tc.want, got.Exit) != "" {
				t.Errorf("goneStatus = %+v, want ended %+v", got, tc.want)
			}
		})
	}
}

func TestSplitTimestamp(t *testing.T) {
	ts, msg := splitTimestamp([]byte("2026-11-26T10:00:01.123456789Z [rank 2] loss 0.5\n"))
	if !ts.Equal(time.Date(2026, 11, 26, 10, 0, 1, 123456789, time.UTC)) || string(msg) != "[rank 2] loss 0.5\n" {
		t.Errorf("splitTimestamp = %v, %q", ts, msg)
	}
	for _, line := range []string{"no time here\n", "2026-13-99T00:00:00Z x\n", "\n"} {
		if ts, msg := splitTimestamp([]byte(line)); !ts.IsZero() || string(msg) != line {
			t.Errorf("splitTimestamp(%q) = %v, %q; want the line whole", line, ts, msg)
		}
	}
}

func TestRankLine(t *testing.T) {
	for in, want := range map[string]struct {
		rank int
		text string
		ok   bool
	}{
		"[rank 0] hi\n":       {0, "hi\n", true},
		"[rank 15] a b\n":     {15, "a b\n", true},
		"[rank x] hi\n":       {},
		"[rank 3]hi\n":        {},
		"trainyard: done\n":   {},
		"[rank -1] hi\n":      {},
		"[rank 12345678] x\n": {},
	} {
		r, text, ok := rankLine([]byte(in))
		if r != want.rank || string(text) != want.text || ok != want.ok {
			t.Errorf("rankLine(%q) = %d, %q, %v; want %+v", in, r, text, ok, want)
		}
	}
}

func TestLauncherReason(t *testing.T) {
	if got := launcherReason("[rank 1] boom\ntrainyard: rank 1 exited with code 2\n"); got != "rank 1 exited with code 2" {
		t.Errorf("launcherReason = %q", got)
	}
	if got := launcherReason("Traceback\nValueError\n"); got != "" {
		t.Errorf("launcherReason of a log without the launcher's line = %q", got)
	}
}
