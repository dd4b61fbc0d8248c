// Package torchenv finds the Python with PyTorch that the distributed tests
// run (`make deps-torch` installs it), and the test job they run with it.
package torchenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Python returns the Python interpreter that has the PyTorch of
// requirements-torch.lock: $TRAINYARD_TORCH_PYTHON, or where `make
// deps-torch` installs it (~/.cache/trainyard/torch-HASH, HASH from the
// lock file). When neither has torch the test fails, saying how to
// install it: the distributed tests are never skipped.
func Python(t testing.TB) string {
	t.Helper()
	py := os.Getenv("TRAINYARD_TORCH_PYTHON")
	if py == "" {
		root := RepoRoot(t)
		lock, err := os.ReadFile(filepath.Join(root, "requirements-torch.lock"))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(lock)
		home, _ := os.UserHomeDir()
		py = filepath.Join(home, ".cache", "trainyard", "torch-"+hex.EncodeToString(sum[:])[:12], "bin", "python")
	}
	out, err := exec.Command(py, "-W", "ignore", "-c", "import torch.distributed as d; print(d.is_gloo_available())").Output()
	if err != nil || string(out) != "True\n" {
		t.Fatalf("no Python with PyTorch at %s (%v: %s): run `make deps-torch`, or set TRAINYARD_TORCH_PYTHON", py, err, out)
	}
	return py
}

// Script returns the path of the all-reduce job, tests/distributed/allreduce.py.
func Script(t testing.TB) string {
	return filepath.Join(RepoRoot(t), "tests", "distributed", "allreduce.py")
}

// RepoRoot is the directory of go.mod above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	t.Fatal(fmt.Errorf("no go.mod above %s", dir))
	return ""
}

var allreduceLine = regexp.MustCompile(`(?m)^\[rank (\d+)\] allreduce rank=(\d+) world=(\d+) local_rank=(\d+) node_rank=(\d+) .* sum=(\S+) want=(\S+) .* (ok|WRONG)$`)

// CheckAllReduce checks the output of the all-reduce job over nodes ×
// procs ranks (each line prefixed "[rank N] "): every rank reported once,
// from its own node and local rank, with the right sum.
func CheckAllReduce(t testing.TB, log string, nodes, procs int) {
	t.Helper()
	world := nodes * procs
	sum := fmt.Sprint(world * (world + 1) / 2)
	seen := map[int]bool{}
	for _, m := range allreduceLine.FindAllStringSubmatch(log, -1) {
		r, _ := strconv.Atoi(m[1])
		want := []string{m[1], strconv.Itoa(world), strconv.Itoa(r % procs), strconv.Itoa(r / procs), sum, sum, "ok"}
		if fmt.Sprint(m[2:]) != fmt.Sprint(want) {
			t.Errorf("rank %d: got %q, want %q", r, m[2:], want)
		}
		if seen[r] {
			t.Errorf("rank %d reported twice", r)
		}
		seen[r] = true
	}
	if len(seen) != world {
		t.Errorf("%d of %d ranks reported; output:\n%s", len(seen), world, log)
	}
}
