package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
)

// codeUnauthorized is the code of a request without a valid token; it is
// HTTP's concern, not the domain's.
const codeUnauthorized = "unauthorized"

// codeForbidden refuses a request from a web page of another origin or to
// a host name the server does not answer to.
const codeForbidden = "forbidden"

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
	if code == trainyard.EINTERNAL {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
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
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &trainyard.Error{Code: trainyard.ETOOLARGE, Message: fmt.Sprintf("request body is larger than %d bytes; send smaller batches", mbe.Limit)}
	}
	if errors.Is(err, errClientGone) {
		return trainyard.Errorf(trainyard.EINVALID, "client closed the request")
	}
	return err
}

var errClientGone = errors.New("client gone")

// decodeJSON reads a JSON body into v, refusing unknown fields, trailing
// data and bodies over the limit; errors name the field at fault.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
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
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

func errMethod(r *http.Request) error {
	return trainyard.Errorf(trainyard.EINVALID, "method %s is not allowed on %s", r.Method, r.URL.Path)
}
