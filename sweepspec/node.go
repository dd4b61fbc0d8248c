package sweepspec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"gopkg.in/yaml.v3"
)

// reader walks a YAML document, collecting every problem as
// "file:line: field: message" rather than stopping at the first.
type reader struct {
	file  string
	errs  []error
	lines map[string]int // field path → line, to place later errors
	// docLine is where errors about missing fields point.
	docLine int
}

func (r *reader) errf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	r.errs = append(r.errs, &trainyard.Error{Code: trainyard.EINVALID, Field: field, Message: fmt.Sprintf("%s:%d: %s", r.file, line, msg)})
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// fields calls each handler for its key of mapping n, and reports keys
// with no handler as unknown and repeated keys as repeated.
func (r *reader) fields(n *yaml.Node, prefix string, handlers map[string]func(v *yaml.Node, field string)) {
	if n.Kind != yaml.MappingNode {
		r.errf(n, prefix, "want a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f := join(prefix, k.Value)
		if seen[k.Value] {
			r.errf(k, f, "is given twice")
			continue
		}
		seen[k.Value] = true
		r.lines[f] = k.Line
		h, ok := handlers[k.Value]
		if !ok {
			known := make([]string, 0, len(handlers))
			for name := range handlers {
				known = append(known, name)
			}
			r.errf(k, f, "unknown field (known: %s)", strings.Join(sorted(known), ", "))
			continue
		}
		h(v, f)
	}
}

func sorted(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (r *reader) str(n *yaml.Node, field string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.errf(n, field, "want a string, got %s", kindName(n))
		return ""
	}
	return n.Value
}

func (r *reader) integer(n *yaml.Node, field string) int {
	if n.Kind == yaml.ScalarNode {
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil && v >= math.MinInt32 && v <= math.MaxInt32 {
			return int(v)
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32 {
			return int(f)
		}
	}
	r.errf(n, field, "want an integer, got %s", kindName(n))
	return 0
}

func (r *reader) number(n *yaml.Node, field string) float64 {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!str" {
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
	r.errf(n, field, "want a number, got %s", kindName(n))
	return 0
}

func (r *reader) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true", "yes", "on":
			return true
		case "false", "no", "off":
			return false
		}
	}
	r.errf(n, field, "want true or false, got %s", kindName(n))
	return false
}

func (r *reader) duration(n *yaml.Node, field string) time.Duration {
	if n.Kind == yaml.ScalarNode {
		if d, err := time.ParseDuration(n.Value); err == nil {
			return d
		}
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && f >= 0 && f < 1e9 {
			return time.Duration(f * float64(time.Second)) // plain seconds
		}
	}
	r.errf(n, field, "want a duration such as 90m or 2h30m, got %s", kindName(n))
	return 0
}

// strs reads a list of strings; each scalar is taken as its text.
func (r *reader) strs(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		r.errf(n, field, "want a list, got %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, r.str(c, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}

func (r *reader) strMap(n *yaml.Node, field string) map[string]string {
	if n.Kind != yaml.MappingNode {
		r.errf(n, field, "want a mapping, got %s", kindName(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i].Value
		out[k] = r.str(n.Content[i+1], join(field, k))
	}
	return out
}

// value reads a scalar as the Go value a trial should see: int64,
// float64, bool, string or nil.
func (r *reader) value(n *yaml.Node, field string) any {
	if n.Kind != yaml.ScalarNode {
		r.errf(n, field, "want a number, string or boolean, got %s", kindName(n))
		return nil
	}
	switch n.Tag {
	case "!!int":
		if v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64); err == nil {
			return v
		}
		f, _ := strconv.ParseFloat(n.Value, 64)
		return f
	case "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
		r.errf(n, field, "%q is not a finite number", n.Value)
		return nil
	case "!!bool":
		return r.boolean(n, field)
	case "!!null":
		return nil
	}
	return n.Value
}

// values reads a list of scalar values.
func (r *reader) values(n *yaml.Node, field string) []any {
	if n.Kind != yaml.SequenceNode {
		return []any{r.value(n, field)}
	}
	out := make([]any, 0, len(n.Content))
	for i, c := range n.Content {
		out = append(out, r.value(c, fmt.Sprintf("%s[%d]", field, i)))
	}
	return out
}
