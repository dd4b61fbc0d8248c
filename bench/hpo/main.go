// Command hpo benchmarks trainyard's searchers (package hpo) on black-box
// and multi-fidelity problems under hposim's simulated workers and clock.
// Results are JSON lines, one per run, that summarize.py turns into the
// tables of docs/benchmarks.md next to optuna_bench.py's.
//
//	go run ./bench/hpo -mode blackbox -problems branin,hartmann6 -algos random,tpe -seeds 20 -trials 200
//	go run ./bench/hpo -mode mf -problems lcbench:3945,mfhartmann6 -algos random,asha,hyperband,pbt \
//	    -seeds 20 -budget 50 -workers 8 -python .venv-hpo/bin/python
//
// LCBench values come from YAHPO Gym's ONNX surrogate, which only Python
// reads: the driver starts evaluator.py and asks it for epochs of a
// configuration over JSON lines.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/hpo/hposim"
)

func main() {
	mode := flag.String("mode", "blackbox", "blackbox or mf")
	problems := flag.String("problems", "branin,hartmann6", "comma-separated: branin, hartmann6 (blackbox); lcbench:TASK, mfhartmann6 (mf)")
	algos := flag.String("algos", "random,tpe", "blackbox: random, tpe, tpe-optuna (Optuna's defaults), tpe-uv (independent); mf: random, asha, asha-promote, hyperband, hyperband-stop, pbt, tpe-asha")
	seeds := flag.Int("seeds", 20, "number of seeds")
	seed0 := flag.Int("seed0", 1, "first seed")
	trials := flag.Int("trials", 200, "blackbox: trials per run")
	budget := flag.Int("budget", 50, "mf: total budget in units of one full trial (max_steps steps)")
	workers := flag.Int("workers", 8, "mf: parallel workers")
	minSteps := flag.Int("min-steps", 0, "mf: ASHA and Hyperband's first rung r (0: the searcher's default, 1)")
	eta := flag.Float64("eta", 0, "mf: ASHA and Hyperband's reduction factor η (0: the searcher's default, 3)")
	python := flag.String("python", "python3", "mf with lcbench: the Python with yahpo-gym and onnxruntime")
	out := flag.String("out", "", "append JSON lines here (default stdout)")
	flag.Parse()

	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	var ev *evaluator
	for _, p := range strings.Split(*problems, ",") {
		for _, a := range strings.Split(*algos, ",") {
			for seed := *seed0; seed < *seed0+*seeds; seed++ {
				var rec any
				var err error
				switch *mode {
				case "blackbox":
					rec, err = BlackBox(p, a, uint64(seed), *trials)
				case "mf":
					if strings.HasPrefix(p, "lcbench:") && ev == nil {
						if ev, err = startEvaluator(*python); err != nil {
							log.Fatal(err)
						}
						defer ev.close()
					}
					rec, err = MultiFidelity(p, a, uint64(seed), *budget, *workers, *minSteps, *eta, ev)
				default:
					log.Fatalf("-mode %q is not blackbox or mf", *mode)
				}
				if err != nil {
					log.Fatalf("%s %s seed %d: %v", p, a, seed, err)
				}
				if err := enc.Encode(rec); err != nil {
					log.Fatal(err)
				}
			}
			log.Printf("%s %s: %d seeds done", p, a, *seeds)
		}
	}
}

// BlackBoxRecord is one black-box run: Best[i] is the best value after
// i+1 trials; Regret the same minus the known minimum.
type BlackBoxRecord struct {
	Side    string    `json:"side"`
	Mode    string    `json:"mode"`
	Problem string    `json:"problem"`
	Algo    string    `json:"algo"`
	Seed    uint64    `json:"seed"`
	Regret  []float64 `json:"regret"`
}

func blackBoxProblem(name string) (hpo.Space, hposim.Objective, float64, error) {
	switch name {
	case "branin":
		return hpo.Space{Params: []hpo.Param{{Name: "x1", Kind: hpo.Float, Low: -5, High: 10}, {Name: "x2", Kind: hpo.Float, Low: 0, High: 15}}},
			func(c hpo.Config, _ int) (float64, float64) {
				return hposim.Branin(c["x1"].(float64), c["x2"].(float64)), 1
			}, hposim.BraninMin, nil
	case "hartmann6":
		var ps []hpo.Param
		for i := range 6 {
			ps = append(ps, hpo.Param{Name: fmt.Sprintf("x%d", i), Kind: hpo.Float, Low: 0, High: 1})
		}
		return hpo.Space{Params: ps}, func(c hpo.Config, _ int) (float64, float64) {
			return hposim.Hartmann6(vec6(c)), 1
		}, hposim.Hartmann6Min, nil
	}
	return hpo.Space{}, nil, 0, fmt.Errorf("black-box problem %q is not branin or hartmann6", name)
}

