package runquery

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func run(id string, loss float64, lr any, team string, state trainyard.State, created int) RunRecord {
	return RunRecord{&trainyard.Run{
		ID: id, Name: "run-" + id, Project: "p", State: state,
		Metrics:   map[string]trainyard.MetricSummary{"loss": {Count: 1, Last: trainyard.Float(loss)}},
		Config:    map[string]any{"lr": lr, "opt.name": "adam"},
		Tags:      map[string]string{"team": team},
		CreatedAt: time.UnixMilli(int64(created)),
	}}
}

var runs = []RunRecord{
	run("a", 0.1, 0.01, "vision", trainyard.StateSucceeded, 3),
	run("b", 0.5, 0.1, "nlp", trainyard.StateRunning, 1),
	run("c", math.NaN(), "0.001", "Vision-2", trainyard.StateFailed, 2),
}

func TestFilter(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"", []string{"a", "b", "c"}},
		{"metrics.loss < 0.3", []string{"a"}},
		{"metrics.loss >= 0.1 and metrics.loss != 0.5", []string{"a"}},
		{"metric.loss > 0", []string{"a", "b"}},
		{"params.lr = '0.01'", []string{"a"}},
		{"params.lr = \"0.001\"", []string{"c"}},
		{"config.`opt.name` = 'adam'", []string{"a", "b", "c"}},
		{"tags.team LIKE 'vis%'", []string{"a"}},
		{"tags.team ILIKE 'vis%'", []string{"a", "c"}},
		{"tags.team LIKE 'nl_'", []string{"b"}},
		{"attributes.status IN ('RUNNING', 'FAILED')", []string{"b", "c"}},
		{"status NOT IN ('RUNNING')", []string{"a", "c"}},
		{"attributes.run_name = 'run-b'", []string{"b"}},
		{"attributes.start_time > 1", []string{"a", "c"}},
		{"metrics.missing > 0", nil},
		{"tags.team = 'vision' AND params.lr = '0.01' AND metrics.loss < 1", []string{"a"}},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			f, err := Parse(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range runs {
				if f.Match(r) {
					got = append(got, r.ID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	for _, s := range []string{
		"metrics.loss",
		"metrics.loss < 'abc'",
		"foo.bar = 1",
		"metrics.loss < 1 OR metrics.loss > 2",
		"tags.x = 'unterminated",
		"metrics.loss IN (1, 2)",
		"tags.x IN ('a' 'b')",
		"tags.x NOT 'a'",
		"tags.x ! 'a'",
		"tags.x = ",
		"& = 1",
	} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = nil error, want one", s)
		}
	}
}

func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		order []string
		want  []string
	}{
		{[]string{"metrics.loss ASC"}, []string{"a", "b", "c"}},
		{[]string{"metrics.loss DESC"}, []string{"c", "b", "a"}},
		{[]string{"params.lr"}, []string{"c", "a", "b"}},
		{[]string{"attributes.start_time DESC"}, []string{"a", "c", "b"}},
		{[]string{"tags.missing", "attributes.run_name DESC"}, []string{"c", "b", "a"}},
	} {
		terms, err := ParseOrderBy(tc.order)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(runs)
		slices.SortStableFunc(got, func(a, b RunRecord) int { return Compare(a, b, terms) })
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("order %v: got %v, want %v", tc.order, ids, tc.want)
		}
	}
	if _, err := ParseOrderBy([]string{"metrics.loss sideways"}); err == nil {
		t.Error("bad direction accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("metrics.loss < 0.5 AND params.lr = '0.01'")
	f.Add("tags.`a b` IN ('x', \"y\")")
	f.Fuzz(func(t *testing.T, s string) {
		if fl, err := Parse(s); err == nil {
			fl.Match(runs[0])
		}
	})
}

// Params and tags sort numbers first (by number), then the rest bytewise:
// a total order, so that every store can sort the same way.
func TestOrderParamsNumbersFirst(t *testing.T) {
	vals := []any{"10", "9", "#x", "abc", "1e-3", "NaN", "-inf", 2.5, "Abc"}
	var rs []RunRecord
	for i, v := range vals {
		rs = append(rs, RunRecord{&trainyard.Run{ID: string(rune('a' + i)), Config: map[string]any{"v": v}}})
	}
	for _, desc := range []bool{false, true} {
		terms := []OrderTerm{{Kind: Param, Key: "v", Desc: desc}}
		got := slices.Clone(rs)
		slices.SortStableFunc(got, func(a, b RunRecord) int { return Compare(a, b, terms) })
		var order []string
		for _, r := range got {
			order = append(order, ParamString(r.Config["v"]))
		}
		want := []string{"-inf", "1e-3", "2.5", "9", "10", "#x", "Abc", "NaN", "abc"}
		if desc {
			slices.Reverse(want)
		}
		if !slices.Equal(order, want) {
			t.Errorf("desc=%v: %v, want %v", desc, order, want)
		}
	}
}

// A search pages with tokens: the pages together are the whole answer,
// and a run created after the first page does not shift the next one.
func TestSearchPages(t *testing.T) {
	var all []*trainyard.Run
	for i := range 10 {
		all = append(all, &trainyard.Run{ID: string(rune('a' + i)), CreatedAt: time.UnixMilli(int64(i % 3)),
			Metrics: map[string]trainyard.MetricSummary{"m": {Count: 1, Last: trainyard.Float([]float64{1, math.NaN(), math.Inf(-1)}[i%3])}}})
	}
	q := trainyard.RunSearch{Order: []OrderTerm{{Kind: Metric, Key: "m", Desc: true}}, Limit: 4}
	whole, next, err := Search(all, trainyard.RunSearch{Order: q.Order})
	if err != nil || next != "" || len(whole) != 10 {
		t.Fatalf("whole: %d runs, next %q, %v", len(whole), next, err)
	}
	var got []*trainyard.Run
	for {
		page, next, err := Search(all, q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		if len(got) == 4 { // a new run that sorts first: later pages keep their place
			all = append(all, &trainyard.Run{ID: "new", CreatedAt: time.UnixMilli(9), Metrics: map[string]trainyard.MetricSummary{"m": {Count: 1, Last: trainyard.Float(math.NaN())}}})
		}
		q.PageToken = next
	}
	if !slices.Equal(got, whole) {
		t.Fatalf("pages %v, want %v", ids(got), ids(whole))
	}
	if _, _, err := Search(all, trainyard.RunSearch{PageToken: q.PageToken}); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("a token of another order: %v, want EINVALID", err)
	}
	if _, _, err := Search(all, trainyard.RunSearch{PageToken: "%%%"}); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("a broken token: %v, want EINVALID", err)
	}
}

func ids(rs []*trainyard.Run) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func FuzzParseOrderBy(f *testing.F) {
	f.Add("metrics.loss ASC\nparams.lr DESC")
	f.Add("attributes.start_time\ntags.`a b` desc")
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := ParseOrderBy(strings.Split(s, "\n"))
		if err != nil {
			return
		}
		Compare(runs[0], runs[1], terms)
	})
}
