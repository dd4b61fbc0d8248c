package sqlite

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/trainyard/trainyard"
)

// The writer's hand-written summary is what json.Marshal writes, and reads
// back the same, NaN and infinities included.
func TestAppendSummaryIsJSON(t *testing.T) {
	for _, m := range []trainyard.MetricSummary{
		{},
		{Count: 3, Last: 0.1, LastStep: -5, LastTime: 1700000000000, Min: -1e300, Max: 2.0000000015e+09},
		{Count: 1, Last: trainyard.Float(math.NaN()), Min: trainyard.Float(math.Inf(-1)), Max: trainyard.Float(math.Inf(1))},
	} {
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendSummary(nil, &m); string(got) != string(want) {
			t.Errorf("appendSummary = %s; json.Marshal = %s", got, want)
		}
	}
}
