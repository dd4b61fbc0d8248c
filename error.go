package trainyard

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Error codes. They are mapped to HTTP status codes in one place (package
// http) and to CLI exit codes in package cli.
const (
	EINVALID       = "invalid"              // the request is malformed or names a bad value
	ENOTFOUND      = "not_found"            // the thing asked for does not exist
	ECONFLICT      = "conflict"             // the request conflicts with current state
	ETOOLARGE      = "too_large"            // a body, batch or value is over a limit
	EUNAVAILABLE   = "unavailable"          // the service is shutting down or overloaded
	EINTERNAL      = "internal"             // a fault on our side; the cause is logged
	EUNSATISFIABLE = "unsatisfiable"        // the machine can never satisfy a request
	EUNAUTHORIZED  = "unauthorized"         // no credential, or one unknown, expired or revoked
	EFORBIDDEN     = "forbidden"            // the credential is good but does not allow this
	ENOSPACE       = "insufficient_storage" // the server's disk is full: writes fail, reads still work
)

// DiskFullMessage is what a client is told when a write failed because the
// server's disk is full.
const DiskFullMessage = "the server's disk is full, so this write was not stored: free space on the disk of its data directory and send it again (reads keep working)"

// Error is the error type of the domain. Code is one of the E* constants and
// Message is safe to show to users; it names the field or value at fault.
type Error struct {
	Code    string
	Message string
	Field   string // optional: the request field at fault
}

func (e *Error) Error() string {
	if e.Field != "" && e.Message == "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Field)
	}
	return e.Message
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID error that names field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, ENOSPACE
// for a full disk (see DiskFull), EINTERNAL for any other non-nil error,
// and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if DiskFull(err) {
		return ENOSPACE
	}
	return EINTERNAL
}

// DiskFull reports whether err's chain says that the disk is full: ENOSPC
// from the operating system (artifacts, logs) or SQLITE_FULL from SQLite,
// whose drivers report it as an error with Code() 13 (in its low byte).
// It is the one place where those causes become the code ENOSPACE.
func DiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull {
		return true
	}
	return false
}

const sqliteFull = 13 // SQLITE_FULL: "database or disk is full"

// ErrorMessage returns the user-safe message of err: the message of the first
// *Error in its chain, or a generic text for internal errors, whose cause is
// for logs only.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var msgs []string
		for _, e := range j.Unwrap() {
			if m := ErrorMessage(e); m != "" {
				msgs = append(msgs, m)
			}
		}
		return strings.Join(msgs, "; ")
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	if DiskFull(err) {
		return DiskFullMessage
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
