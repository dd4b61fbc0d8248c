package sweep_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// as is a caller's context: a user's identity, whose name the rig's policy
// reads ("" is the server itself).
func as(who string) context.Context {
	return trainyard.WithIdentity(ctx, &trainyard.Identity{User: who, Via: "api"})
}

// policy is the rig's Authorize, a small access.Sweeps: in project p,
// "viewer" reads; "alice" and "bob" (members) read, create, and change
// their own sweeps; "adam" (an admin) does anything; "outsider" nothing.
// It also keeps what it was asked.
type policy struct {
	mu    sync.Mutex
	asked []*trainyard.Sweep
}

func (p *policy) authorize(c context.Context, verb string, write bool, sw *trainyard.Sweep) error {
	p.mu.Lock()
	cp := *sw
	p.asked = append(p.asked, &cp)
	p.mu.Unlock()
	who := trainyard.OwnerFrom(c)
	switch {
	case who == "": // the server itself (recovery, tests' helpers)
		return nil
	case sw.Project != "p" || who == "outsider":
	case who == "adam", !write:
		return nil
	case who == "viewer":
	case sw.ID == "" || sw.Owner == who: // a member creates, and changes their own
		return nil
	}
	return trainyard.Forbidden("%s may not %s sweep %q of %s (owner %q)", who, verb, sw.ID, sw.Project, sw.Owner)
}

// A sweep starts jobs, so the service asks its Authorize before it
// creates, shows or steers one, giving it the sweep with its owner (the
// creator). Nothing a refused caller asked for is done, and lists show
// only what the caller may read.
func TestSweepsAskTheirAuthorizer(t *testing.T) {
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: t0}}
	pol := &policy{}
	r.authorize = pol.authorize
	r.open()
	t.Cleanup(r.close)
	spec := []byte(`project: p
metric: {name: acc, mode: max}
parameters: {lr: {min: 0.001, max: 0.1}}
max_trials: 4
`)
	for _, who := range []string{"viewer", "outsider"} {
		if _, err := r.svc.Create(as(who), "sweep.yaml", spec); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
			t.Fatalf("%s created a sweep: %v", who, err)
		}
	}
	if all, err := r.svc.List(ctx, trainyard.SweepFilter{}); err != nil || len(all) != 0 {
		t.Fatalf("refused creations stored sweeps: %d, %v", len(all), err)
	}
	v, err := r.svc.Create(as("alice"), "sweep.yaml", spec)
	if err != nil {
		t.Fatalf("a member of p may create a sweep in p: %v", err)
	}
	if v.Owner != "alice" {
		t.Fatalf("the new sweep's owner is %q, want its creator alice", v.Owner)
	}
	if stored, err := r.store.Sweep(ctx, v.ID); err != nil || stored.Owner != "alice" {
		t.Fatalf("the stored sweep's owner: %+v, %v", stored, err)
	}
	if created := pol.asked[len(pol.asked)-1]; created.ID != "" || created.Owner != "alice" || created.Project != "p" {
		t.Errorf("Authorize was asked about the creation with %+v; want no ID, owner alice, project p", created)
	}

	if _, err := r.svc.Get(as("viewer"), v.ID); err != nil {
		t.Errorf("a viewer may read: %v", err)
	}
	if _, err := r.svc.Get(as("outsider"), v.ID); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
		t.Errorf("an outsider read the sweep: %v", err)
	}
	for who, want := range map[string]int{"viewer": 1, "outsider": 0, "alice": 1} {
		if l, err := r.svc.List(as(who), trainyard.SweepFilter{}); err != nil || len(l) != want {
			t.Errorf("%s lists %d sweeps (%v), want %d", who, len(l), err, want)
		}
	}

	changes := map[string]func(c context.Context) error{
		"pause":  func(c context.Context) error { _, err := r.svc.Pause(c, v.ID); return err },
		"resume": func(c context.Context) error { _, err := r.svc.Resume(c, v.ID); return err },
		"stop":   func(c context.Context) error { _, err := r.svc.Stop(c, v.ID); return err },
		"suggest": func(c context.Context) error {
			_, err := r.svc.Suggest(c, v.ID, sweep.SuggestRequest{Count: 1})
			return err
		},
		"report": func(c context.Context) error {
			_, err := r.svc.Report(c, v.ID, sweep.ReportRequest{Trial: 1, State: "completed"})
			return err
		},
	}
	for name, do := range changes {
		for _, who := range []string{"viewer", "bob", "outsider"} {
			pol.asked = nil
			if err := do(as(who)); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
				t.Errorf("%s may %s alice's sweep: %v", who, name, err)
			}
			if i := slices.IndexFunc(pol.asked, func(sw *trainyard.Sweep) bool { return sw.ID == v.ID && sw.Owner == "alice" }); i < 0 {
				t.Errorf("%s: Authorize was not shown the stored sweep with its owner: %+v", name, pol.asked)
			}
		}
	}
	got, err := r.svc.Get(ctx, v.ID)
	if err != nil || got.State != trainyard.SweepRunning || len(got.Trials) != 0 {
		t.Fatalf("refused calls changed the sweep: %+v, %v", got, err)
	}
	if _, err := r.svc.Suggest(as("alice"), v.ID, sweep.SuggestRequest{Count: 1}); err != nil {
		t.Errorf("a member may ask for trials of her sweep: %v", err)
	}
	if _, err := r.svc.Report(as("adam"), v.ID, sweep.ReportRequest{Trial: 1, Step: new(1), Value: new(trainyard.Float(0.5))}); err != nil {
		t.Errorf("an admin may report to anyone's sweep: %v", err)
	}
	if _, err := r.svc.Pause(as("alice"), v.ID); err != nil {
		t.Errorf("a member may pause her sweep: %v", err)
	}
	if _, err := r.svc.Stop(as("adam"), v.ID); err != nil {
		t.Errorf("an admin may stop anyone's sweep: %v", err)
	}
}

