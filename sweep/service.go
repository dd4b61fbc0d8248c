package sweep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
)

// Store is what the service needs of the store: sweeps and trials, the
// trials' metric series (read back when a job ends and after a crash) and
// run search (to find a trial's job after a crash).
type Store interface {
	trainyard.SweepStore
	ReadSeries(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error)
	SearchRuns(ctx context.Context, q trainyard.RunSearch) ([]*trainyard.Run, string, error)
}

// Jobs is what the service needs of the job queue; trainyard.JobService
// (the dispatcher) has it. The service acts for the server: give it the
// queue itself, not a view guarded for callers (package access). It
// submits a trial's job in a context whose identity is the sweep's owner,
// whom the queue records as the job's owner.
type Jobs interface {
	Submit(ctx context.Context, spec trainyard.JobSpec) (*trainyard.Job, error)
	CancelMany(ctx context.Context, ids []string) ([]*trainyard.Job, error)
	Job(ctx context.Context, id string) (*trainyard.Job, error)
	Executor(ctx context.Context) (trainyard.ExecutorInfo, error)
}

// Config wires a Service. Zero fields take the defaults documented here.
type Config struct {
	Store Store
	// Jobs runs the trials of managed sweeps; nil allows ask/tell sweeps
	// only.
	Jobs Jobs
	// CheckpointDir holds the trials' checkpoints, a directory per trial
	// (CheckpointDir/SWEEP/trial-N); on Slurm and Kubernetes it must be on
	// a file system the nodes share. Default: "checkpoints" under the
	// working directory (cmd/trainyard passes DATA/checkpoints).
	CheckpointDir string
	// StopGrace is how long a trial told to stop or pause may take to save
	// its checkpoint and exit before its job is canceled; default 30s.
	StopGrace time.Duration
	// TickInterval is how often stop deadlines and time budgets are checked
	// and reports that led to nothing are committed; default 1s.
	TickInterval time.Duration
	Clock        trainyard.Clock // default time.Now
	// Leading reports whether this server runs sweeps; nil: always. With
	// several servers on one database (PostgreSQL), only the one that
	// schedules (dispatch.Dispatcher.Leading) runs them: the others
	// answer reads from the store and refuse changes with EUNAVAILABLE.
	// The service looks at it before each pass: a server that becomes the
	// leader loads the active sweeps as after a restart; one that stops
	// leading forgets them.
	Leading func() bool
	NewID   trainyard.IDFunc // sweep IDs; default trainyard.NewID
	Logger  *slog.Logger
	// Authorize decides whether the caller (the identity in ctx) may do
	// what verb says to sw: read it (write false), or create or change it
	// (write true). For a creation sw is the sweep about to be stored: its
	// Project and Owner are set, its ID is not. Changes are pause, resume,
	// stop, suggest and report. It returns nil or an EFORBIDDEN error; nil
	// allows everything. With users (access.Sweeps), reading needs the
	// viewer role in the sweep's project, creating the member role (a
	// sweep starts jobs), and changing one needs to own it as a member or
	// the admin role there, as canceling a job does.
	Authorize func(ctx context.Context, verb string, write bool, sw *trainyard.Sweep) error
	// Audit records a change a caller made once it is stored: action is
	// sweep.create, sweep.pause, sweep.resume or sweep.stop
	// (access.Service.RecordSweep); nil records nothing.
	Audit func(ctx context.Context, action string, sw *trainyard.Sweep)
}

// allow is cfg.Authorize, or yes when there is none.
func (s *Service) allow(ctx context.Context, verb string, write bool, sw *trainyard.Sweep) error {
	if s.cfg.Authorize == nil {
		return nil
	}
	return s.cfg.Authorize(ctx, verb, write, sw)
}

// allowSweep loads sweep id and checks the caller against it.
func (s *Service) allowSweep(ctx context.Context, verb string, write bool, id string) error {
	if s.cfg.Authorize == nil {
		return nil
	}
	sw, err := s.cfg.Store.Sweep(ctx, id)
	if err != nil {
		return err
	}
	return s.cfg.Authorize(ctx, verb, write, sw)
}

// audit records a caller's change (Config.Audit).
func (s *Service) audit(ctx context.Context, action string, sw *trainyard.Sweep) {
	if s.cfg.Audit != nil {
		s.cfg.Audit(ctx, action, sw)
	}
}

// asOwner is the context the jobs of a sweep's trials are submitted in:
// they belong to the sweep's owner (the queue records
// trainyard.OwnerFrom), so that the owner may cancel them as their own.
func (s *Service) asOwner(sw *trainyard.Sweep) context.Context {
	if sw.Owner == "" {
		return s.ctx
	}
	return trainyard.WithIdentity(s.ctx, &trainyard.Identity{User: sw.Owner, Via: "sweep"})
}

