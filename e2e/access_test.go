package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// as returns a copy of s whose CLI and client use token.
func (s *server) as(token string) *server {
	c := *s
	c.C = client.New(s.URL, token)
	return &c
}

var tokenRe = regexp.MustCompile(`tya_[A-Za-z0-9_-]{43}`)

// Users and tokens as an admin sets them up and people use them: the first
// user turns access control on; tokens work until they expire or are
// revoked; members cancel their own jobs, viewers only read; jobs act for
// their owner with a token that writes only their run; refusals say what
// is missing; and it all survives a restart.
func TestUsersTokensAndRoles(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()

	// An open server: no token needed, and the first user must be an admin.
	if _, stderr, code := s.cli(dir, "user", "add", "alice"); code != 1 || !strings.Contains(stderr, "the first user must be a server admin") {
		t.Fatalf("first user not an admin: exit %d, %s", code, stderr)
	}
	out, stderr, code := s.cli(dir, "user", "add", "root", "--admin")
	if code != 0 || !strings.Contains(out, "export TRAINYARD_TOKEN=") || !strings.Contains(out, "password: ") {
		t.Fatalf("user add root: exit %d\n%s%s", code, out, stderr)
	}
	root := s.as(tokenRe.FindString(out))

	// Now nothing is reachable without a token, and the CLI says why.
	_, stderr, code = s.cli(dir, "runs", "ls")
	if code != 1 || !strings.Contains(stderr, "authentication required: this server has users") || !strings.Contains(stderr, "hint: set TRAINYARD_TOKEN") {
		t.Errorf("runs ls without a token: exit %d, %s", code, stderr)
	}
	resp, err := http.Get(s.URL + "/api/v1/runs")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode != 401 || json.Unmarshal(body, &eb) != nil || eb.Error.Code != "unauthorized" || !strings.Contains(eb.Error.Message, "TRAINYARD_TOKEN") {
		t.Errorf("GET /api/v1/runs without a token: %d %s", resp.StatusCode, body)
	}

	// root adds a member and a viewer of project vision, with tokens.
	addUser := func(name string, args ...string) *server {
		t.Helper()
		out, stderr, code := root.cli(dir, append([]string{"user", "add", name, "--token"}, args...)...)
		if code != 0 {
			t.Fatalf("user add %s: exit %d %s", name, code, stderr)
		}
		return s.as(tokenRe.FindString(out))
	}
	alice := addUser("alice", "--role", "member", "--project", "vision")
	bob := addUser("bob", "--role", "viewer", "--project", "vision")
	out, _, _ = root.cli(dir, "user", "ls")
	for _, want := range []string{"alice", "vision=member", "bob", "vision=viewer", "root   yes"} {
		if !strings.Contains(out, want) {
			t.Errorf("user ls lacks %q:\n%s", want, out)
		}
	}
	if out, _, _ := bob.cli(dir, "whoami"); !strings.Contains(out, "bob (by api)") || !strings.Contains(out, "vision: viewer") {
		t.Errorf("whoami as bob:\n%s", out)
	}

	// alice's job uses the SDK and the CLI with the token the job gets.
	script := filepath.Join(dir, "train.py")
	os.WriteFile(script, []byte(`import os, subprocess, trainyard
assert os.environ["TRAINYARD_TOKEN"].startswith("tyj_"), os.environ["TRAINYARD_TOKEN"]
assert os.environ["MLFLOW_TRACKING_TOKEN"] == os.environ["TRAINYARD_TOKEN"]
with trainyard.init(strict=True) as run:
    for step in range(5):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
r = subprocess.run(["trainyard", "run", "--project", "vision", "--", "true"], capture_output=True, text=True)
print("nested submit:", r.returncode, r.stderr.strip().splitlines()[0])
`), 0o644)
	out, stderr, code = alice.cli(dir, "run", "--wait", "--project", "vision", "--", "sh", "-c", "PATH="+filepath.Dir(bin)+":$PATH python "+script)
	if code != 0 {
		t.Fatalf("alice's job: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "nested submit: 1 trainyard: a job's token may only write its own run") {
		t.Errorf("a job submitting a job with its token:\n%s", out)
	}
	runs, err := alice.C.Runs(ctx, trainyard.RunFilter{Project: "vision"})
	if err != nil || len(runs) != 1 {
		t.Fatalf("alice's runs: %v %v", runs, err)
	}
	if r := runs[0]; r.Owner != "alice" || r.Metrics["loss"].Count != 5 {
		t.Errorf("the job's run: owner %q, %d loss points; want alice's, with 5", r.Owner, r.Metrics["loss"].Count)
	}

	// A member cancels their own job; a viewer cannot, and is told why.
	j, err := alice.C.Submit(ctx, trainyard.JobSpec{Project: "vision", Command: []string{"sleep", "60"}, Workdir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = bob.cli(dir, "cancel", j.ID)
	if code != 1 || !strings.Contains(stderr, "bob may not cancel job "+j.ID+": it is alice's") || !strings.Contains(stderr, "hint: `trainyard whoami`") {
		t.Errorf("bob cancels alice's job: exit %d %s", code, stderr)
	}
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/jobs/"+j.ID+"/cancel", nil)
	req.Header.Set("Authorization", "Bearer "+bob.C.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || json.Unmarshal(body, &eb) != nil || eb.Error.Code != "forbidden" || !strings.Contains(eb.Error.Message, "needs the admin role in project vision") {
		t.Errorf("POST cancel as bob: %d %s", resp.StatusCode, body)
	}
	if _, stderr, code := alice.cli(dir, "cancel", j.ID); code != 0 {
		t.Errorf("alice cancels her job: exit %d %s", code, stderr)
	}

	// Tokens expire, and revoked ones stop at once.
	out, _, code = alice.cli(dir, "token", "create", "--name", "short", "--expires", "2s")
	short := s.as(strings.TrimSpace(out))
	if code != 0 || !strings.HasPrefix(short.C.Token, "tya_") {
		t.Fatalf("token create: exit %d %q", code, out)
	}
	if _, stderr, code := short.cli(dir, "runs", "ls"); code != 0 {
		t.Fatalf("a fresh token: exit %d %s", code, stderr)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, stderr, code := short.cli(dir, "runs", "ls"); code != 1 || !strings.Contains(stderr, "expired on") {
		t.Errorf("an expired token: exit %d %s", code, stderr)
	}
	out, _, _ = alice.cli(dir, "token", "create", "--name", "revoke-me", "--json")
	var made struct {
		Token  trainyard.Token
		Secret string
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil {
		t.Fatal(err)
	}
	doomed := s.as(made.Secret)
	if _, stderr, code := doomed.cli(dir, "runs", "ls"); code != 0 {
		t.Fatalf("before revocation: %s", stderr)
	}
	if out, stderr, code := alice.cli(dir, "token", "revoke", made.Token.ID); code != 0 || !strings.Contains(out, "revoked token "+made.Token.ID) {
		t.Fatalf("token revoke: exit %d %s %s", code, out, stderr)
	}
	if _, stderr, code := doomed.cli(dir, "runs", "ls"); code != 1 || !strings.Contains(stderr, "was revoked on") {
		t.Errorf("a revoked token: exit %d %s", code, stderr)
	}
	out, _, _ = alice.cli(dir, "token", "ls", "--all")
	if !strings.Contains(out, "revoke-me") || !strings.Contains(out, "revoked") || !strings.Contains(out, "expired") {
		t.Errorf("token ls --all:\n%s", out)
	}
	if _, stderr, code := bob.cli(dir, "token", "ls", "--user", "alice"); code != 1 || !strings.Contains(stderr, "server admin") {
		t.Errorf("bob lists alice's tokens: exit %d %s", code, stderr)
	}

	// The audit log says who did what.
	out, stderr, code = root.cli(dir, "audit", "ls", "--json")
	if code != 0 {
		t.Fatalf("audit ls: %s", stderr)
	}
	var entries []trainyard.AuditEntry
	json.Unmarshal([]byte(out), &entries)
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Actor+" "+e.Action+" "+e.Target] = true
	}
	for _, want := range []string{"local user.add user/root", "root user.add user/alice", "alice job.submit job/" + j.ID,
		"alice job.cancel job/" + j.ID, "alice token.revoke user/alice"} {
		if !seen[want] {
			t.Errorf("the audit log lacks %q", want)
		}
	}
	if _, stderr, code := alice.cli(dir, "audit", "ls"); code != 1 || !strings.Contains(stderr, "server admin") {
		t.Errorf("alice reads the audit log: exit %d %s", code, stderr)
	}

	// Users, roles and tokens survive a restart.
	s.stop(syscall.SIGTERM)
	s.C.Token = root.C.Token
	s.restart()
	if out, stderr, code := alice.cli(dir, "runs", "ls", "--project", "vision"); code != 0 || !strings.Contains(out, runs[0].ID) {
		t.Errorf("after a restart: exit %d %s %s", code, out, stderr)
	}
}

// The shared token keeps working as an admin's once users exist, and the
// users' tokens work beside it.
func TestSharedTokenBesideUsers(t *testing.T) {
	s := startServer(t, "--token=s3cret")
	dir := t.TempDir()
	out, stderr, code := s.cli(dir, "user", "add", "alice", "--role", "member", "--token")
	if code != 0 || !strings.Contains(out, "member in every project") {
		t.Fatalf("user add with the shared token: exit %d %s %s", code, out, stderr)
	}
	alice := s.as(tokenRe.FindString(out))
	if out, _, _ := s.cli(dir, "whoami"); !strings.Contains(out, "shared token") {
		t.Errorf("whoami with the shared token: %s", out)
	}
	if _, stderr, code := alice.cli(dir, "run", "--wait", "--", "true"); code != 0 {
		t.Errorf("alice's job: %s", stderr)
	}
	if _, stderr, code := s.cli(dir, "runs", "ls"); code != 0 {
		t.Errorf("the shared token with users: %s", stderr)
	}
}
