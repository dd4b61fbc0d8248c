package hpo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
)

// ActionKind is what the service is asked to do.
type ActionKind string

// Action kinds.
const (
	// Start: create trial Trial with Config and run it until step Until
	// (0: until it ends by itself). When From is set, the trial starts from
	// trial From's checkpoint taken at step FromStep (PBT's exploit).
	Start ActionKind = "start"
	// Resume: run the paused trial Trial again from its own checkpoint
	// (From == Trial, FromStep its last step) until step Until.
	Resume ActionKind = "resume"
	// Stop: end trial Trial for good. A running trial is told to stop; a
	// paused one is simply closed.
	Stop ActionKind = "stop"
	// Pause: stop trial Trial after it saved its checkpoint; it keeps its
	// place and may be resumed later (promotion-based ASHA).
	Pause ActionKind = "pause"
	// Finish: the sweep is over; nothing will be started again.
	Finish ActionKind = "finish"
)

// Action is one decision of the engine, for the service to carry out.
type Action struct {
	Kind     ActionKind `json:"kind"`
	Trial    int        `json:"trial,omitempty"`
	Config   Config     `json:"config,omitempty"`
	From     int        `json:"from,omitempty"`
	FromStep int        `json:"from_step,omitempty"`
	Until    int        `json:"until,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

// TrialState is a trial's state as the engine sees it.
type TrialState string

// Trial states.
const (
	Running   TrialState = "running"   // started or resumed; results expected
	Paused    TrialState = "paused"    // waiting at a rung, may be resumed
	Stopped   TrialState = "stopped"   // cut short by the searcher (pruned, exploited, out of budget)
	Completed TrialState = "completed" // ran to max_steps or ended by itself
	Failed    TrialState = "failed"    // failed for good (the service gave up retrying)
)

// Result is one reported value.
type Result struct {
	Step  int
	Value float64 // NaN and ±Inf allowed
}

type resultJSON struct {
	Step  int `json:"s"`
	Value num `json:"v"`
}

// MarshalJSON writes {"s": step, "v": value}, with "NaN", "+Inf" or "-Inf"
// for values JSON has no number for.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{r.Step, num(r.Value)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*r = Result{j.Step, float64(j.Value)}
	return nil
}

// Trial is the engine's record of one trial. Callers get copies.
type Trial struct {
	ID       int        `json:"id"`
	Point    Point      `json:"point"`
	State    TrialState `json:"state"`
	From     int        `json:"from,omitempty"`      // the trial whose checkpoint it started from
	FromStep int        `json:"from_step,omitempty"` // the step of that checkpoint
	Until    int        `json:"until,omitempty"`     // the step it was last asked to run to
	LastStep int        `json:"last_step"`           // highest step accepted (FromStep at start)
	Results  []Result   `json:"results,omitempty"`
	Bracket  int        `json:"bracket,omitempty"` // Hyperband bracket index
	Slot     int        `json:"slot,omitempty"`    // PBT population slot
	Checked  int        `json:"checked,omitempty"` // PBT: step of the last exploit check
	Reason   string     `json:"reason,omitempty"`  // why it was stopped or paused
	Started  time.Time  `json:"started"`
	Ended    time.Time  `json:"ended,omitzero"`
}

// Value returns the trial's last reported value, if any.
func (t *Trial) Value() (float64, bool) {
	if len(t.Results) == 0 {
		return 0, false
	}
	return t.Results[len(t.Results)-1].Value, true
}

// state is everything the engine remembers; Snapshot marshals it.
type state struct {
	Version     int       `json:"version"`
	Fingerprint string    `json:"settings"` // of the Settings it was made with
	Rand        *Rand     `json:"rand"`
	Started     bool      `json:"started"`
	Start       time.Time `json:"start,omitzero"`
	Finished    bool      `json:"finished,omitempty"`
	Trials      []*Trial  `json:"trials"`
	Steps       int64     `json:"steps"` // budget used
	GridNext    int       `json:"grid_next,omitempty"`
	Brackets    []bracket `json:"brackets,omitempty"`
	NextBracket int       `json:"next_bracket,omitempty"`
	InBracket   int       `json:"in_bracket,omitempty"`
	Queue       []queued  `json:"queue,omitempty"` // PBT starts waiting for a slot
}

// queued is a start decided at a report (PBT's exploit) and handed out by
// the next call to Next.
type queued struct {
	Point    Point  `json:"point"`
	From     int    `json:"from"`
	FromStep int    `json:"from_step"`
	Slot     int    `json:"slot"`
	Reason   string `json:"reason"`
}

// Engine is a searcher: a sampler (grid, random, TPE, PBT) and optionally
// an early stopper (ASHA, Hyperband, median) behind one event-in,
// action-out interface. It is not safe for concurrent use; see the package
// documentation for the contract.
type Engine struct {
	set  Settings // with defaults
	st   state
	grid []Point // derived from the space; not snapshotted
}

const snapshotVersion = 1

// New returns an engine for s, or an EINVALID error naming every bad field.
func New(s Settings) (*Engine, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{set: s.withDefaults()}
	e.st = state{Version: snapshotVersion, Fingerprint: fingerprint(s), Rand: NewRand(s.Seed)}
	e.derive()
	return e, nil
}

// Restore returns the engine a Snapshot was taken of. s must be the
// settings the engine was made with (ECONFLICT otherwise); a snapshot that
// does not parse is EINVALID.
func Restore(s Settings, snapshot []byte) (*Engine, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{set: s.withDefaults()}
	d := json.NewDecoder(bytes.NewReader(snapshot))
	d.DisallowUnknownFields()
	if err := d.Decode(&e.st); err != nil {
		return nil, trainyard.Errorf(trainyard.EINVALID, "read searcher snapshot: %v", err)
	}
	if e.st.Version != snapshotVersion {
		return nil, trainyard.Errorf(trainyard.EINVALID, "searcher snapshot version %d; this build reads %d", e.st.Version, snapshotVersion)
	}
	if e.st.Fingerprint != fingerprint(s) {
		return nil, trainyard.Errorf(trainyard.ECONFLICT, "searcher snapshot was taken with other settings")
	}
	if e.st.Rand == nil {
		return nil, trainyard.Errorf(trainyard.EINVALID, "searcher snapshot has no random state")
	}
	e.derive()
	return e, nil
}

// Snapshot returns the engine's whole state as JSON. Restoring it with the
// same settings gives an engine that makes exactly the decisions this one
// would have made from here on.
func (e *Engine) Snapshot() ([]byte, error) {
	return json.Marshal(&e.st)
}

func fingerprint(s Settings) string {
	b, _ := json.Marshal(s)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 16)
}

// derive rebuilds what is computed from the settings alone.
func (e *Engine) derive() {
	if e.set.Sampler == SamplerGrid {
		e.grid = gridPoints(&e.set.Space)
	}
	if len(e.st.Brackets) == 0 {
		e.st.Brackets = newBrackets(&e.set)
	}
}

// Settings returns the settings with defaults filled in.
func (e *Engine) Settings() Settings { return e.set }

// Done reports whether the sweep is over.
func (e *Engine) Done() bool { return e.st.Finished }

// StepsUsed is the step budget used so far.
func (e *Engine) StepsUsed() int64 { return e.st.Steps }

// Trials returns copies of every trial, by ID.
func (e *Engine) Trials() []Trial {
	out := make([]Trial, len(e.st.Trials))
	for i, t := range e.st.Trials {
		out[i] = *t
		out[i].Results = append([]Result(nil), t.Results...)
	}
	return out
}

// Trial returns a copy of trial id.
func (e *Engine) Trial(id int) (Trial, bool) {
	t := e.trial(id)
	if t == nil {
		return Trial{}, false
	}
	c := *t
	c.Results = append([]Result(nil), t.Results...)
	return c, true
}

// ResultCount is the number of results accepted for trial id.
func (e *Engine) ResultCount(id int) int {
	if t := e.trial(id); t != nil {
		return len(t.Results)
	}
	return 0
}

// Config returns the configuration a trial sees.
func (e *Engine) Config(t Trial) Config { return e.set.Space.Config(t.Point) }

// Best returns the completed trial with the best final value.
func (e *Engine) Best() (Trial, bool) {
	var best *Trial
	for _, t := range e.st.Trials {
		if t.State != Completed || len(t.Results) == 0 {
			continue
		}
		if best == nil || e.loss(t) < e.loss(best) {
			best = t
		}
	}
	if best == nil {
		return Trial{}, false
	}
	return e.Trial(best.ID)
}

func (e *Engine) trial(id int) *Trial {
	if id < 1 || id > len(e.st.Trials) {
		return nil
	}
	return e.st.Trials[id-1]
}

// loss is the trial's last value turned into "smaller is better", with NaN
// as the worst.
func (e *Engine) loss(t *Trial) float64 {
	v, _ := t.Value()
	return e.lossOf(v)
}

func (e *Engine) lossOf(v float64) float64 {
	if math.IsNaN(v) {
		return math.Inf(1)
	}
	if e.set.Mode == Max {
		return -v
	}
	return v
}

// Next is called when the service has free slots (free ≥ 0): it returns up
// to free Start and Resume actions. It returns Finish (with Stop for any
// paused trial) once nothing runs and nothing more can start, and Finish
// again on every later call.
func (e *Engine) Next(now time.Time, free int) []Action {
	if !e.st.Started {
		e.st.Started, e.st.Start = true, now
	}
	if e.st.Finished {
		return []Action{{Kind: Finish}}
	}
	if out := e.checkTime(now); out != nil {
		return out
	}
	var out []Action
	for ; free > 0; free-- {
		a, ok := e.next(now)
		if !ok {
			break
		}
		out = append(out, a)
	}
	if len(out) == 0 && e.running() == 0 {
		if _, ok := e.next(now); !ok {
			return e.finish(now, "nothing left to run")
		}
	}
	return out
}

// Tick lets the engine see the time pass; it returns the Stops and Finish
// of a time budget that ran out, and nothing otherwise.
func (e *Engine) Tick(now time.Time) []Action {
	if e.st.Finished || !e.st.Started {
		return nil
	}
	return e.checkTime(now)
}

func (e *Engine) checkTime(now time.Time) []Action {
	if d := e.set.Budget.Duration; d > 0 && e.st.Started && !now.Before(e.st.Start.Add(d)) {
		return e.finish(now, "time budget used")
	}
	return nil
}

func (e *Engine) running() int {
	n := 0
	for _, t := range e.st.Trials {
		if t.State == Running {
			n++
		}
	}
	return n
}

// next decides one start or resume, in this order: a queued PBT exploit,
// a promotion (promotion-based ASHA), a new trial.
func (e *Engine) next(now time.Time) (Action, bool) {
	if e.set.Budget.Steps > 0 && e.st.Steps >= e.set.Budget.Steps {
		return Action{}, false
	}
	if len(e.st.Queue) > 0 {
		if e.set.MaxTrials > 0 && len(e.st.Trials) >= e.set.MaxTrials {
			e.st.Queue = nil
		} else {
			q := e.st.Queue[0]
			e.st.Queue = e.st.Queue[1:]
			t := e.newTrial(now, q.Point)
			t.From, t.FromStep, t.LastStep, t.Slot, t.Checked = q.From, q.FromStep, q.FromStep, q.Slot, q.FromStep
			t.Until = e.set.MaxSteps
			return e.startAction(t, q.Reason), true
		}
	}
	if a, ok := e.promote(now); ok {
		return a, true
	}
	if e.set.MaxTrials > 0 && len(e.st.Trials) >= e.set.MaxTrials {
		return Action{}, false
	}
	var pt Point
	slot := 0
	switch e.set.Sampler {
	case SamplerGrid:
		if e.st.GridNext >= len(e.grid) {
			return Action{}, false
		}
		pt = clonePoint(e.grid[e.st.GridNext])
		e.st.GridNext++
	case SamplerTPE:
		pt = e.sampleTPE()
	case SamplerPBT:
		if len(e.st.Trials) >= e.set.PBT.Population {
			return Action{}, false
		}
		slot = len(e.st.Trials)
		pt = e.set.Space.SampleRandom(e.st.Rand)
	default:
		pt = e.set.Space.SampleRandom(e.st.Rand)
	}
	t := e.newTrial(now, pt)
	t.Slot = slot
	t.Until = e.set.MaxSteps
	if b := e.assignBracket(); b >= 0 {
		t.Bracket = b
		if e.set.ASHA.Promote {
			t.Until = e.st.Brackets[b].firstUntil(e.set.MaxSteps)
		}
	}
	return e.startAction(t, ""), true
}

func (e *Engine) newTrial(now time.Time, pt Point) *Trial {
	t := &Trial{ID: len(e.st.Trials) + 1, Point: pt, State: Running, Started: now}
	e.st.Trials = append(e.st.Trials, t)
	return t
}

func (e *Engine) startAction(t *Trial, reason string) Action {
	return Action{Kind: Start, Trial: t.ID, Config: e.set.Space.Config(t.Point), From: t.From, FromStep: t.FromStep, Until: t.Until, Reason: reason}
}

// Report records the value a running trial reported at step. A report for
// a step at or below the last one accepted for that trial is a duplicate
// (a retried request, or a restarted trial replaying its steps) and is
// ignored, as are reports for trials that are not running. It returns the
// actions the result leads to: Stop or Pause of this trial, or, when the
// budget is used up, Stop of every trial and Finish.
func (e *Engine) Report(now time.Time, id, step int, value float64) []Action {
	t := e.trial(id)
	if t == nil || t.State != Running || step <= t.LastStep || e.st.Finished {
		return nil
	}
	if out := e.checkTime(now); out != nil {
		return out
	}
	delta := int64(step - t.LastStep)
	if b := e.set.Budget.Steps; b > 0 && e.st.Steps+delta > b {
		return e.finish(now, "step budget used")
	}
	e.st.Steps += delta
	t.LastStep = step
	t.Results = append(t.Results, Result{Step: step, Value: value})

	var out []Action
	if ms := e.set.MaxSteps; ms > 0 && step >= ms {
		e.recordRungs(t) // a completed trial still counts in the rungs it passed
		e.end(now, t, Completed, "reached max_steps")
		out = append(out, Action{Kind: Stop, Trial: t.ID, Reason: "reached max_steps"})
	} else if a, ok := e.judge(t); ok {
		out = append(out, a)
	}
	if b := e.set.Budget.Steps; b > 0 && e.st.Steps >= b {
		out = append(out, e.finish(now, "step budget used")...)
	}
	return out
}

// judge asks the stopper (or PBT) about a fresh result of t.
func (e *Engine) judge(t *Trial) (Action, bool) {
	switch {
	case e.set.Sampler == SamplerPBT:
		return e.pbtExploit(t)
	case e.set.Stopper == StopperASHA || e.set.Stopper == StopperHyperband:
		return e.ashaJudge(t)
	case e.set.Stopper == StopperMedian:
		return e.medianJudge(t)
	}
	return Action{}, false
}

// Complete records that trial id's process ended well. A running trial
// becomes completed (its last value is its final value); a trial the
// engine paused or stopped keeps that state. It returns nothing; call Next
// for the freed slot.
func (e *Engine) Complete(now time.Time, id int) []Action {
	t := e.trial(id)
	if t == nil || t.State != Running {
		return nil
	}
	e.end(now, t, Completed, "ended by itself")
	return nil
}

// Fail records that trial id failed for good: the service retries a failed
// or lost trial itself (the engine tolerates its replayed reports) and
// calls Fail only when it gives up. A failed trial's results do not guide
// the sampler.
func (e *Engine) Fail(now time.Time, id int, reason string) []Action {
	t := e.trial(id)
	if t == nil || (t.State != Running && t.State != Paused) {
		return nil
	}
	e.end(now, t, Failed, reason)
	return nil
}

func (e *Engine) end(now time.Time, t *Trial, s TrialState, reason string) {
	t.State, t.Ended, t.Reason = s, now, reason
}

// finish ends the sweep: every running or paused trial is stopped.
func (e *Engine) finish(now time.Time, reason string) []Action {
	var out []Action
	for _, t := range e.st.Trials {
		if t.State == Running || t.State == Paused {
			e.end(now, t, Stopped, reason)
			out = append(out, Action{Kind: Stop, Trial: t.ID, Reason: reason})
		}
	}
	e.st.Finished = true
	e.st.Queue = nil
	return append(out, Action{Kind: Finish, Reason: reason})
}

func clonePoint(p Point) Point {
	c := make(Point, len(p))
	for k, v := range p {
		c[k] = v
	}
	return c
}

// num is a float64 that survives JSON when it is NaN or infinite.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (n *num) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*n = num(math.NaN())
	case `"+Inf"`:
		*n = num(math.Inf(1))
	case `"-Inf"`:
		*n = num(math.Inf(-1))
	default:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return fmt.Errorf("value %s: %w", b, err)
		}
		*n = num(f)
	}
	return nil
}
