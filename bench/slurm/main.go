// Command slurm measures what trainyard adds to starting a job on Slurm
// (issue 10's target: less than 100 ms, median). On a local Slurm cluster
// (internal/slurmtest: 3 slurmd nodes on this machine), it takes the time
// from submission until the job's command runs — the command writes the
// time it started into a file — through trainyard (POST /api/v1/jobs to
// `trainyard up --executor slurm`, which calls sbatch) and through plain
// `sbatch --wrap`, alternating, one job at a time, and prints a markdown
// table. Slurm's own scheduling wait (seconds here, the same for both) is
// most of that time, so the table splits it with the controller's log:
// submit → Slurm has the job (slurmctld logs the submission), → Slurm
// allocated it ("sched: Allocate"), → the command runs. What trainyard adds
// is in the first and last parts. Needs root, slurm-wlm and munge, as the
// tests do.
//
//	go run ./bench/slurm -bin bin/trainyard -n 40
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/internal/slurmtest"
)

var (
	bin = flag.String("bin", "bin/trainyard", "trainyard binary")
	n   = flag.Int("n", 40, "jobs of each kind")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	self, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	cluster, err := slurmtest.Start(3, 2, 2)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	tmp, err := os.MkdirTemp("", "trainyard-bench-slurm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := exec.Command(self, "up", "--addr", addr, "--data", filepath.Join(tmp, "data"), "--nvidia-smi", "none",
		"--executor", "slurm", "--slurm-conf", cluster.Conf, "--log-level", "warn")
	srvLog, _ := os.Create(filepath.Join(tmp, "server.log"))
	srv.Stdout, srv.Stderr = srvLog, srvLog
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	c := client.New("http://"+addr, "")
	ctx := context.Background()
	if err := c.WaitReady(ctx, 30*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(tmp, "server.log"))
		return fmt.Errorf("%v\n%s", err, b)
	}

	var ty, plain, ack, diff []time.Duration
	var tyJobs, plainJobs []sample
	for i := range *n {
		// Alternate which goes first, so that neither always meets a
		// controller just woken by the other.
		for k := range 2 {
			marker := filepath.Join(tmp, fmt.Sprintf("start-%d-%d", i, k))
			script := "date +%s%N > " + marker + ".tmp && mv " + marker + ".tmp " + marker + "; exec sleep 600"
			if (i+k)%2 == 0 {
				smp, a, err := viaTrainyard(ctx, c, tmp, script, marker)
				if err != nil {
					return err
				}
				ty, ack, tyJobs = append(ty, smp.started.Sub(smp.submitted)), append(ack, a), append(tyJobs, smp)
			} else {
				smp, err := viaSbatch(cluster, script, marker)
				if err != nil {
					return err
				}
				plain, plainJobs = append(plain, smp.started.Sub(smp.submitted)), append(plainJobs, smp)
			}
		}
		diff = append(diff, ty[len(ty)-1]-plain[len(plain)-1])
	}
	fmt.Printf("Submit → the job's command running, on a local Slurm 22.05 cluster (3 slurmd nodes on this machine), %d jobs each, one at a time:\n\n", *n)
	fmt.Println("| path | median | p10 | p90 |")
	fmt.Println("|---|---|---|---|")
	row := func(name string, d []time.Duration) {
		slices.Sort(d)
		fmt.Printf("| %s | %v | %v | %v |\n", name, ms(d[len(d)/2]), ms(d[len(d)/10]), ms(d[len(d)*9/10]))
	}
	row("plain `sbatch --wrap`", plain)
	row("trainyard (`POST /api/v1/jobs`, `--executor slurm`)", ty)
	row("trainyard − sbatch, paired", slices.Clone(diff))
	row("trainyard's API acknowledgement alone", ack)

	events, err := controllerEvents(filepath.Join(cluster.Dir, "log", "slurmctld.log"))
	if err != nil {
		return err
	}
	fmt.Printf("\nThe same jobs by stage (medians; from slurmctld's log, millisecond resolution):\n\n")
	fmt.Println("| path | submit → Slurm has it | → allocated (Slurm's scheduler) | → command running | overhead vs sbatch |")
	fmt.Println("|---|---|---|---|---|")
	pSub, pSched, pRun := stages(plainJobs, events)
	tSub, tSched, tRun := stages(tyJobs, events)
	fmt.Printf("| plain `sbatch --wrap` | %s | %s | %s | |\n", ms(pSub), ms(pSched), ms(pRun))
	fmt.Printf("| trainyard | %s | %s | %s | %s |\n", ms(tSub), ms(tSched), ms(tRun), ms(tSub-pSub+tRun-pRun))
	return nil
}

