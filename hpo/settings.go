package hpo

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/trainyard/trainyard"
)

// Mode says whether the metric is minimised or maximised.
type Mode string

// Modes.
const (
	Min Mode = "min"
	Max Mode = "max"
)

// Samplers: how a new trial's configuration is chosen.
const (
	SamplerGrid   = "grid"
	SamplerRandom = "random"
	SamplerTPE    = "tpe"
	SamplerPBT    = "pbt" // population-based training: its own schedule, no stopper
)

// Stoppers: how running trials are cut short (Optuna's pruners).
const (
	StopperNone      = ""
	StopperASHA      = "asha"
	StopperHyperband = "hyperband"
	StopperMedian    = "median"
)

// Settings is everything a searcher is built from. It is the searcher part
// of a sweep spec; the service stores it with the sweep and passes the same
// value to Restore. Zero values take the defaults documented on each field.
type Settings struct {
	Space   Space  `json:"space"`
	Mode    Mode   `json:"mode"`    // min or max
	Sampler string `json:"sampler"` // grid, random, tpe or pbt
	Stopper string `json:"stopper"` // "", asha, hyperband or median

	TPE    TPESettings    `json:"tpe,omitzero"`
	ASHA   ASHASettings   `json:"asha,omitzero"` // asha and hyperband
	Median MedianSettings `json:"median,omitzero"`
	PBT    PBTSettings    `json:"pbt,omitzero"`

	// MaxTrials bounds the trials started (PBT's exploited copies count);
	// 0 means no bound, which needs a budget, a grid or PBT.
	MaxTrials int `json:"max_trials"`
	// Parallel is how many trials the service runs at once (default 1).
	// The engine never needs to know it, but TPE's constant liar and PBT's
	// population default to it.
	Parallel int `json:"parallel"`
	// MaxSteps is the step (epoch, iteration) at which a trial is complete:
	// R of Hyperband, max_t of ASHA. 0: the trial decides when it ends
	// (not allowed with asha, hyperband or pbt).
	MaxSteps int    `json:"max_steps"`
	Budget   Budget `json:"budget,omitzero"`
	Seed     uint64 `json:"seed"`
}

// Budget bounds a sweep's total work. Zero fields are no bound.
type Budget struct {
	// Steps bounds the steps all trials run together, counted from what
	// they report: a trial that reports step 7 after step 4 has used 3.
	// Steps replayed by a restarted trial are not counted twice.
	Steps int64 `json:"steps,omitempty"`
	// Duration bounds the time from the sweep's first Next to its end,
	// measured with the clock the caller passes in.
	Duration time.Duration `json:"duration,omitempty"`
}

// trainyard's TPE defaults where they differ from Optuna's.
const (
	DefaultTPECandidates = 48
	DefaultTPEGamma      = 0.15
)

// TPESettings are the Tree-structured Parzen Estimator's options. The
// defaults are Optuna 5's optuna.samplers.TPESampler's for one objective
// (multivariate, constant liar on) except two, which find better points
// for the same number of trials (docs/benchmarks.md, Branin and
// Hartmann6): 48 candidates instead of 24, and γ(n) = ⌈0.15·n⌉ instead of
// min(⌈0.1·n⌉, 25). The Optuna option (optuna_defaults) keeps Optuna's.
type TPESettings struct {
	// Optuna takes Optuna's defaults for NEICandidates and Gamma when
	// they are not set: with the same random numbers the searcher then
	// suggests exactly what Optuna's TPESampler would.
	Optuna            bool     `json:"optuna_defaults,omitempty"`
	NStartupTrials    int      `json:"n_startup_trials,omitempty"`   // random trials first; default 10
	NEICandidates     int      `json:"n_ei_candidates,omitempty"`    // samples scored per suggestion; default 48 (Optuna 24)
	PriorWeight       float64  `json:"prior_weight,omitempty"`       // default 1.0
	ConsiderEndpoints bool     `json:"consider_endpoints,omitempty"` // default false
	NoMagicClip       bool     `json:"no_magic_clip,omitempty"`      // Optuna's consider_magic_clip=False
	Multivariate      *bool    `json:"multivariate,omitempty"`       // one joint kernel over the unconditional parameters; default true (Optuna ≥ 5)
	ConstantLiar      *bool    `json:"constant_liar,omitempty"`      // running trials count as bad; default true (Optuna ≥ 5)
	Gamma             *float64 `json:"gamma,omitempty"`              // fraction of "good" trials, ⌈γ·n⌉; default 0.15 (Optuna: min(⌈0.1·n⌉, 25))
}

