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
)

// Record looks up what a filter or an ordering asks about one run. Attr
// returns a string or a float64 (times in Unix milliseconds).
type Record interface {
	Metric(key string) (float64, bool)
	Param(key string) (string, bool)
	Tag(key string) (string, bool)
	Attr(name string) (any, bool)
}

// Match reports whether the record satisfies every clause. A clause about
// a value the run does not have is false (as in MLflow).
func (f *Filter) Match(r Record) bool {
	for i := range f.Clauses {
		if !f.Clauses[i].match(r) {
			return false
		}
	}
	return true
}

func (c *Clause) match(r Record) bool {
	switch c.Kind {
	case Metric:
		v, ok := r.Metric(c.Key)
		return ok && compareNum(v, c.Op, c.Num)
	case Param:
		v, ok := r.Param(c.Key)
		return ok && c.compareStr(v)
	case Tag:
		v, ok := r.Tag(c.Key)
		return ok && c.compareStr(v)
	}
	v, ok := r.Attr(c.Key)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case float64:
		n := c.Num
		if !c.IsNum {
			var err error
			if n, err = strconv.ParseFloat(c.Str, 64); err != nil {
				return false
			}
		}
		return compareNum(x, c.Op, n)
	case string:
		return c.compareStr(x)
	}
	return false
}

func compareNum(v float64, op string, x float64) bool {
	switch op {
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

func (c *Clause) compareStr(v string) bool {
	switch c.Op {
	case "=":
		return v == c.Str
	case "!=":
		return v != c.Str
	case "LIKE":
		return likeRegexp(c.Str, false).MatchString(v)
	case "ILIKE":
		return likeRegexp(c.Str, true).MatchString(v)
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

// likeRegexp turns an SQL LIKE pattern (% any run, _ one character) into a
// regular expression.
func likeRegexp(pattern string, fold bool) *regexp.Regexp {
	key := strconv.FormatBool(fold) + pattern
	if re, ok := likeCache.Load(key); ok {
		return re.(*regexp.Regexp)
	}
	var b strings.Builder
	b.WriteString("^")
	if fold {
		b.WriteString("(?is)")
	} else {
		b.WriteString("(?s)")
	}
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
	likeCache.Store(key, re)
	return re
}

// OrderTerm is one key of an ordering.
type OrderTerm struct {
	Kind Kind
	Key  string
	Desc bool
}

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

// Compare orders two records by the terms. Runs without a value sort last
// whatever the direction; NaN sorts after numbers.
func Compare(a, b Record, terms []OrderTerm) int {
	for _, t := range terms {
		va, oka := value(a, t)
		vb, okb := value(b, t)
		var c int
		switch {
		case !oka && !okb:
			continue
		case !oka:
			return 1
		case !okb:
			return -1
		default:
			c = compareValues(va, vb)
		}
		if t.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
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

func compareValues(a, b any) int {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return -1
		}
		switch {
		case math.IsNaN(x) && math.IsNaN(y):
			return 0
		case math.IsNaN(x):
			return 1
		case math.IsNaN(y):
			return -1
		}
		return cmp.Compare(x, y)
	case string:
		y, ok := b.(string)
		if !ok {
			return 1
		}
		// Params hold numbers as strings: compare them as numbers when both are.
		if fx, err := strconv.ParseFloat(x, 64); err == nil {
			if fy, err := strconv.ParseFloat(y, 64); err == nil {
				return cmp.Compare(fx, fy)
			}
		}
		return strings.Compare(x, y)
	}
	return 0
}
