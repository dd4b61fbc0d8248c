package sweepspec_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/sweepspec"
)

func parseFile(t *testing.T, name string) (*sweepspec.Spec, error) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return sweepspec.Parse(name, b)
}

func TestParseNative(t *testing.T) {
	s, err := parseFile(t, "sweep.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != "trainyard" || s.Name != "mnist-tpe" || s.Metric != (sweepspec.Metric{Name: "val/loss", Mode: hpo.Min}) {
		t.Errorf("header: %+v", s)
	}
	wantJob := trainyard.JobSpec{Name: "mnist-tpe", Project: "vision", Command: []string{"python", "train.py", "--data", "/data/mnist"},
		Resources: trainyard.Resources{GPUs: 2, CPUs: 8, Memory: 32 << 30}, MaxRestarts: 2, Env: map[string]string{"OMP_NUM_THREADS": "4"}}
	if diff := cmp.Diff(wantJob, s.Trial); diff != "" {
		t.Errorf("trial job (-want +got):\n%s", diff)
	}
	wantParams := []hpo.Param{
		{Name: "lr", Kind: hpo.Float, Low: 1e-5, High: 0.1, Log: true},
		{Name: "layers", Kind: hpo.Int, Low: 2, High: 8},
		{Name: "optimizer.name", Kind: hpo.Categorical, Values: []any{"adam", "sgd"}},
		{Name: "optimizer.momentum", Kind: hpo.Float, Low: 0.5, High: 0.99, When: &hpo.Cond{Param: "optimizer.name", Values: []any{"sgd"}}},
		{Name: "batch", Kind: hpo.Categorical, Values: []any{int64(32), int64(64), int64(128)}},
		{Name: "epochs", Kind: hpo.Const, Values: []any{int64(27)}},
	}
	if diff := cmp.Diff(wantParams, s.Search.Space.Params); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
	st := s.Search
	if st.Sampler != "tpe" || st.TPE.NStartupTrials != 8 || st.TPE.Multivariate == nil || !*st.TPE.Multivariate || st.Stopper != "asha" || !st.ASHA.Promote ||
		st.MaxTrials != 64 || st.Parallel != 4 || st.MaxSteps != 27 || st.Budget != (hpo.Budget{Steps: 5000, Duration: 12 * time.Hour}) || st.Seed != 1 {
		t.Errorf("search settings: %+v", st)
	}
	if _, err := hpo.New(st); err != nil {
		t.Errorf("the parsed settings do not make an engine: %v", err)
	}
}

func TestParseWandB(t *testing.T) {
	s, err := parseFile(t, "wandb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Format != "wandb" || s.Metric != (sweepspec.Metric{Name: "val_acc", Mode: hpo.Max}) || s.Search.Mode != hpo.Max {
		t.Errorf("header: %+v %+v", s.Format, s.Metric)
	}
	st := s.Search
	if st.Sampler != hpo.SamplerTPE || st.Stopper != hpo.StopperASHA || st.ASHA.MinSteps != 3 || st.ASHA.Eta != 3 || st.MaxSteps != 81 || st.MaxTrials != 40 || st.Parallel != 2 {
		t.Errorf("search settings: %+v", st)
	}
	byName := map[string]hpo.Param{}
	for _, p := range st.Space.Params {
		byName[p.Name] = p
	}
	if p := byName["log_lr"]; !p.Log || p.Kind != hpo.Float || p.Low < 1e-4*0.99 || p.Low > 1e-4*1.01 || p.High < 0.1*0.99 || p.High > 0.1*1.01 {
		t.Errorf("log_uniform reads min and max as exponents: %+v", p)
	}
	if p := byName["dropout"]; p.Q != 0.1 || p.Kind != hpo.Float {
		t.Errorf("q_uniform: %+v", p)
	}
	if p := byName["hidden"]; p.Kind != hpo.Int {
		t.Errorf("int_uniform: %+v", p)
	}
	if p := byName["optimizer.kind"]; p.Kind != hpo.Categorical {
		t.Errorf("nested: %+v", p)
	}
	cmd, err := s.TrialCommand(hpo.Config{"learning_rate": 0.01, "epochs": int64(81), "optimizer": map[string]any{"kind": "adam"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"python", "train.py", "--epochs=81", "--learning_rate=0.01", "--optimizer.kind=adam"}, cmd); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if s.Trial.Resources.GPUs != 1 {
		t.Errorf("resources: %+v", s.Trial.Resources)
	}
}

// Every problem is reported at once, each with its file, line and field.
func TestParseReportsEveryProblemWithItsLine(t *testing.T) {
	_, err := parseFile(t, "bad.yaml")
	if trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("code %q: %v", trainyard.ErrorCode(err), err)
	}
	got := err.Error()
	for _, want := range []string{
		`bad.yaml:2: metric.mode: "lowest" is not min or max`,
		`bad.yaml:8: parameters.width.mu: normal distributions are not supported`,
		`bad.yaml:11: parallel: want an integer, got "two"`,
		`bad.yaml:13: colour: unknown field`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("error lacks %q:\n%s", want, got)
		}
	}
	// A file with only domain problems gets them all, placed by field.
	src := strings.Join([]string{
		"command: [python, train.py]",
		"metric: {name: loss}",
		"parameters:",
		"  lr: {distribution: log_uniform_values, min: 0, max: 1}",
		"  layers: {min: 8, max: 2}",
		"  opt: {values: [adam, adam]}",
		"  momentum: {min: 0.1, max: 0.9, when: {optim: sgd}}",
		"searcher: {name: bayes, n_startup_trials: -1}",
		"early_stopping: asha",
		"resources: {gpus: -1}",
	}, "\n")
	_, err = sweepspec.Parse("s.yaml", []byte(src))
	got = trainyard.ErrorMessage(err)
	for _, want := range []string{
		"s.yaml:4: parameters.lr: a log-scale parameter needs min > 0",
		"s.yaml:5: parameters.layers: min 8 is above max 2",
		"s.yaml:6: parameters.opt: value adam is listed twice",
		`s.yaml:7: parameters.momentum.when: parent "optim" is not a parameter`,
		`s.yaml:8: searcher.name: "bayes" is not one of grid, random, tpe, pbt`,
		"s.yaml:8: searcher.n_startup_trials: is -1",
		"s.yaml:9: max_steps: asha needs max_steps",
		"s.yaml:10: resources.gpus: is -1",
		"max_trials: is 0 and no budget is set",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("error lacks %q:\n%s", want, got)
		}
	}
}

