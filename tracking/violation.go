package tracking

import (
	"fmt"

	"github.com/trainyard/trainyard"
)

// Problem names the rule a request broke.
type Problem int

const (
	// KeyInvalid: a key is empty, too long, or not of the key grammar
	// (trainyard.ValidateKey). Key holds it.
	KeyInvalid Problem = iota + 1
	// ValueTooLong: a value is longer than Limit (Len characters).
	ValueTooLong
	// TooDeep: a config or summary value nests deeper than Limit.
	TooDeep
	// ParamChanged: a param (config key) already holds Old; Value differs.
	ParamChanged
	// DuplicateParam: one request sets a param twice, to Old and Value.
	DuplicateParam
	// TooMany: a batch holds Len items of What, more than Limit.
	TooMany
	// TimeOutOfRange: a time (What: "start_time", "end_time",
	// "timestamp") is out of range: a run's times must fall in the years
	// 1 to 9999, a metric's timestamp must not be negative. Time holds it
	// (Unix ms).
	TimeOutOfRange
	// RunDeleted: the run is deleted and takes no writes.
	RunDeleted
	// JobOwnsState: the run belongs to a job, whose exit decides its state.
	JobOwnsState
	// NameTooLong: a run name is longer than Limit.
	NameTooLong
)

// ParamChange is a param a request would change.
type ParamChange struct{ Key, Old, New string }

// Violation is a request that broke a rule of the service. It is a
// trainyard.Error for errors.As (code, message, field), and carries what an
// adapter needs to word the answer its own way.
type Violation struct {
	Problem Problem
	// What is what broke it: "param", "tag", "metric", "config",
	// "summary", "run_name", "start_time", ...
	What string
	// Index is the item's position in the request's list, -1 for none.
	Index int
	Key   string
	Value string
	Old   string  // ParamChanged, DuplicateParam: the value already there
	Num   float64 // a metric's value, for TimeOutOfRange of its timestamp
	Time  int64   // TimeOutOfRange: the time, Unix ms
	Len   int
	Limit int
	RunID string
	JobID string
	// Keys lists every key at fault (DuplicateParam).
	Keys []string
	// Changes lists every param a batch would change (ParamChanged).
	Changes []ParamChange

	err *trainyard.Error // the domain error: code and native message
}

func (v *Violation) Error() string { return v.err.Error() }

// As makes a Violation a *trainyard.Error for errors.As, so that the
// native API and trainyard.ErrorCode see its code and message.
func (v *Violation) As(target any) bool {
	if t, ok := target.(**trainyard.Error); ok {
		*t = v.err
		return true
	}
	return false
}

// Domain returns the violation as a plain domain error.
func (v *Violation) Domain() *trainyard.Error { return v.err }

func violation(v Violation, code, field, format string, args ...any) *Violation {
	v.err = &trainyard.Error{Code: code, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
	if field == "" {
		v.err.Message = fmt.Sprintf(format, args...)
	}
	return &v
}
