package sweep_test

import (
	"context"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

type whoKey struct{}

// as is a caller's context: its name, which the rig's policy reads.
func as(who string) context.Context { return context.WithValue(ctx, whoKey{}, who) }

// A sweep starts jobs, so the service asks its Authorize before it
// creates, shows or steers one: here "member" may write project p,
// "viewer" may only read it, "outsider" may do nothing there. Nothing a
// refused caller asked for is done, and lists show only what the caller
// may read.
func TestSweepsAskTheirAuthorizer(t *testing.T) {
	r := &rig{t: t, dir: t.TempDir(), clk: &clock{t: t0}}
	r.authorize = func(c context.Context, verb string, write bool, project string) error {
		who, _ := c.Value(whoKey{}).(string)
		switch {
		case who == "" || who == "member" && project == "p":
			return nil // the server itself (recovery, tests' helpers), or a member
		case who == "viewer" && project == "p" && !write:
			return nil
		}
		return trainyard.Forbidden("%s may not %s project %s", who, verb, project)
	}
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
	v, err := r.svc.Create(as("member"), "sweep.yaml", spec)
	if err != nil {
		t.Fatalf("a member of p may create a sweep in p: %v", err)
	}

	if _, err := r.svc.Get(as("viewer"), v.ID); err != nil {
		t.Errorf("a viewer may read: %v", err)
	}
	if _, err := r.svc.Get(as("outsider"), v.ID); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
		t.Errorf("an outsider read the sweep: %v", err)
	}
	for who, want := range map[string]int{"viewer": 1, "outsider": 0, "member": 1} {
		if l, err := r.svc.List(as(who), trainyard.SweepFilter{}); err != nil || len(l) != want {
			t.Errorf("%s lists %d sweeps (%v), want %d", who, len(l), err, want)
		}
	}

	for name, do := range map[string]func(c context.Context) error{
		"pause": func(c context.Context) error { _, err := r.svc.Pause(c, v.ID); return err },
		"stop":  func(c context.Context) error { _, err := r.svc.Stop(c, v.ID); return err },
		"suggest": func(c context.Context) error {
			_, err := r.svc.Suggest(c, v.ID, sweep.SuggestRequest{Count: 1})
			return err
		},
		"report": func(c context.Context) error {
			_, err := r.svc.Report(c, v.ID, sweep.ReportRequest{Trial: 1, State: "completed"})
			return err
		},
	} {
		if err := do(as("viewer")); !trainyard.IsCode(err, trainyard.EFORBIDDEN) {
			t.Errorf("a viewer may %s: %v", name, err)
		}
	}
	got, err := r.svc.Get(ctx, v.ID)
	if err != nil || got.State != trainyard.SweepRunning || len(got.Trials) != 0 {
		t.Fatalf("refused calls changed the sweep: %+v, %v", got, err)
	}
	if _, err := r.svc.Suggest(as("member"), v.ID, sweep.SuggestRequest{Count: 1}); err != nil {
		t.Errorf("a member may ask for trials: %v", err)
	}
}
