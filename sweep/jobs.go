package sweep

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
)

// onJob applies a change of a trial's job. Changes of jobs of earlier
// segments, and changes already applied, are ignored. Called with l.mu
// held.
func (s *Service) onJob(l *live, j *trainyard.Job) {
	n, err1 := strconv.Atoi(j.Tags[trainyard.TagTrial])
	seg, err2 := strconv.Atoi(j.Tags[trainyard.TagSegment])
	t := l.trials[n]
	if err1 != nil || err2 != nil || t == nil || seg != t.Segment || !l.managed {
		return
	}
	switch {
	case len(t.Jobs) == seg-1 && t.Pending == trainyard.PendingSubmit:
		// The job of a submission not yet recorded (its change came first,
		// or the server restarted in between).
		t.Jobs, t.Pending = append(t.Jobs, j.ID), ""
		l.mark(t)
		if t.Directive != "" {
			t.Pending = trainyard.PendingCancel
		}
	case t.Job() != j.ID:
		s.log.Warn("a second job for one trial segment; ignoring it", "sweep", l.sw.ID, "trial", n, "segment", seg, "job", j.ID, "recorded", t.Job())
		return
	}
	if v, ok := l.jobVer[j.ID]; ok && j.Version <= v {
		return // a change handled already, or older than one handled
	}
	l.jobVer[j.ID] = j.Version
	if t.JobState.Terminal() {
		return // its end was handled
	}
	if t.JobState != j.State {
		t.JobState = j.State
		l.mark(t)
	}
	switch {
	case j.State == trainyard.StateQueued && j.Restarts > 0:
		t.Reason = j.Reason // the job's own restart: "restart 1 of 2 after exit code 1"
		l.mark(t)
		s.register(l, t)
	case !j.State.Terminal():
		s.register(l, t)
	default:
		s.jobEnded(l, t, j)
	}
	s.syncState(l, t)
}

// jobEnded handles the end of a trial's current job: its last reports are
// read, then the trial completes, fails, is retried, or keeps the state the
// searcher gave it.
func (s *Service) jobEnded(l *live, t *trainyard.Trial, j *trainyard.Job) {
	now := s.now()
	s.ingest(l, t, j.ID)
	s.unregister(l, j.ID)
	delete(l.deadline, t.Number)
	if t.Pending == trainyard.PendingCancel {
		t.Pending = ""
	}
	t.Directive = ""
	l.mark(t)
	running := t.State != trainyard.TrialPaused && !t.State.Terminal()
	if l.eng != nil && !t.External {
		et, _ := l.eng.Trial(t.Number)
		running = et.State == hpo.Running
	}
	switch {
	case !running:
		return // the searcher stopped, paused or completed it: syncState says which
	case t.Held:
		if l.sw.State == trainyard.SweepRunning { // resumed meanwhile
			t.Held = false
			t.Reason = "resumed with the sweep"
			s.launch(l, t, now)
			return
		}
		t.State, t.Reason = trainyard.TrialPaused, "paused with the sweep"
		return
	case l.sw.State == trainyard.SweepStopping || l.sw.State == trainyard.SweepStopped || l.sw.State == trainyard.SweepFailed:
		t.State, t.Reason, t.EndedAt = trainyard.TrialStopped, "the sweep was stopped", now
		return
	case j.State == trainyard.StateSucceeded:
		if l.eng != nil && !t.External {
			s.apply(l, l.eng.Complete(now, t.Number))
			l.swDirty = true
		} else {
			t.State, t.Reason, t.EndedAt = trainyard.TrialCompleted, "", now
		}
		return
	}
	// FAILED or CANCELED by someone else: retry, or give up.
	// Lost: it ran (the engine knew it by an id) and ended without an exit
	// status, as when its node or its supervisor vanished. One that never
	// started (no id) failed like any other.
	lost := j.State == trainyard.StateFailed && j.ExitCode == nil && j.BackendID != ""
	why := j.Reason
	if j.State == trainyard.StateCanceled {
		why = "its job was canceled"
	}
	retry := false
	switch {
	case j.State == trainyard.StateCanceled:
	case lost:
		t.Lost++
		retry = t.Lost <= MaxLostRetries
		why = "lost: " + why
	default:
		t.Failures += j.Restarts + 1
		retry = t.Failures <= l.spec.Trial.MaxRestarts
	}
	if retry {
		t.Retries++
		t.Reason = fmt.Sprintf("retry %d after %s", t.Retries, why)
		s.launch(l, t, now)
		return
	}
	if l.eng != nil && !t.External {
		s.apply(l, l.eng.Fail(now, t.Number, why))
		l.swDirty = true
	}
	t.State, t.Reason, t.EndedAt = trainyard.TrialFailed, why, now
}

