// Package sweepspec reads sweep specs: trainyard's own YAML, W&B sweep
// YAML, and the compact --param form of the command line. It turns them
// into an hpo.Settings (the searcher) and a trainyard.JobSpec (what each
// trial runs), and reports every problem at once as "file:line: field:
// message". The hpo package knows nothing of YAML; this one knows nothing
// of searching.
package sweepspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"gopkg.in/yaml.v3"
)

// Spec is a parsed sweep.
type Spec struct {
	Name   string `json:"name,omitempty"`
	Format string `json:"format"` // "trainyard" or "wandb": what the file was
	// Trial is the job each trial runs: command (possibly with ${args}
	// macros, see TrialCommand), resources and every other `trainyard run`
	// field. MaxRestarts is how often a failed trial is retried.
	Trial  trainyard.JobSpec `json:"trial"`
	Metric Metric            `json:"metric"`
	Search hpo.Settings      `json:"search"`
	// AskTell is set for a spec without a command: trainyard only suggests
	// configurations and records results; the user runs the trials.
	AskTell bool `json:"ask_tell,omitempty"`
}

// SearcherExternal is the searcher of a sweep whose configurations come
// from an external optimiser through the ask/tell API: trainyard samples
// nothing itself, and the search settings other than the space are unused.
const SearcherExternal = "external"

// External reports whether an external optimiser chooses the configurations.
func (s *Spec) External() bool { return s.Search.Sampler == SearcherExternal }

// Metric is the reported value the searcher optimises.
type Metric struct {
	Name string   `json:"name"`
	Mode hpo.Mode `json:"mode"`
}

// Parse reads a sweep spec in trainyard's format or, when it has a
// top-level "method", in W&B's. file names the source in errors. The
// error, if any, is EINVALID and lists every problem, one per line.
func Parse(file string, data []byte) (*Spec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, trainyard.Errorf(trainyard.EINVALID, "%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 {
		return nil, trainyard.Errorf(trainyard.EINVALID, "%s: the file is empty; a sweep needs at least command, metric and parameters", file)
	}
	doc := root.Content[0]
	r := &reader{file: file, lines: map[string]int{}, docLine: 1}
	s := &Spec{Format: "trainyard"}
	if doc.Kind != yaml.MappingNode {
		r.errf(doc, "", "want a mapping of sweep fields, got %s", kindName(doc))
		return nil, r.result()
	}
	if hasKey(doc, "method") {
		s.Format = "wandb"
		r.wandb(doc, s)
	} else {
		r.fields(doc, "", r.nativeHandlers(s))
	}
	if len(r.errs) == 0 {
		r.validate(doc, s)
	}
	if err := r.result(); err != nil {
		return nil, err
	}
	return s, nil
}

func (r *reader) result() error {
	if len(r.errs) == 0 {
		return nil
	}
	return errors.Join(r.errs...)
}

func hasKey(n *yaml.Node, k string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == k {
			return true
		}
	}
	return false
}

// validate runs the domain checks and places each error at the line of
// the field it names (or the nearest enclosing one).
func (r *reader) validate(doc *yaml.Node, s *Spec) {
	s.Search.Mode = s.Metric.Mode
	if s.Metric.Name == "" {
		r.errf(doc, "metric.name", "is missing: name the reported value to optimise")
	}
	if len(s.Trial.Command) == 0 && !hasKey(doc, "command") && s.Format == "trainyard" {
		// No command: an ask/tell sweep. The trial fields are still checked.
		s.AskTell = true
		t := s.Trial
		t.Command = []string{"true"}
		if err := t.Validate(); err != nil {
			r.place(err)
		}
	} else if err := s.Trial.Validate(); err != nil {
		r.place(err)
	}
	if s.External() {
		// The optimiser's own space; one given here is checked (and shown).
		if len(s.Search.Space.Params) > 0 {
			if err := s.Search.Space.Validate(); err != nil {
				r.place(err)
			}
		}
	} else if err := s.Search.Validate(); err != nil {
		r.place(err)
	}
	if _, err := s.TrialCommand(hpo.Config{}); err != nil {
		r.errf(doc, "command", "%v", err)
	}
}

