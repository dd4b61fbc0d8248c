package sweepspec

import (
	"math"
	"strings"

	"github.com/trainyard/trainyard/hpo"
	"gopkg.in/yaml.v3"
)

// wandb reads a W&B sweep configuration:
//
//	program: train.py
//	method: bayes                    # grid | random | bayes (TPE)
//	metric: {name: val_loss, goal: minimize}
//	parameters: {...}                # value / values / min / max / distribution / q / parameters
//	early_terminate: {type: hyperband, min_iter: 3, eta: 3}   # or max_iter and s
//	run_cap: 50                      # max_trials
//	command: [${env}, ${interpreter}, ${program}, ${args}]
//
// trainyard's own top-level fields (resources, parallel, max_steps,
// budget, seed, env, ...) may be added. W&B's hyperband early termination
// stops runs at rungs min_iter·η^k; trainyard runs it as stopping-based
// ASHA, which needs max_steps (or max_iter): the step a trial completes at.
func (r *reader) wandb(doc *yaml.Node, s *Spec) {
	h := r.nativeHandlers(s)
	delete(h, "searcher")
	delete(h, "early_stopping")
	var program string
	commandGiven := false
	var et *yaml.Node
	var minIter, maxIter, sBr int
	var eta float64
	h["method"] = func(v *yaml.Node, f string) {
		switch m := r.str(v, f); m {
		case "grid", "random":
			s.Search.Sampler = m
		case "bayes":
			s.Search.Sampler = hpo.SamplerTPE
		default:
			r.errf(v, f, "%q is not grid, random or bayes", m)
		}
	}
	h["metric"] = func(v *yaml.Node, f string) {
		r.fields(v, f, map[string]func(*yaml.Node, string){
			"name": func(v *yaml.Node, f string) { s.Metric.Name = r.str(v, f) },
			"goal": func(v *yaml.Node, f string) { s.Metric.Mode = r.mode(v, f) },
			"target": func(v *yaml.Node, f string) {
				r.errf(v, f, "is not supported; set max_trials or a budget to end the sweep")
			},
		})
	}
	h["program"] = func(v *yaml.Node, f string) { program = r.str(v, f) }
	native := h["command"]
	h["command"] = func(v *yaml.Node, f string) { commandGiven = true; native(v, f) }
	h["run_cap"] = func(v *yaml.Node, f string) { s.Search.MaxTrials = r.integer(v, f) }
	h["description"] = func(v *yaml.Node, f string) { r.str(v, f) }
	h["entity"] = func(v *yaml.Node, f string) { r.str(v, f) }
	h["early_terminate"] = func(v *yaml.Node, f string) {
		et = v
		r.fields(v, f, map[string]func(*yaml.Node, string){
			"type": func(v *yaml.Node, f string) {
				if t := r.str(v, f); t != "hyperband" {
					r.errf(v, f, "%q is not supported; the one type is hyperband", t)
				}
			},
			"min_iter": func(v *yaml.Node, f string) { minIter = r.integer(v, f) },
			"max_iter": func(v *yaml.Node, f string) { maxIter = r.integer(v, f) },
			"s":        func(v *yaml.Node, f string) { sBr = r.integer(v, f) },
			"eta":      func(v *yaml.Node, f string) { eta = r.number(v, f) },
			"strict": func(v *yaml.Node, f string) {
				if r.boolean(v, f) {
					r.errf(v, f, "strict mode is not supported")
				}
			},
		})
	}
	r.fields(doc, "", h)

	if !commandGiven {
		s.Trial.Command = []string{"${env}", "${interpreter}", "${program}", "${args}"}
	}
	var cmd []string
	for _, a := range s.Trial.Command {
		switch a {
		case "${env}":
		case "${interpreter}":
			if strings.HasSuffix(program, ".py") {
				cmd = append(cmd, "python")
			}
		case "${program}":
			if program == "" {
				r.errf(doc, "program", "is missing; the command runs ${program}")
			}
			cmd = append(cmd, program)
		default:
			cmd = append(cmd, a)
		}
	}
	s.Trial.Command = cmd

	if et != nil {
		if eta == 0 {
			eta = 3
		}
		s.Search.Stopper = hpo.StopperASHA
		s.Search.ASHA.Eta = eta
		switch {
		case minIter > 0:
			s.Search.ASHA.MinSteps = minIter
			if maxIter > 0 && s.Search.MaxSteps == 0 {
				s.Search.MaxSteps = maxIter
			}
		case maxIter > 0 && sBr > 0:
			s.Search.ASHA.MinSteps = max(1, int(math.Round(float64(maxIter)/math.Pow(eta, float64(sBr)))))
			if s.Search.MaxSteps == 0 {
				s.Search.MaxSteps = maxIter
			}
		default:
			r.errf(et, "early_terminate", "hyperband needs min_iter, or max_iter and s")
		}
		if s.Search.MaxSteps == 0 && minIter > 0 {
			r.errf(et, "early_terminate.max_iter", "is needed (or a top-level max_steps): the step at which a run is complete")
		}
	}
}
