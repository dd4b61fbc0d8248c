package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func newSweep(id, project string, at time.Time) *trainyard.Sweep {
	return &trainyard.Sweep{
		ID: id, Name: "search " + id, Project: project, Owner: "alice", State: trainyard.SweepRunning, Metric: "val/loss", Mode: "min",
		Managed: true, Spec: json.RawMessage(`{"format":"trainyard","metric":{"name":"val/loss","mode":"min"}}`),
		Snapshot: json.RawMessage(`{"version":1,"trials":[]}`), CreatedAt: at, UpdatedAt: at,
	}
}

func newTrial(sweep string, n int, at time.Time) *trainyard.Trial {
	v := trainyard.Float(0.25 * float64(n))
	return &trainyard.Trial{
		SweepID: sweep, Number: n, State: trainyard.TrialQueued, Reason: "waiting",
		Config:  map[string]any{"lr": 0.001 * float64(n), "opt": "adam", "model": map[string]any{"layers": 4.0}, "bn": true},
		Segment: 1, Jobs: []string{sweep + "-j" + string(rune('0'+n))}, JobState: trainyard.StateQueued, Pending: trainyard.PendingSubmit,
		Until: 9, Step: n, Value: &v, Results: n, CreatedAt: at, UpdatedAt: at,
	}
}

func floatPtr(v float64) *trainyard.Float { f := trainyard.Float(v); return &f }

// sweepCmp compares floats so that NaN equals NaN.
var sweepCmp = cmp.Comparer(func(a, b trainyard.Float) bool {
	return a == b || (math.IsNaN(float64(a)) && math.IsNaN(float64(b)))
})

