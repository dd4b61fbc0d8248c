package hpo

import (
	"math"
	"testing"
)

// The Parzen estimator is a density: it integrates (sums, for discrete
// parameters) to 1 over the parameter's range, and its samples stay in
// range and follow it.
func TestParzenIsADensity(t *testing.T) {
	set := TPESettings{PriorWeight: 1}
	cases := []struct {
		p   Param
		obs []float64
	}{
		{Param{Name: "x", Kind: Float, Low: -5, High: 10}, []float64{-4.9, 0, 0.1, 9.99}},
		{Param{Name: "x", Kind: Float, Low: 1e-5, High: 1, Log: true}, []float64{1e-5, 3e-3, 0.5}},
		{Param{Name: "x", Kind: Float, Low: 0, High: 1, Q: 0.1}, []float64{0, 0.5, 1}},
		{Param{Name: "x", Kind: Int, Low: 1, High: 1024, Log: true}, []float64{1, 2, 700}},
		{Param{Name: "x", Kind: Int, Low: 2, High: 8}, nil},
		{Param{Name: "x", Kind: Categorical, Values: []any{"a", "b", "c"}}, []float64{0, 0, 2}},
	}
	for _, c := range cases {
		p := c.p
		obs := make([][]float64, len(c.obs))
		for i, v := range c.obs {
			obs[i] = []float64{v}
		}
		pz := newParzen([]*Param{&p}, obs, &set)
		total := 0.0
		switch {
		case p.Kind == Categorical:
			for i := range p.Values {
				total += math.Exp(pz.logPDF([]float64{float64(i)}))
			}
		case p.step() > 0:
			vals, _ := gridValues(&p)
			for _, v := range vals {
				total += math.Exp(pz.logPDF([]float64{v}))
			}
		default:
			// midpoint rule in the sampling space
			lo, hi := p.Low, p.High
			if p.Log {
				lo, hi = math.Log(lo), math.Log(hi)
			}
			const n = 200000
			h := (hi - lo) / n
			for i := range n {
				u := lo + (float64(i)+0.5)*h
				x := u
				if p.Log {
					x = math.Exp(u)
				}
				total += math.Exp(pz.logPDF([]float64{x})) * h
			}
		}
		if math.Abs(total-1) > 1e-3 {
			t.Errorf("%+v: integrates to %v", p, total)
		}
		r := NewRand(1)
		for _, s := range pz.sample(r, 2000) {
			x := s[0]
			if p.Kind == Categorical {
				if x != math.Trunc(x) || x < 0 || int(x) >= len(p.Values) {
					t.Fatalf("%+v: sample %v", p, x)
				}
				continue
			}
			if x < p.Low || x > p.High || p.snap(x) != x {
				t.Fatalf("%+v: sample %v off the range or grid", p, x)
			}
		}
	}
}

func TestTruncnormPPF(t *testing.T) {
	for _, c := range [][2]float64{{-1, 1}, {-40, -30}, {30, 40}, {-0.5, 50}, {2, 2.0001}} {
		a, b := c[0], c[1]
		prev := math.Inf(-1)
		for _, q := range []float64{1e-9, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-9} {
			x := truncnormPPF(q, a, b)
			if x < a || x > b || x < prev || math.IsNaN(x) {
				t.Fatalf("ppf(%v; %v, %v) = %v (previous %v)", q, a, b, x, prev)
			}
			prev = x
		}
	}
	// The median of the standard normal truncated symmetrically is 0.
	if x := truncnormPPF(0.5, -2, 2); math.Abs(x) > 1e-8 {
		t.Errorf("median %v", x)
	}
	// Against the closed form: Φ(x) = Φ(a) + q(Φ(b) − Φ(a)).
	a, b, q := -1.0, 2.0, 0.3
	x := truncnormPPF(q, a, b)
	if got, want := ndtr(x), ndtr(a)+q*(ndtr(b)-ndtr(a)); math.Abs(got-want) > 1e-9 {
		t.Errorf("Φ(ppf) = %v, want %v", got, want)
	}
}
