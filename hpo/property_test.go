package hpo_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/hpo/hposim"
	"pgregory.net/rapid"
)

// genSpace draws a small space; grid-able when grid is set.
func genSpace(t *rapid.T, grid bool) hpo.Space {
	var ps []hpo.Param
	n := rapid.IntRange(1, 3).Draw(t, "params")
	for i := range n {
		name := fmt.Sprintf("p%d", i)
		kinds := []hpo.Kind{hpo.Categorical, hpo.Int, hpo.Float, hpo.Const}
		k := rapid.SampledFrom(kinds).Draw(t, name+".kind")
		p := hpo.Param{Name: name, Kind: k}
		switch k {
		case hpo.Categorical:
			for j := range rapid.IntRange(1, 4).Draw(t, name+".n") {
				p.Values = append(p.Values, fmt.Sprintf("v%d", j))
			}
		case hpo.Const:
			p.Values = []any{int64(3)}
		case hpo.Int:
			p.Low = float64(rapid.IntRange(1, 5).Draw(t, name+".lo"))
			p.High = p.Low + float64(rapid.IntRange(0, 6).Draw(t, name+".w"))
			p.Log = rapid.Bool().Draw(t, name+".log")
		case hpo.Float:
			p.Low = rapid.Float64Range(0.01, 1).Draw(t, name+".lo")
			if rapid.Bool().Draw(t, name+".wide") {
				p.High = p.Low + rapid.Float64Range(0.1, 10).Draw(t, name+".w")
			} else {
				p.High = p.Low
			}
			p.Log = rapid.Bool().Draw(t, name+".log")
			if grid || rapid.Bool().Draw(t, name+".quantised") {
				p.Q = (p.High - p.Low) / float64(rapid.IntRange(1, 5).Draw(t, name+".q"))
				if p.Q == 0 {
					p.Q = 1
				}
			}
		}
		// A parameter after a categorical one may depend on it.
		if i > 0 && ps[i-1].Kind == hpo.Categorical && rapid.Bool().Draw(t, name+".conditional") {
			p.When = &hpo.Cond{Param: ps[i-1].Name, Values: []any{ps[i-1].Values[0]}}
		}
		ps = append(ps, p)
	}
	return hpo.Space{Params: ps}
}

func genSettings(t *rapid.T) hpo.Settings {
	s := hpo.Settings{
		Sampler:  rapid.SampledFrom([]string{hpo.SamplerGrid, hpo.SamplerRandom, hpo.SamplerTPE, hpo.SamplerPBT}).Draw(t, "sampler"),
		Mode:     rapid.SampledFrom([]hpo.Mode{hpo.Min, hpo.Max}).Draw(t, "mode"),
		Parallel: rapid.IntRange(1, 4).Draw(t, "parallel"),
		Seed:     rapid.Uint64().Draw(t, "seed"),
	}
	s.Space = genSpace(t, s.Sampler == hpo.SamplerGrid)
	if s.Sampler != hpo.SamplerPBT {
		s.Stopper = rapid.SampledFrom([]string{hpo.StopperNone, hpo.StopperASHA, hpo.StopperHyperband, hpo.StopperMedian}).Draw(t, "stopper")
	}
	s.MaxSteps = rapid.IntRange(0, 27).Draw(t, "max_steps")
	if s.Sampler == hpo.SamplerPBT || s.Stopper == hpo.StopperASHA || s.Stopper == hpo.StopperHyperband {
		s.MaxSteps = rapid.IntRange(1, 27).Draw(t, "max_steps_needed")
	}
	s.ASHA.Promote = rapid.Bool().Draw(t, "promote")
	s.ASHA.MinSteps = rapid.IntRange(1, max(1, s.MaxSteps/3)).Draw(t, "min_steps")
	s.ASHA.Eta = float64(rapid.IntRange(2, 4).Draw(t, "eta"))
	s.MaxTrials = rapid.IntRange(1, 40).Draw(t, "max_trials")
	if rapid.Bool().Draw(t, "budgeted") {
		s.Budget.Steps = int64(rapid.IntRange(1, 400).Draw(t, "budget"))
	}
	s.TPE.NStartupTrials = rapid.IntRange(0, 6).Draw(t, "startup")
	mv := rapid.Bool().Draw(t, "multivariate")
	s.TPE.Multivariate = &mv
	s.PBT.Interval = rapid.IntRange(1, 5).Draw(t, "interval")
	s.Median.StartupTrials = rapid.IntRange(1, 3).Draw(t, "median_startup")
	return s
}

// objective is a fixed pseudo-random function of the configuration and
// the step, with step times between 0.5 and 2.5 seconds.
func objective(cfg hpo.Config, step int) (float64, float64) {
	b, _ := json.Marshal(cfg)
	h := fnv.New64a()
	h.Write(b)
	x := float64(h.Sum64()%1000) / 1000
	return x + 1/float64(step+1), 0.5 + float64((h.Sum64()>>20)%1000)/500
}

