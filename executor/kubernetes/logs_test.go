package kubernetes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executor/kubernetes/k8stest"
)

// podLogs stands in for the container logs a kubelet keeps: a file per
// pod in the CRI format, which kwok serves through the API server's
// pods/log (GET .../log?follow=true&timestamps=true&sinceTime=...).
type podLogs struct {
	t     *testing.T
	files map[int]string // by node rank
}

func newPodLogs(t *testing.T, pods map[int]string) *podLogs {
	t.Helper()
	pl := &podLogs{t: t, files: map[int]string{}}
	dir := t.TempDir()
	for i, pod := range pods {
		f := filepath.Join(dir, pod+".log")
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		pl.files[i] = f
		if err := testCluster.WriteLog(context.Background(), pod, ContainerName, f); err != nil {
			t.Fatalf("kwok Logs for %s: %v", pod, err)
		}
	}
	return pl
}

// write appends lines to node rank i's container log, all stamped at.
func (pl *podLogs) write(i int, at time.Time, lines ...string) {
	if err := k8stest.AppendLog(pl.files[i], at, lines...); err != nil {
		pl.t.Fatal(err)
	}
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func waitForLog(t *testing.T, path string, n int) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s := readFile(path)
		if strings.Count(s, "\n") >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d lines in %s; it holds:\n%s", n, path, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLogs_StreamedFromPods_ResumedWithoutDuplicates: a 2-node × 2-rank
// task's pod logs, served by kwok from files the test writes, reach the
// run's log and the per-rank logs as they are written; the server stops
// (Close) and a new executor resumes each pod's log where the last one
// stopped — including lines that share one timestamp — without copying a
// line twice; the last lines, written just before the pods end, are
// there when Wait returns.
func TestLogs_StreamedFromPods_ResumedWithoutDuplicates(t *testing.T) {
	e1 := newExecutor(t, Config{})
	tk := task(t, 2, trainyard.Resources{CPUs: 1}, "KWOK_FOREVER=1")
	tk.Launch, tk.ProcsPerNode = trainyard.LaunchTorchrun, 2
	h := start(t, e1, tk)
	eventually(t, e1, h, "the task running", func(ts trainyard.TaskStatus) bool { return ts.Phase == trainyard.PhaseRunning })
	pods := map[int]string{}
	for _, p := range e1.taskPods(mustDecode(t, h)) {
		pods[podIndex(p)] = p.Name
	}
	if len(pods) != 2 {
		t.Fatalf("pods %v, want 2", pods)
	}
	pl := newPodLogs(t, pods)
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second).Add(250 * time.Millisecond)
	pl.write(0, t0, "[rank 0] step 1", "[rank 1] step 1") // one timestamp, two lines
	pl.write(1, t0.Add(time.Millisecond), "[rank 2] step 1", "[rank 3] step 1")
	waitForLog(t, tk.LogPath, 4)
	pl.write(0, t0.Add(2*time.Millisecond), "[rank 0] step 2")
	pl.write(1, t0.Add(3*time.Millisecond), "trainyard: a line of the launcher's own")
	waitForLog(t, tk.LogPath, 6)

	e1.Close()                                                 // the server stops; the pods run on and keep logging
	pl.write(0, t0.Add(2*time.Millisecond), "[rank 1] step 2") // the same time as the last line copied
	pl.write(1, t0.Add(4*time.Millisecond), "[rank 2] step 2", "[rank 3] step 2")

	e2 := newExecutor(t, Config{})
	waited := make(chan trainyard.ExitStatus, 1)
	go func() {
		st, err := e2.Wait(context.Background(), h)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- st
	}()
	waitForLog(t, tk.LogPath, 9)
	pl.write(0, time.Now(), "[rank 0] done")
	pl.write(1, time.Now(), "[rank 3] done")
	waitForLog(t, tk.LogPath, 11)
	labelPods(t, Name(tk.TaskRef), "trainyard-test/finish", "yes")
	select {
	case st := <-waited:
		if st.Code != 0 {
			t.Errorf("Wait = %+v, want code 0", st)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("Wait did not return after the pods ended")
	}

	got := strings.Split(strings.TrimSuffix(readFile(tk.LogPath), "\n"), "\n")
	want := []string{"[rank 0] step 1", "[rank 1] step 1", "[rank 2] step 1", "[rank 3] step 1", "[rank 0] step 2",
		"trainyard: a line of the launcher's own", "[rank 1] step 2", "[rank 2] step 2", "[rank 3] step 2", "[rank 0] done", "[rank 3] done"}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	slices.Sort(want)
	if !slices.Equal(sorted, want) {
		t.Errorf("the run's log (each line once, any order between pods):\n%s\nwant the lines:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for rank, want := range []string{"step 1\nstep 2\ndone\n", "step 1\nstep 2\n", "step 1\nstep 2\n", "step 1\nstep 2\ndone\n"} {
		if got := readFile(trainyard.RankLogPath(tk.LogPath, rank)); got != want {
			t.Errorf("rank %d's log = %q, want %q", rank, got, want)
		}
	}
	if err := e2.Cleanup(ctxFor(t, time.Minute), h); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(tk.LogPath), ".run.log.kubernetes")); !os.IsNotExist(err) {
		t.Errorf("the log cursors after Cleanup: %v, want them removed", err)
	}
}

func mustDecode(t *testing.T, h trainyard.Handle) handle {
	t.Helper()
	d, err := decodeHandle(h)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
