package mlflowapi

import (
	"context"
	"net/http"
	"sync"

	"github.com/trainyard/trainyard/httpkit"
)

// BodyReader reads request bodies within a server-wide memory budget, the
// one the native API reads its bodies through (httplimit.Budget is one).
//
// ReadBody reads r's body, refusing one over limit bytes with ETOOLARGE,
// and holds cost×len bytes of the budget until release is called (once):
// cost is the memory a handler holds per byte of body while it parses and
// stores it. It waits, boundedly, while the budget is spent (then
// EUNAVAILABLE).
type BodyReader interface {
	ReadBody(w http.ResponseWriter, r *http.Request, limit, cost int64) (body []byte, release func(), err error)
}

// Cost of a body byte in memory while its handler works: a log-batch is
// scanned into bounded fields next to its body; other requests are
// decoded into maps of values, as the native API's JSON.
const (
	costLogBatch = 2
	costJSON     = 8
	costFile     = 1
)

// readBody reads r's body through Config.Bodies (the server's budget) or,
// without one, bounded by limit alone. release gives the memory back.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit, cost int64) ([]byte, func(), error) {
	if s.cfg.Bodies != nil {
		return s.cfg.Bodies.ReadBody(w, r, limit, cost)
	}
	var buf []byte
	if n := r.ContentLength; n > 0 && n <= limit {
		buf = make([]byte, 0, n+1) // read in one go, not by doubling
	}
	body, err := httpkit.ReadBody(http.MaxBytesReader(w, r.Body, limit), buf)
	if err != nil {
		return nil, nil, httpkit.TooLarge(err)
	}
	return body, func() {}, nil
}

// stream tells the server in front that r is a transfer that may take as
// long as it moves (Config.Stream: httplimit.Stream lifts the request's
// fixed read and write deadlines).
func (s *Server) stream(r *http.Request) {
	if s.cfg.Stream != nil {
		s.cfg.Stream(r)
	}
}

// holds collects the budget a request's handler holds until it returns
// (see wrap): requests decoded into maps keep them for the whole handler.
type holds struct {
	mu   sync.Mutex
	rels []func()
}

type holdsKey struct{}

func withHolds(r *http.Request) (*http.Request, *holds) {
	h := &holds{}
	return r.WithContext(context.WithValue(r.Context(), holdsKey{}, h)), h
}

// keep makes release run when r's handler returns; without a holder (a
// handler called outside wrap) it runs at once.
func keep(r *http.Request, release func()) {
	h, ok := r.Context().Value(holdsKey{}).(*holds)
	if !ok {
		release()
		return
	}
	h.mu.Lock()
	h.rels = append(h.rels, release)
	h.mu.Unlock()
}

func (h *holds) release() {
	h.mu.Lock()
	rels := h.rels
	h.rels = nil
	h.mu.Unlock()
	for _, rel := range rels {
		rel()
	}
}
