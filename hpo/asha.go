package hpo

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// bracket is one successive-halving bracket: ASHA has one, Hyperband one
// per row of its table. Rungs are at MinSteps·η^k below max_steps; reaching
// max_steps completes a trial.
type bracket struct {
	MinSteps int    `json:"min_steps"`
	N        int    `json:"n"` // trials assigned to it per round (Hyperband)
	Rungs    []rung `json:"rungs"`
}

type rung struct {
	Milestone int     `json:"at"`
	Entries   []entry `json:"entries,omitempty"`
}

type entry struct {
	Trial    int  `json:"t"`
	Loss     num  `json:"l"`
	Promoted bool `json:"p,omitempty"`
}

func newBrackets(s *Settings) []bracket {
	switch s.Stopper {
	case StopperASHA:
		return []bracket{{MinSteps: s.ASHA.MinSteps, N: 1, Rungs: rungsFor(s.ASHA.MinSteps, s.MaxSteps, s.ASHA.Eta)}}
	case StopperHyperband:
		bs := HyperbandBrackets(s.MaxSteps, s.ASHA.MinSteps, s.ASHA.Eta)
		if n := s.ASHA.Brackets; n > 0 && n < len(bs) {
			bs = bs[:n]
		}
		out := make([]bracket, len(bs))
		for i, b := range bs {
			out[i] = bracket{MinSteps: b.MinSteps, N: b.N, Rungs: rungsFor(b.MinSteps, s.MaxSteps, s.ASHA.Eta)}
		}
		return out
	}
	return nil
}

// rungsFor returns the rung milestones r, rη, rη², ... below maxSteps.
func rungsFor(minSteps, maxSteps int, eta float64) []rung {
	var out []rung
	for k := 0; ; k++ {
		m := int(math.Round(float64(minSteps) * math.Pow(eta, float64(k))))
		if m >= maxSteps {
			return out
		}
		if len(out) == 0 || m > out[len(out)-1].Milestone {
			out = append(out, rung{Milestone: m})
		}
	}
}

// firstUntil is where a new trial of the bracket pauses first.
func (b *bracket) firstUntil(maxSteps int) int {
	if len(b.Rungs) > 0 {
		return b.Rungs[0].Milestone
	}
	return maxSteps
}

// assignBracket puts a new trial in a bracket: Hyperband hands out n_s
// trials to each bracket in turn, most aggressive first. It returns -1
// without a stopper that has brackets.
func (e *Engine) assignBracket() int {
	if len(e.st.Brackets) == 0 {
		return -1
	}
	b := e.st.NextBracket
	e.st.InBracket++
	if e.st.InBracket >= e.st.Brackets[b].N {
		e.st.NextBracket = (b + 1) % len(e.st.Brackets)
		e.st.InBracket = 0
	}
	return b
}

// recordRungs enters t's current value in every rung of its bracket that
// it has reached and is not yet in; it returns the highest such rung, or -1.
func (e *Engine) recordRungs(t *Trial) int {
	if len(e.st.Brackets) == 0 {
		return -1
	}
	br := &e.st.Brackets[t.Bracket]
	hi := -1
	for k := range br.Rungs {
		r := &br.Rungs[k]
		if r.Milestone > t.LastStep {
			break
		}
		if r.has(t.ID) {
			continue
		}
		r.Entries = append(r.Entries, entry{Trial: t.ID, Loss: num(e.loss(t))})
		hi = k
	}
	return hi
}

func (r *rung) has(id int) bool {
	for _, en := range r.Entries {
		if en.Trial == id {
			return true
		}
	}
	return false
}

// sorted returns the rung's entries best first (ties by trial ID).
func (r *rung) sorted() []*entry {
	out := make([]*entry, len(r.Entries))
	for i := range r.Entries {
		out[i] = &r.Entries[i]
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Loss != out[j].Loss {
			return out[i].Loss < out[j].Loss
		}
		return out[i].Trial < out[j].Trial
	})
	return out
}

// ashaJudge applies successive halving to a fresh result of t.
//
// Stopping-based: when t first reaches a rung, its value there is entered
// and t goes on only if it is among the best ⌊n/η⌋ of the n values at that
// rung (itself included; the best one while n < η), as Optuna's
// SuccessiveHalvingPruner decides. Promotion-based: when t reaches the step
// it was asked to run to, it is entered and paused; promote resumes it.
func (e *Engine) ashaJudge(t *Trial) (Action, bool) {
	br := &e.st.Brackets[t.Bracket]
	if e.set.ASHA.Promote {
		if t.Until <= 0 || t.LastStep < t.Until {
			return Action{}, false
		}
		k := e.recordRungs(t)
		if k < 0 {
			k = len(br.Rungs) - 1
		}
		t.State = Paused
		t.Reason = fmt.Sprintf("asha: paused at rung %d (step %d)", k, br.Rungs[k].Milestone)
		return Action{Kind: Pause, Trial: t.ID, Reason: t.Reason}, true
	}
	k := e.recordRungs(t)
	if k < 0 {
		return Action{}, false
	}
	r := &br.Rungs[k]
	vals := r.sorted()
	idx := int(math.Floor(float64(len(vals))/e.set.ASHA.Eta)) - 1
	if idx < 0 {
		idx = 0
	}
	cutoff := float64(vals[idx].Loss)
	if l := e.loss(t); l <= cutoff {
		return Action{}, false
	}
	t.State = Stopped
	t.Reason = fmt.Sprintf("asha: at rung %d (step %d) not in the top 1/%g of %d", k, r.Milestone, e.set.ASHA.Eta, len(vals))
	return Action{Kind: Stop, Trial: t.ID, Reason: t.Reason}, true
}

// promote finds a paused trial to resume (promotion-based ASHA, Li et al.
// 2020, Algorithm 2): in each bracket, from the highest rung down, the
// best trial among the top ⌊n/η⌋ of a rung that was not yet promoted.
func (e *Engine) promote(now time.Time) (Action, bool) {
	if !e.set.ASHA.Promote {
		return Action{}, false
	}
	for b := range e.st.Brackets {
		br := &e.st.Brackets[b]
		for k := len(br.Rungs) - 1; k >= 0; k-- {
			r := &br.Rungs[k]
			top := int(math.Floor(float64(len(r.Entries)) / e.set.ASHA.Eta))
			for _, en := range r.sorted()[:top] {
				if en.Promoted {
					continue
				}
				t := e.trial(en.Trial)
				if t.State != Paused {
					continue
				}
				en.Promoted = true
				until := e.set.MaxSteps
				if k+1 < len(br.Rungs) {
					until = br.Rungs[k+1].Milestone
				}
				t.State, t.Until, t.Reason, t.Ended = Running, until, "", time.Time{}
				return Action{Kind: Resume, Trial: t.ID, From: t.ID, FromStep: t.LastStep, Until: until,
					Reason: fmt.Sprintf("asha: promoted from rung %d (step %d)", k, r.Milestone)}, true
			}
		}
	}
	return Action{}, false
}