// advance moves a sweep on: stop deadlines, the time budget, new trials
// for free slots, the end of the sweep; then it commits and carries out
// what was decided. Called with l.mu held.
func (s *Service) advance(l *live, ticked bool) {
	now := s.now()
	if ticked {
		for n, at := range l.deadline {
			t := l.trials[n]
			if t != nil && !now.Before(at) && l.holdsSlot(t) && t.Pending == "" {
				t.Pending = trainyard.PendingCancel
				t.Reason += fmt.Sprintf(" (canceled: it did not stop within %s)", s.cfg.StopGrace)
				l.mark(t)
				delete(l.deadline, n)
			}
		}
		if l.eng != nil && l.sw.State == trainyard.SweepRunning {
			if acts := l.eng.Tick(now); len(acts) > 0 {
				s.apply(l, acts)
			}
		}
	}
	s.checkFailing(l)
	if l.sw.State == trainyard.SweepRunning && l.managed && l.eng != nil && !l.eng.Done() {
		if free := l.parallel - l.busy(); free > 0 {
			// Never Next(now, 0): with nothing running it would decide a
			// start it cannot hand out.
			s.apply(l, l.eng.Next(now, free))
		}
	}
	s.checkEnd(l)
	if s.commit(l) != nil {
		return
	}
	if s.effects(l) {
		s.commit(l)
	}
	if !l.sw.State.Active() {
		s.drop(l, false)
	}
}

// checkFailing fails the sweep when its first trials all failed before
// any result: the command or the environment is broken.
func (s *Service) checkFailing(l *live) {
	if l.sw.State != trainyard.SweepRunning || !l.managed {
		return
	}
	limit := max(3, l.parallel)
	failed, last := 0, ""
	for _, n := range l.numbers() {
		t := l.trials[n]
		if t.Results > 0 || t.State == trainyard.TrialCompleted {
			return
		}
		if t.State == trainyard.TrialFailed {
			failed++
			last = fmt.Sprintf("trial %d: %s", n, t.Reason)
		}
	}
	if failed >= limit {
		s.stopAll(l, trainyard.SweepFailed, fmt.Sprintf("the first %d trials failed before reporting %s; the last: %s", failed, l.metric, last))
	}
}

// checkEnd ends the sweep once the searcher is done (or it is stopping)
// and no trial holds a slot any more.
func (s *Service) checkEnd(l *live) {
	if l.busy() > 0 {
		return
	}
	now := s.now()
	switch {
	case l.sw.State == trainyard.SweepStopping:
		l.sw.State = trainyard.SweepStopped
		if l.sw.Reason == "" {
			l.sw.Reason = "stopped"
		}
	case l.sw.State == trainyard.SweepRunning && l.managed && l.eng != nil && l.eng.Done():
		l.sw.State, l.sw.Reason = trainyard.SweepCompleted, "completed"
	case l.sw.State == trainyard.SweepRunning && !l.managed && l.allEnded():
		l.sw.State, l.sw.Reason = trainyard.SweepCompleted, "completed"
	case l.sw.State == trainyard.SweepRunning && l.managed && l.eng == nil && l.allEnded():
		l.sw.State, l.sw.Reason = trainyard.SweepCompleted, "completed"
	default:
		return
	}
	l.sw.EndedAt = now
	l.swDirty = true
	for _, t := range l.trials {
		if !t.State.Terminal() {
			t.State, t.EndedAt, t.Reason = trainyard.TrialStopped, now, "the sweep ended"
			l.mark(t)
		}
	}
}

