package tracking

import (
	"encoding/json"
	"path"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// Limits on what one request and one run may hold. They are MLflow's
// (mlflow/utils/validation.py), so that a run logged through either API can
// be read through the other.
const (
	MaxParamValue   = 6000 // a param: a config value as MLflow shows it
	MaxTagValue     = 8000 // a run tag's value
	MaxBatchMetrics = 1000 // metric points in one log-batch
	MaxBatchParams  = 100
	MaxBatchTags    = 100
	MaxBatchItems   = 1000 // metrics, params and tags of one log-batch together

	// MaxSummaryValue bounds a summary value as JSON (trainyard's own: a
	// summary is not an MLflow param).
	MaxSummaryValue = 64 << 10
	// MaxDepth bounds how deeply a config or summary value nests (maps
	// and lists).
	MaxDepth = 16
)

// checkValues checks the values of a run's config or summary as the
// native API sends them (nested maps, flattened into dotted keys): every
// key, the depth, and the size of each value as MLflow shows it (a param's
// 6,000 characters for config; MaxSummaryValue for summary).
func checkValues(what string, m map[string]any, limit int) error {
	if d := depth(m); d > MaxDepth {
		return violation(Violation{Problem: TooDeep, What: what, Index: -1, Len: d, Limit: MaxDepth},
			trainyard.EINVALID, what, "nests %d levels deep, more than %d", d, MaxDepth)
	}
	flat := trainyard.FlattenConfig(m)
	for _, k := range trainyard.SortedKeys(flat) {
		if err := checkKey(what, -1, k); err != nil {
			return err
		}
		v := flat[k]
		if v == nil {
			continue // a summary's null deletes its key
		}
		var n int
		if what == "config" {
			n = len(runquery.ParamString(v))
		} else if b, err := json.Marshal(v); err == nil {
			n = len(b)
		}
		if n > limit {
			return violation(Violation{Problem: ValueTooLong, What: what, Index: -1, Key: k, Len: n, Limit: limit},
				trainyard.EINVALID, what, "value of %q is %d characters, more than %d", k, n, limit)
		}
	}
	return nil
}

// depth is how deeply v nests maps and lists.
func depth(v any) int {
	switch x := v.(type) {
	case map[string]any:
		d := 0
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		d := 0
		for _, e := range x {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

// checkKey applies the key grammar (trainyard.ValidateKey) and refuses
// keys that would name another key when read as a path ("a/../b", "/x"),
// as MLflow does.
func checkKey(what string, index int, key string) error {
	err := trainyard.ValidateKey(what, key)
	if err == nil && pathNotUnique(key) {
		err = trainyard.FieldError(what, "key %q must not resolve to another name when read as a path (it reads as %q)", key, path.Clean(key))
	}
	if err != nil {
		return violation(Violation{Problem: KeyInvalid, What: what, Index: index, Key: key}, trainyard.EINVALID, "", "%s", trainyard.ErrorMessage(err))
	}
	return nil
}

// pathNotUnique is MLflow's path_not_unique: a key that path cleaning
// changes, or that cleans to ".", "..." or an absolute path.
func pathNotUnique(k string) bool {
	c := path.Clean(k)
	return c != k || c == "." || strings.HasPrefix(c, "..") || strings.HasPrefix(c, "/")
}

// CheckKeyValue checks a key and its value's length against limit, for
// what ("param", "tag", "experiment tag", ...) at index in its request's
// list (-1 for none). Runs' params and tags are checked by the service
// itself; adapters call this for the keys and values of other things
// (experiment tags, registry tags) with their own limits.
func CheckKeyValue(what string, index int, key, value string, limit int) error {
	if err := checkKey(what, index, key); err != nil {
		return err
	}
	if len(value) > limit {
		return violation(Violation{Problem: ValueTooLong, What: what, Index: index, Key: key, Value: value, Len: len(value), Limit: limit},
			trainyard.EINVALID, what, "value of %q is %d characters, more than %d", key, len(value), limit)
	}
	return nil
}

// CheckKey checks a key of what at index (-1 for none).
func CheckKey(what string, index int, key string) error { return checkKey(what, index, key) }

func checkParam(index int, key, value string) error {
	return CheckKeyValue("param", index, key, value, MaxParamValue)
}

func checkTag(index int, key, value string) error {
	return CheckKeyValue("tag", index, key, value, MaxTagValue)
}

func checkName(name string) error {
	if len(name) > trainyard.MaxNameLen {
		return violation(Violation{Problem: NameTooLong, What: "run_name", Index: -1, Value: name, Len: len(name), Limit: trainyard.MaxNameLen},
			trainyard.EINVALID, "name", "is %d characters, more than %d", len(name), trainyard.MaxNameLen)
	}
	return nil
}

// checkRunTime refuses a run time outside the years 1 to 9999: such a time
// cannot be written as a date (RFC 3339, as the native API does), and is
// most often microseconds sent as milliseconds.
func checkRunTime(what string, t time.Time) error {
	if y := t.Year(); y < 1 || y > 9999 {
		ms := t.UnixMilli()
		return violation(Violation{Problem: TimeOutOfRange, What: what, Index: -1, Time: ms},
			trainyard.EINVALID, what, "%d ms is in the year %d: a run's times must fall in the years 1 to 9999 (send Unix milliseconds)", ms, y)
	}
	return nil
}
