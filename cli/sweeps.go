package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/sweep"
	"github.com/trainyard/trainyard/sweepspec"
	"gopkg.in/yaml.v3"
)

func sweepCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "sweep", Short: "Search hyperparameters: trials of a training command on free GPUs"}
	cmd.AddCommand(sweepCreateCmd(e), sweepLsCmd(e), sweepShowCmd(e),
		sweepControlCmd(e, "pause", "Pause a sweep: its running trials checkpoint and stop; nothing new starts"),
		sweepControlCmd(e, "resume", "Resume a paused sweep: its paused trials continue from their checkpoints"),
		sweepControlCmd(e, "stop", "Stop a sweep for good: its trials' jobs are canceled"))
	return cmd
}

// sweepFlags are the search settings of `sweep create` without a file.
type sweepFlags struct {
	search, metric, mode, stopper, budgetTime string
	maxTrials, parallel, maxSteps, minSteps   int
	seed, budgetSteps                         int64
	eta                                       float64
	promote, asJSON                           bool
	params                                    []string
}

func sweepCreateCmd(e *env) *cobra.Command {
	var f jobFlags
	var s sweepFlags
	cmd := &cobra.Command{
		Use:   "create [SWEEP.yaml] [flags] [-- COMMAND [ARGS...]]",
		Short: "Start a sweep from a spec file, or from flags and a command",
		Long: `Start a sweep: trainyard samples configurations, runs each trial as a job on
free GPUs (the same queue and executors as ` + "`trainyard run`" + `), stops or pauses
losing trials early, and keeps the best.

From a file (trainyard's sweep YAML, or W&B's sweep YAML):

  name: mnist
  command: [python, train.py, "${args}"]    # ${args}: --name=value per parameter
  resources: {gpus: 1}
  metric: {name: val/loss, mode: min}
  parameters:
    lr: {min: 1e-5, max: 1e-1, log: true}
    layers: {min: 2, max: 8}                 # integers
    opt: {values: [adam, sgd]}
    momentum: {min: 0.5, max: 0.99, when: {opt: sgd}}
  searcher: tpe                              # grid, random, tpe, pbt, external
  early_stopping: {name: asha, mode: promote}  # asha, hyperband, median
  max_steps: 27                              # the step (epoch) a trial is complete at
  max_trials: 64
  parallel: 4
  seed: 1

or from flags, the command after --. Every ` + "`trainyard run`" + ` flag (--gpus,
--project, --nodes, ...) sets the trials' job; with a file, a flag given
overrides the file. A spec without a command is an ask/tell sweep: trials
are suggested and recorded (POST /api/v1/sweeps/ID/suggest and /report).

In the training script, run.config holds the trial's values, run.log()
reports the metric, and run.should_stop() says when to stop (or pause: save
a checkpoint in run.checkpoint_dir(), resume from run.restore()).`,
		Example: `  trainyard sweep create sweep.yaml --wait
  trainyard sweep create --search tpe --metric val/loss --mode min --max-trials 64 --parallel 4 --seed 1 \
    --param lr=loguniform:1e-5:1e-1 --param layers=int:2:8 --param opt=choice:adam,sgd \
    --gpus 1 --project mnist -- python train.py
  trainyard sweep create --search random --stopper asha --max-steps 27 --promote --max-trials 100 \
    --param lr=loguniform:1e-4:1e-1 -- python train.py '${args}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			var file string
			var command []string
			switch {
			case dash < 0 && len(args) == 1:
				file = args[0]
			case dash < 0 && len(args) == 0:
				return usagef("give a sweep file, or flags and the command after --: trainyard sweep create --param lr=loguniform:1e-5:1e-1 -- python train.py")
			case dash < 0:
				return usagef("one sweep file at most; put the command after --")
			case dash == 0:
				command = args
			case dash == 1:
				file, command = args[0], args[1:]
			default:
				return usagef("one sweep file at most before --")
			}
			doc, source, err := e.sweepDoc(cmd, file, command, &f, &s)
			if err != nil {
				return err
			}
			body, err := json.Marshal(doc)
			if err != nil {
				return err
			}
			v, err := e.client.CreateSweep(ctxOf(cmd), source, body)
			if err != nil {
				return err
			}
			if s.asJSON && !f.wait {
				return printJSON(e.out, v)
			}
			fmt.Fprintf(e.out, "%s\n", v.ID)
			kind := "its trials run as jobs"
			if !v.Managed {
				kind = "ask/tell: suggest and report trials through /api/v1/sweeps/" + v.ID + "/suggest and /report"
			}
			fmt.Fprintf(e.errOut, "created sweep %s (%s, %s on %s); %s; follow it with `trainyard sweep show %s`\n",
				v.ID, v.Name, v.Searcher, v.Metric, kind, v.ID)
			if !f.wait {
				return nil
			}
			return e.waitSweep(ctxOf(cmd), v.ID)
		},
	}
	f.add(cmd, true)
	cmd.Flags().Lookup("wait").Usage = "follow the sweep with a progress bar; exit when it ends (1 if it failed)"
	fl := cmd.Flags()
	fl.StringVar(&s.search, "search", "", "searcher: grid, random, tpe, pbt or external (default random)")
	fl.StringVar(&s.metric, "metric", "", "the reported metric to optimise, e.g. val/loss")
	fl.StringVar(&s.mode, "mode", "", "min or max (default min)")
	fl.IntVar(&s.maxTrials, "max-trials", 0, "most trials to start")
	fl.IntVar(&s.parallel, "parallel", 0, "trials at once (default 1)")
	fl.Int64Var(&s.seed, "seed", 0, "seed of the searcher's randomness")
	fl.StringArrayVar(&s.params, "param", nil, "a parameter, name=kind:args: lr=loguniform:1e-5:1e-1, dropout=uniform:0:0.5, layers=int:2:8, opt=choice:adam,sgd, epochs=const:10 (repeatable)")
	fl.StringVar(&s.stopper, "stopper", "", "early stopping: asha, hyperband or median")
	fl.IntVar(&s.maxSteps, "max-steps", 0, "the step (epoch) at which a trial is complete (needed by asha, hyperband, pbt)")
	fl.IntVar(&s.minSteps, "min-steps", 0, "asha/hyperband: the first rung (default 1)")
	fl.Float64Var(&s.eta, "eta", 0, "asha/hyperband: the reduction factor (default 3)")
	fl.BoolVar(&s.promote, "promote", false, "asha/hyperband: pause trials at rungs and resume the promoted ones from their checkpoints (default: stop losers)")
	fl.Int64Var(&s.budgetSteps, "budget-steps", 0, "bound on the steps all trials run together")
	fl.StringVar(&s.budgetTime, "budget-time", "", "bound on the sweep's time, e.g. 12h")
	fl.BoolVar(&s.asJSON, "json", false, "print the created sweep as JSON")
	return cmd
}

// sweepDoc builds the spec the API takes, as a JSON object: the file's
// (checked here first, so that errors name its lines), or one made from
// the flags, with every flag given set over it and what the submitting
// shell knows (directory, environment, git version) filled in.
func (e *env) sweepDoc(cmd *cobra.Command, file string, command []string, f *jobFlags, s *sweepFlags) (map[string]any, string, error) {
	doc := map[string]any{}
	source := "flags"
	base, _ := os.Getwd()
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, "", err
		}
		source = filepath.Base(file)
		if _, err := sweepspec.Parse(source, data); err != nil && len(command) == 0 && !anyChanged(cmd) {
			return nil, "", err
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, "", fmt.Errorf("%s: %v", source, err)
		}
		if doc == nil {
			doc = map[string]any{}
		}
		base = filepath.Dir(file)
	}
	changed := cmd.Flags().Changed
	if len(command) > 0 {
		doc["command"] = command
		delete(doc, "program")
	}
	set := func(flag, key string, v any) {
		if changed(flag) {
			doc[key] = v
		}
	}
	set("search", "searcher", s.search)
	if changed("metric") || changed("mode") {
		m := map[string]any{}
		switch old := doc["metric"].(type) {
		case string:
			m["name"] = old
		case map[string]any:
			m = old
		}
		if changed("metric") {
			m["name"] = s.metric
		}
		if changed("mode") {
			delete(m, "goal")
			m["mode"] = s.mode
		}
		doc["metric"] = m
	}
	set("max-trials", "max_trials", s.maxTrials)
	set("parallel", "parallel", s.parallel)
	set("seed", "seed", s.seed)
	set("max-steps", "max_steps", s.maxSteps)
	if changed("stopper") || changed("min-steps") || changed("eta") || changed("promote") {
		es := map[string]any{}
		switch old := doc["early_stopping"].(type) {
		case string:
			es["name"] = old
		case map[string]any:
			es = old
		}
		if changed("stopper") {
			es["name"] = s.stopper
		}
		if changed("min-steps") {
			es["min_steps"] = s.minSteps
		}
		if changed("eta") {
			es["eta"] = s.eta
		}
		if changed("promote") {
			es["mode"] = map[bool]string{true: "promote", false: "stop"}[s.promote]
		}
		doc["early_stopping"] = es
	}
	if changed("budget-steps") || changed("budget-time") {
		b, _ := doc["budget"].(map[string]any)
		if b == nil {
			b = map[string]any{}
		}
		if changed("budget-steps") {
			b["steps"] = s.budgetSteps
		}
		if changed("budget-time") {
			b["time"] = s.budgetTime
		}
		doc["budget"] = b
	}
	if len(s.params) > 0 {
		sp, err := sweepspec.ParseParams(s.params)
		if err != nil {
			return nil, "", usagef("%s", trainyard.ErrorMessage(err))
		}
		ps, _ := doc["parameters"].(map[string]any)
		if ps == nil {
			ps = map[string]any{}
		}
		for _, p := range sp.Params {
			putParam(ps, strings.Split(p.Name, "."), paramDoc(p))
		}
		doc["parameters"] = ps
	}
	// The trials' job: every `trainyard run` flag given.
	set("name", "name", f.name)
	set("project", "project", f.project)
	set("priority", "priority", f.priority)
	set("max-restarts", "max_restarts", f.maxRestarts)
	set("nodes", "nodes", f.nodes)
	set("launch", "launch", f.launch)
	set("procs-per-node", "procs_per_node", f.procsPerNode)
	set("pool", "pool", f.pool)
	set("gpu-type", "gpu_type", f.gpuType)
	set("time", "time_limit", f.timeLimit)
	set("account", "account", f.account)
	set("qos", "qos", f.qos)
	set("queue", "queue", f.queue)
	if changed("gpus") || changed("cpus") || changed("mem") {
		res, _ := doc["resources"].(map[string]any)
		if res == nil {
			res = map[string]any{}
		}
		if changed("gpus") {
			res["gpus"] = f.gpus
		}
		if changed("cpus") {
			res["cpus"] = f.cpus
		}
		if changed("mem") {
			res["memory"] = f.mem
		}
		doc["resources"] = res
	}
	if len(f.tags) > 0 {
		tags, err := keyValues("--tag", f.tags)
		if err != nil {
			return nil, "", err
		}
		m := stringMap(doc["tags"])
		for k, v := range tags {
			m[k] = v
		}
		doc["tags"] = m
	}
	_, hasCommand := doc["command"]
	_, hasProgram := doc["program"]
	if hasCommand || hasProgram { // trials run as jobs: here, with this shell's environment
		wd, _ := doc["workdir"].(string)
		switch {
		case wd == "":
			abs, err := filepath.Abs(base)
			if err != nil {
				return nil, "", err
			}
			if file == "" || filepath.Dir(file) == "." {
				abs, _ = os.Getwd()
			}
			doc["workdir"] = abs
		case !filepath.IsAbs(wd):
			abs, err := filepath.Abs(filepath.Join(base, wd))
			if err != nil {
				return nil, "", err
			}
			doc["workdir"] = abs
		}
		envs := map[string]string{}
		for _, k := range forwardedEnv {
			if v, ok := os.LookupEnv(k); ok {
				envs[k] = v
			}
		}
		for k, v := range stringMap(doc["env"]) {
			envs[k] = v
		}
		kvs, err := keyValues("--env", f.env)
		if err != nil {
			return nil, "", err
		}
		for k, v := range kvs {
			envs[k] = v
		}
		doc["env"] = envs
		if _, ok := doc["git"]; !ok {
			if g := GitInfo(doc["workdir"].(string)); g != nil {
				doc["git"] = g
			}
		}
	}
	return doc, source, nil
}

// anyChanged reports whether a flag other than --wait and --json was given.
func anyChanged(cmd *cobra.Command) bool {
	any := false
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if fl.Name != "wait" && fl.Name != "json" {
			any = true
		}
	})
	return any
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// paramDoc writes a parameter in the spec's own form.
func paramDoc(p hpo.Param) map[string]any {
	switch p.Kind {
	case hpo.Const:
		return map[string]any{"value": p.Values[0]}
	case hpo.Categorical:
		return map[string]any{"values": p.Values}
	case hpo.Int:
		return map[string]any{"type": "int", "min": int64(p.Low), "max": int64(p.High), "log": p.Log}
	}
	m := map[string]any{"type": "float", "min": p.Low, "max": p.High, "log": p.Log}
	if p.Q > 0 {
		m["q"] = p.Q
	}
	return m
}

// putParam places a parameter at its dotted path: optimizer.lr nests
// under optimizer's parameters block.
func putParam(ps map[string]any, path []string, p map[string]any) {
	if len(path) == 1 {
		ps[path[0]] = p
		return
	}
	block, _ := ps[path[0]].(map[string]any)
	if block == nil {
		block = map[string]any{}
		ps[path[0]] = block
	}
	inner, _ := block["parameters"].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
		block["parameters"] = inner
	}
	putParam(inner, path[1:], p)
}

// resolveSweep returns the sweep that arg names or starts.
func (e *env) resolveSweep(ctx context.Context, arg string) (*sweep.View, error) {
	v, err := e.client.Sweep(ctx, arg)
	if err == nil || !isNotFound(err) {
		return v, err
	}
	vs, perr := e.client.Sweeps(ctx, trainyard.SweepFilter{IDPrefix: arg, Limit: maxCandidates + 1})
	if perr != nil {
		return nil, err
	}
	switch len(vs) {
	case 0:
		return nil, &client.Error{Status: 404, Code: "not_found", Message: fmt.Sprintf("sweep %s not found (no sweep ID is or starts with %q); `trainyard sweep ls` lists them", arg, arg)}
	case 1:
		return e.client.Sweep(ctx, vs[0].ID)
	}
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = fmt.Sprintf("  %s  %s  %s", v.ID, v.State, truncate(oneLine(v.Name), 40))
	}
	return nil, ambiguous("sweep", arg, lines)
}

func sweepLsCmd(e *env) *cobra.Command {
	var project string
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List sweeps: state, trials done, best value",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := trainyard.SweepFilter{Project: project, Limit: 100}
			vs, err := e.client.Sweeps(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if !all {
				kept := vs[:0]
				for i, v := range vs {
					if v.State.Active() || i < 20 {
						kept = append(kept, v)
					}
				}
				vs = kept
			}
			if asJSON {
				if vs == nil {
					vs = []*sweep.View{}
				}
				return printJSON(e.out, vs)
			}
			if len(vs) == 0 {
				fmt.Fprintln(e.errOut, "no sweeps yet; start one with `trainyard sweep create sweep.yaml`")
				return nil
			}
			// OWNER only where sweeps have owners (a server with users).
			owners := slices.ContainsFunc(vs, func(v *sweep.View) bool { return v.Owner != "" })
			tw := table(e.out)
			head := "ID\tNAME\tPROJECT\tSTATE\tSEARCH\tTRIALS\tRUNNING\tBEST\tAGE"
			if owners {
				head = "ID\tNAME\tPROJECT\tOWNER\tSTATE\tSEARCH\tTRIALS\tRUNNING\tBEST\tAGE"
			}
			fmt.Fprintln(tw, head)
			for _, v := range vs {
				where := truncate(oneLine(v.Project), 20)
				if owners && v.Owner == "" {
					where += "\t-" // made before users existed
				} else if owners {
					where += "\t" + v.Owner
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s ago\n", v.ID, truncate(oneLine(v.Name), 28), where,
					v.State, searchName(v), trialsDone(v), v.Counts["RUNNING"]+v.Counts["QUEUED"], bestCell(v), ago(e.now().Sub(v.CreatedAt)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&project, "project", "", "only this project's sweeps")
	cmd.Flags().BoolVar(&all, "all", false, "every sweep (default: the active ones and the latest 20)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func searchName(v *sweep.View) string {
	if v.Stopper != "" {
		return v.Searcher + "+" + v.Stopper
	}
	return v.Searcher
}

// trialsDone is "ended/max" (or "ended/started" without a bound).
func trialsDone(v *sweep.View) string {
	ended := v.Counts["COMPLETED"] + v.Counts["STOPPED"] + v.Counts["FAILED"]
	total := 0
	for _, n := range v.Counts {
		total += n
	}
	if v.MaxTrials > 0 {
		return fmt.Sprintf("%d/%d", ended, v.MaxTrials)
	}
	return fmt.Sprintf("%d/%d", ended, total)
}

func bestCell(v *sweep.View) string {
	if v.BestValue == nil {
		return "-"
	}
	return fmt.Sprintf("%s %s (#%d)", v.Metric, num(float64(*v.BestValue)), v.BestTrial)
}

func sweepShowCmd(e *env) *cobra.Command {
	var asJSON, full bool
	cmd := &cobra.Command{
		Use:   "show SWEEP",
		Short: "Show a sweep: its trials (config, state, step reached, metric) and the best trial",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.resolveSweep(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, v)
			}
			e.printSweep(e.out, v, full)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the sweep and its trials as JSON")
	cmd.Flags().BoolVar(&full, "full", false, "do not cut long values")
	return cmd
}

func (e *env) printSweep(w io.Writer, v *sweep.View, full bool) {
	fmt.Fprintf(w, "sweep %s  %s  (%s)\n", v.ID, v.Name, v.Project)
	line := string(v.State)
	if v.Reason != "" && v.Reason != strings.ToLower(string(v.State)) {
		line += ": " + v.Reason
	}
	fmt.Fprintf(w, "state     %s\n", line)
	if v.Owner != "" {
		fmt.Fprintf(w, "owner     %s\n", v.Owner)
	}
	mode := "ask/tell (trials run by you)"
	if v.Managed {
		mode = fmt.Sprintf("trials run as jobs, %d at once", v.Parallel)
	}
	fmt.Fprintf(w, "search    %s, %s %s, %s trials, %s\n", searchName(v), v.Metric, v.Mode, trialsDone(v), mode)
	if v.MaxSteps > 0 {
		fmt.Fprintf(w, "steps     %d per trial\n", v.MaxSteps)
	}
	if len(v.Trials) == 0 {
		fmt.Fprintln(w, "\nno trials yet")
		return
	}
	fmt.Fprintln(w)
	tw := table(w)
	fmt.Fprintf(tw, "TRIAL\tSTATE\tSTEP\t%s\tCONFIG\tJOBS\tREASON\n", strings.ToUpper(v.Metric))
	for _, t := range v.Trials {
		step := strconv.Itoa(t.Step)
		if t.Until > 0 && !t.State.Terminal() {
			step += "/" + strconv.Itoa(t.Until)
		}
		val := "-"
		if t.Value != nil {
			val = num(float64(*t.Value))
		}
		jobs := strconv.Itoa(len(t.Jobs))
		if t.Retries > 0 {
			jobs += fmt.Sprintf(" (%d retried)", t.Retries)
		}
		mark := ""
		if t.Number == v.BestTrial {
			mark = " *"
		}
		fmt.Fprintf(tw, "%d%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Number, mark, t.State, step, val, cell(configLine(t.Config), 60, full), jobs, cell(t.Reason, 50, full))
	}
	tw.Flush()
	if v.BestValue != nil {
		for _, t := range v.Trials {
			if t.Number == v.BestTrial {
				fmt.Fprintf(w, "\nbest: trial %d, %s = %s at step %d\n  config: %s\n", t.Number, v.Metric, num(float64(*v.BestValue)), t.Step, configLine(t.Config))
				if j := t.Job(); j != "" {
					fmt.Fprintf(w, "  run:    %s (`trainyard runs show %s`)\n", j, j)
				}
			}
		}
	}
}

// configLine renders a configuration as k=v pairs, nested keys dotted, in
// key order.
func configLine(cfg map[string]any) string {
	flat := trainyard.FlattenConfig(cfg)
	keys := make([]string, 0, len(flat))
	for k := range flat {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		val := flat[k]
		if f, ok := val.(float64); ok {
			val = num(f)
		}
		parts[i] = fmt.Sprintf("%s=%v", k, val)
	}
	return strings.Join(parts, " ")
}

func sweepControlCmd(e *env, action, short string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   action + " SWEEP",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := e.resolveSweep(ctxOf(cmd), args[0])
			if err != nil {
				return err
			}
			v, err = e.client.ControlSweep(ctxOf(cmd), v.ID, action)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, v)
			}
			fmt.Fprintf(e.out, "sweep %s %s\n", v.ID, v.State)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the sweep as JSON")
	return cmd
}

// waitSweep follows a sweep until it ends, with a progress bar on a
// terminal (a line per change otherwise). Exit code 1 when it failed.
func (e *env) waitSweep(ctx context.Context, id string) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := isTerminal(e.errOut)
	last := ""
	failures := 0
	for {
		v, err := e.client.Sweep(ctx, id)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if failures++; failures > 150 {
				return err
			}
		} else {
			failures = 0
			line := progressLine(v)
			if tty {
				fmt.Fprintf(e.errOut, "\r\033[K%s", line)
			} else if line != last {
				fmt.Fprintln(e.errOut, line)
			}
			last = line
			if !v.State.Active() {
				if tty {
					fmt.Fprintln(e.errOut)
				}
				e.printSweep(e.out, v, false)
				if v.State == trainyard.SweepFailed {
					return &ExitError{Code: 1}
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
			continue
		}
		break
	}
	fmt.Fprintf(e.errOut, "\ndetached; sweep %s goes on (`trainyard sweep stop %s` stops it)\n", id, id)
	return &ExitError{Code: 130}
}

// progressLine: [#######.............] 12/64 trials  4 running  best val/loss 0.123 (#7)
func progressLine(v *sweep.View) string {
	ended := v.Counts["COMPLETED"] + v.Counts["STOPPED"] + v.Counts["FAILED"]
	total := v.MaxTrials
	if total <= 0 {
		total = max(ended, 1)
	}
	const width = 24
	fill := int(math.Round(float64(width) * float64(min(ended, total)) / float64(total)))
	bar := "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
	s := fmt.Sprintf("%s %s trials  %d running  %d queued", bar, trialsDone(v), v.Counts["RUNNING"], v.Counts["QUEUED"])
	if n := v.Counts["PAUSED"]; n > 0 {
		s += fmt.Sprintf("  %d paused", n)
	}
	if v.BestValue != nil {
		s += fmt.Sprintf("  best %s %s (#%d)", v.Metric, num(float64(*v.BestValue)), v.BestTrial)
	}
	return s + "  " + string(v.State)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
