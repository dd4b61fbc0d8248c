package hpo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// Kind is the kind of a parameter.
type Kind string

// Parameter kinds.
const (
	Const       Kind = "const"       // one fixed value
	Int         Kind = "int"         // an integer in [Low, High], uniform or log-uniform
	Float       Kind = "float"       // a real in [Low, High], uniform or log-uniform, optionally on a grid of Q
	Categorical Kind = "categorical" // one of Values
)

// Param is one dimension of a search space.
//
// Name is a path: "lr", or "optimizer.lr" for a nested parameter, which the
// trial sees as config["optimizer"]["lr"]. When is set for a conditional
// parameter: it exists in a trial's config only when the categorical (or
// const) parameter When.Param exists and has one of When.Values. A parent
// precedes its children in Space.Params.
type Param struct {
	Name   string  `json:"name"`
	Kind   Kind    `json:"kind"`
	Low    float64 `json:"low,omitempty"`
	High   float64 `json:"high,omitempty"`
	Log    bool    `json:"log,omitempty"`
	Q      float64 `json:"q,omitempty"`      // Float only: values are Low + k·Q (Int always steps by 1)
	Values []any   `json:"values,omitempty"` // Categorical: the choices (string, int64, float64, bool or nil); Const: one value
	When   *Cond   `json:"when,omitempty"`
}

// Cond makes a parameter conditional on another's value.
type Cond struct {
	Param  string `json:"param"`
	Values []any  `json:"values"`
}

// Space is an ordered list of parameters.
type Space struct {
	Params []Param `json:"params"`
}

// Validate reports every problem at once, each naming the parameter, and
// normalises categorical values (Go ints become int64, float32 float64).
func (s *Space) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i := range s.Params {
		p := &s.Params[i]
		f := "parameters." + p.Name
		if p.Name == "" || strings.HasPrefix(p.Name, ".") || strings.HasSuffix(p.Name, ".") || strings.Contains(p.Name, "..") {
			errs = append(errs, trainyard.FieldError(fmt.Sprintf("parameters[%d]", i), "name %q is not a parameter path", p.Name))
			continue
		}
		if _, dup := seen[p.Name]; dup {
			errs = append(errs, trainyard.FieldError(f, "is defined twice"))
		}
		seen[p.Name] = i
		for j := range p.Values {
			p.Values[j] = normValue(p.Values[j])
		}
		switch p.Kind {
		case Const:
			if len(p.Values) != 1 {
				errs = append(errs, trainyard.FieldError(f, "a const parameter has exactly one value, not %d", len(p.Values)))
			}
		case Categorical:
			if len(p.Values) == 0 {
				errs = append(errs, trainyard.FieldError(f, "a categorical parameter needs at least one value"))
			}
			for a := range p.Values {
				for b := a + 1; b < len(p.Values); b++ {
					if valueEqual(p.Values[a], p.Values[b]) {
						errs = append(errs, trainyard.FieldError(f, "value %v is listed twice", p.Values[a]))
					}
				}
			}
		case Int, Float:
			if math.IsNaN(p.Low) || math.IsNaN(p.High) || math.IsInf(p.Low, 0) || math.IsInf(p.High, 0) {
				errs = append(errs, trainyard.FieldError(f, "min and max must be finite numbers"))
				break
			}
			if p.Low > p.High {
				errs = append(errs, trainyard.FieldError(f, "min %v is above max %v", p.Low, p.High))
			}
			if p.Log && p.Low <= 0 {
				errs = append(errs, trainyard.FieldError(f, "a log-scale parameter needs min > 0, not %v", p.Low))
			}
			if p.Kind == Int && (p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High)) {
				errs = append(errs, trainyard.FieldError(f, "an int parameter needs integer min and max, not %v and %v", p.Low, p.High))
			}
			if p.Q < 0 || math.IsNaN(p.Q) || math.IsInf(p.Q, 0) {
				errs = append(errs, trainyard.FieldError(f, "q must be a positive number, not %v", p.Q))
			}
			if p.Kind == Float && p.Q > 0 && p.Q < 1e-12*math.Max(1, math.Max(math.Abs(p.Low), math.Abs(p.High))) {
				errs = append(errs, trainyard.FieldError(f, "q %v is too small for numbers of this size", p.Q))
			}
			if p.Kind == Int && p.Q != 0 && p.Q != 1 {
				errs = append(errs, trainyard.FieldError(f, "an int parameter steps by 1; q %v is not supported", p.Q))
			}
		default:
			errs = append(errs, trainyard.FieldError(f, "kind %q is not one of const, int, float, categorical", p.Kind))
		}
		if p.When != nil {
			j, ok := seen[p.When.Param]
			switch {
			case !ok:
				errs = append(errs, trainyard.FieldError(f+".when", "parent %q is not a parameter defined before it", p.When.Param))
			case s.Params[j].Kind != Categorical && s.Params[j].Kind != Const:
				errs = append(errs, trainyard.FieldError(f+".when", "parent %q must be categorical or const, not %s", p.When.Param, s.Params[j].Kind))
			case len(p.When.Values) == 0:
				errs = append(errs, trainyard.FieldError(f+".when", "names no value of %q", p.When.Param))
			default:
				for k := range p.When.Values {
					p.When.Values[k] = normValue(p.When.Values[k])
					if s.Params[j].index(p.When.Values[k]) < 0 {
						errs = append(errs, trainyard.FieldError(f+".when", "%v is not a value of %q", p.When.Values[k], p.When.Param))
					}
				}
			}
		}
	}
	if len(s.Params) == 0 {
		errs = append(errs, trainyard.FieldError("parameters", "is empty: give at least one parameter"))
	}
	// A name must not be both a leaf and a prefix of another ("a" and "a.b").
	for name := range seen {
		for other := range seen {
			if strings.HasPrefix(other, name+".") {
				errs = append(errs, trainyard.FieldError("parameters."+name, "is both a value and the parent of %q", other))
			}
		}
	}
	return errors.Join(errs...)
}

