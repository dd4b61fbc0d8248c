package runquery

import (
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// Search answers a run search over runs held in memory, as
// trainyard.RunSearch specifies: it is the reference that every store's
// SearchRuns must agree with. runs need not be in any order and are not
// changed; the page holds the same pointers.
func Search(runs []*trainyard.Run, q trainyard.RunSearch) (page []*trainyard.Run, next string, err error) {
	var after *Position
	if q.PageToken != "" {
		if after, err = DecodeToken(q.Order, q.PageToken); err != nil {
			return nil, "", err
		}
	}
	type hit struct {
		r   *trainyard.Run
		pos Position
	}
	hits := make([]hit, 0, len(runs))
	for _, r := range runs {
		if !Selects(q, r) {
			continue
		}
		h := hit{r, PositionOf(r, q.Order)}
		if after != nil && ComparePositions(h.pos, *after, q.Order) <= 0 {
			continue
		}
		hits = append(hits, h)
	}
	slices.SortFunc(hits, func(a, b hit) int { return ComparePositions(a.pos, b.pos, q.Order) })
	start := min(max(q.Offset, 0), len(hits))
	limit := q.Limit
	if limit <= 0 {
		limit = trainyard.DefaultListLimit
	}
	end := min(start+limit, len(hits))
	page = make([]*trainyard.Run, 0, end-start)
	for _, h := range hits[start:end] {
		page = append(page, h.r)
	}
	if end < len(hits) && end > start {
		next = EncodeToken(q.Order, hits[end-1].pos)
	}
	return page, next, nil
}

// Selects reports whether a search's projects, view, ID prefix and filter
// keep the run.
func Selects(q trainyard.RunSearch, r *trainyard.Run) bool {
	if len(q.Projects) > 0 && !slices.Contains(q.Projects, r.Project) {
		return false
	}
	return q.View.Includes(r.Deleted) && strings.HasPrefix(r.ID, q.IDPrefix) && MatchAll(q.Filter, RunRecord{r})
}

// Position is where a run sorts in a search: its values of the order's
// terms, then its creation time (Unix microseconds) and ID, the tie-break
// every search ends with (newest first).
type Position struct {
	Key     Key
	Created int64
	ID      string
}

// PositionOf looks up a run's position for an ordering.
func PositionOf(r *trainyard.Run, order []trainyard.RunOrder) Position {
	return Position{Key: KeyOf(RunRecord{r}, order), Created: Micros(r.CreatedAt), ID: r.ID}
}

// Micros is how stores keep a time: Unix microseconds, 0 for the zero time.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ComparePositions orders two positions made with the same order.
func ComparePositions(a, b Position, order []trainyard.RunOrder) int {
	if c := CompareKeys(a.Key, b.Key, order); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Created, a.Created); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// A page token is the position of the last run of a page, with a hash of
// the order it was made for, as URL-safe base64 of JSON:
//
//	{"o": hash, "k": [[], ["n", "0.5"], ["s", "adam"], ...], "c": created µs, "i": id}
//
// [] is a missing value; numbers are written with strconv ('g', -1), so
// NaN and ±Inf survive.
type tokenJSON struct {
	Order uint32     `json:"o"`
	Key   [][]string `json:"k"`
	C     int64      `json:"c"`
	I     string     `json:"i"`
}

func orderHash(order []trainyard.RunOrder) uint32 {
	h := fnv.New32a()
	for _, t := range order {
		var b [9]byte
		binary.LittleEndian.PutUint64(b[:], uint64(t.Kind))
		if t.Desc {
			b[8] = 1
		}
		h.Write(b[:])
		h.Write([]byte(t.Key))
		h.Write([]byte{0})
	}
	return h.Sum32()
}

// EncodeToken makes the page token of a position.
func EncodeToken(order []trainyard.RunOrder, p Position) string {
	t := tokenJSON{Order: orderHash(order), Key: make([][]string, len(p.Key)), C: p.Created, I: p.ID}
	for i, kv := range p.Key {
		switch v := kv.V.(type) {
		case float64:
			if kv.OK {
				t.Key[i] = []string{"n", strconv.FormatFloat(v, 'g', -1, 64)}
				continue
			}
		case string:
			if kv.OK {
				t.Key[i] = []string{"s", v}
				continue
			}
		}
		t.Key[i] = []string{}
	}
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeToken reads a page token made by EncodeToken for the same order.
// Returns EINVALID, naming page_token, for anything else.
func DecodeToken(order []trainyard.RunOrder, s string) (*Position, error) {
	bad := func(why string) error {
		return trainyard.FieldError("page_token", "%q is not a page token of this search: %s", truncate(s, 40), why)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad("not base64")
	}
	var t tokenJSON
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, bad("not a token")
	}
	if t.Order != orderHash(order) || len(t.Key) != len(order) {
		return nil, bad("made for another order")
	}
	p := &Position{Key: make(Key, len(order)), Created: t.C, ID: t.I}
	for i, v := range t.Key {
		switch {
		case len(v) == 0:
		case len(v) == 2 && v[0] == "n":
			f, err := strconv.ParseFloat(v[1], 64)
			if err != nil && !math.IsInf(f, 0) {
				return nil, bad("a number that is not one")
			}
			p.Key[i] = KeyValue{V: f, OK: true}
		case len(v) == 2 && v[0] == "s":
			p.Key[i] = KeyValue{V: v[1], OK: true}
		default:
			return nil, bad("a value of no known kind")
		}
	}
	return p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
