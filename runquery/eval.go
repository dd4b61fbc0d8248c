package runquery

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/trainyard/trainyard"
)

// Record looks up what a filter or an ordering asks about one run. Attr
// returns a string or a float64 (times in Unix milliseconds).
type Record interface {
	Metric(key string) (float64, bool)
	Param(key string) (string, bool)
	Tag(key string) (string, bool)
	Attr(name string) (any, bool)
}

// Match reports whether the record satisfies every clause, with the
// semantics of trainyard.RunSearch: a clause about a value the run does
// not have is false (as in MLflow).
func (f *Filter) Match(r Record) bool { return MatchAll(f.Clauses, r) }

// MatchAll reports whether the record satisfies every clause.
func MatchAll(clauses []Clause, r Record) bool {
	for i := range clauses {
		if !MatchClause(&clauses[i], r) {
			return false
		}
	}
	return true
}

// MatchClause reports whether the record satisfies one clause.
func MatchClause(c *Clause, r Record) bool {
	switch c.Kind {
	case Metric:
		v, ok := r.Metric(c.Key)
		return ok && MatchNumber(c, v)
	case Param:
		v, ok := r.Param(c.Key)
		return ok && MatchString(c, v)
	case Tag:
		v, ok := r.Tag(c.Key)
		return ok && MatchString(c, v)
	}
	v, ok := r.Attr(c.Key)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case float64:
		return MatchNumber(c, x)
	case string:
		return MatchString(c, x)
	}
	return false
}

// ClauseNumber is the number a clause compares numbers with: its number,
// or its string parsed as one; ok is false when it has none.
func ClauseNumber(c *Clause) (float64, bool) {
	if c.IsNum {
		return c.Num, true
	}
	n, err := strconv.ParseFloat(c.Str, 64)
	return n, err == nil
}

// MatchNumber reports whether the number v satisfies the clause (=, !=,
// <, <=, >, >=; any other operator is false). NaN equals nothing.
func MatchNumber(c *Clause, v float64) bool {
	x, ok := ClauseNumber(c)
	if !ok {
		return false
	}
	switch c.Op {
	case "=":
		return v == x
	case "!=":
		return v != x
	case "<":
		return v < x
	case "<=":
		return v <= x
	case ">":
		return v > x
	case ">=":
		return v >= x
	}
	return false
}

// MatchString reports whether the string v satisfies the clause.
func MatchString(c *Clause, v string) bool {
	switch c.Op {
	case "=":
		return v == c.Str
	case "!=":
		return v != c.Str
	case "LIKE":
		return likeRegexp(c.Str).MatchString(v)
	case "ILIKE":
		return likeRegexp(strings.ToLower(c.Str)).MatchString(strings.ToLower(v))
	case "IN":
		return slices.Contains(c.Values, v)
	case "NOT IN":
		return !slices.Contains(c.Values, v)
	case "<":
		return v < c.Str
	case "<=":
		return v <= c.Str
	case ">":
		return v > c.Str
	case ">=":
		return v >= c.Str
	}
	return false
}

var likeCache sync.Map // pattern → *regexp.Regexp

// likeRegexp turns an SQL LIKE pattern (% any run, _ one character, no
// escape character) into a regular expression.
func likeRegexp(pattern string) *regexp.Regexp {
	if re, ok := likeCache.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString("^(?s)")
	for _, r := range pattern {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re := regexp.MustCompile(b.String())
	likeCache.Store(pattern, re)
	return re
}

// OrderTerm is one key of an ordering (trainyard.RunOrder).
type OrderTerm = trainyard.RunOrder

// ParseOrderBy reads terms such as "metrics.loss ASC" or
// "attributes.start_time DESC".
func ParseOrderBy(terms []string) ([]OrderTerm, error) {
	var out []OrderTerm
	for _, t := range terms {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		toks, err := lex(t)
		if err != nil {
			return nil, fmt.Errorf("order_by %q: %w", t, err)
		}
		p := &parser{toks: toks}
		kind, key, err := p.identifier()
		if err != nil {
			return nil, fmt.Errorf("order_by %q: %w", t, err)
		}
		o := OrderTerm{Kind: kind, Key: key}
		switch d := p.next(); {
		case d.kind == "eof":
		case d.kind == "ident" && strings.EqualFold(d.text, "desc"):
			o.Desc = true
		case d.kind == "ident" && strings.EqualFold(d.text, "asc"):
		default:
			return nil, fmt.Errorf("order_by %q: want ASC or DESC after the key, got %q", t, d.text)
		}
		if e := p.next(); e.kind != "eof" {
			return nil, fmt.Errorf("order_by %q: unexpected %q", t, e.text)
		}
		out = append(out, o)
	}
	return out, nil
}

// Compare orders two records by the terms, as trainyard.RunSearch says:
// missing values last whatever the direction; NaN above other numbers;
// params and tags that are numbers before the others, by number.
func Compare(a, b Record, terms []OrderTerm) int {
	for _, t := range terms {
		va, oka := value(a, t)
		vb, okb := value(b, t)
		if c := compareTerm(t, va, oka, vb, okb); c != 0 {
			return c
		}
	}
	return 0
}

func compareTerm(t OrderTerm, va any, oka bool, vb any, okb bool) int {
	var c int
	switch {
	case !oka && !okb:
		return 0
	case !oka:
		return 1
	case !okb:
		return -1
	default:
		c = compareValues(t.Kind, va, vb)
	}
	if t.Desc {
		c = -c
	}
	return c
}

func value(r Record, t OrderTerm) (any, bool) {
	switch t.Kind {
	case Metric:
		v, ok := r.Metric(t.Key)
		return v, ok
	case Param:
		v, ok := r.Param(t.Key)
		return v, ok
	case Tag:
		v, ok := r.Tag(t.Key)
		return v, ok
	}
	return r.Attr(t.Key)
}

// CompareFloats orders numbers with NaN above all others (equal to NaN).
func CompareFloats(x, y float64) int {
	switch {
	case math.IsNaN(x) && math.IsNaN(y):
		return 0
	case math.IsNaN(x):
		return 1
	case math.IsNaN(y):
		return -1
	}
	return cmp.Compare(x, y)
}

// NumericString reports whether a param or tag value sorts as a number,
// and which: strconv.ParseFloat accepts it and it is not NaN.
func NumericString(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f)
}

func compareValues(kind Kind, a, b any) int {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return -1
		}
		return CompareFloats(x, y)
	case string:
		y, ok := b.(string)
		if !ok {
			return 1
		}
		if kind == Param || kind == Tag {
			fx, nx := NumericString(x)
			fy, ny := NumericString(y)
			switch {
			case nx && ny:
				return cmp.Compare(fx, fy)
			case nx:
				return -1
			case ny:
				return 1
			}
		}
		return strings.Compare(x, y)
	}
	return 0
}
