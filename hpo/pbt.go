package hpo

import (
	"fmt"
	"math"
	"sort"
)

// medianJudge stops t when the best value it has reported so far is worse
// than the median of the completed trials' values at the same step, as
// Optuna's MedianPruner: only after StartupTrials trials completed, from
// WarmupSteps on, and when at least MinTrials completed trials reported
// that step.
func (e *Engine) medianJudge(t *Trial) (Action, bool) {
	m := e.set.Median
	if t.LastStep < m.WarmupSteps {
		return Action{}, false
	}
	var others []float64
	completed := 0
	for _, o := range e.st.Trials {
		if o.State != Completed || o.ID == t.ID {
			continue
		}
		completed++
		i := sort.Search(len(o.Results), func(i int) bool { return o.Results[i].Step >= t.LastStep })
		if i < len(o.Results) && o.Results[i].Step == t.LastStep {
			others = append(others, e.lossOf(o.Results[i].Value))
		}
	}
	if completed < m.StartupTrials || len(others) < m.MinTrials {
		return Action{}, false
	}
	best := math.Inf(1)
	for _, r := range t.Results {
		best = math.Min(best, e.lossOf(r.Value))
	}
	sort.Float64s(others)
	n := len(others)
	med := others[n/2]
	if n%2 == 0 {
		med = (others[n/2-1] + others[n/2]) / 2
	}
	if !(best > med) {
		return Action{}, false
	}
	t.State = Stopped
	t.Reason = fmt.Sprintf("median: best so far is worse than the median of %d completed trials at step %d", n, t.LastStep)
	return Action{Kind: Stop, Trial: t.ID, Reason: t.Reason}, true
}

// pbtExploit is PBT's exploit step (Jaderberg et al. 2017, truncation
// selection), checked every Interval steps of a trial: when t is in the
// bottom Quantile of the population, it is stopped and a new trial is
// queued in its slot that starts from the checkpoint of a trial drawn from
// the top Quantile, with that trial's configuration explored: each
// parameter resampled from the prior with ResampleProbability, else
// multiplied by one of PerturbFactors (numbers) or moved to a neighbouring
// choice (categorical).
func (e *Engine) pbtExploit(t *Trial) (Action, bool) {
	p := e.set.PBT
	if t.LastStep-t.Checked < p.Interval {
		return Action{}, false
	}
	t.Checked = t.LastStep
	ranked := e.pbtMembers()
	n := len(ranked)
	k := int(math.Ceil(float64(n) * p.Quantile))
	if k > n/2 {
		k = n / 2
	}
	if k < 1 {
		return Action{}, false
	}
	inBottom := false
	for _, o := range ranked[n-k:] {
		if o.ID == t.ID {
			inBottom = true
		}
	}
	if !inBottom || (e.set.MaxTrials > 0 && len(e.st.Trials)+len(e.st.Queue) >= e.set.MaxTrials) {
		return Action{}, false
	}
	// A source must have steps left to run: a copy of a complete trial
	// would start at the end.
	var tops []*Trial
	for _, o := range ranked[:k] {
		if o.LastStep < e.set.MaxSteps {
			tops = append(tops, o)
		}
	}
	if len(tops) == 0 {
		return Action{}, false
	}
	src := tops[e.st.Rand.IntN(len(tops))]
	pt := e.explore(src.Point)
	t.State = Stopped
	t.Reason = fmt.Sprintf("pbt: in the bottom %g at step %d; replaced by a copy of trial %d", p.Quantile, t.LastStep, src.ID)
	e.st.Queue = append(e.st.Queue, queued{Point: pt, From: src.ID, FromStep: src.LastStep, Slot: t.Slot,
		Reason: fmt.Sprintf("pbt: exploit trial %d at step %d, explore", src.ID, src.LastStep)})
	return Action{Kind: Stop, Trial: t.ID, Reason: t.Reason}, true
}

// pbtMembers returns the current trial of each population slot that has a
// result, best first.
func (e *Engine) pbtMembers() []*Trial {
	cur := map[int]*Trial{}
	for _, t := range e.st.Trials {
		cur[t.Slot] = t // later trials replace earlier ones in a slot
	}
	var out []*Trial
	for _, t := range e.st.Trials {
		if cur[t.Slot] == t && (t.State == Running || t.State == Completed) && len(t.Results) > 0 {
			out = append(out, t)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		li, lj := e.loss(out[i]), e.loss(out[j])
		if li != lj {
			return li < lj
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// explore perturbs a configuration for PBT.
func (e *Engine) explore(src Point) Point {
	p := e.set.PBT
	r := e.st.Rand
	out := Point{}
	for i := range e.set.Space.Params {
		par := &e.set.Space.Params[i]
		if !e.set.Space.active(out, par) {
			continue
		}
		old, had := src[par.Name]
		if !had || r.Float64() < *p.ResampleProbability {
			out[par.Name] = par.samplePrior(r)
			continue
		}
		switch par.Kind {
		case Const:
			out[par.Name] = 0
		case Categorical:
			d := 1
			if r.IntN(2) == 0 {
				d = -1
			}
			out[par.Name] = math.Max(0, math.Min(float64(len(par.Values)-1), old+float64(d)))
		default:
			f := p.PerturbFactors[r.IntN(len(p.PerturbFactors))]
			x := par.snap(old * f)
			if par.Kind == Int && x == old && f != 1 {
				x = par.snap(old + math.Copysign(1, f-1)) // an int must move
			}
			out[par.Name] = x
		}
	}
	return out
}
