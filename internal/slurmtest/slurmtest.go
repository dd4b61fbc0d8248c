// Package slurmtest starts a real Slurm cluster on this machine for tests
// and benchmarks: ../shared/slurm/local-cluster.sh (next to the
// repository) runs one slurmctld and N slurmd "nodes" on 127.0.0.1, each
// with fake GPUs (GRES on /dev/tty*), with no accounting database but a job
// completion log. It needs root and Debian's slurm-wlm and munge.
//
// One cluster runs on a machine at a time: the script picks its ports at
// random, and two clusters whose ports meet would take each other's
// daemons for their own. Start waits for an exclusive lock, held until
// Stop (the kernel releases it when a test binary dies), and first stops
// any cluster a dead run left behind.
package slurmtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cluster is a running test cluster.
type Cluster struct {
	Dir    string // its configuration, state and logs
	Conf   string // SLURM_CONF
	Nodes  int
	script string
	lock   *os.File
}

// dirPrefix names the clusters' directories in os.TempDir.
const dirPrefix = "trainyard-slurm-"

// Start starts a cluster of nodes nodes with gpus fake GPUs and cpus CPUs
// each in a new temporary directory, and waits until every node is idle.
// It waits up to 10 minutes for another cluster of this package to stop.
func Start(nodes, gpus, cpus int) (*Cluster, error) {
	script, err := findScript()
	if err != nil {
		return nil, err
	}
	lock, err := lockMachine(10 * time.Minute)
	if err != nil {
		return nil, err
	}
	cleanLeftovers(script)
	var errs []string
	for range 3 {
		c, err := start(script, nodes, gpus, cpus)
		if err == nil {
			c.lock = lock
			return c, nil
		}
		errs = append(errs, err.Error())
	}
	lock.Close()
	return nil, fmt.Errorf("%s", strings.Join(errs, "\n-- and again:\n"))
}

// lockMachine takes the machine-wide lock of test clusters.
func lockMachine(wait time.Duration) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "trainyard-slurmtest.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another Slurm test cluster has run for %s on this machine: %w", wait, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cleanLeftovers stops the clusters of runs that died without stopping
// theirs. Called with the lock held, so none of them is in use.
func cleanLeftovers(script string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		(&Cluster{Dir: d, Conf: filepath.Join(d, "slurm.conf"), script: script}).stop()
	}
}

func start(script string, nodes, gpus, cpus int) (*Cluster, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Conf: filepath.Join(dir, "slurm.conf"), Nodes: nodes, script: script}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, "start", dir, strconv.Itoa(nodes), strconv.Itoa(gpus), strconv.Itoa(cpus)).CombinedOutput()
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("start a Slurm cluster with %s: %v\n%s\n%s", script, err, out, c.LogTail())
	}
	// The script waits 10 s at most; on a loaded machine the nodes may
	// take longer to register.
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := c.Command("sinfo", "-h", "-N", "-o", "%N %T").CombinedOutput()
		if err == nil && strings.Count(string(out), "idle") == nodes {
			// A daemon that could not bind its port has exited; another
			// process may be answering there.
			if dead := c.deadDaemons(); len(dead) > 0 {
				c.stop()
				return nil, fmt.Errorf("the Slurm test cluster's %s exited (a port in use?)\n%s", strings.Join(dead, ", "), c.LogTail())
			}
			return c, nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("the Slurm test cluster's nodes are not idle after a minute: %s %v\n%s", out, err, c.LogTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// findScript finds ../shared/slurm/local-cluster.sh next to the repository
// (the directory of go.mod above the working directory).
func findScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "slurm", "local-cluster.sh")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("the Slurm test cluster script: %w (the repository must sit next to shared/)", err)
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("no go.mod above %s", dir)
}

// Env is the environment for Slurm's commands on this cluster: the
// process's, without SLURM_* variables, with SLURM_CONF.
func (c *Cluster) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLURM_") {
			env = append(env, kv)
		}
	}
	return append(env, "SLURM_CONF="+c.Conf)
}

// Command returns a Slurm command (sbatch, squeue, ...) for this cluster.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = c.Env()
	return cmd
}

// LogTail is the end of each daemon's log, for error messages.
func (c *Cluster) LogTail() string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "log", "*.log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "== %s\n%s\n", l, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

// deadDaemons names the daemons of the cluster that are not running.
func (c *Cluster) deadDaemons() []string {
	var dead []string
	names := []string{"slurmctld"}
	for i := 1; i <= c.Nodes; i++ {
		names = append(names, "slurmd-n"+strconv.Itoa(i))
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(c.Dir, name+".pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
			dead = append(dead, name)
		}
	}
	return dead
}

// Stop kills every job left (their processes under slurmstepd outlive
// slurmd) and the daemons, removes the cluster's directory, and lets the
// next cluster start.
func (c *Cluster) Stop() {
	c.stop()
	if c.lock != nil {
		c.lock.Close()
	}
}

func (c *Cluster) stop() {
	if !slices.Contains(c.deadDaemons(), "slurmctld") { // else Slurm's commands would wait for it
		c.Command("scancel", "--full", "--signal=KILL", "--me").Run()
		c.Command("scancel", "--me").Run()
		for i := 0; i < 50; i++ {
			out, err := c.Command("squeue", "-h", "-t", "running,completing,pending").Output()
			if err != nil || len(bytes.TrimSpace(out)) == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	var pids []int
	files, _ := filepath.Glob(filepath.Join(c.Dir, "*.pid"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	exec.Command("bash", c.script, "stop", c.Dir).Run()
	// The daemons write their state as they exit: remove it after them.
	for i := 0; i < 100; i++ {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				alive = true
			}
		}
		if !alive {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	os.RemoveAll(c.Dir)
}
