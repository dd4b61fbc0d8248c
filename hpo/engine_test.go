package hpo_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mustNew(t *testing.T, s hpo.Settings) *hpo.Engine {
	t.Helper()
	e, err := hpo.New(s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// brief renders actions compactly: "start 1 until 1", "pause 2", ...
func brief(acts []hpo.Action) string {
	var parts []string
	for _, a := range acts {
		s := fmt.Sprintf("%s %d", a.Kind, a.Trial)
		if a.Kind == hpo.Finish {
			s = "finish"
		}
		if a.From != 0 {
			s += fmt.Sprintf(" from %d@%d", a.From, a.FromStep)
		}
		if a.Until != 0 && (a.Kind == hpo.Start || a.Kind == hpo.Resume) {
			s += fmt.Sprintf(" until %d", a.Until)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func oneFloat() hpo.Space {
	return hpo.Space{Params: []hpo.Param{{Name: "x", Kind: hpo.Float, Low: 0, High: 1}}}
}

func TestHyperbandBracketsMatchThePaper(t *testing.T) {
	// Li et al. 2018, Table 1: R = 81, η = 3.
	want := []hpo.Bracket{{S: 4, N: 81, MinSteps: 1}, {S: 3, N: 34, MinSteps: 3}, {S: 2, N: 15, MinSteps: 9}, {S: 1, N: 8, MinSteps: 27}, {S: 0, N: 5, MinSteps: 81}}
	if diff := cmp.Diff(want, hpo.HyperbandBrackets(81, 1, 3)); diff != "" {
		t.Errorf("brackets (-want +got):\n%s", diff)
	}
	// R = 27 in units of 1, η = 3: s_max = 3.
	want = []hpo.Bracket{{S: 3, N: 27, MinSteps: 1}, {S: 2, N: 12, MinSteps: 3}, {S: 1, N: 6, MinSteps: 9}, {S: 0, N: 4, MinSteps: 27}}
	if diff := cmp.Diff(want, hpo.HyperbandBrackets(27, 1, 3)); diff != "" {
		t.Errorf("brackets (-want +got):\n%s", diff)
	}
}

// Hyperband hands out n_s trials to each bracket in turn, and each trial
// pauses first at its bracket's r_s.
func TestHyperbandAssignsTrialsToBracketsInTurn(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), Sampler: "random", Stopper: hpo.StopperHyperband, MaxSteps: 9,
		ASHA: hpo.ASHASettings{Promote: true}, MaxTrials: 100})
	// R = 9, η = 3: brackets (9 trials, r=1), (5, r=3), (3, r=9).
	acts := e.Next(t0, 100)
	counts := map[int]int{}
	for _, a := range acts[:17] {
		counts[a.Until]++
	}
	if diff := cmp.Diff(map[int]int{1: 9, 3: 5, 9: 3}, counts); diff != "" {
		t.Errorf("first pause step of the first 17 trials (-want +got):\n%s", diff)
	}
	if acts[17].Until != 1 {
		t.Errorf("trial 18 starts a new round in bracket 0, want until 1, got %d", acts[17].Until)
	}
}

// Promotion-based ASHA, r=1, η=3, R=9 (rungs at steps 1 and 3), one
// worker, worked by hand from Li et al. 2020, Algorithm 2.
func TestASHAPromotionByHand(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), Stopper: hpo.StopperASHA, MaxSteps: 9, MaxTrials: 5,
		ASHA: hpo.ASHASettings{MinSteps: 1, Eta: 3, Promote: true}})
	steps := []struct {
		do   func() []hpo.Action
		want string
	}{
		{func() []hpo.Action { return e.Next(t0, 1) }, "start 1 until 1"},
		{func() []hpo.Action { return e.Report(t0, 1, 1, 5) }, "pause 1"},
		// rung 0 = {5}: top ⌊1/3⌋ = 0 trials, so grow the bottom rung.
		{func() []hpo.Action { return e.Next(t0, 1) }, "start 2 until 1"},
		{func() []hpo.Action { return e.Report(t0, 2, 1, 3) }, "pause 2"},
		{func() []hpo.Action { return e.Next(t0, 1) }, "start 3 until 1"},
		{func() []hpo.Action { return e.Report(t0, 3, 1, 4) }, "pause 3"},
		// rung 0 = {3 (t2), 4 (t3), 5 (t1)}: top 1 is trial 2 → promoted
		// to rung 1, resumed from its own checkpoint at step 1.
		{func() []hpo.Action { return e.Next(t0, 1) }, "resume 2 from 2@1 until 3"},
		{func() []hpo.Action { return e.Report(t0, 2, 2, 2.5) }, ""},
		{func() []hpo.Action { return e.Report(t0, 2, 3, 2) }, "pause 2"},
		// rung 1 = {2}: top 0; rung 0: trial 2 already promoted → new.
		{func() []hpo.Action { return e.Next(t0, 1) }, "start 4 until 1"},
		{func() []hpo.Action { return e.Report(t0, 4, 1, 1) }, "pause 4"},
		// rung 0 = {1 (t4), 3, 4, 5}: top ⌊4/3⌋ = 1 is trial 4.
		{func() []hpo.Action { return e.Next(t0, 1) }, "resume 4 from 4@1 until 3"},
		{func() []hpo.Action { return e.Report(t0, 4, 3, 0.5) }, "pause 4"},
		// rung 1 = {0.5 (t4), 2 (t2)}: top 0; rung 0's top 1 is promoted.
		{func() []hpo.Action { return e.Next(t0, 1) }, "start 5 until 1"},
		{func() []hpo.Action { return e.Report(t0, 5, 1, 6) }, "pause 5"},
		// rung 0 = {1, 3, 4, 5, 6}: top 1 already promoted. Max trials
		// reached, nothing runs: the sweep ends, paused trials are closed.
		{func() []hpo.Action { return e.Next(t0, 1) }, "stop 1, stop 2, stop 3, stop 4, stop 5, finish"},
	}
	for i, s := range steps {
		if got := brief(s.do()); got != s.want {
			t.Fatalf("step %d: got %q, want %q", i, got, s.want)
		}
	}
}

