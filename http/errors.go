package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
)

// codeUnauthorized is the code of a request without a valid credential.
const codeUnauthorized = trainyard.EUNAUTHORIZED

// codeForbidden refuses a request that its credential does not allow,
// from a web page of another origin, or to a host name the server does
// not answer to.
const codeForbidden = trainyard.EFORBIDDEN

// statusOf maps an error code to an HTTP status: the one place that does.
func statusOf(code string) int {
	switch code {
	case trainyard.EINVALID:
		return http.StatusBadRequest
	case codeUnauthorized:
		return http.StatusUnauthorized
	case codeForbidden:
		return http.StatusForbidden
	case trainyard.ENOTFOUND:
		return http.StatusNotFound
	case trainyard.ECONFLICT:
		return http.StatusConflict
	case trainyard.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case trainyard.EUNSATISFIABLE:
		return http.StatusUnprocessableEntity
	case trainyard.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case trainyard.ENOSPACE:
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers with err's status and JSON body. Internal errors are
// logged with their cause and shown only as "internal error".
func writeError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	err = translate(err)
	code := trainyard.ErrorCode(err)
	switch code {
	case trainyard.EINTERNAL:
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case trainyard.ENOSPACE:
		log.Warn("disk full: write refused", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == trainyard.EUNAVAILABLE {
		w.Header().Set("Retry-After", "1")
	}
	d := errorDetail{Code: code, Message: trainyard.ErrorMessage(err)}
	var e *trainyard.Error
	if errors.As(err, &e) {
		d.Field = e.Field
	}
	writeJSON(w, statusOf(code), errorBody{d})
}

// translate turns errors of the standard library that users cause into
// domain errors with a helpful message.
func translate(err error) error {
	if err = httpkit.TooLarge(err); trainyard.IsCode(err, trainyard.ETOOLARGE) {
		return err
	}
	if errors.Is(err, errClientGone) {
		return trainyard.Errorf(trainyard.EINVALID, "client closed the request")
	}
	return err
}

var errClientGone = errors.New("client gone")

// decodeJSON reads a JSON body of at most MaxJSONBytes into v, under the
// server's memory budget, refusing unknown fields and trailing data; errors
// name the field at fault.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, release, err := s.cfg.Budget.ReadBody(w, r, s.cfg.MaxJSONBytes, costJSON)
	if err != nil {
		return err
	}
	defer release()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return trainyard.Errorf(trainyard.EINVALID, "body holds more than one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return trainyard.FieldError(field, "want %s, got JSON %s", typ.Type, typ.Value)
	case err.Error() == "EOF":
		return trainyard.Errorf(trainyard.EINVALID, "body is empty: send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return trainyard.FieldError(name, "unknown field %q", name)
	}
	// Errors from UnmarshalJSON methods (sizes, floats) name their value.
	return trainyard.Errorf(trainyard.EINVALID, "body: %v", strings.TrimPrefix(err.Error(), "json: "))
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	return httpkit.WriteJSON(w, status, v)
}

func errMethod(r *http.Request) error {
	return trainyard.Errorf(trainyard.EINVALID, "method %s is not allowed on %s", r.Method, r.URL.Path)
}
