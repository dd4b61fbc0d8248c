package launch

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }

func logFile(t *testing.T) (*os.File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, path
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunRanks(t *testing.T) {
	out, path := logFile(t)
	l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 1, ProcsPerNode: 3, MasterAddr: "127.0.0.1", MasterPort: 29999}
	n, err := Start(Config{
		Layout: l, Output: out, Env: os.Environ(),
		Command: []string{"sh", "-c", `echo "rank $RANK of $WORLD_SIZE local $LOCAL_RANK"; echo err$RANK >&2`},
		RankLog: func(r int) string { return trainyard.RankLogPath(path, r) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := n.Wait(time.Second); st != (Status{Rank: -1}) {
		t.Errorf("status = %+v, want success", st)
	}
	lines := strings.Split(strings.TrimSpace(read(t, path)), "\n")
	slices.Sort(lines)
	want := []string{
		"[rank 0] err0", "[rank 0] rank 0 of 3 local 0",
		"[rank 1] err1", "[rank 1] rank 1 of 3 local 1",
		"[rank 2] err2", "[rank 2] rank 2 of 3 local 2",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("merged log lines = %q, want %q", lines, want)
	}
	for r := range 3 {
		got := read(t, trainyard.RankLogPath(path, r))
		if !strings.Contains(got, "rank "+string(rune('0'+r))+" of 3") || strings.Contains(got, "[rank") {
			t.Errorf("rank %d's own log = %q, want its own unprefixed lines", r, got)
		}
	}
}

func TestOneRankFailsAll(t *testing.T) {
	out, path := logFile(t)
	l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 2, NodeRank: 1, ProcsPerNode: 2, MasterAddr: "127.0.0.1", MasterPort: 29999}
	// Rank 3 fails at once; rank 2 would sleep for a minute.
	n, err := Start(Config{Layout: l, Output: out, Env: os.Environ(),
		Command: []string{"sh", "-c", `if [ "$RANK" = 3 ]; then exit 4; fi; sleep 60`}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	st := n.Wait(5 * time.Second)
	if want := (Status{Code: 4, Rank: 3, Reason: "rank 3 exited with code 4"}); st != want {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	if d := time.Since(t0); d > 4*time.Second {
		t.Errorf("the other rank ran on for %v after rank 3 failed", d)
	}
	// The ranks' own children got the SIGTERM too and die on their own.
	deadline := time.Now().Add(3 * time.Second)
	for syscallKill0(n.Leader) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still exists; log:\n%s", n.Leader, read(t, path))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSingleRankWritesDirectly(t *testing.T) {
	out, path := logFile(t)
	l := Layout{Launch: trainyard.LaunchNone, Nodes: 1, ProcsPerNode: 1}
	n, err := Start(Config{Layout: l, Output: out, Env: os.Environ(), Command: []string{"sh", "-c", "echo plain; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := n.Wait(time.Second); st != (Status{Code: 3, Rank: 0}) {
		t.Errorf("status = %+v, want code 3 of rank 0 and no reason", st)
	}
	if got := read(t, path); got != "plain\n" {
		t.Errorf("log = %q, want the line unprefixed", got)
	}
}

func TestStartErrors(t *testing.T) {
	out, _ := logFile(t)
	l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 1, ProcsPerNode: 2, MasterAddr: "127.0.0.1", MasterPort: 1}
	if _, err := Start(Config{Layout: l, Output: out, Command: []string{"trainyard-no-such-program"}}); err == nil || !strings.Contains(err.Error(), `"trainyard-no-such-program"`) {
		t.Errorf("Start of a missing program = %v, want an error naming it", err)
	}
	if _, err := Start(Config{Layout: l, Output: out}); err == nil || !strings.Contains(err.Error(), "empty command") {
		t.Errorf("Start of no command = %v", err)
	}
}

func TestLongLinesAreSplitAndPrefixed(t *testing.T) {
	out, path := logFile(t)
	l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 1, ProcsPerNode: 2, MasterAddr: "127.0.0.1", MasterPort: 1}
	n, err := Start(Config{Layout: l, Output: out, Env: os.Environ(),
		Command: []string{"sh", "-c", `if [ "$RANK" = 0 ]; then head -c 100000 /dev/zero | tr '\0' x; fi`}})
	if err != nil {
		t.Fatal(err)
	}
	n.Wait(time.Second)
	got := read(t, path)
	for i, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !strings.HasPrefix(line, "[rank 0] ") {
			t.Fatalf("line %d = %.40q..., want the prefix", i, line)
		}
	}
	if c := strings.Count(got, "x"); c != 100000 {
		t.Errorf("%d bytes of output arrived, want 100000", c)
	}
}

// Like torchrun, several ranks on a node get OMP_NUM_THREADS=1 unless the
// job sets it.
func TestTorchrunRanksGetOneThreadEach(t *testing.T) {
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{nil, "omp=1"},
		{[]string{"OMP_NUM_THREADS=4"}, "omp=4"},
	} {
		out, path := logFile(t)
		l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 1, ProcsPerNode: 2, MasterAddr: "127.0.0.1", MasterPort: 1}
		n, err := Start(Config{Layout: l, Output: out, Env: append(os.Environ()[:0:0], append(tt.env, "PATH="+os.Getenv("PATH"))...),
			Command: []string{"sh", "-c", `echo "omp=$OMP_NUM_THREADS"`}})
		if err != nil {
			t.Fatal(err)
		}
		n.Wait(time.Second)
		if got := read(t, path); strings.Count(got, tt.want) != 2 {
			t.Errorf("env %v: log %q, want %q from both ranks", tt.env, got, tt.want)
		}
	}
}
