package postgres

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// SearchRuns compiles a run search into one SQL query for the page (and
// one for its runs' metric summaries). Each clause becomes a condition on
// runs r: an EXISTS over series (metrics, by their latest value), run_params
// or run_tags, or a comparison of a column; each ordering term becomes
// components to sort by, from a LEFT JOIN of the same tables. A page token
// holds the last run's values of those components, and the next page is
// the runs after it in that order (keyset paging), so pages do not shift
// when runs are added. The semantics are trainyard.RunSearch's; the
// conformance suite checks them against runquery.Search.
func (s *Store) SearchRuns(ctx context.Context, q trainyard.RunSearch) ([]*trainyard.Run, string, error) {
	var after *runquery.Position
	if q.PageToken != "" {
		var err error
		if after, err = runquery.DecodeToken(q.Order, q.PageToken); err != nil {
			return nil, "", err
		}
	}
	b := &builder{metricAlias: map[string]string{}}
	// A metric that a clause filters on is there in every run found (a
	// clause about a missing value is false): ordered by, it is an inner
	// join whose latest value sorts plainly and which the clauses test
	// directly, so that the index on (key, last) can give the runs in
	// order and the search stops at the page's end.
	required := map[string]bool{}
	for _, c := range q.Filter {
		if c.Kind == trainyard.RunMetric {
			required[c.Key] = true
		}
	}
	terms := make([]sortTerm, len(q.Order))
	var joins []string
	for i, o := range q.Order {
		terms[i] = b.term(o, i, required[o.Key] && o.Kind == trainyard.RunMetric)
		joins = append(joins, terms[i].join)
	}
	where := []string{"TRUE"}
	if len(q.Projects) > 0 {
		where = append(where, "r.project = ANY("+b.arg(q.Projects)+")")
	}
	if w := viewWhere(q.View, "r."); w != "" {
		where = append(where, w)
	}
	if q.IDPrefix != "" {
		p := b.arg(q.IDPrefix)
		where = append(where, "r.id >= "+p+" AND starts_with(r.id, "+p+")")
	}
	for i := range q.Filter {
		where = append(where, b.clause(&q.Filter[i]))
	}
	var comps []component
	for _, t := range terms {
		comps = append(comps, t.comps...)
	}
	comps = append(comps, component{expr: "r.created_at", desc: true}, component{expr: "r.id", desc: true})
	if after != nil {
		where = append(where, b.after(comps, terms, after))
	}
	limit := limitOrDefault(q.Limit)
	var sel, order []string
	for _, t := range terms {
		sel = append(sel, t.value)
	}
	for _, c := range comps {
		dir := " ASC"
		if c.desc {
			dir = " DESC"
		}
		order = append(order, c.expr+dir)
	}
	cols := "r." + strings.ReplaceAll(runColumns, ", ", ", r.")
	sqlText := "SELECT " + cols
	for _, v := range sel {
		sqlText += ", " + v
	}
	sqlText += " FROM runs r" + strings.Join(joins, "") +
		" WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + strings.Join(order, ", ") +
		" LIMIT " + b.arg(limit+1) + " OFFSET " + b.arg(max(q.Offset, 0))

	rows, err := s.pool.Query(ctx, sqlText, b.args...)
	if err != nil {
		return nil, "", wrap(err, "search runs")
	}
	var runs []*trainyard.Run
	var last runquery.Position
	for rows.Next() {
		r, err := scanRunWith(rows, terms)
		if err != nil {
			rows.Close()
			return nil, "", err
		}
		runs = append(runs, r.run)
		if len(runs) == limit {
			last = runquery.Position{Key: r.key, Created: toMicros(r.run.CreatedAt), ID: r.run.ID}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, "", wrap(err, "search runs")
	}
	next := ""
	if len(runs) > limit {
		runs = runs[:limit]
		next = runquery.EncodeToken(q.Order, last)
	}
	return runs, next, loadSummaries(ctx, s.pool, runs)
}

// builder collects a query's arguments.
type builder struct {
	args []any
	// metricAlias names the inner join of series that brings a metric
	// (one ordered by and filtered on), by key.
	metricAlias map[string]string
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// sortTerm is an ordering term in SQL: the join that brings its value, the
// components it sorts by (each comparable with = and < in SQL, nulls
// turned into values), the value selected for the page token, and how to
// turn a token's value into the components' values.
type sortTerm struct {
	order  trainyard.RunOrder
	join   string
	comps  []component
	value  string // the term's value, NULL when missing
	kind   valueKind
	values func(v runquery.KeyValue) []any
}

type component struct {
	expr string
	desc bool
}

type valueKind int

const (
	noValue valueKind = iota
	floatValue
	stringValue
)

// msOf is a time column (Unix µs) in Unix milliseconds, rounded down as
// time.Time.UnixMilli rounds.
func msOf(col string) string {
	return "((" + col + " - ((" + col + " % 1000) + 1000) % 1000) / 1000)"
}

// attrColumns maps a canonical attribute to its SQL: the value, the
// column that holds its lowercase form (ILIKE), and the condition under
// which it is present ("" for always).
func attrColumns(attr string) (value, lower, present string) {
	switch attr {
	case trainyard.AttrID:
		return "r.id", "lower(r.id)", ""
	case trainyard.AttrName:
		return "r.name", "r.name_lower", ""
	case trainyard.AttrState:
		return "r.state", "lower(r.state)", ""
	case trainyard.AttrProject:
		return "r.project", "r.project_lower", ""
	case trainyard.AttrJobID:
		return "r.job_id", "lower(r.job_id)", "r.job_id <> ''"
	case trainyard.AttrCreated:
		return msOf("r.created_at"), "", ""
	case trainyard.AttrStarted:
		return msOf("(CASE WHEN r.started_at = 0 THEN r.created_at ELSE r.started_at END)"), "", ""
	case trainyard.AttrEnded:
		return msOf("r.ended_at"), "", "r.ended_at <> 0"
	case trainyard.AttrExitCode:
		return "r.exit_code", "", "r.exit_code IS NOT NULL"
	}
	return "", "", ""
}

func (b *builder) term(o trainyard.RunOrder, i int, required bool) sortTerm {
	t := sortTerm{order: o}
	alias := "o" + strconv.Itoa(i)
	switch o.Kind {
	case trainyard.RunMetric:
		if _, dup := b.metricAlias[o.Key]; required && !dup {
			b.metricAlias[o.Key] = alias
			t.join = " JOIN series " + alias + " ON " + alias + ".run_id = r.id AND " + alias + ".key = " + b.arg(o.Key) + " AND " + alias + ".count > 0"
			t.value, t.kind = alias+".last", floatValue
			t.comps = []component{{expr: alias + ".last", desc: o.Desc}}
			t.values = func(v runquery.KeyValue) []any {
				if !v.OK { // a token of a search without the filter: after every number
					return []any{math.NaN()}
				}
				return []any{v.V.(float64)}
			}
			return t
		}
		t.join = " LEFT JOIN series " + alias + " ON " + alias + ".run_id = r.id AND " + alias + ".key = " + b.arg(o.Key) + " AND " + alias + ".count > 0"
		t.value, t.kind = alias+".last", floatValue
		t.comps = []component{{expr: "(" + alias + ".id IS NULL)"}, {expr: "coalesce(" + alias + ".last, 0)", desc: o.Desc}}
		t.values = func(v runquery.KeyValue) []any {
			if !v.OK {
				return []any{true, 0.0}
			}
			return []any{false, v.V.(float64)}
		}
	case trainyard.RunParam, trainyard.RunTag:
		table := "run_params"
		if o.Kind == trainyard.RunTag {
			table = "run_tags"
		}
		t.join = " LEFT JOIN " + table + " " + alias + " ON " + alias + ".run_id = r.id AND " + alias + ".key = " + b.arg(o.Key)
		t.value, t.kind = alias+".value", stringValue
		t.comps = []component{
			{expr: "(" + alias + ".value IS NULL)"},
			{expr: "(" + alias + ".num IS NULL)", desc: o.Desc},
			{expr: "coalesce(" + alias + ".num, 0)", desc: o.Desc},
			{expr: "coalesce(CASE WHEN " + alias + ".num IS NULL THEN " + alias + ".value END, '')", desc: o.Desc},
		}
		t.values = func(v runquery.KeyValue) []any {
			if !v.OK {
				return []any{true, true, 0.0, ""}
			}
			s := v.V.(string)
			if f, ok := runquery.NumericString(s); ok {
				return []any{false, false, f, ""}
			}
			return []any{false, true, 0.0, s}
		}
	default:
		attr := runquery.CanonicalAttr(o.Key)
		value, _, present := attrColumns(attr)
		if value == "" {
			t.value = "NULL::text" // no such attribute: always missing, sorts nothing
			t.values = func(runquery.KeyValue) []any { return nil }
			return t
		}
		missing := "FALSE"
		if present != "" {
			missing = "NOT (" + present + ")"
		}
		var zero any = ""
		if runquery.NumericAttr(attr) {
			t.value, t.kind, zero = "CASE WHEN "+missing+" THEN NULL ELSE "+value+"::float8 END", floatValue, 0.0
			t.comps = []component{{expr: "coalesce(" + value + ", 0)::float8", desc: o.Desc}}
		} else {
			t.value, t.kind = "CASE WHEN "+missing+" THEN NULL ELSE "+value+" END", stringValue
			t.comps = []component{{expr: value, desc: o.Desc}}
		}
		if present == "" { // always there: no component for missing
			t.values = func(v runquery.KeyValue) []any { return []any{v.V} }
			return t
		}
		t.comps = append([]component{{expr: "(" + missing + ")"}}, t.comps...)
		t.values = func(v runquery.KeyValue) []any {
			if !v.OK {
				return []any{true, zero}
			}
			return []any{false, v.V}
		}
	}
	return t
}

// after is the condition that a row sorts after the token's position:
// for the components c1..cn in order, some ci is past its value while
// every earlier one equals its value.
func (b *builder) after(comps []component, terms []sortTerm, p *runquery.Position) string {
	var vals []any
	for i, t := range terms {
		vals = append(vals, t.values(p.Key[i])...)
	}
	vals = append(vals, p.Created, p.ID)
	args := make([]string, len(vals))
	for i, v := range vals {
		args[i] = b.arg(v)
	}
	var ors []string
	for i, c := range comps {
		var ands []string
		for j := range i {
			ands = append(ands, comps[j].expr+" = "+args[j])
		}
		op := " > "
		if c.desc {
			op = " < "
		}
		ands = append(ands, c.expr+op+args[i])
		ors = append(ors, "("+strings.Join(ands, " AND ")+")")
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// clause compiles one filter clause (trainyard.RunSearch's semantics).
func (b *builder) clause(c *trainyard.RunClause) string {
	switch c.Kind {
	case trainyard.RunMetric:
		if alias, ok := b.metricAlias[c.Key]; ok {
			if cond := b.numCond(alias+".last", c); cond != "" {
				return "(" + cond + ")"
			}
			return "FALSE"
		}
		cond := b.numCond("s.last", c)
		if cond == "" {
			return "FALSE"
		}
		return "EXISTS (SELECT 1 FROM series s WHERE s.run_id = r.id AND s.key = " + b.arg(c.Key) + " AND s.count > 0 AND " + cond + ")"
	case trainyard.RunParam, trainyard.RunTag:
		table := "run_params"
		if c.Kind == trainyard.RunTag {
			table = "run_tags"
		}
		cond := b.strCond("p.value", "p.value_lower", c)
		if cond == "" {
			return "FALSE"
		}
		return "EXISTS (SELECT 1 FROM " + table + " p WHERE p.run_id = r.id AND p.key = " + b.arg(c.Key) + " AND " + cond + ")"
	}
	attr := runquery.CanonicalAttr(c.Key)
	value, lower, present := attrColumns(attr)
	if value == "" {
		return "FALSE" // no such attribute: always missing
	}
	var cond string
	if runquery.NumericAttr(attr) {
		cond = b.numCond(value, c)
	} else {
		cond = b.strCond(value, lower, c)
	}
	switch {
	case cond == "":
		return "FALSE"
	case present != "":
		return "(" + present + " AND " + cond + ")"
	}
	return "(" + cond + ")"
}

// numCond compares a float column as runquery.MatchNumber does: NaN
// equals nothing (in PostgreSQL it equals itself and exceeds every
// number, so > and >= exclude it). "" means false.
func (b *builder) numCond(col string, c *trainyard.RunClause) string {
	x, ok := runquery.ClauseNumber(c)
	if !ok {
		return ""
	}
	if math.IsNaN(x) {
		if c.Op == "!=" {
			return "TRUE"
		}
		return ""
	}
	switch c.Op {
	case "=", "!=", "<", "<=":
		op := c.Op
		if op == "!=" {
			op = "<>"
		}
		return col + " " + op + " " + b.arg(x) + "::float8"
	case ">", ">=":
		return col + " " + c.Op + " " + b.arg(x) + "::float8 AND " + col + " <> 'NaN'::float8"
	}
	return ""
}

// strCond compares a text column (COLLATE "C": bytewise) as
// runquery.MatchString does. lower is the column's lowercase form (for
// ILIKE). "" means false.
func (b *builder) strCond(col, lower string, c *trainyard.RunClause) string {
	switch c.Op {
	case "=", "!=", "<", "<=", ">", ">=":
		op := c.Op
		if op == "!=" {
			op = "<>"
		}
		return col + " " + op + " " + b.arg(c.Str)
	case "LIKE":
		return col + " LIKE " + b.arg(c.Str) + " ESCAPE ''"
	case "ILIKE":
		if lower == "" {
			return ""
		}
		return lower + " LIKE " + b.arg(strings.ToLower(c.Str)) + " ESCAPE ''"
	case "IN":
		return col + " = ANY(" + b.arg(orEmptyStrs(c.Values)) + "::text[])"
	case "NOT IN":
		return "NOT (" + col + " = ANY(" + b.arg(orEmptyStrs(c.Values)) + "::text[]))"
	}
	return ""
}

// found is one row of a search: the run and its position's key.
type found struct {
	run *trainyard.Run
	key runquery.Key
}

// scanRunWith reads a run's columns and then the terms' values.
func scanRunWith(rows interface{ Scan(...any) error }, terms []sortTerm) (found, error) {
	extra := make([]any, len(terms))
	for i, t := range terms {
		switch t.kind {
		case floatValue:
			extra[i] = new(*float64)
		case stringValue:
			extra[i] = new(*string)
		default:
			extra[i] = new(*string)
		}
	}
	var f found
	r, err := scanRun(scanFunc(func(dst ...any) error { return rows.Scan(append(dst, extra...)...) }))
	if err != nil {
		return f, fmt.Errorf("read a run of a search: %w", err)
	}
	f.run = r
	f.key = make(runquery.Key, len(terms))
	for i, t := range terms {
		switch t.kind {
		case floatValue:
			if v := *extra[i].(**float64); v != nil {
				f.key[i] = runquery.KeyValue{V: *v, OK: true}
			}
		case stringValue:
			if v := *extra[i].(**string); v != nil {
				f.key[i] = runquery.KeyValue{V: *v, OK: true}
			}
		}
	}
	return f, nil
}

type scanFunc func(dst ...any) error

func (f scanFunc) Scan(dst ...any) error { return f(dst...) }
