// Package hposim runs an hpo.Engine against a simulated cluster: a fixed
// number of workers, a simulated clock, and an objective that says what
// each step of a trial reports and how long it takes. It plays the part of
// the sweep service in tests and benchmarks, carries out every action as
// the service must (and checks that the engine asked for nothing
// impossible: a resume from a checkpoint that does not exist, more trials
// than workers), and is deterministic: no goroutines, no wall clock.
package hposim

import (
	"container/heap"
	"fmt"
	"time"

	"github.com/trainyard/trainyard/hpo"
)

// Objective returns what a trial with configuration cfg reports at step
// (1-based) and the seconds that step took.
type Objective func(cfg hpo.Config, step int) (value, seconds float64)

// Options of a simulation.
type Options struct {
	Workers int       // parallel slots; default 1
	Start   time.Time // the clock's start; default 2026-01-01 UTC
	// TrialSteps is where a trial with no Until ends by itself; default 1.
	TrialSteps int
	// RestoreEvery, when > 0, snapshots the engine and replaces it with a
	// restored copy after every that many events, as a service restarted
	// after kill -9 would.
	RestoreEvery int
	// Settings are needed with RestoreEvery.
	Settings hpo.Settings
	// ReplayReports sends every report twice, as a client retrying a
	// request whose answer was lost would; Run fails if the second one
	// changes anything.
	ReplayReports bool
	// CrashEvery, when > 0, makes every trial whose ID is a multiple of it
	// crash once after its second step and be restarted by the "service"
	// from where it started, replaying its steps.
	CrashEvery int
	// MaxEvents guards against an engine that never finishes; default 10⁷.
	MaxEvents int
}

// Record is one accepted report.
type Record struct {
	Time  time.Duration // since Start
	Steps int64         // budget used after it
	Trial int
	Step  int
	Value float64
}

// Result of a simulation.
type Result struct {
	Reports  []Record
	Actions  []hpo.Action // every action, in order
	End      time.Duration
	Engine   *hpo.Engine // the engine at the end (restored copies included)
	Restores int
}

type worker struct {
	trial   int
	cfg     hpo.Config
	step    int // steps done
	until   int
	start   int // the step it started from
	crashed bool
	at      time.Time // when the next step is done
	seq     int
}

type queue []*worker

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*worker)) }
func (q *queue) Pop() any {
	old := *q
	w := old[len(old)-1]
	*q = old[:len(old)-1]
	return w
}

