package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"gopkg.in/yaml.v3"
)

// ParseJobFile reads a job spec from YAML (JSON is YAML too). Unknown
// fields and wrong types are errors that name the file, the line and the
// field; a command given as a string runs with sh -c.
func ParseJobFile(name string, data []byte) (*trainyard.JobSpec, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%s: the file is empty; see `trainyard submit --help` for the fields", name)
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of job fields", name, doc.Line)
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
	var spec trainyard.JobSpec
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
