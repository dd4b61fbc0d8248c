package hpo

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"
	"time"
)

// TestTPEIsOptunasTPE replays studies of Optuna's TPESampler
// (testdata/optuna_tpe.json, written by testdata/optuna_tpe.py with the
// Optuna of bench/hpo/requirements.lock at its defaults) through
// trainyard's TPE, fed the random numbers Optuna drew (NumPy's MT19937
// seeded as TPESampler(seed=...) seeds it). Every suggestion after the
// random startup trials must be Optuna's: the same point, to rounding.
// That covers the split into below and above (γ, ties, running trials
// under the constant liar), the weights, the bandwidths, the prior, the
// mixture sampling and the acquisition, for float, log, int, log-int,
// stepped, categorical and conditional parameters, sequential and with 4
// trials in flight. (Startup points are Optuna's RandomSampler's; they are
// taken from the file.)
func TestTPEIsOptunasTPE(t *testing.T) {
	b, err := os.ReadFile("testdata/optuna_tpe.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Optuna string
		Cases  []struct {
			Name   string
			Seed   uint32
			Events []struct {
				Ask   *int
				Tell  *int
				Point Point
				Value float64
			}
		}
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	if m := newMT19937(1); fmt.Sprint(m.Float64(), m.Float64()) != "0.417022004702574 0.7203244934421581" {
		t.Fatal("mt19937 does not draw NumPy's RandomState(1) numbers")
	}
	hartmann := Space{}
	for i := range 6 {
		hartmann.Params = append(hartmann.Params, Param{Name: fmt.Sprintf("x%d", i), Kind: Float, Low: 0, High: 1})
	}
	mixed := Space{Params: []Param{
		{Name: "a", Kind: Float, Low: -5, High: 10},
		{Name: "b", Kind: Float, Low: 1e-5, High: 1e-1, Log: true},
		{Name: "c", Kind: Int, Low: 2, High: 8},
		{Name: "d", Kind: Int, Low: 16, High: 512, Log: true},
		{Name: "e", Kind: Float, Low: 0, High: 1, Q: 0.05},
		{Name: "f", Kind: Categorical, Values: []any{"adam", "sgd", "rmsprop"}},
		{Name: "g", Kind: Float, Low: 0, High: 1, When: &Cond{Param: "f", Values: []any{"sgd"}}},
	}}
	if len(data.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range data.Cases {
		t.Run(fmt.Sprintf("%s/seed=%d", c.Name, c.Seed), func(t *testing.T) {
			sp := hartmann
			if c.Name[:5] == "mixed" {
				sp = mixed
			}
			e, err := New(Settings{Space: sp, Sampler: SamplerTPE, TPE: TPESettings{Optuna: true}, MaxTrials: 1000, Parallel: 4})
			if err != nil {
				t.Fatal(err)
			}
			e.st.Rand = &Rand{alt: newMT19937(c.Seed)}
			now := time.Unix(0, 0)
			compared := 0
			for _, ev := range c.Events {
				if ev.Tell != nil {
					tr := e.trial(*ev.Tell + 1)
					tr.LastStep, tr.Results = 1, []Result{{1, ev.Value}}
					e.end(now, tr, Completed, "")
					continue
				}
				if _, n := e.tpeObservations(); n >= e.set.TPE.NStartupTrials {
					got := e.sampleTPE()
					if d := pointDiff(got, ev.Point); d > 1e-9 {
						t.Fatalf("trial %d: trainyard suggests %v, Optuna %v", *ev.Ask, got, ev.Point)
					}
					compared++
				}
				// Go on from Optuna's point, so that the histories stay equal.
				if tr := e.newTrial(now, ev.Point); tr.ID != *ev.Ask+1 {
					t.Fatalf("trial %d got ID %d", *ev.Ask, tr.ID)
				}
			}
			if compared < 60 {
				t.Fatalf("only %d suggestions compared", compared)
			}
		})
	}
}

// pointDiff is the largest difference between a and b, relative for
// numbers above 1, and +Inf when they have different parameters.
func pointDiff(a, b Point) float64 {
	ka, kb := keys(a), keys(b)
	if fmt.Sprint(ka) != fmt.Sprint(kb) {
		return math.Inf(1)
	}
	d := 0.0
	for k, x := range a {
		d = math.Max(d, math.Abs(x-b[k])/math.Max(1, math.Abs(b[k])))
	}
	return d
}

func keys(p Point) []string {
	var ks []string
	for k := range p {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestTPERunsAreOptunasRuns closes the loop of TestTPEIsOptunasTPE: whole
// runs of 200 trials on Hartmann6 and Branin (testdata/optuna_tpe_runs.json,
// written by testdata/optuna_tpe_runs.py) where trainyard's engine picks
// every point itself, the values come from its own objective, and the only
// thing taken from Optuna is how it sets up its random numbers:
// TPESampler(seed=s) draws its candidates from a RandomState(s) and hands
// the 10 startup trials to a RandomSampler with another RandomState(s).
// Every trial's value must be Optuna's, so on these problems trainyard's
// TPE and Optuna's differ only in the random numbers they are given (the
// default engine draws from one PCG stream per sweep).
func TestTPERunsAreOptunasRuns(t *testing.T) {
	b, err := os.ReadFile("testdata/optuna_tpe_runs.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Optuna string
		Runs   []struct {
			Name   string
			Seed   uint32
			Values []float64
		}
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Runs) == 0 {
		t.Fatal("no runs")
	}
	for _, run := range data.Runs {
		t.Run(fmt.Sprintf("%s/seed=%d", run.Name, run.Seed), func(t *testing.T) {
			var sp Space
			var f func(Point) float64
			switch run.Name {
			case "hartmann6":
				for i := range 6 {
					sp.Params = append(sp.Params, Param{Name: fmt.Sprintf("x%d", i), Kind: Float, Low: 0, High: 1})
				}
				f = testHartmann6
			case "branin":
				sp.Params = []Param{{Name: "x1", Kind: Float, Low: -5, High: 10}, {Name: "x2", Kind: Float, Low: 0, High: 15}}
				f = testBranin
			default:
				t.Fatalf("unknown problem %q", run.Name)
			}
			e, err := New(Settings{Space: sp, Sampler: SamplerTPE, TPE: TPESettings{Optuna: true}, MaxTrials: len(run.Values)})
			if err != nil {
				t.Fatal(err)
			}
			startup, tpe := &Rand{alt: newMT19937(run.Seed)}, &Rand{alt: newMT19937(run.Seed)}
			now := time.Unix(0, 0)
			for i, want := range run.Values {
				var pt Point
				if _, n := e.tpeObservations(); n < e.set.TPE.NStartupTrials {
					pt = sp.SampleRandom(startup)
				} else {
					e.st.Rand = tpe
					pt = e.sampleTPE()
				}
				tr := e.newTrial(now, pt)
				v := f(pt)
				tr.LastStep, tr.Results = 1, []Result{{1, v}}
				e.end(now, tr, Completed, "")
				if math.Abs(v-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Fatalf("trial %d: trainyard's point %v has value %v, Optuna's trial has %v", i, pt, v, want)
				}
			}
		})
	}
}

func testHartmann6(pt Point) float64 {
	alpha := [4]float64{1.0, 1.2, 3.0, 3.2}
	a := [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	p := [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991}, {2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
	s := 0.0
	for i := range 4 {
		in := 0.0
		for j := range 6 {
			d := pt[fmt.Sprintf("x%d", j)] - 1e-4*p[i][j]
			in += a[i][j] * d * d
		}
		s += alpha[i] * math.Exp(-in)
	}
	return -s
}

func testBranin(pt Point) float64 {
	x1, x2 := pt["x1"], pt["x2"]
	d := x2 - 5.1/(4*math.Pi*math.Pi)*x1*x1 + 5/math.Pi*x1 - 6
	return d*d + 10*(1-1/(8*math.Pi))*math.Cos(x1) + 10
}
