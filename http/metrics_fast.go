package http

import (
	"strconv"
	"unsafe"

	"github.com/trainyard/trainyard"
)

// parseRowsFast reads the common body {"points": [{"key", "value", "step",
// "timestamp"}...], "batch_id": "..."} in one pass, without building a
// tree: the row form costs a JSON object per point, and this is where a
// million points a second are parsed. Anything it does not expect (a
// "series" field, an escape in a string, an unusual number, an error of
// any kind) makes it answer ok=false, and parseMetrics then parses the body
// with fastjson, which is also what names the field at fault. A fuzz test
// checks that whenever it answers, it answers what fastjson's path does.
func parseRowsFast(body []byte, now int64) (out []trainyard.SeriesPoints, n int, batchID string, ok bool) {
	s := scanner{b: body}
	if !s.byte('{') {
		return nil, 0, "", false
	}
	seen := 0
	index := map[string]int{}
	for first := true; ; first = false {
		if s.byte('}') {
			break
		}
		if !first && !s.byte(',') {
			return nil, 0, "", false
		}
		k, good := s.str()
		if !good || !s.byte(':') {
			return nil, 0, "", false
		}
		switch string(k) {
		case "points":
			if seen&1 != 0 || !s.points(now, &out, index, &n) {
				return nil, 0, "", false
			}
			seen |= 1
		case "batch_id":
			v, good := s.str()
			if seen&2 != 0 || !good {
				return nil, 0, "", false
			}
			batchID, seen = string(v), seen|2
		default:
			return nil, 0, "", false
		}
	}
	s.ws()
	return out, n, batchID, s.i == len(s.b)
}

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

// str reads a string without escapes or control characters.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		s.i++
	}
	return nil, false
}

// number returns the token of a JSON number, checked against JSON's
// grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
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

func (s *scanner) integer() (int64, bool) {
	tok, integer, ok := s.number()
	if !ok || !integer {
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
	return v, err == nil
}

func (s *scanner) value() (float64, bool) {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '"' {
		v, ok := s.str()
		if !ok {
			return 0, false
		}
		return trainyard.ParseSpecialFloat(string(v))
	}
	tok, _, ok := s.number()
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(unsafeString(tok), 64)
	return v, err == nil
}

func (s *scanner) points(now int64, out *[]trainyard.SeriesPoints, index map[string]int, n *int) bool {
	if !s.byte('[') {
		return false
	}
	if s.byte(']') {
		return true
	}
	for {
		if !s.byte('{') {
			return false
		}
		var (
			key          []byte
			hasKey, hasV bool
			step         int64
			ts           = now
			val          float64
		)
		for first := true; ; first = false {
			if s.byte('}') {
				break
			}
			if !first && !s.byte(',') {
				return false
			}
			k, ok := s.str()
			if !ok || !s.byte(':') {
				return false
			}
			switch string(k) {
			case "key":
				if key, ok = s.str(); !ok {
					return false
				}
				hasKey = true
			case "value":
				if val, ok = s.value(); !ok {
					return false
				}
				hasV = true
			case "step":
				if step, ok = s.integer(); !ok {
					return false
				}
			case "timestamp":
				if ts, ok = s.integer(); !ok {
					return false
				}
			default:
				return false
			}
		}
		if !hasKey || !hasV {
			return false
		}
		pos, found := index[string(key)]
		if !found {
			pos = len(*out)
			index[string(key)] = pos
			*out = append(*out, trainyard.SeriesPoints{Key: string(key)})
		}
		sp := &(*out)[pos]
		sp.Steps = append(sp.Steps, step)
		sp.Values = append(sp.Values, val)
		sp.Times = append(sp.Times, ts)
		*n++
		if s.byte(']') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}
