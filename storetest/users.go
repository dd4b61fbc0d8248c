package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard"
)

// Users, roles, tokens, the audit log, the server secret and owners.

func newUser(name string, roles map[string]trainyard.Role) *trainyard.User {
	if roles == nil {
		roles = map[string]trainyard.Role{}
	}
	return &trainyard.User{Name: name, Roles: roles, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: t0, UpdatedAt: t0}
}

func newToken(id, user string, at time.Time) *trainyard.Token {
	return &trainyard.Token{ID: id, Hash: fmt.Sprintf("%064x", []byte(id)), Kind: trainyard.TokenAPI, User: user,
		Name: "laptop " + id, Prefix: "tya_" + id, CreatedBy: "root", CreatedAt: at}
}

func testUsers(t *testing.T, f Factory) {
	s := open(t, f)
	users, err := s.Users(ctx)
	if err != nil || len(users) != 0 {
		t.Fatalf("a new store has users %v (err %v)", users, err)
	}
	alice := newUser("alice", map[string]trainyard.Role{"vision": trainyard.RoleMember, trainyard.AllProjects: trainyard.RoleViewer})
	root := newUser("root", nil)
	root.Admin, root.PasswordHash = true, ""
	for _, u := range []*trainyard.User{root, alice} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	mustCode(t, s.CreateUser(ctx, newUser("alice", nil)), trainyard.ECONFLICT)
	got, err := s.User(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(alice, got); d != "" {
		t.Fatalf("user reads back differently (-want +got):\n%s", d)
	}
	_, err = s.User(ctx, "nobody")
	mustCode(t, err, trainyard.ENOTFOUND)
	users, err = s.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff([]*trainyard.User{alice, root}, users); d != "" {
		t.Fatalf("users, by name (-want +got):\n%s", d)
	}

	// Roles are set, changed and removed; other fields are left alone.
	hash, admin := "$argon2id$new", true
	u, err := s.UpdateUser(ctx, "alice", trainyard.UserUpdate{PasswordHash: &hash, Roles: map[string]trainyard.Role{
		"vision": trainyard.RoleAdmin, trainyard.AllProjects: trainyard.RoleNone, "nlp": trainyard.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]trainyard.Role{"vision": trainyard.RoleAdmin, "nlp": trainyard.RoleViewer}
	if d := gocmp.Diff(want, u.Roles); d != "" || u.PasswordHash != hash || u.Admin || u.UpdatedAt.IsZero() {
		t.Fatalf("updated user = %+v (roles -want +got:\n%s)", u, d)
	}
	if got, _ := s.User(ctx, "alice"); !gocmp.Equal(u, got) {
		t.Fatalf("updated user reads back as %+v, want %+v", got, u)
	}
	if u, err = s.UpdateUser(ctx, "alice", trainyard.UserUpdate{Admin: &admin}); err != nil || !u.Admin || u.PasswordHash != hash || len(u.Roles) != 2 {
		t.Fatalf("admin update = %+v, %v", u, err)
	}
	_, err = s.UpdateUser(ctx, "nobody", trainyard.UserUpdate{Admin: &admin})
	mustCode(t, err, trainyard.ENOTFOUND)

	// Deleting a user takes its roles and tokens with it; a user of the
	// same name made later starts afresh.
	if err := s.CreateToken(ctx, newToken("t1", "alice", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.DeleteUser(ctx, "alice"), trainyard.ENOTFOUND)
	_, err = s.User(ctx, "alice")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.TokenByHash(ctx, newToken("t1", "alice", t0).Hash)
	mustCode(t, err, trainyard.ENOTFOUND)
	if err := s.CreateUser(ctx, newUser("alice", nil)); err != nil {
		t.Fatal(err)
	}
	if u, _ := s.User(ctx, "alice"); len(u.Roles) != 0 {
		t.Fatalf("a new user of a deleted one's name has its roles: %v", u.Roles)
	}
	if ts, _ := s.Tokens(ctx, trainyard.TokenFilter{User: "alice", Inactive: true}); len(ts) != 0 {
		t.Fatalf("a new user of a deleted one's name has its tokens: %v", ts)
	}
}

func testTokens(t *testing.T, f Factory) {
	s := open(t, f)
	for _, u := range []string{"alice", "bob"} {
		if err := s.CreateUser(ctx, newUser(u, nil)); err != nil {
			t.Fatal(err)
		}
	}
	a1 := newToken("a1", "alice", t0)
	a2 := newToken("a2", "alice", t0.Add(time.Minute))
	a2.Project, a2.Role, a2.ExpiresAt = "vision", trainyard.RoleViewer, t0.Add(time.Hour)
	sess := newToken("s1", "alice", t0.Add(2*time.Minute))
	sess.Kind = trainyard.TokenSession
	b1 := newToken("b1", "bob", t0.Add(3*time.Minute))
	for _, tk := range []*trainyard.Token{a1, a2, sess, b1} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	dupID := newToken("a1", "alice", t0)
	dupID.Hash = fmt.Sprintf("%064x", 1)
	mustCode(t, s.CreateToken(ctx, dupID), trainyard.ECONFLICT)
	dupHash := newToken("zz", "alice", t0)
	dupHash.Hash = a1.Hash
	mustCode(t, s.CreateToken(ctx, dupHash), trainyard.ECONFLICT)
	mustCode(t, s.CreateToken(ctx, newToken("n1", "nobody", t0)), trainyard.ENOTFOUND)

	got, err := s.TokenByHash(ctx, a2.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if d := gocmp.Diff(a2, got); d != "" {
		t.Fatalf("token reads back differently (-want +got):\n%s", d)
	}
	_, err = s.TokenByHash(ctx, fmt.Sprintf("%064x", 2))
	mustCode(t, err, trainyard.ENOTFOUND)

	ids := func(ts []*trainyard.Token) []string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.ID)
		}
		return out
	}
	now := t0.Add(30 * time.Minute)
	for _, tc := range []struct {
		name string
		f    trainyard.TokenFilter
		want []string
	}{
		{"all active, newest first", trainyard.TokenFilter{Now: now}, []string{"b1", "s1", "a2", "a1"}},
		{"one user's", trainyard.TokenFilter{User: "alice", Now: now}, []string{"s1", "a2", "a1"}},
		{"one kind", trainyard.TokenFilter{Kind: trainyard.TokenSession, Now: now}, []string{"s1"}},
		{"expired ones left out", trainyard.TokenFilter{User: "alice", Now: t0.Add(2 * time.Hour)}, []string{"s1", "a1"}},
		{"expiry is exclusive", trainyard.TokenFilter{User: "alice", Now: t0.Add(time.Hour)}, []string{"s1", "a1"}},
		{"inactive ones asked for", trainyard.TokenFilter{User: "alice", Inactive: true, Now: t0.Add(2 * time.Hour)}, []string{"s1", "a2", "a1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := s.Tokens(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(tc.want, ids(ts)); d != "" {
				t.Fatalf("tokens (-want +got):\n%s", d)
			}
		})
	}

	// Revocation: the first time stays; a revoked token still reads back
	// by hash (so that the caller can say it was revoked), but is left out
	// of lists of active tokens.
	at := t0.Add(5 * time.Minute)
	rv, err := s.RevokeToken(ctx, "a1", at)
	if err != nil {
		t.Fatal(err)
	}
	if !rv.RevokedAt.Equal(at) || rv.Active(at) || !a1.Active(at) {
		t.Fatalf("revoked token = %+v", rv)
	}
	if rv, err = s.RevokeToken(ctx, "a1", at.Add(time.Hour)); err != nil || !rv.RevokedAt.Equal(at) {
		t.Fatalf("revoked again: %+v, %v; want the first time kept", rv, err)
	}
	if got, err := s.TokenByHash(ctx, a1.Hash); err != nil || !got.RevokedAt.Equal(at) {
		t.Fatalf("revoked token by hash: %+v, %v", got, err)
	}
	if ts, _ := s.Tokens(ctx, trainyard.TokenFilter{User: "alice", Now: now}); gocmp.Diff([]string{"s1", "a2"}, ids(ts)) != "" {
		t.Fatalf("active tokens after revocation: %v", ids(ts))
	}
	_, err = s.RevokeToken(ctx, "nope", at)
	mustCode(t, err, trainyard.ENOTFOUND)
}

func testServerSecret(t *testing.T, f Factory) {
	s, reopen := f(t)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := s.ServerSecret(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	if len(keys[0]) != 32 || bytes.Equal(keys[0], make([]byte, 32)) {
		t.Fatalf("server secret = %x; want 32 random bytes", keys[0])
	}
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatalf("concurrent first calls disagree: %x and %x", keys[0], k)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	defer s2.Close()
	if k, err := s2.ServerSecret(ctx); err != nil || !bytes.Equal(k, keys[0]) {
		t.Fatalf("after reopen the secret is %x (%v), want %x", k, err, keys[0])
	}
}

func testAudit(t *testing.T, f Factory) {
	s, reopen := f(t)
	if es, err := s.Audit(ctx, trainyard.AuditFilter{}); err != nil || len(es) != 0 {
		t.Fatalf("a new store has audit entries %v (%v)", es, err)
	}
	entry := func(i int, actor, action, project string) *trainyard.AuditEntry {
		return &trainyard.AuditEntry{Time: t0.Add(time.Duration(i) * time.Second), Actor: actor, Action: action,
			Target: fmt.Sprintf("thing/%d", i), Project: project, Detail: fmt.Sprintf(`{"i":%d}`, i)}
	}
	first := []*trainyard.AuditEntry{
		entry(0, "alice", "job.submit", "vision"),
		entry(1, "alice", "job.cancel", "vision"),
		entry(2, "bob", "run.delete", "nlp"),
	}
	if err := s.AppendAudit(ctx, first...); err != nil {
		t.Fatal(err)
	}
	if !(first[0].Seq > 0 && first[0].Seq < first[1].Seq && first[1].Seq < first[2].Seq) {
		t.Fatalf("sequence numbers %d %d %d; want increasing from 1", first[0].Seq, first[1].Seq, first[2].Seq)
	}
	second := []*trainyard.AuditEntry{entry(3, "root", "user.add", ""), entry(4, "bob", "job.submit", "nlp")}
	if err := s.AppendAudit(ctx, second...); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx); err != nil {
		t.Fatalf("appending nothing: %v", err)
	}
	all := append(append([]*trainyard.AuditEntry{}, first...), second...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	defer s.Close()
	pick := func(is ...int) []*trainyard.AuditEntry {
		var out []*trainyard.AuditEntry
		for _, i := range is {
			out = append(out, all[i])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    trainyard.AuditFilter
		want []*trainyard.AuditEntry
	}{
		{"all, newest first", trainyard.AuditFilter{}, pick(4, 3, 2, 1, 0)},
		{"one actor", trainyard.AuditFilter{Actor: "alice"}, pick(1, 0)},
		{"one project", trainyard.AuditFilter{Project: "nlp"}, pick(4, 2)},
		{"some projects", trainyard.AuditFilter{Projects: []string{"vision", ""}}, pick(3, 1, 0)},
		{"one action", trainyard.AuditFilter{Action: "job.submit"}, pick(4, 0)},
		{"an action family", trainyard.AuditFilter{Action: "job."}, pick(4, 1, 0)},
		{"a family is a prefix ending in a dot", trainyard.AuditFilter{Action: "job"}, nil},
		{"since", trainyard.AuditFilter{Since: t0.Add(3 * time.Second)}, pick(4, 3)},
		{"paged back", trainyard.AuditFilter{BeforeSeq: all[3].Seq, Limit: 2}, pick(2, 1)},
		{"limit", trainyard.AuditFilter{Limit: 1}, pick(4)},
		{"filters combine", trainyard.AuditFilter{Actor: "bob", Action: "job.", Project: "nlp"}, pick(4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Audit(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := gocmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("entries (-want +got):\n%s", d)
			}
		})
	}
}

// Owners of jobs and runs are stored and read back everywhere runs and
// jobs are read; updates leave them alone.
func testOwners(t *testing.T, f Factory) {
	s := open(t, f)
	j := newJob("j1", t0)
	j.Owner = "alice"
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	r := newRun("r1", "vision", t0.Add(time.Second))
	r.Owner = "bob"
	if err := s.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	free := newRun("r2", "vision", t0.Add(2*time.Second))
	if err := s.CreateRun(ctx, free); err != nil {
		t.Fatal(err)
	}
	j.State, j.StartedAt = trainyard.StateRunning, t0.Add(time.Minute)
	if err := s.UpdateJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	name := "renamed"
	if _, err := s.UpdateRun(ctx, "r1", trainyard.RunUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Job(ctx, "j1"); err != nil || got.Owner != "alice" {
		t.Fatalf("job owner %q (%v), want alice", got.Owner, err)
	}
	if js, _ := s.Jobs(ctx, trainyard.JobFilter{}); len(js) != 1 || js[0].Owner != "alice" {
		t.Fatalf("listed job owner: %+v", js)
	}
	want := map[string]string{"j1": "alice", "r1": "bob", "r2": ""}
	for id, owner := range want {
		if got, err := s.Run(ctx, id); err != nil || got.Owner != owner {
			t.Fatalf("run %s owner %q (%v), want %q", id, got.Owner, err, owner)
		}
	}
	check := func(how string, runs []*trainyard.Run) {
		t.Helper()
		got := map[string]string{}
		for _, r := range runs {
			got[r.ID] = r.Owner
		}
		if d := gocmp.Diff(want, got); d != "" {
			t.Fatalf("owners from %s (-want +got):\n%s", how, d)
		}
	}
	runs, err := s.Runs(ctx, trainyard.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	check("Runs", runs)
	runs, _, err = s.SearchRuns(ctx, trainyard.RunSearch{})
	if err != nil {
		t.Fatal(err)
	}
	check("SearchRuns", runs)
}

func testJobProjects(t *testing.T, f Factory) {
	s := open(t, f)
	for i, p := range []string{"a", "b", "c", "a"} {
		j := newJob(fmt.Sprintf("j%d", i), t0.Add(time.Duration(i)*time.Second))
		j.Project = p
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		f    trainyard.JobFilter
		want []string
	}{
		{trainyard.JobFilter{Projects: []string{"a", "c"}}, []string{"j3", "j2", "j0"}},
		{trainyard.JobFilter{Projects: []string{"a", "c"}, Active: true}, []string{"j0", "j2", "j3"}},
		{trainyard.JobFilter{Projects: []string{"a", "c"}, Project: "c"}, []string{"j2"}},
		{trainyard.JobFilter{Projects: []string{"a"}, Project: "b"}, nil},
		{trainyard.JobFilter{Projects: []string{"zzz"}}, nil},
	} {
		js, err := s.Jobs(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range js {
			got = append(got, j.ID)
		}
		if d := gocmp.Diff(tc.want, got); d != "" {
			t.Errorf("Jobs(%+v) (-want +got):\n%s", tc.f, d)
		}
	}
}

// Renaming a project (an experiment) moves the roles bound to it and the
// tokens limited to it; a binding the new name already had is kept.
func testRenameMovesRoles(t *testing.T, f Factory) {
	s := open(t, f)
	if err := s.CreateRun(ctx, newRun("r", "old", t0)); err != nil {
		t.Fatal(err)
	}
	alice := newUser("alice", map[string]trainyard.Role{"old": trainyard.RoleAdmin, "keep": trainyard.RoleViewer})
	bob := newUser("bob", map[string]trainyard.Role{"old": trainyard.RoleMember, "new": trainyard.RoleViewer})
	for _, u := range []*trainyard.User{alice, bob} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tk := newToken("t", "alice", t0)
	tk.Project = "old"
	if err := s.CreateToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	e, err := s.ExperimentByName(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	name := "new"
	if _, err := s.UpdateExperiment(ctx, e.ID, trainyard.ExperimentUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.User(ctx, "alice")
	b, _ := s.User(ctx, "bob")
	if d := gocmp.Diff(map[string]trainyard.Role{"new": trainyard.RoleAdmin, "keep": trainyard.RoleViewer}, a.Roles); d != "" {
		t.Errorf("alice's roles after the rename (-want +got):\n%s", d)
	}
	if d := gocmp.Diff(map[string]trainyard.Role{"new": trainyard.RoleViewer}, b.Roles); d != "" {
		t.Errorf("bob's roles after the rename (-want +got):\n%s", d)
	}
	if got, _ := s.TokenByHash(ctx, tk.Hash); got == nil || got.Project != "new" {
		t.Errorf("token limited to the renamed project: %+v", got)
	}
}
