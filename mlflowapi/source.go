package mlflowapi

import (
	"context"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/trainyard/trainyard"
)

// A model version's source must name files the version's run (or logged
// model) holds, so that registering a version cannot point a reader at
// another run's files or at the server's own disk. This is MLflow's
// _validate_source_run and _validate_source_model (handlers.py).

func invalidSource(source, idName string) error {
	return trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. The %s request parameter must identify the resource that contains the source.", source, idName)
}

// uriScheme is urllib.parse.urlparse(uri).scheme: letters, digits, "+-."
// before the first ":", starting with a letter.
func uriScheme(uri string) string {
	i := strings.IndexByte(uri, ':')
	if i <= 0 {
		return ""
	}
	s := uri[:i]
	for j, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
		if !ok {
			return ""
		}
	}
	return strings.ToLower(s)
}

// isLocalURI is MLflow's is_local_uri: a path without a scheme, or a file:
// URI.
func isLocalURI(uri string) bool {
	switch uriScheme(uri) {
	case "":
		return true
	case "file":
		return true
	}
	return false
}

// iterUnquote unquotes a URI component until it stops changing
// (urllib.parse.unquote_plus, repeated).
func iterUnquote(s string) string {
	for {
		u, err := url.QueryUnescape(s)
		if err != nil || u == s {
			return s
		}
		s = u
	}
}

var slashes = regexp.MustCompile(`/+`)

// checkRelativePaths is _validate_non_local_source_contains_relative_paths.
func checkRelativePaths(source string) error {
	bad := trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. If supplying a source as an http, https, local file path, ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path references present. Please provide an absolute path.", source)
	s := iterUnquote(source)
	p := s
	if u, err := url.Parse(s); err == nil {
		p = u.Path
		if u.Opaque != "" {
			p = u.Opaque
		}
	} else if i := strings.Index(s, ":"); uriScheme(s) != "" {
		p = s[i+1:]
		if j := strings.IndexAny(p, "?#"); j >= 0 {
			p = p[:j]
		}
	}
	p = slashes.ReplaceAllString(strings.TrimRight(p, "/"), "/")
	if strings.ContainsRune(p, 0) {
		return bad
	}
	for _, seg := range strings.Split(s, "/") {
		if seg == ".." {
			return bad
		}
	}
	resolved := p
	if !strings.HasPrefix(resolved, "/") {
		return bad // pathlib resolves a relative path against the server's directory
	}
	resolved = path.Clean(resolved)
	if resolved != p {
		return bad
	}
	return nil
}

// uriParts is _normalized_uri_parts: scheme, authority, unquoted path
// segments.
func uriParts(uri string) (scheme, host string, parts []string) {
	u, err := url.Parse(uri)
	if err != nil {
		return uriScheme(uri), "", nil
	}
	p := u.EscapedPath()
	if u.Opaque != "" {
		p = u.Opaque
	}
	for _, seg := range strings.Split(p, "/") {
		if seg != "" {
			parts = append(parts, iterUnquote(seg))
		}
	}
	return strings.ToLower(u.Scheme), strings.ToLower(u.Host), parts
}

// withinRoot is _is_uri_within_root.
func withinRoot(source, root string) bool {
	ss, sh, sp := uriParts(source)
	rs, rh, rp := uriParts(root)
	if ss != rs || sh != rh || len(rp) == 0 || len(sp) < len(rp) {
		return false
	}
	for i := range rp {
		if sp[i] != rp[i] {
			return false
		}
	}
	return true
}

// isArtifactProxySource is _is_mlflow_artifact_source.
func isArtifactProxySource(source string) bool {
	scheme, _, parts := uriParts(source)
	if scheme == "mlflow-artifacts" {
		return true
	}
	if scheme != "http" && scheme != "https" {
		return false
	}
	for i := 0; i+4 <= len(parts); i++ {
		if parts[i] == "api" && parts[i+1] == "2.0" && parts[i+2] == "mlflow-artifacts" && parts[i+3] == "artifacts" {
			return true
		}
	}
	return false
}

