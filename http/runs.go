package http

import (
	"net/http"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	var n trainyard.NewRun
	if err := s.decodeJSON(w, r, &n); err != nil {
		return err
	}
	got, err := s.cfg.Tracking.CreateRun(r.Context(), n)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/runs/"+got.ID)
	return writeJSON(w, http.StatusCreated, got)
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := trainyard.RunFilter{Project: q.Get("project"), State: trainyard.State(q.Get("state"))}
	if f.State != "" && !f.State.Valid() {
		return trainyard.FieldError("state", "%q is not one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED", f.State)
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", 0, 100_000); err != nil {
		return err
	}
	if f.Offset, err = intParam(q.Get("offset"), "offset", 0, 1<<31-1); err != nil {
		return err
	}
	filter, err := runquery.Parse(q.Get("filter"))
	if err != nil {
		return trainyard.FieldError("filter", "%v", err)
	}
	order, err := runquery.ParseOrderBy(q["order_by"])
	if err != nil {
		return trainyard.FieldError("order_by", "%v", err)
	}
	prefix, err := idPrefixParam(q.Get("id_prefix"))
	if err != nil {
		return err
	}
	token := q.Get("page_token")
	var runs []*trainyard.Run
	var next string
	if len(filter.Clauses) == 0 && len(order) == 0 && prefix == "" && token == "" {
		if runs, err = s.cfg.Store.Runs(r.Context(), f); err != nil {
			return err
		}
	} else {
		// The store answers the parsed search (SQL on PostgreSQL, its index
		// in memory on SQLite), ordered newest first after order_by.
		search := trainyard.RunSearch{Filter: filter.Clauses, Order: order, IDPrefix: prefix, PageToken: token, Offset: f.Offset, Limit: f.Limit}
		if f.Project != "" {
			search.Projects = []string{f.Project}
		}
		if f.State != "" {
			search.Filter = append(search.Filter, trainyard.RunClause{Kind: trainyard.RunAttribute, Key: trainyard.AttrState, Op: "=", Str: string(f.State)})
		}
		if runs, next, err = s.cfg.Store.SearchRuns(r.Context(), search); err != nil {
			return err
		}
	}
	if runs == nil {
		runs = []*trainyard.Run{}
	}
	out := map[string]any{"runs": runs}
	if next != "" {
		out["next_page_token"] = next
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.cfg.Store.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

func (s *Server) updateRun(w http.ResponseWriter, r *http.Request) error {
	var u trainyard.RunUpdate
	if err := s.decodeJSON(w, r, &u); err != nil {
		return err
	}
	run, err := s.cfg.Tracking.UpdateRun(r.Context(), r.PathValue("id"), u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, run)
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Store.Projects(r.Context())
	if err != nil {
		return err
	}
	if ps == nil {
		ps = []trainyard.Project{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"projects": ps})
}
