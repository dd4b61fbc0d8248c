package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trainyard/trainyard"
)

// queue follows the states of trainyard's Slurm jobs: one `squeue --json`
// call at a time, at most one per poll interval however many tasks are
// inspected or waited for, and, for jobs squeue no longer lists, one sacct
// call each, whose answer (a final state) is kept until Cleanup.
type queue struct {
	cfg *resolved

	mu         sync.Mutex
	snap       snapshot      // the last finished squeue call
	refreshing chan struct{} // closed when the call in flight ends; nil when none
	startedAt  time.Time     // when the call in flight began
	ended      map[string]job
	calls      atomic.Int64 // squeue calls made, for tests
	hist       *historyMode // how to read finished jobs; nil until first needed
}

// snapshot is the answer of one squeue call.
type snapshot struct {
	at   time.Time // when the call began: it lists every job submitted before
	jobs map[string]job
	err  error
}

func newQueue(cfg *resolved) *queue {
	return &queue{cfg: cfg, ended: map[string]job{}}
}

// squeueTimeout bounds one squeue call; a controller that does not answer
// in this long is reported as an error and asked again at the next poll.
const squeueTimeout = 30 * time.Second

// current returns a snapshot whose squeue call began at or after
// notBefore, waiting for one (or starting one) if needed. Callers share
// calls: while one is in flight, everyone who can use it waits for it.
func (q *queue) current(ctx context.Context, notBefore time.Time) (snapshot, error) {
	for {
		q.mu.Lock()
		if !q.snap.at.IsZero() && !q.snap.at.Before(notBefore) {
			s := q.snap
			q.mu.Unlock()
			return s, s.err
		}
		if q.refreshing == nil {
			q.refreshing = make(chan struct{})
			q.startedAt = time.Now()
			go q.refresh(q.refreshing, q.startedAt)
		}
		ch := q.refreshing
		q.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return snapshot{}, ctx.Err()
		}
	}
}

func (q *queue) refresh(done chan struct{}, at time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), squeueTimeout)
	defer cancel()
	s := snapshot{at: at, jobs: map[string]job{}}
	q.calls.Add(1)
	// Slurm 22.05 ignores squeue's filters with --json (it lists every
	// job); later versions honour them.
	out, err := q.cfg.run(ctx, "squeue", nil, "", "--json", "--me", "--states=all")
	if err == nil {
		var jobs []job
		jobs, err = parseSqueue(out)
		for _, j := range jobs {
			if strings.HasPrefix(j.Name, "trainyard-") {
				s.jobs[j.ID] = j
			}
		}
	}
	s.err = err
	q.mu.Lock()
	q.snap = s
	q.refreshing = nil
	q.mu.Unlock()
	close(done)
}

// lookup returns the state of job id named name: from a snapshot begun at
// or after notBefore, else from the jobs that ended, else from Slurm's
// history. found is false when nothing knows the job.
func (q *queue) lookup(ctx context.Context, id, name string, notBefore time.Time) (j job, found bool, snapAt time.Time, err error) {
	s, err := q.current(ctx, notBefore)
	if err != nil {
		return job{}, false, time.Time{}, err
	}
	if j, ok := s.jobs[id]; ok && j.Name == name {
		if phaseOf(j.State) == trainyard.PhaseEnded {
			q.mu.Lock()
			q.ended[id] = j
			q.mu.Unlock()
		}
		return j, true, s.at, nil
	}
	q.mu.Lock()
	j, ok := q.ended[id]
	q.mu.Unlock()
	if ok && j.Name == name {
		return j, true, s.at, nil
	}
	hist, err := q.history(ctx, "-j", id)
	if err != nil {
		return job{}, false, s.at, err
	}
	for _, j := range hist {
		if j.ID == id && j.Name == name {
			if phaseOf(j.State) == trainyard.PhaseEnded {
				q.mu.Lock()
				q.ended[id] = j
				q.mu.Unlock()
			}
			return j, true, s.at, nil
		}
	}
	return job{}, false, s.at, nil
}

// latest is when the last finished squeue call began.
func (q *queue) latest() time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.snap.at
}

