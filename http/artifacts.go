package http

import (
	"mime"
	"net/http"
	"path"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
	"github.com/trainyard/trainyard/httplimit"
)

func (s *Server) listArtifacts(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.cfg.Store.Run(r.Context(), id); err != nil {
		return err
	}
	recursive, err := boolParam(r.URL.Query().Get("recursive"), "recursive")
	if err != nil {
		return err
	}
	list, err := s.cfg.Artifacts.ListArtifacts(r.Context(), id, r.URL.Query().Get("path"), recursive)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"artifacts": list})
}

func (s *Server) getArtifact(w http.ResponseWriter, r *http.Request) error {
	id, p := r.PathValue("id"), r.PathValue("path")
	if _, err := s.cfg.Store.Run(r.Context(), id); err != nil {
		return err
	}
	f, info, err := s.cfg.Artifacts.OpenArtifact(r.Context(), id, p)
	if err != nil {
		return err
	}
	defer f.Close()
	httplimit.Stream(r) // a large file takes as long as it takes, while it moves
	ct := mime.TypeByExtension(path.Ext(info.Path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// Stored HTML or SVG must not run as this origin's script.
	w.Header().Set("Content-Security-Policy", "sandbox")
	httpkit.ServeContent(w, r, path.Base(info.Path), info.ModTime, f)
	return nil
}

func (s *Server) putArtifact(w http.ResponseWriter, r *http.Request) error {
	id, p := r.PathValue("id"), r.PathValue("path")
	if _, err := s.cfg.Store.Run(r.Context(), id); err != nil {
		return err
	}
	httplimit.Stream(r) // streamed to disk: as long as it moves
	info, err := s.cfg.Artifacts.PutArtifact(r.Context(), id, p, http.MaxBytesReader(w, r.Body, s.cfg.MaxArtifactBytes))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, info)
}

func (s *Server) deleteArtifact(w http.ResponseWriter, r *http.Request) error {
	id, p := r.PathValue("id"), r.PathValue("path")
	if _, err := s.cfg.Store.Run(r.Context(), id); err != nil {
		return err
	}
	if p == "" {
		return trainyard.FieldError("path", "is empty: name the file or directory to delete")
	}
	if err := s.cfg.Artifacts.DeleteArtifact(r.Context(), id, p); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
