package mlflowapi

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads JSON from a byte slice in one pass, without building a
// tree: log-batch bodies are read with it so that what a request holds is
// counted as it is read, and a request over the limits stops there. Values
// the caller does not want are skipped without allocating. Numbers are
// returned as their text, for strconv's correctly rounded parsers.
type scanner struct {
	b     []byte
	i     int
	depth int
}

var errSyntax = errors.New("invalid JSON")

// maxDepth bounds nesting in skipped values.
const maxDepth = 512

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

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return errSyntax
	}
	s.i++
	return nil
}

// str reads a string.
func (s *scanner) str() (string, error) {
	if s.peek() != '"' {
		return "", errSyntax
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			out := string(s.b[start:s.i])
			s.i++
			return out, nil
		}
		if c == '\\' {
			return s.strSlow(start)
		}
		if c < 0x20 {
			return "", errSyntax
		}
		s.i++
	}
	return "", errSyntax
}

func (s *scanner) strSlow(start int) (string, error) {
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if !utf8.Valid(buf) {
				return string([]rune(string(buf))), nil
			}
			return string(buf), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", errSyntax
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", errSyntax
			}
			if utf16.IsSurrogate(r) {
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					r2, ok := s.hex4()
					if !ok {
						return "", errSyntax
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(n), true
}

// numEnd passes over a number, returning where it ends.
func (s *scanner) numEnd() (int, error) {
	_, err := s.numText(false)
	return s.i, err
}

// num reads a number's text. Python's json also reads the bare words
// NaN, Infinity and -Infinity as numbers, and so does num.
func (s *scanner) num() (string, error) { return s.numText(true) }

func (s *scanner) numText(keep bool) (string, error) {
	s.ws()
	start := s.i
	for _, w := range []string{"NaN", "Infinity", "-Infinity"} {
		if s.i+len(w) <= len(s.b) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return w, nil
		}
	}
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == digits || (s.b[digits] == '0' && s.i-digits > 1) {
		return "", errSyntax
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		d := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return "", errSyntax
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		d := s.i
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
		}
		if s.i == d {
			return "", errSyntax
		}
	}
	if !keep {
		return "", nil
	}
	return string(s.b[start:s.i]), nil
}

// numBytes reads a number's text as a slice of the body (no copy).
func (s *scanner) numBytes() ([]byte, error) {
	s.ws()
	start := s.i
	_, err := s.numText(false)
	return s.b[start:s.i], err
}

// word reads true, false or null.
func (s *scanner) word() (string, error) {
	s.ws()
	for _, w := range []string{"true", "false", "null"} {
		if s.i+len(w) <= len(s.b) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return w, nil
		}
	}
	return "", errSyntax
}

// value reads any value as json.Unmarshal with UseNumber would, for the
// fields a caller keeps whole (bounded by the body's size).
func (s *scanner) value() (any, error) {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{':
		m := map[string]any{}
		err := s.object(func(k string) error {
			v, err := s.value()
			m[k] = v
			return err
		})
		return m, err
	case c == '[':
		var l []any
		err := s.array(func(int) error {
			v, err := s.value()
			l = append(l, v)
			return err
		})
		if l == nil {
			l = []any{}
		}
		return l, err
	case c == 't' || c == 'f' || c == 'n':
		w, err := s.word()
		switch w {
		case "true":
			return true, err
		case "false":
			return false, err
		}
		return nil, err
	default:
		n, err := s.num()
		return jsonNumber(n), err
	}
}

// skip passes over a value without allocating.
func (s *scanner) skip() error {
	switch c := s.peek(); {
	case c == '"':
		return s.skipStr()
	case c == '{':
		if err := s.expect('{'); err != nil {
			return err
		}
		if s.depth++; s.depth > maxDepth {
			return errSyntax
		}
		defer func() { s.depth-- }()
		if s.peek() == '}' {
			s.i++
			return nil
		}
		for {
			if err := s.skipStr(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
			if err := s.skip(); err != nil {
				return err
			}
			switch s.peek() {
			case ',':
				s.i++
			case '}':
				s.i++
				return nil
			default:
				return errSyntax
			}
		}
	case c == '[':
		return s.array(func(int) error { return s.skip() })
	case c == 't' || c == 'f' || c == 'n':
		_, err := s.word()
		return err
	default:
		start := s.i
		_, err := s.numEnd()
		_ = start
		return err
	}
}

// skipStr passes over a string.
func (s *scanner) skipStr() error {
	if s.peek() != '"' {
		return errSyntax
	}
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			s.i++
		case c < 0x20:
			return errSyntax
		}
	}
	return errSyntax
}

// object reads an object, calling fn with each key with the scanner at its
// value; fn must consume the value.
func (s *scanner) object(fn func(key string) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.depth++; s.depth > maxDepth {
		return errSyntax
	}
	defer func() { s.depth-- }()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// objectKeys is object with each key as bytes: a slice of the body when
// the key has no escapes, so that matching known keys allocates nothing.
func (s *scanner) objectKeys(fn func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.depth++; s.depth > maxDepth {
		return errSyntax
	}
	defer func() { s.depth-- }()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		k, err := s.keyBytes()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// keyBytes reads a string as bytes, without a copy when it has no escapes.
func (s *scanner) keyBytes() ([]byte, error) {
	if s.peek() != '"' {
		return nil, errSyntax
	}
	start := s.i + 1
	for i := start; i < len(s.b); i++ {
		switch c := s.b[i]; {
		case c == '"':
			s.i = i + 1
			return s.b[start:i], nil
		case c == '\\' || c < 0x20:
			str, err := s.str()
			return []byte(str), err
		}
	}
	return nil, errSyntax
}

// array reads an array, calling fn with each element's index.
func (s *scanner) array(fn func(i int) error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.depth++; s.depth > maxDepth {
		return errSyntax
	}
	defer func() { s.depth-- }()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// end checks that nothing but space follows.
func (s *scanner) end() error {
	if s.peek() != 0 {
		return errSyntax
	}
	return nil
}
