// Package metricjson reads the metric batches of trainyard's native API
// (POST /api/v1/runs/{id}/metrics), in both of their forms, into columns.
package metricjson

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unsafe"

	"github.com/trainyard/trainyard"
)

// The metric batch parser. A batch is the API's hot path (a million
// points a second) and its largest body, so it is read in one pass over
// the bytes, without a tree of values and without reflection, straight
// into columns:
//
//   - Memory is bounded by design: points are counted as they are read and
//     the parse stops at the first point over the limit (ETOOLARGE), so a
//     body with fifteen million values costs what one with the limit does,
//     not a tree of fifteen million values.
//   - Numbers are read by strconv.ParseFloat and ParseInt on their token:
//     correctly rounded, so a value reads back as exactly the double that
//     was sent. (fastjson's float reader, used before, misread about 2 % of
//     doubles written with 17 digits in exponent form by one ULP.)
//   - Errors name the element at fault: points[3].value, series[0].steps[7].
//
// The body is one of, or both:
//
//	{"points": [{"key": "loss", "step": 1, "value": 0.5, "timestamp": 1700000000000}, ...],
//	 "series": [{"key": "loss", "steps": [...], "values": [...], "timestamps": [...]}],
//	 "batch_id": "..."}
//
// step defaults to 0 and timestamp (Unix ms) to the time of the request;
// a value is a JSON number or a string: "NaN", "Infinity", "-Infinity"
// (or a number written as a string). A number too large for a float64
// (1e999) is refused, not stored as infinity. Fields are matched exactly;
// an unknown field or one given twice is refused. An optional "batch_id"
// makes the batch idempotent: sent again, it is not stored again.

// Parse reads a metric batch of at most trainyard.MaxPointsPerBatch
// points: its series (in the order their keys first appear), the number
// of points, and its batch_id. now (Unix ms) is the timestamp of points
// without one. Errors are EINVALID and name the element at fault, such as
// points[3].value, or ETOOLARGE past the limit.
func Parse(body []byte, now int64) ([]trainyard.SeriesPoints, int, string, error) {
	return ParseLimit(body, now, trainyard.MaxPointsPerBatch)
}

// ParseLimit is Parse with at most limit points: the (limit+1)th point
// stops the parse with ETOOLARGE. Steps and timestamps arrays, which may
// come before their values, are bounded by 2*limit elements together.
func ParseLimit(body []byte, now int64, limit int) ([]trainyard.SeriesPoints, int, string, error) {
	p := metricParser{scanner: scanner{b: body}, now: now, limit: limit}
	id, err := p.batch()
	if err != nil {
		return nil, 0, "", err
	}
	return p.out, p.n, id, nil
}

type metricParser struct {
	scanner
	now   int64
	limit int // most points (values) in a batch
	n     int // points read
	elems int // steps and timestamps read, at most 2*limit
	out   []trainyard.SeriesPoints
	index map[string]int // key → position in out, for the row form
}

