package sweep_test

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

func trialOf(j *trainyard.Job) int {
	n, _ := strconv.Atoi(j.Tags[trainyard.TagTrial])
	return n
}

const quadSpec = `name: quad
command: [python, train.py, "${args}"]
metric: loss
parameters: {x: {min: -1.0, max: 1.0}}
max_trials: 6
parallel: 2
seed: 3
resources: {cpus: 2}
max_restarts: 1
env: {A: "1"}
tags: {team: cv}
`

// A managed sweep runs each trial as a job (never more than parallel at
// once), with the trial's configuration in its command, its run's config
// and its environment, and ends with the best trial.
func TestSweepRunsTrialsAsJobs(t *testing.T) {
	r := newRig(t)
	v := r.create(quadSpec)
	if v.State != trainyard.SweepRunning || v.Name != "quad" || v.Project != "default" || !v.Managed || v.Metric != "loss" || v.Mode != "min" {
		t.Fatalf("created sweep = %+v", v.Sweep)
	}
	best, bestN := math.Inf(1), 0
	for done := 0; done < 6; done++ {
		j := r.waitJob(trainyard.StateQueued)
		n := trialOf(j)
		x := j.Config["x"].(float64)
		if done == 0 {
			want := "--x=" + strconv.FormatFloat(x, 'g', -1, 64)
			if !slices.Equal(j.Command, []string{"python", "train.py", want}) || j.Name != "quad #"+strconv.Itoa(n) ||
				j.Resources.CPUs != 2 || j.MaxRestarts != 1 || j.Tags["team"] != "cv" || j.Env["A"] != "1" {
				t.Fatalf("trial job = %+v", j.JobSpec)
			}
			for k, want := range map[string]string{
				sweep.EnvSweepID: v.ID, sweep.EnvTrial: strconv.Itoa(n), sweep.EnvMetric: "loss", sweep.EnvUntil: "0",
				sweep.EnvCheckpointDir: filepath.Join(r.dir, "ckpt", v.ID, "trial-"+strconv.Itoa(n)), sweep.EnvSegment: "1",
			} {
				if j.Env[k] != want {
					t.Errorf("env %s = %q, want %q", k, j.Env[k], want)
				}
			}
			if j.Env[sweep.EnvRestoreDir] != "" {
				t.Errorf("a fresh trial restores from %q", j.Env[sweep.EnvRestoreDir])
			}
			if !strings.Contains(j.Env[sweep.EnvConfig], `"x":`) {
				t.Errorf("%s = %q", sweep.EnvConfig, j.Env[sweep.EnvConfig])
			}
			run, err := r.store.Run(ctx, j.ID)
			if err != nil || run.Config["x"] != x || run.Tags[trainyard.TagSweep] != v.ID {
				t.Fatalf("trial run = %+v, %v", run, err)
			}
		}
		r.jobs.start(j)
		r.report(j.ID, 1, x*x+1)
		r.report(j.ID, 2, x*x)
		if x*x < best {
			best, bestN = x*x, n
		}
		r.jobs.exit(j, 0)
	}
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if v.Counts["COMPLETED"] != 6 || len(v.Trials) != 6 {
		t.Fatalf("trials: %s", trialStates(v))
	}
	for _, tr := range v.Trials {
		if len(tr.Jobs) != 1 || tr.Step != 2 || tr.Results != 2 || tr.JobState != trainyard.StateSucceeded || tr.EndedAt.IsZero() {
			t.Errorf("trial %d = %+v", tr.Number, tr)
		}
	}
	if r.jobs.maxActive > 2 {
		t.Errorf("%d jobs at once; parallel is 2", r.jobs.maxActive)
	}
	if v.BestTrial != bestN || v.BestValue == nil || float64(*v.BestValue) != best {
		t.Errorf("best trial %d (%v), want %d (%v)", v.BestTrial, v.BestValue, bestN, best)
	}
}

