package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// flagEnv is the TRAINYARD_* variable of a `trainyard up` flag: its name
// in upper case with dashes as underscores (--slurm-partition is
// TRAINYARD_SLURM_PARTITION), except --data, which is TRAINYARD_HOME.
func flagEnv(name string) string {
	if name == "data" {
		return "TRAINYARD_HOME"
	}
	return "TRAINYARD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyConfigFile reads a YAML file whose keys are `trainyard up` flag
// names (addr: 0.0.0.0:8080, executor: slurm, slurm-partition: gpu) and
// sets every flag that neither the command line nor its TRAINYARD_*
// variable set: a flag wins over its variable, which wins over the file,
// which wins over the default. Unknown keys and bad values are errors that
// name the file, the line and the key, all at once.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil // an empty file sets nothing
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of flag names to values, such as `executor: slurm`", path, doc.Line)
	}
	var errs []error
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		f := fs.Lookup(k.Value)
		if f == nil || k.Value == "config" || k.Value == "help" {
			errs = append(errs, fmt.Errorf("%s:%d: %s: not a setting of `trainyard up` (see trainyard up --help)", path, k.Line, k.Value))
			continue
		}
		if f.Changed {
			continue
		}
		if _, set := os.LookupEnv(flagEnv(f.Name)); set {
			continue
		}
		var vals []string
		switch v.Kind {
		case yaml.ScalarNode:
			vals = []string{v.Value}
		case yaml.SequenceNode:
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("%s:%d: %s: want a list of plain values", path, e.Line, k.Value))
					continue
				}
				vals = append(vals, e.Value)
			}
			vals = []string{strings.Join(vals, ",")}
		default:
			errs = append(errs, fmt.Errorf("%s:%d: %s: want a value or a list, not a mapping", path, v.Line, k.Value))
			continue
		}
		for _, val := range vals {
			if err := f.Value.Set(val); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %v", path, v.Line, k.Value, err))
			}
		}
	}
	return errors.Join(errs...)
}
