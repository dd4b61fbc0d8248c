// Package hpo is trainyard's hyperparameter search: search spaces and
// searchers as "events in, actions out". It is pure: no I/O, no
// goroutines, no wall clock, no global randomness. The caller passes the
// time into every call, the randomness is a seeded PCG whose state is part
// of the engine's state, and that whole state marshals to JSON
// (Snapshot) so the sweep service can store it after every decision and
// Restore it after a crash; a restored engine makes exactly the decisions
// the original would have made.
//
// # Pieces
//
// An Engine is a sampler, which chooses the configuration of each new
// trial, and optionally a stopper, which cuts running trials short — the
// split Optuna makes between samplers and pruners:
//
//	samplers   grid     every point of the space, in order, once
//	           random   uniform (log-uniform for log parameters), seeded
//	           tpe      Tree-structured Parzen Estimator after Optuna 5's:
//	                    10 random startup trials, γ(n) = ⌈0.15·n⌉,
//	                    48 candidates, prior weight 1, magic clip, a
//	                    multivariate kernel (or independent ones), constant
//	                    liar for running trials; optuna_defaults takes
//	                    Optuna's γ(n) = min(⌈0.1·n⌉, 25) and 24 candidates
//	           pbt      population-based training: its own schedule
//	stoppers   asha     successive halving: stopping-based (a trial is stopped
//	                    at a rung unless in the top 1/η) or promotion-based
//	                    (a trial pauses at each rung and is resumed from its
//	                    checkpoint when promoted)
//	           hyperband brackets of ASHA with the bracket sizes of Li et al.
//	           median   Optuna's MedianPruner
//
// A Space is an ordered list of parameters: const, int (uniform or log),
// float (uniform or log, optionally on a grid of q) and categorical. A
// dotted name nests ("optimizer.lr" is config["optimizer"]["lr"]); a
// parameter with When exists only when its categorical parent has one of
// the named values.
//
// # The contract
//
//	sweep service (store, queue, executors, SDK)
//	    │                                   ▲
//	    │ events                            │ actions
//	    │  Next(now, free slots)            │  Start  T config [from S@k] until u
//	    │  Report(now, T, step, value)      │  Resume T (its own checkpoint) until u
//	    │  Complete(now, T)                 │  Stop T · Pause T
//	    │  Fail(now, T, why) · Tick(now)    │  Finish
//	    ▼                                   │
//	Engine = sampler (grid | random | TPE | PBT) + stopper (ASHA | Hyperband | median)
//	    │
//	    └─ Snapshot() → JSON: trials, rungs, budget used, PCG state ─→ store
//
// The service calls:
//
//   - Next(now, free) whenever it has free slots (free = parallel − trials
//     running). It gets up to free Start or Resume actions. Start asks for
//     a new trial with the given ID and Config; From/FromStep, when set,
//     name the trial and step whose checkpoint it starts from (PBT's
//     exploit). Resume asks to run a paused trial again from its own
//     checkpoint (From == Trial). Until is the step at which the trial
//     should stop by itself (a rung, or max_steps); the engine also says
//     Pause or Stop when the report of that step arrives. When nothing
//     runs and nothing more can start, Next returns Finish, preceded by a
//     Stop for every paused trial; it returns Finish on every later call.
//   - Report(now, trial, step, value) for every intermediate result. A
//     report at or below the trial's last accepted step is ignored, so a
//     retried request, or a trial restarted by the service after a failure
//     that replays its steps, is never counted twice. The answer may be Stop
//     or Pause of that trial, or Stop of all and Finish when the budget is
//     used. Values are taken as reported; NaN ranks worst.
//   - Complete(now, trial) when a trial's process ends well; Fail when the
//     service gives up on it (it retries failed and lost trials itself, up
//     to the job's max_restarts, without telling the engine).
//   - Tick(now) now and then, for a time budget.
//
// The engine never starts more than max_trials trials, never accepts steps
// beyond the step budget (a report that would exceed it ends the sweep),
// never asks for more starts than free slots, and never resumes a trial
// from anything but its own checkpoint. Trainers save a checkpoint at
// each report (at least at each rung and PBT interval), so Pause and PBT's
// copy find one at the trial's last reported step.
//
// Snapshot after every call whose answer is acted on, in the same
// transaction as the service's own records of the actions; after a crash,
// Restore(settings, snapshot) and go on. Actions of a call whose snapshot
// was not stored are decided again, identically.
//
// # The service loop
//
//	e, err := hpo.New(settings) // or hpo.Restore(settings, stored)
//	for !e.Done() {
//		var acts []hpo.Action
//		switch ev := <-events; ev.Kind {
//		case slotFree:
//			acts = e.Next(clock.Now(), parallel-running)
//		case metric:
//			acts = e.Report(clock.Now(), ev.Trial, ev.Step, ev.Value)
//		case exited:
//			acts = e.Complete(clock.Now(), ev.Trial)
//		case gaveUp:
//			acts = e.Fail(clock.Now(), ev.Trial, ev.Reason)
//		}
//		snap, _ := e.Snapshot()
//		store.Tx(func(tx) { tx.SaveSnapshot(snap); tx.Record(acts) })
//		carry out acts: Start → submit a job with the config and checkpoint
//		source; Resume → resubmit from its checkpoint; Stop/Pause → set
//		should_stop for the SDK, then SIGTERM after a grace period;
//		Finish → mark the sweep done.
//	}
//
// Package hposim runs exactly this loop against simulated workers and a
// simulated clock; its tests and bench/hpo use it.
package hpo