func mustTrials(t *testing.T, s trainyard.SweepStore, id string) []*trainyard.Trial {
	t.Helper()
	ts, err := s.Trials(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// testSweepLifecycle: a sweep and its trials read back exactly as written,
// and UpdateSweep writes the sweep's state, snapshot and best value with
// its trials in one go.
func testSweepLifecycle(t *testing.T, f Factory) {
	s := open(t, f)
	sw := newSweep("s1", "vision", t0)
	t1, t2 := newTrial("s1", 1, t0), newTrial("s1", 2, t0)
	if err := s.CreateSweep(ctx, sw, t1, t2); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sweep(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sw, got, sweepCmp); diff != "" {
		t.Fatalf("stored sweep differs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*trainyard.Trial{t1, t2}, mustTrials(t, s, "s1"), sweepCmp); diff != "" {
		t.Fatalf("stored trials differ (-want +got):\n%s", diff)
	}

	// One update: new state, snapshot, best; trial 2 changed, trial 3 new.
	sw.State, sw.Reason, sw.Snapshot = trainyard.SweepPaused, "paused by you", json.RawMessage(`{"version":1,"trials":[1,2,3]}`)
	sw.BestTrial, sw.BestValue, sw.UpdatedAt = 2, floatPtr(0), t0.Add(time.Minute)
	t2.State, t2.Pending, t2.Jobs, t2.Value = trainyard.TrialRunning, "", append(t2.Jobs, "s1-j9"), floatPtr(math.NaN())
	t3 := newTrial("s1", 3, t0.Add(time.Second))
	t3.External, t3.Held, t3.Directive, t3.Value = true, true, "pause", floatPtr(math.Inf(-1))
	if err := s.UpdateSweep(ctx, sw, t3, t2); err != nil {
		t.Fatal(err)
	}
	if sw.Version != 1 {
		t.Fatalf("version after one update = %d, want 1", sw.Version)
	}
	got, _ = s.Sweep(ctx, "s1")
	if diff := cmp.Diff(sw, got, sweepCmp); diff != "" {
		t.Fatalf("updated sweep differs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*trainyard.Trial{t1, t2, t3}, mustTrials(t, s, "s1"), sweepCmp); diff != "" {
		t.Fatalf("updated trials differ (-want +got):\n%s", diff)
	}

	// Ending: terminal state, end time, a NaN best value, no trials given.
	sw.State, sw.EndedAt, sw.BestValue = trainyard.SweepCompleted, t0.Add(time.Hour), floatPtr(math.NaN())
	if err := s.UpdateSweep(ctx, sw); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Sweep(ctx, "s1")
	if diff := cmp.Diff(sw, got, sweepCmp); diff != "" {
		t.Fatalf("ended sweep differs (-want +got):\n%s", diff)
	}
	if n := len(mustTrials(t, s, "s1")); n != 3 {
		t.Fatalf("%d trials after an update that named none, want 3", n)
	}
	// A sweep without trials lists none (not nil).
	if err := s.CreateSweep(ctx, newSweep("s2", "vision", t0)); err != nil {
		t.Fatal(err)
	}
	if ts := mustTrials(t, s, "s2"); ts == nil || len(ts) != 0 {
		t.Fatalf("trials of a sweep without any = %#v, want an empty list", ts)
	}
}

// testSweepCompareAndSet: UpdateSweep writes only over the version the
// sweep was read at; a refused update writes neither the sweep nor its
// trials; of two concurrent writers of one version exactly one wins.
func testSweepCompareAndSet(t *testing.T, f Factory) {
	s := open(t, f)
	sw := newSweep("s", "p", t0)
	if err := s.CreateSweep(ctx, sw); err != nil {
		t.Fatal(err)
	}
	stale := *sw
	sw.Reason = "first"
	if err := s.UpdateSweep(ctx, sw, newTrial("s", 1, t0)); err != nil {
		t.Fatal(err)
	}
	stale.State, stale.Reason = trainyard.SweepStopped, "stale"
	err := s.UpdateSweep(ctx, &stale, newTrial("s", 2, t0))
	mustCode(t, err, trainyard.ECONFLICT)
	if !strings.Contains(trainyard.ErrorMessage(err), "sweep s") {
		t.Errorf("conflict %q does not name sweep s", trainyard.ErrorMessage(err))
	}
	if stale.Version != 0 {
		t.Errorf("version of a refused update = %d, want unchanged 0", stale.Version)
	}
	got, _ := s.Sweep(ctx, "s")
	if got.Reason != "first" || got.State != trainyard.SweepRunning || got.Version != 1 {
		t.Fatalf("a refused update wrote the sweep: %+v", got)
	}
	if ts := mustTrials(t, s, "s"); len(ts) != 1 {
		t.Fatalf("a refused update wrote a trial: %d trials, want 1", len(ts))
	}

	// Concurrent writers of version 1: one wins, the others are refused.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := *got
			c.Reason = "writer " + string(rune('a'+i))
			err := s.UpdateSweep(ctx, &c, newTrial("s", 10+i, t0))
			mu.Lock()
			defer mu.Unlock()
			switch trainyard.ErrorCode(err) {
			case "":
				wins++
			case trainyard.ECONFLICT:
			default:
				t.Errorf("writer %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 8 concurrent writers of one version won, want 1", wins)
	}
	if ts := mustTrials(t, s, "s"); len(ts) != 2 {
		t.Fatalf("%d trials after the race, want 2 (the first and the winner's)", len(ts))
	}
}

// testSweepOwners: a sweep's owner is stored, read back by Sweep and
// Sweeps, empty for a sweep made without users, and never changed by
// UpdateSweep.
func testSweepOwners(t *testing.T, f Factory) {
	s := open(t, f)
	mine := newSweep("mine", "p", t0)
	mine.Owner = "carol.o'neil@lab" // a user name may hold '.', '@' and, through the store, anything
	free := newSweep("free", "p", t0.Add(time.Second))
	free.Owner = ""
	for _, sw := range []*trainyard.Sweep{mine, free} {
		if err := s.CreateSweep(ctx, sw); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"mine": "carol.o'neil@lab", "free": ""}
	check := func(when string) {
		t.Helper()
		for id, owner := range want {
			got, err := s.Sweep(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Owner != owner {
				t.Errorf("%s: Sweep(%s).Owner = %q, want %q", when, id, got.Owner, owner)
			}
		}
		all, err := s.Sweeps(ctx, trainyard.SweepFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, sw := range all {
			got[sw.ID] = sw.Owner
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: owners from Sweeps (-want +got):\n%s", when, d)
		}
	}
	check("created")
	// An update that names another owner (or none) leaves the stored one.
	mine.Owner, mine.State = "mallory", trainyard.SweepPaused
	free.Owner, free.Reason = "mallory", "claimed"
	for _, sw := range []*trainyard.Sweep{mine, free} {
		if err := s.UpdateSweep(ctx, sw); err != nil {
			t.Fatal(err)
		}
	}
	check("updated")
	if got, _ := s.Sweep(ctx, "mine"); got.State != trainyard.SweepPaused {
		t.Fatalf("the update was not written: %+v", got)
	}
}

func testSweepErrors(t *testing.T, f Factory) {
	s := open(t, f)
	_, err := s.Sweep(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)
	_, err = s.Trials(ctx, "nope")
	mustCode(t, err, trainyard.ENOTFOUND)
	mustCode(t, s.UpdateSweep(ctx, newSweep("nope", "p", t0)), trainyard.ENOTFOUND)
	sw := newSweep("s", "p", t0)
	if err := s.CreateSweep(ctx, sw); err != nil {
		t.Fatal(err)
	}
	mustCode(t, s.CreateSweep(ctx, newSweep("s", "p", t0)), trainyard.ECONFLICT)
	// A trial of another sweep: refused, and nothing of the update written.
	sw.Reason = "changed"
	mustCode(t, s.UpdateSweep(ctx, sw, newTrial("s", 1, t0), newTrial("other", 2, t0)), trainyard.EINVALID)
	mustCode(t, s.CreateSweep(ctx, newSweep("s3", "p", t0), newTrial("s", 1, t0)), trainyard.EINVALID)
	got, _ := s.Sweep(ctx, "s")
	if got.Reason != "" || got.Version != 0 || len(mustTrials(t, s, "s")) != 0 {
		t.Fatalf("a refused update wrote something: %+v", got)
	}
	if _, err := s.Sweep(ctx, "s3"); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Fatalf("a refused create stored the sweep: %v", err)
	}
}

func testSweepLists(t *testing.T, f Factory) {
	s := open(t, f)
	for i, c := range []struct {
		id, project string
		state       trainyard.SweepState
	}{
		{"a1", "p", trainyard.SweepCompleted}, {"a2", "p", trainyard.SweepRunning}, {"b1", "q", trainyard.SweepPaused},
		{"b2", "q", trainyard.SweepStopping}, {"b3", "q", trainyard.SweepStopped}, {"c1", "p", trainyard.SweepFailed},
	} {
		sw := newSweep(c.id, c.project, t0.Add(time.Duration(i)*time.Second))
		sw.State = c.state
		if err := s.CreateSweep(ctx, sw); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(f trainyard.SweepFilter) string {
		t.Helper()
		ss, err := s.Sweeps(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sw := range ss {
			out = append(out, sw.ID)
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		f    trainyard.SweepFilter
		want string
	}{
		{trainyard.SweepFilter{}, "c1 b3 b2 b1 a2 a1"},
		{trainyard.SweepFilter{Active: true}, "a2 b1 b2"},
		{trainyard.SweepFilter{Project: "q"}, "b3 b2 b1"},
		{trainyard.SweepFilter{Project: "q", Active: true}, "b1 b2"},
		{trainyard.SweepFilter{IDPrefix: "b"}, "b3 b2 b1"},
		{trainyard.SweepFilter{IDPrefix: "a2"}, "a2"},
		{trainyard.SweepFilter{Limit: 2}, "c1 b3"},
		{trainyard.SweepFilter{Project: "none"}, ""},
	} {
		if got := ids(c.f); got != c.want {
			t.Errorf("Sweeps(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func testSweepSurvivesReopen(t *testing.T, f Factory) {
	s, reopen := f(t)
	sw := newSweep("s", "p", t0)
	tr := newTrial("s", 1, t0)
	if err := s.CreateSweep(ctx, sw, tr); err != nil {
		t.Fatal(err)
	}
	sw.Snapshot = json.RawMessage(`{"version":1,"rand":{"state":[1,2]},"trials":[{"id":1}]}`)
	tr.State, tr.Pending = trainyard.TrialRunning, trainyard.PendingCancel
	if err := s.UpdateSweep(ctx, sw, tr); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := reopen()
	defer s2.Close()
	got, err := s2.Sweep(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sw, got, sweepCmp); diff != "" {
		t.Fatalf("sweep after reopen differs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*trainyard.Trial{tr}, mustTrials(t, s2, "s"), sweepCmp); diff != "" {
		t.Fatalf("trials after reopen differ (-want +got):\n%s", diff)
	}
}

// testSharedSweepCompareAndSet: two servers on one database write the same
// version of a sweep at once, many times over: each time exactly one
// update is stored with its trial, the other is refused with ECONFLICT and
// writes nothing, and both servers read the winner back.
func testSharedSweepCompareAndSet(t *testing.T, a, b trainyard.SharedStore) {
	if err := a.CreateSweep(ctx, newSweep("s", "p", t0)); err != nil {
		t.Fatal(err)
	}
	const rounds = 20
	for r := range rounds {
		cur, err := b.Sweep(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []trainyard.SharedStore{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := *cur
				c.Reason = fmt.Sprintf("round %d server %d", r, i)
				errs[i] = s.UpdateSweep(ctx, &c, newTrial("s", 1+2*r+i, t0))
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: both servers' updates of version %d were stored", r, cur.Version)
			case err == nil:
				winner = i
			default:
				mustCode(t, err, trainyard.ECONFLICT)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: both updates refused: %v", r, errs)
		}
		for _, s := range []trainyard.SharedStore{a, b} {
			got, err := s.Sweep(ctx, "s")
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("round %d server %d", r, winner); got.Reason != want || got.Version != cur.Version+1 {
				t.Fatalf("round %d: read reason %q version %d, want %q version %d", r, got.Reason, got.Version, want, cur.Version+1)
			}
			ts := mustTrials(t, s, "s")
			if len(ts) != r+1 || ts[r].Number != 1+2*r+winner {
				t.Fatalf("round %d: %d trials, last %d; want %d, last %d (the refused update wrote its trial?)", r, len(ts), ts[len(ts)-1].Number, r+1, 1+2*r+winner)
			}
		}
	}
}
