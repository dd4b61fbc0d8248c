package hpo

import (
	"math"
	"sort"
)

// TPE after Optuna's TPESampler (optuna/samplers/_tpe): the observed trials
// are split into the best γ(n) ("below") and the rest ("above"); a Parzen
// estimator — a mixture of truncated normals (numbers, in log space for log
// parameters, discretised for ints and q) or of smoothed one-hot
// distributions (choices), plus a prior component — is built on each, and
// of NEICandidates samples from the "below" estimator the one with the
// highest log l(x) − log g(x) is taken.
//
// Trials rank as Optuna ranks them: completed trials by value, then trials
// cut short (stopped or paused) by the step they reached (further first)
// and their last value; running trials go "above" when the constant liar
// is on, so parallel suggestions spread out.
//
// It is Optuna's TPESampler (5.1, defaults) to the last bit: fed the random
// numbers Optuna draws, it suggests Optuna's points (TestTPEIsOptunasTPE),
// and whole runs are Optuna's runs (TestTPERunsAreOptunasRuns). Its own
// random numbers come from the sweep's one PCG stream, startup trials and
// candidates alike, where Optuna has two MT19937 streams seeded alike; the
// results do not depend on that split (docs/benchmarks.md, Hartmann6).
// The one freedom taken is the order of tied observations (ints, stepped
// floats) when bandwidths are handed out: trainyard's sort is stable,
// NumPy's default argsort is not (and differs between CPUs).

type tpeObs struct {
	t    *Trial
	kind int // 0 completed, 1 cut short, 2 running
	loss float64
}

func (e *Engine) tpeObservations() (obs []tpeObs, n int) {
	liar := *e.set.TPE.ConstantLiar
	for _, t := range e.st.Trials {
		switch {
		case t.State == Completed && len(t.Results) > 0:
			obs = append(obs, tpeObs{t, 0, e.loss(t)})
		case (t.State == Stopped || t.State == Paused) && len(t.Results) > 0:
			obs = append(obs, tpeObs{t, 1, e.loss(t)})
		case t.State == Running && liar:
			obs = append(obs, tpeObs{t, 2, math.Inf(1)})
			continue
		default:
			continue
		}
		n++
	}
	return obs, n
}

func (e *Engine) tpeGamma(n int) int {
	if g := e.set.TPE.Gamma; g != nil {
		return int(math.Ceil(*g * float64(n)))
	}
	return min(int(math.Ceil(0.1*float64(n))), 25) // Optuna's default_gamma
}

// tpeSplit returns the trials below and above, each in trial order.
func (e *Engine) tpeSplit(obs []tpeObs, nBelow int) (below, above []*Trial) {
	var comp, cut []tpeObs
	for _, o := range obs {
		switch o.kind {
		case 0:
			comp = append(comp, o)
		case 1:
			cut = append(cut, o)
		default:
			above = append(above, o.t)
		}
	}
	sort.SliceStable(comp, func(i, j int) bool { return comp[i].loss < comp[j].loss })
	sort.SliceStable(cut, func(i, j int) bool {
		if comp, cj := cut[i].t.LastStep, cut[j].t.LastStep; comp != cj {
			return comp > cj
		}
		return cut[i].loss < cut[j].loss
	})
	for _, o := range append(comp, cut...) {
		if nBelow > 0 {
			below = append(below, o.t)
			nBelow--
		} else {
			above = append(above, o.t)
		}
	}
	byID := func(s []*Trial) { sort.Slice(s, func(i, j int) bool { return s[i].ID < s[j].ID }) }
	byID(below)
	byID(above)
	return below, above
}

// sampleTPE suggests a point; random until NStartupTrials trials have a
// result.
func (e *Engine) sampleTPE() Point {
	obs, n := e.tpeObservations()
	if n < e.set.TPE.NStartupTrials {
		return e.set.Space.SampleRandom(e.st.Rand)
	}
	below, above := e.tpeSplit(obs, e.tpeGamma(n))
	sp := &e.set.Space
	pt := Point{}
	if *e.set.TPE.Multivariate {
		var group []*Param
		for i := range sp.Params {
			if p := &sp.Params[i]; p.When == nil && !fixed(p) {
				group = append(group, p)
			}
		}
		if len(group) > 0 {
			for i, x := range e.tpeSampleGroup(group, below, above) {
				pt[group[i].Name] = x
			}
		}
	}
	for i := range sp.Params {
		p := &sp.Params[i]
		if _, done := pt[p.Name]; done || !sp.active(pt, p) {
			continue
		}
		if fixed(p) {
			pt[p.Name] = p.samplePrior(e.st.Rand)
			continue
		}
		pt[p.Name] = e.tpeSampleGroup([]*Param{p}, below, above)[0]
	}
	return pt
}

