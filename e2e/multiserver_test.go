package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/internal/pgtest"
)

// schedules asks a server whether it is the one that schedules.
func schedules(url string) (bool, bool) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url + "/api/v1/health")
	if err != nil {
		return false, false
	}
	defer resp.Body.Close()
	var h struct {
		Role string `json:"role"`
	}
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return false, false
	}
	return h.Role == "leader", true
}

// Three servers on one PostgreSQL, one data directory (one machine): a
// stream of submissions goes to all three, round robin; the leader is
// killed with SIGKILL in the middle of it. Every job the servers
// acknowledged runs exactly once and succeeds, and a new leader schedules
// within 5 s of the kill. This runs on PostgreSQL whatever
// TRAINYARD_TEST_DB says: several servers need it.
func TestThreeServersSurviveTheLeadersDeath(t *testing.T) {
	db := pgtest.NewDatabase(t)
	data := t.TempDir()
	var servers []*server
	for range 3 {
		s := &server{t: t, Data: data, args: []string{"--db=" + db, "--cpus=2"}}
		s.start()
		t.Cleanup(func() { s.stop(syscall.SIGTERM) })
		servers = append(servers, s)
	}
	leader := -1
	eventually(t, 10*time.Second, "one server to schedule", func() bool {
		n := 0
		for i, s := range servers {
			if l, _ := schedules(s.URL); l {
				leader, n = i, n+1
			}
		}
		if n > 1 {
			t.Fatalf("%d servers schedule at once", n)
		}
		return n == 1
	})

	marks := filepath.Join(data, "ran")
	spec := trainyard.JobSpec{
		Command:   []string{"sh", "-c", `echo "$TRAINYARD_JOB_ID" >> ` + marks + `; sleep 0.2`},
		Workdir:   data,
		Resources: trainyard.Resources{CPUs: 1},
	}
	const jobs = 36
	var (
		mu     sync.Mutex
		acked  []string
		killed time.Time
	)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < jobs; i++ {
			if i == jobs/3 {
				mu.Lock()
				servers[leader].stop(syscall.SIGKILL) // the shims and their jobs live on
				killed = time.Now()
				mu.Unlock()
			}
			// Round robin; a server that refuses the connection (the dead
			// one) passes the submission on to the next.
			for k := 0; ; k++ {
				s := servers[(i+k)%3]
				if s.cmd == nil && k < 3 {
					continue
				}
				c := client.New(s.URL, "")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				j, err := c.Submit(ctx, spec)
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, j.ID)
					mu.Unlock()
					break
				}
				if k >= 5 {
					t.Errorf("submission %d: %v", i, err)
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()

	// A new leader within 5 s of the kill.
	eventually(t, 30*time.Second, "the kill", func() bool { mu.Lock(); defer mu.Unlock(); return !killed.IsZero() })
	newLeader := -1
	eventually(t, 10*time.Second, "a new leader", func() bool {
		for i, s := range servers {
			if i == leader {
				continue
			}
			if l, _ := schedules(s.URL); l {
				newLeader = i
				return true
			}
		}
		return false
	})
	tookOver := time.Since(killed)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Every acknowledged job ends, successfully, having run once.
	c := servers[newLeader].C
	var firstAfter time.Time
	for _, id := range acked {
		var j *trainyard.Job
		eventually(t, 60*time.Second, "job "+id+" to end", func() bool {
			var err error
			j, err = c.Job(context.Background(), id)
			return err == nil && j.State.Terminal()
		})
		if j.State != trainyard.StateSucceeded {
			t.Errorf("job %s ended %s (%s)", id, j.State, j.Reason)
		}
		if j.StartedAt.After(killed) && (firstAfter.IsZero() || j.StartedAt.Before(firstAfter)) {
			firstAfter = j.StartedAt
		}
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		runs[id]++
	}
	for _, id := range acked {
		if runs[id] != 1 {
			t.Errorf("job %s ran %d times, want once", id, runs[id])
		}
	}
	if len(runs) != len(acked) {
		t.Errorf("%d jobs ran, %d were acknowledged", len(runs), len(acked))
	}
	// Every job the store holds was acknowledged (none half-submitted).
	all, err := c.Jobs(context.Background(), trainyard.JobFilter{Limit: 1000})
	if err != nil || len(all) != len(acked) {
		t.Errorf("the store holds %d jobs, %d acknowledged (%v)", len(all), len(acked), err)
	}
	if firstAfter.IsZero() {
		t.Fatal("no job started after the kill")
	}
	took := firstAfter.Sub(killed)
	t.Logf("leader killed; server %d led %s later and started a job %s after the kill; %d jobs, each run once",
		newLeader, tookOver.Round(time.Millisecond), took.Round(time.Millisecond), len(acked))
	if took > 5*time.Second {
		t.Errorf("the first start after the kill came %s after it, want within 5 s", took)
	}
}