func vec6(c hpo.Config) [6]float64 {
	var x [6]float64
	for i := range x {
		x[i] = c[fmt.Sprintf("x%d", i)].(float64)
	}
	return x
}

// BlackBox runs one sequential black-box sweep of n trials.
func BlackBox(problem, algo string, seed uint64, n int) (BlackBoxRecord, error) {
	rec := BlackBoxRecord{Side: "trainyard", Mode: "blackbox", Problem: problem, Algo: algo, Seed: seed}
	space, obj, fmin, err := blackBoxProblem(problem)
	if err != nil {
		return rec, err
	}
	s := hpo.Settings{Space: space, MaxTrials: n, MaxSteps: 1, Seed: seed}
	switch algo {
	case "random":
		s.Sampler = hpo.SamplerRandom
	case "tpe":
		s.Sampler = hpo.SamplerTPE
	case "tpe-uv":
		uv := false
		s.Sampler, s.TPE.Multivariate = hpo.SamplerTPE, &uv
	case "tpe-optuna":
		s.Sampler, s.TPE.Optuna = hpo.SamplerTPE, true
	default:
		return rec, fmt.Errorf("black-box algo %q is not random, tpe, tpe-optuna or tpe-uv", algo)
	}
	e, err := hpo.New(s)
	if err != nil {
		return rec, err
	}
	res, err := hposim.Run(e, obj, hposim.Options{Workers: 1})
	if err != nil {
		return rec, err
	}
	best := math.Inf(1)
	for _, r := range res.Reports {
		best = math.Min(best, r.Value)
		rec.Regret = append(rec.Regret, best-fmin)
	}
	if len(rec.Regret) != n {
		return rec, fmt.Errorf("%d results, want %d", len(rec.Regret), n)
	}
	return rec, nil
}

// MFRecord is one multi-fidelity run. Curve holds [steps used, simulated
// seconds, incumbent] each time the incumbent — the best value reported
// at max_steps — improves; Steps and Seconds are the totals at the end.
type MFRecord struct {
	Side     string       `json:"side"`
	Mode     string       `json:"mode"`
	Problem  string       `json:"problem"`
	Algo     string       `json:"algo"`
	Seed     uint64       `json:"seed"`
	MaxSteps int          `json:"max_steps"`
	MinSteps int          `json:"min_steps,omitempty"` // r as given (0: the default)
	Eta      float64      `json:"eta,omitempty"`       // η as given (0: the default)
	Budget   int64        `json:"budget"`
	Goal     string       `json:"goal"` // min or max
	Curve    [][3]float64 `json:"curve"`
	Steps    int64        `json:"steps"`
	Seconds  float64      `json:"seconds"`
	Trials   int          `json:"trials"`
}

// MultiFidelity runs one sweep with workers in parallel and a total budget
// of budget·max_steps steps.
func MultiFidelity(problem, algo string, seed uint64, budget, workers, minSteps int, eta float64, ev *evaluator) (MFRecord, error) {
	rec := MFRecord{Side: "trainyard", Mode: "mf", Problem: problem, Algo: algo, Seed: seed, MinSteps: minSteps, Eta: eta}
	var space hpo.Space
	var obj hposim.Objective
	var mode hpo.Mode
	switch {
	case problem == "mfhartmann6":
		for i := range 6 {
			space.Params = append(space.Params, hpo.Param{Name: fmt.Sprintf("x%d", i), Kind: hpo.Float, Low: 0, High: 1})
		}
		rec.MaxSteps, mode = 100, hpo.Min
		obj = func(c hpo.Config, z int) (float64, float64) {
			return hposim.MFHartmann6(vec6(c), z, 1, 0.2), hposim.MFHartmannCost(z) - hposim.MFHartmannCost(z-1)
		}
	case strings.HasPrefix(problem, "lcbench:"):
		if ev == nil {
			return rec, fmt.Errorf("lcbench needs the Python evaluator")
		}
		task := strings.TrimPrefix(problem, "lcbench:")
		space = lcbenchSpace()
		rec.MaxSteps, mode = 52, hpo.Max
		obj = ev.objective(task)
	default:
		return rec, fmt.Errorf("multi-fidelity problem %q is not mfhartmann6 or lcbench:TASK", problem)
	}
	rec.Goal = string(mode)
	rec.Budget = int64(budget * rec.MaxSteps)
	s := hpo.Settings{Space: space, Mode: mode, Sampler: hpo.SamplerRandom, MaxSteps: rec.MaxSteps, Parallel: workers,
		Budget: hpo.Budget{Steps: rec.Budget}, Seed: seed}
	s.ASHA.MinSteps, s.ASHA.Eta = minSteps, eta
	switch algo {
	case "random":
	case "asha":
		s.Stopper = hpo.StopperASHA
	case "asha-promote":
		s.Stopper, s.ASHA.Promote = hpo.StopperASHA, true
	case "hyperband":
		s.Stopper, s.ASHA.Promote = hpo.StopperHyperband, true
	case "hyperband-stop":
		s.Stopper = hpo.StopperHyperband
	case "tpe-asha":
		s.Sampler, s.Stopper = hpo.SamplerTPE, hpo.StopperASHA
	case "pbt":
		s.Sampler = hpo.SamplerPBT
		s.PBT.Population = 2 * workers
		s.PBT.Interval = max(1, rec.MaxSteps/13)
	default:
		return rec, fmt.Errorf("multi-fidelity algo %q is unknown", algo)
	}
	e, err := hpo.New(s)
	if err != nil {
		return rec, err
	}
	res, err := hposim.Run(e, obj, hposim.Options{Workers: workers})
	if err != nil {
		return rec, err
	}
	if ev != nil && ev.err != nil {
		return rec, ev.err
	}
	best := math.Inf(1)
	sign := 1.0
	if mode == hpo.Max {
		sign = -1
	}
	for _, r := range res.Reports {
		if r.Step != rec.MaxSteps || !(sign*r.Value < best) {
			continue
		}
		best = sign * r.Value
		rec.Curve = append(rec.Curve, [3]float64{float64(r.Steps), r.Time.Seconds(), r.Value})
	}
	rec.Steps, rec.Seconds, rec.Trials = res.Engine.StepsUsed(), res.End.Seconds(), len(res.Engine.Trials())
	return rec, nil
}

