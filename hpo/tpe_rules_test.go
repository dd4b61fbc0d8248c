package hpo

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// Hand-worked checks of the rules trainyard's TPE shares with Optuna 5's
// TPESampler defaults. The expected numbers below are worked out from the
// rules themselves (written out in each case), not taken from a run.

func TestTPEGammaSplitSizes(t *testing.T) {
	gammas := func(set TPESettings) func(int) int {
		e, err := New(Settings{Space: Space{Params: []Param{{Name: "x", Kind: Float, Low: 0, High: 1}}}, Sampler: SamplerTPE, TPE: set, MaxTrials: 100})
		if err != nil {
			t.Fatal(err)
		}
		return e.tpeGamma
	}
	g := 0.25
	for _, tc := range []struct {
		name  string
		set   TPESettings
		cases []struct{ n, want int }
	}{
		// trainyard's default γ(n) = ⌈0.15·n⌉, no cap.
		{"default", TPESettings{}, []struct{ n, want int }{
			{0, 0}, {1, 1}, {6, 1}, {7, 2}, {10, 2}, {20, 3}, {21, 4}, {100, 15}, {101, 16}, {200, 30}, {1000, 150}}},
		// Optuna's default_gamma: min(⌈0.1·n⌉, 25).
		{"optuna", TPESettings{Optuna: true}, []struct{ n, want int }{
			{0, 0}, {1, 1}, {10, 1}, {11, 2}, {19, 2}, {20, 2}, {21, 3}, {100, 10}, {101, 11}, {240, 24}, {241, 25}, {250, 25}, {1000, 25}}},
		// A fraction given in the settings is ⌈γ·n⌉, with no cap, Optuna's or not.
		{"0.25", TPESettings{Gamma: &g}, []struct{ n, want int }{{10, 3}, {12, 3}, {13, 4}, {1000, 250}}},
		{"0.25 optuna", TPESettings{Gamma: &g, Optuna: true}, []struct{ n, want int }{{10, 3}, {1000, 250}}},
	} {
		gamma := gammas(tc.set)
		for _, c := range tc.cases {
			if got := gamma(c.n); got != c.want {
				t.Errorf("%s: γ(%d) = %d, want %d", tc.name, c.n, got, c.want)
			}
		}
	}
}

// TestTPECandidatesDefault: 48 candidates by default, Optuna's 24 with
// optuna_defaults, and a number given always wins.
func TestTPECandidatesDefault(t *testing.T) {
	for _, c := range []struct {
		set  TPESettings
		want int
	}{{TPESettings{}, 48}, {TPESettings{Optuna: true}, 24}, {TPESettings{NEICandidates: 7}, 7}, {TPESettings{NEICandidates: 7, Optuna: true}, 7}} {
		e, err := New(Settings{Space: Space{Params: []Param{{Name: "x", Kind: Float, Low: 0, High: 1}}}, Sampler: SamplerTPE, TPE: c.set, MaxTrials: 100})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.set.TPE.NEICandidates; got != c.want {
			t.Errorf("%+v: %d candidates, want %d", c.set, got, c.want)
		}
	}
}

// TestTPESplitRanksTrials: completed trials by value first, then trials cut
// short by the step they reached (further is better) and their last value;
// running trials (constant liar) always above and not counted in n;
// failed trials nowhere. Both halves come back in trial order.
func TestTPESplitRanksTrials(t *testing.T) {
	e, err := New(Settings{Space: Space{Params: []Param{{Name: "x", Kind: Float, Low: 0, High: 1}}}, Sampler: SamplerTPE, MaxSteps: 10, MaxTrials: 100})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	add := func(state TrialState, step int, v float64) {
		tr := e.newTrial(now, Point{"x": 0.5})
		if step > 0 {
			tr.LastStep, tr.Results = step, []Result{{step, v}}
		}
		if state != Running {
			e.end(now, tr, state, "")
		}
	}
	add(Completed, 10, 5)  // 1
	add(Stopped, 3, 0.1)   // 2: cut at step 3
	add(Completed, 10, 2)  // 3
	add(Running, 0, 0)     // 4
	add(Stopped, 7, 9)     // 5: cut at step 7, ranks before 2
	add(Failed, 4, -100)   // 6
	add(Completed, 10, 3)  // 7
	add(Paused, 7, 1)      // 8: step 7 as well, better value than 5
	add(Completed, 10, 40) // 9

	obs, n := e.tpeObservations()
	if n != 7 {
		t.Fatalf("n = %d, want 7 (4 completed, 3 cut short; the running and the failed do not count)", n)
	}
	// Order: completed 3 (2), 7 (3), 1 (5), 9 (40); then cut 8 (step 7, 1), 5 (step 7, 9), 2 (step 3).
	for _, c := range []struct {
		below int
		want  string
	}{
		{0, "[] [1 2 3 4 5 7 8 9]"},
		{1, "[3] [1 2 4 5 7 8 9]"},
		{3, "[1 3 7] [2 4 5 8 9]"},
		{5, "[1 3 7 8 9] [2 4 5]"},
		{6, "[1 3 5 7 8 9] [2 4]"},
		{7, "[1 2 3 5 7 8 9] [4]"},
	} {
		below, above := e.tpeSplit(obs, c.below)
		if got := fmt.Sprint(ids(below), " ", ids(above)); got != c.want {
			t.Errorf("%d below: %s, want %s", c.below, got, c.want)
		}
	}
}

