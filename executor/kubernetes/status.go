package kubernetes

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/trainyard/trainyard"
)

// AnnotSignal records on a Job the signal trainyard sent it (SIGTERM or
// SIGKILL) before deleting it, so that whoever sees the Job go — this
// server or the next one — reports the task canceled, not lost.
const AnnotSignal = "trainyard.io/signal"

// jobStatus says where the task of job stands, from the Job and its pods
// as the informers last saw them. It is pure: tests feed it objects.
func jobStatus(job *batchv1.Job, pods []*corev1.Pod) trainyard.TaskStatus {
	byIndex := podsByIndex(job, pods)
	ts := trainyard.TaskStatus{BackendID: job.Name, Nodes: nodeNames(byIndex)}
	if c := jobCondition(job, batchv1.JobComplete); c != nil {
		ts.Phase = trainyard.PhaseEnded
		return ts
	}
	if c := jobCondition(job, batchv1.JobFailed); c != nil {
		ts.Phase = trainyard.PhaseEnded
		ts.Exit = failedExit(job, c, pods)
		return ts
	}
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		ts.Phase = trainyard.PhasePending
		if q := job.Labels[LabelKueueQueue]; q != "" {
			ts.Reason = fmt.Sprintf("waiting for Kueue to admit the Job (queue %s)", q)
			if c := jobCondition(job, batchv1.JobSuspended); c != nil && c.Message != "" && c.Reason != "JobSuspended" {
				ts.Reason += ": " + c.Message
			}
		} else {
			ts.Reason = "the Job is suspended"
		}
		return ts
	}
	n := len(byIndex)
	started, reason := 0, ""
	for i, p := range byIndex {
		switch {
		case p == nil:
			if reason == "" {
				reason = prefix(n, i, "waiting for the Job controller to create the pod")
			}
		case podStarted(p):
			started++
		case reason == "":
			reason = prefix(n, i, podPendingReason(p))
		}
	}
	if started == n {
		ts.Phase = trainyard.PhaseRunning
		return ts
	}
	ts.Phase = trainyard.PhasePending
	if n > 1 {
		reason = fmt.Sprintf("%d of %d pods started; %s", started, n, reason)
	}
	ts.Reason = reason
	return ts
}

// goneStatus is the status of a task whose Job no longer exists; last is
// the Job as last seen, or nil.
func goneStatus(name string, last *batchv1.Job) trainyard.TaskStatus {
	ts := trainyard.TaskStatus{Phase: trainyard.PhaseEnded, BackendID: name}
	if last != nil {
		if st := jobStatus(last, nil); st.Phase == trainyard.PhaseEnded {
			return st
		}
		switch sig := trainyard.Signal(last.Annotations[AnnotSignal]); sig {
		case trainyard.SIGTERM, trainyard.SIGKILL:
			code := 128 + signalNumbers[string(sig)]
			ts.Exit = trainyard.ExitStatus{Code: code, Signal: string(sig), Reason: "canceled: trainyard deleted the Job (" + string(sig) + ")"}
			return ts
		}
	}
	ts.Exit = trainyard.ExitStatus{Lost: true, Reason: "the Job " + name + " was deleted outside trainyard"}
	return ts
}

func prefix(n, i int, s string) string {
	if n == 1 {
		return s
	}
	return fmt.Sprintf("pod %d: %s", i, s)
}

func jobCondition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range job.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

// podIndex is the completion index of a pod of an Indexed Job (-1 when
// it has none).
func podIndex(p *corev1.Pod) int {
	i, err := strconv.Atoi(p.Annotations[annotCompletionIndex])
	if err != nil {
		return -1
	}
	return i
}

// podsByIndex returns, for each completion index of job, its pod: the
// newest one (nil when none exists yet).
func podsByIndex(job *batchv1.Job, pods []*corev1.Pod) []*corev1.Pod {
	n := 1
	if job.Spec.Completions != nil {
		n = int(*job.Spec.Completions)
	}
	out := make([]*corev1.Pod, n)
	for _, p := range pods {
		i := podIndex(p)
		if i < 0 || i >= n {
			continue
		}
		if q := out[i]; q == nil || q.CreationTimestamp.Before(&p.CreationTimestamp) {
			out[i] = p
		}
	}
	return out
}

func nodeNames(byIndex []*corev1.Pod) []string {
	var out []string
	for _, p := range byIndex {
		if p == nil || p.Spec.NodeName == "" {
			return nil // not yet placed everywhere: no partial list
		}
		out = append(out, p.Spec.NodeName)
	}
	return out
}

