package http

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
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