func ids(ts []*Trial) []int {
	out := []int{}
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

// TestTPEWeights: Optuna's default_weights — 1 for each of up to 25
// observations; beyond that the oldest n−25 get a ramp from 1/n to 1.
func TestTPEWeights(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []float64 // the first len(want) weights; the rest are 1
	}{
		{0, nil},
		{1, []float64{1}},
		{24, []float64{1, 1}},
		{25, []float64{1, 1}},
		{26, []float64{1.0 / 26, 1}},
		// n = 30: linspace(1/30, 1, 5), step (1 − 1/30)/4 = 29/120.
		{30, []float64{1.0 / 30, 1.0/30 + 29.0/120, 1.0/30 + 58.0/120, 1.0/30 + 87.0/120, 1, 1}},
	} {
		w := tpeWeights(c.n)
		if len(w) != c.n {
			t.Fatalf("n=%d: %d weights", c.n, len(w))
		}
		for i, x := range w {
			want := 1.0
			if i < len(c.want) {
				want = c.want[i]
			}
			if math.Abs(x-want) > 1e-12 {
				t.Errorf("n=%d: weight %d is %v, want %v", c.n, i, x, want)
			}
		}
	}
	// In the estimator the weights and the prior's (prior_weight) are
	// normalised together: 4 observations and prior weight 1 give 1/5 each.
	p := Param{Name: "x", Kind: Float, Low: 0, High: 10}
	pz := newParzen([]*Param{&p}, [][]float64{{1}, {2}, {6}, {9}}, &TPESettings{PriorWeight: 1})
	for i, w := range pz.weights {
		if math.Abs(w-0.2) > 1e-15 {
			t.Errorf("mixture weight %d is %v, want 0.2", i, w)
		}
	}
	pz = newParzen([]*Param{&p}, [][]float64{{1}, {2}}, &TPESettings{PriorWeight: 2})
	if got := fmt.Sprintf("%.4f", pz.weights); got != "[0.2500 0.2500 0.5000]" {
		t.Errorf("prior weight 2: mixture weights %s", got)
	}
}

