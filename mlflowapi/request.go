package mlflowapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
)

// MLflow's server reads a request in three stages (handlers.py,
// _get_request_message), and its error messages depend on which stage
// refused it, so trainyard reads requests the same way:
//
//  1. the fields: a GET's query (a repeated field as a list, a bool as
//     "true"/"false"), or else the JSON body (POST and PUT need Content-Type
//     application/json; a body that is not JSON reads as {});
//  2. protobuf's ParseDict of the fields into the request message, which
//     may fail on a value of the wrong type (unknown fields and unknown enum
//     names are ignored);
//  3. the handler's schema: required fields, and — only when ParseDict
//     failed — the type of each field the schema names.
//
// pmsg describes a request message (from MLflow's .proto files) for stages
// 1 and 2; a handler lists its schema's checks for stage 3.

type kind int

const (
	kStr kind = iota
	kI64
	kI32
	kF64
	kBool
	kEnum
	kMsg
)

// pfield is a field of a protobuf message.
type pfield struct {
	kind kind
	rep  bool
	enum []string // kEnum: the value names, by number from 0 (or from first)
	base int      // kEnum: the number of enum[0]
	sub  pmsg     // kMsg
}

// pmsg is a protobuf message: its fields by name.
type pmsg map[string]pfield

var (
	fStr  = pfield{kind: kStr}
	fI64  = pfield{kind: kI64}
	fI32  = pfield{kind: kI32}
	fF64  = pfield{kind: kF64}
	fBool = pfield{kind: kBool}
)

func fRep(f pfield) pfield  { f.rep = true; return f }
func fMsgOf(m pmsg) pfield  { return pfield{kind: kMsg, sub: m} }
func fRepMsg(m pmsg) pfield { return pfield{kind: kMsg, rep: true, sub: m} }
func fEnum(base int, names ...string) pfield {
	return pfield{kind: kEnum, enum: names, base: base}
}

var pKV = pmsg{"key": fStr, "value": fStr}

// mlreq is a request's fields as MLflow's handlers read them.
type mlreq struct {
	fields  map[string]any // json.Number for numbers
	protoOK bool           // stage 2 succeeded
	notJSON bool           // a body was sent that is not JSON (read as {})
}

// read does stages 1 and 2 of reading an MLflow request for message m.
func (s *Server) read(w http.ResponseWriter, r *http.Request, m pmsg) (*mlreq, error) {
	fields := map[string]any{}
	if r.Method == http.MethodGet && r.URL.RawQuery != "" && len(r.URL.Query()) > 0 {
		q := r.URL.Query()
		for name, f := range m {
			vs, ok := q[name]
			if !ok {
				continue
			}
			if f.rep {
				list := make([]any, len(vs))
				for i, v := range vs {
					list[i] = v
				}
				fields[name] = list
				continue
			}
			v := vs[0]
			if f.kind == kBool {
				switch strings.ToLower(v) {
				case "true":
					fields[name] = true
				case "false":
					fields[name] = false
				default:
					return nil, trainyard.Errorf(trainyard.EINVALID, "Invalid boolean value: %s, must be 'true' or 'false'.", v)
				}
				continue
			}
			fields[name] = v
		}
	} else {
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			ct := r.Header.Get("Content-Type")
			if ct == "" {
				return nil, trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type header is missing.")
			}
			if strings.TrimSpace(strings.Split(ct, ";")[0]) != "application/json" {
				return nil, trainyard.Errorf(trainyard.EINVALID, "Bad Request. Content-Type must be one of ['application/json'].")
			}
		}
		body, release, err := s.readBody(w, r, s.cfg.MaxBodyBytes, costJSON)
		if err != nil {
			return nil, err
		}
		keep(r, release) // the decoded fields live as long as the handler
		fields = decodeBody(body)
		if len(bytes.TrimSpace(body)) > 0 {
			if _, ok := decodeJSON(body); !ok {
				return &mlreq{fields: fields, protoOK: parseOK(fields, m), notJSON: true}, nil
			}
		}
	}
	return &mlreq{fields: fields, protoOK: parseOK(fields, m)}, nil
}

// decodeBody is Flask's get_json(force=True, silent=True) as MLflow uses
// it: a body that is not a JSON object reads as {}, and a JSON string
// holding an object (older clients encoded twice) is decoded again.
func decodeBody(body []byte) map[string]any {
	v, ok := decodeJSON(body)
	if !ok {
		return map[string]any{}
	}
	if s, isStr := v.(string); isStr {
		if v, ok = decodeJSON([]byte(s)); !ok {
			return map[string]any{}
		}
	}
	if m, isMap := v.(map[string]any); isMap {
		return m
	}
	return map[string]any{}
}

