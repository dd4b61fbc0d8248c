// Command sweep measures a sweep end to end (issue 12's target): N real
// one-second Python trials (trial.py, with the SDK) run by the real server
// through its queue and local executor, P at once, with the TPE searcher.
// From the server's own records and the trials' own clocks it reports:
//
//   - overhead per trial: from the end of a trial's job (as the dispatcher
//     records it) to the start of the next trial's job in the slot it freed
//     (EndedAt → StartedAt): the sweep service (reports read back, the
//     searcher's decision, one commit, the submission) and the scheduler
//     (its pass, one commit); split at the next job's SubmittedAt;
//   - slot idle time: from the last instant of a trial's process to the
//     first instant of the next one's in that slot (trial.py's clock: after
//     the interpreter started), which adds the exit's detection, the shim,
//     and the interpreter's start.
//
// With -peer it runs the same trials under an Optuna study (TPE, n_jobs=P,
// a subprocess per trial: optuna_peer.py) and reports its slot idle time.
//
//	go run ./bench/sweep -bin bin/trainyard -python .venv/bin/python
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

var (
	bin      = flag.String("bin", "bin/trainyard", "trainyard binary")
	python   = flag.String("python", ".venv/bin/python", "Python 3 for the trials (and Optuna, for -peer)")
	trials   = flag.Int("trials", 200, "trials in the sweep")
	parallel = flag.Int("parallel", 2, "trials at once")
	seconds  = flag.Float64("seconds", 1, "length of one trial")
	peer     = flag.Bool("peer", true, "also run the same trials under Optuna (needs optuna in -python)")
)

