package runquery

import (
	"math"
	"slices"
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