func (p *metricParser) batch() (string, error) {
	p.ws()
	if p.i == len(p.b) {
		return "", trainyard.Errorf(trainyard.EINVALID, "body is empty: send a JSON object with \"points\" or \"series\"")
	}
	if !p.byte('{') {
		if p.kind() == "" {
			return "", p.syntax("'{'")
		}
		return "", trainyard.Errorf(trainyard.EINVALID, "body must be a JSON object with \"points\" or \"series\", not %s", p.kind())
	}
	var batchID string
	seen := map[string]bool{}
	if !p.byte('}') {
		for {
			k, err := p.member("body")
			if err != nil {
				return "", err
			}
			if seen[k] {
				return "", trainyard.FieldError(k, "appears twice")
			}
			seen[k] = true
			switch k {
			case "points":
				err = p.points()
			case "series":
				err = p.series()
			case "batch_id":
				if p.peek() != '"' {
					return "", p.typeError("batch_id", "must be a string")
				}
				var s string
				if s, err = p.string(); err == nil {
					batchID = s
				}
			default:
				return "", trainyard.FieldError(k, "unknown field %q (want \"points\", \"series\" or \"batch_id\")", k)
			}
			if err != nil {
				return "", err
			}
			if p.byte(',') {
				continue
			}
			if p.byte('}') {
				break
			}
			return "", p.syntax("',' or '}'")
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return "", trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON: data after the object at byte %d", p.i)
	}
	return batchID, nil
}

// member reads a member's name and the colon after it.
func (p *metricParser) member(where string) (string, error) {
	if p.peek() != '"' {
		return "", p.syntax("a field name in " + where)
	}
	k, err := p.string()
	if err != nil {
		return "", err
	}
	if !p.byte(':') {
		return "", p.syntax("':'")
	}
	return k, nil
}

func (p *metricParser) tooMany(field string) error {
	return &trainyard.Error{Code: trainyard.ETOOLARGE, Field: field, Message: fmt.Sprintf(
		"%s: the batch has more than %d points; send smaller batches", field, p.limit)}
}

func (p *metricParser) points() error {
	if !p.byte('[') {
		return p.typeError("points", "must be an array of {key, value, step, timestamp}")
	}
	if p.byte(']') {
		return nil
	}
	if p.index == nil {
		p.index = map[string]int{}
	}
	for i := 0; ; i++ {
		if p.n >= p.limit {
			return p.tooMany(fmt.Sprintf("points[%d]", i))
		}
		if !p.byte('{') {
			return p.typeError(fmt.Sprintf("points[%d]", i), "must be an object")
		}
		var (
			key            []byte
			hasKey, hasV   bool
			hasS, hasT     bool
			step           int64
			ts             = p.now
			val            float64
			escaped, ok    bool
			field, errWhat string
		)
		if !p.byte('}') {
			for {
				var k []byte
				if k, escaped, ok = p.str(); !ok {
					return p.syntax("a field name in points[" + strconv.Itoa(i) + "]")
				}
				if escaped { // legal JSON, if unusual
					s, err := unquote(k)
					if err != nil {
						return p.syntaxAt(fmt.Sprintf("points[%d]", i), err)
					}
					k = []byte(s)
				}
				if !p.byte(':') {
					return p.syntax("':'")
				}
				switch string(k) {
				case "key":
					if hasKey {
						return trainyard.FieldError(fmt.Sprintf("points[%d].key", i), "appears twice")
					}
					hasKey = true
					if key, escaped, ok = p.str(); !ok {
						return p.typeError(fmt.Sprintf("points[%d].key", i), "must be a string")
					}
					if escaped {
						s, err := unquote(key)
						if err != nil {
							return p.syntaxAt(fmt.Sprintf("points[%d].key", i), err)
						}
						key = []byte(s)
					}
				case "value":
					if hasV {
						return trainyard.FieldError(fmt.Sprintf("points[%d].value", i), "appears twice")
					}
					hasV = true
					if val, ok = p.float(); !ok {
						return p.floatError(fmt.Sprintf("points[%d].value", i))
					}
				case "step":
					if hasS {
						return trainyard.FieldError(fmt.Sprintf("points[%d].step", i), "appears twice")
					}
					hasS = true
					if step, ok = p.integer(); !ok {
						return p.intError(fmt.Sprintf("points[%d].step", i))
					}
				case "timestamp":
					if hasT {
						return trainyard.FieldError(fmt.Sprintf("points[%d].timestamp", i), "appears twice")
					}
					hasT = true
					if ts, ok = p.integer(); !ok {
						return p.intError(fmt.Sprintf("points[%d].timestamp", i))
					}
				default:
					field, errWhat = string(k), "unknown field (want key, value, step, timestamp)"
				}
				if errWhat != "" {
					return trainyard.FieldError(fmt.Sprintf("points[%d].%s", i, field), "%s", errWhat)
				}
				if p.byte(',') {
					continue
				}
				if p.byte('}') {
					break
				}
				return p.syntax("',' or '}'")
			}
		}
		if !hasKey || !hasV {
			return trainyard.FieldError(fmt.Sprintf("points[%d]", i), "needs \"key\" and \"value\"")
		}
		pos, found := p.index[string(key)]
		if !found {
			pos = len(p.out)
			p.index[string(key)] = pos
			p.out = append(p.out, trainyard.SeriesPoints{Key: string(key)})
		}
		sp := &p.out[pos]
		sp.Steps = append(sp.Steps, step)
		sp.Values = append(sp.Values, val)
		sp.Times = append(sp.Times, ts)
		p.n++
		if p.byte(',') {
			continue
		}
		if p.byte(']') {
			return nil
		}
		return p.syntax("',' or ']'")
	}
}

func (p *metricParser) series() error {
	if !p.byte('[') {
		return p.typeError("series", "must be an array of {key, steps, values, timestamps}")
	}
	if p.byte(']') {
		return nil
	}
	for i := 0; ; i++ {
		at := fmt.Sprintf("series[%d]", i)
		if !p.byte('{') {
			return p.typeError(at, "must be an object")
		}
		var (
			sp                   trainyard.SeriesPoints
			hasK, hasS, hasV, hT bool
		)
		if !p.byte('}') {
			for {
				k, err := p.member(at)
				if err != nil {
					return err
				}
				field := at + "." + k
				var dup bool
				switch k {
				case "key":
					dup, hasK = hasK, true
					if dup {
						break
					}
					if p.peek() != '"' {
						return p.typeError(field, "must be a string")
					}
					if sp.Key, err = p.string(); err != nil {
						return err
					}
				case "steps":
					dup, hasS = hasS, true
					if !dup {
						if sp.Steps, err = p.ints(field); err != nil {
							return err
						}
					}
				case "timestamps":
					dup, hT = hT, true
					if !dup {
						if sp.Times, err = p.ints(field); err != nil {
							return err
						}
					}
				case "values":
					dup, hasV = hasV, true
					if !dup {
						if sp.Values, err = p.floats(field); err != nil {
							return err
						}
					}
				default:
					return trainyard.FieldError(field, "unknown field (want key, steps, values, timestamps)")
				}
				if dup {
					return trainyard.FieldError(field, "appears twice")
				}
				if p.byte(',') {
					continue
				}
				if p.byte('}') {
					break
				}
				return p.syntax("',' or '}'")
			}
		}
		if sp.Key == "" {
			return trainyard.FieldError(at+".key", "is missing or empty")
		}
		if sp.Values == nil {
			sp.Values = []float64{}
		}
		if !hasS {
			sp.Steps = make([]int64, len(sp.Values)) // step 0, as MLflow does
		}
		if !hT {
			sp.Times = make([]int64, len(sp.Values))
			for j := range sp.Times {
				sp.Times[j] = p.now
			}
		}
		if len(sp.Steps) != len(sp.Values) || len(sp.Times) != len(sp.Values) {
			return trainyard.FieldError(at, "has %d steps, %d values and %d timestamps; they must be equal", len(sp.Steps), len(sp.Values), len(sp.Times))
		}
		p.out = append(p.out, sp)
		if p.byte(',') {
			continue
		}
		if p.byte(']') {
			return nil
		}
		return p.syntax("',' or ']'")
	}
}

func (p *metricParser) floats(field string) ([]float64, error) {
	if !p.byte('[') {
		return nil, p.typeError(field, "must be an array of numbers")
	}
	out := []float64{}
	if p.byte(']') {
		return out, nil
	}
	for j := 0; ; j++ {
		if p.n >= p.limit {
			return nil, p.tooMany(fmt.Sprintf("%s[%d]", field, j))
		}
		v, ok := p.float()
		if !ok {
			return nil, p.floatError(fmt.Sprintf("%s[%d]", field, j))
		}
		out = append(out, v)
		p.n++
		if p.byte(',') {
			continue
		}
		if p.byte(']') {
			return out, nil
		}
		return nil, p.syntax("',' or ']'")
	}
}

func (p *metricParser) ints(field string) ([]int64, error) {
	if !p.byte('[') {
		return nil, p.typeError(field, "must be an array of integers")
	}
	out := []int64{}
	if p.byte(']') {
		return out, nil
	}
	for j := 0; ; j++ {
		if p.elems >= 2*p.limit {
			return nil, p.tooMany(fmt.Sprintf("%s[%d]", field, j))
		}
		v, ok := p.integer()
		if !ok {
			return nil, p.intError(fmt.Sprintf("%s[%d]", field, j))
		}
		out = append(out, v)
		p.elems++
		if p.byte(',') {
			continue
		}
		if p.byte(']') {
			return out, nil
		}
		return nil, p.syntax("',' or ']'")
	}
}

// Errors. They are built only on the way out, so the loops above stay lean.

// syntax reports that the body is not JSON where the parser stands.
func (p *metricParser) syntax(want string) error {
	p.ws()
	if p.i >= len(p.b) {
		return trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON: it ends too early (want %s)", want)
	}
	return trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON at byte %d: want %s, found %q", p.i, want, p.b[p.i])
}

func (p *metricParser) syntaxAt(field string, err error) error {
	return trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON in %s near byte %d: %v", field, p.i, err)
}

// typeError reports a value of the wrong type at field, or a syntax error
// when what follows is no JSON value at all.
func (p *metricParser) typeError(field, msg string) error {
	k := p.kind()
	if k == "" {
		return p.syntax("a value for " + field)
	}
	return trainyard.FieldError(field, "%s, not %s", msg, k)
}

func (p *metricParser) floatError(field string) error {
	p.ws()
	switch k := p.kind(); k {
	case "a string":
		s, err := p.string()
		if err != nil {
			return err
		}
		return trainyard.FieldError(field, "%q is not a number (use \"NaN\", \"Infinity\" or \"-Infinity\" for those)", s)
	case "a number":
		tok, _, ok := p.number()
		if !ok {
			return p.syntax("a number for " + field)
		}
		return trainyard.FieldError(field, "%s is beyond the range of a 64-bit float (send \"Infinity\" or \"-Infinity\" for those)", tok)
	case "":
		return p.syntax("a number for " + field)
	default:
		return trainyard.FieldError(field, "must be a number, not %s", k)
	}
}

func (p *metricParser) intError(field string) error {
	p.ws()
	switch k := p.kind(); k {
	case "a number":
		tok, integer, ok := p.number()
		switch {
		case !ok:
			return p.syntax("an integer for " + field)
		case !integer:
			return trainyard.FieldError(field, "%s is not an integer", tok)
		}
		return trainyard.FieldError(field, "%s is beyond the range of a 64-bit integer", tok)
	case "":
		return p.syntax("an integer for " + field)
	default:
		return trainyard.FieldError(field, "must be an integer, not %s", k)
	}
}

// kind names the JSON type of the value that starts where the parser
// stands, or "" when no value starts there.
func (s *scanner) kind() string {
	s.ws()
	if s.i >= len(s.b) {
		return ""
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' && hasPrefix(s.b[s.i:], "true"), c == 'f' && hasPrefix(s.b[s.i:], "false"):
		return "a boolean"
	case c == 'n' && hasPrefix(s.b[s.i:], "null"):
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

// The scanner: JSON tokens over a byte slice.

type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c after whitespace, if it is there.
func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str reads a string token and returns its contents as they stand in the
// body (escaped reports a backslash in them: unquote them). On failure it
// consumes nothing.
func (s *scanner) str() (raw []byte, escaped, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	for i := s.i; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], escaped, true
		case c == '\\':
			escaped = true
			i++
		case c < 0x20:
			s.i = start - 1
			return nil, false, false
		}
	}
	s.i = start - 1
	return nil, false, false
}

