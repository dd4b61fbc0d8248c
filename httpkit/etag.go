package httpkit

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// Conditional GETs for JSON answers. The web UI polls runs, jobs and the
// machine every few seconds; when nothing changed it gets 304 Not Modified
// and an empty body instead of the same JSON again, and skips parsing and
// re-rendering it.
//
// The tag is a hash of the body, so the handler still does its work; what is
// saved is the transfer and the client's work. Only complete 200 answers of
// type application/json up to maxETagBody bytes are tagged. Everything else
// (log streams, artifact downloads, errors, other methods) passes through
// untouched: a handler that flushes, or writes more than maxETagBody, is
// streamed from that point on.

// maxETagBody is the largest body held back to be hashed.
const maxETagBody = 8 << 20

// WithETag wraps h with conditional GET support.
func WithETag(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		ew := &etagWriter{w: w}
		h.ServeHTTP(ew, r)
		ew.finish(r)
	})
}

// etagWriter holds back a JSON 200 body until the handler returns; any other
// answer it passes through as it comes.
type etagWriter struct {
	w       http.ResponseWriter
	status  int  // 0 until WriteHeader
	holding bool // the body is being held back to be hashed
	passed  bool // headers went to w; everything else goes straight through
	buf     []byte
}

func (e *etagWriter) Header() http.Header { return e.w.Header() }

// Unwrap lets http.ResponseController reach the real writer.
func (e *etagWriter) Unwrap() http.ResponseWriter { return e.w }

func (e *etagWriter) WriteHeader(status int) {
	if e.status != 0 {
		return
	}
	e.status = status
	ct := e.w.Header().Get("Content-Type")
	if status == http.StatusOK && strings.HasPrefix(ct, "application/json") && e.w.Header().Get("ETag") == "" {
		e.holding = true
		return
	}
	e.pass()
}

func (e *etagWriter) Write(p []byte) (int, error) {
	if e.status == 0 {
		if e.w.Header().Get("Content-Type") == "" {
			e.w.Header().Set("Content-Type", http.DetectContentType(p))
		}
		e.WriteHeader(http.StatusOK)
	}
	if e.holding {
		if len(e.buf)+len(p) <= maxETagBody {
			e.buf = append(e.buf, p...)
			return len(p), nil
		}
		e.pass()
	}
	return e.w.Write(p)
}

// Flush streams what is held back: a handler that flushes wants its bytes
// sent now.
func (e *etagWriter) Flush() {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	e.pass()
	http.NewResponseController(e.w).Flush()
}

// pass sends the headers and anything held back, and stops holding.
func (e *etagWriter) pass() {
	if e.passed {
		return
	}
	e.passed, e.holding = true, false
	e.w.WriteHeader(e.status)
	if len(e.buf) > 0 {
		e.w.Write(e.buf)
		e.buf = nil
	}
}

// finish tags a held-back body and answers 304 when the client has it.
func (e *etagWriter) finish(r *http.Request) {
	if !e.holding {
		if e.status == 0 { // the handler wrote nothing
			e.WriteHeader(http.StatusOK)
			e.pass()
		}
		return
	}
	sum := sha256.Sum256(e.buf)
	tag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	h := e.w.Header()
	h.Set("ETag", tag)
	if etagMatch(r.Header.Get("If-None-Match"), tag) {
		h.Del("Content-Length")
		h.Del("Content-Type")
		e.w.WriteHeader(http.StatusNotModified)
		e.passed, e.holding = true, false
		return
	}
	e.pass()
}

// etagMatch reports whether an If-None-Match value names tag; weak tags
// (W/"...") match their strong form, as RFC 9110 asks for GET.
func etagMatch(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == tag || t == "*" {
			return true
		}
	}
	return false
}
