package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/runquery"
)

// testSearchMatchesReference checks SearchRuns against package runquery's
// reference evaluator (runquery.Search) on random searches over runs made
// to hit the edges: NaN and infinite metrics, params that are numbers and
// params that are not, non-ASCII case, LIKE's wildcards in values, missing
// values, equal creation times, deleted runs. Each search is paged through
// with its tokens; the pages together must be the reference's answer.
func testSearchMatchesReference(t *testing.T, f Factory) {
	s := open(t, f)
	rng := rand.New(rand.NewPCG(1, 2))
	dom := newSearchDomain()
	const nruns = 60
	for i := range nruns {
		r := dom.run(rng, i)
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		if r.Deleted {
			if err := s.SetRunDeleted(ctx, r.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []string{"loss", "acc", "m/x"} {
			if rng.IntN(5) == 0 {
				continue // missing
			}
			n := 1 + rng.IntN(3)
			sp := trainyard.SeriesPoints{Key: k}
			for j := range n {
				sp.Steps = append(sp.Steps, int64(j))
				sp.Values = append(sp.Values, dom.metricValue(rng))
				sp.Times = append(sp.Times, 1)
			}
			if err := s.AppendMetrics(ctx, r.ID, []trainyard.SeriesPoints{sp}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := s.Runs(ctx, trainyard.RunFilter{View: trainyard.ViewAll, Limit: 10 * nruns})
	if err != nil || len(all) != nruns {
		t.Fatalf("list every run: %d, %v", len(all), err)
	}

	for n := range 400 {
		q := dom.search(rng)
		whole := q
		whole.Limit = 1 << 30 // every page at once
		want, _, err := runquery.Search(all, whole)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		pageSize := q.Limit
		for page := 0; ; page++ {
			runs, next, err := s.SearchRuns(ctx, q)
			if err != nil {
				t.Fatalf("search %d %s: %v", n, describe(q), err)
			}
			for _, r := range runs {
				got = append(got, r.ID)
			}
			if next == "" || page > nruns {
				break
			}
			if len(runs) != pageSize {
				t.Fatalf("search %d %s: page %d has %d runs and a next token, want %d", n, describe(q), page, len(runs), pageSize)
			}
			q.PageToken, q.Offset = next, 0
		}
		if diff := gocmp.Diff(ids(want), got); diff != "" {
			t.Fatalf("search %d %s differs from the reference (-want +got):\n%s", n, describe(q), diff)
		}
	}
}

func ids(runs []*trainyard.Run) []string {
	var out []string
	for _, r := range runs {
		out = append(out, r.ID)
	}
	return out
}

func describe(q trainyard.RunSearch) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{projects %v view %d prefix %q offset %d limit %d;", q.Projects, q.View, q.IDPrefix, q.Offset, q.Limit)
	for _, c := range q.Filter {
		fmt.Fprintf(&b, " %s.%s %s %q%v", c.Kind, c.Key, c.Op, c.Str, c.Values)
		if c.IsNum {
			fmt.Fprintf(&b, "(num %v)", c.Num)
		}
		b.WriteString(" AND")
	}
	b.WriteString(" ORDER BY")
	for _, o := range q.Order {
		fmt.Fprintf(&b, " %s.%s desc=%v,", o.Kind, o.Key, o.Desc)
	}
	b.WriteString("}")
	return b.String()
}

// searchDomain is the values runs are made of, so that searches can ask
// about values that exist.
type searchDomain struct {
	strs    []string
	nums    []float64
	metrics []float64
	created []time.Time
}

func newSearchDomain() *searchDomain {
	d := &searchDomain{
		strs: []string{"adam", "Adam", "ADAM", "sgd", "a_m", "a%m", "ada", "10", "9", "1e-3", "0.001", "-2", "+3", "inf", "-Inf",
			"NaN", "0x10", "1_0", "", " ", "Ärger", "ärger", "straße", "ÉTÉ", "été", "zz", "~tilde", "tab\there", `back\slash`},
		nums:    []float64{0, 1, -1, 0.5, 3, 10, 1e-3, 2.5},
		metrics: []float64{0, 1, -1, 0.5, 0.25, 3, 100, -0.5, math.NaN(), math.Inf(1), math.Inf(-1)},
	}
	for i := range 20 {
		d.created = append(d.created, t0.Add(time.Duration(i/2)*time.Millisecond+time.Duration(i%3)*time.Microsecond))
	}
	return d
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func (d *searchDomain) metricValue(rng *rand.Rand) float64 { return pick(rng, d.metrics) }

func (d *searchDomain) run(rng *rand.Rand, i int) *trainyard.Run {
	states := []trainyard.State{trainyard.StateQueued, trainyard.StateRunning, trainyard.StateSucceeded, trainyard.StateFailed, trainyard.StateCanceled}
	r := &trainyard.Run{
		ID: fmt.Sprintf("r%02d%s", i, pick(rng, []string{"", "a", "b_c", "-x"})), Project: pick(rng, []string{"p", "q", "Ärger"}),
		Name: pick(rng, d.strs), State: pick(rng, states), Config: map[string]any{}, Tags: map[string]string{}, Summary: map[string]any{},
		CreatedAt: pick(rng, d.created), Deleted: rng.IntN(8) == 0,
	}
	if rng.IntN(3) == 0 {
		r.JobID = r.ID
	}
	if rng.IntN(2) == 0 {
		r.StartedAt = r.CreatedAt.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
	}
	if r.State.Terminal() && rng.IntN(4) != 0 {
		r.EndedAt = r.CreatedAt.Add(time.Duration(1+rng.IntN(5)) * time.Second)
		c := rng.IntN(3) - 1
		r.ExitCode = &c
	}
	for _, k := range []string{"lr", "opt", "model.layers"} {
		switch rng.IntN(6) {
		case 0: // missing
		case 1:
			r.Config[k] = pick(rng, d.nums)
		case 2:
			r.Config[k] = rng.IntN(2) == 0
		default:
			r.Config[k] = pick(rng, d.strs)
		}
	}
	for _, k := range []string{"team", "note"} {
		if rng.IntN(4) != 0 {
			r.Tags[k] = pick(rng, d.strs)
		}
	}
	return r
}

var (
	strOps = []string{"=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"}
	numOps = []string{"=", "!=", "<", "<=", ">", ">="}
)

func (d *searchDomain) search(rng *rand.Rand) trainyard.RunSearch {
	q := trainyard.RunSearch{View: trainyard.View(rng.IntN(3)), Limit: 1 + rng.IntN(25)}
	if rng.IntN(4) == 0 {
		q.Projects = []string{pick(rng, []string{"p", "q", "Ärger", "none"})}
		if rng.IntN(2) == 0 {
			q.Projects = append(q.Projects, "q")
		}
	}
	if rng.IntN(10) == 0 {
		q.IDPrefix = pick(rng, []string{"r0", "r1", "r2", "r05b_", "x"})
	}
	if rng.IntN(8) == 0 {
		q.Offset = rng.IntN(5)
	}
	for range rng.IntN(3) {
		q.Filter = append(q.Filter, d.clause(rng))
	}
	for range rng.IntN(3) {
		q.Order = append(q.Order, d.term(rng))
	}
	return q
}

func (d *searchDomain) strValue(rng *rand.Rand) string {
	if rng.IntN(3) == 0 {
		// A pattern: wildcards around a piece of a value.
		v := []rune(pick(rng, d.strs))
		if len(v) > 2 {
			v = v[:1+rng.IntN(len(v)-1)]
		}
		return pick(rng, []string{"%", "_", ""}) + string(v) + pick(rng, []string{"%", "_", "", "%%"})
	}
	return pick(rng, d.strs)
}

func (d *searchDomain) clause(rng *rand.Rand) trainyard.RunClause {
	switch rng.IntN(4) {
	case 0:
		c := trainyard.RunClause{Kind: trainyard.RunMetric, Key: pick(rng, []string{"loss", "acc", "m/x", "none"}), Op: pick(rng, numOps)}
		c.Num, c.IsNum = pick(rng, d.metrics), true
		c.Str = strconv.FormatFloat(c.Num, 'g', -1, 64)
		return c
	case 1, 2:
		c := trainyard.RunClause{Kind: trainyard.RunParam, Key: pick(rng, []string{"lr", "opt", "model.layers", "none"}), Op: pick(rng, strOps)}
		if rng.IntN(2) == 0 {
			c.Kind, c.Key = trainyard.RunTag, pick(rng, []string{"team", "note", "none"})
		}
		d.fill(rng, &c)
		return c
	}
	attr := pick(rng, []string{"id", "run_id", "name", "run_name", "state", "status", "project", "job_id", "created", "start_time",
		"started", "ended", "end_time", "exit_code", "nonsense"})
	c := trainyard.RunClause{Kind: trainyard.RunAttribute, Key: attr, Op: pick(rng, strOps)}
	switch runquery.CanonicalAttr(attr) {
	case trainyard.AttrCreated, trainyard.AttrStarted, trainyard.AttrEnded:
		ms := pick(rng, d.created).UnixMilli() + int64(rng.IntN(3)-1)
		if runquery.CanonicalAttr(attr) == trainyard.AttrEnded {
			ms += int64(rng.IntN(6)) * 1000
		}
		c.Op, c.Num, c.IsNum, c.Str = pick(rng, numOps), float64(ms), true, strconv.FormatInt(ms, 10)
		if rng.IntN(5) == 0 {
			c.IsNum = false // a number written as a string
		}
		if rng.IntN(10) == 0 {
			c.Op = "LIKE" // no such comparison of numbers: false
		}
	case trainyard.AttrExitCode:
		c.Op, c.Num, c.IsNum = pick(rng, numOps), float64(rng.IntN(3)-1), true
		c.Str = strconv.FormatFloat(c.Num, 'g', -1, 64)
		if rng.IntN(6) == 0 {
			c.IsNum, c.Str = false, pick(rng, []string{"NaN", "x", "1"})
		}
	case trainyard.AttrState:
		c.Str = pick(rng, []string{"RUNNING", "FAILED", "SUCCEEDED", "R%", "%ED", "queued"})
		c.Values = []string{"RUNNING", pick(rng, []string{"QUEUED", "CANCELED", "X"})}
	case trainyard.AttrProject:
		c.Str = pick(rng, []string{"p", "q", "ärger", "%r%", "_"})
		c.Values = []string{"p", "Ärger"}
	case trainyard.AttrID, trainyard.AttrJobID:
		c.Str = pick(rng, []string{"r05", "r1%", "%a", "R0_", "r%_c", "r10"})
		c.Values = []string{"r01", "r02a", "r03b_c"}
	default:
		d.fill(rng, &c)
	}
	return c
}

func (d *searchDomain) fill(rng *rand.Rand, c *trainyard.RunClause) {
	c.Str = d.strValue(rng)
	if rng.IntN(5) == 0 {
		c.Num, c.IsNum = pick(rng, d.nums), true
		c.Str = strconv.FormatFloat(c.Num, 'g', -1, 64)
	}
	for range rng.IntN(4) {
		c.Values = append(c.Values, pick(rng, d.strs))
	}
}

func (d *searchDomain) term(rng *rand.Rand) trainyard.RunOrder {
	o := trainyard.RunOrder{Desc: rng.IntN(2) == 0}
	switch rng.IntN(4) {
	case 0:
		o.Kind, o.Key = trainyard.RunMetric, pick(rng, []string{"loss", "acc", "none"})
	case 1:
		o.Kind, o.Key = trainyard.RunParam, pick(rng, []string{"lr", "opt", "model.layers", "none"})
	case 2:
		o.Kind, o.Key = trainyard.RunTag, pick(rng, []string{"team", "note"})
	default:
		o.Kind, o.Key = trainyard.RunAttribute, pick(rng, []string{"id", "name", "state", "project", "job_id", "created", "started",
			"ended", "exit_code", "start_time", "nonsense"})
	}
	return o
}