func lcbenchSpace() hpo.Space {
	return hpo.Space{Params: []hpo.Param{
		{Name: "batch_size", Kind: hpo.Int, Low: 16, High: 512, Log: true},
		{Name: "learning_rate", Kind: hpo.Float, Low: 1e-4, High: 1e-1, Log: true},
		{Name: "max_dropout", Kind: hpo.Float, Low: 0, High: 1},
		{Name: "max_units", Kind: hpo.Int, Low: 64, High: 1024, Log: true},
		{Name: "momentum", Kind: hpo.Float, Low: 0.1, High: 0.99},
		{Name: "num_layers", Kind: hpo.Int, Low: 1, High: 5},
		{Name: "weight_decay", Kind: hpo.Float, Low: 1e-5, High: 0.1},
	}}
}

// evaluator is the Python process that evaluates LCBench.
type evaluator struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	err error
}

func startEvaluator(python string) (*evaluator, error) {
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command(python, filepath.Join(filepath.Dir(file), "evaluator.py"))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the evaluator with %s: %w", python, err)
	}
	return &evaluator{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}, nil
}

func (ev *evaluator) close() {
	ev.in.Close()
	ev.cmd.Wait()
}

// curve asks for epochs lo..hi of cfg on task.
func (ev *evaluator) curve(task string, cfg hpo.Config, lo, hi int) ([]float64, []float64, error) {
	req, _ := json.Marshal(map[string]any{"task": task, "config": cfg, "lo": lo, "hi": hi})
	if _, err := ev.in.Write(append(req, '\n')); err != nil {
		return nil, nil, fmt.Errorf("evaluator: %w", err)
	}
	line, err := ev.out.ReadBytes('\n')
	if err != nil {
		return nil, nil, fmt.Errorf("evaluator: %w", err)
	}
	var resp struct {
		Vals, Costs []float64
		Error       string
	}
	if err := json.Unmarshal(line, &resp); err != nil {
		return nil, nil, fmt.Errorf("evaluator answer %q: %w", line, err)
	}
	if resp.Error != "" || len(resp.Vals) != hi-lo+1 || len(resp.Costs) != hi-lo+1 {
		return nil, nil, fmt.Errorf("evaluator: %s (%d values for epochs %d..%d)", resp.Error, len(resp.Vals), lo, hi)
	}
	return resp.Vals, resp.Costs, nil
}

// objective serves a simulation: each configuration's curve is fetched in
// growing chunks (epoch 1, then up to twice as far), so a trial stopped
// early costs few surrogate rows.
func (ev *evaluator) objective(task string) hposim.Objective {
	type curve struct{ vals, costs []float64 }
	cache := map[string]*curve{}
	return func(cfg hpo.Config, step int) (float64, float64) {
		key, _ := json.Marshal(cfg)
		c := cache[string(key)]
		if c == nil {
			c = &curve{}
			cache[string(key)] = c
		}
		if step > len(c.vals) {
			lo := len(c.vals) + 1
			hi := min(52, max(step, 2*len(c.vals)))
			v, k, err := ev.curve(task, cfg, lo, hi)
			if err != nil {
				if ev.err == nil {
					ev.err = err
				}
				return math.NaN(), 1
			}
			c.vals, c.costs = append(c.vals, v...), append(c.costs, k...)
		}
		return c.vals[step-1], c.costs[step-1]
	}
}
