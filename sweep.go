package trainyard

import (
	"context"
	"encoding/json"
	"time"
)

// SweepState is the lifecycle state of a sweep.
//
//	RUNNING ⇄ PAUSED
//	   │  └──── stop ──▶ STOPPING ──▶ STOPPED
//	   └─ the searcher is done, its trials ended ──▶ COMPLETED   (or FAILED)
//
// A sweep stays RUNNING (or STOPPING) until the jobs of its trials have
// ended, so that a restarted server knows which sweeps it must follow.
type SweepState string

// Sweep states.
const (
	SweepRunning   SweepState = "RUNNING"
	SweepPaused    SweepState = "PAUSED"
	SweepStopping  SweepState = "STOPPING"
	SweepCompleted SweepState = "COMPLETED"
	SweepStopped   SweepState = "STOPPED"
	SweepFailed    SweepState = "FAILED"
)

// Active reports whether a sweep in state s still has work to follow.
func (s SweepState) Active() bool {
	return s == SweepRunning || s == SweepPaused || s == SweepStopping
}

// Valid reports whether s is one of the sweep states.
func (s SweepState) Valid() bool {
	switch s {
	case SweepRunning, SweepPaused, SweepStopping, SweepCompleted, SweepStopped, SweepFailed:
		return true
	}
	return false
}

// Sweep is a hyperparameter search: a searcher proposing trials, each
// trial a job (or, in an ask/tell sweep, a piece of work the user runs).
// The store keeps the spec and the searcher's state as opaque JSON: the
// sweep service (package sweep) owns their meaning.
type Sweep struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Project string `json:"project"`
	// Owner is the user who created the sweep ("" on a server without
	// users); the jobs of its trials are owned by this user too. It never
	// changes.
	Owner  string     `json:"owner,omitempty"`
	State  SweepState `json:"state"`
	Reason string     `json:"reason,omitempty"`
	// Metric and Mode ("min" or "max") are the spec's, kept apart so that
	// lists need not decode the spec.
	Metric string `json:"metric"`
	Mode   string `json:"mode"`
	// Managed is true when trainyard runs the trials as jobs through its
	// queue; false for an ask/tell sweep, whose trials the user runs.
	Managed bool `json:"managed"`
	// Spec is the parsed sweep spec (package sweepspec's Spec) as JSON.
	Spec json.RawMessage `json:"spec"`
	// Snapshot is the searcher's state (hpo.Engine.Snapshot), written in the
	// same transaction as the trials it decided about. Not shown in the API.
	Snapshot json.RawMessage `json:"-"`
	// BestTrial is the number of the completed trial with the best final
	// value of Metric, and BestValue that value; 0 when none completed.
	BestTrial int    `json:"best_trial,omitempty"`
	BestValue *Float `json:"best_value,omitempty"`
	// Version counts the sweep's stored changes; UpdateSweep writes only
	// over the version it was read at (compare-and-set).
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// TrialState is the state of one trial of a sweep, as users see it.
//
//	QUEUED ⇄ RUNNING ──▶ COMPLETED | STOPPED | FAILED
//	   ▲        │
//	   └─ PAUSED ◀┘   (a rung of promotion-based ASHA, or the sweep paused)
type TrialState string

// Trial states.
const (
	TrialQueued    TrialState = "QUEUED"    // its job waits in the queue (or is about to be submitted)
	TrialRunning   TrialState = "RUNNING"   // its job runs (ask/tell: suggested, results expected)
	TrialPaused    TrialState = "PAUSED"    // stopped after a checkpoint; may be resumed from it
	TrialCompleted TrialState = "COMPLETED" // ran to max_steps, or ended by itself
	TrialStopped   TrialState = "STOPPED"   // cut short by the searcher, or the sweep was stopped
	TrialFailed    TrialState = "FAILED"    // failed for good, after its retries
)

// Terminal reports whether a trial in state s is over.
func (s TrialState) Terminal() bool {
	return s == TrialCompleted || s == TrialStopped || s == TrialFailed
}

// Trial pending operations: what the sweep service decided, recorded in
// the transaction that decided it, and has yet to carry out. A restarted
// service carries them out again; each is idempotent.
const (
	// PendingSubmit: submit a job for the trial's current Segment. A job
	// already submitted for it is found by its tags, never submitted twice.
	PendingSubmit = "submit"
	// PendingCancel: cancel the trial's current job.
	PendingCancel = "cancel"
)

