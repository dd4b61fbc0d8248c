package sweep

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/hpo"
	"github.com/trainyard/trainyard/sweepspec"
)

// live is an active sweep in memory. Every field is guarded by mu; the
// fields set at load (spec, metric, managed, parallel) never change.
type live struct {
	mu sync.Mutex

	sw       *trainyard.Sweep // as stored: its Version is the store's
	spec     *sweepspec.Spec
	eng      *hpo.Engine // nil for an external searcher
	metric   string
	managed  bool
	parallel int

	trials   map[int]*trainyard.Trial
	dirty    map[int]bool // trials changed since the last commit
	swDirty  bool         // the sweep's fields or the engine changed
	refs     map[string]*runRef
	deadline map[int]time.Time // trial → when its job is canceled if it still runs
	jobVer   map[string]int64  // the version of each job's last change handled

	poked bool // something happened: advance at the next turn of the loop
	dead  bool // dropped from the service: ignore
}

// runRef is the metric hook's view of a trial's current job.
type runRef struct {
	l         *live
	trial     int
	directive atomic.Value // string
}

// load builds a live sweep from the store and catches up with what
// happened while it was not followed: pending submissions and
// cancellations, its jobs' states, and reports.
func (s *Service) load(ctx context.Context, sw *trainyard.Sweep) error {
	var spec sweepspec.Spec
	if err := json.Unmarshal(sw.Spec, &spec); err != nil {
		return fmt.Errorf("decode the spec of sweep %s: %w", sw.ID, err)
	}
	l := &live{sw: sw, spec: &spec, metric: sw.Metric, managed: sw.Managed, parallel: max(1, spec.Search.Parallel),
		trials: map[int]*trainyard.Trial{}, dirty: map[int]bool{}, refs: map[string]*runRef{},
		deadline: map[int]time.Time{}, jobVer: map[string]int64{}}
	if !spec.External() {
		var err error
		if len(sw.Snapshot) == 0 {
			l.eng, err = hpo.New(spec.Search)
		} else {
			l.eng, err = hpo.Restore(spec.Search, sw.Snapshot)
		}
		if err != nil {
			return fmt.Errorf("restore the searcher of sweep %s: %w", sw.ID, err)
		}
	}
	trials, err := s.cfg.Store.Trials(ctx, sw.ID)
	if err != nil {
		return err
	}
	for _, t := range trials {
		l.trials[t.Number] = t
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s.mu.Lock()
	if old := s.sweeps[sw.ID]; old != nil {
		s.mu.Unlock()
		return nil // loaded already
	}
	s.sweeps[sw.ID] = l
	s.mu.Unlock()
	s.catchUp(ctx, l)
	l.poked = true
	return nil
}

// catchUp brings a freshly loaded sweep up to date. Called with l.mu held.
func (s *Service) catchUp(ctx context.Context, l *live) {
	for _, n := range l.numbers() {
		t := l.trials[n]
		if t.Pending == trainyard.PendingSubmit && len(t.Jobs) < t.Segment {
			// Submitted before the crash? Then its job has our tags.
			if id, err := s.findJob(ctx, l, t); err != nil {
				s.log.Warn("look for a trial's job", "sweep", l.sw.ID, "trial", n, "err", err)
			} else if id != "" {
				t.Jobs, t.Pending = append(t.Jobs, id), ""
				l.mark(t)
				s.log.Info("found the job of a trial submitted before a restart", "sweep", l.sw.ID, "trial", n, "job", id)
			}
		}
		id := t.Job()
		if id == "" || len(t.Jobs) < t.Segment || !l.managed {
			continue
		}
		if t.JobState.Terminal() && t.Pending != trainyard.PendingCancel {
			continue
		}
		j, err := s.cfg.Jobs.Job(ctx, id)
		if err != nil {
			s.log.Warn("read a trial's job", "sweep", l.sw.ID, "trial", n, "job", id, "err", err)
			continue
		}
		s.onJob(l, j)
		if !j.State.Terminal() {
			s.register(l, t)
			s.ingest(l, t, id)
		}
	}
	s.commit(l)
}

// findJob looks for the job of the trial's current segment by its tags.
func (s *Service) findJob(ctx context.Context, l *live, t *trainyard.Trial) (string, error) {
	sweep, trial, seg := l.sw.ID, strconv.Itoa(t.Number), strconv.Itoa(t.Segment)
	tag := func(key, value string) trainyard.RunClause {
		return trainyard.RunClause{Kind: trainyard.RunTag, Key: key, Op: "=", Str: value}
	}
	runs, _, err := s.cfg.Store.SearchRuns(ctx, trainyard.RunSearch{
		Projects: []string{l.sw.Project}, View: trainyard.ViewAll, Limit: 2,
		Filter: []trainyard.RunClause{tag(trainyard.TagSweep, sweep), tag(trainyard.TagTrial, trial), tag(trainyard.TagSegment, seg),
			{Kind: trainyard.RunAttribute, Key: trainyard.AttrJobID, Op: "!=", Str: ""}},
	})
	if err != nil || len(runs) == 0 {
		return "", err
	}
	return runs[0].JobID, nil
}

func (l *live) numbers() []int {
	ns := make([]int, 0, len(l.trials))
	for n := range l.trials {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

func (l *live) mark(t *trainyard.Trial) { l.dirty[t.Number] = true }

// busy counts the trials that hold (or are about to hold) a slot: a job
// submitted or to be submitted that has not ended.
func (l *live) busy() int {
	n := 0
	for _, t := range l.trials {
		if l.holdsSlot(t) {
			n++
		}
	}
	return n
}

func (l *live) holdsSlot(t *trainyard.Trial) bool {
	if !l.managed {
		return false
	}
	if t.Pending == trainyard.PendingSubmit {
		return true
	}
	return len(t.Jobs) > 0 && len(t.Jobs) == t.Segment && !t.JobState.Terminal()
}

// register points the metric hook at the trial's current job.
func (s *Service) register(l *live, t *trainyard.Trial) {
	id := t.Job()
	if id == "" {
		return
	}
	ref := l.refs[id]
	if ref == nil {
		ref = &runRef{l: l, trial: t.Number}
		ref.directive.Store(t.Directive)
		l.refs[id] = ref
	}
	s.runs.Store(id, ref)
}

func (s *Service) unregister(l *live, id string) {
	if ref := l.refs[id]; ref != nil {
		s.runs.CompareAndDelete(id, ref)
		delete(l.refs, id)
	}
}

// setDirective records what the trial's code is asked to do and tells the
// metric hook's answers.
func (l *live) setDirective(t *trainyard.Trial, d string) {
	if t.Directive != d {
		t.Directive = d
		l.mark(t)
	}
	if ref := l.refs[t.Job()]; ref != nil {
		ref.directive.Store(d)
	}
}

// commit writes the sweep (with the engine's snapshot) and its changed
// trials in one transaction. On failure the sweep is dropped, to be loaded
// again from the store: nothing decided since the last commit was acted on.
func (s *Service) commit(l *live) error {
	if !l.swDirty && len(l.dirty) == 0 {
		return nil
	}
	sw := *l.sw
	if l.eng != nil {
		snap, err := l.eng.Snapshot()
		if err != nil {
			s.log.Error("snapshot a searcher", "sweep", sw.ID, "err", err)
			s.drop(l, true)
			return err
		}
		sw.Snapshot = snap
	}
	s.best(l, &sw)
	sw.UpdatedAt = s.now()
	trials := make([]*trainyard.Trial, 0, len(l.dirty))
	for n := range l.dirty {
		t := l.trials[n]
		t.UpdatedAt = sw.UpdatedAt
		trials = append(trials, t.Clone())
	}
	sort.Slice(trials, func(a, b int) bool { return trials[a].Number < trials[b].Number })
	if err := s.cfg.Store.UpdateSweep(context.Background(), &sw, trials...); err != nil {
		s.log.Error("record a sweep's decisions; reloading it", "sweep", sw.ID, "err", err)
		s.drop(l, true)
		return err
	}
	l.sw = &sw
	l.swDirty = false
	clear(l.dirty)
	return nil
}

// best sets the sweep's best trial: the searcher's (the completed trial
// with the best final value) or, for an external searcher, the same over
// the trials it recorded.
func (s *Service) best(l *live, sw *trainyard.Sweep) {
	if l.eng != nil {
		if b, ok := l.eng.Best(); ok {
			v, _ := b.Value()
			f := trainyard.Float(v)
			sw.BestTrial, sw.BestValue = b.ID, &f
		}
		return
	}
	for _, t := range l.trials {
		if t.State != trainyard.TrialCompleted || t.Value == nil {
			continue
		}
		if sw.BestValue == nil || l.better(float64(*t.Value), float64(*sw.BestValue)) {
			v := *t.Value
			sw.BestTrial, sw.BestValue = t.Number, &v
		}
	}
}

func (l *live) better(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	if math.IsNaN(b) {
		return true
	}
	if l.sw.Mode == string(hpo.Max) {
		return a > b
	}
	return a < b
}

// apply carries the engine's actions into the trials. Called with l.mu
// held; nothing is done outside memory until the next commit.
func (s *Service) apply(l *live, acts []hpo.Action) {
	now := s.now()
	for _, a := range acts {
		switch a.Kind {
		case hpo.Start:
			t := &trainyard.Trial{SweepID: l.sw.ID, Number: a.Trial, Config: map[string]any(a.Config), From: a.From,
				FromStep: a.FromStep, Until: a.Until, Step: a.FromStep, CreatedAt: now, Reason: a.Reason}
			if t.Config == nil {
				t.Config = map[string]any{}
			}
			l.trials[a.Trial] = t
			s.launch(l, t, now)
		case hpo.Resume:
			t := l.trials[a.Trial]
			if t == nil {
				continue
			}
			t.Until, t.Reason, t.EndedAt = a.Until, a.Reason, time.Time{}
			s.launch(l, t, now)
		case hpo.Stop, hpo.Pause:
			if t := l.trials[a.Trial]; t != nil {
				s.stopTrial(l, t, string(a.Kind), a.Reason)
			}
		case hpo.Finish:
			if l.sw.Reason == "" || l.sw.State == trainyard.SweepRunning {
				l.sw.Reason = "finishing: " + a.Reason
			}
		}
		if t := l.trials[a.Trial]; t != nil && a.Trial > 0 {
			s.syncState(l, t)
			l.mark(t)
		}
	}
	l.swDirty = true
}

// launch makes the trial run: a new segment to submit (managed), or
// RUNNING for the user to run (ask/tell).
func (s *Service) launch(l *live, t *trainyard.Trial, now time.Time) {
	t.Directive = ""
	if l.managed {
		t.Segment++
		t.Pending = trainyard.PendingSubmit
		t.State = trainyard.TrialQueued
		return
	}
	t.State = trainyard.TrialRunning
}

// stopTrial asks a trial to stop or pause ("stop" or "pause"): its code is
// told through the directive, and its job is canceled if it has not
// started yet or StopGrace from now.
func (s *Service) stopTrial(l *live, t *trainyard.Trial, directive, reason string) {
	if reason != "" {
		t.Reason = reason
	}
	if !l.managed {
		if t.State == trainyard.TrialRunning {
			t.Directive = directive
		}
		return
	}
	switch {
	case t.Pending == trainyard.PendingSubmit:
		t.Directive = directive // the job is canceled as soon as it is submitted
	case !l.holdsSlot(t):
	case t.JobState == trainyard.StateQueued:
		l.setDirective(t, directive)
		t.Pending = trainyard.PendingCancel
	default:
		l.setDirective(t, directive)
		if _, ok := l.deadline[t.Number]; !ok {
			l.deadline[t.Number] = s.now().Add(s.cfg.StopGrace)
		}
	}
	l.mark(t)
}

// syncState sets the trial's state from the engine's view and its job's.
func (s *Service) syncState(l *live, t *trainyard.Trial) {
	es := hpo.Running
	if l.eng != nil && !t.External {
		if et, ok := l.eng.Trial(t.Number); ok {
			es = et.State
			if et.Reason != "" && es != hpo.Running {
				t.Reason = et.Reason
			}
		}
	}
	prev := t.State
	switch es {
	case hpo.Running:
		if t.State.Terminal() {
			return // recorded by the service itself (an external trial, a stopped sweep)
		}
		switch {
		case t.Held && !l.holdsSlot(t):
			t.State = trainyard.TrialPaused
		case !l.managed:
			if t.State != trainyard.TrialPaused {
				t.State = trainyard.TrialRunning
			}
		case t.Pending == trainyard.PendingSubmit || t.JobState == trainyard.StateQueued || t.JobState == "":
			t.State = trainyard.TrialQueued
		case t.JobState == trainyard.StateRunning:
			t.State = trainyard.TrialRunning
		}
	case hpo.Paused:
		t.State = trainyard.TrialPaused
	case hpo.Stopped:
		t.State = trainyard.TrialStopped
	case hpo.Completed:
		t.State = trainyard.TrialCompleted
	case hpo.Failed:
		t.State = trainyard.TrialFailed
	}
	if t.State.Terminal() && t.EndedAt.IsZero() {
		t.EndedAt = s.now()
	}
	if t.State != prev {
		l.mark(t)
	}
}

// feed gives the engine a trial's reported points, in step order, and
// applies what it decides. It reports whether any action followed.
func (s *Service) feed(l *live, t *trainyard.Trial, steps []int64, values []float64) bool {
	idx := make([]int, len(steps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return steps[idx[a]] < steps[idx[b]] })
	acted := false
	for _, i := range idx {
		step, v := steps[i], values[i]
		if step <= int64(t.Step) || step > math.MaxInt32 {
			continue
		}
		if l.eng == nil || t.External {
			if t.State.Terminal() {
				continue
			}
			t.Step, t.Results = int(step), t.Results+1
			f := trainyard.Float(v)
			t.Value = &f
			l.mark(t)
			continue
		}
		before := l.eng.ResultCount(t.Number)
		acts := l.eng.Report(s.now(), t.Number, int(step), v)
		l.swDirty = true
		if l.eng.ResultCount(t.Number) > before {
			t.Step, t.Results = int(step), l.eng.ResultCount(t.Number)
			f := trainyard.Float(v)
			t.Value = &f
			l.mark(t)
		}
		if len(acts) > 0 {
			acted = true
			s.apply(l, acts)
		}
	}
	return acted
}

// ingest feeds the reports of a trial's run that the engine has not seen,
// read from the store.
func (s *Service) ingest(l *live, t *trainyard.Trial, runID string) {
	from := int64(t.Step) + 1
	sr, err := s.cfg.Store.ReadSeries(context.Background(), runID, l.metric, trainyard.SeriesQuery{StartStep: &from})
	if trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return
	}
	if err != nil {
		s.log.Warn("read a trial's reports", "sweep", l.sw.ID, "trial", t.Number, "run", runID, "err", err)
		return
	}
	s.feed(l, t, sr.Steps, sr.Values)
}
