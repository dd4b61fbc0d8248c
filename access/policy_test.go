package access

import (
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// identities of the policy's table: roles in project "p".
var (
	viewer  = &trainyard.Identity{User: "vera", Roles: map[string]trainyard.Role{"p": trainyard.RoleViewer}, Via: "api"}
	member  = &trainyard.Identity{User: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, Via: "api"}
	other   = &trainyard.Identity{User: "bob", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, Via: "api"}
	padmin  = &trainyard.Identity{User: "adam", Roles: map[string]trainyard.Role{"p": trainyard.RoleAdmin}, Via: "api"}
	outside = &trainyard.Identity{User: "olga", Roles: map[string]trainyard.Role{"q": trainyard.RoleAdmin}, Via: "api"}
	starV   = &trainyard.Identity{User: "sam", Roles: map[string]trainyard.Role{trainyard.AllProjects: trainyard.RoleViewer, "p": trainyard.RoleMember}, Via: "api"}
	server  = &trainyard.Identity{User: "root", Admin: true, Via: "api"}
	// Tokens with limits: an admin's viewer token; alice's token for q only.
	capped   = &trainyard.Identity{User: "root", Admin: true, MaxRole: trainyard.RoleViewer, Via: "api"}
	elsewere = &trainyard.Identity{User: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, Project: "q", Via: "api"}
	// The token of alice's job "j1" (in p).
	jobTok = &trainyard.Identity{User: "alice", Roles: map[string]trainyard.Role{"p": trainyard.RoleMember}, RunID: "j1", Via: "job"}
)

func TestAuthorize(t *testing.T) {
	aliceRun := Resource{What: "run j1", Project: "p", Owner: "alice", RunID: "j1"}
	carlRun := Resource{What: "run r2", Project: "p", Owner: "carl", RunID: "r2"}
	nobodys := Resource{What: "run r0", Project: "p", RunID: "r0"}
	proj := Resource{What: "project p", Project: "p"}
	model := Resource{What: "model m"}
	type want map[*trainyard.Identity]bool
	all := func(ok bool) want {
		w := want{}
		for _, id := range []*trainyard.Identity{viewer, member, other, padmin, outside, starV, server, capped, elsewere, jobTok} {
			w[id] = ok
		}
		return w
	}
	with := func(w want, ids ...*trainyard.Identity) want {
		for _, id := range ids {
			w[id] = true
		}
		return w
	}
	for _, tc := range []struct {
		name string
		act  Action
		res  Resource
		want want
	}{
		{"read a run", Read, aliceRun, with(all(false), viewer, member, other, padmin, starV, server, capped, jobTok)},
		{"create in the project", Create, proj, with(all(false), member, other, padmin, starV, server)},
		{"change one's own run", Change, aliceRun, with(all(false), member, padmin, server, jobTok)},
		{"change another's run", Change, carlRun, with(all(false), padmin, server)},
		{"change nobody's run", Change, nobodys, with(all(false), padmin, server)},
		{"manage the project", Manage, proj, with(all(false), padmin, server)},
		{"write the registry", RegistryWrite, model, with(all(false), member, other, padmin, outside, starV, server)},
		{"delete from the registry", RegistryDelete, model, with(all(false), padmin, outside, server)},
		{"administer", Administer, Resource{What: "users"}, with(all(false), server)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for id, ok := range tc.want {
				err := Authorize(id, "", tc.act, tc.res)
				if (err == nil) != ok {
					t.Errorf("%s (%s): allowed=%v, want %v (%v)", id.Actor(), id.Via, err == nil, ok, err)
				}
				if err != nil && trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
					t.Errorf("%s: code %q, want forbidden", id.Actor(), trainyard.ErrorCode(err))
				}
			}
		})
	}
}

