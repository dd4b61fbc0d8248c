package migrate

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/chunk"
	"github.com/trainyard/trainyard/runquery"
)

// kind is how a column's SQLite value becomes its PostgreSQL one.
type kind int

const (
	text    kind = iota // TEXT → text (a value SQLite holds as a BLOB is the same text)
	ntext               // TEXT or NULL
	integer             // INTEGER → integer or bigint
	nint                // INTEGER or NULL
	boolean             // INTEGER 0/1 → boolean
	blob                // BLOB → bytea
	nblob               // BLOB or NULL
)

type column struct {
	name string
	kind kind
}

// table is how one table moves. Columns in cols are in both schemas and
// copied as they are; the rest of either schema is named, with the reason,
// so that a column added to a schema and not here fails the test that
// compares this list with both schemas (TestEveryTableAndColumnIsCopied).
type table struct {
	name string
	cols []column
	// srcOnly are SQLite columns read and handed to derive but not
	// written as they are.
	srcOnly []column
	// ignored are SQLite columns that later migrations superseded (their
	// data moved to other columns there); they are not read.
	ignored []string
	// derived are PostgreSQL columns derive computes.
	derived []string
	// defaults are PostgreSQL columns left at their default: state of a
	// running cluster of servers, not of the data.
	defaults []string
	// derive computes derived from the row's cols (which it may correct)
	// and srcOnly values.
	derive func(cols, src []any) ([]any, error)
	// from, when set, reads the rows of another SQLite table: the table is
	// PostgreSQL's alone and expand makes its rows (run_params, run_tags).
	from   string
	expand func(src []any) ([][]any, error)
	// serial is the column whose sequence must continue after the
	// copied rows.
	serial string
}

// dstCols are the PostgreSQL columns a table's rows fill, in order.
func (t *table) dstCols() []string {
	var out []string
	for _, c := range t.cols {
		out = append(out, c.name)
	}
	return append(out, t.derived...)
}

func c(name string, k kind) column { return column{name, k} }

