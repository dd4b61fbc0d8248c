package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard/executor/slurm"
)

// TestSlurmSettings: the --slurm-* settings come from flags, TRAINYARD_SLURM_*
// variables and the config file (a flag over its variable over the file)
// and map onto slurm.Config.
func TestSlurmSettings(t *testing.T) {
	t.Setenv("TRAINYARD_SLURM_QOS", "high")
	t.Setenv("TRAINYARD_SLURM_PARTITION", "from-env")
	cmd := upCmd() // reads the variables as its flags' defaults
	file := filepath.Join(t.TempDir(), "trainyard.yaml")
	yaml := "executor: slurm\nslurm-partition: from-file\nslurm-account: from-file\nslurm-time: 2d\n" +
		"slurm-sbatch-args: --constraint=ib --exclusive\nslurm-poll: 500ms\nslurm-gpu-flag: gpus-per-node\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Flags().Parse([]string{"--slurm-account=from-flag", "--slurm-binary=/shared/bin/trainyard"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd.Flags(), file); err != nil {
		t.Fatal(err)
	}
	got, err := slurmConfig(wiring{Self: "/usr/local/bin/trainyard"})
	if err != nil {
		t.Fatal(err)
	}
	want := slurm.Config{
		Partition: "from-env", Account: "from-flag", QOS: "high", TimeLimit: 48 * time.Hour,
		Binary: "/shared/bin/trainyard", SbatchArgs: []string{"--constraint=ib", "--exclusive"},
		GPUFlag: "gpus-per-node", PollInterval: 500 * time.Millisecond,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slurm.Config (-want +got):\n%s", diff)
	}

	slurmFlags.timeLimit = "soon"
	if _, err := slurmConfig(wiring{}); err == nil || !strings.Contains(err.Error(), "--slurm-time") {
		t.Errorf("a bad --slurm-time: %v", err)
	}
}