// Trial is one configuration a sweep tries. Number is the searcher's trial
// ID (1, 2, ...). A trial runs as one job per segment: the first start,
// each resume from a pause and each retry after a failure is a new segment
// (and a new job and run); a job's own restarts (max_restarts) stay in its
// segment.
type Trial struct {
	SweepID string         `json:"sweep_id"`
	Number  int            `json:"number"`
	State   TrialState     `json:"state"`
	Reason  string         `json:"reason,omitempty"`
	Config  map[string]any `json:"config"`
	// External is true for a trial whose configuration came from outside
	// (an external optimiser through the ask/tell API), not the searcher.
	External bool `json:"external,omitempty"`
	// Segment counts the jobs asked for: Jobs holds the ones submitted, in
	// order; Segment > len(Jobs) while a submission is pending.
	Segment int      `json:"segment"`
	Jobs    []string `json:"jobs,omitempty"`
	// JobState mirrors the state of the current (last) job.
	JobState State  `json:"job_state,omitempty"`
	Pending  string `json:"pending,omitempty"` // PendingSubmit, PendingCancel or ""
	// Directive is what the trial's code is asked to do: "stop" or "pause"
	// (the SDK's should_stop), or "" to go on.
	Directive string `json:"directive,omitempty"`
	// Held is set when the sweep was paused while the trial ran: it is
	// resumed from its checkpoint when the sweep is resumed.
	Held bool `json:"held,omitempty"`
	// From and FromStep name the checkpoint the trial started from (PBT's
	// exploit); Until is the step the current segment runs to (0: its end).
	From     int `json:"from,omitempty"`
	FromStep int `json:"from_step,omitempty"`
	Until    int `json:"until,omitempty"`
	// Step and Value are the last result the searcher accepted; Results
	// counts the accepted results.
	Step    int    `json:"step"`
	Value   *Float `json:"value,omitempty"`
	Results int    `json:"results"`
	// Failures counts failed attempts (the job's restarts included), Lost
	// the attempts lost with their node or process, and Retries the
	// segments submitted again after either.
	Failures  int       `json:"failures,omitempty"`
	Lost      int       `json:"lost,omitempty"`
	Retries   int       `json:"retries,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// Job returns the ID of the trial's current (last) job, "" if none.
func (t *Trial) Job() string {
	if len(t.Jobs) == 0 {
		return ""
	}
	return t.Jobs[len(t.Jobs)-1]
}

// Clone returns a deep copy of t (its config is copied one level deep;
// nested maps are shared but never changed in place).
func (t *Trial) Clone() *Trial {
	c := *t
	c.Jobs = append([]string(nil), t.Jobs...)
	if t.Value != nil {
		v := *t.Value
		c.Value = &v
	}
	if t.Config != nil {
		c.Config = make(map[string]any, len(t.Config))
		for k, v := range t.Config {
			c.Config[k] = v
		}
	}
	return &c
}

// Tags on the runs of trials: which sweep, trial and segment a job is.
const (
	TagSweep   = "trainyard.sweep"
	TagTrial   = "trainyard.trial"
	TagSegment = "trainyard.segment"
)

// SweepFilter selects sweeps to list.
type SweepFilter struct {
	Project  string
	Active   bool // only RUNNING, PAUSED and STOPPING sweeps, oldest first
	IDPrefix string
	Limit    int // 0 means DefaultListLimit
}

// SweepStore keeps sweeps and their trials.
type SweepStore interface {
	// CreateSweep stores a new sweep (Version 0) and its first trials, if
	// any, in one transaction. Returns ECONFLICT if the ID is taken.
	CreateSweep(ctx context.Context, s *Sweep, trials ...*Trial) error
	// Sweep returns ENOTFOUND if there is no such sweep.
	Sweep(ctx context.Context, id string) (*Sweep, error)
	// Sweeps lists sweeps, newest first; with Active, oldest first.
	Sweeps(ctx context.Context, f SweepFilter) ([]*Sweep, error)
	// Trials returns a sweep's trials by number. ENOTFOUND if there is no
	// such sweep.
	Trials(ctx context.Context, sweepID string) ([]*Trial, error)
	// UpdateSweep writes, in one transaction, the sweep's changeable fields
	// (not its project or owner: name, state, reason, snapshot, best trial and value, updated and
	// ended times) and inserts or replaces the given trials (by sweep and
	// number): only if the sweep's stored Version is still s.Version
	// (compare-and-set). On success s.Version is one more. Returns
	// ECONFLICT when the sweep changed since it was read, ENOTFOUND when it
	// does not exist, EINVALID for a trial of another sweep; nothing is
	// written on error.
	UpdateSweep(ctx context.Context, s *Sweep, trials ...*Trial) error
}
