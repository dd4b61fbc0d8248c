// Package sweep is the sweep service: it joins a searcher (package hpo)
// to the job queue (trainyard.JobService) and to the tracking of runs, so
// that a hyperparameter search runs its trials as ordinary jobs, follows
// what they report, stops or pauses the losing ones, and survives a crash
// of the server.
//
//	         ┌──────────── Create / Pause / Resume / Stop / Suggest / Report (API)
//	         ▼
//	┌──── Service ─────────────────────────────────────────────┐
//	│ per active sweep: spec, hpo.Engine, trials (in memory)    │
//	│                                                           │
//	│  metric hook ──▶ Report ─┐                                │
//	│  job changes ──▶ Complete/Fail/retry ─┐  ┌─▶ Next (free slots)
//	│  tick ──▶ time budget, stop deadlines ─┴──┴─▶ actions     │
//	│                                               │           │
//	│  1. apply actions to the trials (in memory)   ▼           │
//	│  2. one transaction: searcher snapshot + sweep + trials   │
//	│  3. only then act: submit jobs, cancel jobs, directives   │
//	└───────────────────────────────────────────────────────────┘
//	      │ SweepStore            │ JobService            │ SDK
//	    store              dispatcher, executors     should_stop()
//
// # Trials are jobs
//
// A managed sweep (one with a command) runs each trial as a job through
// the same queue, executors and resources as `trainyard run`. A trial
// runs as one job per segment: its first start, each resume after a pause
// and each retry after a failure is a new job (and run); the job's own
// restarts (max_restarts) stay in its segment. A trial's job carries the
// tags trainyard.sweep, trainyard.trial and trainyard.segment, the trial's
// configuration as the run's config, and environment variables for the
// SDK (TRAINYARD_SWEEP_ID, TRAINYARD_TRIAL, TRAINYARD_SWEEP_METRIC,
// TRAINYARD_TRIAL_UNTIL, TRAINYARD_TRIAL_CONFIG, TRAINYARD_CHECKPOINT_DIR,
// TRAINYARD_RESTORE_DIR, TRAINYARD_RESTORE_STEP).
//
// # The metric path
//
// Metric appends go through tracking.Service, which calls the hook set in
// its Config after the points are durable (and not for a duplicate batch).
// The hook (Service.ObserveMetrics) looks the run up in a sync.Map of the
// runs of live trials: for every other run this is the whole cost, one map
// read, and ingestion is not slowed. For a trial's run it picks the points
// of the sweep's metric and feeds them to the engine under the sweep's
// lock. A report that leads to an action (stop, pause, the budget used) is
// committed before the request is answered, so the directive the SDK reads
// in the answer ("directive": "pause") is durable; a report that leads to
// nothing is committed with the next transaction of the sweep, at most a
// tick (1 s) later.
//
// Nothing is lost if the hook misses a report (it came before the run was
// registered, or the server crashed before the commit): the metric series
// is the source of truth. When a trial's job ends, and when a sweep is
// loaded after a restart, the service reads the trial's series from the
// store and feeds every point beyond the last accepted step; the engine
// ignores steps at or below its last accepted one, so the searcher never
// sees a result twice. Reports replayed after a crash are fed trial by
// trial, in step order: decisions that were never committed may come out
// differently from what the crashed server would have decided, but no
// decision that was acted on is ever taken back.
//
// # Stop, pause and resume
//
// Stop and Pause set the trial's directive: the SDK's run.should_stop()
// turns true (it reads the directive from the answers to its metric
// batches, and turns true by itself once the metric is logged at
// TRAINYARD_TRIAL_UNTIL, the step a promotion-based rung ends at). The
// trainer saves its checkpoint and exits. If the job still runs StopGrace
// later it is canceled: SIGTERM, then SIGKILL after the dispatcher's kill
// grace. A paused trial keeps its checkpoints; when the searcher promotes
// it (Resume), a new segment is submitted that restores from them. PBT's
// exploit starts a new trial from another trial's checkpoint
// (TRAINYARD_RESTORE_DIR and TRAINYARD_RESTORE_STEP).
//
// Checkpoints live in a directory per trial, CheckpointDir/SWEEP/trial-N
// (on Slurm and Kubernetes: a shared file system), never in the server's
// memory; the SDK saves each into step-K/ and restores from the newest
// complete one (see sdk/python).
//
// # Failures
//
// A trial whose job fails is retried in a new segment, from its own
// checkpoint, while its failures (the job's own restarts included) stay
// within the trial's max_restarts; a job lost with its node (FAILED
// without an exit code, as the dispatcher records a lost heartbeat or a
// vanished process) is retried up to MaxLostRetries times more. Only then
// does the engine hear Fail. A trial is never left RUNNING: its state
// follows its job's, which the dispatcher never leaves RUNNING. When the
// first trials of a sweep all fail (max(3, parallel) of them, before any
// result), the sweep fails instead of burning through max_trials.
//
// # Crash safety
//
// Every decision is applied to the trials in memory, then written in one
// transaction with the searcher's snapshot (SweepStore.UpdateSweep,
// compare-and-set on the sweep's version), and only then carried out. A
// decision to start a job is recorded as the trial's pending submission of
// segment k; the job is submitted after the commit and its ID recorded in
// a second one. After a crash, Start loads every active sweep, restores
// its engine from the snapshot and carries out what was pending: a
// submission whose job exists (found by its three tags) is recorded, not
// repeated, so no trial runs twice; cancellations are sent again (a
// canceled job answers as it is). Then it reads each current job's state
// from the queue (jobs outlive the server; the dispatcher re-attaches to
// them first) and replays the reports in the store. A write that fails
// leaves the sweep to be reloaded from the store on the next tick.
//
// # Several servers
//
// With several servers on one database (PostgreSQL), only the one whose
// dispatcher leads runs sweeps (Config.Leading): the others keep no sweep
// in memory, answer Get and List from the store and refuse every change
// with EUNAVAILABLE (package http forwards those changes to the leader
// instead, see Service.Leading). A server that becomes the leader loads the active
// sweeps as Start does after a crash; one that stops leading forgets
// them. The compare-and-set on the sweep's version refuses a commit from
// a server that lost the lead after another committed.
//
// # Ask/tell
//
// A sweep without a command is run by the user: Suggest asks the searcher
// for configurations (the trials are then RUNNING) and Report records
// results and ends trials. A sweep whose searcher is "external" takes its
// configurations from the caller of Suggest (Optuna, a notebook); with a
// command its trials run as jobs through the queue, without one they are
// only recorded.
package sweep
