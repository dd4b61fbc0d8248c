// Package httpkit is the plumbing the HTTP adapters share: the native API
// (package http) and the MLflow REST API (package mlflowapi). It writes JSON
// answers, tags them for conditional GETs (ETags), and reads request bodies
// within a limit. It knows nothing of either API's routes or error shapes:
// each adapter maps trainyard errors to its own answers.
package httpkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
)

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

// TooLarge turns the error of a body read past http.MaxBytesReader's
// limit into an ETOOLARGE domain error; other errors pass unchanged.
func TooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &trainyard.Error{Code: trainyard.ETOOLARGE, Message: fmt.Sprintf("request body is larger than %d bytes; send smaller batches", mbe.Limit)}
	}
	return err
}

// ReadBody reads r to its end, appending to buf (which may be reused
// between requests) and returning it. The buffer doubles as it fills.
func ReadBody(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), max(2*cap(buf), 64<<10))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// HasDotSegment reports whether a URL path holds "." or ".." segments,
// which http.ServeMux would clean away by redirecting to another path.
func HasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