// TestTPEBandwidths works the kernels' μ and σ out by hand. σ of an
// observation is the larger gap to its sorted neighbours, the range's ends
// counting as neighbours; without consider_endpoints the outermost two use
// the gap on their inner side instead; then σ is clipped to
// [(hi−lo)/min(100, n+2), hi−lo] (magic clip). The prior is a last kernel
// at the middle with σ = hi − lo. Log parameters work in log space, ints
// and stepped floats on a range widened by step/2 at each end.
func TestTPEBandwidths(t *testing.T) {
	ln := math.Log
	cases := []struct {
		name      string
		p         Param
		set       TPESettings
		obs       []float64
		mu, sigma []float64 // observations in their given order, then the prior
		lo, hi    float64
	}{
		{
			// sorted 1 2 6 9 in [0, 10]; raw gaps max(1,1)=1, max(1,4)=4,
			// max(4,3)=4, max(3,1)=3; ends: 2−1 = 1 and 9−6 = 3; clip below
			// at 10/6.
			name: "float", p: Param{Kind: Float, Low: 0, High: 10}, set: TPESettings{PriorWeight: 1},
			obs: []float64{6, 1, 9, 2}, mu: []float64{6, 1, 9, 2, 5}, sigma: []float64{4, 10.0 / 6, 3, 4, 10}, lo: 0, hi: 10,
		},
		{
			// sorted 3 4 6 7: raw max(3,1)=3, max(1,2)=2, max(2,1)=2,
			// max(1,3)=3; the ends take the inner gaps 1 and 1, clipped up
			// to 10/6.
			name: "float ends", p: Param{Kind: Float, Low: 0, High: 10}, set: TPESettings{PriorWeight: 1},
			obs: []float64{6, 3, 7, 4}, mu: []float64{6, 3, 7, 4, 5}, sigma: []float64{2, 10.0 / 6, 10.0 / 6, 2, 10}, lo: 0, hi: 10,
		},
		{
			// consider_endpoints: the ends keep their raw 3 and 3.
			name: "float consider endpoints", p: Param{Kind: Float, Low: 0, High: 10}, set: TPESettings{PriorWeight: 1, ConsiderEndpoints: true},
			obs: []float64{6, 3, 7, 4}, mu: []float64{6, 3, 7, 4, 5}, sigma: []float64{2, 3, 3, 2, 10}, lo: 0, hi: 10,
		},
		{
			// Without the magic clip the inner gaps 1 stay.
			name: "float no clip", p: Param{Kind: Float, Low: 0, High: 10}, set: TPESettings{PriorWeight: 1, NoMagicClip: true},
			obs: []float64{6, 3, 7, 4}, mu: []float64{6, 3, 7, 4, 5}, sigma: []float64{2, 1, 1, 2, 10}, lo: 0, hi: 10,
		},
		{
			// One observation: gaps 7 to the left, 3 to the right: σ = 7
			// (fewer than 2 observations: no end rule).
			name: "float single", p: Param{Kind: Float, Low: 0, High: 10}, set: TPESettings{PriorWeight: 1},
			obs: []float64{7}, mu: []float64{7, 5}, sigma: []float64{7, 10}, lo: 0, hi: 10,
		},
		{
			// log space: [ln 1e-3, 0], observations ln 0.01 and ln 0.1; both
			// ends take the inner gap ln 10; the clip is ln(1000)/4 < ln 10.
			name: "log", p: Param{Kind: Float, Low: 1e-3, High: 1, Log: true}, set: TPESettings{PriorWeight: 1},
			obs: []float64{0.1, 0.01}, mu: []float64{ln(0.1), ln(0.01), ln(1e-3) / 2}, sigma: []float64{ln(10), ln(10), -ln(1e-3)},
			lo: ln(1e-3), hi: 0,
		},
		{
			// int 1..5 → [0.5, 5.5]; 2 and 3: ends take the inner gap 1,
			// clipped up to 5/4.
			name: "int", p: Param{Kind: Int, Low: 1, High: 5}, set: TPESettings{PriorWeight: 1},
			obs: []float64{3, 2}, mu: []float64{3, 2, 3}, sigma: []float64{1.25, 1.25, 5}, lo: 0.5, hi: 5.5,
		},
		{
			// int 1..5 with 3 alone: max(2.5, 2.5).
			name: "int single", p: Param{Kind: Int, Low: 1, High: 5}, set: TPESettings{PriorWeight: 1},
			obs: []float64{3}, mu: []float64{3, 3}, sigma: []float64{2.5, 5}, lo: 0.5, hi: 5.5,
		},
		{
			// log int 16..512 → [ln 15.5, ln 512.5]; observations 32, 64, 128:
			// gaps in log space ln(32/15.5), ln 2, ln 2, ln(512.5/128);
			// 32 and 128 take ln 2 (inner), 64 max(ln 2, ln 2) = ln 2;
			// clip ln(512.5/15.5)/5 = 0.6997 > ln 2 = 0.6931.
			name: "log int", p: Param{Kind: Int, Low: 16, High: 512, Log: true}, set: TPESettings{PriorWeight: 1},
			obs:   []float64{64, 32, 128},
			mu:    []float64{ln(64), ln(32), ln(128), (ln(15.5) + ln(512.5)) / 2},
			sigma: []float64{ln(512.5/15.5) / 5, ln(512.5/15.5) / 5, ln(512.5/15.5) / 5, ln(512.5 / 15.5)},
			lo:    ln(15.5), hi: ln(512.5),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			p.Name = "x"
			k := newKernel(&p, c.obs, &c.set)
			if math.Abs(k.lo-c.lo) > 1e-12 || math.Abs(k.hi-c.hi) > 1e-12 {
				t.Errorf("range [%v, %v], want [%v, %v]", k.lo, k.hi, c.lo, c.hi)
			}
			if len(k.mu) != len(c.mu) || len(k.sigma) != len(c.sigma) {
				t.Fatalf("%d kernels, want %d", len(k.mu), len(c.mu))
			}
			for i := range c.mu {
				if math.Abs(k.mu[i]-c.mu[i]) > 1e-12 || math.Abs(k.sigma[i]-c.sigma[i]) > 1e-12 {
					t.Errorf("kernel %d: μ %v σ %v, want μ %v σ %v", i, k.mu[i], k.sigma[i], c.mu[i], c.sigma[i])
				}
			}
		})
	}
}

