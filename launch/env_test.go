package launch

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func envMap(kvs []string) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name   string
		layout Layout
		local  int
		want   map[string]string
	}{
		{
			name:   "one process, no GPUs",
			layout: Layout{Launch: trainyard.LaunchNone, Nodes: 1, ProcsPerNode: 1, GPUs: []int{}},
			want: map[string]string{
				"TRAINYARD_RANK": "0", "TRAINYARD_WORLD_SIZE": "1", "TRAINYARD_NODE_RANK": "0",
				"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void",
			},
		},
		{
			name:   "engine sets the GPUs",
			layout: Layout{Launch: trainyard.LaunchNone, Nodes: 1, ProcsPerNode: 1},
			want:   map[string]string{"TRAINYARD_RANK": "0", "TRAINYARD_WORLD_SIZE": "1", "TRAINYARD_NODE_RANK": "0"},
		},
		{
			name:   "launch none over two nodes: the rendezvous only",
			layout: Layout{Launch: trainyard.LaunchNone, Nodes: 2, NodeRank: 1, ProcsPerNode: 1, MasterAddr: "n0", MasterPort: 29400, GPUs: []int{0, 1}},
			want: map[string]string{
				"TRAINYARD_RANK": "1", "TRAINYARD_WORLD_SIZE": "2", "TRAINYARD_NODE_RANK": "1",
				"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "0,1", "NVIDIA_VISIBLE_DEVICES": "0,1",
				"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "n0", "MASTER_PORT": "29400",
			},
		},
		{
			name:   "torchrun: rank 3 of 2 nodes x 2",
			layout: Layout{Launch: trainyard.LaunchTorchrun, Nodes: 2, NodeRank: 1, ProcsPerNode: 2, MasterAddr: "10.0.0.1", MasterPort: 29500, GPUs: []int{4, 5}, RunID: "job7"},
			local:  1,
			want: map[string]string{
				"TRAINYARD_RANK": "3", "TRAINYARD_WORLD_SIZE": "4", "TRAINYARD_NODE_RANK": "1",
				"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "4,5", "NVIDIA_VISIBLE_DEVICES": "4,5",
				"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500",
				"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2",
				"GROUP_RANK": "1", "GROUP_WORLD_SIZE": "2", "ROLE_NAME": "default", "ROLE_RANK": "3", "ROLE_WORLD_SIZE": "4",
				"TORCHELASTIC_RUN_ID": "job7", "TORCHELASTIC_RESTART_COUNT": "0", "TORCHELASTIC_MAX_RESTARTS": "0",
				"TORCHELASTIC_USE_AGENT_STORE": "False",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.layout.Validate(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, envMap(tt.layout.Env(tt.local))); diff != "" {
				t.Errorf("Env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 2, ProcsPerNode: 2, MasterAddr: "a", MasterPort: 1}
	tests := []struct {
		name   string
		modify func(*Layout)
		want   string
	}{
		{"bad launch", func(l *Layout) { l.Launch = "mpirun" }, `launch "mpirun"`},
		{"no nodes", func(l *Layout) { l.Nodes = 0 }, "nnodes 0"},
		{"rank past the nodes", func(l *Layout) { l.NodeRank = 2 }, "node rank 2: want 0 to 1"},
		{"no procs", func(l *Layout) { l.ProcsPerNode = 0 }, "procs per node 0"},
		{"procs without torchrun", func(l *Layout) { l.Launch = trainyard.LaunchNone }, "launch none runs one process per node"},
		{"no master", func(l *Layout) { l.MasterAddr = "" }, "master address and port"},
		{"port out of range", func(l *Layout) { l.MasterPort = 70000 }, "master port 70000"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid layout: %v", err)
	}
	for _, tt := range tests {
		l := ok
		tt.modify(&l)
		if err := l.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestFirstHost(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"node1", "node1", ""},
		{"node[1-3,5]", "node1", ""},
		{"node[07-09],gpu1", "node07", ""},
		{"a,b", "a", ""},
		{"gpu[3]-ib", "gpu3-ib", ""},
		{"", "", "empty"},
		{"node[1-3", "", "unclosed"},
	}
	for _, tt := range tests {
		got, err := FirstHost(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("FirstHost(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FirstHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestFlagsRoundTrip(t *testing.T) {
	l := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 3, NodeRank: 2, ProcsPerNode: 4, MasterAddr: "h0", MasterPort: 2222, GPUs: []int{0, 2}, RunID: "r1"}
	var f Flags
	fs := newFlagSet()
	f.Register(fs)
	if err := fs.Parse(Args(l, "/x/r1.log")); err != nil {
		t.Fatal(err)
	}
	got, err := f.Layout(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(l, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if f.RankLog != "/x/r1.log" {
		t.Errorf("rank log = %q", f.RankLog)
	}

	// An engine gives the node rank and the master in its variables.
	f = Flags{}
	fs = newFlagSet()
	f.Register(fs)
	fs.Parse([]string{"--launch", "torchrun", "--nnodes", "2", "--nproc", "2", "--node-rank-env", "SLURM_NODEID",
		"--master-addr-env", "SLURM_JOB_NODELIST", "--master-port", "20001", "--gpus", "none"})
	env := map[string]string{"SLURM_NODEID": "1", "SLURM_JOB_NODELIST": "c[4-5]"}
	got, err = f.Layout(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Layout{Launch: trainyard.LaunchTorchrun, Nodes: 2, NodeRank: 1, ProcsPerNode: 2, MasterAddr: "c4", MasterPort: 20001, GPUs: []int{}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("from the engine's variables (-want +got):\n%s", diff)
	}
}

func TestPortFor(t *testing.T) {
	seen := map[int]bool{}
	for _, id := range []string{"1", "2", "123456", "job-abc"} {
		p := PortFor(id)
		if p < 20000 || p > 29999 || p == 29500 {
			t.Errorf("PortFor(%q) = %d, want 20000-29999 but not 29500", id, p)
		}
		if PortFor(id) != p {
			t.Errorf("PortFor(%q) is not stable", id)
		}
		seen[p] = true
	}
	if len(seen) < 3 {
		t.Errorf("PortFor gives the same port to different ids: %v", seen)
	}
}
