package httpkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// ServeContent answers as http.ServeContent does (whole files, ranges,
// HEAD, conditional requests), copying through large writes.
func TestServeContent(t *testing.T) {
	body := make([]byte, 3<<20+123)
	for i := range body {
		body[i] = byte(i * 7)
	}
	mod := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
		code   int
		want   []byte
	}{
		{"whole", "GET", nil, http.StatusOK, body},
		{"range", "GET", map[string]string{"Range": "bytes=1000-2999999"}, http.StatusPartialContent, body[1000:3000000]},
		{"suffix range", "GET", map[string]string{"Range": "bytes=-10"}, http.StatusPartialContent, body[len(body)-10:]},
		{"HEAD", "HEAD", nil, http.StatusOK, nil},
		{"not modified", "GET", map[string]string{"If-Modified-Since": mod.Format(http.TimeFormat)}, http.StatusNotModified, nil},
		{"unsatisfiable range", "GET", map[string]string{"Range": "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable, nil},
	} {
		r := httptest.NewRequest(tc.method, "/f.bin", nil)
		for k, v := range tc.header {
			r.Header.Set(k, v)
		}
		w := &writeRecorder{ResponseRecorder: httptest.NewRecorder()}
		ServeContent(w, r, "f.bin", mod, bytes.NewReader(body))
		if w.Code != tc.code {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.code)
		}
		if tc.want != nil && !bytes.Equal(w.Body.Bytes(), tc.want) {
			t.Errorf("%s: %d bytes, not the %d wanted", tc.name, w.Body.Len(), len(tc.want))
		}
		if tc.code == http.StatusOK && tc.method == "GET" && w.largest < 512<<10 {
			t.Errorf("%s: largest write %d bytes; want the copy in large writes", tc.name, w.largest)
		}
	}
}

// writeRecorder notes its largest Write.
type writeRecorder struct {
	*httptest.ResponseRecorder
	largest int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.largest = max(w.largest, len(p))
	return w.ResponseRecorder.Write(p)
}

// A ServeContent's ResponseWriter still unwraps to the one below, for
// http.ResponseController.
func TestServeContentUnwraps(t *testing.T) {
	flushed := false
	w := flushRecorder{httptest.NewRecorder(), &flushed}
	var _ io.ReaderFrom = bigCopyWriter{w}
	if err := http.NewResponseController(bigCopyWriter{w}).Flush(); err != nil || !flushed {
		t.Errorf("Flush through the wrapper: %v, flushed %v", err, flushed)
	}
}

type flushRecorder struct {
	*httptest.ResponseRecorder
	flushed *bool
}

func (f flushRecorder) Flush() { *f.flushed = true }