// TestTPECategoricalKernels: each observed choice gets 1 plus
// prior_weight/(n+1) on every choice, normalised; the prior row is flat.
func TestTPECategoricalKernels(t *testing.T) {
	p := Param{Name: "c", Kind: Categorical, Values: []any{"a", "b", "c"}}
	k := newKernel(&p, []float64{0, 2}, &TPESettings{PriorWeight: 1})
	// n = 2: 1/3 on each choice, +1 on the observed one: row sum 2.
	want := [][]float64{{2.0 / 3, 1.0 / 6, 1.0 / 6}, {1.0 / 6, 1.0 / 6, 2.0 / 3}, {1.0 / 3, 1.0 / 3, 1.0 / 3}}
	if got, w := fmt.Sprintf("%.6f", k.cat), fmt.Sprintf("%.6f", want); got != w {
		t.Errorf("rows %s, want %s", got, w)
	}
}

// TestTPEPicksTheBestRatio: of the NEICandidates samples drawn from the
// "below" estimator l, the suggestion is the one with the largest
// log l(x) − log g(x). The candidates are redrawn here from the same seed
// and scored with the estimators' own densities.
func TestTPEPicksTheBestRatio(t *testing.T) {
	sp := Space{Params: []Param{{Name: "x", Kind: Float, Low: 0, High: 1}, {Name: "y", Kind: Float, Low: 0, High: 1}}}
	e, err := New(Settings{Space: sp, Sampler: SamplerTPE, MaxTrials: 100})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	r := NewRand(11)
	for range 30 {
		pt := sp.SampleRandom(r)
		tr := e.newTrial(now, pt)
		tr.LastStep, tr.Results = 1, []Result{{1, math.Hypot(pt["x"]-0.2, pt["y"]-0.7)}}
		e.end(now, tr, Completed, "")
	}
	obs, n := e.tpeObservations()
	below, above := e.tpeSplit(obs, e.tpeGamma(n))
	if len(below) != 5 || len(above) != 25 { // ⌈0.15·30⌉ = 5
		t.Fatalf("split %d/%d, want 5/25", len(below), len(above))
	}
	group := []*Param{&e.set.Space.Params[0], &e.set.Space.Params[1]}
	rows := func(ts []*Trial) [][]float64 {
		var out [][]float64
		for _, t := range ts {
			out = append(out, []float64{t.Point["x"], t.Point["y"]})
		}
		return out
	}
	for seed := range uint64(20) {
		l, g := newParzen(group, rows(below), &e.set.TPE), newParzen(group, rows(above), &e.set.TPE)
		cands := l.sample(NewRand(seed), DefaultTPECandidates)
		if len(cands) != DefaultTPECandidates {
			t.Fatalf("%d candidates, want %d", len(cands), DefaultTPECandidates)
		}
		best, second := math.Inf(-1), math.Inf(-1)
		var want []float64
		for _, c := range cands {
			s := l.logPDF(c) - g.logPDF(c)
			if s > best {
				best, second, want = s, best, c
			} else if s > second {
				second = s
			}
		}
		if best == second {
			t.Fatalf("seed %d: a tie for the best candidate", seed)
		}
		e.st.Rand = NewRand(seed)
		got := e.tpeSampleGroup(group, below, above)
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("seed %d: suggests %v, the best ratio is at %v", seed, got, want)
		}
	}
}