// Stopping-based ASHA, r=1, η=3: at a rung a trial continues only if it
// is among the best ⌊n/η⌋ of the n values there (the best while n < 3).
func TestASHAStoppingByHand(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), Stopper: hpo.StopperASHA, MaxSteps: 9, MaxTrials: 10, Parallel: 5,
		ASHA: hpo.ASHASettings{MinSteps: 1, Eta: 3}})
	if got := brief(e.Next(t0, 5)); got != "start 1 until 9, start 2 until 9, start 3 until 9, start 4 until 9, start 5 until 9" {
		t.Fatal(got)
	}
	cases := []struct {
		trial, step int
		v           float64
		want        string
	}{
		{1, 1, 5, ""},       // rung 0 = {5}: best
		{2, 1, 6, "stop 2"}, // {5, 6}: not the best
		{3, 1, 4, ""},       // {4, 5, 6}: top 1 is 4
		{4, 1, 4.5, "stop 4"},
		{5, 1, 1, ""},         // {1, 4, 4.5, 5, 6}: top 1
		{1, 2, 5, ""},         // between rungs: nothing to decide
		{1, 3, 3, ""},         // rung 1 = {3}
		{3, 3, 3.5, "stop 3"}, // rung 1 = {3, 3.5}
		{1, 9, 2, "stop 1"},   // max_steps: complete
	}
	for _, c := range cases {
		if got := brief(e.Report(t0, c.trial, c.step, c.v)); got != c.want {
			t.Errorf("report trial %d step %d value %v: got %q, want %q", c.trial, c.step, c.v, got, c.want)
		}
	}
	if tr, _ := e.Trial(1); tr.State != hpo.Completed {
		t.Errorf("trial 1 is %s, want completed", tr.State)
	}
	if tr, _ := e.Trial(2); tr.State != hpo.Stopped || !strings.Contains(tr.Reason, "rung 0") {
		t.Errorf("trial 2 is %s (%q), want stopped at rung 0", tr.State, tr.Reason)
	}
}

func TestMedianStopping(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), Stopper: hpo.StopperMedian, MaxSteps: 3, MaxTrials: 10, Parallel: 4,
		Median: hpo.MedianSettings{StartupTrials: 2}})
	e.Next(t0, 4)
	// Trials 1 and 2 complete with curves 3,2,1 and 5,4,3.
	for s, v := range []float64{3, 2, 1} {
		e.Report(t0, 1, s+1, v)
	}
	for s, v := range []float64{5, 4, 3} {
		e.Report(t0, 2, s+1, v)
	}
	// The median at step 1 is 4: 3.9 goes on, 4.1 is stopped.
	if got := brief(e.Report(t0, 3, 1, 3.9)); got != "" {
		t.Errorf("trial 3: %q", got)
	}
	if got := brief(e.Report(t0, 4, 1, 4.1)); got != "stop 4" {
		t.Errorf("trial 4: %q, want stop", got)
	}
	// Trial 3's best so far (3.9) against the median at step 2 (3).
	if got := brief(e.Report(t0, 3, 2, 3.95)); got != "stop 3" {
		t.Errorf("trial 3 at step 2: %q, want stop", got)
	}
}