func decodeJSON(b []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// parseOK is stage 2: whether protobuf's ParseDict accepts the fields for
// message m (ignoring unknown fields and unknown enum names).
func parseOK(fields map[string]any, m pmsg) bool {
	for name, v := range fields {
		f, ok := m[name]
		if !ok {
			if f, ok = m[snake(name)]; !ok { // the JSON name (camelCase) of a field
				continue
			}
		}
		if v == nil {
			continue
		}
		if f.rep {
			list, isList := v.([]any)
			if !isList {
				return false
			}
			for _, e := range list {
				if e == nil || !scalarOK(e, f) {
					return false
				}
			}
			continue
		}
		if !scalarOK(v, f) {
			return false
		}
	}
	return true
}

func scalarOK(v any, f pfield) bool {
	switch f.kind {
	case kStr:
		_, ok := v.(string)
		return ok
	case kI64:
		_, ok := pyInt(v, 64)
		return ok
	case kI32:
		_, ok := pyInt(v, 32)
		return ok
	case kF64:
		_, ok := pyFloatOf(v)
		return ok
	case kBool:
		_, ok := v.(bool)
		return ok
	case kEnum:
		if s, ok := v.(string); ok {
			for _, n := range f.enum {
				if n == s {
					return true
				}
			}
			if _, err := strconv.Atoi(strings.TrimSpace(s)); err != nil {
				return true // an unknown name is ignored
			}
		}
		n, ok := pyInt(v, 32)
		return ok && n >= int64(f.base) && n < int64(f.base+len(f.enum))
	case kMsg:
		sub, ok := v.(map[string]any)
		return ok && parseOK(sub, f.sub)
	}
	return false
}

// pyInt is protobuf's _ConvertInteger on a JSON value: an integer, an
// integral float, or a string of either, within the field's range.
func pyInt(v any, bits int) (int64, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		if strings.Contains(x, " ") {
			return 0, false
		}
		s = strings.TrimSpace(x)
	default:
		return 0, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil { // the common case, without math/big
		if bits == 32 && (i < math.MinInt32 || i > math.MaxInt32) {
			return 0, false
		}
		return i, true
	}
	n, ok := new(big.Int).SetString(strings.TrimPrefix(s, "+"), 10)
	if !ok {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
			return 0, false
		}
		n, _ = new(big.Float).SetFloat64(f).Int(nil)
	}
	if !n.IsInt64() {
		return 0, false
	}
	i := n.Int64()
	if bits == 32 && (i < math.MinInt32 || i > math.MaxInt32) {
		return 0, false
	}
	return i, true
}

// pyFloatOf is protobuf's _ConvertFloat: a finite JSON number, or a string
// Python's float() reads, or "NaN", "Infinity", "-Infinity" ("nan" is
// refused by name).
func pyFloatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, false // ParseDict refuses a bare NaN or ±Infinity, and a number out of range
		}
		return f, true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case string:
		if x == "nan" {
			return 0, false
		}
		return pyFloatString(x)
	}
	return 0, false
}

// pyFloatString is Python's float() of a string: decimal or exponent
// notation, "nan", "inf", "infinity" in any case, with surrounding space.
func pyFloatString(s string) (float64, bool) {
	t := strings.ToLower(strings.TrimSpace(s))
	sign := 1.0
	switch {
	case strings.HasPrefix(t, "-"):
		sign, t = -1, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	switch t {
	case "nan":
		return math.NaN(), true
	case "inf", "infinity":
		return math.Inf(int(sign)), true
	case "":
		return 0, false
	}
	if strings.ContainsAny(t, "xpn_") || strings.Contains(t, "i") { // no hex, no Go-only forms
		return 0, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return sign * f, true // Python overflows to ±inf, underflows to 0
		}
		return 0, false
	}
	return sign * f, true
}

// snake turns a protobuf JSON name (experimentId) into the field name.
func jsonNumber(s string) json.Number { return json.Number(s) }

func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// get returns a field's raw value, by name or by its JSON name.
func (q *mlreq) get(name string) (any, bool) {
	if v, ok := q.fields[name]; ok {
		return v, true
	}
	for k, v := range q.fields {
		if snake(k) == name && k != name {
			return v, true
		}
	}
	return nil, false
}

// has reports whether a field was sent with a value (protobuf's HasField).
func (q *mlreq) has(name string) bool {
	v, ok := q.get(name)
	return ok && v != nil
}

// str is a string field as the parsed message holds it ("" if unset or of
// another type).
func (q *mlreq) str(name string) string {
	v, _ := q.get(name)
	s, _ := v.(string)
	return s
}

// i64 is an integer field as the parsed message holds it (0 if unset).
func (q *mlreq) i64(name string) int64 {
	v, _ := q.get(name)
	n, _ := pyInt(v, 64)
	return n
}

// f64 is a double field as the parsed message holds it.
func (q *mlreq) f64(name string) float64 {
	v, _ := q.get(name)
	f, _ := pyFloatOf(v)
	return f
}