func main() {
	flag.Parse()
	_, file, _, _ := runtime.Caller(0)
	here := filepath.Dir(file)
	repo := filepath.Dir(filepath.Dir(here))
	trialPy := filepath.Join(here, "trial.py")
	if p, err := exec.LookPath(*python); err == nil {
		*python, _ = filepath.Abs(p) // the trials run in another directory
	}

	fmt.Printf("%d trials of %gs, %d at once, TPE; %s\n\n", *trials, *seconds, *parallel, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	ty := runTrainyard(repo, trialPy)
	fmt.Println("| measurement | median | p95 | max | target |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name string, d []time.Duration, target string) {
		fmt.Printf("| %s | **%s** | %s | %s | %s |\n", name, ms(pct(d, 50)), ms(pct(d, 95)), ms(pct(d, 100)), target)
	}
	row("trainyard: overhead per trial, job end → next job started (sweep service + scheduler)", ty.overhead, "< 50 ms")
	row("  of which: job end → next trial's job submitted (reports read, TPE, commit, submit)", ty.searcher, "")
	row("  of which: submitted → started (scheduler pass, commit)", ty.scheduler, "")
	row("trainyard: slot idle, trial process exit → next trial process running", ty.idle, "< 100 ms")
	row("  of which: the process's last instant → its job's end recorded (interpreter exit, shim, exit status)", ty.exit, "")
	row("  of which: the job's start recorded → the process's first instant (shim, interpreter start)", ty.spawn, "")
	if *peer {
		op := runOptuna(trialPy)
		row("Optuna (TPE, n_jobs, subprocess per trial): slot idle, exit → next running", op.idle, "")
		fmt.Printf("\nwhole sweep: trainyard %s, Optuna %s (%d trials, %d at once; trainyard's trials also write durably and can be paused, resumed and survive a crash)\n",
			ty.wall.Round(100*time.Millisecond), op.wall.Round(100*time.Millisecond), *trials, *parallel)
		fmt.Printf("slot idle, median: trainyard / Optuna = %.2f\n", float64(pct(ty.idle, 50))/float64(pct(op.idle, 50)))
	} else {
		fmt.Printf("\nwhole sweep: %s\n", ty.wall.Round(100*time.Millisecond))
	}
}

type result struct {
	overhead, searcher, scheduler, idle, exit, spawn []time.Duration
	wall                                             time.Duration
}

func runTrainyard(repo, trialPy string) result {
	data, err := os.MkdirTemp("", "trainyard-bench-sweep")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(data)
	times := filepath.Join(data, "times.jsonl")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(*bin, "up", "--addr", addr, "--data", filepath.Join(data, "server"), "--nvidia-smi", "none", "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	c := client.New("http://"+addr, "")
	ctx := context.Background()
	if err := c.WaitReady(ctx, 20*time.Second); err != nil {
		log.Fatal(err)
	}
	spec := map[string]any{
		"name": "bench", "command": []string{*python, trialPy}, "workdir": data,
		"env": map[string]string{"PYTHONPATH": filepath.Join(repo, "sdk", "python", "src"), "TIMES": times,
			"TRIAL_SECONDS": fmt.Sprint(*seconds), "TRAINYARD_SPOOL_DIR": filepath.Join(data, "spool")},
		"metric": "loss", "parameters": map[string]any{"x": map[string]any{"min": 0.0, "max": 1.0}},
		"searcher": "tpe", "max_trials": *trials, "parallel": *parallel, "seed": 1,
	}
	body, _ := json.Marshal(spec)
	t0 := time.Now()
	v, err := c.CreateSweep(ctx, "bench", body)
	if err != nil {
		log.Fatal(err)
	}
	for {
		time.Sleep(200 * time.Millisecond)
		if v, err = c.Sweep(ctx, v.ID); err != nil {
			log.Fatal(err)
		}
		if !v.State.Active() {
			break
		}
	}
	wall := time.Since(t0)
	if v.State != trainyard.SweepCompleted || v.Counts["COMPLETED"] != *trials {
		cmd.Process.Signal(os.Interrupt)
		log.Fatalf("sweep %s: %s, %v", v.State, v.Reason, v.Counts)
	}
	var jobs []*trainyard.Job
	for _, t := range v.Trials {
		if len(t.Jobs) != 1 {
			log.Fatalf("trial %d ran as %d jobs", t.Number, len(t.Jobs))
		}
		j, err := c.Job(ctx, t.Jobs[0])
		if err != nil {
			log.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	r := result{wall: wall}
	// The i-th start after the first P takes the slot of the i-th end.
	byStart := slices.Clone(jobs)
	sort.Slice(byStart, func(a, b int) bool { return byStart[a].StartedAt.Before(byStart[b].StartedAt) })
	byEnd := slices.Clone(jobs)
	sort.Slice(byEnd, func(a, b int) bool { return byEnd[a].EndedAt.Before(byEnd[b].EndedAt) })
	for i := *parallel; i < len(byStart); i++ {
		next, prev := byStart[i], byEnd[i-*parallel]
		r.overhead = append(r.overhead, next.StartedAt.Sub(prev.EndedAt))
		r.searcher = append(r.searcher, next.SubmittedAt.Sub(prev.EndedAt))
		r.scheduler = append(r.scheduler, next.StartedAt.Sub(next.SubmittedAt))
	}
	r.idle = processGaps(times)
	// Where the rest of the idle time goes: the process's exit to its job's
	// recorded end, and the job's recorded start to the process running.
	for _, p := range readTimes(times) {
		for _, j := range jobs {
			if j.ID == p.Run {
				r.exit = append(r.exit, j.EndedAt.Sub(unix(p.T1)))
				r.spawn = append(r.spawn, unix(p.T0).Sub(j.StartedAt))
			}
		}
	}
	return r
}

type procTimes struct {
	T0, T1 float64
	Run    string
}

func readTimes(path string) []procTimes {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	var out []procTimes
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var t procTimes
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			log.Fatal(err)
		}
		out = append(out, t)
	}
	return out
}

func unix(s float64) time.Time { return time.Unix(0, int64(s*float64(time.Second))) }

func runOptuna(trialPy string) result {
	dir, err := os.MkdirTemp("", "trainyard-bench-sweep-optuna")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	times := filepath.Join(dir, "times.jsonl")
	cmd := exec.Command(*python, filepath.Join(filepath.Dir(trialPy), "optuna_peer.py"), fmt.Sprint(*trials), fmt.Sprint(*parallel), trialPy)
	cmd.Env = append(os.Environ(), "TIMES="+times, "TRIAL_SECONDS="+fmt.Sprint(*seconds))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("optuna peer: %v\n%s", err, out.String())
	}
	return result{wall: time.Since(t0), idle: processGaps(times)}
}

// processGaps pairs the i-th process start after the first P with the
// i-th process end: the time its slot stood idle.
func processGaps(path string) []time.Duration {
	var starts, ends []float64
	for _, t := range readTimes(path) {
		starts, ends = append(starts, t.T0), append(ends, t.T1)
	}
	if len(starts) != *trials {
		log.Fatalf("%s: %d trial processes, want %d", path, len(starts), *trials)
	}
	sort.Float64s(starts)
	sort.Float64s(ends)
	var out []time.Duration
	for i := *parallel; i < len(starts); i++ {
		out = append(out, time.Duration((starts[i]-ends[i-*parallel])*float64(time.Second)))
	}
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := (len(s) - 1) * p / 100
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