// MaxLostRetries is how many times a trial whose job was lost (its node or
// its process vanished without an exit status) is retried, on top of its
// max_restarts.
const MaxLostRetries = 3

// Service runs sweeps. It is safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	sweeps map[string]*live // active sweeps, by ID
	reload map[string]bool  // sweeps to load again from the store (a write failed)

	// runs maps the run ID of every live trial's current job to its trial:
	// the metric hook's one lookup.
	runs sync.Map // string → *runRef

	evMu    sync.Mutex
	events  []*trainyard.Job // job changes not yet handled
	started bool

	leading bool // under mu: the sweeps are loaded (see Config.Leading)

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Service; call Start to load the active sweeps and begin.
func New(cfg Config) *Service {
	if cfg.CheckpointDir == "" {
		cfg.CheckpointDir = "checkpoints"
	}
	if cfg.StopGrace <= 0 {
		cfg.StopGrace = 30 * time.Second
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = time.Second
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
	s := &Service{cfg: cfg, log: cfg.Logger, sweeps: map[string]*live{}, reload: map[string]bool{}, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// SetJobs sets the job queue after New, for wiring where the queue needs
// the service first (its OnChange is OnJob). Call it before Start.
func (s *Service) SetJobs(j Jobs) { s.cfg.Jobs = j }

// OnJob is told about every stored change of a job (dispatch.Config's
// OnChange). It never blocks: jobs that are not trials are dropped at once,
// the others are queued for the service's loop. Changes that come before
// Start are kept and handled after the sweeps are loaded.
func (s *Service) OnJob(j *trainyard.Job) {
	if j.Tags[trainyard.TagSweep] == "" {
		return
	}
	s.evMu.Lock()
	s.events = append(s.events, j)
	s.evMu.Unlock()
	s.poke()
}

func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Start loads every active sweep from the store, carries out what each had
// decided and not yet done (submissions, cancellations), catches up with
// its trials' jobs and reports, and starts the loop. Start the job queue
// first: its jobs' states are read here.
func (s *Service) Start(ctx context.Context) error {
	if s.leads() {
		if err := s.loadActive(ctx); err != nil {
			return err
		}
	}
	s.evMu.Lock()
	s.started = true
	s.evMu.Unlock()
	s.wg.Add(1)
	go s.loop()
	s.poke()
	return nil
}

// loadActive loads every active sweep (after a start, or on becoming the
// leader).
func (s *Service) loadActive(ctx context.Context) error {
	sweeps, err := s.cfg.Store.Sweeps(ctx, trainyard.SweepFilter{Active: true, Limit: 1 << 30})
	if err != nil {
		return fmt.Errorf("load active sweeps: %w", err)
	}
	s.mu.Lock()
	s.leading = true
	s.mu.Unlock()
	for _, sw := range sweeps {
		if err := s.load(ctx, sw); err != nil {
			s.log.Error("load a sweep; will retry", "sweep", sw.ID, "err", err)
			s.mu.Lock()
			s.reload[sw.ID] = true
			s.mu.Unlock()
		}
	}
	return nil
}

// Leading reports whether this server runs sweeps now (Config.Leading):
// when it does not, changes are refused with EUNAVAILABLE, and the HTTP
// layer forwards them to the server that does.
func (s *Service) Leading() bool { return s.leads() }

func (s *Service) leads() bool { return s.cfg.Leading == nil || s.cfg.Leading() }

// checkLeader follows Config.Leading: it loads the active sweeps when
// this server became the leader, and forgets them when it stopped
// leading. It reports whether the server leads.
func (s *Service) checkLeader() bool {
	now := s.leads()
	s.mu.Lock()
	was := s.leading
	s.mu.Unlock()
	switch {
	case now && !was:
		s.log.Info("leading: this server runs the sweeps")
		if err := s.loadActive(s.ctx); err != nil {
			s.log.Error("load the active sweeps; will retry", "err", err)
			return false
		}
	case !now && was:
		s.log.Info("not leading: another server runs the sweeps")
		for _, l := range s.liveSweeps() {
			l.mu.Lock()
			s.drop(l, false)
			l.mu.Unlock()
		}
		s.mu.Lock()
		s.leading = false
		clear(s.reload)
		s.mu.Unlock()
	}
	return now
}

// mustLead refuses a change on a server that does not run sweeps.
func (s *Service) mustLead() error {
	s.mu.Lock()
	leading := s.leading
	s.mu.Unlock()
	if !leading || !s.leads() {
		return trainyard.Errorf(trainyard.EUNAVAILABLE, "this server does not run sweeps: another server on the same database schedules (its /api/v1/health says \"role\": \"leader\"); send sweep changes to it")
	}
	return nil
}

// Close stops the loop. Trials' jobs keep running; the next Start follows
// them again.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Service) loop() {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.TickInterval)
	defer tick.Stop()
	for {
		ticked := false
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
			ticked = true
		}
		if !s.checkLeader() {
			s.handleEvents() // nothing is live: they are dropped
			continue
		}
		s.handleEvents()
		if ticked {
			s.reloadFailed()
		}
		for _, l := range s.liveSweeps() {
			l.mu.Lock()
			if !l.dead && (ticked || l.poked) {
				l.poked = false
				s.advance(l, ticked)
			}
			l.mu.Unlock()
		}
	}
}

// handleEvents applies the job changes that came in, in order.
func (s *Service) handleEvents() {
	s.evMu.Lock()
	evs := s.events
	s.events = nil
	s.evMu.Unlock()
	for _, j := range evs {
		l := s.liveSweep(j.Tags[trainyard.TagSweep])
		if l == nil {
			continue
		}
		l.mu.Lock()
		if !l.dead {
			s.onJob(l, j)
			l.poked = true
		}
		l.mu.Unlock()
	}
}

func (s *Service) reloadFailed() {
	s.mu.Lock()
	var ids []string
	for id := range s.reload {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		sw, err := s.cfg.Store.Sweep(s.ctx, id)
		if err == nil {
			if !sw.State.Active() {
				s.mu.Lock()
				delete(s.reload, id)
				s.mu.Unlock()
				continue
			}
			err = s.load(s.ctx, sw)
		}
		if err != nil {
			s.log.Warn("reload a sweep; will retry", "sweep", id, "err", err)
			continue
		}
		s.mu.Lock()
		delete(s.reload, id)
		s.mu.Unlock()
	}
}

func (s *Service) liveSweep(id string) *live {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sweeps[id]
}

func (s *Service) liveSweeps() []*live {
	s.mu.Lock()
	defer s.mu.Unlock()
	// By the map's keys: l.sw is l.mu's to read, not s.mu's.
	ids := make([]string, 0, len(s.sweeps))
	for id := range s.sweeps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]*live, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.sweeps[id])
	}
	return out
}

