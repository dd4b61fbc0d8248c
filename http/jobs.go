package http

import (
	"net/http"
	"strconv"

	"github.com/trainyard/trainyard"
)

func (s *Server) submitJob(w http.ResponseWriter, r *http.Request) error {
	spec := trainyard.NewJobSpec()
	if err := s.decodeJSON(w, r, &spec); err != nil {
		return err
	}
	j, err := s.cfg.Jobs.Submit(r.Context(), spec)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/jobs/"+j.ID)
	return writeJSON(w, http.StatusCreated, j)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := trainyard.JobFilter{Project: q.Get("project"), State: trainyard.State(q.Get("state"))}
	if f.State != "" && !f.State.Valid() {
		return trainyard.FieldError("state", "%q is not one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED", f.State)
	}
	var err error
	if f.Active, err = boolParam(q.Get("active"), "active"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", 0, 100_000); err != nil {
		return err
	}
	if f.IDPrefix, err = idPrefixParam(q.Get("id_prefix")); err != nil {
		return err
	}
	js, err := s.cfg.Jobs.Jobs(r.Context(), f)
	if err != nil {
		return err
	}
	if js == nil {
		js = []*trainyard.Job{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"jobs": js})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.cfg.Jobs.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.cfg.Jobs.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}

// cancelJobs cancels several jobs in one call: {"ids": [...]}.
func (s *Server) cancelJobs(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		IDs []string `json:"ids"`
	}
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	js, err := s.cfg.Jobs.CancelMany(r.Context(), body.IDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"jobs": js})
}

// idPrefixParam reads id_prefix: the start of an ID, in the ID alphabet.
func idPrefixParam(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if err := trainyard.ValidateID("id_prefix", v); err != nil {
		return "", err
	}
	return v, nil
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(v, name string, lo, hi int) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, trainyard.FieldError(name, "%q must be an integer from %d to %d", v, lo, hi)
	}
	return n, nil
}

func int64Param(v, name string) (*int64, error) {
	if v == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, trainyard.FieldError(name, "%q must be an integer", v)
	}
	return &n, nil
}

func boolParam(v, name string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, trainyard.FieldError(name, "%q must be true or false", v)
	}
	return b, nil
}