// ASHASettings configure asynchronous successive halving and Hyperband.
type ASHASettings struct {
	MinSteps int     `json:"min_steps,omitempty"` // r, the first rung; default 1
	Eta      float64 `json:"eta,omitempty"`       // reduction factor η; default 3
	// Promote selects promotion-based ASHA: a trial pauses at each rung and
	// is resumed from its checkpoint when promoted. The default is
	// stopping-based: trials run on and are stopped at a rung unless they
	// are in its top 1/η.
	Promote bool `json:"promote,omitempty"`
	// Brackets limits Hyperband to its first N brackets (most aggressive
	// first); 0 takes all floor(log_η(R/r))+1.
	Brackets int `json:"brackets,omitempty"`
}

// MedianSettings configure median stopping, as Optuna's MedianPruner.
type MedianSettings struct {
	StartupTrials int `json:"startup_trials,omitempty"` // completed trials before any stop; default 5
	WarmupSteps   int `json:"warmup_steps,omitempty"`   // no stop before this step; default 0
	MinTrials     int `json:"min_trials,omitempty"`     // completed trials with a value at the step; default 1
}

// PBTSettings configure population-based training.
type PBTSettings struct {
	Population int `json:"population,omitempty"` // default Parallel, at least 2
	Interval   int `json:"interval,omitempty"`   // steps between exploit/explore checks; default max(1, MaxSteps/10)
	// Quantile is the fraction at the bottom that copies from the top;
	// default 0.25.
	Quantile float64 `json:"quantile,omitempty"`
	// ResampleProbability is the chance a parameter is drawn anew rather
	// than perturbed; default 0.25.
	ResampleProbability *float64  `json:"resample_probability,omitempty"`
	PerturbFactors      []float64 `json:"perturb_factors,omitempty"` // default [0.8, 1.2]
}

// withDefaults returns s with every zero option at its default.
func (s Settings) withDefaults() Settings {
	if s.Mode == "" {
		s.Mode = Min
	}
	if s.Sampler == "" {
		s.Sampler = SamplerRandom
	}
	if s.Parallel <= 0 {
		s.Parallel = 1
	}
	t := &s.TPE
	if t.NStartupTrials == 0 {
		t.NStartupTrials = 10
	}
	if t.NEICandidates == 0 {
		t.NEICandidates = DefaultTPECandidates
		if t.Optuna {
			t.NEICandidates = 24
		}
	}
	if t.Gamma == nil && !t.Optuna {
		g := DefaultTPEGamma
		t.Gamma = &g
	}
	if t.PriorWeight == 0 {
		t.PriorWeight = 1
	}
	if t.ConstantLiar == nil {
		v := true
		t.ConstantLiar = &v
	}
	if t.Multivariate == nil {
		v := true
		t.Multivariate = &v
	}
	a := &s.ASHA
	if a.MinSteps == 0 {
		a.MinSteps = 1
	}
	if a.Eta == 0 {
		a.Eta = 3
	}
	m := &s.Median
	if m.StartupTrials == 0 {
		m.StartupTrials = 5
	}
	if m.MinTrials == 0 {
		m.MinTrials = 1
	}
	p := &s.PBT
	if p.Population == 0 {
		p.Population = max(2, s.Parallel)
	}
	if p.Interval == 0 {
		p.Interval = max(1, s.MaxSteps/10)
	}
	if p.Quantile == 0 {
		p.Quantile = 0.25
	}
	if p.ResampleProbability == nil {
		v := 0.25
		p.ResampleProbability = &v
	}
	if len(p.PerturbFactors) == 0 {
		p.PerturbFactors = []float64{0.8, 1.2}
	}
	return s
}