// tables are every table of trainyard's schema, in the order they are
// copied (parents before the rows that refer to them).
var tables = []*table{
	{name: "jobs", cols: []column{c("id", text), c("spec", text), c("project", text), c("priority", integer), c("state", text),
		c("reason", text), c("exit_code", nint), c("version", integer), c("placement", text), c("backend_id", text),
		c("launched", boolean), c("handle", text), c("restarts", integer), c("submitted_at", integer), c("started_at", integer),
		c("ended_at", integer), c("owner", text)},
		ignored:  []string{"gpus", "pid"},      // moved into placement and backend_id by SQLite's migration 4
		defaults: []string{"cancel_requested"}, // a cancel asked of a non-leading server
	},
	{name: "experiments", cols: []column{c("id", integer), c("name", text), c("artifact_location", text), c("deleted", boolean),
		c("tags", text), c("created_at", integer), c("updated_at", integer)}, serial: "id"},
	{name: "runs", cols: []column{c("id", text), c("project", text), c("name", text), c("state", text), c("job_id", text),
		c("config", text), c("tags", text), c("summary", text), c("command", text), c("workdir", text), c("git", text),
		c("exit_code", nint), c("reason", text), c("deleted", boolean), c("created_at", integer), c("started_at", integer),
		c("ended_at", integer), c("owner", text)},
		derived: []string{"project_lower", "name_lower"},
		derive: func(cols, _ []any) ([]any, error) {
			return []any{strings.ToLower(cols[1].(string)), strings.ToLower(cols[2].(string))}, nil
		},
	},
	{name: "run_params", from: "runs", srcOnly: []column{c("id", text), c("config", text)},
		derived: []string{"run_id", "key", "value", "value_lower", "num"},
		expand: func(src []any) ([][]any, error) {
			var config map[string]any
			if err := json.Unmarshal([]byte(src[1].(string)), &config); err != nil {
				return nil, fmt.Errorf("run %s: decode config: %w", src[0], err)
			}
			kv := make(map[string]string, len(config))
			for k, v := range config {
				kv[k] = runquery.ParamString(v)
			}
			return searchRows(src[0].(string), kv), nil
		},
	},
	{name: "run_tags", from: "runs", srcOnly: []column{c("id", text), c("tags", text)},
		derived: []string{"run_id", "key", "value", "value_lower", "num"},
		expand: func(src []any) ([][]any, error) {
			var tags map[string]string
			if err := json.Unmarshal([]byte(src[1].(string)), &tags); err != nil {
				return nil, fmt.Errorf("run %s: decode tags: %w", src[0], err)
			}
			return searchRows(src[0].(string), tags), nil
		},
	},
	{name: "series", cols: []column{c("id", integer), c("run_id", text), c("key", text), c("next_seq", integer),
		c("tail_start", integer), c("tail_small", integer)},
		srcOnly:  []column{c("summary", text)},
		derived:  []string{"count", "last", "last_step", "last_time", "min", "max"},
		defaults: []string{"version"}, // writers' compare-and-set counter: starts again
		serial:   "id",
		derive: func(cols, src []any) ([]any, error) {
			var m trainyard.MetricSummary
			if err := json.Unmarshal([]byte(src[0].(string)), &m); err != nil {
				return nil, fmt.Errorf("series %d: decode summary: %w", cols[0], err)
			}
			if m.Count == 0 { // as PostgreSQL's store leaves a series without points
				m.Min, m.Max = trainyard.Float(math.NaN()), trainyard.Float(math.NaN())
			}
			return []any{m.Count, float64(m.Last), m.LastStep, m.LastTime, float64(m.Min), float64(m.Max)}, nil
		},
	},
	{name: "chunks", cols: []column{c("series_id", integer), c("seq", integer), c("count", integer), c("min_step", integer),
		c("max_step", integer), c("lod", nblob), c("data", blob), c("min_time", nint), c("max_time", nint)},
		// Chunks SQLite stored before migration 5 have no time range;
		// PostgreSQL's column is required: it is read from the points.
		derive: func(cols, _ []any) ([]any, error) {
			if cols[7] != nil && cols[8] != nil {
				return nil, nil
			}
			var p chunk.Points
			if err := chunk.Decode(&p, cols[6].([]byte)); err != nil {
				return nil, fmt.Errorf("chunk %d of series %d: %w", cols[1], cols[0], err)
			}
			lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
			for _, t := range p.Times {
				lo, hi = min(lo, t), max(hi, t)
			}
			cols[7], cols[8] = lo, hi
			return nil, nil
		},
	},
	{name: "metric_batches", cols: []column{c("run_id", text), c("batch_id", text)}},
	{name: "run_io", cols: []column{c("run_id", text), c("data", text)}},
	{name: "registered_models", cols: []column{c("name", text), c("description", text), c("tags", text), c("aliases", text),
		c("next_version", integer), c("created_at", integer), c("updated_at", integer)}},
	{name: "model_versions", cols: []column{c("name", text), c("version", integer), c("source", text), c("run_id", text),
		c("model_id", text), c("run_link", text), c("stage", text), c("description", text), c("tags", text),
		c("created_at", integer), c("updated_at", integer)}},
	{name: "logged_models", cols: []column{c("id", text), c("experiment_id", text), c("name", text), c("artifact_location", text),
		c("status", text), c("status_message", text), c("source_run_id", text), c("model_type", text), c("tags", text),
		c("params", text), c("metrics", text), c("deleted", boolean), c("created_at", integer), c("updated_at", integer)}},
	{name: "sweeps", cols: []column{c("id", text), c("name", text), c("project", text), c("state", text), c("reason", text),
		c("metric", text), c("mode", text), c("managed", boolean), c("spec", text), c("snapshot", text), c("best_trial", integer),
		c("best_value", ntext), c("version", integer), c("created_at", integer), c("updated_at", integer), c("ended_at", integer), c("owner", text)}},
	{name: "trials", cols: []column{c("sweep_id", text), c("number", integer), c("data", text)}},
	{name: "users", cols: []column{c("name", text), c("admin", boolean), c("password_hash", text), c("created_at", integer),
		c("updated_at", integer)}},
	{name: "user_roles", cols: []column{c("user_name", text), c("project", text), c("role", text)}},
	{name: "tokens", cols: []column{c("id", text), c("hash", text), c("kind", text), c("user_name", text), c("name", text),
		c("prefix", text), c("project", text), c("role", text), c("created_by", text), c("created_at", integer),
		c("expires_at", integer), c("revoked_at", integer)}},
	{name: "audit", cols: []column{c("seq", integer), c("time", integer), c("actor", text), c("action", text), c("target", text),
		c("project", text), c("detail", text)}, serial: "seq"},
	{name: "settings", cols: []column{c("key", text), c("value", blob)}},
}

// Tables that are one schema's alone and not data to move, with why.
var (
	// sqliteOnly: SQLite's own bookkeeping.
	sqliteOnly = map[string]string{"sqlite_sequence": "SQLite's AUTOINCREMENT counters (audit's continues through its sequence)"}
	// postgresOnly: the state of servers on the database, not of the data.
	postgresOnly = map[string]string{
		"leader":           "the scheduling leader's epoch: servers on the new database elect one",
		"trainyard_schema": "goose's record of the schema's migrations",
	}
)

// searchRows are the run_params or run_tags rows of one run, as the
// PostgreSQL store writes them.
func searchRows(runID string, kv map[string]string) [][]any {
	out := make([][]any, 0, len(kv))
	for _, k := range trainyard.SortedKeys(kv) {
		v := kv[k]
		var num any
		if f, ok := runquery.NumericString(v); ok {
			num = f
		}
		out = append(out, []any{runID, k, v, strings.ToLower(v), num})
	}
	return out
}

// convert makes a value SQLite returned into what PostgreSQL's column takes.
func convert(tbl string, col column, v any) (any, error) {
	bad := func() (any, error) {
		return nil, fmt.Errorf("%s.%s: unexpected value %T %.40v", tbl, col.name, v, v)
	}
	if v == nil {
		switch col.kind {
		case ntext, nint, nblob:
			return nil, nil
		}
		return bad()
	}
	switch col.kind {
	case text, ntext:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		default:
			return bad()
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("%s.%s: %.60q holds invalid UTF-8 or a NUL character, which PostgreSQL cannot store", tbl, col.name, s)
		}
		return s, nil
	case integer, nint:
		if x, ok := v.(int64); ok {
			return x, nil
		}
		return bad()
	case boolean:
		if x, ok := v.(int64); ok {
			return x != 0, nil
		}
		if x, ok := v.(bool); ok {
			return x, nil
		}
		return bad()
	case blob, nblob:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
		return bad()
	}
	return bad()
}
