package slurm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/launch"
)

var _ trainyard.Executor = (*Executor)(nil)

// Executor hands tasks to Slurm, one sbatch job per task. It is safe for
// concurrent use; Executors with the same configuration share nothing in
// memory, and each finds the tasks of another by their handles (a restarted
// server does).
type Executor struct {
	cfg   resolved
	queue *queue

	infoMu sync.Mutex
	info   trainyard.ExecutorInfo
	infoAt time.Time

	exitMu sync.Mutex
	exits  map[string]trainyard.ExitStatus // of ended jobs, by Slurm job id, until Cleanup
}

// New returns an Executor for the cluster that cfg's Slurm commands reach.
// It returns EINVALID, naming the field, when cfg is wrong or a command is
// missing; it does not contact the cluster (Info does).
func New(cfg Config) (*Executor, error) {
	r, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	e := &Executor{cfg: r, exits: map[string]trainyard.ExitStatus{}}
	e.queue = newQueue(&e.cfg)
	return e, nil
}

// Info lists the cluster's nodes from `sinfo --json`, cached for
// Config.InfoTTL: GPUs from each node's gpu GRES, CPUs, memory, its
// partitions as LabelPool (comma-separated: trainyard.PoolMatches) and its GRES
// type as LabelGPUType. Places is true: Slurm queues and places tasks.
// Warnings say when the cluster keeps no record of finished jobs.
func (e *Executor) Info(ctx context.Context) (trainyard.ExecutorInfo, error) {
	e.infoMu.Lock()
	defer e.infoMu.Unlock()
	if !e.infoAt.IsZero() && time.Since(e.infoAt) < e.cfg.InfoTTL {
		return e.info, nil
	}
	out, err := e.cfg.run(ctx, "sinfo", nil, "", "--json")
	if err != nil {
		return trainyard.ExecutorInfo{}, fmt.Errorf("list nodes: %w", err)
	}
	nodes, err := parseSinfo(out)
	if err != nil {
		return trainyard.ExecutorInfo{}, err
	}
	info := trainyard.ExecutorInfo{Kind: "slurm", Places: true, Nodes: nodes}
	if h, err := e.queue.historyOf(ctx); err != nil {
		return trainyard.ExecutorInfo{}, fmt.Errorf("read the cluster's configuration: %w", err)
	} else if h.note != "" {
		info.Warnings = append(info.Warnings, h.note)
	}
	e.info, e.infoAt = info, time.Now()
	return info, nil
}

// Start submits t as one sbatch job (see buildSubmission for its shape) and
// returns once Slurm has accepted it: the job may wait in Slurm's queue
// (Inspect says why). The run's log, t.LogPath, must be on a filesystem
// the nodes share: Slurm appends the job's output to it (--output,
// --open-mode=append) and each node's launcher writes its ranks' own logs
// next to it; Start creates its directory.
//
// Start returns EINVALID, and writes the reason into the log, when the
// task is malformed, names a GPU type no node has, or sbatch refuses it
// (an unknown partition, account or QOS, a request no node can satisfy).
// Nothing is queued then. On any other error (sbatch failing or timing
// out) Start cancels whatever job sbatch may have queued under the task's
// name before it returns.
func (e *Executor) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if t.LogPath != "" && filepath.IsAbs(t.LogPath) {
		if err := os.MkdirAll(filepath.Dir(t.LogPath), 0o755); err != nil {
			return "", fmt.Errorf("create log dir: %w", err)
		}
	}
	gpuType, err := e.gpuType(ctx, t)
	if err == nil {
		var sub submission
		sub, err = buildSubmission(e.cfg, t, gpuType)
		if err == nil {
			return e.submit(ctx, t, sub)
		}
	}
	if trainyard.IsCode(err, trainyard.EINVALID) {
		e.logRefusal(t, err)
	}
	return "", err
}