// sample is one job's submission time, its Slurm job id and when its
// command started.
type sample struct {
	slurmID            string
	submitted, started time.Time
}

// controllerEvents reads, for each job id, when slurmctld took the
// submission and when it allocated nodes.
func controllerEvents(path string) (map[string][2]time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ev := map[string][2]time.Time{}
	for _, line := range strings.Split(string(b), "\n") {
		if len(line) < 25 || line[0] != '[' {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02T15:04:05.000", line[1:24], time.Local)
		if err != nil {
			continue
		}
		rest := strings.TrimSpace(line[25:])
		var k int
		switch {
		case strings.HasPrefix(rest, "_slurm_rpc_submit_batch_job: JobId="):
			k = 0
		case strings.HasPrefix(rest, "sched: Allocate JobId="), strings.HasPrefix(rest, "sched/backfill: _start_job: Started JobId="):
			k = 1
		default:
			continue
		}
		_, after, _ := strings.Cut(rest, "JobId=")
		id, _, _ := strings.Cut(after, " ")
		e := ev[id]
		if e[k].IsZero() {
			e[k] = t
		}
		ev[id] = e
	}
	return ev, nil
}

// stages returns the medians of submit → accepted, accepted → allocated,
// allocated → running.
func stages(jobs []sample, ev map[string][2]time.Time) (sub, sched, run time.Duration) {
	var a, b, c []time.Duration
	for _, j := range jobs {
		e, ok := ev[j.slurmID]
		if !ok || e[0].IsZero() || e[1].IsZero() {
			continue
		}
		a, b, c = append(a, e[0].Sub(j.submitted)), append(b, e[1].Sub(e[0])), append(c, j.started.Sub(e[1]))
	}
	med := func(d []time.Duration) time.Duration {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	return med(a), med(b), med(c)
}

// viaTrainyard submits the script through the API and returns when it
// ran and how long the API took to acknowledge it; then cancels it.
func viaTrainyard(ctx context.Context, c *client.Client, dir, script, marker string) (sample, time.Duration, error) {
	spec := trainyard.JobSpec{Command: []string{"sh", "-c", script}, Workdir: dir,
		Resources: trainyard.Resources{CPUs: 1, Memory: 64 << 20}, Env: map[string]string{"PATH": os.Getenv("PATH")}}
	t0 := time.Now()
	j, err := c.Submit(ctx, spec)
	if err != nil {
		return sample{}, 0, err
	}
	acked := time.Since(t0)
	started, err := waitMarker(marker)
	if err != nil {
		return sample{}, 0, fmt.Errorf("trainyard job %s: %w", j.ID, err)
	}
	smp := sample{submitted: t0, started: started}
	if j, err := c.Job(ctx, j.ID); err == nil {
		smp.slurmID = j.BackendID
	}
	if _, err := c.Cancel(ctx, j.ID); err != nil {
		return sample{}, 0, err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if j, err := c.Job(ctx, j.ID); err == nil && j.State.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			return sample{}, 0, fmt.Errorf("job %s not canceled after a minute", j.ID)
		}
	}
	return smp, acked, nil
}

// viaSbatch submits the script with sbatch and returns when it ran; then
// cancels it.
func viaSbatch(cluster *slurmtest.Cluster, script, marker string) (sample, error) {
	t0 := time.Now()
	out, err := cluster.Command("sbatch", "--parsable", "--cpus-per-task=1", "--mem=64M", "--output=/dev/null", "--wrap", script).Output()
	if err != nil {
		return sample{}, fmt.Errorf("sbatch: %w", err)
	}
	id := strings.TrimSpace(string(out))
	started, err := waitMarker(marker)
	if err != nil {
		return sample{}, fmt.Errorf("sbatch job %s: %w", id, err)
	}
	cluster.Command("scancel", id).Run()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		st, _ := cluster.Command("squeue", "-h", "-j", id, "-o", "%T").Output()
		if s := strings.TrimSpace(string(st)); s != "RUNNING" && s != "COMPLETING" && s != "PENDING" {
			break
		}
		if time.Now().After(deadline) {
			return sample{}, fmt.Errorf("sbatch job %s not canceled after a minute", id)
		}
	}
	return sample{slurmID: id, submitted: t0, started: started}, nil
}

// waitMarker waits for the job to write its start time (ns since the epoch).
func waitMarker(path string) (time.Time, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if b, err := os.ReadFile(path); err == nil {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("start time %q: %w", b, err)
			}
			return time.Unix(0, ns), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("did not start in 2 minutes")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/1e6) }