// forget drops what the queue keeps of an ended job.
func (q *queue) forget(id string) {
	q.mu.Lock()
	delete(q.ended, id)
	q.mu.Unlock()
}

// historyMode is how finished jobs are read: from the accounting database
// (sacct), from the job completion log (sacct --completion, which reads
// JobCompLoc of jobcomp/filetxt), or not at all.
type historyMode struct {
	args []string // sacct's first arguments; nil when there is no history
	note string   // what Info warns when there is none
}

// historyOf reads the cluster's configuration once.
func (q *queue) historyOf(ctx context.Context) (*historyMode, error) {
	q.mu.Lock()
	h := q.hist
	q.mu.Unlock()
	if h != nil {
		return h, nil
	}
	out, err := q.cfg.run(ctx, "scontrol", nil, "", "show", "config")
	if err != nil {
		return nil, err
	}
	conf := parseConfig(out)
	h = &historyMode{}
	switch {
	case conf["AccountingStorageType"] == "accounting_storage/slurmdbd":
		h.args = []string{}
	case conf["JobCompType"] == "jobcomp/filetxt":
		h.args = []string{"--completion"}
	default:
		h.note = fmt.Sprintf("this cluster keeps no record of finished jobs (AccountingStorageType=%s, JobCompType=%s): a job that ends while trainyard is stopped for longer than MinJobAge (%s) is recorded as lost",
			conf["AccountingStorageType"], conf["JobCompType"], conf["MinJobAge"])
	}
	q.mu.Lock()
	q.hist = h
	q.mu.Unlock()
	return h, nil
}

// history asks sacct about jobs (sel: "-j ID" or a time window).
func (q *queue) history(ctx context.Context, sel ...string) ([]job, error) {
	h, err := q.historyOf(ctx)
	if err != nil || h.args == nil {
		return nil, err
	}
	args := append(append([]string{}, h.args...), "--noheader", "--parsable2", "--allocations", "--format="+sacctFields)
	out, err := q.cfg.run(ctx, "sacct", nil, "", append(args, sel...)...)
	if err != nil {
		return nil, err
	}
	return parseSacct(out)
}

// parseConfig reads `scontrol show config`: "Key = value" lines.
func parseConfig(b []byte) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// run runs a Slurm command with SLURM_CONF set, stdin from in, and env
// (nil: the server's, without variables that steer Slurm's commands). Its
// error carries the command's stderr.
func (c *resolved) run(ctx context.Context, name string, env []string, in string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.paths[name], args...)
	if env == nil {
		env = commandEnv(os.Environ(), c.SlurmConf)
	}
	cmd.Env = env
	if in != "" {
		cmd.Stdin = strings.NewReader(in)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", name, ctx.Err())
		}
		if msg == "" {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, &commandError{name: name, msg: msg, err: err}
	}
	return stdout.Bytes(), nil
}

// commandError is a Slurm command that failed, with what it said.
type commandError struct {
	name, msg string
	err       error
}

func (e *commandError) Error() string { return e.name + ": " + e.msg }
func (e *commandError) Unwrap() error { return e.err }

// said reports whether err is a command's failure that mentions any of
// the phrases.
func said(err error, phrases ...string) bool {
	var ce *commandError
	if !errors.As(err, &ce) {
		return false
	}
	for _, p := range phrases {
		if strings.Contains(ce.msg, p) {
			return true
		}
	}
	return false
}

// commandEnv is env without the variables that steer Slurm's commands
// (SLURM_*, SQUEUE_*, ...), with SLURM_CONF when given.
func commandEnv(env []string, slurmConf string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "SLURM_"), strings.HasPrefix(k, "SQUEUE_"), strings.HasPrefix(k, "SACCT_"),
			strings.HasPrefix(k, "SINFO_"), strings.HasPrefix(k, "SCANCEL_"), strings.HasPrefix(k, "SBATCH_"),
			strings.HasPrefix(k, "SRUN_"), strings.HasPrefix(k, "SALLOC_"):
			continue
		}
		out = append(out, kv)
	}
	if slurmConf != "" {
		out = append(out, "SLURM_CONF="+slurmConf)
	}
	return out
}
