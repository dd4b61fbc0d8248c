package mlflowapi

import (
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// storeSearch turns an MLflow run filter and ordering into the store's
// search (trainyard.RunSearch: data, which the store compiles): MLflow's
// names become trainyard's, and clauses on a value with a few possible
// values are decided here, against each of them, into an IN list:
//
//	status            state IN (the states whose MLflow status matches)
//	experiment_id     project IN (the experiments whose ID matches)
//	lifecycle_stage   the view (active, deleted or both)
//	start_time        started (the run's start, or its creation before it started)
//	end_time          ended
//	run_id, run_uuid  id;  run_name and the mlflow.runName tag: name
//	user_id           the mlflow.user tag
//	artifact_uri      = only: the run and project it names
//
// none reports a search that can match nothing (a lifecycle_stage clause
// that excludes the view asked for). Ordering by status or experiment_id
// sorts by trainyard's state or project name.
func (s *Server) storeSearch(filter *runquery.Filter, order []runquery.OrderTerm, view trainyard.View, exps []*trainyard.Experiment) (q trainyard.RunSearch, none bool, err error) {
	q.View = view
	for _, c := range filter.Clauses {
		c := c
		switch {
		case c.Kind == runquery.Tag && c.Key == runNameTag:
			c.Kind, c.Key = runquery.Attribute, trainyard.AttrName
		case c.Kind != runquery.Attribute:
		case c.Key == "status":
			in := []string{}
			for _, st := range []trainyard.State{trainyard.StateQueued, trainyard.StateRunning, trainyard.StateSucceeded, trainyard.StateFailed, trainyard.StateCanceled} {
				if runquery.MatchString(&c, mlStatus(st)) {
					in = append(in, string(st))
				}
			}
			c = trainyard.RunClause{Kind: runquery.Attribute, Key: trainyard.AttrState, Op: "IN", Values: in}
		case c.Key == "experiment_id":
			in := []string{}
			for _, e := range exps {
				if runquery.MatchString(&c, e.ID) {
					in = append(in, e.Name)
				}
			}
			c = trainyard.RunClause{Kind: runquery.Attribute, Key: trainyard.AttrProject, Op: "IN", Values: in}
		case c.Key == "lifecycle_stage":
			active := runquery.MatchString(&c, "active") && q.View.Includes(false)
			deleted := runquery.MatchString(&c, "deleted") && q.View.Includes(true)
			switch {
			case active && deleted:
				q.View = trainyard.ViewAll
			case active:
				q.View = trainyard.ViewActive
			case deleted:
				q.View = trainyard.ViewDeleted
			default:
				return q, true, nil
			}
			continue
		case c.Key == "artifact_uri":
			if c.Op != "=" {
				return q, false, trainyard.FieldError("filter", "artifact_uri can be compared only with =")
			}
			projects, id := s.parseRunArtifactURI(c.Str, exps)
			if len(projects) == 0 {
				return q, true, nil
			}
			q.Filter = append(q.Filter,
				trainyard.RunClause{Kind: runquery.Attribute, Key: trainyard.AttrProject, Op: "IN", Values: projects},
				trainyard.RunClause{Kind: runquery.Attribute, Key: trainyard.AttrID, Op: "=", Str: id})
			continue
		case c.Key == "user_id":
			c.Kind, c.Key = runquery.Tag, userTag
		default:
			c.Key = mlAttr(c.Key)
		}
		q.Filter = append(q.Filter, c)
	}
	for _, o := range order {
		switch {
		case o.Kind == runquery.Tag && o.Key == runNameTag:
			o.Kind, o.Key = runquery.Attribute, trainyard.AttrName
		case o.Kind != runquery.Attribute:
		case o.Key == "status":
			o.Key = trainyard.AttrState
		case o.Key == "experiment_id":
			o.Key = trainyard.AttrProject
		case o.Key == "user_id":
			o.Kind, o.Key = runquery.Tag, userTag
		default:
			o.Key = mlAttr(o.Key)
		}
		q.Order = append(q.Order, o)
	}
	return q, false, nil
}

// mlAttr maps MLflow's other run attributes to trainyard's.
func mlAttr(name string) string {
	switch name {
	case "start_time", "created":
		return trainyard.AttrStarted
	case "end_time":
		return trainyard.AttrEnded
	case "run_id", "run_uuid":
		return trainyard.AttrID
	case "run_name":
		return trainyard.AttrName
	}
	return name
}

// parseRunArtifactURI finds the run an artifact URI of runArtifactURI
// names, and the projects whose experiments' artifact location it is under
// (an artifact location set by hand may be another's).
func (s *Server) parseRunArtifactURI(uri string, exps []*trainyard.Experiment) (projects []string, id string) {
	for _, e := range exps {
		prefix := appendURIPath(s.artifactLocation(e), "")
		rest, found := strings.CutPrefix(uri, prefix)
		if !found {
			continue
		}
		runID, found := strings.CutSuffix(rest, "/artifacts")
		if found && runID != "" && !strings.Contains(runID, "/") && (id == "" || id == runID) {
			id = runID
			projects = append(projects, e.Name)
		}
	}
	return projects, id
}

// projectsOf names the projects of the experiments asked for, once each.
func projectsOf(ids []string, exps []*trainyard.Experiment) []string {
	var projects []string
	for _, id := range ids {
		for _, e := range exps {
			if e.ID == id && !slices.Contains(projects, e.Name) {
				projects = append(projects, e.Name)
			}
		}
	}
	return projects
}
