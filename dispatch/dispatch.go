// Package dispatch runs trainyard's job queue. It keeps the queue in memory
// (mirrored durably in the store), asks package sched where queued jobs
// start, hands them to an executor, follows them there, and records how
// each ended.
//
//	Submit ─▶ store: QUEUED ─▶ kick ─▶ loop
//	loop: snapshot ─▶ sched.Schedule ─▶ plan ─▶ store.UpdateJobs (compare-and-set, all or none)
//	        │ applied: executor.Start each ─▶ store: handle          │ stale: reload, plan again
//	        │ engines (Slurm, Kubernetes) place jobs themselves: every queued job is handed over
//	executor.Wait ─▶ exits ─▶ loop: SUCCEEDED / FAILED / CANCELED, or QUEUED again (max_restarts)
//
// Every change of a job is written with compare-and-set on its version, so
// that a plan made from a stale view (a job canceled meanwhile, another
// server's write) is rejected whole and made again, never half applied.
// The durable record comes before the act: a job is recorded as launched
// before its executor starts it, so that a crash in between never starts it
// twice (on restart the executor is asked whether it started it), and a
// start the store refused to record never happens.
//
// Jobs outlive the server: stopping it leaves them running, and Start
// re-attaches to them (or records how they ended while it was away) before
// scheduling anything.
//
// Several servers on one store (Config.Shared): each runs a dispatcher,
// and one at a time leads — it holds the store's lease, keeps the queue
// and the tasks in memory and schedules, exactly as a lone server does;
// every job change it writes carries its epoch, so that once deposed it
// can record nothing (fencing). The others follow: they store submissions
// (the store tells the leader), cancel queued jobs in the store directly
// (compare-and-set: a leader planning that job then finds its plan stale)
// and record cancels of running ones for the leader to carry out, and they
// answer reads, working out why queued jobs wait from the store with sched
// as the leader does. When the lease is lost the leader steps down,
// forgetting its tasks (they keep running), and campaigns again; the new
// leader re-attaches to them as a restarted server does.
//
//	follower: Submit ─▶ store (NOTIFY) ·········▶ leader: reload queue ─▶ schedule
//	follower: Cancel ─▶ queued: store CAS ─▶ CANCELED   running: store cancel request ─▶ leader: SIGTERM
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sched"
)

// Logs is where job output goes.
type Logs interface {
	Path(runID string) string
	Append(runID string, data []byte) error
}

// Config wires a Dispatcher. Zero fields take the defaults documented here.
type Config struct {
	Machine        trainyard.Machine // the machine the server runs on
	BackfillWindow time.Duration     // default sched.DefaultBackfillWindow
	KillGrace      time.Duration     // SIGTERM → SIGKILL on cancel; default 10s
	ServerURL      string            // given to jobs as TRAINYARD_URL
	BaseEnv        []string          // every job's environment starts here; default os.Environ()
	DefaultWorkdir string            // for jobs that name none; default the home directory
	CheckWorkdir   bool              // refuse at submit a workdir that does not exist here
	// ExtraEnv adds variables for a job (after its own env), e.g. for the
	// MLflow-compatible API.
	ExtraEnv func(j *trainyard.Job) []string
	// Withhold names variables of BaseEnv that job j does not get (the
	// server's credentials on a server with users); the job's own env may
	// still set them.
	Withhold func(j *trainyard.Job) []string
	// PollInterval is how often the tasks an engine holds are inspected
	// (pending reasons, the move to running) and failed records retried;
	// default 1s.
	PollInterval time.Duration
	// OnChange, when set, is called with a copy of a job after each of its
	// changes is stored (sweeps follow their trials this way). It must not
	// block.
	OnChange func(j *trainyard.Job)
	// Shared, when set, is the store as several servers share it: this
	// dispatcher schedules only while it holds the leader lease (see the
	// package comment). It is the same store as New's.
	Shared trainyard.SharedStore
	// Holder names this server in the leader election; default
	// hostname:pid.
	Holder string
	Clock  trainyard.Clock  // default time.Now
	NewID  trainyard.IDFunc // default trainyard.NewID
	Logger *slog.Logger
}

