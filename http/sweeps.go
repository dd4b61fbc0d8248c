package http

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// sweeps returns the sweep service, or EUNAVAILABLE when the server runs
// none.
func (s *Server) sweeps() (*sweep.Service, error) {
	if s.cfg.Sweeps == nil {
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server runs no sweep service")
	}
	return s.cfg.Sweeps, nil
}

// createSweep takes a sweep spec as YAML (trainyard's or W&B's) or JSON
// with the same fields. ?file= names the spec in error messages
// ("sweep.yaml:3: parameters.lr: ...").
func (s *Server) createSweep(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	switch ct {
	case "", "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain":
	default:
		return trainyard.Errorf(trainyard.EINVALID, "Content-Type %q: send the sweep spec as application/yaml or application/json", ct)
	}
	body, release, err := s.cfg.Budget.ReadBody(w, r, s.cfg.MaxJSONBytes, costJSON)
	if err != nil {
		return err
	}
	defer release()
	source := "request body"
	if f := r.URL.Query().Get("file"); f != "" {
		source = path.Base(strings.ReplaceAll(f, "\\", "/"))
	}
	v, err := svc.Create(r.Context(), source, body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/sweeps/"+v.ID)
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) listSweeps(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := trainyard.SweepFilter{Project: q.Get("project")}
	if f.Active, err = boolParam(q.Get("active"), "active"); err != nil {
		return err
	}
	if f.Limit, err = intParam(q.Get("limit"), "limit", 0, 100_000); err != nil {
		return err
	}
	if f.IDPrefix, err = idPrefixParam(q.Get("id_prefix")); err != nil {
		return err
	}
	vs, err := svc.List(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"sweeps": vs})
}

func (s *Server) getSweep(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	v, err := svc.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// controlSweep serves pause, resume and stop.
func (s *Server) controlSweep(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	var v *sweep.View
	switch path.Base(r.URL.Path) {
	case "pause":
		v, err = svc.Pause(r.Context(), id)
	case "resume":
		v, err = svc.Resume(r.Context(), id)
	default:
		v, err = svc.Stop(r.Context(), id)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) suggestTrials(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	var req sweep.SuggestRequest
	body, release, err := s.cfg.Budget.ReadBody(w, r, s.cfg.MaxJSONBytes, costJSON)
	if err != nil {
		return err
	}
	defer release()
	if len(bytes.TrimSpace(body)) > 0 { // no body: one trial from the searcher
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return jsonError(err)
		}
	}
	out, err := svc.Suggest(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) reportTrial(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.sweeps()
	if err != nil {
		return err
	}
	var req sweep.ReportRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	t, err := svc.Report(r.Context(), r.PathValue("id"), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"trial": t, "should_stop": t.Directive != "", "directive": t.Directive})
}
