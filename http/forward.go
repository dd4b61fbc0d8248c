package http

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
)

// ForwardedHeader marks a sweep change that a server which does not run
// sweeps forwarded to the leader; its value is the forwarding server's
// URL. A server that gets a marked request and does not lead either
// refuses it rather than forward it again.
const ForwardedHeader = "Trainyard-Forwarded-By"

// forwardTransport carries forwarded sweep changes to the leader: it
// notices a dead leader quickly, and does not wait forever for an answer.
var forwardTransport = &http.Transport{

	DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	MaxIdleConnsPerHost:   16,
	IdleConnTimeout:       90 * time.Second,
	ResponseHeaderTimeout: 2 * time.Minute,
}

// leaderOnly wraps a sweep-changing handler. On a server that runs sweeps
// (or has no way to find the one that does: Config.LeaderURL nil) it runs
// h. Otherwise the request goes, unchanged, to the leader's API
// (Config.LeaderURL): its credentials (Authorization, cookies, the CSRF
// headers) and Host pass through, so the leader authenticates and
// authorizes the caller itself, by the same rules. The body streams
// through, bounded by MaxJSONBytes as the handlers bound it.
func (s *Server) leaderOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.cfg.Sweeps == nil || s.cfg.LeaderURL == nil || s.cfg.Sweeps.Leading() {
			return h(w, r)
		}
		if by := r.Header.Get(ForwardedHeader); by != "" {
			return trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and the request was already forwarded to it by %s as the leader's: leadership is moving between servers; retry in a few seconds", by)
		}
		target, err := s.leaderURL(r.Context())
		if err != nil {
			return err
		}
		if r.ContentLength > s.cfg.MaxJSONBytes {
			return httpkit.TooLarge(&http.MaxBytesError{Limit: s.cfg.MaxJSONBytes})
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes)
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host // the leader checks the Host and the origin as this server did
				pr.Out.Header.Set(ForwardedHeader, s.cfg.PeerURL)
				if s.cfg.PeerURL == "" {
					pr.Out.Header.Set(ForwardedHeader, "another server")
				}
			},
			Transport: forwardTransport,

			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					writeError(w, r, httpkit.TooLarge(err), s.log)
					return
				}
				s.log.Warn("forward a sweep change to the leader", "leader", target.String(), "path", r.URL.Path, "err", err)
				writeError(w, r, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and the server that does (%s) cannot be reached: %v; retry once another server leads", target, err), s.log)
			},
		}
		proxy.ServeHTTP(w, r)
		return nil
	}
}

// leaderURL finds where the leader serves its API.
func (s *Server) leaderURL(ctx context.Context) (*url.URL, error) {
	raw, err := s.cfg.LeaderURL(ctx)
	if err != nil {
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and cannot find the server that does: %v", err)
	}
	if raw == "" {
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and the server that does gave no URL to forward to (start every server with --peer-url, or a version that records it); send sweep changes to the server whose /api/v1/health says \"role\": \"leader\"")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and the leader's recorded URL %q is not an http(s) URL", raw)
	}
	if s.cfg.PeerURL != "" && raw == s.cfg.PeerURL {
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps, and no other server leads yet (the leader recorded is this one, %s); retry in a few seconds", raw)
	}
	return u, nil
}
