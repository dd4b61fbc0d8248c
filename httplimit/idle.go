package httplimit

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Idle gives memory back to the system once a server falls idle. A burst
// of requests grows the heap, and Go's runtime keeps what it grew for a
// while, and longer with a high GOGC: a server that took a burst would
// hold hundreds of megabytes through a quiet night. Idle watches requests
// (Handler) and, when none has run for a while after some did, frees what
// it can: a collection, which moves what sync.Pools hold to their victim
// caches, then debug.FreeOSMemory, whose collection drops those too and
// which returns the free pages.
type Idle struct {
	inFlight atomic.Int64
	last     atomic.Int64 // Unix ns of the last request's end
	dirty    atomic.Bool  // requests ran since the last return
	returns  atomic.Int64
}

// Handler counts h's requests.
func (i *Idle) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.inFlight.Add(1)
		i.dirty.Store(true)
		defer func() {
			i.last.Store(time.Now().UnixNano())
			i.inFlight.Add(-1)
		}()
		h.ServeHTTP(w, r)
	})
}

// Returns is how many times memory was given back.
func (i *Idle) Returns() int64 { return i.returns.Load() }

// Run gives memory back each time the server has been idle for after,
// until ctx ends. It checks every after/4.
func (i *Idle) Run(ctx context.Context, after time.Duration) {
	t := time.NewTicker(max(after/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if i.inFlight.Load() == 0 && i.dirty.Load() && time.Since(time.Unix(0, i.last.Load())) >= after {
			i.dirty.Store(false)
			runtime.GC()
			debug.FreeOSMemory()
			i.returns.Add(1)
		}
	}
}