// modelsURI reads models:/<name>/<version>, models:/<name>@<alias> or
// models:/<model_id>: a logged model ID when it is the only segment and
// looks like one.
func modelsURI(source string) (name, ref, modelID string, ok bool) {
	rest, found := strings.CutPrefix(source, "models:/")
	if !found {
		return "", "", "", false
	}
	rest = strings.TrimPrefix(rest, "/")
	if strings.HasPrefix(source, "models://") {
		return "", "", "", false
	}
	if n, alias, isAlias := strings.Cut(rest, "@"); isAlias {
		return n, "@" + alias, "", n != "" && alias != ""
	}
	segs := strings.Split(strings.Trim(rest, "/"), "/")
	switch len(segs) {
	case 1:
		return "", "", segs[0], segs[0] != ""
	case 2:
		return segs[0], segs[1], "", segs[0] != "" && segs[1] != ""
	}
	return "", "", "", false
}

// checkSourceRun is _validate_source_run.
func (s *Server) checkSourceRun(ctx context.Context, source, runID string) error {
	if isLocalURI(source) {
		shown := source
		if runID != "" {
			run, err := s.sourceRun(ctx, runID, source)
			if err != nil {
				return err
			}
			shown = localPath(source)
			if root := s.runURI(ctx, run); isLocalURI(root) {
				if dir := localPath(root); shown == dir || strings.HasPrefix(shown, dir+"/") {
					return nil
				}
			}
		}
		return trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id.", shown)
	}
	if err := checkRelativePaths(source); err != nil {
		return err
	}
	switch uriScheme(source) {
	case "runs":
		if strings.HasPrefix(source, "runs://") {
			return invalidSource(source, "run_id")
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(source, "runs:/"), "/")
		if runID != "" && id == runID {
			return nil
		}
		return invalidSource(source, "run_id")
	case "models":
		if _, _, modelID, ok := modelsURI(source); !ok || modelID != "" {
			return invalidSource(source, "model_id")
		}
	}
	if isArtifactProxySource(source) {
		if runID != "" {
			run, err := s.sourceRun(ctx, runID, source)
			if err != nil {
				return err
			}
			if withinRoot(source, s.runURI(ctx, run)) {
				return nil
			}
		}
		return invalidSource(source, "run_id")
	}
	return nil
}

// checkSourceModel is _validate_source_model.
func (s *Server) checkSourceModel(ctx context.Context, source, modelID string) error {
	if isLocalURI(source) {
		shown := source
		if modelID != "" {
			m, err := s.sourceModel(ctx, modelID, source)
			if err != nil {
				return err
			}
			shown = localPath(source)
			if isLocalURI(m.ArtifactLocation) {
				if dir := localPath(m.ArtifactLocation); shown == dir || strings.HasPrefix(shown, dir+"/") {
					return nil
				}
			}
		}
		return trainyard.Errorf(trainyard.EINVALID, "Invalid model version source: '%s'. To use a local path as a model version source, the model_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the model_id.", shown)
	}
	if err := checkRelativePaths(source); err != nil {
		return err
	}
	switch uriScheme(source) {
	case "models":
		_, _, id, ok := modelsURI(source)
		if !ok {
			return invalidSource(source, "model_id")
		}
		if id != "" {
			if modelID != "" && id == modelID {
				return nil
			}
			return invalidSource(source, "model_id")
		}
	case "runs":
		return invalidSource(source, "model_id")
	}
	if isArtifactProxySource(source) {
		if modelID != "" {
			m, err := s.sourceModel(ctx, modelID, source)
			if err != nil {
				return err
			}
			if withinRoot(source, m.ArtifactLocation) {
				return nil
			}
		}
		return invalidSource(source, "model_id")
	}
	return nil
}

func (s *Server) sourceRun(ctx context.Context, id, source string) (*trainyard.Run, error) {
	run, err := s.cfg.Store.Run(ctx, id)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, invalidSource(source, "run_id")
	}
	return run, err
}

func (s *Server) sourceModel(ctx context.Context, id, source string) (*trainyard.LoggedModel, error) {
	m, err := s.cfg.Store.LoggedModel(ctx, id)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return nil, invalidSource(source, "model_id")
	}
	return m, err
}

// runURI is a run's artifact URI.
func (s *Server) runURI(ctx context.Context, run *trainyard.Run) string {
	e, err := s.experimentOf(ctx, run.Project)
	if err != nil {
		return ""
	}
	return s.runArtifactURI(e, run.ID)
}

// localPath is a local URI as an absolute, clean path.
func localPath(uri string) string {
	p := strings.TrimPrefix(uri, "file://")
	p = strings.TrimPrefix(p, "file:")
	if !strings.HasPrefix(p, "/") {
		if wd, err := os.Getwd(); err == nil {
			p = wd + "/" + p
		}
	}
	return path.Clean(p)
}