func (e *Executor) submit(ctx context.Context, t trainyard.Task, sub submission) (trainyard.Handle, error) {
	out, err := e.cfg.run(ctx, "sbatch", sub.Env, sub.Script, sub.Args...)
	if err == nil {
		id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
		if _, perr := decodeHandle(handle{V: handleVersion, JobID: id, Name: sub.Name}.encode()); perr != nil {
			err = fmt.Errorf("sbatch answered %q, not a job id", truncate(string(out), 80))
		} else {
			return handle{V: handleVersion, JobID: id, Name: sub.Name, At: time.Now().UnixMilli(),
				Exits: sub.Exits, Nodes: max(t.Nodes, 1)}.encode(), nil
		}
	}
	if said(err, "error:") && !said(err, transient...) {
		err = trainyard.Errorf(trainyard.EINVALID, "Slurm refused job %s: %s", t.JobID, strings.TrimSpace(err.(*commandError).msg))
		e.logRefusal(t, err)
		return "", err
	}
	// sbatch may have queued the job before it failed or was stopped.
	cctx, cancel := context.WithTimeout(context.Background(), squeueTimeout)
	defer cancel()
	if _, cerr := e.cfg.run(cctx, "scancel", nil, "", "--name="+sub.Name); cerr != nil && !said(cerr, notThere...) {
		err = errors.Join(err, fmt.Errorf("cancel what sbatch may have queued: %w", cerr))
	}
	return "", fmt.Errorf("submit job %s: %w", t.JobID, err)
}

// transient are what Slurm's commands say when the controller is busy,
// restarting or unreachable: worth retrying, unlike a refusal.
var transient = []string{"temporarily", "timed out", "Unable to contact", "Connection refused", "Zero Bytes", "try again", "Resource temporarily unavailable", "Socket"}

// notThere are what scancel says of a job that has ended or is unknown.
var notThere = []string{"already completing or completed", "Invalid job id", "Job/step already", "does not exist"}

func (e *Executor) logRefusal(t trainyard.Task, err error) {
	if t.LogPath == "" || !filepath.IsAbs(t.LogPath) {
		return
	}
	f, ferr := os.OpenFile(t.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if ferr != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "trainyard: %s\n", trainyard.ErrorMessage(err))
}

// gpuType matches the task's GPU type with the GRES types of the cluster's
// nodes (trainyard.GPUTypeMatches: "a100" matches "a100-80gb"). When no
// node names a GPU type, the task's is given to Slurm as it is.
func (e *Executor) gpuType(ctx context.Context, t trainyard.Task) (string, error) {
	if t.GPUType == "" || t.Resources.GPUs == 0 {
		return "", nil
	}
	info, err := e.Info(ctx)
	if err != nil {
		return "", err
	}
	types := map[string]bool{}
	for _, n := range info.Nodes {
		if typ := n.Labels[trainyard.LabelGPUType]; typ != "" {
			types[typ] = true
		}
	}
	if len(types) == 0 {
		return t.GPUType, nil
	}
	var match []string
	for typ := range types {
		if typ == t.GPUType || trainyard.GPUTypeMatches(typ, t.GPUType) {
			match = append(match, typ)
		}
	}
	sort.Strings(match)
	all := slices.Sorted(maps.Keys(types))
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", trainyard.FieldError("gpu_type", "no node of this cluster has GPUs of type %q (it has %s)", t.GPUType, strings.Join(all, ", "))
	}
	return "", trainyard.FieldError("gpu_type", "%q matches several GPU types of this cluster (%s): name one", t.GPUType, strings.Join(match, ", "))
}

// status reads the task's state from a snapshot begun at or after
// notBefore (and after the job was submitted), and says when that
// snapshot began.
func (e *Executor) status(ctx context.Context, h handle, notBefore time.Time, guess bool) (trainyard.TaskStatus, time.Time, error) {
	if sub := h.submitted(); notBefore.Before(sub) {
		// With guess, a job sbatch accepted less than a poll ago is
		// pending (or just started), unless a squeue since says more: no
		// call of its own, which a burst of starts would make one each.
		if guess && time.Since(sub) < e.cfg.PollInterval && e.queue.latest().Before(sub) {
			return trainyard.TaskStatus{Phase: trainyard.PhasePending, BackendID: h.JobID}, sub, nil
		}
		notBefore = sub
	}
	j, found, at, err := e.queue.lookup(ctx, h.JobID, h.Name, notBefore)
	if err != nil {
		return trainyard.TaskStatus{}, at, err
	}
	ts := trainyard.TaskStatus{BackendID: h.JobID}
	if !found {
		ts.Phase = trainyard.PhaseEnded
		ts.Exit = trainyard.ExitStatus{Lost: true,
			Reason: fmt.Sprintf("Slurm no longer knows job %s and keeps no record of how it ended", h.JobID)}
		return ts, at, nil
	}
	ts.Phase = phaseOf(j.State)
	ts.Nodes = j.Nodes
	switch ts.Phase {
	case trainyard.PhasePending:
		ts.Reason = j.Reason
		if j.State != "PENDING" {
			ts.Reason = strings.TrimSpace(j.State + " " + j.Reason)
		}
		ts.Nodes = nil
	case trainyard.PhaseEnded:
		ts.Exit = e.exitStatus(h, j)
	}
	return ts, at, nil
}

