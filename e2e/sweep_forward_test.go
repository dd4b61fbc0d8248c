package e2e

import (
	"encoding/json"
	"io"
	"net/http"
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

// With users, a forwarded sweep change is the caller's: the leader checks
// the caller's token by the same rules as for a change sent to it, so a
// member's sweep is theirs and a viewer is refused, through a follower.
func TestSweepAccessThroughAServerThatDoesNotLead(t *testing.T) {
	db := pgtest.NewDatabase(t)
	servers := []*server{startServer(t, "--db="+db), startServer(t, "--db="+db)}
	var lead, follower *server
	eventually(t, 10*time.Second, "one server to schedule", func() bool {
		for i, s := range servers {
			if l, _ := schedules(s.URL); l {
				lead, follower = s, servers[1-i]
				return true
			}
		}
		return false
	})
	out, stderr, code := lead.cli(t.TempDir(), "user", "add", "root", "--admin")
	if code != 0 {
		t.Fatalf("user add root: exit %d %s", code, stderr)
	}
	root := tokenRe.FindString(out)
	// send makes a request to s with tok and returns the status and body.
	send := func(s *server, method, path, tok, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	user := func(name, role string) string {
		t.Helper()
		code, body := send(lead, "POST", "/api/v1/users", root, `{"name":"`+name+`","password":"`+name+`: correct horse battery","roles":{"vision":"`+role+`"},"token":true}`)
		var added struct{ Secret string }
		if code != 201 && code != 200 || json.Unmarshal([]byte(body), &added) != nil || added.Secret == "" {
			t.Fatalf("add user %s: %d %s", name, code, body)
		}
		return added.Secret
	}
	alice, bob := user("alice", "member"), user("bob", "viewer")

	eventually(t, 3*time.Second, "the follower to need credentials", func() bool {
		code, _ := send(follower, "GET", "/api/v1/sweeps", "nope", "")
		return code == 401
	})
	const spec = `{"project":"vision","metric":"loss","parameters":{"x":{"min":0,"max":1}},"max_trials":2}`
	if code, body := send(follower, "POST", "/api/v1/sweeps", bob, spec); code != 403 {
		t.Errorf("a viewer creates a sweep through the follower: %d %s, want 403", code, body)
	}
	code, body := send(follower, "POST", "/api/v1/sweeps", alice, spec)
	var v struct{ ID, Owner, Project string }
	if code != 201 || json.Unmarshal([]byte(body), &v) != nil || v.Owner != "alice" || v.Project != "vision" {
		t.Fatalf("a member creates a sweep through the follower: %d %s, want 201 owned by alice", code, body)
	}
	if code, body := send(follower, "POST", "/api/v1/sweeps/"+v.ID+"/pause", bob, ""); code != 403 {
		t.Errorf("a viewer pauses through the follower: %d %s, want 403", code, body)
	}
	if code, body := send(follower, "POST", "/api/v1/sweeps/"+v.ID+"/pause", alice, ""); code != 200 || !strings.Contains(body, `"PAUSED"`) {
		t.Errorf("the owner pauses through the follower: %d %s", code, body)
	}
	if code, body := send(lead, "GET", "/api/v1/sweeps/"+v.ID, bob, ""); code != 200 || !strings.Contains(body, `"PAUSED"`) {
		t.Errorf("the paused sweep read on the leader: %d %s", code, body)
	}
}