func simulate(t *rapid.T, s hpo.Settings, restoreEvery int) hposim.Result {
	e, err := hpo.New(s)
	if err != nil {
		t.Fatalf("settings %+v: %v", s, err)
	}
	res, err := hposim.Run(e, objective, hposim.Options{
		Workers: s.Parallel, TrialSteps: 3, ReplayReports: true, CrashEvery: 3,
		RestoreEvery: restoreEvery, Settings: s, MaxEvents: 200_000,
	})
	if err != nil {
		t.Fatalf("simulate %+v: %v", s, err)
	}
	return res
}

// The invariants of any sweep: it ends; max_trials and the step budget
// are never exceeded; the service is never asked for more trials than it
// has slots, nor to resume a trial from anything but its own checkpoint
// (both checked by hposim); replayed and restarted reports change nothing.
func TestPropertySweepInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSettings(t)
		res := simulate(t, s, 0)
		e := res.Engine
		if !e.Done() {
			t.Fatalf("not finished")
		}
		trials := e.Trials()
		if len(trials) > s.MaxTrials {
			t.Fatalf("%d trials, max_trials %d", len(trials), s.MaxTrials)
		}
		if b := s.Budget.Steps; b > 0 && e.StepsUsed() > b {
			t.Fatalf("steps used %d, budget %d", e.StepsUsed(), b)
		}
		var ran int64
		for _, r := range res.Reports {
			if tr := trials[r.Trial-1]; r.Step > tr.FromStep {
				ran++
			}
		}
		// Each accepted report of a trial that reports every step is one step.
		if ran != e.StepsUsed() {
			t.Fatalf("%d accepted step reports, %d steps counted", ran, e.StepsUsed())
		}
		for _, tr := range trials {
			if tr.State == hpo.Running || tr.State == hpo.Paused {
				t.Fatalf("trial %d left %s after the end", tr.ID, tr.State)
			}
			if s.MaxSteps > 0 && tr.LastStep > s.MaxSteps {
				t.Fatalf("trial %d ran to step %d, past max_steps %d", tr.ID, tr.LastStep, s.MaxSteps)
			}
		}
		if s.Sampler == hpo.SamplerGrid {
			seen := map[string]int{}
			for _, tr := range trials {
				b, _ := json.Marshal(tr.Point)
				if prev, dup := seen[string(b)]; dup {
					t.Fatalf("grid point %s in trials %d and %d", b, prev, tr.ID)
				}
				seen[string(b)] = tr.ID
			}
		}
	})
}

// A searcher restored from a snapshot taken after any event makes exactly
// the decisions the original would have made.
func TestPropertySnapshotRestoreEquivalence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSettings(t)
		every := rapid.IntRange(1, 7).Draw(t, "restore_every")
		plain := simulate(t, s, 0)
		restored := simulate(t, s, every)
		if diff := cmp.Diff(plain.Actions, restored.Actions); diff != "" {
			t.Fatalf("actions differ after %d restores (-plain +restored):\n%s", restored.Restores, diff)
		}
		if diff := cmp.Diff(plain.Reports, restored.Reports); diff != "" {
			t.Fatalf("reports differ (-plain +restored):\n%s", diff)
		}
	})
}

// A grid sweep with room for every point visits each exactly once.
func TestPropertyGridVisitsEveryPointOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := hpo.Settings{Sampler: hpo.SamplerGrid, Space: genSpace(t, true), Parallel: rapid.IntRange(1, 3).Draw(t, "parallel")}
		res := simulate(t, s, 0)
		seen := map[string]bool{}
		for _, tr := range res.Engine.Trials() {
			b, _ := json.Marshal(tr.Point)
			if seen[string(b)] {
				t.Fatalf("duplicate grid point %s", b)
			}
			seen[string(b)] = true
		}
		// Count the grid independently: product over active choices.
		want := countGrid(s.Space, 0, map[string]float64{})
		if len(seen) != want {
			t.Fatalf("visited %d points, the grid has %d", len(seen), want)
		}
	})
}

func countGrid(sp hpo.Space, i int, pt map[string]float64) int {
	if i == len(sp.Params) {
		return 1
	}
	p := sp.Params[i]
	if p.When != nil {
		if v, ok := pt[p.When.Param]; !ok || v != 0 { // conditions name the parent's first value
			return countGrid(sp, i+1, pt)
		}
	}
	var n int
	switch p.Kind {
	case hpo.Const:
		n = 1
	case hpo.Categorical:
		n = len(p.Values)
	case hpo.Int:
		n = int(p.High-p.Low) + 1
	default:
		n = int((p.High-p.Low)/p.Q+1e-9) + 1
	}
	total := 0
	for v := range n {
		pt[p.Name] = float64(v)
		total += countGrid(sp, i+1, pt)
	}
	delete(pt, p.Name)
	return total
}

// Sweeps under the simulated clock: with a time budget the last start
// is before the deadline and nothing runs after it.
func TestPropertyTimeBudget(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSettings(t)
		s.Budget = hpo.Budget{Duration: time.Duration(rapid.IntRange(1, 60).Draw(t, "seconds")) * time.Second}
		res := simulate(t, s, 0)
		for _, r := range res.Reports {
			if r.Time >= s.Budget.Duration {
				t.Fatalf("a report at %v was accepted after the %v budget", r.Time, s.Budget.Duration)
			}
		}
	})
}