// boolean is a bool field.
func (q *mlreq) boolean(name string) bool {
	v, _ := q.get(name)
	b, _ := v.(bool)
	return b
}

// strs is a repeated string field.
func (q *mlreq) strs(name string) []string {
	v, _ := q.get(name)
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// list is a repeated message field.
func (q *mlreq) list(name string) []map[string]any {
	v, _ := q.get(name)
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// kvs reads a repeated {key, value} field.
func (q *mlreq) kvs(name string) []kv {
	var out []kv
	for _, m := range q.list(name) {
		k, _ := m["key"].(string)
		v, _ := m["value"].(string)
		out = append(out, kv{k, v})
	}
	return out
}

type kv struct{ Key, Value string }

// enum is an enum field's value name, or def when unset or unknown.
func (q *mlreq) enum(name string, f pfield, def string) string {
	v, ok := q.get(name)
	if !ok || v == nil {
		return def
	}
	if s, isStr := v.(string); isStr {
		for _, n := range f.enum {
			if n == s {
				return n
			}
		}
	}
	if n, ok := pyInt(v, 32); ok && n >= int64(f.base) && n < int64(f.base+len(f.enum)) {
		return f.enum[n-int64(f.base)]
	}
	return def
}

// A check is one of MLflow's schema assertions (_assert_required,
// _assert_string, ...) on a field's raw value. It returns the failure's
// message, or "" to pass; typeCheck marks the ones MLflow runs only when
// ParseDict failed.
type check struct {
	typeCheck bool
	required  bool
	fn        func(name string, v any, present bool) string
}

var (
	required = check{required: true, fn: func(name string, v any, present bool) string {
		if !present || v == nil || v == "" {
			return missingValue(name)
		}
		return ""
	}}
	isString = typeCheckOf(func(v any) bool { _, ok := v.(string); return ok })
	intLike  = typeCheckOf(func(v any) bool {
		switch x := v.(type) {
		case json.Number:
			return true // Python's int() truncates a float
		case bool:
			return true
		case string:
			_, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				_, ok := new(big.Int).SetString(strings.TrimSpace(x), 10)
				return ok
			}
			return true
		}
		return false
	})
	floatLike = typeCheckOf(func(v any) bool {
		switch x := v.(type) {
		case json.Number:
			return true
		case string:
			_, ok := pyFloatString(x)
			return ok
		}
		return false
	})
	isArray      = typeCheckOf(func(v any) bool { _, ok := v.([]any); return ok })
	isBool       = typeCheckOf(func(v any) bool { _, ok := v.(bool); return ok })
	itemsStrings = typeCheckOf(func(v any) bool {
		list, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range list {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	})
)

func typeCheckOf(ok func(v any) bool) check {
	return check{typeCheck: true, fn: func(name string, v any, present bool) string {
		if ok(v) {
			return ""
		}
		return invalidValue(name, pyValue(v), fmt.Sprintf(" Hint: Value was of type '%s'.", pyType(v)))
	}}
}

// custom is a check MLflow runs always, with its own message.
func custom(fn func(v any) string) check {
	return check{fn: func(name string, v any, present bool) string {
		if !present {
			return ""
		}
		return fn(v)
	}}
}

// rule is one field of a schema with its checks, in MLflow's order.
type rule struct {
	field  string
	checks []check
}

func field(name string, checks ...check) rule { return rule{name, checks} }

// validate is stage 3: the schema's checks, in order; a field is checked
// when it was sent or when it is required. run_id falls back to run_uuid.
func (q *mlreq) validate(rules ...rule) error {
	for _, r := range rules {
		v, present := q.get(r.field)
		if r.field == "run_id" && v == nil {
			if u, ok := q.get("run_uuid"); ok {
				v, present = u, true
			}
		}
		isRequired := false
		for _, c := range r.checks {
			isRequired = isRequired || c.required
		}
		if !present && !isRequired {
			continue
		}
		for _, c := range r.checks {
			if c.typeCheck && q.protoOK {
				continue
			}
			if msg := c.fn(r.field, v, present); msg != "" {
				return trainyard.Errorf(trainyard.EINVALID, "%s See the API docs for more information about request parameters.", msg)
			}
		}
	}
	return nil
}

// pyValue is a raw value as Python holds it after json.loads, for
// json.dumps in messages: numbers as int64, big int or float64.
func pyValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n
			}
			return pyBigInt(s)
		}
		f, _ := strconv.ParseFloat(s, 64)
		return f
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pyValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = pyValue(e)
		}
		return out
	}
	return v
}

// pyBigInt is an integer beyond int64, which json.dumps writes in full.
type pyBigInt string

// pyType is Python's type(v).__name__ of a value json.loads made.
func pyType(v any) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return "float"
		}
		return "int"
	}
	return fmt.Sprintf("%T", v)
}
