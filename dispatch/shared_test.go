package dispatch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/dispatch"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/postgres"
)

// cluster is several dispatchers on one PostgreSQL, as several servers on
// one machine: one state directory for the local executor, one log
// directory.
type cluster struct {
	t    *testing.T
	dir  string
	url  string
	logs *disk.Logs
	ds   []*dispatch.Dispatcher
	ss   []*postgres.Store
}

func newCluster(t *testing.T, n int) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), url: pgtest.NewDatabase(t)}
	var err error
	if c.logs, err = disk.NewLogs(filepath.Join(c.dir, "logs")); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.add(i)
	}
	return c
}

func (c *cluster) add(i int) {
	s, err := postgres.Open(ctx, c.url, postgres.Options{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { s.Close() })
	m := machine(0)
	exec, err := local.New(local.Config{ShimCommand: []string{os.Args[0]}, StateDir: filepath.Join(c.dir, "state"), Node: m.Node()})
	if err != nil {
		c.t.Fatal(err)
	}
	d := dispatch.New(dispatch.Config{
		Machine: m, ServerURL: "http://test", KillGrace: 500 * time.Millisecond,
		BaseEnv: []string{shimEnv + "=1", "PATH=" + os.Getenv("PATH")}, DefaultWorkdir: c.dir,
		Shared: s, Holder: "server" + string(rune('0'+i)), PollInterval: 200 * time.Millisecond,
	}, s, exec, c.logs)
	if err := d.Start(ctx); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(d.Close)
	c.ds, c.ss = append(c.ds, d), append(c.ss, s)
}

// leader waits until exactly one live dispatcher leads and returns its
// index.
func (c *cluster) leader(live []int) int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var leading []int
		for _, i := range live {
			if c.ds[i].Leading() {
				leading = append(leading, i)
			}
		}
		if len(leading) > 1 {
			c.t.Fatalf("dispatchers %v lead at once", leading)
		}
		if len(leading) == 1 {
			return leading[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no dispatcher leads after 10 s")
	return -1
}

func (c *cluster) waitFor(d *dispatch.Dispatcher, id, what string, cond func(*trainyard.Job) bool) *trainyard.Job {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if j, err := d.Job(ctx, id); err == nil && cond(j) {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j, _ := d.Job(ctx, id)
	c.t.Fatalf("job %s: timed out waiting for %s; it is %+v", id, what, j)
	return nil
}

// Jobs submitted to servers that do not lead run, once each, on the
// leader; a follower explains why a queued job waits as the leader does.
func TestFollowersSubmitTheLeaderRuns(t *testing.T) {
	c := newCluster(t, 3)
	lead := c.leader([]int{0, 1, 2})
	follower := c.ds[(lead+1)%3]
	marks := filepath.Join(c.dir, "ran")
	var ids []string
	for i := range 6 {
		j, err := c.ds[i%3].Submit(ctx, sh(`echo "$TRAINYARD_JOB_ID" >> `+marks+`; sleep 0.2`))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	// One CPU for a job that needs five: it waits, and says why, on a
	// follower too.
	big := sh("true")
	big.Resources.CPUs = 5
	if _, err := follower.Submit(ctx, big); err == nil {
		t.Fatal("a job the machine can never run was accepted")
	}
	for _, id := range ids {
		c.waitFor(follower, id, "success", func(j *trainyard.Job) bool { return j.State == trainyard.StateSucceeded })
	}
	b, _ := os.ReadFile(marks)
	ran := strings.Fields(string(b))
	if len(ran) != len(ids) {
		t.Fatalf("%d starts for %d jobs: %v", len(ran), len(ids), ran)
	}
	seen := map[string]bool{}
	for _, id := range ran {
		if seen[id] {
			t.Fatalf("job %s ran twice", id)
		}
		seen[id] = true
	}
}

// A cancel asked of a follower stops a running job (through a request the
// leader carries out) and cancels a queued one at once.
func TestCancelThroughAFollower(t *testing.T) {
	c := newCluster(t, 2)
	lead := c.leader([]int{0, 1})
	follower := c.ds[1-lead]
	hog := sh("sleep 60")
	hog.Resources.CPUs = 4 // the whole machine
	running, err := follower.Submit(ctx, hog)
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(follower, running.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning && j.BackendID != "" })
	queued, err := follower.Submit(ctx, sh("echo never"))
	if err != nil {
		t.Fatal(err)
	}
	w := c.waitFor(follower, queued.ID, "a wait reason", func(j *trainyard.Job) bool { return j.Reason != "" && j.QueuePosition == 1 })
	if !strings.Contains(w.Reason, "CPU") {
		t.Errorf("the follower says the queued job waits because %q; want CPUs named", w.Reason)
	}
	got, err := follower.CancelMany(ctx, []string{queued.ID, running.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].State != trainyard.StateCanceled {
		t.Errorf("queued job after a follower's cancel: %+v", got[0])
	}
	if got[1].State != trainyard.StateRunning || !got[1].CancelRequested || !strings.HasPrefix(got[1].Reason, "canceling") {
		t.Errorf("running job after a follower's cancel: %+v", got[1])
	}
	j := c.waitFor(follower, running.ID, "canceled", func(j *trainyard.Job) bool { return j.State.Terminal() })
	if j.State != trainyard.StateCanceled {
		t.Fatalf("the running job ended %s (%s), want CANCELED", j.State, j.Reason)
	}
}

// When the leader stops, another takes over within seconds, re-attaches
// to the job it left running, and schedules what was queued.
func TestNewLeaderTakesOver(t *testing.T) {
	c := newCluster(t, 2)
	lead := c.leader([]int{0, 1})
	other := 1 - lead
	long, err := c.ds[lead].Submit(ctx, sh("sleep 1.5; echo done"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(c.ds[lead], long.ID, "running", func(j *trainyard.Job) bool { return j.State == trainyard.StateRunning && j.BackendID != "" })
	c.ds[lead].Close()
	t0 := time.Now()
	if c.leader([]int{other}) != other {
		t.Fatal("no new leader")
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("a new leader after %s, want within 5 s", took)
	}
	after, err := c.ds[other].Submit(ctx, sh("true"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitFor(c.ds[other], after.ID, "success", func(j *trainyard.Job) bool { return j.State == trainyard.StateSucceeded })
	j := c.waitFor(c.ds[other], long.ID, "its end", func(j *trainyard.Job) bool { return j.State.Terminal() })
	if j.State != trainyard.StateSucceeded || j.Restarts != 0 {
		t.Fatalf("the job the old leader started: %s after %d restarts (%s); want SUCCEEDED, not run again", j.State, j.Restarts, j.Reason)
	}
}
