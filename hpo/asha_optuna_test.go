package hpo

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestASHAIsOptunasSuccessiveHalving replays Optuna's
// SuccessiveHalvingPruner (min_resource 1, reduction_factor 3) deciding on
// asynchronous trials (testdata/optuna_sh.json, written by
// testdata/optuna_sh.py with the Optuna of bench/hpo/requirements.lock:
// 8 workers, and 1) through stopping-based ASHA with min_steps 1, η = 3:
// trials start when Optuna's start, report what Optuna's reported, and
// trainyard must stop exactly the reports Optuna pruned, complete the
// same trials, and end the sweep at the same step budget.
func TestASHAIsOptunasSuccessiveHalving(t *testing.T) {
	b, err := os.ReadFile("testdata/optuna_sh.json")
	if err != nil {
		t.Fatal(err)
	}
	var data struct {
		Cases []struct {
			Seed, Workers int
			MaxSteps      int `json:"max_steps"`
			Budget        int64
			Events        []struct {
				Start  *int
				Trial  int
				Step   int
				Value  float64
				Pruned bool
			}
		}
	}
	if err := json.Unmarshal(b, &data); err != nil {
		t.Fatal(err)
	}
	if len(data.Cases) == 0 {
		t.Fatal("no cases")
	}
	var sp Space
	for i := range 6 {
		sp.Params = append(sp.Params, Param{Name: fmt.Sprintf("x%d", i), Kind: Float, Low: 0, High: 1})
	}
	for _, c := range data.Cases {
		t.Run(fmt.Sprintf("seed=%d/workers=%d", c.Seed, c.Workers), func(t *testing.T) {
			e, err := New(Settings{Space: sp, Sampler: SamplerRandom, Stopper: StopperASHA, MaxSteps: c.MaxSteps,
				Parallel: c.Workers, Budget: Budget{Steps: c.Budget}, Seed: uint64(c.Seed)})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Unix(0, 0)
			pruned := 0
			for i, ev := range c.Events {
				if ev.Start != nil {
					acts := e.Next(now, 1)
					if len(acts) != 1 || acts[0].Kind != Start || acts[0].Trial != *ev.Start+1 {
						t.Fatalf("event %d: Optuna starts trial %d; trainyard: %+v", i, *ev.Start, acts)
					}
					continue
				}
				acts := e.Report(now, ev.Trial+1, ev.Step, ev.Value)
				stopped := len(acts) > 0 && acts[0].Kind == Stop && acts[0].Trial == ev.Trial+1 && strings.HasPrefix(acts[0].Reason, "asha")
				if stopped != ev.Pruned {
					t.Fatalf("event %d: trial %d step %d value %v: Optuna pruned %v; trainyard %+v", i, ev.Trial, ev.Step, ev.Value, ev.Pruned, acts)
				}
				if ev.Pruned {
					pruned++
				}
				done := ev.Step == c.MaxSteps
				if tr, _ := e.Trial(ev.Trial + 1); (tr.State == Completed) != done {
					t.Fatalf("event %d: trial %d is %s after step %d", i, ev.Trial, tr.State, ev.Step)
				}
				last := i == len(c.Events)-1
				if finished := len(acts) > 0 && acts[len(acts)-1].Kind == Finish; finished != last || e.Done() != last {
					t.Fatalf("event %d of %d: finished %v (used %d of %d steps)", i, len(c.Events), finished, e.StepsUsed(), c.Budget)
				}
			}
			if pruned == 0 || e.StepsUsed() != c.Budget {
				t.Fatalf("%d prunes, %d steps used of %d", pruned, e.StepsUsed(), c.Budget)
			}
		})
	}
}
