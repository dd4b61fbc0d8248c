package slurm

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testConfig() resolved {
	return resolved{
		Config: Config{Partition: "main", Account: "ml", TimeLimit: 2 * time.Hour, Binary: "/opt/trainyard/bin/trainyard",
			SbatchArgs: []string{"--constraint=ib"}, GPUFlag: "gres", KillGrace: 5 * time.Second, SlurmConf: "/etc/slurm/slurm.conf"},
		paths: map[string]string{"srun": "/usr/bin/srun"},
	}
}

// TestBuildSubmission compares the sbatch options and batch script of
// typical tasks with golden files (go test -run TestBuildSubmission -update
// rewrites them).
func TestBuildSubmission(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     func(*resolved)
		task    trainyard.Task
		gpuType string
	}{
		{name: "one-node", task: trainyard.Task{
			TaskRef: trainyard.TaskRef{JobID: "0a1b2c3d4e5f"}, Name: "train", Command: []string{"python", "train.py", "--lr", "0.1"},
			Workdir: "/home/ada/proj", Env: []string{"PATH=/usr/bin", "SLURM_JOB_ID=99", "SBATCH_PARTITION=x", "HF_HOME=/data/hf"},
			Launch: trainyard.LaunchNone, ProcsPerNode: 1, Nodes: 1,
			Resources: trainyard.Resources{CPUs: 4, Memory: 3 << 29}, LogPath: "/srv/trainyard/logs/0a1b2c3d4e5f.log",
		}},
		{name: "two-nodes-torchrun", gpuType: "h100", cfg: func(c *resolved) { c.GPUFlag = "gpus-per-node" }, task: trainyard.Task{
			TaskRef: trainyard.TaskRef{JobID: "ffeeddccbbaa", Attempt: 2}, Name: "ddp 'big'\nrun",
			Command: []string{"python", "-c", "print('it''s')"}, Workdir: "/home/ada/my proj",
			Launch: trainyard.LaunchTorchrun, ProcsPerNode: 4, Nodes: 2,
			Resources: trainyard.Resources{GPUs: 4, CPUs: 16, Memory: 64 << 30},
			Pool:      "gpu", QOS: "high", TimeLimit: 90 * time.Second, LogPath: "/srv/trainyard/logs/ffeeddccbbaa.log",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			sub, err := buildSubmission(cfg, tc.task, tc.gpuType)
			if err != nil {
				t.Fatal(err)
			}
			got := "name: " + sub.Name + "\n\nsbatch\n  " + strings.Join(sub.Args, "\n  ") +
				"\n\nenvironment\n  " + strings.Join(sub.Env, "\n  ") + "\n\nscript\n" + sub.Script
			path := filepath.Join("testdata", "submission-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("submission (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildSubmissionRefuses(t *testing.T) {
	ok := trainyard.Task{TaskRef: trainyard.TaskRef{JobID: "j"}, Command: []string{"true"}, Nodes: 1, ProcsPerNode: 1,
		Launch: trainyard.LaunchNone, LogPath: "/logs/j.log"}
	for _, tc := range []struct {
		name   string
		change func(*trainyard.Task)
		want   []string // every field named
	}{
		{"empty command", func(t *trainyard.Task) { t.Command = nil }, []string{"command"}},
		{"relative log", func(t *trainyard.Task) { t.LogPath = "logs/j.log" }, []string{"log_path"}},
		{"log with %", func(t *trainyard.Task) { t.LogPath = "/logs/100%/j.log" }, []string{"log_path", "%"}},
		{"procs without torchrun", func(t *trainyard.Task) { t.ProcsPerNode = 2 }, []string{"procs_per_node"}},
		{"bad partition and qos", func(t *trainyard.Task) { t.Pool = "a b"; t.QOS = "x;y" }, []string{"pool", "qos"}},
		{"bad launch", func(t *trainyard.Task) { t.Launch = "mpirun" }, []string{"launch"}},
	} {
		task := ok
		tc.change(&task)
		_, err := buildSubmission(testConfig(), task, "")
		if !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("%s: err = %v, want EINVALID", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %q", tc.name, err, w)
			}
		}
	}
	if _, err := buildSubmission(testConfig(), ok, ""); err != nil {
		t.Errorf("the valid task: %v", err)
	}
}

func TestJobName(t *testing.T) {
	for ref, want := range map[trainyard.TaskRef]string{
		{JobID: "0a1b2c3d4e5f"}:           "trainyard-0a1b2c3d4e5f-a0",
		{JobID: "a/b c", Attempt: 12}:     "trainyard-a_b_c-a12",
		{JobID: strings.Repeat("x", 200)}: "trainyard-" + strings.Repeat("x", 100) + "-a0",
	} {
		if got := jobName(ref); got != want {
			t.Errorf("jobName(%+v) = %q, want %q", ref, got, want)
		}
	}
}

func TestHandle(t *testing.T) {
	h := handle{V: handleVersion, JobID: "42", Name: "trainyard-x-a0", At: 1700000000000}
	got, err := decodeHandle(h.encode())
	if err != nil || got != h {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", h, got, err)
	}
	for _, bad := range []trainyard.Handle{"", "{", `{"v":2,"slurm_job":"1","name":"x"}`, `{"v":1,"slurm_job":"x1","name":"x"}`,
		`{"v":1,"slurm_job":"1"}`, `{"v":1,"pid":3}`} {
		if _, err := decodeHandle(bad); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("decodeHandle(%q) = %v, want EINVALID", bad, err)
		}
	}
}

func TestResolveConfig(t *testing.T) {
	dir := t.TempDir()
	for _, c := range commands {
		if err := os.WriteFile(filepath.Join(dir, c), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r, err := resolve(Config{BinDir: dir, Binary: "/opt/trainyard"})
	if err != nil {
		t.Fatal(err)
	}
	if r.PollInterval != time.Second || r.InfoTTL != 30*time.Second || r.KillGrace != 5*time.Second || r.GPUFlag != "gres" {
		t.Errorf("defaults: %+v", r.Config)
	}
	if r.paths["sbatch"] != filepath.Join(dir, "sbatch") {
		t.Errorf("sbatch at %q", r.paths["sbatch"])
	}
	_, err = resolve(Config{BinDir: t.TempDir(), Partition: "a b", GPUFlag: "tres", Binary: "trainyard",
		PollInterval: -1, SbatchArgs: []string{"exclusive"}, TimeLimit: -time.Minute})
	for _, field := range []string{"slurm.partition", "slurm.gpu_flag", "slurm.binary", "slurm.poll_interval", "slurm.sbatch_args", "slurm.time_limit", "sbatch not found"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("resolve of a bad config = %v; want it to name %s", err, field)
		}
	}
}