// stopAll ends the sweep in state st: every trial's job is canceled and
// the sweep is STOPPING until they have ended. Called with l.mu held.
func (s *Service) stopAll(l *live, st trainyard.SweepState, reason string) {
	now := s.now()
	l.sw.State, l.sw.Reason = trainyard.SweepStopping, reason
	if st == trainyard.SweepFailed {
		l.sw.State = trainyard.SweepFailed
		l.sw.EndedAt = now
	}
	l.swDirty = true
	for _, t := range l.trials {
		t.Held = false
		switch {
		case t.State.Terminal():
			continue
		case l.holdsSlot(t):
			l.setDirective(t, "stop")
			if t.Pending != trainyard.PendingSubmit {
				t.Pending = trainyard.PendingCancel
			}
		default:
			t.Directive = ""
		}
		t.State, t.Reason, t.EndedAt = trainyard.TrialStopped, "the sweep was stopped", now
		l.mark(t)
	}
}

// effects carries out the trials' pending submissions and cancellations
// after they were committed. It reports whether it changed a trial.
func (s *Service) effects(l *live) bool {
	if !l.managed {
		return false
	}
	changed := false
	var cancel []string
	var canceled []*trainyard.Trial
	for _, n := range l.numbers() {
		t := l.trials[n]
		switch t.Pending {
		case trainyard.PendingSubmit:
			if s.cfg.Jobs == nil {
				continue
			}
			if t.Directive != "" && t.State.Terminal() {
				// Stopped before it was ever submitted.
				t.Pending, t.Segment = "", len(t.Jobs)
				l.mark(t)
				changed = true
				continue
			}
			spec, err := s.trialJob(l, t)
			var j *trainyard.Job
			if err == nil {
				j, err = s.cfg.Jobs.Submit(s.asOwner(l.sw), spec)
			}
			if err != nil {
				code := trainyard.ErrorCode(err)
				if code == trainyard.EINVALID || code == trainyard.EUNSATISFIABLE {
					s.stopAll(l, trainyard.SweepFailed, fmt.Sprintf("trial %d cannot be submitted: %s", n, trainyard.ErrorMessage(err)))
					return true
				}
				s.log.Warn("submit a trial's job; will retry", "sweep", l.sw.ID, "trial", n, "err", err)
				continue
			}
			t.Jobs, t.Pending, t.JobState = append(t.Jobs, j.ID), "", j.State
			l.jobVer[j.ID] = j.Version
			s.register(l, t)
			if t.Directive != "" {
				t.Pending = trainyard.PendingCancel
			}
			l.mark(t)
			changed = true
		}
		if t.Pending == trainyard.PendingCancel && t.Job() != "" {
			cancel = append(cancel, t.Job())
			canceled = append(canceled, t)
		}
	}
	if len(cancel) > 0 && s.cfg.Jobs != nil {
		if _, err := s.cfg.Jobs.CancelMany(s.ctx, cancel); err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			s.log.Warn("cancel trials' jobs; will retry", "sweep", l.sw.ID, "err", err)
		} else {
			for _, t := range canceled {
				t.Pending = ""
				l.mark(t)
			}
			changed = true
		}
	}
	return changed
}

