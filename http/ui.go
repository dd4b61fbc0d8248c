package http

import (
	"embed"

	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/trainyard/trainyard"
)

// ui holds the web UI: ui/dist is what `make web` builds from web/ (not in
// git); ui/placeholder is served when a Go-only build has no dist.
//
//go:embed all:ui
var ui embed.FS

// UIBuilt reports whether this binary embeds the web UI.
func UIBuilt() bool {
	_, err := fs.Stat(ui, "ui/dist/index.html")
	return err == nil
}

// isUIShell reports whether r asks for the web UI's shell: index.html (at
// / or at a client-side route such as /runs/abc) or one of its static
// assets. These hold no data, so they are served without the token; the UI
// then asks the user for it. Everything else — /api/... (the native API,
// MLflow's /api/2.0/...), /ajax-api/..., MLflow's /health and /version,
// and every method but GET and HEAD — needs the token.
func (s *Server) isUIShell(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := path.Clean("/" + r.URL.Path)
	for _, prefix := range []string{"/api", "/ajax-api"} {
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			return false
		}
	}
	_, pattern := s.mux.Handler(r)
	return pattern == "/" // the UI handler's catch-all, not an API route
}

func (s *Server) uiHandler() http.Handler {
	root := "ui/placeholder"
	if UIBuilt() {
		root = "ui/dist"
	}
	sub, _ := fs.Sub(ui, root)
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, r, errMethod(r), s.log)
			return
		}
		p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if p == "" {
			p = "index.html"
		}
		if _, err := fs.Stat(sub, p); err != nil {
			if !clientRoute(p) && !strings.Contains(r.Header.Get("Accept"), "text/html") {
				// Not a page of the UI, and not a browser's navigation: a
				// client calling a path no API serves gets a JSON 404,
				// not the UI's HTML.
				writeError(w, r, trainyard.Errorf(trainyard.ENOTFOUND, "no page or API route %s %s", r.Method, r.URL.Path), s.log)
				return
			}
			// A client-side route: serve the app, which reads the URL.
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/"
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r2)
			return
		}
		if strings.HasPrefix(p, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable") // hashed names
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}

// clientRoute reports whether p (without its leading slash) is one of the
// UI's own pages (web/src/App.tsx), which a link may open directly.
func clientRoute(p string) bool {
	switch p {
	case "projects", "compare", "cluster", "models", "sweeps":
		return true
	}
	for _, prefix := range []string{"projects/", "runs/", "models/", "sweeps/"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && rest != "" && !strings.Contains(rest, "/") {
			return true
		}
	}
	return false
}
