package sweepspec

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"gopkg.in/yaml.v3"
)

// params reads a `parameters` mapping (both formats) into out. Each entry
// is one of:
//
//	lr: {distribution: log_uniform_values, min: 1e-5, max: 1e-1}
//	lr: {type: float, min: 1e-5, max: 1e-1, log: true}
//	layers: {min: 2, max: 8}            # integers: int_uniform
//	opt: {values: [adam, sgd]}
//	momentum: {min: 0.5, max: 0.99, when: {opt: sgd}}
//	model: {parameters: {width: {values: [64, 128]}}}   # nested: model.width
//	seed: {value: 3}    (or just  seed: 3;  a list is a choice)
func (r *reader) params(n *yaml.Node, field, prefix string, out *[]hpo.Param) {
	if n.Kind != yaml.MappingNode {
		r.errf(n, field, "want a mapping of parameter names, got %s", kindName(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := join(prefix, k.Value)
		f := join(field, k.Value)
		r.lines[join("parameters", name)] = k.Line
		if strings.Contains(k.Value, ".") || k.Value == "" {
			r.errf(k, f, "a parameter name has no dots; nest with `parameters:` instead")
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			*out = append(*out, hpo.Param{Name: name, Kind: hpo.Const, Values: []any{r.value(v, f)}})
			continue
		case yaml.SequenceNode:
			*out = append(*out, hpo.Param{Name: name, Kind: hpo.Categorical, Values: r.values(v, f)})
			continue
		case yaml.MappingNode:
		default:
			r.errf(v, f, "want a parameter mapping, got %s", kindName(v))
			continue
		}
		if hasKey(v, "parameters") {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if kk := v.Content[j].Value; kk != "parameters" {
					r.errf(v.Content[j], join(f, kk), "a nested parameter block has only `parameters`")
				}
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j].Value == "parameters" {
					r.params(v.Content[j+1], join(f, "parameters"), name, out)
				}
			}
			continue
		}
		if p, ok := r.param(v, f, name); ok {
			*out = append(*out, p)
		}
	}
}

// spec of one parameter, before its kind is known.
type rawParam struct {
	dist, typ      string
	value          any
	values         []any
	min, max, q    *float64
	minInt, maxInt bool
	log            bool
	when           *hpo.Cond
	has            map[string]*yaml.Node
}

func (r *reader) param(n *yaml.Node, f, name string) (hpo.Param, bool) {
	rp := rawParam{has: map[string]*yaml.Node{}}
	num := func(dst **float64, isInt *bool) func(*yaml.Node, string) {
		return func(v *yaml.Node, f string) {
			x := r.number(v, f)
			*dst = &x
			if isInt != nil {
				*isInt = v.Tag == "!!int"
			}
		}
	}
	handlers := map[string]func(*yaml.Node, string){
		"distribution": func(v *yaml.Node, f string) { rp.dist = r.str(v, f) },
		"type":         func(v *yaml.Node, f string) { rp.typ = r.str(v, f) },
		"value":        func(v *yaml.Node, f string) { rp.value = r.value(v, f) },
		"values":       func(v *yaml.Node, f string) { rp.values = r.values(v, f) },
		"min":          num(&rp.min, &rp.minInt),
		"max":          num(&rp.max, &rp.maxInt),
		"q":            num(&rp.q, nil),
		"log":          func(v *yaml.Node, f string) { rp.log = r.boolean(v, f) },
		"when": func(v *yaml.Node, f string) {
			if v.Kind != yaml.MappingNode || len(v.Content) != 2 {
				r.errf(v, f, "want one `parent: value` (or `parent: [values]`), got %s", kindName(v))
				return
			}
			rp.when = &hpo.Cond{Param: v.Content[0].Value, Values: r.values(v.Content[1], join(f, v.Content[0].Value))}
		},
		"probabilities": func(v *yaml.Node, f string) {
			r.errf(v, f, "weighted choices are not supported; choices are equally likely")
		},
		"mu":    func(v *yaml.Node, f string) { r.errf(v, f, "normal distributions are not supported") },
		"sigma": func(v *yaml.Node, f string) { r.errf(v, f, "normal distributions are not supported") },
	}
	for k := range handlers {
		k := k
		h := handlers[k]
		handlers[k] = func(v *yaml.Node, f string) { rp.has[k] = v; h(v, f) }
	}
	before := len(r.errs)
	r.fields(n, f, handlers)
	if len(r.errs) > before {
		return hpo.Param{}, false
	}
	p, err := rp.build(name)
	if err != "" {
		r.errf(n, f, "%s", err)
		return hpo.Param{}, false
	}
	if rp.when != nil {
		r.lines[join("parameters", name)+".when"] = rp.has["when"].Line
	}
	return p, true
}