// fixed reports whether p has a single value (a const, a single choice,
// an empty range), which TPE need not model.
func fixed(p *Param) bool {
	return p.Kind == Const || (p.Kind == Categorical && len(p.Values) == 1) || (p.numeric() && p.Low == p.High)
}

// tpeSampleGroup samples the parameters of group jointly from the trials
// that have all of them.
func (e *Engine) tpeSampleGroup(group []*Param, below, above []*Trial) []float64 {
	obsOf := func(ts []*Trial) [][]float64 {
		var out [][]float64
		for _, t := range ts {
			row := make([]float64, len(group))
			ok := true
			for i, p := range group {
				v, has := t.Point[p.Name]
				if !has {
					ok = false
					break
				}
				row[i] = v
			}
			if ok {
				out = append(out, row)
			}
		}
		return out
	}
	l := newParzen(group, obsOf(below), &e.set.TPE)
	g := newParzen(group, obsOf(above), &e.set.TPE)
	cands := l.sample(e.st.Rand, e.set.TPE.NEICandidates)
	best, bestScore := 0, math.Inf(-1)
	for i, c := range cands {
		if s := l.logPDF(c) - g.logPDF(c); s > bestScore {
			best, bestScore = i, s
		}
	}
	return cands[best]
}

// parzen is a mixture of products: component k has weight weights[k] and
// the per-dimension kernels dims[d] at index k. The last component is the
// prior.
type parzen struct {
	weights []float64
	dims    []kernel
}

type kernel struct {
	p      *Param
	cat    [][]float64 // categorical: [component][choice] probabilities
	mu     []float64   // numeric, in transformed (log for log parameters) space
	sigma  []float64
	lo, hi float64 // transformed bounds, widened by step/2 for discrete ones
}

// tpeWeights is Optuna's default_weights: flat below 25 observations, then
// a ramp that discounts the oldest.
func tpeWeights(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n >= 25 {
		m := n - 25
		for i := 0; i < m; i++ {
			if m == 1 {
				w[i] = 1.0 / float64(n)
			} else {
				w[i] = 1.0/float64(n) + (1-1.0/float64(n))*float64(i)/float64(m-1)
			}
		}
	}
	return w
}

func newParzen(group []*Param, obs [][]float64, set *TPESettings) *parzen {
	n := len(obs)
	w := append(tpeWeights(n), set.PriorWeight)
	if n == 0 {
		w = []float64{1}
	}
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	for i := range w {
		w[i] /= sum
	}
	pz := &parzen{weights: w}
	for d, p := range group {
		col := make([]float64, n)
		for i := range obs {
			col[i] = obs[i][d]
		}
		pz.dims = append(pz.dims, newKernel(p, col, set))
	}
	return pz
}

