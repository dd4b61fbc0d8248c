package runquery

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/trainyard/trainyard"
)

// RunRecord lets filters and orderings read a trainyard run with the
// native API's names: metrics are the latest values, params are the config
// (as strings), and the attributes are id (run_id), name (run_name), state
// (status), project, job_id, created (start_time), ended (end_time) and
// exit_code; times are Unix milliseconds.
type RunRecord struct{ *trainyard.Run }

// Metric returns the latest value of a metric.
func (r RunRecord) Metric(k string) (float64, bool) {
	m, ok := r.Metrics[k]
	return float64(m.Last), ok && m.Count > 0
}

// Param returns a config value as a string.
func (r RunRecord) Param(k string) (string, bool) {
	v, ok := r.Config[k]
	if !ok {
		return "", false
	}
	return ParamString(v), true
}

// ParamString renders a config value as MLflow renders a param.
func ParamString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "None"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// MergeParams adds params to a run's config and returns those it added;
// a key that holds a different value refuses them all (params are
// immutable), naming every such key. The same value again is fine and
// keeps the stored value's type.
func MergeParams(runID string, config map[string]any, params map[string]string) (added map[string]any, err error) {
	var errs []error
	for _, k := range trainyard.SortedKeys(params) {
		if old, ok := config[k]; ok && ParamString(old) != params[k] {
			errs = append(errs, trainyard.FieldError("params", "changing param %q of run %s from %q to %q is not allowed: params are immutable",
				k, runID, ParamString(old), params[k]))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	added = map[string]any{}
	for k, v := range params {
		if _, ok := config[k]; !ok {
			config[k], added[k] = v, v
		}
	}
	return added, nil
}

// Tag returns a tag.
func (r RunRecord) Tag(k string) (string, bool) {
	v, ok := r.Tags[k]
	return v, ok
}

// CanonicalAttr returns the trainyard.Attr* name an attribute name or
// alias stands for, or "" for a name runs do not have. Aliases: run_id;
// run_name; status; experiment; created_at, start_time and started_at for
// created; ended_at and end_time for ended.
func CanonicalAttr(name string) string {
	switch name {
	case "id", "run_id":
		return trainyard.AttrID
	case "name", "run_name":
		return trainyard.AttrName
	case "state", "status":
		return trainyard.AttrState
	case "project", "experiment":
		return trainyard.AttrProject
	case "job_id":
		return trainyard.AttrJobID
	case "created", "created_at", "start_time", "started_at":
		return trainyard.AttrCreated
	case "started":
		return trainyard.AttrStarted
	case "ended", "ended_at", "end_time":
		return trainyard.AttrEnded
	case "exit_code":
		return trainyard.AttrExitCode
	}
	return ""
}

// NumericAttr reports whether a canonical attribute is a number.
func NumericAttr(attr string) bool {
	switch attr {
	case trainyard.AttrCreated, trainyard.AttrStarted, trainyard.AttrEnded, trainyard.AttrExitCode:
		return true
	}
	return false
}

// Attr returns a run attribute by its name or an alias (see
// CanonicalAttr).
func (r RunRecord) Attr(name string) (any, bool) {
	switch CanonicalAttr(name) {
	case trainyard.AttrID:
		return r.ID, true
	case trainyard.AttrName:
		return r.Name, true
	case trainyard.AttrState:
		return string(r.State), true
	case trainyard.AttrProject:
		return r.Project, true
	case trainyard.AttrJobID:
		return r.JobID, r.JobID != ""
	case trainyard.AttrCreated:
		return float64(r.CreatedAt.UnixMilli()), true
	case trainyard.AttrStarted:
		if r.StartedAt.IsZero() {
			return float64(r.CreatedAt.UnixMilli()), true
		}
		return float64(r.StartedAt.UnixMilli()), true
	case trainyard.AttrEnded:
		return float64(r.EndedAt.UnixMilli()), !r.EndedAt.IsZero()
	case trainyard.AttrExitCode:
		if r.ExitCode == nil {
			return nil, false
		}
		return float64(*r.ExitCode), true
	}
	return nil, false
}
