package sweep_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

func ptr[T any](v T) *T { return &v }

// An ask/tell sweep (no command): the searcher suggests, the caller runs
// the trials and reports; the sweep completes after max_trials.
func TestAskTell(t *testing.T) {
	r := newRig(t)
	v := r.create(`metric: {name: acc, mode: max}
parameters: {lr: {min: 0.001, max: 0.1, log: true}, opt: [adam, sgd]}
searcher: tpe
max_trials: 5
seed: 7
`)
	if v.Managed {
		t.Fatal("a sweep without a command is managed")
	}
	sg, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(sg.Trials) != 2 || sg.Done || sg.Trials[0].State != trainyard.TrialRunning || sg.Trials[0].Config["opt"] == nil {
		t.Fatalf("suggestion = %+v", sg)
	}
	best, bestN := math.Inf(-1), 0
	report := func(tr *trainyard.Trial) {
		lr := tr.Config["lr"].(float64)
		acc := 1 - math.Abs(math.Log10(lr)+2)
		got, err := r.svc.Report(ctx, v.ID, sweep.ReportRequest{Trial: tr.Number, Results: []sweep.Result{{Step: 1, Value: trainyard.Float(acc / 2)}, {Step: 2, Value: trainyard.Float(acc)}}, State: "completed"})
		if err != nil {
			t.Fatal(err)
		}
		if got.State != trainyard.TrialCompleted || got.Step != 2 || got.Results != 2 {
			t.Fatalf("trial after its report = %+v", got)
		}
		if acc > best {
			best, bestN = acc, tr.Number
		}
	}
	for _, tr := range sg.Trials {
		report(tr)
	}
	// A retried report (same steps) is not counted twice.
	again, err := r.svc.Report(ctx, v.ID, sweep.ReportRequest{Trial: 1, Step: ptr(2), Value: ptr(trainyard.Float(0))})
	if err != nil || again.Results != 2 || float64(*again.Value) == 0 {
		t.Fatalf("a repeated report changed the trial: %+v, %v", again, err)
	}
	for {
		sg, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if sg.Done || len(sg.Trials) == 0 {
			break
		}
		report(sg.Trials[0])
	}
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if len(v.Trials) != 5 || v.Counts["COMPLETED"] != 5 || v.BestTrial != bestN || float64(*v.BestValue) != best {
		t.Fatalf("ended: %s best %d %v, want %d %v", trialStates(v), v.BestTrial, v.BestValue, bestN, best)
	}
	if sg, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{}); err != nil || !sg.Done || len(sg.Trials) != 0 {
		t.Fatalf("suggest on a completed sweep: %+v, %v", sg, err)
	}
}