// A refusal says what is missing: the role, the project, what the caller has.
func TestAuthorizeMessages(t *testing.T) {
	for _, tc := range []struct {
		id   *trainyard.Identity
		verb string
		act  Action
		res  Resource
		want []string
	}{
		{viewer, "cancel", Change, Resource{What: "job j1", Project: "p", Owner: "alice"},
			[]string{"vera may not cancel job j1", "it is alice's", "admin role in project p", "vera is a viewer there"}},
		{outside, "submit jobs to", Create, Resource{What: "project p", Project: "p"},
			[]string{"olga may not submit jobs to project p", "member role in project p", "olga has no role there"}},
		{capped, "", Create, Resource{What: "project p", Project: "p"},
			[]string{"limited to the viewer role"}},
		{elsewere, "", Read, Resource{What: "run r", Project: "p"},
			[]string{"limited to project q"}},
		{jobTok, "cancel", Change, Resource{What: "job j2", Project: "p", Owner: "alice", RunID: "j2"},
			[]string{"a job's token may only write its own run (j1)", "use a user's token"}},
		{nil, "read", Read, Resource{What: "run r"}, []string{"no identity"}},
		{member, "add", Administer, Resource{What: "users"}, []string{"server admin"}},
		{viewer, "register", RegistryWrite, Resource{What: "model m"}, []string{"member role in some project", "at most viewer"}},
	} {
		err := Authorize(tc.id, tc.verb, tc.act, tc.res)
		if err == nil {
			t.Errorf("%s %s %s: allowed", tc.id.Actor(), tc.verb, tc.res.What)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message %q lacks %q", err, w)
			}
		}
	}
}

func TestReadable(t *testing.T) {
	for _, tc := range []struct {
		id   *trainyard.Identity
		all  bool
		want []string
	}{
		{nil, false, nil},
		{server, true, nil},
		{capped, true, nil},
		{starV, true, nil},
		{member, false, []string{"p"}},
		{elsewere, false, nil}, // limited to q, where alice has no role
		{&trainyard.Identity{User: "x", Roles: map[string]trainyard.Role{"a": trainyard.RoleViewer, "b": trainyard.RoleAdmin}}, false, []string{"a", "b"}},
		{&trainyard.Identity{User: "x", Roles: map[string]trainyard.Role{"a": trainyard.RoleViewer, "b": trainyard.RoleAdmin}, Project: "b"}, false, []string{"b"}},
	} {
		all, got := Readable(tc.id)
		gotSet := map[string]bool{}
		for _, p := range got {
			gotSet[p] = true
		}
		ok := all == tc.all && len(got) == len(tc.want)
		for _, p := range tc.want {
			ok = ok && gotSet[p]
		}
		if !ok {
			t.Errorf("Readable(%s) = %v %v, want %v %v", tc.id.Actor(), all, got, tc.all, tc.want)
		}
	}
}