// related names, for a field that may be missing, the fields that need it.
var related = map[string][]string{
	"max_steps":  {"early_stopping", "early_terminate", "searcher"},
	"max_trials": {"searcher", "method"},
}

func (r *reader) place(err error) {
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if jj, ok := e.(interface{ Unwrap() []error }); ok {
				list = append(list, jj.Unwrap()...)
			} else {
				list = append(list, e)
			}
		}
	} else {
		list = []error{err}
	}
	for _, e := range list {
		var te *trainyard.Error
		if !errors.As(e, &te) {
			r.errs = append(r.errs, trainyard.Errorf(trainyard.EINVALID, "%s: %v", r.file, e))
			continue
		}
		line, f := r.docLine, te.Field
		for _, alt := range related[f] { // a missing field: point at what needs it
			if l, ok := r.lines[alt]; ok {
				line = l
				break
			}
		}
		for f != "" {
			if l, ok := r.lines[f]; ok {
				line = l
				break
			}
			i := strings.LastIndexAny(f, ".[")
			if i < 0 {
				break
			}
			f = f[:i]
		}
		r.errs = append(r.errs, &trainyard.Error{Code: trainyard.EINVALID, Field: te.Field, Message: fmt.Sprintf("%s:%d: %s", r.file, line, te.Message)})
	}
}

