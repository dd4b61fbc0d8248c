package mlflowapi

import (
	"bytes"
	"context"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"unicode"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
)

// The artifact proxy (/api/2.0/mlflow-artifacts/artifacts/<path>) serves
// MLflow's artifacts destination: a tree of files under any relative path.
// trainyard keeps a run's files in the ArtifactStore under the run's ID and
// a logged model's under the model's, so the paths MLflow gives them map
// there:
//
//	<experiment>/<run>/artifacts/<path>           ArtifactStore(<run>, <path>)
//	<experiment>/models/<model>/artifacts/<path>  ArtifactStore(<model>, <path>)
//	any other path                                ArtifactStore("_mlflow", <path>)
//
// (the first two when the run or model exists): the same files the native
// API and `trainyard runs show` list. Paths are checked as MLflow's
// validate_path_is_safe does; the ArtifactStore refuses any that would
// leave an owner's root.

// proxyOwner is the ArtifactStore key of files outside any run or model.
const proxyOwner = "_mlflow"

var (
	pListArtifacts    = pmsg{"run_id": fStr, "run_uuid": fStr, "path": fStr, "page_token": fStr}
	pListProxyArtifct = pmsg{"path": fStr}
)

// safePath is MLflow's validate_path_is_safe: the path, decoded, must be
// relative, without ".." segments, backslashes or "#".
func safePath(p string) (string, error) {
	bad := trainyard.Errorf(trainyard.EINVALID, "Invalid path")
	for range 10 {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		p = d
	}
	p = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, p)
	if rest, ok := strings.CutPrefix(p, "file://"); ok {
		p = rest
	} else if rest, ok := strings.CutPrefix(p, "file:"); ok {
		p = rest
	}
	if strings.ContainsAny(p, "#\\") || strings.HasPrefix(p, "/") || (len(p) >= 2 && p[1] == ':') {
		return "", bad
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", bad
		}
	}
	return p, nil
}

// proxyTarget maps a path of the artifacts destination to the
// ArtifactStore's owner key and the path below it.
func (s *Server) proxyTarget(ctx context.Context, p string) (key, rest string) {
	clean := strings.Trim(path.Clean("/"+p), "/")
	segs := strings.Split(clean, "/")
	switch {
	case len(segs) >= 4 && segs[1] == "models" && segs[3] == "artifacts":
		if _, err := s.cfg.Store.LoggedModel(ctx, segs[2]); err == nil {
			return segs[2], strings.Join(segs[4:], "/")
		}
	case len(segs) >= 3 && segs[2] == "artifacts":
		if trainyard.ValidateID("run", segs[1]) == nil {
			if _, err := s.cfg.Store.Run(ctx, segs[1]); err == nil {
				return segs[1], strings.Join(segs[3:], "/")
			}
		}
	}
	if clean == "." {
		clean = ""
	}
	return proxyOwner, clean
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

// mlListArtifacts lists a directory of the destination, by base name.
func (s *Server) mlListArtifacts(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pListProxyArtifct)
	if err != nil {
		return err
	}
	p := ""
	if q.has("path") {
		if p, err = safePath(q.str("path")); err != nil {
			return err
		}
	}
	key, rest := s.proxyTarget(r.Context(), p)
	files, err := s.listFiles(r.Context(), key, rest, rest)
	if err != nil {
		return err
	}
	for i := range files {
		files[i].Path = path.Base(files[i].Path)
	}
	resp := map[string]any{}
	if len(files) > 0 {
		resp["files"] = files
	}
	return writeJSON(w, http.StatusOK, resp)
}

// mimeType is MLflow's _guess_mime_type: text files (and MLmodel,
// MLproject) as text/plain, others by extension without a charset.
func mimeType(name string) string {
	base := path.Base(name)
	ext := strings.TrimPrefix(path.Ext(base), ".")
	if ext == "" {
		ext = base
	}
	switch ext {
	case "txt", "log", "err", "cfg", "conf", "cnf", "cf", "ini", "properties", "prop", "hocon", "toml", "yaml", "yml",
		"xml", "json", "js", "py", "py3", "csv", "tsv", "md", "rst", "ipynb", "MLmodel", "MLproject":
		return "text/plain"
	}
	t := mime.TypeByExtension(path.Ext(base))
	if t == "" {
		return "application/octet-stream"
	}
	return strings.TrimSpace(strings.Split(t, ";")[0])
}