// Sweeps are decided as jobs are: every caller of the policy's table ×
// alice's, carl's and nobody's sweep × every action the sweep service
// asks about. A viewer reads; a member creates, and changes (pause,
// resume, stop, and ask/tell's suggest and report) only their own; the
// project's admin changes anyone's; a job's token only reads.
func TestSweepPolicy(t *testing.T) {
	sweeps := map[string]*trainyard.Sweep{
		"alice's":  {ID: "s1", Project: "p", Owner: "alice"},
		"carl's":   {ID: "s2", Project: "p", Owner: "carl"},
		"nobody's": {ID: "s3", Project: "p"},
	}
	ids := []*trainyard.Identity{viewer, member, other, padmin, outside, starV, server, capped, elsewere, jobTok}
	readers := []*trainyard.Identity{viewer, member, other, padmin, starV, server, capped, jobTok}
	creators := []*trainyard.Identity{member, other, padmin, starV, server}
	changers := map[string][]*trainyard.Identity{
		"alice's":  {member, padmin, server},
		"carl's":   {padmin, server},
		"nobody's": {padmin, server},
	}
	for _, act := range []struct {
		verb  string
		write bool
	}{{"read", false}, {"pause", true}, {"resume", true}, {"stop", true}, {"ask for trials of", true}, {"report results to", true}} {
		for whose, sw := range sweeps {
			want := readers
			if act.write {
				want = changers[whose]
			}
			for _, id := range ids {
				err := Sweeps(trainyard.WithIdentity(ctx, id), act.verb, act.write, sw)
				if ok := slices.Contains(want, id); (err == nil) != ok {
					t.Errorf("%s (%s) %s %s sweep: allowed=%v, want %v (%v)", id.Actor(), id.Via, act.verb, whose, err == nil, ok, err)
				}
				if err != nil && trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
					t.Errorf("%s %s %s sweep: code %q, want forbidden", id.Actor(), act.verb, whose, trainyard.ErrorCode(err))
				}
			}
		}
	}
	// Creating: the sweep is not stored yet (no ID) and would be the caller's.
	for _, id := range ids {
		err := Sweeps(trainyard.WithIdentity(ctx, id), "create sweeps in", true, &trainyard.Sweep{Project: "p", Owner: id.User})
		if ok := slices.Contains(creators, id); (err == nil) != ok {
			t.Errorf("%s (%s) creates a sweep: allowed=%v, want %v (%v)", id.Actor(), id.Via, err == nil, ok, err)
		}
	}
	if err := Sweeps(ctx, "read", false, sweeps["alice's"]); trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
		t.Errorf("a context without identity reads a sweep: %v", err)
	}
	// A refusal says whose the sweep is and what is missing.
	err := Sweeps(trainyard.WithIdentity(ctx, other), "stop", true, sweeps["alice's"])
	for _, w := range []string{"bob may not stop sweep s1", "it is alice's", "admin role in project p", "bob is a member there"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("message %v lacks %q", err, w)
		}
	}
}

// The guarded store's sweeps obey the same rules as the sweep service: a
// sweep created through it is the caller's, another member may not update
// it, its owner and the project's admin may, and the audit log says who.
func TestGuardedStoreSweeps(t *testing.T) {
	r := newRig(t, "")
	st := r.s.Store()
	sw := &trainyard.Sweep{ID: "s1", Name: "n", Project: "p", Owner: "mallory", State: trainyard.SweepRunning, Metric: "loss", Mode: "min",
		CreatedAt: r.clk.now(), UpdatedAt: r.clk.now()}
	if err := st.CreateSweep(as(viewer), sw); trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
		t.Fatalf("a viewer creates a sweep: %v", err)
	}
	if err := st.CreateSweep(as(member), sw); err != nil {
		t.Fatal(err)
	}
	if got, err := r.store.Sweep(ctx, "s1"); err != nil || got.Owner != "alice" {
		t.Fatalf("stored sweep %+v, %v; want it alice's (the caller's), whatever the caller said", got, err)
	}
	if _, err := st.Sweep(as(viewer), "s1"); err != nil {
		t.Errorf("a viewer reads the sweep: %v", err)
	}
	if l, err := st.Sweeps(as(outside), trainyard.SweepFilter{}); err != nil || len(l) != 0 {
		t.Errorf("an outsider lists %d sweeps (%v)", len(l), err)
	}
	sw.State = trainyard.SweepPaused
	for _, id := range []*trainyard.Identity{other, viewer, jobTok} {
		if err := st.UpdateSweep(as(id), sw); trainyard.ErrorCode(err) != trainyard.EFORBIDDEN {
			t.Errorf("%s (%s) updates alice's sweep: %v", id.Actor(), id.Via, err)
		}
	}
	if err := st.UpdateSweep(as(member), sw); err != nil {
		t.Fatalf("alice updates her sweep: %v", err)
	}
	sw.State = trainyard.SweepStopping
	if err := st.UpdateSweep(as(padmin), sw); err != nil {
		t.Fatalf("the project admin updates alice's sweep: %v", err)
	}
	es, err := r.store.Audit(ctx, trainyard.AuditFilter{Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target+" "+e.Detail)
	}
	want := []string{"adam sweep.update sweep/s1 state=STOPPING", "alice sweep.update sweep/s1 state=PAUSED", "alice sweep.create sweep/s1 "}
	if !slices.Equal(got, want) {
		t.Errorf("audit:\n%q\nwant\n%q", got, want)
	}
}