// nativeHandlers reads trainyard's own format; W&B files may use them too.
func (r *reader) nativeHandlers(s *Spec) map[string]func(*yaml.Node, string) {
	j := &s.Trial
	return map[string]func(*yaml.Node, string){
		"name":    func(v *yaml.Node, f string) { s.Name = r.str(v, f); j.Name = s.Name },
		"project": func(v *yaml.Node, f string) { j.Project = r.str(v, f) },
		"command": func(v *yaml.Node, f string) {
			if v.Kind == yaml.ScalarNode {
				j.Command = []string{"sh", "-c", r.str(v, f)}
			} else {
				j.Command = r.strs(v, f)
			}
		},
		"workdir": func(v *yaml.Node, f string) { j.Workdir = r.str(v, f) },
		"env":     func(v *yaml.Node, f string) { j.Env = r.strMap(v, f) },
		"tags":    func(v *yaml.Node, f string) { j.Tags = r.strMap(v, f) },
		"resources": func(v *yaml.Node, f string) {
			r.fields(v, f, map[string]func(*yaml.Node, string){
				"gpus": func(v *yaml.Node, f string) { j.Resources.GPUs = r.integer(v, f) },
				"cpus": func(v *yaml.Node, f string) { j.Resources.CPUs = r.integer(v, f) },
				"memory": func(v *yaml.Node, f string) {
					b, err := trainyard.ParseBytes(v.Value)
					if err != nil || v.Kind != yaml.ScalarNode {
						r.errf(v, f, "want a size such as 16GiB, got %s", kindName(v))
					}
					j.Resources.Memory = b
				},
			})
		},
		"nodes":          func(v *yaml.Node, f string) { j.Nodes = r.integer(v, f) },
		"launch":         func(v *yaml.Node, f string) { j.Launch = trainyard.Launch(r.str(v, f)) },
		"procs_per_node": func(v *yaml.Node, f string) { j.ProcsPerNode = r.integer(v, f) },
		"pool":           func(v *yaml.Node, f string) { j.Pool = r.str(v, f) },
		"gpu_type":       func(v *yaml.Node, f string) { j.GPUType = r.str(v, f) },
		"account":        func(v *yaml.Node, f string) { j.Account = r.str(v, f) },
		"qos":            func(v *yaml.Node, f string) { j.QOS = r.str(v, f) },
		"queue":          func(v *yaml.Node, f string) { j.Queue = r.str(v, f) },
		"time_limit": func(v *yaml.Node, f string) {
			d, err := trainyard.ParseDuration(v.Value)
			if err != nil || v.Kind != yaml.ScalarNode {
				r.errf(v, f, "want a duration such as 2h, got %s", kindName(v))
			}
			j.TimeLimit = d
		},
		"git": func(v *yaml.Node, f string) {
			g := &trainyard.GitInfo{}
			r.fields(v, f, map[string]func(*yaml.Node, string){
				"commit": func(v *yaml.Node, f string) { g.Commit = r.str(v, f) },
				"dirty":  func(v *yaml.Node, f string) { g.Dirty = r.boolean(v, f) },
				"branch": func(v *yaml.Node, f string) { g.Branch = r.str(v, f) },
				"remote": func(v *yaml.Node, f string) { g.Remote = r.str(v, f) },
			})
			j.Git = g
		},
		"priority":     func(v *yaml.Node, f string) { j.Priority = r.integer(v, f) },
		"max_restarts": func(v *yaml.Node, f string) { j.MaxRestarts = r.integer(v, f) },
		"metric": func(v *yaml.Node, f string) {
			if v.Kind == yaml.ScalarNode {
				s.Metric.Name = r.str(v, f)
				return
			}
			r.fields(v, f, map[string]func(*yaml.Node, string){
				"name": func(v *yaml.Node, f string) { s.Metric.Name = r.str(v, f) },
				"mode": func(v *yaml.Node, f string) { s.Metric.Mode = r.mode(v, f) },
				"goal": func(v *yaml.Node, f string) { s.Metric.Mode = r.mode(v, f) },
			})
		},
		"parameters":     func(v *yaml.Node, f string) { r.params(v, f, "", &s.Search.Space.Params) },
		"searcher":       func(v *yaml.Node, f string) { r.searcher(v, f, &s.Search) },
		"early_stopping": func(v *yaml.Node, f string) { r.stopper(v, f, &s.Search) },
		"max_trials":     func(v *yaml.Node, f string) { s.Search.MaxTrials = r.integer(v, f) },
		"parallel":       func(v *yaml.Node, f string) { s.Search.Parallel = r.integer(v, f) },
		"max_steps":      func(v *yaml.Node, f string) { s.Search.MaxSteps = r.integer(v, f) },
		"seed": func(v *yaml.Node, f string) {
			n := r.integer(v, f)
			if n < 0 {
				r.errf(v, f, "is %d; must be 0 or more", n)
			}
			s.Search.Seed = uint64(n)
		},
		"budget": func(v *yaml.Node, f string) {
			r.fields(v, f, map[string]func(*yaml.Node, string){
				"steps":  func(v *yaml.Node, f string) { s.Search.Budget.Steps = int64(r.integer(v, f)) },
				"epochs": func(v *yaml.Node, f string) { s.Search.Budget.Steps = int64(r.integer(v, f)) },
				"time":   func(v *yaml.Node, f string) { s.Search.Budget.Duration = r.duration(v, f) },
			})
		},
	}
}

func (r *reader) mode(v *yaml.Node, f string) hpo.Mode {
	switch strings.ToLower(r.str(v, f)) {
	case "min", "minimize", "minimise":
		return hpo.Min
	case "max", "maximize", "maximise":
		return hpo.Max
	}
	r.errf(v, f, "%q is not min or max", v.Value)
	return ""
}

