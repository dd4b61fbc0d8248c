package kubernetes

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A pod event that arrives after Close has begun (the informers deliver
// events until they notice the cancel) starts no log stream: Close waits
// for the streams, and a stream counted while it waits is a misuse of the
// WaitGroup (the race detector and a panic found it in CI).
func TestNoLogStreamStartsAfterClose(t *testing.T) {
	e := &Executor{cfg: Config{Logger: slog.New(slog.DiscardHandler)}, changed: map[string]chan struct{}{}, logs: map[string]*taskLogs{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	tl := newTaskLogs(e, handle{Name: "job-1"}, filepath.Join(t.TempDir(), "run.log"), 1)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job-1-0", UID: "uid-1", Labels: map[string]string{LabelTask: "job-1"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	tl.podEvent(pod, false)
	tl.mu.Lock()
	n := len(tl.streams)
	tl.mu.Unlock()
	if n != 0 {
		t.Fatalf("a pod event after Close started %d log stream(s), want none", n)
	}
	e.streams.Wait() // returns at once: nothing was counted
}
