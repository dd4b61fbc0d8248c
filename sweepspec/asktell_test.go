package sweepspec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweepspec"
)

// A spec without a command is an ask/tell sweep: its trial fields are
// still checked, and nothing asks for a command.
func TestParseAskTell(t *testing.T) {
	s, err := sweepspec.Parse("s.yaml", []byte("metric: loss\nparameters: {lr: {min: 0.1, max: 1.0}}\nmax_trials: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.AskTell || len(s.Trial.Command) != 0 {
		t.Fatalf("AskTell = %v, command %q; want an ask/tell sweep without command", s.AskTell, s.Trial.Command)
	}
	_, err = sweepspec.Parse("s.yaml", []byte("metric: loss\nparameters: {lr: {min: 0.1, max: 1.0}}\nmax_trials: 5\nresources: {gpus: -1}\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:4: resources.gpus") {
		t.Fatalf("bad resources of an ask/tell sweep: %v", err)
	}
	// A command given but empty is still an error.
	_, err = sweepspec.Parse("s.yaml", []byte("command: []\nmetric: loss\nparameters: {lr: {min: 0.1, max: 1.0}}\nmax_trials: 5\n"))
	if err == nil || !strings.Contains(err.Error(), "command") {
		t.Fatalf("an empty command: %v", err)
	}
}

// searcher: external takes configurations from outside: no bound on the
// trials is needed and no searcher setting is checked, but the space is.
func TestParseExternalSearcher(t *testing.T) {
	s, err := sweepspec.Parse("s.yaml", []byte("command: [python, t.py]\nmetric: {name: acc, mode: max}\nsearcher: external\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.External() || s.AskTell {
		t.Fatalf("External() = %v, AskTell = %v", s.External(), s.AskTell)
	}
	_, err = sweepspec.Parse("s.yaml", []byte("command: [python, t.py]\nmetric: acc\nsearcher: external\nparameters: {lr: {min: 2, max: 1}}\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:4: parameters.lr") {
		t.Fatalf("a bad space of an external sweep: %v", err)
	}
}

// Every `trainyard run` field can be given for the trials.
func TestParseJobFields(t *testing.T) {
	s, err := sweepspec.Parse("s.yaml", []byte(`command: [python, t.py]
metric: loss
parameters: {lr: {min: 0.1, max: 1.0}}
max_trials: 2
resources: {gpus: 4, cpus: 8}
nodes: 2
launch: torchrun
procs_per_node: 2
pool: batch
gpu_type: h100
account: ml
qos: high
queue: q1
time_limit: 2h
git: {commit: abc, dirty: true, branch: main}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := trainyard.JobSpec{Command: []string{"python", "t.py"}, Resources: trainyard.Resources{GPUs: 4, CPUs: 8}, Nodes: 2,
		Launch: trainyard.LaunchTorchrun, ProcsPerNode: 2, Pool: "batch", GPUType: "h100", Account: "ml", QOS: "high", Queue: "q1",
		TimeLimit: trainyard.Duration(2 * time.Hour), Git: &trainyard.GitInfo{Commit: "abc", Dirty: true, Branch: "main"}}
	if diff := cmp.Diff(want, s.Trial); diff != "" {
		t.Fatalf("trial job (-want +got):\n%s", diff)
	}
	_, err = sweepspec.Parse("s.yaml", []byte("command: [python, t.py]\nmetric: loss\nparameters: {lr: {min: 0.1, max: 1.0}}\nmax_trials: 2\ntime_limit: soon\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:5: time_limit") {
		t.Fatalf("a bad time_limit: %v", err)
	}
	_, err = sweepspec.Parse("s.yaml", []byte("command: [python, t.py]\nmetric: loss\nparameters: {lr: {min: 0.1, max: 1.0}}\nmax_trials: 2\nlaunch: mpi\n"))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:5: launch") {
		t.Fatalf("a bad launch: %v", err)
	}
}
