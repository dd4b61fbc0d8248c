package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/sched"
	"github.com/trainyard/trainyard/sweepspec"
)

// View is a sweep as the API shows it: the stored sweep, what its spec
// says in brief, the count of its trials by state and, when asked for,
// the trials.
type View struct {
	*trainyard.Sweep
	Searcher  string             `json:"searcher"`          // grid, random, tpe, pbt or external
	Stopper   string             `json:"stopper,omitempty"` // asha, hyperband, median
	MaxTrials int                `json:"max_trials"`
	Parallel  int                `json:"parallel"`
	MaxSteps  int                `json:"max_steps,omitempty"`
	Counts    map[string]int     `json:"counts"` // trials by state
	Trials    []*trainyard.Trial `json:"trials,omitempty"`
}

func (s *Service) view(sw *trainyard.Sweep, trials []*trainyard.Trial, withTrials bool) (*View, error) {
	var spec sweepspec.Spec
	if err := json.Unmarshal(sw.Spec, &spec); err != nil {
		return nil, fmt.Errorf("decode the spec of sweep %s: %w", sw.ID, err)
	}
	v := &View{Sweep: sw, Searcher: spec.Search.Sampler, Stopper: spec.Search.Stopper, MaxTrials: spec.Search.MaxTrials,
		Parallel: max(1, spec.Search.Parallel), MaxSteps: spec.Search.MaxSteps, Counts: map[string]int{}}
	if v.Searcher == "" {
		v.Searcher = hpo.SamplerRandom
	}
	for _, t := range trials {
		v.Counts[string(t.State)]++
	}
	if withTrials {
		v.Trials = trials
	}
	return v, nil
}

// Create validates a sweep spec (trainyard's YAML or JSON, or W&B's YAML;
// source names it in errors), stores the sweep and starts it. Returns
// EINVALID naming file:line and field for a bad spec, EUNSATISFIABLE when
// no node can run a trial, and EINVALID when trials need jobs and this
// service runs none.
func (s *Service) Create(ctx context.Context, source string, body []byte) (*View, error) {
	if err := s.mustLead(); err != nil {
		return nil, err
	}
	spec, err := sweepspec.Parse(source, body)
	if err != nil {
		return nil, err
	}
	spec.Trial.Normalize()
	owner := trainyard.OwnerFrom(ctx)
	if err := s.allow(ctx, "create sweeps in", true, &trainyard.Sweep{Project: spec.Trial.Project, Owner: owner}); err != nil {
		return nil, err
	}
	managed := !spec.AskTell
	if managed {
		if s.cfg.Jobs == nil {
			return nil, trainyard.FieldError("command", "this server runs no jobs: leave command out for an ask/tell sweep")
		}
		info, err := s.cfg.Jobs.Executor(ctx)
		if err != nil {
			return nil, fmt.Errorf("ask the executor what it offers: %w", err)
		}
		if err := sched.Satisfiable(info.Nodes, sched.Pending{Request: spec.Trial.Resources, Nodes: spec.Trial.NodeCount(),
			Pool: spec.Trial.Pool, GPUType: spec.Trial.GPUType}); err != nil {
			return nil, err
		}
		if w := spec.Trial.Workdir; w != "" && w[0] != '/' {
			return nil, trainyard.FieldError("workdir", "%q must be an absolute path", w)
		}
	}
	var snap []byte
	if !spec.External() {
		eng, err := hpo.New(spec.Search)
		if err != nil {
			return nil, err
		}
		if snap, err = eng.Snapshot(); err != nil {
			return nil, err
		}
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode sweep spec: %w", err)
	}
	now := s.now()
	sw := &trainyard.Sweep{Name: spec.Name, Project: spec.Trial.Project, Owner: owner, State: trainyard.SweepRunning, Metric: spec.Metric.Name,
		Mode: string(spec.Metric.Mode), Managed: managed, Spec: specJSON, Snapshot: snap, CreatedAt: now, UpdatedAt: now}
	if sw.Mode == "" {
		sw.Mode = string(hpo.Min)
	}
	for attempt := 0; ; attempt++ {
		sw.ID = s.cfg.NewID()
		if spec.Name == "" {
			sw.Name = "sweep-" + sw.ID
			if managed && spec.Trial.Name != "" {
				sw.Name = spec.Trial.Name
			}
		}
		err := s.cfg.Store.CreateSweep(ctx, sw)
		if err == nil {
			break
		}
		if !trainyard.IsCode(err, trainyard.ECONFLICT) || attempt == 3 {
			return nil, err
		}
	}
	if err := s.load(ctx, sw); err != nil {
		s.mu.Lock()
		s.reload[sw.ID] = true
		s.mu.Unlock()
		s.log.Error("load a new sweep; will retry", "sweep", sw.ID, "err", err)
	}
	s.poke()
	s.audit(ctx, "sweep.create", sw)
	s.log.Info("sweep created", "sweep", sw.ID, "name", sw.Name, "owner", owner, "searcher", spec.Search.Sampler, "managed", managed)
	return s.view(sw, nil, false)
}

