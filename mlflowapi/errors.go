package mlflowapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/httpkit"
	"github.com/trainyard/trainyard/tracking"
)

// mlError is an error with an MLflow error code of its own, for the
// answers trainyard's domain has no word for, and for MLflow's words where
// they differ from the domain's.
type mlError struct {
	code   string
	msg    string
	status int // 0: the code's status
}

func (e *mlError) Error() string { return e.msg }

func (e *mlError) withStatus(st int) *mlError { e.status = st; return e }

func mlErrorf(code, format string, args ...any) error {
	return &mlError{code: code, msg: fmt.Sprintf(format, args...)}
}

func errNotImplemented(format string, args ...any) error {
	return mlErrorf("NOT_IMPLEMENTED", format, args...)
}

// mlStatuses is MLflow's ERROR_CODE_TO_HTTP_STATUS (mlflow/exceptions.py),
// except that trainyard answers a client's mistake 4xx even where MLflow
// answers 500 (INVALID_STATE): MLflow clients retry a 5xx for minutes.
var mlStatuses = map[string]int{
	"INTERNAL_ERROR": 500, "INVALID_STATE": 400, "DATA_LOSS": 500, "NOT_IMPLEMENTED": 501,
	"TEMPORARILY_UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504, "REQUEST_LIMIT_EXCEEDED": 429,
	"CANCELLED": 499, "RESOURCE_EXHAUSTED": 429, "ABORTED": 409, "RESOURCE_CONFLICT": 409,
	"ALREADY_EXISTS": 409, "NOT_FOUND": 404, "ENDPOINT_NOT_FOUND": 404, "RESOURCE_DOES_NOT_EXIST": 404,
	"PERMISSION_DENIED": 403, "CUSTOMER_UNAUTHORIZED": 401, "UNAUTHENTICATED": 401, "BAD_REQUEST": 400,
	"RESOURCE_ALREADY_EXISTS": 400, "INVALID_PARAMETER_VALUE": 400,
}

// errorClasses is MLflow's error_classification: an error code's
// sqlstate and error_class, which MLflow's server adds to every error.
var errorClasses = map[string][2]string{
	"BAD_REQUEST":             {"KAM00", "INVALID_PARAMETER_VALUE"},
	"CUSTOMER_UNAUTHORIZED":   {"KAM00", "PERMISSION_DENIED"},
	"ENDPOINT_NOT_FOUND":      {"KAM00", "RESOURCE_NOT_FOUND"},
	"FEATURE_DISABLED":        {"KAM00", "FEATURE_DISABLED"},
	"INTERNAL_ERROR":          {"XXM00", "CLIENT_INTERNAL_ERROR"},
	"INVALID_PARAMETER_VALUE": {"KAM00", "INVALID_PARAMETER_VALUE"},
	"INVALID_STATE":           {"XXM00", "CLIENT_INTERNAL_ERROR"},
	"NOT_FOUND":               {"KAM00", "RESOURCE_NOT_FOUND"},
	"PERMISSION_DENIED":       {"KAM00", "PERMISSION_DENIED"},
	"RESOURCE_ALREADY_EXISTS": {"KAM00", "RESOURCE_ALREADY_EXISTS"},
	"RESOURCE_DOES_NOT_EXIST": {"KAM00", "RESOURCE_NOT_FOUND"},
	"TEMPORARILY_UNAVAILABLE": {"XXM00", "CLIENT_INTERNAL_ERROR"},
}

// mlflowStatus maps an error to MLflow's error code and HTTP status: the
// one place that does for the MLflow routes. Client mistakes are 4xx; only
// real faults are 5xx, since MLflow clients retry 5xx for minutes.
func mlflowStatus(err error) (code string, status int) {
	var me *mlError
	if errors.As(err, &me) {
		if me.status != 0 {
			return me.code, me.status
		}
		if st, ok := mlStatuses[me.code]; ok {
			return me.code, st
		}
		return me.code, http.StatusBadRequest
	}
	switch trainyard.ErrorCode(httpkit.TooLarge(err)) {
	case trainyard.EINVALID, trainyard.ETOOLARGE, trainyard.EUNSATISFIABLE:
		return "INVALID_PARAMETER_VALUE", http.StatusBadRequest
	case trainyard.ENOTFOUND:
		return "RESOURCE_DOES_NOT_EXIST", http.StatusNotFound
	case trainyard.ECONFLICT:
		return "RESOURCE_ALREADY_EXISTS", http.StatusBadRequest
	case trainyard.EUNAVAILABLE:
		return "TEMPORARILY_UNAVAILABLE", http.StatusServiceUnavailable
	case trainyard.EUNAUTHORIZED:
		return "UNAUTHENTICATED", http.StatusUnauthorized
	case trainyard.EFORBIDDEN:
		return "PERMISSION_DENIED", http.StatusForbidden
	case trainyard.ENOSPACE:
		// MLflow has no word for a full disk: its nearest code, with the
		// status that says it (which MLflow clients do not retry).
		return "RESOURCE_EXHAUSTED", http.StatusInsufficientStorage
	}
	return "INTERNAL_ERROR", http.StatusInternalServerError
}

