package mlflowapi

import (
	"slices"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// What each search may filter and order by. runquery parses MLflow's
// grammar for all of them; these say which identifiers an entity has, so
// that a filter naming another answers 400 as MLflow's does (the words of
// MLflow's parse errors differ: see allowlist.py).
type searchable struct {
	entity string
	attrs  []string
	kinds  []runquery.Kind // besides attributes
}

var (
	experimentSearch = searchable{"experiment", []string{"name", "creation_time", "last_update_time", "experiment_id"}, []runquery.Kind{runquery.Tag}}
	runSearch        = searchable{"run", []string{"run_id", "run_uuid", "run_name", "status", "start_time", "end_time", "user_id", "artifact_uri",
		"lifecycle_stage", "experiment_id", "created", "dataset_name", "dataset_digest", "dataset_context"},
		[]runquery.Kind{runquery.Metric, runquery.Param, runquery.Tag}}
	modelSearch   = searchable{"registered model", []string{"name", "creation_timestamp", "last_updated_timestamp", "timestamp"}, []runquery.Kind{runquery.Tag}}
	versionSearch = searchable{"model version", []string{"name", "version_number", "run_id", "source_path", "current_stage", "model_id",
		"creation_timestamp", "last_updated_timestamp"}, []runquery.Kind{runquery.Tag}}
	loggedSearch = searchable{"logged model", []string{"name", "model_id", "source_run_id", "model_type", "status", "experiment_id",
		"creation_timestamp", "creation_time", "last_updated_timestamp"}, []runquery.Kind{runquery.Metric, runquery.Param, runquery.Tag}}
)

func (x searchable) check(kind runquery.Kind, key string) error {
	if kind == runquery.Attribute {
		if !slices.Contains(x.attrs, key) {
			return trainyard.Errorf(trainyard.EINVALID, "Invalid attribute key '%s' specified. Valid keys are %v", key, x.attrs)
		}
		return nil
	}
	if !slices.Contains(x.kinds, kind) {
		return trainyard.Errorf(trainyard.EINVALID, "Invalid entity type '%s' for a %s search", kind, x.entity)
	}
	return nil
}

// parse parses a filter and an order for this kind of search.
func (x searchable) parse(filter string, orderBy []string) (*runquery.Filter, []runquery.OrderTerm, error) {
	f, err := runquery.Parse(filter)
	if err != nil {
		return nil, nil, trainyard.FieldError("filter", "%v", err)
	}
	for _, c := range f.Clauses {
		if err := x.check(c.Kind, c.Key); err != nil {
			return nil, nil, err
		}
	}
	order, err := runquery.ParseOrderBy(orderBy)
	if err != nil {
		return nil, nil, trainyard.FieldError("order_by", "%v", err)
	}
	for _, o := range order {
		if err := x.check(o.Kind, o.Key); err != nil {
			return nil, nil, err
		}
	}
	return f, order, nil
}