// drop forgets a live sweep: it ended, or a write failed and it is to be
// loaded again from the store. Called with l.mu held.
func (s *Service) drop(l *live, reload bool) {
	l.dead = true
	for _, t := range l.trials {
		if j := t.Job(); j != "" {
			s.runs.CompareAndDelete(j, l.refs[j])
		}
	}
	s.mu.Lock()
	if s.sweeps[l.sw.ID] == l {
		delete(s.sweeps, l.sw.ID)
	}
	if reload {
		s.reload[l.sw.ID] = true
	}
	s.mu.Unlock()
}

func (s *Service) now() time.Time { return s.cfg.Clock().UTC().Truncate(time.Microsecond) }

// Directive returns what the code of the run's trial is asked to do:
// "stop", "pause", or "" (go on, or not a trial). It is one map read.
func (s *Service) Directive(runID string) string {
	v, ok := s.runs.Load(runID)
	if !ok {
		return ""
	}
	return v.(*runRef).directive.Load().(string)
}

// ObserveMetrics is the metric hook (tracking.Config.OnMetrics): called
// after points of a run are stored, it feeds the points of the sweep's
// metric reported by a trial's run to the searcher. For any other run it
// costs one map read.
func (s *Service) ObserveMetrics(ctx context.Context, runID string, batch []trainyard.SeriesPoints) {
	v, ok := s.runs.Load(runID)
	if !ok || !s.leads() {
		return
	}
	ref := v.(*runRef)
	l := ref.l
	var pts *trainyard.SeriesPoints
	for i := range batch {
		if batch[i].Key == l.metric {
			pts = &batch[i]
			break
		}
	}
	if pts == nil || pts.Len() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.trials[ref.trial]
	if l.dead || t == nil || t.Job() != runID {
		return
	}
	if t.JobState == trainyard.StateQueued {
		// It reports, so it runs: its job's change may still be on its way.
		t.JobState = trainyard.StateRunning
		l.mark(t)
	}
	acted := s.feed(l, t, pts.Steps, pts.Values)
	if acted {
		// The answer tells the SDK the directive: commit it first.
		if err := s.commit(l); err == nil {
			l.poked = true
			s.poke()
		}
	}
}

// errStopped is returned by calls made while the service is closing.
var errStopped = errors.New("the sweep service is stopping")
