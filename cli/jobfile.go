package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/trainyard/trainyard"
	yaml "go.yaml.in/yaml/v4"
)

// ParseJobFile reads a job spec from YAML (JSON is YAML too). Problems are
// errors that name the file, the line and the field: a syntax error at the
// line where it is (and where the construct it breaks began), every unknown
// or repeated field at once, wrong types, and what Validate finds. A command
// given as a string runs with sh -c.
func ParseJobFile(name string, data []byte) (*trainyard.JobSpec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(name, data, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; see `trainyard submit --help` for the fields", name)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of job fields", name, doc.Line)
	}
	if problems := fieldProblems(doc, reflect.TypeOf(trainyard.JobSpec{}), ""); len(problems) > 0 {
		sort.SliceStable(problems, func(a, b int) bool { return problems[a].line < problems[b].line })
		lines := make([]string, len(problems))
		for i, p := range problems {
			lines[i] = fmt.Sprintf("%s:%d: %s: %s", name, p.line, p.field, p.msg)
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	var generic any
	if err := doc.Decode(&generic); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if m, ok := generic.(map[string]any); ok {
		if c, ok := m["command"].(string); ok {
			m["command"] = []string{"sh", "-c", c}
		}
		// Commands, env values and tags are strings, whatever YAML makes of
		// them: [python, x.py, --epochs, 10] means the text "10".
		for i := 0; i+1 < len(doc.Content); i += 2 {
			k, v := doc.Content[i].Value, doc.Content[i+1]
			switch {
			case k == "command" && v.Kind == yaml.SequenceNode:
				m[k] = scalarTexts(v.Content)
			case (k == "env" || k == "tags") && v.Kind == yaml.MappingNode:
				kv := map[string]any{}
				for j := 0; j+1 < len(v.Content); j += 2 {
					if v.Content[j+1].Kind == yaml.ScalarNode {
						kv[v.Content[j].Value] = v.Content[j+1].Value
					} else {
						var x any
						v.Content[j+1].Decode(&x) // not a string: the decoder names it
						kv[v.Content[j].Value] = x
					}
				}
				m[k] = kv
			}
		}
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	spec := trainyard.NewJobSpec()
	if err := dec.Decode(&spec); err != nil {
		field, msg := describeJSONError(err)
		line := lineOf(doc, field)
		if !strings.Contains(field, ".") {
			// encoding/json names an unknown nested field without its path.
			if path, l := findKey(doc, field, ""); l > 0 {
				field, line = path, l
			}
		}
		return nil, fmt.Errorf("%s:%d: %s: %s", name, line, field, msg)
	}
	if err := spec.Validate(); err != nil {
		var lines []string
		for _, e := range flatten(err) {
			var te *trainyard.Error
			if errors.As(e, &te) && te.Field != "" {
				lines = append(lines, fmt.Sprintf("%s:%d: %s", name, lineOf(doc, te.Field), te.Message))
			} else {
				lines = append(lines, fmt.Sprintf("%s: %s", name, e))
			}
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return &spec, nil
}

// syntaxError names the line (and column) of a YAML syntax error, and for
// an unclosed construct, where it began.
func syntaxError(name string, data []byte, err error) error {
	var le *yaml.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		return fmt.Errorf("%s: %w", name, err)
	}
	msg := fmt.Sprintf("%s:%d:%d: YAML syntax: %s", name, le.Mark.Line, le.Mark.Column, le.Message)
	if le.ContextMsg != "" && le.ContextMark.Line > 0 && le.ContextMark != le.Mark {
		msg += fmt.Sprintf(" (%s at line %d, column %d)", le.ContextMsg, le.ContextMark.Line, le.ContextMark.Column)
	}
	if i := le.Mark.Index; i >= 0 && i < len(data) && data[i] == '\t' {
		msg += " (a tab: YAML indents with spaces)"
	}
	return errors.New(msg)
}

type fieldProblem struct {
	line       int
	field, msg string
}

// fieldProblems walks a mapping against the struct type t (by JSON names)
// and returns every key t has no field for, and every key given twice.
// Maps and values of other types are the decoder's to check.
func fieldProblems(n *yaml.Node, t reflect.Type, prefix string) []fieldProblem {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	var out []fieldProblem
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			out = append(out, fieldProblem{k.Line, path, fmt.Sprintf("given twice (first at line %d)", first)})
			continue
		}
		seen[k.Value] = k.Line
		if t.Kind() != reflect.Struct {
			continue
		}
		f, ok := jsonField(t, k.Value)
		if !ok {
			out = append(out, fieldProblem{k.Line, path, "unknown field" + suggest(t, k.Value) + " (see `trainyard submit --help`)"})
			continue
		}
		out = append(out, fieldProblems(v, f.Type, path)...)
	}
	return out
}

// jsonField finds the field of struct t whose JSON name is name.
func jsonField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest names a field of t that name is probably a typo of.
func suggest(t reflect.Type, name string) string {
	best, bestD := "", 3
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if d := editDistance(strings.ToLower(name), tag); d < bestD {
			best, bestD = tag, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func describeJSONError(err error) (field, msg string) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field, fmt.Sprintf("want %s, got %s", te.Type, te.Value)
	}
	s := strings.TrimPrefix(err.Error(), "json: ")
	if rest, ok := strings.CutPrefix(s, "unknown field "); ok {
		f := strings.Trim(rest, `"`)
		return f, "unknown field (see `trainyard submit --help`)"
	}
	return "", s
}

// lineOf finds the line of a dotted field path in a YAML mapping, or the
// mapping's own line when the path is not there.
func lineOf(n *yaml.Node, field string) int {
	line := n.Line
	cur := n
	for _, part := range strings.Split(field, ".") {
		if cur.Kind != yaml.MappingNode {
			break
		}
		found := false
		for i := 0; i+1 < len(cur.Content); i += 2 {
			if cur.Content[i].Value == part {
				line = cur.Content[i].Line
				cur = cur.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			break
		}
	}
	return line
}

// findKey finds the first mapping key called name, depth first, and
// returns its dotted path and line.
func findKey(n *yaml.Node, name, prefix string) (string, int) {
	if n.Kind != yaml.MappingNode {
		return "", 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		if k.Value == name {
			return path, k.Line
		}
		if p, l := findKey(n.Content[i+1], name, path); l > 0 {
			return p, l
		}
	}
	return "", 0
}

func scalarTexts(nodes []*yaml.Node) []any {
	out := make([]any, len(nodes))
	for i, n := range nodes {
		if n.Kind == yaml.ScalarNode {
			out[i] = n.Value
		} else {
			var v any
			n.Decode(&v)
			out[i] = v // not a string: the decoder names it
		}
	}
	return out
}