// Environment variables a trial's job gets (besides the job's own).
const (
	EnvSweepID        = "TRAINYARD_SWEEP_ID"
	EnvTrial          = "TRAINYARD_TRIAL"
	EnvSegment        = "TRAINYARD_TRIAL_SEGMENT"
	EnvMetric         = "TRAINYARD_SWEEP_METRIC"
	EnvUntil          = "TRAINYARD_TRIAL_UNTIL"
	EnvConfig         = "TRAINYARD_TRIAL_CONFIG"
	EnvCheckpointDir  = "TRAINYARD_CHECKPOINT_DIR"
	EnvRestoreDir     = "TRAINYARD_RESTORE_DIR"
	EnvRestoreStep    = "TRAINYARD_RESTORE_STEP"
	maxTrialNameBytes = trainyard.MaxNameLen
)

// CheckpointDir is where trial n of a sweep saves its checkpoints.
func (s *Service) CheckpointDir(sweepID string, n int) string {
	return filepath.Join(s.cfg.CheckpointDir, sweepID, "trial-"+strconv.Itoa(n))
}

// trialJob is the job of the trial's current segment: the sweep's trial
// job with the trial's command, config, tags and environment.
func (s *Service) trialJob(l *live, t *trainyard.Trial) (trainyard.JobSpec, error) {
	spec := l.spec.Trial
	cmd, err := l.spec.TrialCommand(hpo.Config(t.Config))
	if err != nil {
		return spec, trainyard.FieldError("command", "%v", err)
	}
	spec.Command = cmd
	spec.Name = fmt.Sprintf("%s #%d", l.sw.Name, t.Number)
	if len(spec.Name) > maxTrialNameBytes {
		spec.Name = spec.Name[len(spec.Name)-maxTrialNameBytes:]
	}
	spec.Project = l.sw.Project
	spec.Config = t.Config
	spec.MaxRestarts = max(0, l.spec.Trial.MaxRestarts-t.Failures)
	spec.Tags = map[string]string{}
	for k, v := range l.spec.Trial.Tags {
		spec.Tags[k] = v
	}
	spec.Tags[trainyard.TagSweep] = l.sw.ID
	spec.Tags[trainyard.TagTrial] = strconv.Itoa(t.Number)
	spec.Tags[trainyard.TagSegment] = strconv.Itoa(t.Segment)
	cfg, err := json.Marshal(t.Config)
	if err != nil {
		return spec, fmt.Errorf("encode the config of trial %d: %w", t.Number, err)
	}
	spec.Env = map[string]string{}
	for k, v := range l.spec.Trial.Env {
		spec.Env[k] = v
	}
	spec.Env[EnvSweepID] = l.sw.ID
	spec.Env[EnvTrial] = strconv.Itoa(t.Number)
	spec.Env[EnvSegment] = strconv.Itoa(t.Segment)
	spec.Env[EnvMetric] = l.metric
	spec.Env[EnvUntil] = strconv.Itoa(t.Until)
	spec.Env[EnvConfig] = string(cfg)
	spec.Env[EnvCheckpointDir] = s.CheckpointDir(l.sw.ID, t.Number)
	switch {
	case t.Segment > 1: // a resume or a retry: from its own checkpoints
		spec.Env[EnvRestoreDir] = s.CheckpointDir(l.sw.ID, t.Number)
		spec.Env[EnvRestoreStep] = strconv.Itoa(t.Step)
	case t.From > 0: // PBT's exploit: from another trial's
		spec.Env[EnvRestoreDir] = s.CheckpointDir(l.sw.ID, t.From)
		spec.Env[EnvRestoreStep] = strconv.Itoa(t.FromStep)
	}
	return spec, nil
}

// allEnded reports whether a sweep that the searcher does not end by
// itself (ask/tell, external) is over: max_trials trials started and all
// ended (or, for the searcher's ask/tell, the searcher said so).
func (l *live) allEnded() bool {
	if l.eng != nil && l.eng.Done() {
		return true
	}
	mt := l.spec.Search.MaxTrials
	if mt <= 0 || len(l.trials) < mt {
		return false
	}
	for _, t := range l.trials {
		if !t.State.Terminal() {
			return false
		}
	}
	return true
}