// PBT: the bottom quantile copies a top trial's checkpoint and explores
// its configuration.
func TestPBTExploitAndExplore(t *testing.T) {
	zero := 0.0
	e := mustNew(t, hpo.Settings{
		Space:   hpo.Space{Params: []hpo.Param{{Name: "lr", Kind: hpo.Float, Low: 1e-4, High: 1, Log: true}, {Name: "opt", Kind: hpo.Categorical, Values: []any{"a", "b", "c"}}}},
		Sampler: hpo.SamplerPBT, MaxSteps: 10, Mode: hpo.Max,
		PBT: hpo.PBTSettings{Population: 4, Interval: 2, ResampleProbability: &zero}, Seed: 7,
	})
	if got := brief(e.Next(t0, 4)); got != "start 1 until 10, start 2 until 10, start 3 until 10, start 4 until 10" {
		t.Fatal(got)
	}
	// Maximising: trial 4 (0.1) is the bottom quarter, trial 1 (0.9) the
	// top. Step 1 is no check (interval 2).
	vals := []float64{0.9, 0.5, 0.4, 0.1}
	for id := 1; id <= 4; id++ {
		if acts := e.Report(t0, id, 1, vals[id-1]); len(acts) > 0 {
			t.Fatalf("trial %d step 1: %s", id, brief(acts))
		}
	}
	for id := 1; id <= 3; id++ {
		if acts := e.Report(t0, id, 2, vals[id-1]); len(acts) > 0 {
			t.Fatalf("trial %d: %s", id, brief(acts))
		}
	}
	if got := brief(e.Report(t0, 4, 2, 0.1)); got != "stop 4" {
		t.Fatalf("trial 4: %q, want stop", got)
	}
	acts := e.Next(t0, 1)
	if got := brief(acts); got != "start 5 from 1@2 until 10" {
		t.Fatalf("next: %q", got)
	}
	src, _ := e.Trial(1)
	srcCfg := e.Config(src)
	cfg := acts[0].Config
	lr, slr := cfg["lr"].(float64), srcCfg["lr"].(float64)
	if !(close(lr, slr*0.8) || close(lr, slr*1.2)) {
		t.Errorf("lr %v is not 0.8× or 1.2× the source's %v", lr, slr)
	}
	idx := map[string]int{"a": 0, "b": 1, "c": 2}
	if d := idx[cfg["opt"].(string)] - idx[srcCfg["opt"].(string)]; d < -1 || d > 1 {
		t.Errorf("opt moved from %v to %v, not a neighbour", srcCfg["opt"], cfg["opt"])
	}
	// The copy starts at step 2: its replayed steps are ignored, its
	// own count on.
	if got := brief(e.Report(t0, 5, 2, 0.95)); got != "" || e.ResultCount(5) != 0 {
		t.Errorf("a report at the inherited step was taken: %q", got)
	}
	e.Report(t0, 5, 3, 0.95)
	if e.ResultCount(5) != 1 {
		t.Errorf("step 3 of the copy was not taken")
	}
}

func close(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestReportIsIdempotent(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), MaxTrials: 2, MaxSteps: 10, Budget: hpo.Budget{Steps: 100}})
	e.Next(t0, 1)
	e.Report(t0, 1, 3, 1)
	e.Report(t0, 1, 3, 1) // a retried request
	e.Report(t0, 1, 2, 7) // a restarted trial replaying
	e.Report(t0, 1, 5, 1)
	if got := e.StepsUsed(); got != 5 {
		t.Errorf("steps used %d, want 5", got)
	}
	if got := e.ResultCount(1); got != 2 {
		t.Errorf("results %d, want 2", got)
	}
	if acts := e.Report(t0, 9, 1, 1); acts != nil {
		t.Errorf("report of an unknown trial: %v", acts)
	}
}