func newKernel(p *Param, col []float64, set *TPESettings) kernel {
	k := kernel{p: p}
	n := len(col)
	if p.Kind == Categorical {
		c := len(p.Values)
		if n == 0 {
			row := make([]float64, c)
			for j := range row {
				row[j] = 1 / float64(c)
			}
			k.cat = [][]float64{row}
			return k
		}
		nk := float64(n + 1)
		for i := 0; i <= n; i++ {
			row := make([]float64, c)
			for j := range row {
				row[j] = set.PriorWeight / nk
			}
			if i < n {
				row[int(col[i])]++
			}
			s := 0.0
			for _, x := range row {
				s += x
			}
			for j := range row {
				row[j] /= s
			}
			k.cat = append(k.cat, row)
		}
		return k
	}
	lo, hi := p.Low, p.High
	if st := p.step(); st > 0 {
		lo, hi = lo-st/2, hi+st/2
	}
	mus := make([]float64, n)
	copy(mus, col)
	if p.Log {
		lo = math.Log(math.Max(lo, p.Low/2))
		hi = math.Log(hi)
		for i := range mus {
			mus[i] = math.Log(mus[i])
		}
	}
	k.lo, k.hi = lo, hi
	// Bandwidths: the larger gap to a neighbour (the bounds as outer
	// neighbours), the outermost ones using the inner gap unless
	// ConsiderEndpoints, clipped to [(hi-lo)/min(100, n+2), hi-lo].
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return mus[idx[a]] < mus[idx[b]] })
	ext := make([]float64, n+2)
	ext[0], ext[n+1] = lo, hi
	for i, j := range idx {
		ext[i+1] = mus[j]
	}
	sig := make([]float64, n)
	for i := 0; i < n; i++ {
		sig[i] = math.Max(ext[i+1]-ext[i], ext[i+2]-ext[i+1])
	}
	if !set.ConsiderEndpoints && n+2 >= 4 {
		sig[0] = ext[2] - ext[1]
		sig[n-1] = ext[n] - ext[n-1]
	}
	maxS := hi - lo
	minS := 1e-12
	if !set.NoMagicClip {
		minS = (hi - lo) / math.Min(100, 1+float64(n+1))
	}
	k.mu = make([]float64, n+1)
	k.sigma = make([]float64, n+1)
	for i, j := range idx {
		k.mu[j] = mus[j]
		k.sigma[j] = math.Max(minS, math.Min(maxS, sig[i]))
	}
	k.mu[n], k.sigma[n] = 0.5*(lo+hi), hi-lo
	return k
}

// sample draws n points (internal values) from the mixture, consuming
// random numbers in the order Optuna's _MixtureOfProductDistribution.sample
// does: the n component choices, then n draws for each categorical
// dimension, then n truncated-normal quantiles for each numeric dimension.
// With Optuna's random numbers it draws Optuna's points.
func (pz *parzen) sample(r *Rand, n int) [][]float64 {
	comp := make([]int, n)
	for i := range comp {
		comp[i] = pick(pz.weights, r.Float64())
	}
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, len(pz.dims))
	}
	for _, numeric := range []bool{false, true} {
		for d := range pz.dims {
			k := &pz.dims[d]
			if (k.cat == nil) != numeric {
				continue
			}
			for i := range out {
				out[i][d] = k.sample(r.Float64(), comp[i])
			}
		}
	}
	return out
}

// pick returns the index j of the first cumulative weight above u (the
// last one when rounding leaves u above them all).
func pick(w []float64, u float64) int {
	acc := 0.0
	for j, x := range w {
		acc += x
		if u < acc {
			return j
		}
	}
	return len(w) - 1
}

// sample returns the value of component c at quantile u.
func (k *kernel) sample(u float64, c int) float64 {
	if k.cat != nil {
		return float64(pick(k.cat[min(c, len(k.cat)-1)], u))
	}
	mu, s := k.mu[c], k.sigma[c]
	x := truncnormPPF(u, (k.lo-mu)/s, (k.hi-mu)/s)*s + mu
	if k.p.Log {
		x = math.Exp(x)
	}
	return k.p.snap(x)
}

// logPDF is the mixture's log density at x.
func (pz *parzen) logPDF(x []float64) float64 {
	acc := math.Inf(-1)
	for c, w := range pz.weights {
		l := math.Log(w)
		for d := range pz.dims {
			l += pz.dims[d].logPDF(x[d], c)
		}
		acc = logAddExp(acc, l)
	}
	return acc
}

func (k *kernel) logPDF(x float64, c int) float64 {
	if k.cat != nil {
		return math.Log(k.cat[min(c, len(k.cat)-1)][int(x)])
	}
	mu, s := k.mu[c], k.sigma[c]
	st := k.p.step()
	if st == 0 {
		if k.p.Log {
			x = math.Log(x)
		}
		return truncnormLogPDF(x, mu, s, k.lo, k.hi)
	}
	left, right := x-st/2, x+st/2
	if k.p.Log {
		left, right = math.Log(math.Max(left, math.Exp(k.lo))), math.Log(right)
	}
	return logGaussMass((left-mu)/s, (right-mu)/s) - logGaussMass((k.lo-mu)/s, (k.hi-mu)/s)
}
