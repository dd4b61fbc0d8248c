package hpo_test

import (
	"math"
	"sort"
	"testing"

	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/hpo/hposim"
)

func braninSettings(sampler string, trials int, seed uint64) hpo.Settings {
	return hpo.Settings{
		Space: hpo.Space{Params: []hpo.Param{
			{Name: "x1", Kind: hpo.Float, Low: -5, High: 10},
			{Name: "x2", Kind: hpo.Float, Low: 0, High: 15},
		}},
		Sampler: sampler, MaxTrials: trials, MaxSteps: 1, Seed: seed,
	}
}

func braninObjective(cfg hpo.Config, step int) (float64, float64) {
	return hposim.Branin(cfg["x1"].(float64), cfg["x2"].(float64)), 1
}

func bestOf(t *testing.T, res hposim.Result) float64 {
	t.Helper()
	best := math.Inf(1)
	for _, r := range res.Reports {
		best = math.Min(best, r.Value)
	}
	return best
}

// TPE finds a better Branin point than random search with the same
// budget, in the median over seeds.
func TestTPEBeatsRandomOnBranin(t *testing.T) {
	var rnd, tpe []float64
	for seed := uint64(1); seed <= 9; seed++ {
		for _, s := range []string{hpo.SamplerRandom, hpo.SamplerTPE} {
			set := braninSettings(s, 60, seed)
			e, err := hpo.New(set)
			if err != nil {
				t.Fatal(err)
			}
			res, err := hposim.Run(e, braninObjective, hposim.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(res.Engine.Trials()); n != 60 {
				t.Fatalf("%s: %d trials, want 60", s, n)
			}
			r := bestOf(t, res) - hposim.BraninMin
			if s == hpo.SamplerTPE {
				tpe = append(tpe, r)
			} else {
				rnd = append(rnd, r)
			}
		}
	}
	sort.Float64s(rnd)
	sort.Float64s(tpe)
	t.Logf("median regret: random %.4f, tpe %.4f", rnd[4], tpe[4])
	if !(tpe[4] < rnd[4]) {
		t.Errorf("median regret of TPE %.4f is not below random's %.4f", tpe[4], rnd[4])
	}
}
