package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// The file protocol of both cgroup versions, on a directory laid out like
// a cgroup mount: which files are written with what. The kernel's side
// (that the limits bite) is tested by TestLimitsAreEnforced on this
// machine's real control groups.
func TestCgroupFiles(t *testing.T) {
	write := func(t *testing.T, path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, path string) string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("v2 delegated", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "svc/cgroup.controllers"), "cpuset cpu io memory pids\n")
		write(t, filepath.Join(root, "svc/cgroup.subtree_control"), "")
		cg := detectCgroups(root, []byte("0::/svc\n"))
		if cg.version != 2 {
			t.Fatalf("version %d (%s), want 2", cg.version, cg.why)
		}
		if got := read(t, filepath.Join(root, "svc/cgroup.subtree_control")); got != "+cpu +memory" {
			t.Errorf("subtree_control = %q", got)
		}
		dirs, err := cg.create("job.a0-x", 2, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(dirs) != 1 || dirs[0] != filepath.Join(root, "svc", "trainyard-job.a0-x") {
			t.Fatalf("dirs = %v", dirs)
		}
		if got := read(t, filepath.Join(dirs[0], "cpu.max")); got != "200000 100000" {
			t.Errorf("cpu.max = %q, want 2 CPUs' worth", got)
		}
		if got := read(t, filepath.Join(dirs[0], "memory.max")); got != "1073741824" {
			t.Errorf("memory.max = %q", got)
		}
		write(t, filepath.Join(dirs[0], "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
		if n := oomKills(dirs); n != 1 {
			t.Errorf("oomKills = %d, want 1", n)
		}
	})

	t.Run("v2 without the controllers", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "cgroup.controllers"), "hugetlb\n")
		cg := detectCgroups(root, []byte("0::/\n"))
		if cg.version != 0 || !strings.Contains(cg.why, "cpu controller is not available") {
			t.Errorf("detect = %d, %q; want none, saying why", cg.version, cg.why)
		}
		if dirs, err := cg.create("j", 1, 1<<20); dirs != nil || err != nil {
			t.Errorf("create without cgroups = %v, %v; want nothing", dirs, err)
		}
	})

	t.Run("v1", func(t *testing.T) {
		root := t.TempDir()
		for _, c := range []string{"cpu", "memory"} {
			os.MkdirAll(filepath.Join(root, c, "box"), 0o755)
		}
		cg := detectCgroups(root, []byte("4:memory:/box\n2:cpu,cpuacct:/box\n0::/\n"))
		if cg.version != 1 {
			t.Fatalf("version %d (%s), want 1", cg.version, cg.why)
		}
		dirs, err := cg.create("j", 1, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(dirs[0], "cpu.cfs_quota_us")); got != "100000" {
			t.Errorf("cfs_quota_us = %q", got)
		}
		if got := read(t, filepath.Join(dirs[1], "memory.limit_in_bytes")); got != "67108864" {
			t.Errorf("limit_in_bytes = %q", got)
		}
		// Nothing to enforce: no groups.
		if dirs, _ := cg.create("k", 0, 0); dirs != nil {
			t.Errorf("a job asking for nothing got groups %v", dirs)
		}
	})
}