func TestParseParam(t *testing.T) {
	cases := []struct {
		arg  string
		want hpo.Param
	}{
		{"lr=loguniform:1e-5:1e-1", hpo.Param{Name: "lr", Kind: hpo.Float, Low: 1e-5, High: 0.1, Log: true}},
		{"dropout=uniform:0:0.5", hpo.Param{Name: "dropout", Kind: hpo.Float, High: 0.5}},
		{"wd=quniform:0:0.1:0.01", hpo.Param{Name: "wd", Kind: hpo.Float, High: 0.1, Q: 0.01}},
		{"layers=int:2:8", hpo.Param{Name: "layers", Kind: hpo.Int, Low: 2, High: 8}},
		{"width=logint:16:1024", hpo.Param{Name: "width", Kind: hpo.Int, Low: 16, High: 1024, Log: true}},
		{"opt=choice:adam,sgd", hpo.Param{Name: "opt", Kind: hpo.Categorical, Values: []any{"adam", "sgd"}}},
		{"bs=choice:32,64,0.5,true", hpo.Param{Name: "bs", Kind: hpo.Categorical, Values: []any{int64(32), int64(64), 0.5, true}}},
		{"epochs=10", hpo.Param{Name: "epochs", Kind: hpo.Const, Values: []any{int64(10)}}},
		{"model.act=const:relu", hpo.Param{Name: "model.act", Kind: hpo.Const, Values: []any{"relu"}}},
	}
	for _, c := range cases {
		got, err := sweepspec.ParseParam(c.arg)
		if err != nil {
			t.Errorf("%s: %v", c.arg, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.arg, diff)
		}
	}
	for arg, want := range map[string]string{
		"lr":                    "want name=kind:args",
		"lr=loguniform:1e-5":    "loguniform needs min:max",
		"lr=loguniform:0:1":     "needs min > 0",
		"n=int:8:2":             "min 8 is above max 2",
		"n=int:1.5:3":           "integer min and max",
		"x=gauss:0:1":           `kind "gauss" is not one of`,
		"x=choice:":             "choice needs values",
		"x=uniform:nan:1":       "uniform needs min:max",
		"x=choice:a,a":          "listed twice",
		"=uniform:0:1":          "want name=kind:args",
		"x=quniform:0:1:1e-300": "too small",
	} {
		_, err := sweepspec.ParseParam(arg)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), arg) {
			t.Errorf("%q: error %v, want one quoting the argument and saying %q", arg, err, want)
		}
	}
	if _, err := sweepspec.ParseParams([]string{"lr=uniform:0:1", "lr=int:1:2"}); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("a name given twice: %v", err)
	}
}

// TestParseTPEOptions: every TPE option of the searcher mapping lands in
// the settings, optuna_defaults included.
func TestParseTPEOptions(t *testing.T) {
	s, err := sweepspec.Parse("s.yaml", []byte(`command: [python, t.py]
metric: loss
max_trials: 10
parameters: {x: {min: 0.0, max: 1.0}}
searcher: {name: tpe, optuna_defaults: true, n_startup_trials: 4, n_ei_candidates: 12, gamma: 0.2, prior_weight: 2,
  consider_endpoints: true, consider_magic_clip: false, multivariate: false, constant_liar: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	f, g := false, 0.2
	want := hpo.TPESettings{Optuna: true, NStartupTrials: 4, NEICandidates: 12, Gamma: &g, PriorWeight: 2,
		ConsiderEndpoints: true, NoMagicClip: true, Multivariate: &f, ConstantLiar: &f}
	if diff := cmp.Diff(want, s.Search.TPE); diff != "" {
		t.Errorf("TPE settings (-want +got):\n%s", diff)
	}
	if _, err := sweepspec.Parse("s.yaml", []byte("command: [python, t.py]\nmetric: loss\nmax_trials: 10\nparameters: {x: {min: 0.0, max: 1.0}}\nsearcher: {name: tpe, optuna_defaults: maybe}\n")); err == nil || !strings.Contains(err.Error(), "searcher.optuna_defaults") {
		t.Errorf("optuna_defaults: maybe: err %v, want one naming searcher.optuna_defaults", err)
	}
}