// serveArtifact sends a file as an attachment, as MLflow's _send_artifact.
func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, key, rest, name string) error {
	if rest == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Artifact path refers to a directory, not a file: '%s'", name)
	}
	f, info, err := s.cfg.Artifacts.OpenArtifact(r.Context(), key, rest)
	if trainyard.IsCode(err, trainyard.ECONFLICT) || (err == nil && info.Dir) {
		if f != nil {
			f.Close()
		}
		return trainyard.Errorf(trainyard.EINVALID, "Artifact path refers to a directory, not a file: '%s'", name)
	}
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return trainyard.Errorf(trainyard.ENOTFOUND, "No such artifact: '%s'", name)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	s.stream(r) // a large file takes as long as it takes, while it moves
	w.Header().Set("Content-Type", mimeType(info.Path))
	w.Header().Set("Content-Disposition", contentDisposition(path.Base(name)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "sandbox")
	httpkit.ServeContent(w, r, "", info.ModTime, f)
	return nil
}

// contentDisposition is MLflow's _content_disposition_attachment.
func contentDisposition(name string) string {
	ascii := true
	for _, c := range name {
		if c > 0x7f {
			ascii = false
			break
		}
	}
	if ascii {
		return "attachment; filename=" + quoteHeaderValue(name)
	}
	var fb strings.Builder
	for _, c := range name {
		if c < 0x80 {
			fb.WriteRune(c)
		}
	}
	fallback := fb.String()
	if fallback == "" {
		fallback = "download"
	}
	return "attachment; filename=" + quoteHeaderValue(fallback) + "; filename*=UTF-8''" + strings.ReplaceAll(url.PathEscape(name), "%2F", "/")
}

// quoteHeaderValue is werkzeug's quote_header_value(v, allow_token=True).
func quoteHeaderValue(v string) string {
	token := v != ""
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			token = false
			break
		}
	}
	if token {
		return v
	}
	return `"` + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `"`, `\"`) + `"`
}

func (s *Server) mlDownloadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := safePath(r.PathValue("path"))
	if err != nil {
		return err
	}
	key, rest := s.proxyTarget(r.Context(), p)
	return s.serveArtifact(w, r, key, rest, p)
}

func (s *Server) mlUploadArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := safePath(r.PathValue("path"))
	if err != nil {
		return err
	}
	key, rest := s.proxyTarget(r.Context(), p)
	if rest == "" {
		return trainyard.FieldError("path", "is a directory: name the file to upload")
	}
	s.stream(r) // streamed to the store: as long as it moves
	if _, err := s.cfg.Artifacts.PutArtifact(r.Context(), key, rest, http.MaxBytesReader(w, r.Body, s.cfg.MaxArtifactBytes)); err != nil {
		return httpkit.TooLarge(err)
	}
	w.WriteHeader(http.StatusOK) // an empty answer, as MLflow's
	return nil
}

func (s *Server) mlDeleteArtifact(w http.ResponseWriter, r *http.Request) error {
	p, err := safePath(r.PathValue("path"))
	if err != nil {
		return err
	}
	key, rest := s.proxyTarget(r.Context(), p)
	if err := s.cfg.Artifacts.DeleteArtifact(r.Context(), key, rest); err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{})
}

// mlListRunArtifacts is the tracking API's list: paths relative to the
// run's artifact root.
func (s *Server) mlListRunArtifacts(w http.ResponseWriter, r *http.Request) error {
	q, err := s.read(w, r, pListArtifacts)
	if err != nil {
		return err
	}
	if err := q.validate(field("run_id", isString, required), field("path", isString), field("page_token", isString)); err != nil {
		return err
	}
	dir := ""
	if q.has("path") {
		if dir, err = safePath(q.str("path")); err != nil {
			return err
		}
	}
	run, err := s.mlRunOf(r.Context(), q.runID())
	if err != nil {
		return err
	}
	e, err := s.experimentOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	files, err := s.listFiles(r.Context(), run.ID, dir, "")
	if err != nil {
		return err
	}
	resp := map[string]any{"root_uri": s.runArtifactURI(e, run.ID)}
	if len(files) > 0 {
		resp["files"] = files
	}
	return writeJSON(w, http.StatusOK, resp)
}