// With searcher: external the caller brings the configurations; with a
// command, each runs as a job through the queue and reports as any trial.
func TestExternalSearcherThroughTheQueue(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py, "${args}"]
metric: loss
searcher: external
max_trials: 2
`)
	sg, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{Config: map[string]any{"lr": 0.01, "model": map[string]any{"depth": 3.0}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(sg.Trials) != 1 || !sg.Trials[0].External || sg.Trials[0].State != trainyard.TrialQueued {
		t.Fatalf("suggestion = %+v", sg.Trials)
	}
	j := r.waitJob(trainyard.StateQueued)
	if got := strings.Join(j.Command, " "); got != "python t.py --lr=0.01 --model.depth=3" {
		t.Fatalf("command = %q", got)
	}
	r.jobs.start(j)
	r.report(j.ID, 1, 0.7)
	r.jobs.exit(j, 0)
	r.eventually("trial 1 completed", func() bool { return r.get(v.ID).Trials[0].State == trainyard.TrialCompleted })
	if _, err := r.svc.Report(ctx, v.ID, sweep.ReportRequest{Trial: 1, State: "failed"}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("a state for a trial that runs as a job: %v", err)
	}
	if _, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("suggest without config on an external sweep: %v", err)
	}
	if _, err := r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{Config: map[string]any{"": 1}}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("a config with an empty key: %v", err)
	}
	sg, _ = r.svc.Suggest(ctx, v.ID, sweep.SuggestRequest{Config: map[string]any{"lr": 0.1}})
	j = r.waitJob(trainyard.StateQueued)
	r.jobs.start(j)
	r.report(j.ID, 1, 0.2)
	r.jobs.exit(j, 0)
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if v.BestTrial != 2 || float64(*v.BestValue) != 0.2 {
		t.Fatalf("best = %d %v", v.BestTrial, v.BestValue)
	}
}

// Trainyard's searcher refuses configurations from outside, and a managed
// sweep refuses suggest (it starts its own trials).
func TestSuggestRefusals(t *testing.T) {
	r := newRig(t)
	managed := r.create(quadSpec)
	if _, err := r.svc.Suggest(ctx, managed.ID, sweep.SuggestRequest{}); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Fatalf("suggest on a managed sweep: %v", err)
	}
	if _, err := r.svc.Suggest(ctx, managed.ID, sweep.SuggestRequest{Config: map[string]any{"x": 1}}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("a config for a tpe sweep: %v", err)
	}
	ask := r.create("metric: m\nparameters: {x: [1, 2]}\nsearcher: grid\n")
	if _, err := r.svc.Suggest(ctx, ask.ID, sweep.SuggestRequest{Count: -1}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("count -1: %v", err)
	}
	if _, err := r.svc.Report(ctx, ask.ID, sweep.ReportRequest{Trial: 9, Step: ptr(1), Value: ptr(trainyard.Float(1))}); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Fatalf("a report for an unknown trial: %v", err)
	}
	if _, err := r.svc.Report(ctx, ask.ID, sweep.ReportRequest{Trial: 1}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("an empty report: %v", err)
	}
	if _, err := r.svc.Report(ctx, ask.ID, sweep.ReportRequest{Trial: 1, Step: ptr(1)}); !trainyard.IsCode(err, trainyard.EINVALID) {
		t.Fatalf("a step without a value: %v", err)
	}
	if _, err := r.svc.Get(ctx, "nope"); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Fatalf("get an unknown sweep: %v", err)
	}
	if _, err := r.svc.Pause(ctx, "nope"); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Fatalf("pause an unknown sweep: %v", err)
	}
}

// Bad specs are refused whole, naming line and field; a trial no node can
// run is refused at create.
func TestCreateRefusesBadSpecs(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct{ spec, code, want string }{
		{"command: [python, t.py]\nmetric: loss\nparameters: {x: {min: 2, max: 1}}\nmax_trials: 3\n", trainyard.EINVALID, "sweep.yaml:3: parameters.x"},
		{"command: [python, t.py]\nmetric: loss\nparameters: {x: [1, 2]}\nmax_trials: 3\nparallel: zero\n", trainyard.EINVALID, "sweep.yaml:5: parallel"},
		{"command: [python, t.py]\nmetric: loss\nparameters: {x: [1, 2]}\nmax_trials: 3\nresources: {gpus: 64}\n", trainyard.EUNSATISFIABLE, "GPUs"},
		{"command: [python, t.py]\nmetric: loss\nparameters: {x: [1, 2]}\nmax_trials: 3\nworkdir: rel/dir\n", trainyard.EINVALID, "workdir"},
	} {
		_, err := r.svc.Create(ctx, "sweep.yaml", []byte(c.spec))
		if trainyard.ErrorCode(err) != c.code || !strings.Contains(trainyard.ErrorMessage(err), c.want) {
			t.Errorf("create(%q) = %v (%s), want %s naming %q", c.spec, err, trainyard.ErrorCode(err), c.code, c.want)
		}
	}
	if vs, _ := r.svc.List(ctx, trainyard.SweepFilter{}); len(vs) != 0 {
		t.Fatalf("refused specs stored %d sweeps", len(vs))
	}
}

// PBT's exploit starts a new trial from another trial's checkpoint at the
// step it was copied at, with a perturbed configuration.
func TestPBTStartsFromAnotherTrialsCheckpoint(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {lr: {min: 0.001, max: 0.1, log: true}}
searcher: {name: pbt, population: 4, interval: 2}
max_steps: 8
max_trials: 12
parallel: 4
seed: 5
`)
	exploited := 0
	for r.get(v.ID).State == trainyard.SweepRunning {
		js := r.jobs.jobs(t, trainyard.StateQueued)
		if len(js) == 0 {
			// Advance the running trials one step each.
			running := r.jobs.jobs(t, trainyard.StateRunning)
			for _, j := range running {
				run, _ := r.store.Run(ctx, j.ID)
				step := int64(0)
				if m, ok := run.Metrics["loss"]; ok {
					step = m.LastStep
				} else if s := j.Env[sweep.EnvRestoreStep]; s != "" {
					n, _ := strconv.Atoi(s)
					step = int64(n)
				}
				if step >= 8 || r.svc.Directive(j.ID) != "" {
					r.jobs.exit(j, 0)
					continue
				}
				lr := j.Config["lr"].(float64)
				r.report(j.ID, int(step)+1, math.Abs(math.Log10(lr)+2)+1/float64(step+1))
			}
			continue
		}
		j := js[0]
		if from := j.Env[sweep.EnvRestoreDir]; from != "" {
			exploited++
			n := trialOf(j)
			tr := r.get(v.ID).Trials[n-1]
			if tr.From == 0 || !strings.HasSuffix(from, "trial-"+strconv.Itoa(tr.From)) || j.Env[sweep.EnvRestoreStep] != strconv.Itoa(tr.FromStep) {
				t.Fatalf("exploit trial %d (from %d@%d) restores from %s@%s", n, tr.From, tr.FromStep, from, j.Env[sweep.EnvRestoreStep])
			}
		}
		r.jobs.start(j)
	}
	if exploited == 0 {
		t.Fatal("PBT never exploited")
	}
}