// index returns the position of v in p.Values, or -1.
func (p *Param) index(v any) int {
	v = normValue(v)
	for i, c := range p.Values {
		if valueEqual(c, v) {
			return i
		}
	}
	return -1
}

// numeric reports whether the parameter is an int or float range.
func (p *Param) numeric() bool { return p.Kind == Int || p.Kind == Float }

// step is the grid of a numeric parameter: 1 for ints, Q for quantised
// floats, 0 for continuous ones.
func (p *Param) step() float64 {
	if p.Kind == Int {
		return 1
	}
	return p.Q
}

// snap rounds an internal numeric value onto the parameter's grid and into
// its bounds.
func (p *Param) snap(x float64) float64 {
	if st := p.step(); st > 0 {
		x = p.Low + math.Round((x-p.Low)/st)*st
		if x > p.High {
			if x-p.High < st*1e-6 { // the top of the grid, off by rounding
				x = p.High
			} else {
				x -= st * math.Ceil((x-p.High)/st)
			}
		}
		// Drop the noise of binary arithmetic: 0.8 + 0.05 is 0.85, not
		// 0.8500000000000001.
		x, _ = strconv.ParseFloat(strconv.FormatFloat(x, 'g', 15, 64), 64)
	}
	return math.Max(p.Low, math.Min(p.High, x))
}

// external turns an internal value (a number, or an index for categorical)
// into what the trial sees.
func (p *Param) external(x float64) any {
	switch p.Kind {
	case Const:
		return p.Values[0]
	case Categorical:
		return p.Values[int(x)]
	case Int:
		return int64(math.Round(x))
	}
	return x
}

// Point is a configuration in internal form: numeric values as numbers,
// categorical ones as the index of the choice. Inactive conditional
// parameters are absent. It marshals as a JSON object with sorted keys.
type Point map[string]float64

// Config is a configuration as a trial sees it: nested maps following the
// dotted parameter names, with int64, float64, string, bool or nil leaves.
type Config map[string]any

// Config returns the trial-facing configuration of pt.
func (s *Space) Config(pt Point) Config {
	c := Config{}
	for i := range s.Params {
		p := &s.Params[i]
		if !s.active(pt, p) {
			continue
		}
		x := pt[p.Name]
		setPath(c, p.Name, p.external(x))
	}
	return c
}

