package main

import (
	"sort"
	"testing"
)

// A small version of the black-box benchmark, so the driver does not rot:
// Branin, a few seeds, no Python. TPE's median regret after 40 trials
// must be below random search's.
func TestBlackBoxSmoke(t *testing.T) {
	med := func(algo string) float64 {
		var at []float64
		for seed := uint64(1); seed <= 5; seed++ {
			rec, err := BlackBox("branin", algo, seed, 40)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i < len(rec.Regret); i++ {
				if rec.Regret[i] > rec.Regret[i-1] || rec.Regret[i] < 0 {
					t.Fatalf("%s seed %d: regret curve not a non-increasing, non-negative best-so-far: %v", algo, seed, rec.Regret)
				}
			}
			at = append(at, rec.Regret[39])
		}
		sort.Float64s(at)
		return at[2]
	}
	r, tp := med("random"), med("tpe")
	t.Logf("median regret after 40 trials: random %.4f, tpe %.4f", r, tp)
	if !(tp < r) {
		t.Errorf("TPE %.4f not below random %.4f", tp, r)
	}
}

// The multi-fidelity driver on MFHartmann6 (pure Go): the budget is
// respected and stopping-based ASHA finds an incumbent with it.
func TestMultiFidelitySmoke(t *testing.T) {
	for _, algo := range []string{"random", "asha", "asha-promote", "hyperband", "pbt"} {
		rec, err := MultiFidelity("mfhartmann6", algo, 1, 10, 4, 0, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		if rec.Steps > rec.Budget {
			t.Errorf("%s: used %d steps of a budget of %d", algo, rec.Steps, rec.Budget)
		}
		if len(rec.Curve) == 0 {
			t.Errorf("%s: no trial reached max_steps", algo)
		}
		for _, c := range rec.Curve {
			if c[0] > float64(rec.Budget) {
				t.Errorf("%s: incumbent at %v steps, past the budget", algo, c[0])
			}
		}
	}
}
