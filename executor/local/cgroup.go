package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// cgroups enforces a job's CPU and memory reservation: each task gets a
// control group of its own with a CPU bandwidth limit (its CPUs' worth of
// time) and a memory limit (the kernel's OOM killer stops it past the
// limit, and the shim reports that as the reason). The shim moves itself
// into the group before it starts the job, so every process of the job,
// even one that leaves the job's process group, is in it; when the job ends
// the shim stops whatever is left there.
//
// cgroup v2 is used when this process's group can delegate the cpu and
// memory controllers to children (root, or a subtree systemd delegated);
// otherwise cgroup v1's cpu and memory hierarchies when they are mounted
// and writable (older distributions); otherwise nothing is enforced, and
// why is said at start (ExecutorInfo.Warnings).
type cgroups struct {
	version int    // 2, 1, or 0 for none
	why     string // when version is 0
	// bases are where task groups are made: one directory for v2, one per
	// controller (cpu, memory) for v1.
	bases []string
}

// cgroupPrefix names the task groups trainyard makes.
const cgroupPrefix = "trainyard-"

// detectCgroups finds how limits can be enforced: root is the cgroup
// mount point (/sys/fs/cgroup) and self the content of /proc/self/cgroup.
func detectCgroups(root string, self []byte) *cgroups {
	paths := map[string]string{} // controller ("" for v2) → this process's group
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			paths[c] = f[2]
		}
	}
	var whys []string
	if p, ok := paths[""]; ok {
		base, err := delegateV2(root, p)
		if err == nil {
			return &cgroups{version: 2, bases: []string{base}}
		}
		whys = append(whys, "cgroup v2: "+err.Error())
	}
	var bases []string
	for _, c := range []string{"cpu", "memory"} {
		p, ok := paths[c]
		if !ok {
			whys = append(whys, "cgroup v1: no "+c+" hierarchy")
			break
		}
		base := filepath.Join(root, c, p, "trainyard")
		if err := os.MkdirAll(base, 0o755); err != nil {
			whys = append(whys, fmt.Sprintf("cgroup v1: cannot create %s: %v", base, unwrapPath(err)))
			break
		}
		bases = append(bases, base)
	}
	if len(bases) == 2 {
		return &cgroups{version: 1, bases: bases}
	}
	return &cgroups{why: strings.Join(whys, "; ")}
}

// delegateV2 makes this process's group p hand the cpu and memory
// controllers to the task groups made under it, and returns the directory
// they go in. A group with processes cannot delegate controllers (cgroup
// v2's rule that inner groups hold no processes), so the server first
// moves itself into a leaf of its own, p/server.
func delegateV2(root, p string) (string, error) {
	dir := filepath.Join(root, p)
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Errorf("no cgroup v2 hierarchy at %s", root)
	}
	for _, c := range []string{"cpu", "memory"} {
		if !hasWord(string(avail), c) {
			return "", fmt.Errorf("the %s controller is not available to %s (ask for a delegated subtree, e.g. systemd's Delegate=yes)", c, dir)
		}
	}
	enable := func() error {
		return os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+cpu +memory"), 0o644)
	}
	err = enable()
	if errors.Is(err, syscall.EBUSY) {
		leaf := filepath.Join(dir, "server")
		if err := os.MkdirAll(leaf, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %v", leaf, unwrapPath(err))
		}
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return "", fmt.Errorf("move the server into %s: %v", leaf, unwrapPath(err))
		}
		err = enable()
	}
	if err != nil {
		return "", fmt.Errorf("cannot delegate cpu and memory in %s: %v", dir, unwrapPath(err))
	}
	return dir, nil
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describe says how limits are enforced, for ExecutorInfo.
func (c *cgroups) describe() string {
	switch c.version {
	case 2:
		return "cgroup v2 (cpu.max, memory.max)"
	case 1:
		return "cgroup v1 (cpu.cfs_quota_us, memory.limit_in_bytes)"
	}
	return "not enforced"
}

// create makes the groups of one task with its limits and returns their
// directories; none when there is nothing to enforce. cpus 0 and memory 0
// mean no limit.
func (c *cgroups) create(name string, cpus int, memory int64) ([]string, error) {
	if c.version == 0 || (cpus <= 0 && memory <= 0) {
		return nil, nil
	}
	var dirs []string
	fail := func(err error) ([]string, error) {
		for _, d := range dirs {
			os.Remove(d)
		}
		return nil, err
	}
	for _, base := range c.bases {
		d := filepath.Join(base, cgroupPrefix+name)
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fail(fmt.Errorf("create cgroup %s: %w", d, err))
		}
		dirs = append(dirs, d)
	}
	const period = 100000 // µs
	var writes [][2]string
	switch c.version {
	case 2:
		if cpus > 0 {
			writes = append(writes, [2]string{filepath.Join(dirs[0], "cpu.max"), fmt.Sprintf("%d %d", cpus*period, period)})
		}
		if memory > 0 {
			writes = append(writes, [2]string{filepath.Join(dirs[0], "memory.max"), strconv.FormatInt(memory, 10)})
			if _, err := os.Stat(filepath.Join(dirs[0], "memory.swap.max")); err == nil {
				writes = append(writes, [2]string{filepath.Join(dirs[0], "memory.swap.max"), "0"})
			}
		}
	case 1:
		cpu, mem := dirs[0], dirs[1]
		if cpus > 0 {
			writes = append(writes,
				[2]string{filepath.Join(cpu, "cpu.cfs_period_us"), strconv.Itoa(period)},
				[2]string{filepath.Join(cpu, "cpu.cfs_quota_us"), strconv.Itoa(cpus * period)})
		}
		if memory > 0 {
			writes = append(writes, [2]string{filepath.Join(mem, "memory.limit_in_bytes"), strconv.FormatInt(memory, 10)})
			if _, err := os.Stat(filepath.Join(mem, "memory.memsw.limit_in_bytes")); err == nil {
				writes = append(writes, [2]string{filepath.Join(mem, "memory.memsw.limit_in_bytes"), strconv.FormatInt(memory, 10)})
			}
		}
	}
	for _, w := range writes {
		if err := os.WriteFile(w[0], []byte(w[1]), 0o644); err != nil {
			return fail(fmt.Errorf("set %s to %s: %w", w[0], w[1], unwrapPath(err)))
		}
	}
	return dirs, nil
}

// joinCgroups moves the calling process (the shim, before it starts the
// job) into the groups dirs.
func joinCgroups(dirs []string) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0o644); err != nil {
			return fmt.Errorf("join cgroup %s: %w", d, unwrapPath(err))
		}
	}
	return nil
}

// oomKills returns how many processes of the groups the kernel's OOM
// killer stopped (memory.events on v2, memory.oom_control on v1).
func oomKills(dirs []string) int {
	n := 0
	for _, d := range dirs {
		for _, f := range []string{"memory.events", "memory.oom_control"} {
			b, err := os.ReadFile(filepath.Join(d, f))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
					k, _ := strconv.Atoi(strings.TrimSpace(v))
					n += k
				}
			}
		}
	}
	return n
}

// killCgroups stops every process left in the groups except the caller
// (the shim, which is in them), and reports whether any was found.
func killCgroups(dirs []string) bool {
	self := os.Getpid()
	found := false
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid == self || pid <= 0 {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			found = true
		}
	}
	return found
}

// removeCgroups deletes a finished task's groups. A group that still holds
// processes is left, and the error says so.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		if !strings.HasPrefix(filepath.Base(d), cgroupPrefix) {
			continue // not ours: never remove
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, unwrapPath(err)))
		}
	}
	return errors.Join(errs...)
}
