package slurm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func TestExpandHostlist(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", nil, false},
		{"n1", []string{"n1"}, false},
		{"n[1-3]", []string{"n1", "n2", "n3"}, false},
		{"n[1-2,5],gpu7", []string{"n1", "n2", "n5", "gpu7"}, false},
		{"gpu[08-11]", []string{"gpu08", "gpu09", "gpu10", "gpu11"}, false},
		{"rack[1-2]-n[01-02]", []string{"rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"}, false},
		{"a[1]-ib,b", []string{"a1-ib", "b"}, false},
		{"10.0.0.1", []string{"10.0.0.1"}, false},
		{"n[1-", nil, true},
		{"n1]", nil, true},
		{"n[3-1]", nil, true},
		{"n[x]", nil, true},
		{"n[[1]]", nil, true},
		{"n[1-2],,m", nil, true},
		{"n[0-999999]", nil, true},
	} {
		got, err := ExpandHostlist(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ExpandHostlist(%q) error = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); !tc.err && diff != "" {
			t.Errorf("ExpandHostlist(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func FuzzExpandHostlist(f *testing.F) {
	for _, s := range []string{"n[1-3]", "a[01-02]-b[1,3],c", "n[1-", "]", "x[0-99999]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ExpandHostlist(s)
		if err == nil && len(got) > maxHosts {
			t.Fatalf("%q expanded to %d names", s, len(got))
		}
		for _, h := range got {
			if strings.ContainsAny(h, "[],") {
				t.Fatalf("%q expanded to a name with brackets or commas: %q", s, h)
			}
		}
	})
}

// squeueOut reads a recorded squeue --json answer from testdata.
func readTestdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseSqueue(t *testing.T) {
	// Recorded from Debian's Slurm 22.05 (data model v0.0.38) on the test
	// cluster: a job timed out, one running on two nodes, one whose script
	// exited 143, one cancelled while running, one pending.
	got, err := parseSqueue(readTestdata(t, "squeue-v0.0.38.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []job{
		{ID: "8", Name: "other", State: "TIMEOUT", Reason: "TimeLimit", Nodes: []string{"n1"}, Signal: 15, HasExit: true, Count: 1},
		{ID: "9", Name: "trainyard-a-a0", State: "RUNNING", Nodes: []string{"n1", "n2"}, HasExit: true, Count: 2},
		{ID: "11", Name: "trainyard-c-a0", State: "FAILED", Reason: "NonZeroExitCode", Nodes: []string{"n2"}, Code: 143, HasExit: true, Count: 1},
		{ID: "13", Name: "trainyard-d-a0", State: "CANCELLED", Nodes: []string{"n1"}, Signal: 15, HasExit: true, Count: 1},
		{ID: "14", Name: "trainyard-b-a0", State: "PENDING", Reason: "Resources", HasExit: true, Count: 3},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSqueue (-want +got):\n%s", diff)
	}
}

func TestParseSqueueLaterVersions(t *testing.T) {
	// The shapes Slurm 23.02+ uses: states as lists, numbers as objects,
	// the exit code as an object.
	in := `{"jobs":[{"job_id":{"set":true,"infinite":false,"number":7},"name":"trainyard-x-a0",
	  "job_state":["FAILED"],"state_reason":"NonZeroExitCode","nodes":"n[1-2]",
	  "exit_code":{"status":["EXITED"],"return_code":{"set":true,"infinite":false,"number":3},"signal":{"id":{"set":false,"number":0},"name":""}}},
	  {"job_id":8,"name":"trainyard-y-a0","job_state":["RUNNING","COMPLETING"],"state_reason":"None","nodes":"n3",
	  "exit_code":{"status":["SIGNALED"],"return_code":{"set":true,"number":0},"signal":{"id":{"set":true,"number":9},"name":"KILL"}}}]}`
	got, err := parseSqueue([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []job{
		{ID: "7", Name: "trainyard-x-a0", State: "FAILED", Reason: "NonZeroExitCode", Nodes: []string{"n1", "n2"}, Code: 3, HasExit: true},
		{ID: "8", Name: "trainyard-y-a0", State: "COMPLETING", Nodes: []string{"n3"}, Signal: 9, HasExit: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSqueue (-want +got):\n%s", diff)
	}
}

func FuzzParseSqueue(f *testing.F) {
	f.Add(readTestdata(f, "squeue-v0.0.38.json"))
	f.Add([]byte(`{"jobs":[{"job_id":{"number":1},"job_state":["A","B"],"exit_code":{"return_code":1}}]}`))
	f.Add([]byte(`{"errors":[{"error":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		jobs, err := parseSqueue(b)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if j.ID == "" || j.ID[0] == '-' {
				t.Fatalf("job with id %q", j.ID)
			}
			exitOf(j) // never panics
		}
	})
}

func TestParseSacct(t *testing.T) {
	// `sacct --completion --noheader --parsable2 --allocations` on the test
	// cluster, and the same columns from an accounting database, which
	// lists steps too.
	in := "4|trainyard-a-a0|FAILED|143:0|n[1-2]\n" +
		"5|trainyard-b-a0|CANCELLED by 0|0:9|n1\n" +
		"5.batch|batch|CANCELLED|0:9|n1\n" +
		"5.0|trainyard|CANCELLED|0:9|n1\n" +
		"6|trainyard-c-a0|PENDING|0:0|None assigned\n" +
		"7|x|COMPLETED|0:0|n3\n"
	got, err := parseSacct([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []job{
		{ID: "4", Name: "trainyard-a-a0", State: "FAILED", Code: 143, Nodes: []string{"n1", "n2"}, HasExit: true},
		{ID: "5", Name: "trainyard-b-a0", State: "CANCELLED", Signal: 9, Nodes: []string{"n1"}, HasExit: true},
		{ID: "6", Name: "trainyard-c-a0", State: "PENDING", HasExit: true},
		{ID: "7", Name: "x", State: "COMPLETED", Nodes: []string{"n3"}, HasExit: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSacct (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"1|x|FAILED", "x1|a|FAILED|0:0|n1"} {
		if _, err := parseSacct([]byte(bad)); err == nil {
			t.Errorf("parseSacct(%q) = nil error", bad)
		}
	}
}

func FuzzParseSacct(f *testing.F) {
	f.Add([]byte("4|trainyard-a-a0|FAILED|143:0|n[1-2]\n5.batch|b|X|0:9|n1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		jobs, err := parseSacct(b)
		if err != nil {
			return
		}
		for _, j := range jobs {
			if strings.ContainsAny(j.ID, ".+_") {
				t.Fatalf("a step came through: %q", j.ID)
			}
			exitOf(j)
		}
	})
}

func TestExitOf(t *testing.T) {
	for _, tc := range []struct {
		j    job
		want trainyard.ExitStatus
	}{
		{job{State: "COMPLETED"}, trainyard.ExitStatus{}},
		{job{State: "FAILED", Code: 3}, trainyard.ExitStatus{Code: 3}},
		{job{State: "FAILED", Code: 143}, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM"}},
		{job{State: "FAILED", Signal: 9}, trainyard.ExitStatus{Code: 137, Signal: "SIGKILL"}},
		{job{State: "FAILED"}, trainyard.ExitStatus{Code: 1, Reason: "FAILED"}},
		{job{State: "CANCELLED", Signal: 9}, trainyard.ExitStatus{Code: 137, Signal: "SIGKILL", Reason: "CANCELLED"}},
		{job{State: "CANCELLED"}, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "CANCELLED"}},
		{job{State: "TIMEOUT", Signal: 15}, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "TIMEOUT: the job reached its time limit"}},
		{job{State: "TIMEOUT"}, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "TIMEOUT: the job reached its time limit"}},
		{job{State: "OUT_OF_MEMORY", Code: 137}, trainyard.ExitStatus{Code: 137, Signal: "SIGKILL", Reason: "OUT_OF_MEMORY: a process was killed for using more memory than the job asked for"}},
		{job{State: "NODE_FAIL"}, trainyard.ExitStatus{Code: 1, Reason: "NODE_FAIL"}},
		{job{State: "PREEMPTED", Signal: 15}, trainyard.ExitStatus{Code: 143, Signal: "SIGTERM", Reason: "PREEMPTED"}},
	} {
		if got := exitOf(tc.j); got != tc.want {
			t.Errorf("exitOf(%+v) = %+v, want %+v", tc.j, got, tc.want)
		}
	}
}

func TestPhaseOf(t *testing.T) {
	for state, want := range map[string]trainyard.Phase{
		"PENDING": trainyard.PhasePending, "REQUEUED": trainyard.PhasePending, "CONFIGURING": trainyard.PhasePending,
		"RUNNING": trainyard.PhaseRunning, "SUSPENDED": trainyard.PhaseRunning, "COMPLETING": trainyard.PhaseRunning,
		"COMPLETED": trainyard.PhaseEnded, "FAILED": trainyard.PhaseEnded, "TIMEOUT": trainyard.PhaseEnded,
		"OUT_OF_MEMORY": trainyard.PhaseEnded, "NODE_FAIL": trainyard.PhaseEnded, "SOMETHING_NEW": trainyard.PhaseRunning,
	} {
		if got := phaseOf(state); got != want {
			t.Errorf("phaseOf(%s) = %s, want %s", state, got, want)
		}
	}
}

func TestParseSinfo(t *testing.T) {
	in := `{"nodes":[
	 {"name":"n1","address":"10.0.0.1","state":"idle","cpus":64,"real_memory":512000,"gres":"gpu:h100:8(S:0-1)","partitions":["gpu","all"]},
	 {"name":"n2","address":"n2","state":"mixed","cpus":8,"real_memory":4000,"gres":"gpu:2","partitions":["main"]},
	 {"name":"c1","address":"c1","state":["IDLE","DRAIN"],"cpus":{"set":true,"number":32},"real_memory":{"set":true,"number":1024},"gres":"","partitions":[]},
	 {"name":"m1","address":"m1","state":"idle","cpus":4,"real_memory":100,"gres":"gpu:a100:2,gpu:v100:1,mps:200","partitions":["x"]},
	 {"name":"n1","address":"10.0.0.1","state":"idle","cpus":64,"real_memory":512000,"gres":"gpu:h100:8","partitions":["gpu"]}]}`
	got, err := parseSinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []trainyard.Node{
		{Name: "n1", Addr: "10.0.0.1", GPUs: []int{0, 1, 2, 3, 4, 5, 6, 7}, CPUs: 64, Memory: 512000 << 20,
			Labels: map[string]string{"pool": "gpu,all", "gpu_type": "h100", "slurm_state": "idle"}},
		{Name: "n2", GPUs: []int{0, 1}, CPUs: 8, Memory: 4000 << 20,
			Labels: map[string]string{"pool": "main", "slurm_state": "mixed"}},
		{Name: "c1", Addr: "c1", GPUs: []int{}, CPUs: 32, Memory: 1024 << 20, Labels: map[string]string{"slurm_state": "idle+drain"}},
		{Name: "m1", GPUs: []int{0, 1, 2}, CPUs: 4, Memory: 100 << 20,
			Labels: map[string]string{"pool": "x", "slurm_state": "idle"}},
	}
	want[2].Addr = "" // address == name
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSinfo (-want +got):\n%s", diff)
	}
}

func FuzzParseSinfo(f *testing.F) {
	f.Add([]byte(`{"nodes":[{"name":"n1","gres":"gpu:a:2(S:0)","cpus":2,"real_memory":10,"partitions":["p"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		nodes, err := parseSinfo(b)
		if err != nil {
			return
		}
		for _, n := range nodes {
			if len(n.GPUs) > 1<<17 {
				t.Fatalf("node %s has %d GPUs", n.Name, len(n.GPUs))
			}
		}
	})
}

func TestSlurmTime(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second: "1", time.Minute: "1", 89*time.Minute + 30*time.Second: "90", 48 * time.Hour: "2880",
	} {
		if got := slurmTime(d); got != want {
			t.Errorf("slurmTime(%s) = %s, want %s", d, got, want)
		}
	}
}
