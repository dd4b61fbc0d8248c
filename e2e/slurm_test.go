package e2e

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/slurmtest"
)

// The Slurm tests drive `trainyard up --executor slurm` against a real
// Slurm that the first of them starts (internal/slurmtest: 3 nodes × 2
// fake GPUs on this machine) and TestMain stops. When it cannot start, they
// fail.
var (
	slurmOnce    sync.Once
	slurmCluster *slurmtest.Cluster
	slurmErr     error
)

func needSlurm(t *testing.T) *slurmtest.Cluster {
	t.Helper()
	slurmOnce.Do(func() { slurmCluster, slurmErr = slurmtest.Start(3, 2, 2) })
	if slurmErr != nil {
		t.Fatalf("no Slurm test cluster: %v", slurmErr)
	}
	return slurmCluster
}

func stopSlurm() {
	if slurmCluster != nil {
		slurmCluster.Stop()
	}
}

func startSlurmServer(t *testing.T) *server {
	c := needSlurm(t)
	return startServer(t, "--executor=slurm", "--slurm-conf="+c.Conf, "--slurm-poll=200ms", "--kill-grace=2s")
}

func jobByName(t *testing.T, s *server, name string) *trainyard.Job {
	t.Helper()
	js, err := s.C.Jobs(ctx, trainyard.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range js {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no job named %s", name)
	return nil
}

// TestSlurmExecutor: the same commands as on one machine, with jobs run by
// Slurm: a 2-node torchrun job with per-rank logs, ps with the Slurm job id,
// nodes and Slurm's reason while a job waits, cancel, a refused job, and a
// server restart while a job runs.
func TestSlurmExecutor(t *testing.T) {
	s := startSlurmServer(t)
	dir := t.TempDir()

	out, stderr, code := s.cli(dir, "run", "--wait", "--name", "ddp", "--nodes", "2", "--launch", "torchrun", "--procs-per-node", "2",
		"--mem", "64MiB", "--", "sh", "-c", `echo "rank=$RANK node=$NODE_RANK world=$WORLD_SIZE slurm=$SLURM_JOB_ID"`)
	if code != 0 {
		t.Fatalf("run exited %d: %s\n%s\nserver:\n%s", code, stderr, out, s.stderr)
	}
	j := jobByName(t, s, "ddp")
	for r, node := range []string{"0", "0", "1", "1"} {
		rank := string(rune('0' + r))
		want := "[rank " + rank + "] rank=" + rank + " node=" + node + " world=4 slurm=" + j.BackendID
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if j.State != trainyard.StateSucceeded || j.BackendID == "" {
		t.Errorf("job %+v: want SUCCEEDED with a Slurm job id", j)
	}
	own, _, code := s.cli(dir, "logs", "--rank", "3", j.ID)
	if code != 0 || strings.TrimSpace(own) != "rank=3 node=1 world=4 slurm="+j.BackendID {
		t.Errorf("logs --rank 3 = %q (exit %d)", own, code)
	}

	// Fill every GPU; the next job waits in Slurm, and ps says why.
	for _, name := range []string{"fill-1", "fill-2", "fill-3"} {
		if _, stderr, code := s.cli(dir, "run", "--name", name, "--gpus", "2", "--mem", "64MiB", "--", "sleep", "300"); code != 0 {
			t.Fatalf("run %s: %s", name, stderr)
		}
	}
	if _, stderr, code := s.cli(dir, "run", "--name", "waiter", "--gpus", "2", "--mem", "64MiB", "--", "echo", "hi"); code != 0 {
		t.Fatalf("run waiter: %s", stderr)
	}
	eventually(t, time.Minute, "ps to show Slurm's reason", func() bool {
		ps, _, _ := s.cli(dir, "ps")
		for _, line := range strings.Split(ps, "\n") {
			if strings.Contains(line, "waiter") && strings.Contains(line, "QUEUED") && strings.Contains(line, "slurm: Resources") {
				return true
			}
		}
		return false
	})
	eventually(t, time.Minute, "the filling jobs running", func() bool {
		return jobByName(t, s, "fill-1").State == trainyard.StateRunning
	})
	fill := jobByName(t, s, "fill-1")
	if len(fill.Placement) != 1 || !strings.HasPrefix(fill.Placement[0].Node, "n") || fill.BackendID == "" {
		t.Errorf("a running Slurm job: placement %+v, backend id %q; want its node and Slurm job id", fill.Placement, fill.BackendID)
	}
	ps, _, _ := s.cli(dir, "ps")
	if !strings.Contains(ps, fill.BackendID) {
		t.Errorf("ps does not show the Slurm job id %s:\n%s", fill.BackendID, ps)
	}
	if _, stderr, code := s.cli(dir, "cancel", fill.ID); code != 0 {
		t.Fatalf("cancel: %s", stderr)
	}
	eventually(t, time.Minute, "the canceled job recorded and the waiter done", func() bool {
		return jobByName(t, s, "fill-1").State == trainyard.StateCanceled && jobByName(t, s, "waiter").State == trainyard.StateSucceeded
	})
	squeue, _ := needSlurm(t).Command("squeue", "-h", "-j", fill.BackendID, "-o", "%T").Output()
	if st := strings.TrimSpace(string(squeue)); st == "RUNNING" || st == "PENDING" {
		t.Errorf("the canceled job is %s in Slurm", st)
	}
	for _, name := range []string{"fill-2", "fill-3"} {
		s.cli(dir, "cancel", jobByName(t, s, name).ID)
	}

	// A job for a partition the cluster does not have is refused.
	_, stderr, code = s.cli(dir, "run", "--wait", "--name", "refused", "--pool", "nosuch", "--", "true")
	if code == 0 || stderr == "" {
		t.Errorf("a job for an unknown partition: exit %d, %q", code, stderr)
	}

	// The server dies while a job runs; the next one finds it by its Slurm
	// job id and records how it ended.
	if _, stderr, code := s.cli(dir, "run", "--name", "survivor", "--mem", "64MiB", "--", "sh", "-c", "sleep 3; exit 7"); code != 0 {
		t.Fatalf("run survivor: %s", stderr)
	}
	eventually(t, time.Minute, "the survivor running", func() bool {
		return jobByName(t, s, "survivor").State == trainyard.StateRunning
	})
	s.stop(syscall.SIGKILL)
	time.Sleep(4 * time.Second) // it ends while no server watches
	s.restart()
	eventually(t, time.Minute, "the survivor's end recorded", func() bool {
		j := jobByName(t, s, "survivor")
		return j.State == trainyard.StateFailed && j.ExitCode != nil && *j.ExitCode == 7
	})
}