// string reads a string token and unquotes it.
func (s *scanner) string() (string, error) {
	raw, escaped, ok := s.str()
	if !ok {
		if s.peek() == '"' {
			return "", trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON: the string at byte %d has a control character or no end", s.i)
		}
		return "", trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON at byte %d: want a string", s.i)
	}
	if !escaped {
		return string(raw), nil
	}
	v, err := unquote(raw)
	if err != nil {
		return "", trainyard.Errorf(trainyard.EINVALID, "body is not valid JSON near byte %d: %v", s.i, err)
	}
	return v, nil
}

// unquote decodes the escapes of a string's contents, as JSON defines them.
func unquote(raw []byte) (string, error) {
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	var v string
	err := json.Unmarshal(q, &v)
	return v, err
}

// number returns the token of a JSON number, checked against JSON's
// grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?. On failure it
// consumes nothing.
func (s *scanner) number() (tok []byte, integer bool, ok bool) {
	s.ws()
	start, b := s.i, s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false, false
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, false
		}
	}
	s.i = i
	return b[start:i], integer, true
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// integer reads a JSON integer within int64; on failure it consumes
// nothing.
func (s *scanner) integer() (int64, bool) {
	start := s.i
	tok, integer, ok := s.number()
	if !ok || !integer {
		s.i = start
		return 0, false
	}
	if len(tok) <= 18 { // no overflow: sum the digits here, the common case
		neg, d := tok[0] == '-', tok
		if neg {
			d = d[1:]
		}
		var v int64
		for _, c := range d {
			v = v*10 + int64(c-'0')
		}
		if neg {
			v = -v
		}
		return v, true
	}
	v, err := strconv.ParseInt(unsafeString(tok), 10, 64)
	if err != nil {
		s.i = start
		return 0, false
	}
	return v, true
}

// float reads a value: a JSON number, correctly rounded, or a string
// that trainyard.ParseSpecialFloat reads ("NaN", "Infinity", ...). A
// number beyond float64's range fails (one too small for a double rounds to
// the nearest, zero, as ParseFloat does). On failure it consumes nothing.
func (s *scanner) float() (float64, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '"' {
		raw, escaped, ok := s.str()
		if ok && !escaped {
			if v, ok := trainyard.ParseSpecialFloat(unsafeString(raw)); ok {
				return v, true
			}
		}
		if ok && escaped {
			if u, err := unquote(raw); err == nil {
				if v, ok := trainyard.ParseSpecialFloat(u); ok {
					return v, true
				}
			}
		}
		s.i = start
		return 0, false
	}
	tok, _, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(unsafeString(tok), 64)
	if err != nil { // beyond float64's range
		s.i = start
		return 0, false
	}
	return v, true
}
