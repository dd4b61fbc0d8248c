package runquery

import (
	"encoding/json"
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

// Tag returns a tag.
func (r RunRecord) Tag(k string) (string, bool) {
	v, ok := r.Tags[k]
	return v, ok
}

// Attr returns a run attribute.
func (r RunRecord) Attr(name string) (any, bool) {
	switch name {
	case "id", "run_id":
		return r.ID, true
	case "name", "run_name":
		return r.Name, true
	case "state", "status":
		return string(r.State), true
	case "project", "experiment":
		return r.Project, true
	case "job_id":
		return r.JobID, r.JobID != ""
	case "created", "created_at", "start_time", "started_at":
		return float64(r.CreatedAt.UnixMilli()), true
	case "ended", "ended_at", "end_time":
		return float64(r.EndedAt.UnixMilli()), !r.EndedAt.IsZero()
	case "exit_code":
		if r.ExitCode == nil {
			return nil, false
		}
		return float64(*r.ExitCode), true
	}
	return nil, false
}
