package httplimit

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Timeouts bound how long a client may take. A zero field takes its
// default.
type Timeouts struct {
	// Read is how long a client may take to send a request's body
	// (default 60 s); the headers get http.Server's ReadHeaderTimeout.
	// Once the body is read the read deadline is lifted, so a handler
	// that works or streams longer is not cut off.
	Read time.Duration
	// Write is how long a client may take to take a whole answer, from
	// the start of the request (default 60 s).
	Write time.Duration
	// A stream (see Stream) may run as long as it moves: each read of its
	// body or write of its answer may take up to Read or Write.
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Read <= 0 {
		t.Read = 60 * time.Second
	}
	if t.Write <= 0 {
		t.Write = 60 * time.Second
	}
	return t
}

type ctxKey struct{}

// deadlines is one request's: shared by its body and answer wrappers.
type deadlines struct {
	rc        *http.ResponseController
	t         Timeouts
	mu        sync.Mutex
	streaming bool
	bodyDone  bool
}

// Deadlines gives each request of h a read deadline for its body and a
// write deadline for its answer, set through http.ResponseController, so
// that the http.Server itself needs no ReadTimeout or WriteTimeout (which
// would cut off streams). Requests without a body get no read deadline:
// http.Server's ReadHeaderTimeout and IdleTimeout cover the time before
// and between requests.
func Deadlines(h http.Handler, t Timeouts) http.Handler {
	t = t.withDefaults()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := &deadlines{rc: http.NewResponseController(w), t: t}
		now := time.Now()
		d.rc.SetWriteDeadline(now.Add(t.Write))
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			d.rc.SetReadDeadline(now.Add(t.Read))
			r.Body = &deadlineBody{ReadCloser: r.Body, d: d}
		} else {
			d.bodyDone = true
			d.rc.SetReadDeadline(time.Time{})
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, d))
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, d: d}, r)
	})
}

// Stream switches r to stream mode: from now on, each read of its body and
// each write of its answer may take up to the read or write timeout, so a
// large upload or download, or a followed log, runs as long as it moves.
// Handlers of such routes call it first; outside Deadlines it does nothing.
func Stream(r *http.Request) {
	d, ok := r.Context().Value(ctxKey{}).(*deadlines)
	if !ok {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.streaming = true
	now := time.Now()
	d.rc.SetWriteDeadline(now.Add(d.t.Write))
	if !d.bodyDone {
		d.rc.SetReadDeadline(now.Add(d.t.Read))
	}
}

type deadlineBody struct {
	io.ReadCloser
	d *deadlines
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	d := b.d
	d.mu.Lock()
	if d.streaming && !d.bodyDone {
		d.rc.SetReadDeadline(time.Now().Add(d.t.Read))
	}
	d.mu.Unlock()
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		d.mu.Lock()
		if !d.bodyDone {
			// The body is in: lift the deadline, or http.Server's
			// background read would time out and cancel the request's
			// context while the handler still works.
			d.bodyDone = true
			d.rc.SetReadDeadline(time.Time{})
		}
		d.mu.Unlock()
	}
	return n, err
}

type deadlineWriter struct {
	http.ResponseWriter
	d *deadlines
}

// Unwrap lets http.ResponseController reach the real writer (Flush).
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *deadlineWriter) Write(p []byte) (int, error) {
	d := w.d
	d.mu.Lock()
	streaming := d.streaming
	d.mu.Unlock()
	if !streaming {
		return w.ResponseWriter.Write(p)
	}
	// Write in pieces, each with its own deadline, so that one large
	// write is judged by its progress too.
	const piece = 256 << 10
	n := 0
	for n < len(p) {
		d.rc.SetWriteDeadline(time.Now().Add(d.t.Write))
		m, err := w.ResponseWriter.Write(p[n:min(len(p), n+piece)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Flush extends a stream's deadline before it flushes.
func (w *deadlineWriter) Flush() {
	d := w.d
	d.mu.Lock()
	if d.streaming {
		d.rc.SetWriteDeadline(time.Now().Add(d.t.Write))
	}
	d.mu.Unlock()
	d.rc.Flush()
}
