// Package runquery parses and evaluates run search filters and orderings in
// MLflow's grammar, which the native API, the MLflow-compatible API and the
// web UI share:
//
//	metrics.loss < 0.5 AND params.lr = '0.01' AND tags.team LIKE 'vis%'
//	attributes.status IN ('RUNNING', 'QUEUED') AND run_name ILIKE '%bert%'
//	metrics.`val/acc` >= 0.9
//
// A filter is clauses joined by AND. An identifier is metrics.K, params.K
// (also config.K), tags.K or attributes.NAME (or a bare attribute name);
// K may be quoted with backticks or double quotes. Metrics compare as
// numbers (=, !=, <, <=, >, >=); params, tags and string attributes compare
// as strings (=, !=, LIKE, ILIKE, IN, NOT IN). Values are numbers or single-
// or double-quoted strings. The package is pure: callers supply a Record
// that looks values up.
package runquery

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/trainyard/trainyard"
)

// Kind is the kind of value an identifier names.
type Kind = trainyard.RunKind

const (
	Metric    = trainyard.RunMetric
	Param     = trainyard.RunParam
	Tag       = trainyard.RunTag
	Attribute = trainyard.RunAttribute
)

// Clause is one comparison: Kind.Key Op Value (trainyard.RunClause, the
// form stores answer).
type Clause = trainyard.RunClause

// Filter is clauses that must all hold. The zero Filter matches every run.
type Filter struct {
	Clauses []Clause
}

// Error is a syntax error with the position of the offending token.
type Error struct {
	Pos int
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("filter: at character %d: %s", e.Pos+1, e.Msg) }