// Promotion-based ASHA: a trial pauses at its rung, exits, and when
// promoted runs again as a new job that restores from its own checkpoint
// at the step it paused; no result is counted twice.
func TestASHAPausesAndResumesFromOwnCheckpoint(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
early_stopping: {name: asha, min_steps: 1, eta: 3, mode: promote}
max_steps: 9
max_trials: 9
parallel: 3
seed: 1
`)
	resumed := 0
	for r.get(v.ID).State == trainyard.SweepRunning {
		js := r.jobs.jobs(t, trainyard.StateQueued)
		if len(js) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		j := js[0]
		n := trialOf(j)
		until, _ := strconv.Atoi(j.Env[sweep.EnvUntil])
		from := 0
		if j.Tags[trainyard.TagSegment] != "1" {
			resumed++
			own := filepath.Join(r.dir, "ckpt", v.ID, "trial-"+strconv.Itoa(n))
			if j.Env[sweep.EnvRestoreDir] != own {
				t.Fatalf("trial %d resumes from %q, not its own %q", n, j.Env[sweep.EnvRestoreDir], own)
			}
			from, _ = strconv.Atoi(j.Env[sweep.EnvRestoreStep])
		}
		if until <= from {
			t.Fatalf("trial %d runs from step %d to %d", n, from, until)
		}
		r.jobs.start(j)
		x := j.Config["x"].(float64)
		for s := from + 1; s <= until; s++ {
			r.report(j.ID, s, x+1/float64(s))
		}
		r.jobs.exit(j, 0)
	}
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if resumed == 0 {
		t.Fatal("no trial was resumed")
	}
	full := 0
	for _, tr := range v.Trials {
		if tr.Results != tr.Step {
			t.Errorf("trial %d: %d results accepted up to step %d: a result was counted twice or lost", tr.Number, tr.Results, tr.Step)
		}
		if tr.Step == 9 {
			full++
		}
		for seg := 1; seg <= tr.Segment; seg++ {
			if n := len(r.runsOf(v.ID, tr.Number, seg)); n != 1 {
				t.Errorf("trial %d segment %d ran %d times", tr.Number, seg, n)
			}
		}
	}
	if full == 0 {
		t.Errorf("no trial reached max_steps: %s", trialStates(v))
	}
}

// A failed job is retried in a new segment while the trial's failures
// (its job's own restarts included) are within max_restarts; a job lost
// with its node is retried even with none left; then the trial fails.
func TestFailedAndLostTrialsAreRetried(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
max_trials: 2
parallel: 1
max_restarts: 1
`)
	// Trial 1 fails once, then completes.
	j := r.waitJob(trainyard.StateQueued)
	r.jobs.start(j)
	r.jobs.exit(j, 1)
	j = r.waitJob(trainyard.StateQueued)
	if trialOf(j) != 1 || j.Tags[trainyard.TagSegment] != "2" || j.MaxRestarts != 0 {
		t.Fatalf("retry of trial 1 = trial %d segment %s max_restarts %d", trialOf(j), j.Tags[trainyard.TagSegment], j.MaxRestarts)
	}
	r.jobs.start(j)
	r.report(j.ID, 1, 0.5)
	r.jobs.exit(j, 0)
	// Trial 2: its node is lost (no exit code), then its job restarts in
	// place and fails: two failures, more than max_restarts.
	j = r.waitJob(trainyard.StateQueued)
	if trialOf(j) != 2 {
		t.Fatalf("next job is of trial %d", trialOf(j))
	}
	r.jobs.start(j)
	r.jobs.lose(j)
	j = r.waitJob(trainyard.StateQueued)
	if trialOf(j) != 2 || j.Tags[trainyard.TagSegment] != "2" || j.MaxRestarts != 1 {
		t.Fatalf("retry of lost trial 2 = trial %d segment %s max_restarts %d", trialOf(j), j.Tags[trainyard.TagSegment], j.MaxRestarts)
	}
	r.eventually("trial 2 queued again after the lost node", func() bool {
		tr := r.get(v.ID).Trials[1]
		return tr.State == trainyard.TrialQueued && strings.Contains(tr.Reason, "lost")
	})
	r.jobs.start(j)
	r.jobs.restart(j)
	r.eventually("trial 2 queued by its job's restart", func() bool {
		return strings.Contains(r.get(v.ID).Trials[1].Reason, "restart 1 of 1")
	})
	r.jobs.start(j)
	r.jobs.exit(j, 1)
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	t1, t2 := v.Trials[0], v.Trials[1]
	if t1.State != trainyard.TrialCompleted || t1.Failures != 1 || t1.Retries != 1 || len(t1.Jobs) != 2 {
		t.Errorf("trial 1 = %+v", t1)
	}
	if t2.State != trainyard.TrialFailed || t2.Lost != 1 || t2.Failures != 2 || t2.Retries != 1 || !strings.Contains(t2.Reason, "exit code 1") {
		t.Errorf("trial 2 = %+v", t2)
	}
}