// exitStatus is how an ended job ended. When it failed by itself (state
// FAILED), the nodes' exit records say which rank failed first, with its
// own code and signal: srun's code, the highest of its tasks, may be
// that of a node it stopped. The answer is kept until Cleanup.
func (e *Executor) exitStatus(h handle, j job) trainyard.ExitStatus {
	e.exitMu.Lock()
	defer e.exitMu.Unlock()
	if st, ok := e.exits[j.ID]; ok {
		return st
	}
	st := exitOf(j)
	if j.State == "FAILED" && h.Exits != "" {
		var first *launch.ExitRecord
		for n := range max(h.Nodes, 1) {
			r, err := launch.ReadExit(filepath.Join(h.Exits, j.ID), n)
			if err == nil && r.Code != 0 && (first == nil || r.At.Before(first.At)) {
				first = &r
			}
		}
		if first != nil {
			st = trainyard.ExitStatus{Code: first.Code, Signal: first.Signal, Reason: first.Reason}
		}
	}
	e.exits[j.ID] = st
	return st
}

// Inspect reports the task's state from Slurm's queue as read at most
// Config.PollInterval ago: pending with Slurm's reason (Priority,
// Resources, ...), running on its nodes, or ended with its exit status.
// A job Slurm no longer lists is looked up in its history (sacct); one
// found nowhere has ended, Lost. Returns EINVALID for a handle not made by
// this package and an error when Slurm cannot be asked.
func (e *Executor) Inspect(ctx context.Context, h trainyard.Handle) (trainyard.TaskStatus, error) {
	d, err := decodeHandle(h)
	if err != nil {
		return trainyard.TaskStatus{}, err
	}
	ts, _, err := e.status(ctx, d, time.Now().Add(-e.cfg.PollInterval), true)
	return ts, err
}

// Wait polls the task's state (sharing squeue calls with every other
// Inspect and Wait) until it has ended, and returns how. A failing squeue
// is asked again at the next poll. It returns ctx's error if ctx ends
// first, and EINVALID for a handle not made by this package.
func (e *Executor) Wait(ctx context.Context, h trainyard.Handle) (trainyard.ExitStatus, error) {
	d, err := decodeHandle(h)
	if err != nil {
		return trainyard.ExitStatus{}, err
	}
	notBefore := time.Now().Add(-e.cfg.PollInterval)
	for {
		ts, at, err := e.status(ctx, d, notBefore, true)
		if err == nil && ts.Phase == trainyard.PhaseEnded {
			return ts.Exit, nil
		}
		if ctx.Err() != nil {
			return trainyard.ExitStatus{}, ctx.Err()
		}
		if at.IsZero() {
			at = time.Now()
		}
		// The next poll, on a grid every waiter shares, so that one
		// squeue call answers them all.
		notBefore = at.Add(e.cfg.PollInterval).Truncate(e.cfg.PollInterval)
		timer := time.NewTimer(time.Until(notBefore))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return trainyard.ExitStatus{}, ctx.Err()
		}
	}
}

// Signal sends sig to the task. A pending job is cancelled (it never ran).
// For a running job SIGTERM goes to the launcher of each node, which
// passes it to its ranks (`scancel --batch --signal=TERM` on one node,
// `scancel --signal=TERM` to the srun step on several); SIGKILL kills the whole job at once (`scancel --full
// --signal=KILL`, then `scancel`), without Slurm's own KillWait grace, as
// the dispatcher has already given its own. Signalling an ended task is
// not an error. Returns EINVALID for a bad handle or signal.
func (e *Executor) Signal(ctx context.Context, h trainyard.Handle, sig trainyard.Signal) error {
	d, err := decodeHandle(h)
	if err != nil {
		return err
	}
	if sig != trainyard.SIGTERM && sig != trainyard.SIGKILL {
		return trainyard.Errorf(trainyard.EINVALID, "signal %q: want SIGTERM or SIGKILL", sig)
	}
	ts, _, err := e.status(ctx, d, time.Now().Add(-e.cfg.PollInterval), false)
	if err != nil {
		return err
	}
	scancel := func(args ...string) error {
		_, err := e.cfg.run(ctx, "scancel", nil, "", append(args, d.JobID)...)
		if err != nil && said(err, notThere...) {
			return nil
		}
		return err
	}
	switch {
	case ts.Phase == trainyard.PhaseEnded:
		return nil
	case ts.Phase == trainyard.PhasePending:
		err = scancel()
	case sig == trainyard.SIGTERM:
		// To the launchers only (the batch script on one node, the srun
		// step on several), which pass it to their ranks, so that a job
		// that stops cleanly keeps its exit code: srun, signalled itself,
		// would end its step at once. A launcher that has not started yet
		// would get nothing, so such a job is cancelled whole: Slurm sends
		// SIGTERM to all of it, and SIGKILL after KillWait.
		step := "batch"
		if d.Nodes > 1 || d.Nodes == 0 {
			step = "0"
		}
		var started bool
		started, err = e.stepStarted(ctx, d.JobID, step)
		switch {
		case err != nil:
		case started && step == "batch":
			err = scancel("--batch", "--signal=TERM")
		case started:
			err = scancel("--signal=TERM")
		default:
			err = scancel()
		}
	default:
		err = scancel("--full", "--signal=KILL")
		if err == nil {
			err = scancel()
		}
	}
	if err != nil {
		return fmt.Errorf("signal Slurm job %s: %w", d.JobID, err)
	}
	return nil
}