func (s *Server) writeMLError(w http.ResponseWriter, r *http.Request, err error) {
	code, status := mlflowStatus(err)
	msg := err.Error()
	var me *mlError
	if v, ok := tracking.IsViolation(err); ok {
		msg = violationMessage(v)
	} else if !errors.As(err, &me) {
		msg = trainyard.ErrorMessage(httpkit.TooLarge(err))
	}
	if status == http.StatusInsufficientStorage {
		s.log.Warn("disk full: mlflow write refused", "method", r.Method, "path", r.URL.Path, "err", err)
	} else if status >= 500 && status != http.StatusNotImplemented {
		s.log.Error("mlflow request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := map[string]string{"error_code": code, "message": msg}
	if c, ok := errorClasses[code]; ok {
		body["sqlstate"], body["error_class"] = c[0], c[1]
	}
	writeJSON(w, status, body)
}

// violationMessage words a broken tracking rule as MLflow's server does
// (mlflow/utils/validation.py and the SQLAlchemy store).
func violationMessage(v *tracking.Violation) string {
	switch v.Problem {
	case tracking.TooMany:
		return fmt.Sprintf("A batch logging request can contain at most %d %s. Got %d %s. Please split up %s across multiple requests and try again.",
			v.Limit, v.What, v.Len, v.What, v.What)
	case tracking.KeyInvalid:
		return keyMessage(v)
	case tracking.ValueTooLong:
		if v.What == "param" {
			return fmt.Sprintf("'Param value' exceeds the maximum length of %d characters", v.Limit)
		}
		return fmt.Sprintf("'%s' exceeds the maximum length of %d characters", itemPath("tags", v.Index, "value"), v.Limit)
	case tracking.DuplicateParam:
		return fmt.Sprintf("Duplicate parameter keys have been submitted: %s. Please ensure the request contains only one param value per param key.", pyStrList(v.Keys))
	case tracking.ParamChanged:
		if v.Index < 0 {
			return fmt.Sprintf("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.",
				v.Key, v.Old, v.RunID, v.Value)
		}
		parts := make([]string, len(v.Changes))
		for i, c := range v.Changes {
			parts[i] = fmt.Sprintf("{'key': %s, 'old_value': %s, 'new_value': %s}", pyRepr(c.Key), pyRepr(c.Old), pyRepr(c.New))
		}
		return fmt.Sprintf("Changing param values is not allowed. Params were already logged='[%s]' for run ID='%s'.", strings.Join(parts, ", "), v.RunID)
	case tracking.RunDeleted:
		return fmt.Sprintf("The run %s must be in the 'active' state. Current state is deleted.", v.RunID)
	case tracking.TimeOutOfRange:
		if v.What == "timestamp" {
			return invalidValue(itemPath("metrics", v.Index, "timestamp"), v.Time,
				fmt.Sprintf("metric '%s' (value=%s). Timestamp must be a nonnegative long (64-bit integer) ", v.Key, pyFloat(v.Num)))
		}
	}
	return v.Domain().Message
}

// pyStrList is Python's str() of a list of strings.
func pyStrList(xs []string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = pyRepr(x)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// itemPath is MLflow's JSON path of a field: "value" alone, or
// "tags[3].value" inside a batch.
func itemPath(list string, index int, field string) string {
	if index < 0 {
		return field
	}
	return fmt.Sprintf("%s[%d].%s", list, index, field)
}

// keyMessage words a refused key as MLflow's validation does.
func keyMessage(v *tracking.Violation) string {
	k := v.Key
	var path, lengthName string
	switch v.What {
	case "param":
		path, lengthName = itemPath("params", v.Index, "key"), "Param key"
	case "metric":
		path, lengthName = itemPath("metrics", v.Index, "name"), "Metric name"
	default: // run, experiment and registry tags
		path = itemPath("tags", v.Index, "key")
		lengthName = path
	}
	switch {
	case len(k) > trainyard.MaxKeyLen:
		return fmt.Sprintf("'%s' exceeds the maximum length of %d characters", lengthName, trainyard.MaxKeyLen)
	case !validNameChars(k):
		return invalidValue(path, k, badCharacterMessage)
	default:
		return invalidValue(path, k, badPathMessage(k))
	}
}

// WriteError answers err in MLflow's shape: the server in front uses it
// for the requests it refuses on this API's paths (no token, no access).
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeMLError(w, r, err)
}
