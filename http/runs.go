package http

import (
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	var n trainyard.NewRun
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &n); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	now := s.cfg.Clock().UTC()
	run := &trainyard.Run{
		ID: n.ID, Project: n.Project, Name: n.Name, State: trainyard.StateRunning,
		Config: trainyard.FlattenConfig(n.Config), Tags: n.Tags, Summary: map[string]any{},
		Command: n.Command, Workdir: n.Workdir, Git: n.Git, CreatedAt: now, StartedAt: now,
	}
	if !n.StartedAt.IsZero() {
		run.CreatedAt, run.StartedAt = n.StartedAt.UTC(), n.StartedAt.UTC()
	}
	if run.Project == "" {
		run.Project = trainyard.DefaultProject
	}
	if run.Tags == nil {
		run.Tags = map[string]string{}
	}
	chosen := run.ID != ""
	for attempt := 0; ; attempt++ {
		if !chosen {
			run.ID = s.cfg.NewID()
		}
		if run.Name == "" {
			run.Name = run.ID
		}
		err := s.cfg.Store.CreateRun(r.Context(), run)
		if err == nil {
			break
		}
		if chosen || !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return err
		}
		if run.Name == run.ID {
			run.Name = ""
		}
	}
	got, err := s.cfg.Store.Run(r.Context(), run.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/runs/"+run.ID)
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
	var runs []*trainyard.Run
	if len(filter.Clauses) == 0 && len(order) == 0 {
		if runs, err = s.cfg.Store.Runs(r.Context(), f); err != nil {
			return err
		}
	} else {
		// The store's in-memory index filters and orders without reading
		// every run from the database.
		search := trainyard.RunSearch{Offset: f.Offset, Limit: f.Limit}
		if f.Project != "" {
			search.Projects = []string{f.Project}
		}
		search.Match = func(run *trainyard.Run) bool {
			return (f.State == "" || run.State == f.State) && filter.Match(runquery.RunRecord{Run: run})
		}
		search.Compare = func(a, b *trainyard.Run) int {
			if c := runquery.Compare(runquery.RunRecord{Run: a}, runquery.RunRecord{Run: b}, order); c != 0 {
				return c
			}
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 { // then newest first
				return c
			}
			return strings.Compare(b.ID, a.ID)
		}
		if runs, _, err = s.cfg.Store.SearchRuns(r.Context(), search); err != nil {
			return err
		}
	}
	if runs == nil {
		runs = []*trainyard.Run{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
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
	if err := decodeJSON(w, r, s.cfg.MaxBodyBytes, &u); err != nil {
		return err
	}
	if err := u.Validate(); err != nil {
		return err
	}
	id := r.PathValue("id")
	if u.State != nil {
		cur, err := s.cfg.Store.Run(r.Context(), id)
		if err != nil {
			return err
		}
		if cur.JobID != "" && *u.State != cur.State {
			return trainyard.FieldError("state", "run %s belongs to job %s, whose state trainyard keeps; cancel the job instead", id, cur.JobID)
		}
	}
	run, err := s.cfg.Store.UpdateRun(r.Context(), id, u)
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