// TestLimitsAreEnforced runs real jobs under this machine's control
// groups: a job over its memory limit is stopped by the kernel and the
// reason says so; a job using more CPU than it reserved is throttled. It
// needs a machine where trainyard may create control groups (root, as in
// CI, or a delegated cgroup v2 subtree), and fails, saying so, elsewhere.
func TestLimitsAreEnforced(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Config{ShimCommand: []string{os.Args[0], "__shim"}, StateDir: filepath.Join(dir, "state"), Node: trainyard.Node{Name: testNode}})
	if err != nil {
		t.Fatal(err)
	}
	if e.cg.version == 0 {
		t.Fatalf("this machine lets trainyard create no control groups, so limits cannot be tested: %s", e.cg.why)
	}
	t.Logf("enforcing with %s", e.cg.describe())

	t.Run("memory", func(t *testing.T) {
		task := newTask(t, "python3", "-c", "b = bytearray(300 << 20); print('allocated', len(b))")
		task.Resources = trainyard.Resources{Memory: 64 << 20}
		h := start(t, e, task)
		st := wait(t, e, h)
		if st.Code == 0 || !strings.Contains(st.Reason, "out of memory") || !strings.Contains(st.Reason, "64MiB") {
			t.Errorf("a job over its memory limit ended %+v; log:\n%s", st, readLog(t, task))
		}
		if strings.Contains(readLog(t, task), "allocated") {
			t.Error("the job allocated past its limit")
		}
		s, _ := decodeHandle(h)
		if err := e.Cleanup(ctx, h); err != nil {
			t.Fatal(err)
		}
		for _, d := range s.Cgroups {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left after Cleanup", d)
			}
		}
	})

	t.Run("cpu", func(t *testing.T) {
		// Two busy loops under a one-CPU limit: every process of the job
		// is in a group whose quota is one CPU's worth of time. (That the
		// kernel throttles it is the kernel's part; on a busy machine the
		// loops may never get more than a CPU between them, so the
		// throttle count is reported, not asserted.)
		pidFile := filepath.Join(t.TempDir(), "pid")
		loop := `echo $$ >> ` + pidFile + `; end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done`
		task := newTask(t, "sh", "-c", `for i in 1 2; do sh -c '`+loop+`' & done; wait`)
		task.Resources = trainyard.Resources{CPUs: 1}
		h := start(t, e, task)
		s, _ := decodeHandle(h)
		var quota string
		for _, d := range s.Cgroups {
			for _, f := range []string{"cpu.max", "cpu.cfs_quota_us"} {
				if b, err := os.ReadFile(filepath.Join(d, f)); err == nil {
					quota = strings.TrimSpace(string(b))
				}
			}
		}
		if quota != "100000 100000" && quota != "100000" {
			t.Errorf("the job's CPU quota is %q, want one CPU (100000 µs a 100000 µs period)", quota)
		}
		eventually(t, "both loops started", func() bool {
			b, _ := os.ReadFile(pidFile)
			return len(strings.Fields(string(b))) == 2
		})
		b, _ := os.ReadFile(pidFile)
		for _, pid := range strings.Fields(string(b)) {
			cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
			if err != nil {
				continue // already ended
			}
			in := false
			for _, d := range s.Cgroups {
				if strings.Contains(string(cg), filepath.Base(d)) {
					in = true
				}
			}
			if !in {
				t.Errorf("busy loop %s is not in the job's control group:\n%s", pid, cg)
			}
		}
		if st := wait(t, e, h); st.Code != 0 {
			t.Errorf("the busy job ended %+v", st)
		}
		for _, d := range s.Cgroups {
			b, _ := os.ReadFile(filepath.Join(d, "cpu.stat"))
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "nr_throttled "); ok {
					t.Logf("throttled %s times", v)
				}
			}
		}
		e.Cleanup(ctx, h)
	})

	t.Run("escaped process", func(t *testing.T) {
		// A process that leaves the job's process group (setsid) is still
		// in the job's control group, and is stopped when the job ends.
		pidFile := filepath.Join(t.TempDir(), "pid")
		task := newTask(t, "sh", "-c", "setsid sh -c 'echo $$ > "+pidFile+"; sleep 300' & sleep 0.3")
		task.Resources = trainyard.Resources{CPUs: 1}
		h := start(t, e, task)
		wait(t, e, h)
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid := strings.TrimSpace(string(b))
		eventually(t, "the escaped process stopped", func() bool {
			_, err := os.Stat("/proc/" + pid)
			if err != nil {
				return true
			}
			st, _ := os.ReadFile("/proc/" + pid + "/stat")
			return strings.Contains(string(st), ") Z ")
		})
		e.Cleanup(ctx, h)
	})
}
