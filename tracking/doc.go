// Package tracking is the experiment-tracking service: the one place where
// the rules for writing runs live. Both HTTP adapters call it — the native
// API (package http) and the MLflow REST API (package mlflowapi) — so a rule
// is enforced once, the same way for every client:
//
//	native handlers ─┐
//	                 ├─► tracking.Service ─► trainyard.Store
//	MLflow handlers ─┘   (rules, limits)      (durable state)
//
// The rules:
//
//   - Keys (config, tag, metric) follow trainyard.ValidateKey; values have
//     the limits in limits.go (MLflow's: a param 6,000 characters, a run
//     tag 8,000, a key 250).
//   - A run's params (its config) are immutable: a key, once set, keeps
//     its value; the same value again is fine.
//   - A job's run belongs to its job: the job's exit decides how it ends.
//     A client asking to change its state is refused (UpdateRun); a report
//     from the run's own code (MLflow's update-run, sent by end_run) is
//     applied except for the state and end time (ReportRun).
//   - A deleted run takes no writes.
//   - Times must be representable: run times between the years 1 and 9999.
//
// Breaking a rule returns a *Violation, which is a trainyard.Error
// (errors.As) for every caller and also tells an adapter which rule broke
// and with what, so that the MLflow API can answer in MLflow's own words.
//
// Reads (get, list, search) go to the store directly: they enforce nothing.
package tracking
