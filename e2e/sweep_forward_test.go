package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/sweep"
)

// Three servers on one PostgreSQL, as behind a load balancer: every sweep
// change (create, suggest, report, pause, resume, stop), sent to a server
// that does not schedule, is forwarded to the one that does and succeeds,
// through the native client and the CLI; its effect reads back from every
// server. PostgreSQL whatever TRAINYARD_TEST_DB says: several servers
// need it.
func TestSweepChangesThroughAServerThatDoesNotLead(t *testing.T) {
	db := pgtest.NewDatabase(t)
	data := t.TempDir()
	var servers []*server
	for range 3 {
		s := &server{t: t, Data: data, args: []string{"--db=" + db, "--cpus=1"}}
		s.start()
		t.Cleanup(func() { s.stop(syscall.SIGTERM) })
		servers = append(servers, s)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, s := range servers {
				s.stop(syscall.SIGTERM)
				out := s.stderr.String()
				t.Logf("server %d, last of its output:\n%s", i, out[max(0, len(out)-3000):])
			}
		}
	})
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
	other := servers[(leader+1)%3]
	// Every server agrees on what the sweep now is.
	everywhere := func(id string, what string, ok func(v *sweep.View) bool) {
		t.Helper()
		for i, s := range servers {
			v, err := s.C.Sweep(ctx, id)
			if err != nil || !ok(v) {
				t.Fatalf("%s: server %d (leader %v) reads %+v, %v", what, i, i == leader, v, err)
			}
		}
	}

	// An ask/tell sweep: the caller runs the trials.
	v, err := other.C.CreateSweep(ctx, "s.yaml", []byte("name: forwarded\nmetric: {name: loss, mode: min}\nparameters:\n  x: {min: 0, max: 1}\nmax_trials: 3\n"))
	if err != nil {
		t.Fatalf("create through a server that does not lead: %v", err)
	}
	id := v.ID
	everywhere(id, "created", func(v *sweep.View) bool { return v.State == trainyard.SweepRunning && v.Name == "forwarded" })

	sg, err := other.C.Suggest(ctx, id, sweep.SuggestRequest{Count: 2})
	if err != nil || len(sg.Trials) != 2 {
		t.Fatalf("suggest through a server that does not lead: %+v, %v", sg, err)
	}
	step, loss := 1, trainyard.Float(0.25)
	if _, err := other.C.ReportTrial(ctx, id, sweep.ReportRequest{Trial: sg.Trials[0].Number, Step: &step, Value: &loss, State: "completed"}); err != nil {
		t.Fatalf("report through a server that does not lead: %v", err)
	}
	everywhere(id, "suggested and reported", func(v *sweep.View) bool {
		return len(v.Trials) == 2 && v.Counts["COMPLETED"] == 1 && v.Trials[0].Results == 1
	})

	if _, errOut, code := other.cli(t.TempDir(), "sweep", "pause", id); code != 0 {
		t.Fatalf("trainyard sweep pause through a server that does not lead: exit %d\n%s", code, errOut)
	}
	everywhere(id, "paused", func(v *sweep.View) bool { return v.State == trainyard.SweepPaused })
	if _, err := other.C.ControlSweep(ctx, id, "resume"); err != nil {
		t.Fatalf("resume through a server that does not lead: %v", err)
	}
	everywhere(id, "resumed", func(v *sweep.View) bool { return v.State == trainyard.SweepRunning })
	if _, err := servers[(leader+2)%3].C.ControlSweep(ctx, id, "stop"); err != nil {
		t.Fatalf("stop through the third server: %v", err)
	}
	eventually(t, 10*time.Second, "the sweep to stop", func() bool {
		v, err := other.C.Sweep(ctx, id)
		return err == nil && !v.State.Active()
	})
	everywhere(id, "stopped", func(v *sweep.View) bool { return v.State == trainyard.SweepStopped })

	// A change the leader refuses is refused the same through a follower.
	if _, err := other.C.ControlSweep(ctx, id, "resume"); err == nil || !strings.Contains(err.Error(), "has ended (STOPPED)") {
		t.Errorf("resume of a stopped sweep through a follower: %v, want the leader's refusal (has ended)", err)
	}
}