// searcher reads `searcher: tpe` or `searcher: {name: tpe, ...options}`.
func (r *reader) searcher(v *yaml.Node, f string, s *hpo.Settings) {
	if v.Kind == yaml.ScalarNode {
		s.Sampler = r.str(v, f)
		return
	}
	t, p := &s.TPE, &s.PBT
	r.fields(v, f, map[string]func(*yaml.Node, string){
		"name":               func(v *yaml.Node, f string) { s.Sampler = r.str(v, f) },
		"n_startup_trials":   func(v *yaml.Node, f string) { t.NStartupTrials = r.integer(v, f) },
		"n_ei_candidates":    func(v *yaml.Node, f string) { t.NEICandidates = r.integer(v, f) },
		"optuna_defaults":    func(v *yaml.Node, f string) { t.Optuna = r.boolean(v, f) },
		"prior_weight":       func(v *yaml.Node, f string) { t.PriorWeight = r.number(v, f) },
		"consider_endpoints": func(v *yaml.Node, f string) { t.ConsiderEndpoints = r.boolean(v, f) },
		"consider_magic_clip": func(v *yaml.Node, f string) {
			t.NoMagicClip = !r.boolean(v, f)
		},
		"multivariate":  func(v *yaml.Node, f string) { b := r.boolean(v, f); t.Multivariate = &b },
		"constant_liar": func(v *yaml.Node, f string) { b := r.boolean(v, f); t.ConstantLiar = &b },
		"gamma":         func(v *yaml.Node, f string) { g := r.number(v, f); t.Gamma = &g },
		"population":    func(v *yaml.Node, f string) { p.Population = r.integer(v, f) },
		"interval":      func(v *yaml.Node, f string) { p.Interval = r.integer(v, f) },
		"quantile":      func(v *yaml.Node, f string) { p.Quantile = r.number(v, f) },
		"resample_probability": func(v *yaml.Node, f string) {
			x := r.number(v, f)
			p.ResampleProbability = &x
		},
		"perturb_factors": func(v *yaml.Node, f string) {
			p.PerturbFactors = nil
			if v.Kind != yaml.SequenceNode {
				r.errf(v, f, "want a list of numbers, got %s", kindName(v))
				return
			}
			for i, c := range v.Content {
				p.PerturbFactors = append(p.PerturbFactors, r.number(c, fmt.Sprintf("%s[%d]", f, i)))
			}
		},
	})
}

// stopper reads `early_stopping: asha` or a mapping with options.
func (r *reader) stopper(v *yaml.Node, f string, s *hpo.Settings) {
	if v.Kind == yaml.ScalarNode {
		s.Stopper = r.str(v, f)
		return
	}
	a, m := &s.ASHA, &s.Median
	r.fields(v, f, map[string]func(*yaml.Node, string){
		"name":      func(v *yaml.Node, f string) { s.Stopper = r.str(v, f) },
		"min_steps": func(v *yaml.Node, f string) { a.MinSteps = r.integer(v, f) },
		"eta":       func(v *yaml.Node, f string) { a.Eta = r.number(v, f) },
		"brackets":  func(v *yaml.Node, f string) { a.Brackets = r.integer(v, f) },
		"mode": func(v *yaml.Node, f string) {
			switch r.str(v, f) {
			case "stop":
				a.Promote = false
			case "promote", "pause":
				a.Promote = true
			default:
				r.errf(v, f, "%q is not stop or promote", v.Value)
			}
		},
		"startup_trials": func(v *yaml.Node, f string) { m.StartupTrials = r.integer(v, f) },
		"warmup_steps":   func(v *yaml.Node, f string) { m.WarmupSteps = r.integer(v, f) },
		"min_trials":     func(v *yaml.Node, f string) { m.MinTrials = r.integer(v, f) },
	})
}

// TrialCommand returns the command of a trial with configuration cfg:
// the macros ${args} (--name=value, one argument each, dotted names for
// nested parameters), ${args_no_hyphens} (name=value) and ${args_json}
// (one JSON argument) expanded, as W&B's agent does.
func (s *Spec) TrialCommand(cfg hpo.Config) ([]string, error) {
	flat := map[string]any{}
	flatten("", map[string]any(cfg), flat)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, a := range s.Trial.Command {
		switch a {
		case "${args}", "${args_no_hyphens}":
			for _, k := range keys {
				p := "--"
				if a == "${args_no_hyphens}" {
					p = ""
				}
				out = append(out, p+k+"="+formatValue(flat[k]))
			}
		case "${args_json}":
			b, err := json.Marshal(cfg)
			if err != nil {
				return nil, err
			}
			out = append(out, string(b))
		default:
			if strings.Contains(a, "${") {
				return nil, fmt.Errorf("macro in %q is not one of ${args}, ${args_no_hyphens}, ${args_json}", a)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

func flatten(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			flatten(join(prefix, k), sub, out)
			continue
		}
		out[join(prefix, k)] = v
	}
}

func formatValue(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}