// build turns the fields into a parameter, inferring the distribution as
// W&B does when none is named: value → constant, values → categorical,
// integer min and max → int_uniform, else uniform.
func (rp *rawParam) build(name string) (hpo.Param, string) {
	p := hpo.Param{Name: name, When: rp.when}
	_, hasValue := rp.has["value"]
	_, hasValues := rp.has["values"]
	ranged := rp.min != nil || rp.max != nil
	dist := rp.dist
	switch rp.typ {
	case "":
	case "const":
		dist = "constant"
	case "categorical", "choice":
		dist = "categorical"
	case "int":
		dist = "int_uniform"
		if rp.log {
			dist = "int_log_uniform"
		}
	case "float":
		dist = "uniform"
		if rp.q != nil {
			dist = "q_uniform"
		}
		if rp.log {
			dist = "log_uniform_values"
			if rp.q != nil {
				dist = "q_log_uniform_values"
			}
		}
	default:
		return p, fmt.Sprintf("type %q is not one of const, int, float, categorical", rp.typ)
	}
	if rp.typ != "" && rp.dist != "" {
		return p, "give type or distribution, not both"
	}
	if dist == "" {
		switch {
		case hasValue:
			dist = "constant"
		case hasValues:
			dist = "categorical"
		case ranged && rp.minInt && rp.maxInt && rp.q == nil && !rp.log:
			dist = "int_uniform"
		case ranged && rp.log && rp.minInt && rp.maxInt:
			dist = "int_log_uniform"
		case ranged && rp.log:
			dist = "log_uniform_values"
			if rp.q != nil {
				dist = "q_log_uniform_values"
			}
		case ranged && rp.q != nil:
			dist = "q_uniform"
		case ranged:
			dist = "uniform"
		default:
			return p, "give value, values, or min and max"
		}
	}
	needRange := func() string {
		if hasValue || hasValues {
			return fmt.Sprintf("distribution %s takes min and max, not value(s)", dist)
		}
		if rp.min == nil || rp.max == nil {
			return fmt.Sprintf("distribution %s needs both min and max", dist)
		}
		p.Low, p.High = *rp.min, *rp.max
		return ""
	}
	switch dist {
	case "constant":
		if !hasValue || hasValues || ranged {
			return p, "a constant takes only value"
		}
		p.Kind, p.Values = hpo.Const, []any{rp.value}
		return p, ""
	case "categorical":
		if !hasValues || hasValue || ranged {
			return p, "a categorical parameter takes only values"
		}
		p.Kind, p.Values = hpo.Categorical, rp.values
		return p, ""
	case "int_uniform", "int_log_uniform":
		p.Kind, p.Log = hpo.Int, dist == "int_log_uniform"
		if msg := needRange(); msg != "" {
			return p, msg
		}
	case "uniform", "q_uniform":
		p.Kind = hpo.Float
		if msg := needRange(); msg != "" {
			return p, msg
		}
	case "log_uniform_values", "q_log_uniform_values":
		p.Kind, p.Log = hpo.Float, true
		if msg := needRange(); msg != "" {
			return p, msg
		}
	case "log_uniform", "q_log_uniform":
		// W&B: min and max are natural logs of the bounds.
		p.Kind, p.Log = hpo.Float, true
		if msg := needRange(); msg != "" {
			return p, msg
		}
		if math.Abs(p.Low) > 700 || math.Abs(p.High) > 700 {
			return p, "log_uniform takes min and max as exponents (ln); these are too large — did you mean log_uniform_values?"
		}
		p.Low, p.High = math.Exp(p.Low), math.Exp(p.High)
	case "normal", "q_normal", "log_normal", "q_log_normal", "inv_log_uniform", "inv_log_uniform_values", "beta", "q_beta":
		return p, fmt.Sprintf("distribution %s is not supported; use uniform, int_uniform, log_uniform_values, q_uniform or categorical", dist)
	default:
		return p, fmt.Sprintf("distribution %q is not one of constant, categorical, uniform, int_uniform, q_uniform, log_uniform, log_uniform_values, q_log_uniform_values", dist)
	}
	if strings.HasPrefix(dist, "q_") {
		p.Q = 1
		if rp.q != nil {
			p.Q = *rp.q
		}
	} else if rp.q != nil {
		if p.Kind == hpo.Int && *rp.q == 1 {
			return p, ""
		}
		return p, fmt.Sprintf("q is for q_uniform and q_log_uniform_values, not %s", dist)
	}
	return p, ""
}