// Validate reports every problem with the settings at once, each naming
// its field as a sweep spec spells it.
func (s *Settings) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, trainyard.FieldError(field, format, args...))
	}
	if err := s.Space.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Mode != "" && s.Mode != Min && s.Mode != Max {
		add("metric.mode", "%q is not min or max", s.Mode)
	}
	switch s.Sampler {
	case "", SamplerRandom, SamplerTPE:
	case SamplerGrid:
		if s.Space.Validate() == nil {
			if n, err := gridSize(&s.Space); err != nil {
				add("searcher.name", "grid: %v", err)
			} else if n > maxGrid {
				add("searcher.name", "grid: the space has %d points, more than %d", n, maxGrid)
			}
		}
	case SamplerPBT:
		if s.Stopper != StopperNone {
			add("early_stopping.name", "pbt schedules trials itself; it takes no early stopping (got %q)", s.Stopper)
		}
		if s.MaxSteps <= 0 {
			add("max_steps", "pbt needs max_steps, the step at which a trial is complete")
		}
	default:
		add("searcher.name", "%q is not one of grid, random, tpe, pbt", s.Sampler)
	}
	switch s.Stopper {
	case StopperNone, StopperMedian:
	case StopperASHA, StopperHyperband:
		if s.MaxSteps <= 0 {
			add("max_steps", "%s needs max_steps, the step at which a trial is complete", s.Stopper)
		}
		if s.ASHA.MinSteps < 0 || (s.MaxSteps > 0 && s.ASHA.MinSteps > s.MaxSteps) {
			add("early_stopping.min_steps", "is %d; must be between 1 and max_steps", s.ASHA.MinSteps)
		}
		if s.ASHA.Eta != 0 && !(s.ASHA.Eta >= 2) || math.IsInf(s.ASHA.Eta, 0) {
			add("early_stopping.eta", "is %v; must be 2 or more", s.ASHA.Eta)
		}
		if s.ASHA.Brackets < 0 {
			add("early_stopping.brackets", "is %d; must be 0 or more", s.ASHA.Brackets)
		}
	default:
		add("early_stopping.name", "%q is not one of asha, hyperband, median", s.Stopper)
	}
	if s.MaxTrials < 0 {
		add("max_trials", "is %d; must be 0 (no bound) or more", s.MaxTrials)
	}
	if s.Parallel < 0 {
		add("parallel", "is %d; must be 1 or more", s.Parallel)
	}
	if s.MaxSteps < 0 {
		add("max_steps", "is %d; must be 0 or more", s.MaxSteps)
	}
	if s.Budget.Steps < 0 {
		add("budget.steps", "is %d; must be 0 (no bound) or more", s.Budget.Steps)
	}
	if s.Budget.Duration < 0 {
		add("budget.time", "is %v; must be 0 (no bound) or more", s.Budget.Duration)
	}
	if s.MaxTrials == 0 && s.Budget.Steps == 0 && s.Budget.Duration == 0 && s.Sampler != SamplerGrid && s.Sampler != SamplerPBT {
		add("max_trials", "is 0 and no budget is set: the sweep would never end")
	}
	t := s.TPE
	if t.NStartupTrials < 0 {
		add("searcher.n_startup_trials", "is %d; must be 0 or more", t.NStartupTrials)
	}
	if t.NEICandidates < 0 {
		add("searcher.n_ei_candidates", "is %d; must be 1 or more", t.NEICandidates)
	}
	if t.PriorWeight < 0 || math.IsNaN(t.PriorWeight) {
		add("searcher.prior_weight", "is %v; must be positive", t.PriorWeight)
	}
	if t.Gamma != nil && !(*t.Gamma > 0 && *t.Gamma < 1) {
		add("searcher.gamma", "is %v; must be between 0 and 1", *t.Gamma)
	}
	m := s.Median
	if m.StartupTrials < 0 || m.WarmupSteps < 0 || m.MinTrials < 0 {
		add("early_stopping", "median: startup_trials, warmup_steps and min_trials must be 0 or more")
	}
	p := s.PBT
	if p.Population < 0 || p.Population == 1 {
		add("searcher.population", "is %d; must be 2 or more", p.Population)
	}
	if p.Interval < 0 {
		add("searcher.interval", "is %d; must be 1 or more", p.Interval)
	}
	if p.Quantile < 0 || p.Quantile > 0.5 || math.IsNaN(p.Quantile) {
		add("searcher.quantile", "is %v; must be in (0, 0.5]", p.Quantile)
	}
	if r := p.ResampleProbability; r != nil && !(*r >= 0 && *r <= 1) {
		add("searcher.resample_probability", "is %v; must be in [0, 1]", *r)
	}
	for _, f := range p.PerturbFactors {
		if !(f > 0) || math.IsInf(f, 0) {
			add("searcher.perturb_factors", "%v is not a positive number", f)
		}
	}
	return errors.Join(errs...)
}

// Bracket is one bracket of Hyperband: N trials start with MinSteps steps,
// and successive halving keeps the top 1/η at each rung.
type Bracket struct {
	S        int `json:"s"`
	N        int `json:"n"`
	MinSteps int `json:"min_steps"`
}

// HyperbandBrackets returns the brackets of Hyperband (Li et al. 2018,
// Algorithm 1) for a maximum of maxSteps, a minimum of minSteps and
// reduction factor eta, most aggressive first: s from s_max =
// floor(log_η(R/r)) down to 0, n_s = ceil((s_max+1)/(s+1)·η^s), r_s = R·η^-s.
// For R=81, r=1, η=3: (81,1) (34,3) (15,9) (8,27) (5,81).
func HyperbandBrackets(maxSteps, minSteps int, eta float64) []Bracket {
	if minSteps < 1 {
		minSteps = 1
	}
	smax := 0
	for float64(minSteps)*math.Pow(eta, float64(smax+1)) <= float64(maxSteps)*(1+1e-9) {
		smax++
	}
	out := make([]Bracket, 0, smax+1)
	for s := smax; s >= 0; s-- {
		n := int(math.Ceil(float64(smax+1) / float64(s+1) * math.Pow(eta, float64(s)) * (1 - 1e-12)))
		r := int(math.Round(float64(maxSteps) * math.Pow(eta, -float64(s))))
		out = append(out, Bracket{S: s, N: n, MinSteps: max(r, minSteps)})
	}
	return out
}

func (s *Settings) String() string {
	return fmt.Sprintf("%s/%s", s.Sampler, s.Stopper)
}
