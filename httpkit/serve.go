package httpkit

import (
	"io"
	"net/http"
	"sync"
	"time"
)

// copyBufSize is the size of the buffer ServeContent copies a file's
// bytes through: large reads from the source (a socket to an object
// store) and large writes to the client, instead of io.Copy's 32 KiB,
// whose per-call costs (a read, a write deadline, a write) dominate a
// fast stream.
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// ServeContent is http.ServeContent (ranges, conditional requests,
// Content-Length, Last-Modified) with the body copied through a 1 MiB
// buffer from a pool: one buffer per download in flight, whatever the
// file's size. Wrappers of the ResponseWriter (deadlines, ETags) keep
// seeing every byte through their Write.
func ServeContent(w http.ResponseWriter, r *http.Request, name string, modtime time.Time, content io.ReadSeeker) {
	http.ServeContent(bigCopyWriter{w}, r, name, modtime, content)
}

// bigCopyWriter gives w a ReadFrom, which io.Copy (and so
// http.ServeContent's io.CopyN) prefers to its own 32 KiB buffer.
type bigCopyWriter struct{ http.ResponseWriter }

// Unwrap lets http.ResponseController reach the writer below.
func (w bigCopyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w bigCopyWriter) ReadFrom(src io.Reader) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	// writerOnly hides ReadFrom, or CopyBuffer would call it again.
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, src, *buf)
}

type writerOnly struct{ io.Writer }