// ParseParam reads the command line's compact form of a parameter,
// `name=kind:args`:
//
//	lr=loguniform:1e-5:1e-1     float, log scale
//	dropout=uniform:0:0.5       float (also float:0:0.5)
//	wd=quniform:0:0.1:0.01      float on a grid of q
//	layers=int:2:8              integer (logint:1:1024 for log scale)
//	opt=choice:adam,sgd         categorical; numbers and true/false typed
//	epochs=const:10             constant (also just epochs=10)
//
// A dotted name (optimizer.lr) nests. Errors are EINVALID and quote the
// argument.
func ParseParam(arg string) (hpo.Param, error) {
	bad := func(format string, args ...any) (hpo.Param, error) {
		return hpo.Param{}, trainyard.Errorf(trainyard.EINVALID, "--param %q: %s", arg, fmt.Sprintf(format, args...))
	}
	name, spec, ok := strings.Cut(arg, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return bad("want name=kind:args, such as lr=loguniform:1e-5:1e-1")
	}
	kind, rest, hasKind := strings.Cut(spec, ":")
	if !hasKind {
		kind, rest = "const", spec
	}
	nums := func(n int) ([]float64, bool) {
		parts := strings.Split(rest, ":")
		if len(parts) != n {
			return nil, false
		}
		out := make([]float64, n)
		for i, s := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, false
			}
			out[i] = f
		}
		return out, true
	}
	p := hpo.Param{Name: name}
	switch strings.ToLower(kind) {
	case "uniform", "float", "loguniform", "logfloat":
		x, ok := nums(2)
		if !ok {
			return bad("%s needs min:max", kind)
		}
		p.Kind, p.Low, p.High, p.Log = hpo.Float, x[0], x[1], strings.HasPrefix(strings.ToLower(kind), "log")
	case "quniform", "qloguniform":
		x, ok := nums(3)
		if !ok {
			return bad("%s needs min:max:q", kind)
		}
		p.Kind, p.Low, p.High, p.Q, p.Log = hpo.Float, x[0], x[1], x[2], strings.ToLower(kind) == "qloguniform"
	case "int", "randint", "logint":
		x, ok := nums(2)
		if !ok {
			return bad("%s needs min:max", kind)
		}
		p.Kind, p.Low, p.High, p.Log = hpo.Int, x[0], x[1], strings.ToLower(kind) == "logint"
	case "choice", "categorical":
		if rest == "" {
			return bad("choice needs values separated by commas")
		}
		for _, v := range strings.Split(rest, ",") {
			p.Values = append(p.Values, typed(strings.TrimSpace(v)))
		}
		p.Kind = hpo.Categorical
	case "const":
		p.Kind, p.Values = hpo.Const, []any{typed(rest)}
	default:
		return bad("kind %q is not one of uniform, loguniform, quniform, int, logint, choice, const", kind)
	}
	sp := hpo.Space{Params: []hpo.Param{p}}
	if err := sp.Validate(); err != nil {
		return bad("%s", strings.TrimPrefix(trainyard.ErrorMessage(err), "parameters."+name+": "))
	}
	return sp.Params[0], nil
}

// ParseParams reads several --param arguments into a space; a name given
// twice is an error.
func ParseParams(args []string) (hpo.Space, error) {
	var sp hpo.Space
	var errs []string
	for _, a := range args {
		p, err := ParseParam(a)
		if err != nil {
			errs = append(errs, trainyard.ErrorMessage(err))
			continue
		}
		sp.Params = append(sp.Params, p)
	}
	if len(errs) == 0 {
		if err := sp.Validate(); err != nil {
			errs = append(errs, trainyard.ErrorMessage(err))
		}
	}
	if len(errs) > 0 {
		return hpo.Space{}, trainyard.Errorf(trainyard.EINVALID, "%s", strings.Join(errs, "\n"))
	}
	return sp, nil
}

// typed reads a command-line value as an int, a float, a bool or a string.
func typed(s string) any {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return f
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	return s
}