// The jobs of a sweep's trials belong to the sweep's owner, so that she may
// cancel them as her own; without users (no owner) they belong to nobody,
// as every job then does. Changes callers make are handed to Audit with
// who made them, once stored; refused ones are not.
func TestTrialJobsBelongToTheSweepOwner(t *testing.T) {
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: t0}}
	pol := &policy{}
	r.authorize = pol.authorize
	var mu sync.Mutex
	var audit []string
	r.audit = func(c context.Context, action string, sw *trainyard.Sweep) {
		mu.Lock()
		audit = append(audit, trainyard.OwnerFrom(c)+" "+action+" "+sw.ID)
		mu.Unlock()
	}
	r.open()
	t.Cleanup(r.close)
	spec := []byte(`project: p
command: [python, t.py]
metric: loss
parameters: {lr: {min: 0.001, max: 0.1}}
max_trials: 4
parallel: 2
`)
	mine, err := r.svc.Create(as("alice"), "sweep.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	free, err := r.svc.Create(ctx, "sweep.yaml", spec)
	if err != nil {
		t.Fatal(err)
	}
	owners := func(sweepID string) []string {
		js, err := r.store.Jobs(ctx, trainyard.JobFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, j := range js {
			if j.Tags[trainyard.TagSweep] == sweepID {
				out = append(out, j.Owner)
			}
		}
		return out
	}
	r.eventually("two trial jobs of each sweep", func() bool { return len(owners(mine.ID)) == 2 && len(owners(free.ID)) == 2 })
	if got := owners(mine.ID); !slices.Equal(got, []string{"alice", "alice"}) {
		t.Errorf("the owners of the trial jobs of alice's sweep: %q, want alice's", got)
	}
	if got := owners(free.ID); !slices.Equal(got, []string{"", ""}) {
		t.Errorf("the owners of the trial jobs of a sweep without owner: %q, want none", got)
	}

	if _, err := r.svc.Pause(as("bob"), mine.ID); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
		t.Fatalf("bob paused alice's sweep: %v", err)
	}
	for _, step := range []struct {
		who string
		do  func(context.Context, string) (*sweep.View, error)
	}{{"alice", r.svc.Pause}, {"alice", r.svc.Resume}, {"adam", r.svc.Stop}} {
		if _, err := step.do(as(step.who), mine.ID); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"alice sweep.create " + mine.ID, " sweep.create " + free.ID, "alice sweep.pause " + mine.ID,
		"alice sweep.resume " + mine.ID, "adam sweep.stop " + mine.ID}
	if !slices.Equal(audit, want) {
		t.Errorf("audited:\n%q\nwant\n%q", audit, want)
	}
}