// Get returns a sweep with its trials. Returns ENOTFOUND.
func (s *Service) Get(ctx context.Context, id string) (*View, error) {
	sw, err := s.cfg.Store.Sweep(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, "read", false, sw); err != nil {
		return nil, err
	}
	trials, err := s.cfg.Store.Trials(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.view(sw, trials, true)
}

// List lists sweeps with their trial counts, newest first.
func (s *Service) List(ctx context.Context, f trainyard.SweepFilter) ([]*View, error) {
	sws, err := s.cfg.Store.Sweeps(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]*View, 0, len(sws))
	for _, sw := range sws {
		if s.allow(ctx, "read", false, sw) != nil {
			continue // a list shows what the caller may read
		}
		trials, err := s.cfg.Store.Trials(ctx, sw.ID)
		if err != nil {
			return nil, err
		}
		v, err := s.view(sw, trials, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// control runs fn on a live sweep under its lock, then commits and carries
// out what fn decided; verb words the change for Authorize, and action,
// unless "", names it in the audit log once it is stored. Returns
// ENOTFOUND for an unknown sweep and ECONFLICT for one that has ended.
func (s *Service) control(ctx context.Context, id, verb, action string, fn func(l *live) error) (*View, error) {
	if err := s.mustLead(); err != nil {
		return nil, err
	}
	if err := s.allowSweep(ctx, verb, true, id); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		l := s.liveSweep(id)
		if l == nil {
			sw, err := s.cfg.Store.Sweep(ctx, id)
			if err != nil {
				return nil, err
			}
			if sw.State.Active() && attempt < 3 {
				// Being loaded again after a failed write.
				s.reloadFailed()
				continue
			}
			return nil, trainyard.Errorf(trainyard.ECONFLICT, "sweep %s has ended (%s)", id, sw.State)
		}
		l.mu.Lock()
		if l.dead {
			l.mu.Unlock()
			continue
		}
		err := fn(l)
		if err == nil {
			if err = s.commit(l); err == nil {
				if s.effects(l) {
					s.commit(l)
				}
				l.poked = true
			}
		}
		sw := *l.sw
		trials := make([]*trainyard.Trial, 0, len(l.trials))
		for _, n := range l.numbers() {
			trials = append(trials, l.trials[n].Clone())
		}
		l.mu.Unlock()
		s.poke()
		if err != nil {
			return nil, err
		}
		if action != "" {
			s.audit(ctx, action, &sw)
		}
		return s.view(&sw, trials, true)
	}
}

// Pause pauses a running sweep: no trial starts, and the running ones are
// told to pause (checkpoint and exit; canceled after StopGrace); they are
// resumed from their checkpoints by Resume. Pausing a paused sweep is a
// no-op. Returns ECONFLICT for a sweep that is stopping or has ended.
func (s *Service) Pause(ctx context.Context, id string) (*View, error) {
	return s.control(ctx, id, "pause", "sweep.pause", func(l *live) error {
		switch l.sw.State {
		case trainyard.SweepPaused:
			return nil
		case trainyard.SweepRunning:
		default:
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s is %s; only a running sweep can be paused", id, l.sw.State)
		}
		l.sw.State, l.sw.Reason, l.swDirty = trainyard.SweepPaused, "paused", true
		for _, n := range l.numbers() {
			t := l.trials[n]
			if l.managed && l.holdsSlot(t) && (t.State == trainyard.TrialQueued || t.State == trainyard.TrialRunning) {
				t.Held = true
				s.stopTrial(l, t, "pause", "pausing with the sweep")
			}
		}
		return nil
	})
}

// Resume resumes a paused sweep: the trials paused with it are submitted
// again from their checkpoints, and the searcher goes on. Resuming a
// running sweep is a no-op. Returns ECONFLICT for one that is stopping or
// has ended.
func (s *Service) Resume(ctx context.Context, id string) (*View, error) {
	return s.control(ctx, id, "resume", "sweep.resume", func(l *live) error {
		switch l.sw.State {
		case trainyard.SweepRunning:
			return nil
		case trainyard.SweepPaused:
		default:
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s is %s; only a paused sweep can be resumed", id, l.sw.State)
		}
		l.sw.State, l.sw.Reason, l.swDirty = trainyard.SweepRunning, "", true
		now := s.now()
		for _, n := range l.numbers() {
			t := l.trials[n]
			if !t.Held || l.holdsSlot(t) {
				continue // one still stopping is resumed when its job ends
			}
			t.Held, t.Reason = false, "resumed with the sweep"
			s.launch(l, t, now)
			l.mark(t)
		}
		return nil
	})
}

// Stop stops a sweep for good: its trials' jobs are canceled (SIGTERM,
// then SIGKILL after the kill grace) and it is STOPPED once they ended.
// Stopping a stopping sweep is a no-op; an ended one is ECONFLICT.
func (s *Service) Stop(ctx context.Context, id string) (*View, error) {
	return s.control(ctx, id, "stop", "sweep.stop", func(l *live) error {
		if l.sw.State == trainyard.SweepStopping {
			return nil
		}
		s.stopAll(l, trainyard.SweepStopped, "stopped by request")
		s.checkEnd(l)
		return nil
	})
}

// SuggestRequest asks for trials: Count configurations from the searcher,
// or, for a sweep whose searcher is external, one trial with Config.
type SuggestRequest struct {
	Count  int            `json:"count,omitempty"`
	Config map[string]any `json:"config,omitempty"`
}

// Suggestion is the answer to Suggest: the trials started or resumed, and
// whether the searcher is done (nothing more will be suggested).
type Suggestion struct {
	Trials []*trainyard.Trial `json:"trials"`
	Done   bool               `json:"done"`
}

// MaxSuggest bounds the trials one Suggest asks for.
const MaxSuggest = 1000

// Suggest starts trials for a caller that runs them (ask/tell): from the
// searcher of a sweep without a command, or with the caller's own Config
// for a sweep whose searcher is external (then, if the sweep has a
// command, the trial runs as a job through the queue). A trial the
// searcher resumes (promotion) comes back with its Until raised. A
// completed sweep answers Done. Returns EINVALID naming the field, and
// ECONFLICT when the sweep is paused or stopped, or trainyard's searcher
// starts its trials itself.
func (s *Service) Suggest(ctx context.Context, id string, req SuggestRequest) (*Suggestion, error) {
	if err := s.mustLead(); err != nil {
		return nil, err
	}
	out := &Suggestion{Trials: []*trainyard.Trial{}}
	if sw, err := s.cfg.Store.Sweep(ctx, id); err != nil {
		return nil, err
	} else if err := s.allow(ctx, "ask for trials of", true, sw); err != nil {
		return nil, err
	} else if sw.State == trainyard.SweepCompleted {
		out.Done = true
		return out, nil
	}
	_, err := s.control(ctx, id, "ask for trials of", "", func(l *live) error {
		if l.sw.State != trainyard.SweepRunning {
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s is %s: it suggests nothing", id, l.sw.State)
		}
		if req.Config != nil {
			if l.eng != nil {
				return trainyard.FieldError("config", "sweep %s's searcher (%s) chooses the configurations; create the sweep with searcher: external to give your own", id, l.spec.Search.Sampler)
			}
			if err := validateConfig(req.Config); err != nil {
				return err
			}
			if mt := l.spec.Search.MaxTrials; mt > 0 && len(l.trials) >= mt {
				out.Done = true
				return nil
			}
			n := len(l.trials) + 1
			t := &trainyard.Trial{SweepID: l.sw.ID, Number: n, Config: req.Config, External: true, CreatedAt: s.now()}
			l.trials[n] = t
			s.launch(l, t, t.CreatedAt)
			l.mark(t)
			out.Trials = append(out.Trials, t)
			return nil
		}
		if l.eng == nil {
			return trainyard.FieldError("config", "is missing: sweep %s's searcher is external, so give the configuration to try", id)
		}
		if l.managed {
			return trainyard.Errorf(trainyard.ECONFLICT, "sweep %s starts its trials itself; suggest is for sweeps without a command (ask/tell) or with searcher: external", id)
		}
		count := req.Count
		if count == 0 {
			count = 1
		}
		if count < 0 || count > MaxSuggest {
			return trainyard.FieldError("count", "is %d; must be between 1 and %d", req.Count, MaxSuggest)
		}
		acts := l.eng.Next(s.now(), count)
		s.apply(l, acts)
		for _, a := range acts {
			switch a.Kind {
			case hpo.Start, hpo.Resume:
				out.Trials = append(out.Trials, l.trials[a.Trial])
			case hpo.Finish:
				out.Done = true
			}
		}
		s.checkEnd(l)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, t := range out.Trials {
		out.Trials[i] = t.Clone()
	}
	return out, nil
}

// Result is one reported value of a trial.
type Result struct {
	Step  int             `json:"step"`
	Value trainyard.Float `json:"value"`
}

// ReportRequest records results of a trial and, for a trial the caller
// runs, its end: State "completed" (it ran to its end) or "failed"
// (Reason says why).
type ReportRequest struct {
	Trial   int      `json:"trial"`
	Results []Result `json:"results,omitempty"`
	// Step and Value report one result (the same as one in Results).
	Step   *int             `json:"step,omitempty"`
	Value  *trainyard.Float `json:"value,omitempty"`
	State  string           `json:"state,omitempty"`
	Reason string           `json:"reason,omitempty"`
}

// Report records a trial's results (as the metric hook does for trials
// that run as jobs) and, for a trial run by the caller, its end. The
// answer carries the trial with its Directive: "stop" or "pause" when the
// searcher wants it to stop. Results at or below the last accepted step
// are ignored (a retried report is not counted twice). Returns EINVALID
// naming the field, ENOTFOUND for an unknown trial, and ECONFLICT for a
// state on a trial that runs as a job (its job's exit decides it).
func (s *Service) Report(ctx context.Context, id string, req ReportRequest) (*trainyard.Trial, error) {
	if err := s.mustLead(); err != nil {
		return nil, err
	}
	if req.Step != nil || req.Value != nil {
		if req.Step == nil || req.Value == nil {
			return nil, trainyard.FieldError("step", "step and value go together")
		}
		req.Results = append(req.Results, Result{Step: *req.Step, Value: *req.Value})
	}
	for i, r := range req.Results {
		if r.Step < 0 || r.Step > math.MaxInt32 {
			return nil, trainyard.FieldError(fmt.Sprintf("results[%d].step", i), "is %d; must be between 0 and %d", r.Step, math.MaxInt32)
		}
	}
	switch req.State {
	case "", "completed", "failed":
	default:
		return nil, trainyard.FieldError("state", "%q is not completed or failed", req.State)
	}
	if len(req.Results) == 0 && req.State == "" {
		return nil, trainyard.FieldError("results", "is empty: report results (step and value) or a state")
	}
	var out *trainyard.Trial
	_, err := s.control(ctx, id, "report results to", "", func(l *live) error {
		t := l.trials[req.Trial]
		if t == nil {
			return trainyard.Errorf(trainyard.ENOTFOUND, "sweep %s has no trial %d", id, req.Trial)
		}
		steps := make([]int64, len(req.Results))
		vals := make([]float64, len(req.Results))
		for i, r := range req.Results {
			steps[i], vals[i] = int64(r.Step), float64(r.Value)
		}
		s.feed(l, t, steps, vals)
		if req.State != "" {
			if l.managed {
				return trainyard.FieldError("state", "trial %d runs as a job, whose exit decides its state", t.Number)
			}
			s.endTrial(l, t, req.State, req.Reason)
		}
		s.syncState(l, t)
		s.checkEnd(l)
		out = t.Clone()
		return nil
	})
	return out, err
}

// endTrial records the end of a trial the caller ran.
func (s *Service) endTrial(l *live, t *trainyard.Trial, state, reason string) {
	now := s.now()
	if t.State.Terminal() {
		return
	}
	if l.eng != nil && !t.External {
		if state == "completed" {
			s.apply(l, l.eng.Complete(now, t.Number))
		} else {
			s.apply(l, l.eng.Fail(now, t.Number, reason))
		}
		l.swDirty = true
		if et, _ := l.eng.Trial(t.Number); et.State != hpo.Running {
			s.syncState(l, t)
			l.mark(t)
			return
		}
	}
	t.State, t.Reason, t.EndedAt = trainyard.TrialCompleted, reason, now
	if state == "failed" {
		t.State = trainyard.TrialFailed
	}
	l.mark(t)
}

// validateConfig checks the keys of a configuration given by the caller,
// as a run's config keys are checked.
func validateConfig(cfg map[string]any) error {
	var errs []error
	for _, k := range trainyard.SortedKeys(trainyard.FlattenConfig(cfg)) {
		if err := trainyard.ValidateKey("config", k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