// podStarted reports whether the pod's container has started (it runs or
// ran).
func podStarted(p *corev1.Pod) bool {
	switch p.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		return true
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running != nil || c.State.Terminated != nil {
			return true
		}
	}
	return false
}

// podEnded reports whether the pod has finished (or is going away).
func podEnded(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Name == ContainerName && c.State.Terminated != nil {
			return true
		}
	}
	return false
}

// podPendingReason says, in Kubernetes' words, why a pod has not started:
// the scheduler's message when it cannot place it, or why its container
// waits (ImagePullBackOff, ...).
func podPendingReason(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			if c.Message != "" {
				return c.Message
			}
			return c.Reason
		}
	}
	if p.Spec.NodeName == "" {
		return "waiting for the scheduler"
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			if w.Message != "" {
				return w.Reason + ": " + w.Message
			}
			return w.Reason + " on " + p.Spec.NodeName
		}
	}
	return "starting on " + p.Spec.NodeName
}

// failedExit is how a failed Job ended: the exit of the first pod that
// failed (the others were stopped because of it), or the Job's own reason.
func failedExit(job *batchv1.Job, cond *batchv1.JobCondition, pods []*corev1.Pod) trainyard.ExitStatus {
	var first *corev1.Pod
	var firstTerm *corev1.ContainerStateTerminated
	for _, p := range pods {
		for _, c := range p.Status.ContainerStatuses {
			t := c.State.Terminated
			if c.Name != ContainerName || t == nil || t.ExitCode == 0 {
				continue
			}
			if firstTerm == nil || t.FinishedAt.Before(&firstTerm.FinishedAt) ||
				t.FinishedAt.Equal(&firstTerm.FinishedAt) && podIndex(p) < podIndex(first) {
				first, firstTerm = p, t
			}
		}
	}
	var st trainyard.ExitStatus
	if firstTerm != nil {
		st.Code = int(firstTerm.ExitCode)
		st.Signal = signalName(st.Code)
		where := fmt.Sprintf("node rank %d (pod %s on %s)", podIndex(first), first.Name, first.Spec.NodeName)
		switch {
		case firstTerm.Reason == "OOMKilled":
			st.Reason = "OOMKilled: " + where + " ran out of memory"
			if q, ok := first.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; ok {
				st.Reason += " (limit " + q.String() + ")"
			}
		default:
			st.Reason = fmt.Sprintf("%s exited with code %d", where, st.Code)
			if why := launcherReason(firstTerm.Message); why != "" {
				st.Reason += ": " + why
			}
		}
	}
	if cond.Reason == batchv1.JobReasonDeadlineExceeded {
		limit := ""
		if d := job.Spec.ActiveDeadlineSeconds; d != nil {
			limit = " of " + (time.Duration(*d) * time.Second).String()
		}
		why := "DeadlineExceeded: the time limit" + limit + " passed"
		if firstTerm == nil {
			// Kubernetes stops the pods as at a cancel: SIGTERM, then SIGKILL.
			return trainyard.ExitStatus{Code: 128 + 15, Signal: "SIGTERM", Reason: why}
		}
		st.Reason = why + "; " + st.Reason
		return st
	}
	if firstTerm != nil {
		return st
	}
	// The pods are gone, or failed without running (a pod the node
	// rejected): Kubernetes' own words.
	st = trainyard.ExitStatus{Code: 1, Reason: strings.TrimSpace(cond.Reason + ": " + cond.Message)}
	for _, p := range pods {
		if p.Status.Phase == corev1.PodFailed && p.Status.Reason != "" {
			st.Reason += fmt.Sprintf("; pod %s: %s: %s", p.Name, p.Status.Reason, p.Status.Message)
			break
		}
	}
	return st
}

// launcherReason is the last line `trainyard __launch` wrote about why the
// node failed ("trainyard: rank 3 exited with code 1"), taken from the
// container's termination message (its last log lines, as
// FallbackToLogsOnError keeps them).
func launcherReason(msg string) string {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	for _, l := range slices.Backward(lines) {
		l = strings.TrimSpace(l)
		if r, ok := strings.CutPrefix(l, "trainyard: "); ok {
			return r
		}
	}
	return ""
}

var signalNumbers = map[string]int{"SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGABRT": 6, "SIGBUS": 7,
	"SIGFPE": 8, "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15}

// signalName names the signal of an exit code above 128, as shells report
// a process a signal ended ("" for other codes).
func signalName(code int) string {
	for name, n := range signalNumbers {
		if code == 128+n {
			return name
		}
	}
	return ""
}