// mlGetArtifact is /get-artifact?run_id=&path=, which MLflow's UI uses to
// show a run's file.
func (s *Server) mlGetArtifact(w http.ResponseWriter, r *http.Request) error {
	args := r.URL.Query()
	id := args.Get("run_id")
	if id == "" {
		id = args.Get("run_uuid")
	}
	if !args.Has("path") {
		return mlErrorf("BAD_REQUEST", "Missing required query parameter 'path'.")
	}
	p, err := safePath(args.Get("path"))
	if err != nil {
		return err
	}
	run, err := s.mlRunOf(r.Context(), id)
	if err != nil {
		return err
	}
	e, err := s.experimentOf(r.Context(), run.Project)
	if err != nil {
		return err
	}
	return s.serveArtifact(w, r, run.ID, p, strings.TrimPrefix(appendURIPath(strings.TrimPrefix(s.runArtifactURI(e, run.ID), "mlflow-artifacts:"), p), "/"))
}

// mlGetModelVersionArtifact is /model-versions/get-artifact?name=&version=&path=.
func (s *Server) mlGetModelVersionArtifact(w http.ResponseWriter, r *http.Request) error {
	args := r.URL.Query()
	if !args.Has("path") {
		return mlErrorf("BAD_REQUEST", "Missing required query parameter 'path'.")
	}
	p, err := safePath(args.Get("path"))
	if err != nil {
		return err
	}
	n, err := parseVersion(args.Get("version"))
	if err != nil {
		return err
	}
	v, err := s.modelVersion(r.Context(), args.Get("name"), n)
	if err != nil {
		return err
	}
	loc, err := s.storageLocation(r.Context(), v.Source)
	if err != nil {
		return err
	}
	key, rest, ok := s.ownerOfURI(r.Context(), loc)
	if !ok {
		return trainyard.Errorf(trainyard.EINVALID, "model version %s/%d is stored at %s, outside this server's artifact store", v.Name, v.Version, loc)
	}
	return s.serveArtifact(w, r, key, path.Join(rest, p), p)
}

// ownerOfURI maps an artifact URI of this server (mlflow-artifacts:/...,
// runs:/<run>/<path>) to the ArtifactStore's owner key and path.
func (s *Server) ownerOfURI(ctx context.Context, uri string) (key, rest string, ok bool) {
	if p, found := strings.CutPrefix(uri, "mlflow-artifacts:"); found {
		if u, err := url.Parse(uri); err == nil {
			p = u.Path
		}
		key, rest = s.proxyTarget(ctx, strings.TrimPrefix(p, "/"))
		return key, rest, true
	}
	if p, found := strings.CutPrefix(uri, "runs:/"); found {
		id, rest, _ := strings.Cut(p, "/")
		return id, rest, true
	}
	return "", "", false
}

// mlUploadArtifactAjax is the UI's /ajax-api/2.0/mlflow/upload-artifact:
// a file of at most 10 MB into a run's artifacts.
func (s *Server) mlUploadArtifactAjax(w http.ResponseWriter, r *http.Request) error {
	args := r.URL.Query()
	id := args.Get("run_uuid")
	if id == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Request must specify run_uuid.")
	}
	p := args.Get("path")
	if p == "" {
		return trainyard.Errorf(trainyard.EINVALID, "Request must specify path.")
	}
	p, err := safePath(p)
	if err != nil {
		return err
	}
	const maxAjax = 10 << 20
	if r.ContentLength > maxAjax {
		return trainyard.Errorf(trainyard.EINVALID, "Artifact size is too large. Max size is 10MB.")
	}
	data, release, err := s.readBody(w, r, maxAjax, costFile)
	if trainyard.IsCode(err, trainyard.ETOOLARGE) {
		return trainyard.Errorf(trainyard.EINVALID, "Artifact size is too large. Max size is 10MB.")
	}
	if err != nil {
		return err
	}
	defer release()
	if len(data) == 0 {
		return trainyard.Errorf(trainyard.EINVALID, "Request must specify data.")
	}
	run, err := s.mlRunOf(r.Context(), id)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Artifacts.PutArtifact(r.Context(), run.ID, p, bytes.NewReader(data)); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	return nil
}

// mlLoggedModelFile is the UI's /ajax-api/2.0/mlflow/logged-models/<id>/artifacts/files.
func (s *Server) mlLoggedModelFile(w http.ResponseWriter, r *http.Request) error {
	p := r.URL.Query().Get("artifact_file_path")
	if p == "" {
		return mlErrorf("BAD_REQUEST", `Request must include the "artifact_file_path" query parameter.`)
	}
	p, err := safePath(p)
	if err != nil {
		return err
	}
	m, err := s.loggedModel(r.Context(), r.PathValue("model_id"), false)
	if err != nil {
		return err
	}
	return s.serveArtifact(w, r, m.ID, p, p)
}