// stepStarted reports whether step ("batch", "0") of the job exists.
func (e *Executor) stepStarted(ctx context.Context, id, step string) (bool, error) {
	out, err := e.cfg.run(ctx, "squeue", nil, "", "--steps", "--noheader", "--jobs="+id, "--format=%i")
	if err != nil {
		if said(err, notThere...) {
			return false, nil
		}
		return false, err
	}
	for _, s := range strings.Fields(string(out)) {
		if s == id+"."+step {
			return true, nil
		}
	}
	return false, nil
}

// Recover finds the Slurm job of attempt ref by its name, among the jobs
// Slurm lists and then in its history (sacct, over the last 30 days). Of
// several (a Start retried after a crash), one that has not ended wins,
// then the newest. Returns ENOTFOUND when there is none.
func (e *Executor) Recover(ctx context.Context, ref trainyard.TaskRef) (trainyard.Handle, error) {
	name := jobName(ref)
	s, err := e.queue.current(ctx, time.Now())
	if err != nil {
		return "", err
	}
	var cands []job
	for _, j := range s.jobs {
		if j.Name == name {
			cands = append(cands, j)
		}
	}
	if len(cands) == 0 {
		hist, err := e.queue.history(ctx, "--starttime=now-30days")
		if err != nil {
			return "", fmt.Errorf("read Slurm's history: %w", err)
		}
		for _, j := range hist {
			if j.Name == name {
				cands = append(cands, j)
			}
		}
	}
	if len(cands) == 0 {
		return "", trainyard.Errorf(trainyard.ENOTFOUND, "no Slurm job of job %s attempt %d", ref.JobID, ref.Attempt)
	}
	best := cands[0]
	for _, j := range cands[1:] {
		live, bestLive := phaseOf(j.State) != trainyard.PhaseEnded, phaseOf(best.State) != trainyard.PhaseEnded
		if live && !bestLive || live == bestLive && newer(j.ID, best.ID) {
			best = j
		}
	}
	h := handle{V: handleVersion, JobID: best.ID, Name: name, Nodes: best.Count} // At unknown: Slurm has it already
	if strings.HasSuffix(best.StdOut, ".log") {
		h.Exits = exitsDir(best.StdOut)
	}
	return h.encode(), nil
}

// newer compares numeric job ids.
func newer(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// Cleanup forgets the ended task's state and removes its nodes' exit
// records. Slurm purges its own records (MinJobAge) and the logs belong to
// the run. Returns ECONFLICT while the task is pending or running.
func (e *Executor) Cleanup(ctx context.Context, h trainyard.Handle) error {
	d, err := decodeHandle(h)
	if err != nil {
		return err
	}
	ts, _, err := e.status(ctx, d, time.Now().Add(-e.cfg.PollInterval), false)
	if err != nil {
		return err
	}
	if ts.Phase != trainyard.PhaseEnded {
		return trainyard.Errorf(trainyard.ECONFLICT, "Slurm job %s is still %s", d.JobID, ts.Phase)
	}
	e.queue.forget(d.JobID)
	e.exitMu.Lock()
	delete(e.exits, d.JobID)
	e.exitMu.Unlock()
	if d.Exits != "" {
		if err := os.RemoveAll(filepath.Join(d.Exits, d.JobID)); err != nil {
			return fmt.Errorf("remove exit records: %w", err)
		}
		os.Remove(d.Exits) // once no other attempt's are left
	}
	return nil
}
