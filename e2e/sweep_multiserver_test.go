package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/sweep"
)

// Two servers on one PostgreSQL (one data directory): only the one that
// schedules runs the sweep (the other forwards changes to it, see
// TestSweepChangesThroughAServerThatDoesNotLead, and answers reads). The leader is killed with SIGKILL mid-sweep: the other server
// takes the lead and runs the sweep on (it submits the next trials); the
// killed one comes back (its trials' SDKs send what they spooled to it)
// and the sweep completes with every trial run once. This runs on
// PostgreSQL whatever TRAINYARD_TEST_DB says: several servers need it.
func TestSweepSurvivesTheLeadersDeath(t *testing.T) {
	db := pgtest.NewDatabase(t)
	data := t.TempDir()
	var servers []*server
	for range 2 {
		s := &server{t: t, Data: data, args: []string{"--db=" + db, "--cpus=2"}}
		s.start()
		t.Cleanup(func() { s.stop(syscall.SIGTERM) })
		servers = append(servers, s)
	}
	leader := -1
	eventually(t, 10*time.Second, "one server to schedule", func() bool {
		for i, s := range servers {
			if l, _ := schedules(s.URL); l {
				leader = i
				return true
			}
		}
		return false
	})
	lead, other := servers[leader], servers[1-leader]
	dir, events := sweepDir(t)
	t.Cleanup(func() { // what a failure needs to be understood
		if !t.Failed() {
			return
		}
		for i, s := range servers {
			s.stop(syscall.SIGTERM) // its output is whole once it has exited
			out := s.stderr.String()
			t.Logf("server %d (leader at first: %v), last of its output:\n%s", i, i == leader, out[max(0, len(out)-4000):])
		}
		if b, err := os.ReadFile(events); err == nil {
			t.Logf("trial processes:\n%s", b)
		}
	})

	const trials = 6
	out, errOut, code := lead.cli(dir, "sweep", "create", "--search", "random", "--seed", "4", "--metric", "loss", "--max-trials", "6",
		"--parallel", "2", "--param", "x=uniform:0:1", "--env", "EVENTS="+events, "--env", "MAX_STEPS=6", "--env", "EPOCH_S=1",
		"--", python, "trial.py")
	if code != 0 {
		t.Fatalf("sweep create: exit %d\n%s", code, errOut)
	}
	id := strings.TrimSpace(out)
	if v, err := other.C.Sweep(ctx, id); err != nil || v.ID != id {
		t.Errorf("read the sweep from the other server: %v", err)
	}

	// Killed while two trials run, one of them at its first steps: the
	// trials outlive the outage and send their metrics when their server
	// is back (a trial reports to the server that started it).
	before := lead.waitSweep(id, 60*time.Second, func(v *sweep.View) bool {
		if ended(v) < 2 || v.Counts["RUNNING"] < 2 {
			return false
		}
		for _, tr := range v.Trials {
			if tr.State == trainyard.TrialRunning && tr.Step <= 1 {
				return true
			}
		}
		return false
	})
	lead.stop(syscall.SIGKILL)
	eventually(t, 10*time.Second, "the other server to schedule", func() bool { l, _ := schedules(other.URL); return l })
	lead.restart()
	// The other server runs the sweep on: it submits trials the killed
	// one never did.
	other.waitSweep(id, 60*time.Second, func(v *sweep.View) bool {
		return len(v.Trials) > len(before.Trials) && v.Trials[len(v.Trials)-1].Job() != ""
	})
	v := other.waitSweep(id, 120*time.Second, func(v *sweep.View) bool { return !v.State.Active() })
	if v.State != trainyard.SweepCompleted || v.Counts["COMPLETED"] != trials {
		t.Fatalf("after the leader's death: %s, trials %v\nsurvivor:\n%s", v.State, v.Counts, other.stderr)
	}
	perTrial := map[int]int{}
	for _, e := range readEvents(t, events) {
		perTrial[e.Trial]++
	}
	for n := 1; n <= trials; n++ {
		if perTrial[n] != 1 {
			t.Errorf("trial %d started %d times: %+v", n, perTrial[n], readEvents(t, events))
		}
	}
	for _, tr := range v.Trials {
		if len(tr.Jobs) != 1 || tr.Step != 6 || tr.Results != 6 {
			t.Errorf("trial %d: jobs %v, step %d, %d results, reason %q (want 1 job, step 6, 6 results)", tr.Number, tr.Jobs, tr.Step, tr.Results, tr.Reason)
			for _, j := range tr.Jobs {
				if job, err := other.C.Job(ctx, j); err == nil {
					t.Logf("  job %s: %s restarts %d exit %v reason %q", j, job.State, job.Restarts, job.ExitCode, job.Reason)
				}
			}
		}
	}
}