// Dispatcher implements trainyard.JobService.
type Dispatcher struct {
	cfg   Config
	store trainyard.Store
	exec  trainyard.Executor
	logs  Logs

	mu      sync.Mutex
	info    trainyard.ExecutorInfo
	queued  map[string]*trainyard.Job // QUEUED and not handed to the executor
	active  map[string]*task          // handed to the executor
	waits   map[string]sched.Wait     // why each queued job waits, from the last pass
	holding map[string]bool           // being canceled by CancelMany: not to be planned

	kick  chan struct{}
	exits chan exitEvent

	// The server's life: Close ends it.
	life     context.Context
	stopLife context.CancelFunc
	lifeWG   sync.WaitGroup
	// The current term as leader (the whole life without Shared): its
	// goroutines (loop, waiters) stop with ctx, and wg counts them.
	leading bool            // under mu
	epoch   int64           // the term's lease epoch; 0 without Shared; under mu
	events  <-chan struct{} // the store's job events (Shared), for the loop
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var _ trainyard.JobService = (*Dispatcher)(nil)

// task is a job the executor holds (or is being handed).
type task struct {
	job     *trainyard.Job // as stored: its Version is the store's
	handle  trainyard.Handle
	started bool // Start returned (or Recover found) handle
	// recovering: the server restarted before recording a handle and the
	// executor could not yet be asked whether it started the task.
	recovering bool
	dirty      bool // the handle or the engine's view is not stored yet
	phase      trainyard.Phase
	reason     string // the engine's, while pending there
	canceled   bool
	killed     bool // SIGKILL sent after the grace period
	timer      *time.Timer
	ended      *exitEvent // the task ended but the record failed: retried
}

type exitEvent struct {
	id     string
	status trainyard.ExitStatus
	err    error    // the task could not start, or was lost
	nodes  []string // where it ran, as the executor says once it ended
}

// New returns a Dispatcher; call Start to recover and begin scheduling.
func New(cfg Config, store trainyard.Store, exec trainyard.Executor, logs Logs) *Dispatcher {
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = 10 * time.Second
	}
	if cfg.BaseEnv == nil {
		cfg.BaseEnv = os.Environ()
	}
	if cfg.DefaultWorkdir == "" {
		cfg.DefaultWorkdir, _ = os.UserHomeDir()
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = trainyard.NewID
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Dispatcher{
		cfg: cfg, store: store, exec: exec, logs: logs,
		queued: map[string]*trainyard.Job{}, active: map[string]*task{}, waits: map[string]sched.Wait{},
		holding: map[string]bool{},
		kick:    make(chan struct{}, 1), exits: make(chan exitEvent, 64),
	}
}

// Start asks the executor what it offers and begins: without a shared
// store it leads at once — re-attaches to jobs that were running when the
// server last stopped, reloads the queue and starts the scheduling loop;
// with one it campaigns in the background and follows until it leads.
func (d *Dispatcher) Start(ctx context.Context) error {
	info, err := d.exec.Info(ctx)
	if err != nil {
		return fmt.Errorf("ask the %T executor what it offers: %w", d.exec, err)
	}
	d.info = info
	d.life, d.stopLife = context.WithCancel(context.Background())
	if d.cfg.Shared == nil {
		return d.lead(ctx, nil)
	}
	if d.cfg.Holder == "" {
		host, _ := os.Hostname()
		d.cfg.Holder = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	// A server that can lead at once (none other does) leads before
	// Start returns, as a lone server does: its first answers then know
	// how the jobs it finds stand.
	var lease trainyard.Lease
	first, cancel := context.WithTimeout(ctx, firstCampaign)
	lease, err = d.cfg.Shared.Campaign(first, d.cfg.Holder)
	cancel()
	if err == nil {
		d.cfg.Logger.Info("leading: this server schedules", "epoch", lease.Epoch(), "holder", d.cfg.Holder)
		if err := d.lead(ctx, lease); err != nil {
			lease.Release()
			return err
		}
	}
	d.lifeWG.Add(1)
	go d.campaign(lease)
	return nil
}

// firstCampaign is how long Start tries to lead before it follows.
var firstCampaign = 1500 * time.Millisecond

// campaign leads whenever it can for the server's life: it leads until
// the lease is lost, steps down, waits for the lease again, and so on.
// lease is the one Start won, or nil.
func (d *Dispatcher) campaign(lease trainyard.Lease) {
	defer d.lifeWG.Done()
	for d.life.Err() == nil {
		if lease == nil {
			var err error
			if lease, err = d.cfg.Shared.Campaign(d.life, d.cfg.Holder); err != nil {
				return // the server is stopping
			}
			d.cfg.Logger.Info("leading: this server schedules", "epoch", lease.Epoch(), "holder", d.cfg.Holder)
			if err := d.lead(d.life, lease); err != nil {
				d.cfg.Logger.Error("take over as leader; giving the lease up", "err", err)
				lease.Release()
				lease = nil
				time.Sleep(time.Second)
				continue
			}
		}
		select {
		case <-lease.Lost():
			d.cfg.Logger.Warn("lost the leader lease: another server may schedule now; following", "epoch", lease.Epoch())
			d.stepDown()
			lease = nil
		case <-d.life.Done():
			lease.Release()
			return
		}
	}
}

// lead begins a term as leader (lease nil: the only server): it loads the
// active jobs, re-attaches to the running ones and starts the loop.
func (d *Dispatcher) lead(ctx context.Context, lease trainyard.Lease) error {
	d.mu.Lock()
	d.ctx, d.cancel = context.WithCancel(d.life)
	d.mu.Unlock()
	var epoch int64
	if lease != nil {
		epoch = lease.Epoch()
		d.events = d.cfg.Shared.WatchJobs(d.ctx)
	}
	// Events from here on make the loop reload: a job stored between this
	// read and the loop's start is not missed.
	jobs, err := d.store.Jobs(ctx, trainyard.JobFilter{Active: true})
	if err != nil {
		d.cancel()
		return fmt.Errorf("load active jobs: %w", err)
	}
	d.mu.Lock()
	d.leading, d.epoch = true, epoch
	for _, j := range jobs {
		if !j.Launched && j.State == trainyard.StateQueued {
			d.queued[j.ID] = j
			continue
		}
		d.recover(ctx, j)
	}
	d.mu.Unlock()
	d.wg.Add(1)
	go d.loop()
	d.poke()
	return nil
}

// stepDown ends a term as leader: the loop and the waiters stop, and the
// queue and the tasks are forgotten (they keep running; whoever leads next
// re-attaches to them).
func (d *Dispatcher) stepDown() {
	d.cancel()
	d.wg.Wait()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.active {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	d.leading, d.epoch = false, 0
	d.queued, d.active = map[string]*trainyard.Job{}, map[string]*task{}
	d.waits, d.holding = map[string]sched.Wait{}, map[string]bool{}
	d.events = nil
	for len(d.exits) > 0 {
		<-d.exits
	}
}

// fenced returns ctx with the term's epoch: the store refuses the job
// changes it carries once another server leads. Called with d.mu held.
func (d *Dispatcher) fenced(ctx context.Context) context.Context {
	if d.epoch == 0 {
		return ctx
	}
	return trainyard.WithLeaderEpoch(ctx, d.epoch)
}

// Leading reports whether this dispatcher schedules now.
func (d *Dispatcher) Leading() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.leading
}

// recover re-attaches to the task of a job that was handed to the
// executor before the server stopped: by its stored handle, or by asking
// the executor when the server died before recording one. Called with d.mu
// held, before the loop runs.
func (d *Dispatcher) recover(ctx context.Context, j *trainyard.Job) {
	t := &task{job: j, handle: j.Handle, started: j.Handle != ""}
	d.active[j.ID] = t
	if !t.started {
		h, err := d.exec.Recover(ctx, j.Ref())
		switch {
		case trainyard.IsCode(err, trainyard.ENOTFOUND):
			// Never started: it may be queued again safely.
			d.requeue(t, "queued again: the server stopped while starting it")
			return
		case err != nil:
			d.cfg.Logger.Warn("cannot ask the executor about a job yet; will retry", "job", j.ID, "err", err)
			t.recovering = true // follow() asks again
			return
		}
		t.handle, t.started, t.dirty = h, true, true
		d.cfg.Logger.Info("found the task of a job whose start was not recorded", "job", j.ID)
	}
	ts, err := d.exec.Inspect(ctx, t.handle)
	switch {
	case err != nil && trainyard.IsCode(err, trainyard.EINVALID):
		d.finishLocked(exitEvent{id: j.ID, status: trainyard.ExitStatus{Lost: true}, err: fmt.Errorf("cannot re-attach: %s", trainyard.ErrorMessage(err))})
	case err != nil:
		d.cfg.Logger.Warn("cannot inspect a job's task yet; watching it", "job", j.ID, "err", err)
		d.watch(j.ID, t.handle)
	case ts.Phase == trainyard.PhaseEnded:
		ev := exitEvent{id: j.ID, status: ts.Exit}
		if ts.Exit.Lost {
			ev.err = fmt.Errorf("the job's process was gone, without an exit status, when the server restarted")
		}
		d.finishLocked(ev)
	default:
		t.phase, t.reason = ts.Phase, ts.Reason
		d.cfg.Logger.Info("re-attached to a job", "job", j.ID, "backend_id", ts.BackendID, "phase", ts.Phase)
		d.watch(j.ID, t.handle)
	}
}

// Close stops scheduling. Running jobs keep running; the next Start
// re-attaches to them.
func (d *Dispatcher) Close() {
	if d.stopLife == nil {
		return
	}
	d.stopLife()
	d.lifeWG.Wait()
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	d.mu.Lock()
	for _, t := range d.active {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
	d.mu.Unlock()
}

func (d *Dispatcher) poke() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

func (d *Dispatcher) loop() {
	defer d.wg.Done()
	tick := time.NewTicker(d.cfg.PollInterval) // ages waiting jobs, refreshes reasons, retries records
	defer tick.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case ev := <-d.exits:
			d.mu.Lock()
			d.finishLocked(ev)
			d.mu.Unlock()
		case <-d.kick:
		case <-d.events:
			// Another server stored a job or a cancel request.
			d.reload()
			d.serveCancelRequests()
		case <-tick.C:
			d.follow()
			d.serveCancelRequests()
		}
		d.schedule()
	}
}

// changed tells OnChange about a stored change.
func (d *Dispatcher) changed(j *trainyard.Job) {
	if d.cfg.OnChange != nil {
		d.cfg.OnChange(j.Clone())
	}
}

// Machine describes the machine the server runs on.
func (d *Dispatcher) Machine() trainyard.Machine { return d.cfg.Machine }

// Executor describes where jobs run.
func (d *Dispatcher) Executor(ctx context.Context) (trainyard.ExecutorInfo, error) {
	info, err := d.exec.Info(ctx)
	if err != nil {
		return info, err
	}
	d.mu.Lock()
	d.info = info
	d.mu.Unlock()
	return info, nil
}