type token struct {
	kind string // ident, string, number, op, lparen, rparen, comma, eof
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, token{"lparen", "(", i})
			i++
		case c == ')':
			toks = append(toks, token{"rparen", ")", i})
			i++
		case c == ',':
			toks = append(toks, token{"comma", ",", i})
			i++
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			var b strings.Builder
			for j < len(s) && s[j] != c {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
				j++
			}
			if j >= len(s) {
				return nil, &Error{i, fmt.Sprintf("unterminated quote %c", c)}
			}
			kind := "string"
			if c == '`' {
				kind = "quotedident"
			}
			toks = append(toks, token{kind, b.String(), i})
			i = j + 1
		case c == '=' || c == '!' || c == '<' || c == '>':
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			op := s[i:j]
			if op == "!" {
				return nil, &Error{i, "'!' must be followed by '='"}
			}
			if op == "==" {
				op = "="
			}
			toks = append(toks, token{"op", op, i})
			i = j
		case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
			j := i + 1
			for j < len(s) && (s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] >= '0' && s[j] <= '9' ||
				((s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, token{"number", s[i:j], i})
			i = j
		case isIdentStart(rune(c)):
			j := i + 1
			for j < len(s) && isIdentPart(rune(s[j])) {
				j++
			}
			toks = append(toks, token{"ident", s[i:j], i})
			i = j
		default:
			return nil, &Error{i, fmt.Sprintf("unexpected character %q", c)}
		}
	}
	return append(toks, token{"eof", "", len(s)}), nil
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool {
	return r == '_' || r == '.' || r == '-' || r == '/' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// Parse reads a filter. An empty string is the filter that matches all.
func Parse(s string) (*Filter, error) {
	f := &Filter{}
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	for {
		c, err := p.clause()
		if err != nil {
			return nil, err
		}
		f.Clauses = append(f.Clauses, c)
		t := p.next()
		if t.kind == "eof" {
			return f, nil
		}
		if t.kind != "ident" || !strings.EqualFold(t.text, "and") {
			return nil, &Error{t.pos, fmt.Sprintf("want AND between clauses, got %q (OR is not supported)", t.text)}
		}
	}
}

type parser struct {
	toks []token
	i    int
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != "eof" {
		p.i++
	}
	return t
}

func (p *parser) peek() token { return p.toks[p.i] }

// identifier reads kind.key or a bare attribute name.
func (p *parser) identifier() (Kind, string, error) {
	t := p.next()
	switch t.kind {
	case "ident":
	case "quotedident":
		return Attribute, t.text, nil
	default:
		return 0, "", &Error{t.pos, fmt.Sprintf("want an identifier such as metrics.loss, got %q", t.text)}
	}
	prefix, rest, dotted := strings.Cut(t.text, ".")
	if !dotted || rest == "" {
		// "metrics.`x`" lexes as ident "metrics." then a quoted identifier.
		if dotted && (p.peek().kind == "quotedident" || p.peek().kind == "string") {
			rest = p.next().text
		} else if !dotted {
			return Attribute, t.text, nil
		}
	}
	switch strings.ToLower(prefix) {
	case "metric", "metrics":
		return Metric, rest, nil
	case "param", "params", "parameter", "parameters", "config":
		return Param, rest, nil
	case "tag", "tags":
		return Tag, rest, nil
	case "attribute", "attributes", "attr", "run":
		return Attribute, rest, nil
	}
	return 0, "", &Error{t.pos, fmt.Sprintf("unknown identifier %q: use metrics., params., tags. or attributes.", t.text)}
}

func (p *parser) clause() (Clause, error) {
	kind, key, err := p.identifier()
	if err != nil {
		return Clause{}, err
	}
	c := Clause{Kind: kind, Key: key}
	t := p.next()
	switch {
	case t.kind == "op":
		c.Op = t.text
	case t.kind == "ident" && (strings.EqualFold(t.text, "like") || strings.EqualFold(t.text, "ilike") || strings.EqualFold(t.text, "in")):
		c.Op = strings.ToUpper(t.text)
	case t.kind == "ident" && strings.EqualFold(t.text, "not"):
		n := p.next()
		if n.kind != "ident" || !strings.EqualFold(n.text, "in") {
			return c, &Error{n.pos, "want IN after NOT"}
		}
		c.Op = "NOT IN"
	default:
		return c, &Error{t.pos, fmt.Sprintf("want a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN) after %s.%s, got %q", kind, key, t.text)}
	}
	if c.Op == "IN" || c.Op == "NOT IN" {
		if kind == Metric {
			return c, &Error{t.pos, "IN is for strings; compare metrics with =, <, >"}
		}
		if l := p.next(); l.kind != "lparen" {
			return c, &Error{l.pos, "want ( after IN"}
		}
		for {
			v := p.next()
			if v.kind != "string" && v.kind != "number" {
				return c, &Error{v.pos, fmt.Sprintf("want a quoted string in the IN list, got %q", v.text)}
			}
			c.Values = append(c.Values, v.text)
			sep := p.next()
			if sep.kind == "rparen" {
				break
			}
			if sep.kind != "comma" {
				return c, &Error{sep.pos, "want , or ) in the IN list"}
			}
		}
		return c, nil
	}
	v := p.next()
	switch v.kind {
	case "number":
		n, err := strconv.ParseFloat(v.text, 64)
		if err != nil {
			return c, &Error{v.pos, fmt.Sprintf("%q is not a number", v.text)}
		}
		c.Num, c.IsNum, c.Str = n, true, v.text
	case "string":
		c.Str = v.text
		if kind == Metric {
			n, ok := parseSpecial(v.text)
			if !ok {
				return c, &Error{v.pos, fmt.Sprintf("metrics compare with numbers, not %q", v.text)}
			}
			c.Num, c.IsNum = n, true
		}
	default:
		return c, &Error{v.pos, fmt.Sprintf("want a value after %s, got %q", c.Op, v.text)}
	}
	if (c.Op == "LIKE" || c.Op == "ILIKE") && c.IsNum && kind == Metric {
		return c, &Error{t.pos, "LIKE is for strings"}
	}
	if kind == Metric && !c.IsNum {
		return c, &Error{v.pos, "metrics compare with numbers"}
	}
	return c, nil
}

func parseSpecial(s string) (float64, bool) {
	n, err := strconv.ParseFloat(s, 64)
	return n, err == nil
}
