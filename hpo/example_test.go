package hpo_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/trainyard/trainyard/hpo"
)

// A service loop in miniature: two slots, trials that report a loss per
// epoch, stopping-based ASHA, and a snapshot stored after every call and
// restored half way, as after kill -9.
func Example() {
	settings := hpo.Settings{
		Space: hpo.Space{Params: []hpo.Param{
			{Name: "lr", Kind: hpo.Float, Low: 1e-4, High: 1, Log: true},
			{Name: "opt", Kind: hpo.Categorical, Values: []any{"adam", "sgd"}},
		}},
		Sampler: hpo.SamplerRandom, Stopper: hpo.StopperASHA,
		MaxTrials: 6, Parallel: 2, MaxSteps: 9, Seed: 1,
	}
	e, _ := hpo.New(settings)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type trial struct {
		cfg  hpo.Config
		step int
	}
	running := map[int]*trial{}
	var stored []byte
	carry := func(acts []hpo.Action) {
		for _, a := range acts {
			switch a.Kind {
			case hpo.Start:
				running[a.Trial] = &trial{cfg: a.Config}
			case hpo.Stop, hpo.Pause:
				delete(running, a.Trial)
			}
			fmt.Println(strings.TrimSpace(fmt.Sprint(a.Kind, " ", a.Trial, " ", a.Reason)))
		}
		stored, _ = e.Snapshot() // with the service's records, in one transaction
	}
	carry(e.Next(now, 2))
	for round := 1; !e.Done(); round++ {
		for id := 1; id <= 6; id++ {
			t, ok := running[id]
			if !ok {
				continue
			}
			now = now.Add(time.Minute)
			t.step++
			loss := t.cfg["lr"].(float64) / float64(t.step)
			carry(e.Report(now, id, t.step, loss))
		}
		if round == 4 {
			e, _ = hpo.Restore(settings, stored) // the server restarted
		}
		carry(e.Next(now, 2-len(running)))
	}
	best, _ := e.Best()
	fmt.Println("best trial", best.ID)
	// Output:
	// start 1
	// start 2
	// stop 2 asha: at rung 0 (step 1) not in the top 1/3 of 2
	// start 3
	// stop 3 asha: at rung 0 (step 1) not in the top 1/3 of 3
	// start 4
	// stop 4 asha: at rung 0 (step 1) not in the top 1/3 of 4
	// start 5
	// stop 5 asha: at rung 0 (step 1) not in the top 1/3 of 5
	// start 6
	// stop 1 reached max_steps
	// stop 6 reached max_steps
	// finish 0 nothing left to run
	// best trial 6
}
