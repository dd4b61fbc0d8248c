package http

import (
	"context"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/trainyard/trainyard"
)

// The artifact proxy. Artifact URIs name an experiment and an owner:
//
//	mlflow-artifacts:/<experiment>/<run>/artifacts/<path>           a run's files
//	mlflow-artifacts:/<experiment>/models/<model>/artifacts/<path>  a logged model's files
//
// and map to ArtifactStore(<run or model>, <path>): the same files the
// native API and `trainyard runs show` list. The ArtifactStore refuses
// paths that leave the owner's root; ServeHTTP refuses "." and ".."
// segments before the mux could clean them into another owner's path.

// artifactTarget resolves a proxy path to the artifact store's key and the
// path below it, checking that the run or model exists.
func (s *Server) artifactTarget(ctx context.Context, p string) (key, rest string, err error) {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	bad := trainyard.FieldError("path", "%q is not an artifact path of this server: want <experiment>/<run>/artifacts/... or <experiment>/models/<model>/artifacts/...", p)
	switch {
	case len(segs) >= 4 && segs[1] == "models" && segs[3] == "artifacts":
		key, rest = segs[2], strings.Join(segs[4:], "/")
		if _, err := s.cfg.Store.LoggedModel(ctx, key); err != nil {
			return "", "", err
		}
	case len(segs) >= 3 && segs[2] == "artifacts":
		key, rest = segs[1], strings.Join(segs[3:], "/")
		if _, err := s.mlRunOf(ctx, key); err != nil {
			return "", "", err
		}
	default:
		return "", "", bad
	}
	for _, seg := range segs {
		if seg == ".." || seg == "." {
			return "", "", trainyard.FieldError("path", "%q leaves the artifact root", p)
		}
	}
	return key, rest, nil
}

type mlFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize *int64 `json:"file_size,omitempty"`
}

// listFiles lists dir below key's root, each path relative to base. A
// missing directory, or a file, lists empty (as MLflow's server answers).
func (s *Server) listFiles(ctx context.Context, key, dir, base string) ([]mlFileInfo, error) {
	list, err := s.cfg.Artifacts.ListArtifacts(ctx, key, dir, false)
	if c := trainyard.ErrorCode(err); c == trainyard.ENOTFOUND || c == trainyard.ECONFLICT {
		return []mlFileInfo{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]mlFileInfo, 0, len(list))
	for _, a := range list {
		p := strings.TrimPrefix(strings.TrimPrefix(a.Path, base), "/")
		fi := mlFileInfo{Path: p, IsDir: a.Dir}
		if !a.Dir {
			size := a.Size
			fi.FileSize = &size
		}
		out = append(out, fi)
	}
	return out, nil
}

// mlListArtifacts lists a directory of the proxy, names relative to it.
func (s *Server) mlListArtifacts(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("path")
	if p == "" {
		return writeJSON(w, http.StatusOK, map[string]any{"files": []mlFileInfo{}})
	}
	key, rest, err := s.artifactTarget(r.Context(), p)
	if err != nil {
		return err
	}
	files, err := s.listFiles(r.Context(), key, rest, rest)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"files": files})
}

func (s *Server) mlDownloadArtifact(w http.ResponseWriter, r *http.Request) error {
	key, rest, err := s.artifactTarget(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	f, info, err := s.cfg.Artifacts.OpenArtifact(r.Context(), key, rest)
	if err != nil {
		return err
	}
	defer f.Close()
	ct := mime.TypeByExtension(path.Ext(info.Path))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	http.ServeContent(w, r, path.Base(info.Path), info.ModTime, f)
	return nil
}

func (s *Server) mlUploadArtifact(w http.ResponseWriter, r *http.Request) error {
	key, rest, err := s.artifactTarget(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	if rest == "" {
		return trainyard.FieldError("path", "is a directory: name the file to upload")
	}
	if _, err := s.cfg.Artifacts.PutArtifact(r.Context(), key, rest, http.MaxBytesReader(w, r.Body, s.cfg.MaxArtifactBytes)); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) mlDeleteArtifact(w http.ResponseWriter, r *http.Request) error {
	key, rest, err := s.artifactTarget(r.Context(), r.PathValue("path"))
	if err != nil {
		return err
	}
	if err := s.cfg.Artifacts.DeleteArtifact(r.Context(), key, rest); err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// mlListRunArtifacts is the tracking API's list: paths relative to the
// run's artifact root.
func (s *Server) mlListRunArtifacts(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		runIDField
		Path string `json:"path"`
	}
	if err := s.decodeML(w, r, &req); err != nil {
		return err
	}
	run, err := s.mlRunOf(r.Context(), req.id())
	if err != nil {
		return err
	}
	expID, err := s.experimentIDOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	files, err := s.listFiles(r.Context(), run.ID, req.Path, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"root_uri": runArtifactURI(expID, run.ID), "files": files})
}

// hasDotSegment reports whether a URL path holds "." or ".." segments,
// which ServeMux would clean away by redirecting to another path.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