// A trial the searcher stops is told so (the directive the SDK reads);
// if its job still runs StopGrace later, the job is canceled.
func TestStoppedTrialIsToldThenCanceled(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
early_stopping: {name: asha, min_steps: 1, eta: 3}
max_steps: 9
max_trials: 2
parallel: 1
`)
	j := r.waitJob(trainyard.StateQueued)
	r.jobs.start(j)
	for s := 1; s <= 9; s++ {
		r.report(j.ID, s, 0.1)
	}
	if d := r.svc.Directive(j.ID); d != "stop" {
		t.Errorf("directive of a trial at max_steps = %q, want stop", d)
	}
	r.jobs.exit(j, 0)
	j = r.waitJob(trainyard.StateQueued)
	r.jobs.start(j)
	if d := r.svc.Directive(j.ID); d != "" {
		t.Fatalf("directive of a fresh trial = %q", d)
	}
	r.report(j.ID, 1, 10) // far worse at the first rung: stopped
	if d := r.svc.Directive(j.ID); d != "stop" {
		t.Fatalf("directive after a losing report = %q, want stop", d)
	}
	if tr := r.get(v.ID).Trials[1]; tr.State != trainyard.TrialStopped || !strings.Contains(tr.Reason, "asha") {
		t.Fatalf("stopped trial = %+v", tr)
	}
	time.Sleep(20 * time.Millisecond) // ticks pass, but not StopGrace on the sweep's clock
	if js := r.jobs.jobs(t, trainyard.StateRunning); len(js) != 1 {
		t.Fatalf("the job was canceled before its grace period")
	}
	r.clk.add(2 * time.Minute)
	r.eventually("the job canceled after StopGrace", func() bool {
		jj, _ := r.store.Job(ctx, j.ID)
		return jj.State == trainyard.StateCanceled
	})
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if tr := v.Trials[1]; tr.State != trainyard.TrialStopped || tr.JobState != trainyard.StateCanceled {
		t.Fatalf("trial after its cancel = %+v", tr)
	}
}

// Pausing a sweep pauses its trials (a queued job is canceled at once, a
// running one told to pause); resuming submits them again from their own
// checkpoints.
func TestPauseAndResumeASweep(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
max_trials: 3
parallel: 2
`)
	r.eventually("two queued jobs", func() bool { return len(r.jobs.jobs(t, trainyard.StateQueued)) == 2 })
	a := r.jobs.jobs(t, trainyard.StateQueued)[0]
	r.jobs.start(a)
	r.report(a.ID, 1, 0.3)
	pv, err := r.svc.Pause(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pv.State != trainyard.SweepPaused {
		t.Fatalf("state after pause = %s", pv.State)
	}
	if d := r.svc.Directive(a.ID); d != "pause" {
		t.Fatalf("directive of the running trial = %q, want pause", d)
	}
	r.eventually("the queued job canceled", func() bool { return len(r.jobs.jobs(t, trainyard.StateQueued)) == 0 })
	r.jobs.exit(a, 0) // it saved its checkpoint and exited
	r.eventually("both trials paused", func() bool { return r.get(v.ID).Counts["PAUSED"] == 2 })
	time.Sleep(20 * time.Millisecond)
	if js := r.jobs.jobs(t, trainyard.StateQueued); len(js) != 0 {
		t.Fatalf("a paused sweep submitted %d jobs", len(js))
	}
	if _, err := r.svc.Pause(ctx, v.ID); err != nil {
		t.Fatalf("pausing a paused sweep: %v", err)
	}
	if _, err := r.svc.Resume(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	for done := 0; done < 3; done++ {
		j := r.waitJob(trainyard.StateQueued)
		n := trialOf(j)
		if n <= 2 && (j.Tags[trainyard.TagSegment] != "2" || !strings.HasSuffix(j.Env[sweep.EnvRestoreDir], "trial-"+strconv.Itoa(n))) {
			t.Fatalf("resumed trial %d: segment %s, restore from %q", n, j.Tags[trainyard.TagSegment], j.Env[sweep.EnvRestoreDir])
		}
		r.jobs.start(j)
		r.report(j.ID, 2, 0.2)
		r.jobs.exit(j, 0)
	}
	v = r.waitState(v.ID, trainyard.SweepCompleted)
	if v.Trials[0].Step != 2 || v.Trials[0].Results != 2 {
		t.Errorf("trial 1 after its resume = %+v", v.Trials[0])
	}
	if _, err := r.svc.Resume(ctx, v.ID); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Errorf("resuming a completed sweep: %v, want a conflict", err)
	}
}