// Run simulates the sweep until the engine finishes.
func Run(e *hpo.Engine, obj Objective, opt Options) (Result, error) {
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Start.IsZero() {
		opt.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opt.TrialSteps <= 0 {
		opt.TrialSteps = 1
	}
	if opt.MaxEvents <= 0 {
		opt.MaxEvents = 10_000_000
	}
	s := &sim{e: e, obj: obj, opt: opt, now: opt.Start, progress: map[int]int{}, byTrial: map[int]*worker{}, pausedAt: map[int]int{}}
	s.free = opt.Workers
	if err := s.apply(e.Next(s.now, s.free)); err != nil {
		return s.res, err
	}
	for events := 0; !s.done; events++ {
		if events > opt.MaxEvents {
			return s.res, fmt.Errorf("no end after %d events", events)
		}
		if s.q.Len() == 0 {
			acts := s.e.Next(s.now, s.free)
			if len(acts) == 0 {
				return s.res, fmt.Errorf("engine neither starts a trial nor finishes with %d free slots", s.free)
			}
			if err := s.apply(acts); err != nil {
				return s.res, err
			}
			continue
		}
		w := heap.Pop(&s.q).(*worker)
		s.now = w.at
		w.step++
		if w.step > s.progress[w.trial] {
			s.progress[w.trial] = w.step
		}
		v, _ := obj(w.cfg, w.step)
		nBefore := s.e.ResultCount(w.trial)
		if err := s.apply(s.e.Report(s.now, w.trial, w.step, v)); err != nil {
			return s.res, err
		}
		if opt.ReplayReports {
			used := s.e.StepsUsed()
			if again := s.e.Report(s.now, w.trial, w.step, v); len(again) > 0 || s.e.StepsUsed() != used {
				return s.res, fmt.Errorf("replayed report of trial %d step %d changed the engine: %v", w.trial, w.step, again)
			}
		}
		if s.e.ResultCount(w.trial) > nBefore {
			s.res.Reports = append(s.res.Reports, Record{Time: s.now.Sub(opt.Start), Steps: s.e.StepsUsed(), Trial: w.trial, Step: w.step, Value: v})
		}
		if opt.CrashEvery > 0 && w.trial%opt.CrashEvery == 0 && !w.crashed && w.step == w.start+2 && s.byTrial[w.trial] == w {
			w.crashed = true
			w.step = w.start // restarted from its first checkpoint
		}
		if s.byTrial[w.trial] == w { // still running here
			end := w.until
			if end == 0 {
				end = opt.TrialSteps
			}
			if w.step >= end {
				s.remove(w)
				if err := s.apply(s.e.Complete(s.now, w.trial)); err != nil {
					return s.res, err
				}
			} else {
				s.schedule(w)
			}
		}
		if s.free > 0 && !s.done {
			if err := s.apply(s.e.Next(s.now, s.free)); err != nil {
				return s.res, err
			}
		}
		if opt.RestoreEvery > 0 && events%opt.RestoreEvery == opt.RestoreEvery-1 {
			snap, err := s.e.Snapshot()
			if err != nil {
				return s.res, err
			}
			if s.e, err = hpo.Restore(opt.Settings, snap); err != nil {
				return s.res, err
			}
			s.res.Restores++
		}
	}
	s.res.End = s.now.Sub(opt.Start)
	s.res.Engine = s.e
	return s.res, nil
}

type sim struct {
	e        *hpo.Engine
	obj      Objective
	opt      Options
	now      time.Time
	q        queue
	free     int
	seq      int
	done     bool
	progress map[int]int // highest step each trial's checkpoints reach
	byTrial  map[int]*worker
	pausedAt map[int]int // the step each paused trial's checkpoint is at
	res      Result
}

func (s *sim) schedule(w *worker) {
	_, secs := s.obj(w.cfg, w.step+1)
	s.seq++
	w.seq = s.seq
	w.at = s.now.Add(time.Duration(secs * float64(time.Second)))
	heap.Push(&s.q, w)
}

func (s *sim) remove(w *worker) {
	for i, x := range s.q {
		if x == w {
			heap.Remove(&s.q, i)
			break
		}
	}
	delete(s.byTrial, w.trial)
	s.free++
}

// apply carries out actions as the service would.
func (s *sim) apply(acts []hpo.Action) error {
	s.res.Actions = append(s.res.Actions, acts...)
	for _, a := range acts {
		switch a.Kind {
		case hpo.Start, hpo.Resume:
			if s.free <= 0 {
				return fmt.Errorf("%s of trial %d with no free worker", a.Kind, a.Trial)
			}
			if _, busy := s.byTrial[a.Trial]; busy {
				return fmt.Errorf("%s of trial %d, which is running", a.Kind, a.Trial)
			}
			if a.Kind == hpo.Resume && a.From == 0 {
				return fmt.Errorf("resume of trial %d names no checkpoint", a.Trial)
			}
			step := 0
			if a.From != 0 {
				if a.Kind == hpo.Resume && a.From != a.Trial {
					return fmt.Errorf("resume of trial %d from trial %d's checkpoint", a.Trial, a.From)
				}
				if at, ok := s.pausedAt[a.Trial]; a.Kind == hpo.Resume && (!ok || at != a.FromStep) {
					return fmt.Errorf("resume of trial %d from step %d; it paused at step %d (paused: %v)", a.Trial, a.FromStep, at, ok)
				}
				if s.progress[a.From] < a.FromStep {
					return fmt.Errorf("%s of trial %d from trial %d at step %d, which only reached step %d", a.Kind, a.Trial, a.From, a.FromStep, s.progress[a.From])
				}
				step = a.FromStep
			}
			cfg := a.Config
			if a.Kind == hpo.Resume {
				t, _ := s.e.Trial(a.Trial)
				cfg = s.e.Config(t)
			}
			delete(s.pausedAt, a.Trial)
			w := &worker{trial: a.Trial, cfg: cfg, step: step, start: step, until: a.Until}
			s.byTrial[a.Trial] = w
			s.free--
			s.schedule(w)
		case hpo.Stop, hpo.Pause:
			if w, ok := s.byTrial[a.Trial]; ok {
				s.remove(w)
				if a.Kind == hpo.Pause {
					s.pausedAt[a.Trial] = w.step
				}
			} else if a.Kind == hpo.Pause {
				return fmt.Errorf("pause of trial %d, which is not running", a.Trial)
			}
		case hpo.Finish:
			s.done = true
		}
	}
	return nil
}
