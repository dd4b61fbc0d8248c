package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// Sweeps have owners, as jobs do: the member who creates a sweep owns it
// and the jobs of its trials; she may pause, resume and stop it and cancel
// its trials; another member may not (403, saying whose it is), a viewer
// only reads, and the project's admin may stop anyone's. The CLI shows
// the owner, and the audit log names who created and steered each sweep.
func TestSweepOwners(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	out, stderr, code := s.cli(dir, "user", "add", "root", "--admin")
	if code != 0 {
		t.Fatalf("user add root: exit %d %s", code, stderr)
	}
	root := s.as(tokenRe.FindString(out))
	addUser := func(name, role string) *server {
		t.Helper()
		out, stderr, code := root.cli(dir, "user", "add", name, "--token", "--role", role, "--project", "vision")
		if code != 0 {
			t.Fatalf("user add %s: exit %d %s", name, code, stderr)
		}
		return s.as(tokenRe.FindString(out))
	}
	alice, carol, vera, adam := addUser("alice", "member"), addUser("carol", "member"), addUser("vera", "viewer"), addUser("adam", "admin")

	spec := []byte(fmt.Sprintf(`project: vision
command: [sleep, "60"]
workdir: %s
metric: loss
parameters: {x: {min: 0, max: 1}}
max_trials: 4
parallel: 1
`, dir))
	mine, err := alice.C.CreateSweep(ctx, "alice.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := carol.C.CreateSweep(ctx, "carol.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	if mine.Owner != "alice" || theirs.Owner != "carol" {
		t.Fatalf("owners of the new sweeps: %q and %q, want alice and carol", mine.Owner, theirs.Owner)
	}
	if _, err := vera.C.CreateSweep(ctx, "vera.yaml", spec); err == nil || !strings.Contains(err.Error(), "member role in project vision") {
		t.Errorf("a viewer creates a sweep: %v", err)
	}

	// The trial's job is alice's: she cancels it, carol may not.
	var trialJob string
	eventually(t, 30*time.Second, "a trial job of alice's sweep", func() bool {
		v, err := alice.C.Sweep(ctx, mine.ID)
		if err == nil && len(v.Trials) > 0 {
			trialJob = v.Trials[0].Job()
		}
		return trialJob != ""
	})
	if j, err := alice.C.Job(ctx, trialJob); err != nil || j.Owner != "alice" {
		t.Fatalf("the trial's job: %+v, %v; want alice's", j, err)
	}
	// ps names each job's owner on a server with users.
	if out, stderr, code := carol.cli(dir, "ps", "--project", "vision"); code != 0 || !strings.Contains(out, "OWNER") || !strings.Contains(lineWith(out, trialJob), " alice ") {
		t.Errorf("ps does not name alice as the owner of %s: exit %d\n%s%s", trialJob, code, out, stderr)
	}
	if _, stderr, code := carol.cli(dir, "cancel", trialJob); code != 1 || !strings.Contains(stderr, "it is alice's") {
		t.Errorf("carol cancels the job of alice's trial: exit %d %s", code, stderr)
	}
	if _, stderr, code := alice.cli(dir, "cancel", trialJob); code != 0 {
		t.Errorf("alice cancels the job of her trial: exit %d %s", code, stderr)
	}

	// Another member and a viewer may not steer alice's sweep: 403 JSON.
	post := func(who *server, id, action string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL+"/api/v1/sweeps/"+id+"/"+action, nil)
		req.Header.Set("Authorization", "Bearer "+who.C.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var eb struct {
			Error struct{ Code, Message string }
		}
		if resp.StatusCode != 200 && json.Unmarshal(body, &eb) != nil {
			t.Errorf("POST %s as %s: %d with a body that is not a JSON error: %s", action, who.C.Token[:8], resp.StatusCode, body)
		}
		return resp.StatusCode, eb.Error.Code, eb.Error.Message
	}
	for _, c := range []struct {
		who    *server
		name   string
		action string
		want   string
	}{
		{carol, "carol", "stop", "carol may not stop sweep " + mine.ID + ": it is alice's, and changing another's needs the admin role in project vision"},
		{carol, "carol", "pause", "it is alice's"},
		{vera, "vera", "stop", "vera is a viewer there"},
	} {
		status, code, msg := post(c.who, mine.ID, c.action)
		if status != 403 || code != "forbidden" || !strings.Contains(msg, c.want) {
			t.Errorf("%s %ss alice's sweep: %d %s %q; want 403 forbidden saying %q", c.name, c.action, status, code, msg, c.want)
		}
	}
	if _, err := carol.C.Suggest(ctx, mine.ID, sweep.SuggestRequest{Config: map[string]any{"x": 0.5}}); err == nil || !strings.Contains(err.Error(), "it is alice's") {
		t.Errorf("carol asks alice's sweep for a trial: %v", err)
	}
	if v, err := vera.C.Sweep(ctx, mine.ID); err != nil || v.State != trainyard.SweepRunning {
		t.Errorf("the viewer reads alice's sweep, still running: %+v %v", v, err)
	}

	// The CLI shows owners.
	out, stderr, code = vera.cli(dir, "sweep", "ls", "--project", "vision")
	if code != 0 || !strings.Contains(out, "OWNER") {
		t.Fatalf("sweep ls: exit %d %s%s", code, out, stderr)
	}
	for id, owner := range map[string]string{mine.ID: "alice", theirs.ID: "carol"} {
		if !strings.Contains(lineWith(out, id), " "+owner+" ") {
			t.Errorf("sweep ls: the line of %s does not name %s:\n%s", id, owner, out)
		}
	}
	if out, _, _ := vera.cli(dir, "sweep", "show", mine.ID); !strings.Contains(out, "owner     alice\n") {
		t.Errorf("sweep show names no owner:\n%s", out)
	}

	// Alice steers her own sweep; the admin stops carol's.
	if out, stderr, code := alice.cli(dir, "sweep", "pause", mine.ID); code != 0 || !strings.Contains(out, "PAUSED") {
		t.Errorf("alice pauses her sweep: exit %d %s %s", code, out, stderr)
	}
	if status, _, msg := post(alice, mine.ID, "stop"); status != 200 {
		t.Errorf("alice stops her sweep: %d %s", status, msg)
	}
	if status, _, msg := post(adam, theirs.ID, "stop"); status != 200 {
		t.Errorf("the admin stops carol's sweep: %d %s", status, msg)
	}
	for _, id := range []string{mine.ID, theirs.ID} {
		root.waitSweep(id, 30*time.Second, func(v *sweep.View) bool { return v.State == trainyard.SweepStopped })
	}

	out, stderr, code = root.cli(dir, "audit", "ls", "--json")
	if code != 0 {
		t.Fatalf("audit ls: %s", stderr)
	}
	var entries []trainyard.AuditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Actor+" "+e.Action+" "+e.Target] = true
	}
	for _, want := range []string{"alice sweep.create sweep/" + mine.ID, "carol sweep.create sweep/" + theirs.ID,
		"alice sweep.pause sweep/" + mine.ID, "alice sweep.stop sweep/" + mine.ID, "adam sweep.stop sweep/" + theirs.ID} {
		if !seen[want] {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	for e := range seen {
		if strings.HasPrefix(e, "carol sweep.stop") || strings.HasPrefix(e, "vera ") || strings.HasPrefix(e, "carol sweep.pause") {
			t.Errorf("the audit log records a refused change: %q", e)
		}
	}
}

// lineWith returns the line of out that contains s, "" if none.
func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