// Stopping a sweep cancels its trials' jobs and ends it STOPPED.
func TestStopASweep(t *testing.T) {
	r := newRig(t)
	v := r.create(quadSpec)
	r.eventually("two queued jobs", func() bool { return len(r.jobs.jobs(t, trainyard.StateQueued)) == 2 })
	r.jobs.start(r.jobs.jobs(t, trainyard.StateQueued)[0])
	if _, err := r.svc.Stop(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	v = r.waitState(v.ID, trainyard.SweepStopped)
	if v.Counts["STOPPED"] != 2 || len(r.jobs.canceled) != 2 || v.EndedAt.IsZero() {
		t.Fatalf("after stop: %s, canceled %v", trialStates(v), r.jobs.canceled)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(r.get(v.ID).Trials); n != 2 {
		t.Fatalf("a stopped sweep started more trials: %d", n)
	}
}

// When the first trials all fail before reporting anything, the sweep
// fails rather than burning through max_trials.
func TestBrokenCommandFailsTheSweep(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, missing.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
max_trials: 50
parallel: 2
`)
	for i := 0; i < 3; i++ {
		j := r.waitJob(trainyard.StateQueued)
		if i == 2 { // the command cannot even start: a failure, not a lost node
			j.State = trainyard.StateRunning
			r.jobs.end(j, trainyard.StateFailed, nil, "could not start: exec: \"python\": not found")
			continue
		}
		r.jobs.start(j)
		r.jobs.exit(j, 2)
	}
	v = r.waitState(v.ID, trainyard.SweepFailed)
	if !strings.Contains(v.Reason, "the first 3 trials failed") || !strings.Contains(v.Reason, "could not start") || len(v.Trials) > 4 {
		t.Fatalf("failed sweep: %q with %d trials", v.Reason, len(v.Trials))
	}
}

// A crash right after a trial's job was stored, before the service
// recorded it: the restarted service finds the job by its tags and does not
// submit it again.
func TestCrashAfterSubmitFindsTheJob(t *testing.T) {
	for _, before := range []bool{false, true} {
		name := "after the job was stored"
		if before {
			name = "before the job was stored"
		}
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			if before {
				r.jobs.beforeSubmit = r.jobs.crashHere
			} else {
				r.jobs.afterSubmit = func(*trainyard.Job) { r.jobs.crashHere() }
			}
			v := r.create(strings.Replace(quadSpec, "parallel: 2", "parallel: 1", 1))
			r.eventually("the crash", func() bool { return r.jobs.crashed() })
			r.close()
			r.open()
			j := r.waitJob(trainyard.StateQueued)
			if trialOf(j) != 1 {
				t.Fatalf("first job after the restart is of trial %d", trialOf(j))
			}
			for done := 0; done < 6; done++ {
				if done > 0 {
					j = r.waitJob(trainyard.StateQueued)
				}
				r.jobs.start(j)
				r.report(j.ID, 1, 0.5)
				r.jobs.exit(j, 0)
			}
			v = r.waitState(v.ID, trainyard.SweepCompleted)
			for _, tr := range v.Trials {
				if n := len(r.runsOf(v.ID, tr.Number, 1)); n != 1 || len(tr.Jobs) != 1 {
					t.Errorf("trial %d ran %d times (jobs %v)", tr.Number, n, tr.Jobs)
				}
			}
		})
	}
}

// Reports that led to no decision are committed a tick later; a crash
// before then loses nothing: the restarted service reads them from the
// trial's metric series, and counts none twice.
func TestReportsSurviveACrashBeforeTheirCommit(t *testing.T) {
	r := newRig(t)
	v := r.create(`command: [python, t.py]
metric: loss
parameters: {x: {min: 0.0, max: 1.0}}
early_stopping: {name: median, startup_trials: 100}
max_steps: 20
max_trials: 2
parallel: 1
`)
	j := r.waitJob(trainyard.StateQueued)
	r.jobs.start(j)
	for s := 1; s <= 5; s++ {
		r.report(j.ID, s, 1/float64(s))
	}
	r.eventually("the reports committed", func() bool { return r.get(v.ID).Trials[0].Results == 5 })
	r.svc.Close() // stops the ticks: later reports wait for a commit
	for s := 6; s <= 8; s++ {
		sp := trainyard.SeriesPoints{Key: "loss", Steps: []int64{int64(s)}, Values: []float64{1 / float64(s)}, Times: []int64{1}}
		if _, err := r.tracking.AppendMetrics(ctx, j.ID, "", []trainyard.SeriesPoints{sp}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.get(v.ID).Trials[0].Results; got != 5 {
		t.Fatalf("%d results committed before the crash; the test wants 5", got)
	}
	r.store.Close()
	r.svc = nil
	r.open()
	r.eventually("the reports read back after the restart", func() bool {
		tr := r.get(v.ID).Trials[0]
		return tr.Results == 8 && tr.Step == 8
	})
	// The same steps reported again (a restarted process replays them)
	// are not counted twice.
	for s := 1; s <= 8; s++ {
		r.report(j.ID, s, 9)
	}
	r.report(j.ID, 9, 0.1)
	r.eventually("step 9", func() bool { return r.get(v.ID).Trials[0].Step == 9 })
	if tr := r.get(v.ID).Trials[0]; tr.Results != 9 || float64(*tr.Value) != 0.1 {
		t.Fatalf("trial after replayed steps = %+v", tr)
	}
}