func TestStepBudgetIsNeverExceeded(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), MaxTrials: 10, MaxSteps: 10, Budget: hpo.Budget{Steps: 12}, Parallel: 2})
	e.Next(t0, 2)
	e.Report(t0, 1, 6, 1)
	e.Report(t0, 2, 5, 1)
	// 11 used; a report that would take it to 13 is refused and ends all.
	if got := brief(e.Report(t0, 1, 8, 1)); got != "stop 1, stop 2, finish" {
		t.Errorf("over budget: %q", got)
	}
	if e.StepsUsed() != 11 {
		t.Errorf("steps used %d, want 11", e.StepsUsed())
	}
	if got := brief(e.Next(t0, 2)); got != "finish" {
		t.Errorf("after the end: %q", got)
	}
}

func TestTimeBudget(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), MaxTrials: 10, Budget: hpo.Budget{Duration: time.Hour}})
	e.Next(t0, 1)
	if acts := e.Tick(t0.Add(59 * time.Minute)); acts != nil {
		t.Errorf("before the hour: %v", brief(acts))
	}
	if got := brief(e.Tick(t0.Add(time.Hour))); got != "stop 1, finish" {
		t.Errorf("at the hour: %q", got)
	}
}

func TestGridCoversEveryPointOnce(t *testing.T) {
	e := mustNew(t, hpo.Settings{Sampler: hpo.SamplerGrid, Space: hpo.Space{Params: []hpo.Param{
		{Name: "opt", Kind: hpo.Categorical, Values: []any{"adam", "sgd"}},
		{Name: "momentum", Kind: hpo.Float, Low: 0.8, High: 0.9, Q: 0.05, When: &hpo.Cond{Param: "opt", Values: []any{"sgd"}}},
		{Name: "layers", Kind: hpo.Int, Low: 2, High: 3},
		{Name: "act", Kind: hpo.Const, Values: []any{"relu"}},
	}}})
	var got []string
	for {
		acts := e.Next(t0, 1)
		if acts[0].Kind == hpo.Finish {
			break
		}
		b, _ := json.Marshal(acts[0].Config)
		got = append(got, string(b))
		e.Report(t0, acts[0].Trial, 1, 0)
		e.Complete(t0, acts[0].Trial)
	}
	want := []string{
		`{"act":"relu","layers":2,"opt":"adam"}`,
		`{"act":"relu","layers":3,"opt":"adam"}`,
		`{"act":"relu","layers":2,"momentum":0.8,"opt":"sgd"}`,
		`{"act":"relu","layers":3,"momentum":0.8,"opt":"sgd"}`,
		`{"act":"relu","layers":2,"momentum":0.85,"opt":"sgd"}`,
		`{"act":"relu","layers":3,"momentum":0.85,"opt":"sgd"}`,
		`{"act":"relu","layers":2,"momentum":0.9,"opt":"sgd"}`,
		`{"act":"relu","layers":3,"momentum":0.9,"opt":"sgd"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grid (-want +got):\n%s", diff)
	}
}

func TestNestedAndConditionalConfig(t *testing.T) {
	sp := hpo.Space{Params: []hpo.Param{
		{Name: "optimizer.name", Kind: hpo.Categorical, Values: []any{"adam", "sgd"}},
		{Name: "optimizer.momentum", Kind: hpo.Float, Low: 0.5, High: 0.99, When: &hpo.Cond{Param: "optimizer.name", Values: []any{"sgd"}}},
		{Name: "model.layers", Kind: hpo.Int, Low: 2, High: 8, Log: true},
	}}
	e := mustNew(t, hpo.Settings{Space: sp, MaxTrials: 200})
	seen := map[string]bool{}
	for _, a := range e.Next(t0, 200) {
		opt := a.Config["optimizer"].(map[string]any)
		_, hasM := opt["momentum"]
		if hasM != (opt["name"] == "sgd") {
			t.Fatalf("momentum present=%v with optimizer %v", hasM, opt["name"])
		}
		l := a.Config["model"].(map[string]any)["layers"].(int64)
		if l < 2 || l > 8 {
			t.Fatalf("layers %d out of [2, 8]", l)
		}
		seen[fmt.Sprint(opt["name"], l)] = true
	}
	if len(seen) != 14 {
		t.Errorf("200 random draws reached %d of 14 (optimizer, layers) pairs", len(seen))
	}
}

func TestDeterministicBySeed(t *testing.T) {
	run := func(seed uint64) string {
		e := mustNew(t, hpo.Settings{Space: oneFloat(), Sampler: hpo.SamplerTPE, MaxTrials: 30, Seed: seed, TPE: hpo.TPESettings{NStartupTrials: 5}})
		var out []string
		for i := 1; i <= 30; i++ {
			a := e.Next(t0, 1)[0]
			x := a.Config["x"].(float64)
			e.Report(t0, a.Trial, 1, (x-0.3)*(x-0.3))
			e.Complete(t0, a.Trial)
			out = append(out, fmt.Sprint(x))
		}
		return strings.Join(out, " ")
	}
	if a, b := run(1), run(1); a != b {
		t.Errorf("same seed, different suggestions:\n%s\n%s", a, b)
	}
	if a, b := run(1), run(2); a == b {
		t.Errorf("seeds 1 and 2 gave the same suggestions")
	}
}

func TestValidateNamesEveryProblem(t *testing.T) {
	_, err := hpo.New(hpo.Settings{
		Space: hpo.Space{Params: []hpo.Param{
			{Name: "lr", Kind: hpo.Float, Low: 0, High: 1, Log: true},
			{Name: "n", Kind: hpo.Int, Low: 5, High: 1},
			{Name: "m", Kind: hpo.Float, Low: 0, High: 1, When: &hpo.Cond{Param: "nope", Values: []any{1}}},
		}},
		Sampler: "bayes", Stopper: hpo.StopperASHA,
	})
	if trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("code %q: %v", trainyard.ErrorCode(err), err)
	}
	for _, want := range []string{"parameters.lr: a log-scale parameter needs min > 0", "parameters.n: min 5 is above max 1",
		`parameters.m.when: parent "nope"`, `searcher.name: "bayes"`, "max_steps: asha needs max_steps", "max_trials: is 0 and no budget"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRestoreRefusesOtherSettings(t *testing.T) {
	s := hpo.Settings{Space: oneFloat(), MaxTrials: 3}
	e := mustNew(t, s)
	e.Next(t0, 1)
	snap, _ := e.Snapshot()
	s.MaxTrials = 4
	if _, err := hpo.Restore(s, snap); trainyard.ErrorCode(err) != trainyard.ECONFLICT {
		t.Errorf("restore with other settings: %v", err)
	}
	if _, err := hpo.Restore(hpo.Settings{Space: oneFloat(), MaxTrials: 3}, []byte(`{"version":1,`)); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Errorf("restore of a torn snapshot: %v", err)
	}
}

func TestNaNIsTheWorstAndSurvivesSnapshot(t *testing.T) {
	s := hpo.Settings{Space: oneFloat(), MaxTrials: 3, Parallel: 2}
	e := mustNew(t, s)
	e.Next(t0, 2)
	e.Report(t0, 1, 1, math.NaN())
	e.Complete(t0, 1)
	e.Report(t0, 2, 1, 1e300)
	e.Complete(t0, 2)
	if b, ok := e.Best(); !ok || b.ID != 2 {
		t.Errorf("best is %v, want trial 2", b.ID)
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := hpo.Restore(s, snap)
	if err != nil {
		t.Fatal(err)
	}
	if tr, _ := r.Trial(1); !math.IsNaN(tr.Results[0].Value) {
		t.Errorf("NaN came back as %v", tr.Results[0].Value)
	}
}

// A trial that fails for good frees its slot, counts against max_trials,
// and does not guide TPE; one whose process is retried (replaying its
// steps) is not seen twice.
func TestFailAndRetry(t *testing.T) {
	e := mustNew(t, hpo.Settings{Space: oneFloat(), MaxTrials: 3, MaxSteps: 5, Budget: hpo.Budget{Steps: 100}})
	e.Next(t0, 1)
	e.Report(t0, 1, 1, 0.5)
	e.Report(t0, 1, 2, 0.4)
	// The process died; the service restarts it and it reports from step 1.
	for s := 1; s <= 3; s++ {
		e.Report(t0, 1, s, 9)
	}
	if tr, _ := e.Trial(1); len(tr.Results) != 3 || tr.Results[2].Step != 3 || tr.Results[1].Value != 0.4 {
		t.Errorf("after the replay: %+v", tr.Results)
	}
	if e.StepsUsed() != 3 {
		t.Errorf("steps used %d, want 3", e.StepsUsed())
	}
	e.Fail(t0, 1, "exit 1 after 2 restarts")
	if tr, _ := e.Trial(1); tr.State != hpo.Failed || tr.Reason != "exit 1 after 2 restarts" {
		t.Errorf("trial 1: %s %q", tr.State, tr.Reason)
	}
	if got := brief(e.Next(t0, 5)); got != "start 2 until 5, start 3 until 5" {
		t.Errorf("after the failure: %q", got)
	}
	if _, ok := e.Best(); ok {
		t.Errorf("a failed trial is the best")
	}
}