// Flat returns the configuration of pt keyed by dotted parameter name.
func (s *Space) Flat(pt Point) map[string]any {
	m := map[string]any{}
	for i := range s.Params {
		p := &s.Params[i]
		if s.active(pt, p) {
			m[p.Name] = p.external(pt[p.Name])
		}
	}
	return m
}

func setPath(c map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	for _, k := range parts[:len(parts)-1] {
		sub, ok := c[k].(map[string]any)
		if !ok {
			sub = map[string]any{}
			c[k] = sub
		}
		c = sub
	}
	c[parts[len(parts)-1]] = v
}

// active reports whether p exists in a configuration whose earlier
// parameters are pt.
func (s *Space) active(pt Point, p *Param) bool {
	if p.When == nil {
		return true
	}
	x, ok := pt[p.When.Param]
	if !ok {
		return false
	}
	parent := s.param(p.When.Param)
	if parent.Kind == Const {
		x = 0
	}
	for _, v := range p.When.Values {
		if parent.index(v) == int(x) {
			return true
		}
	}
	return false
}

func (s *Space) param(name string) *Param {
	for i := range s.Params {
		if s.Params[i].Name == name {
			return &s.Params[i]
		}
	}
	return nil
}

// samplePrior draws a value of p from its prior: uniform (in log space for
// log parameters), snapped to the grid.
func (p *Param) samplePrior(r *Rand) float64 {
	switch p.Kind {
	case Const:
		return 0
	case Categorical:
		return float64(r.IntN(len(p.Values)))
	}
	lo, hi := p.Low, p.High
	if st := p.step(); st > 0 {
		lo, hi = lo-st/2, hi+st/2
	}
	if p.Log {
		lo = math.Max(lo, p.Low/2) // keep log defined for int ranges starting at 1
		x := math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo)))
		return p.snap(x)
	}
	return p.snap(lo + r.Float64()*(hi-lo))
}

// SampleRandom draws a full configuration from the prior, walking the
// parameters in order so that conditional ones follow their parent.
func (s *Space) SampleRandom(r *Rand) Point {
	pt := Point{}
	for i := range s.Params {
		p := &s.Params[i]
		if s.active(pt, p) {
			pt[p.Name] = p.samplePrior(r)
		}
	}
	return pt
}

// normValue brings a categorical value to a canonical Go type: integers of
// any width to int64, float32 to float64, json.Number by its form.
func normValue(v any) any {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return float64(x)
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if n, err := x.Int64(); err == nil {
				return n
			}
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func valueEqual(a, b any) bool {
	a, b = normValue(a), normValue(b)
	switch x := a.(type) {
	case int64:
		if y, ok := b.(float64); ok {
			return float64(x) == y
		}
	case float64:
		if y, ok := b.(int64); ok {
			return x == float64(y)
		}
	}
	return a == b
}

// MarshalJSON writes a parameter so that it reads back with the same Go
// types: integral floats among Values keep a ".0".
func (p Param) MarshalJSON() ([]byte, error) {
	type plain Param
	q := plain(p)
	q.Values = typedValues(p.Values)
	if p.When != nil {
		w := *p.When
		w.Values = typedValues(w.Values)
		q.When = &w
	}
	return json.Marshal(q)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (p *Param) UnmarshalJSON(b []byte) error {
	type plain Param
	var q plain
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&q); err != nil {
		return err
	}
	for i := range q.Values {
		q.Values[i] = normValue(q.Values[i])
	}
	if q.When != nil {
		for i := range q.When.Values {
			q.When.Values[i] = normValue(q.When.Values[i])
		}
	}
	*p = Param(q)
	return nil
}

func typedValues(vs []any) []any {
	if vs == nil {
		return nil
	}
	out := make([]any, len(vs))
	for i, v := range vs {
		v = normValue(v)
		if f, ok := v.(float64); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
			s := strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			v = json.Number(s)
		}
		out[i] = v
	}
	return out
}
