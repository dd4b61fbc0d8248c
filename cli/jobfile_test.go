package cli

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func TestParseJobFile(t *testing.T) {
	got, err := ParseJobFile("job.yaml", []byte(`
name: digits
project: examples
command: [python, train.py, --epochs, "10"]
resources: {gpus: 1, cpus: 2, memory: 4GiB}
priority: 10
max_restarts: 2
env: {SEED: "1"}
config: {lr: 0.001, model: {layers: 2}}
tags: {team: vision}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &trainyard.JobSpec{
		Name: "digits", Project: "examples", Command: []string{"python", "train.py", "--epochs", "10"},
		Resources: trainyard.Resources{GPUs: 1, CPUs: 2, Memory: 4 << 30}, Priority: 10, MaxRestarts: 2,
		Env: map[string]string{"SEED": "1"}, Config: map[string]any{"lr": 0.001, "model": map[string]any{"layers": 2.0}},
		Tags: map[string]string{"team": "vision"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	shell, err := ParseJobFile("j.yaml", []byte("command: echo hi && sleep 1\n"))
	if err != nil || !cmp.Equal(shell.Command, []string{"sh", "-c", "echo hi && sleep 1"}) {
		t.Errorf("string command = %v, %v", shell, err)
	}
}

func TestParseJobFileErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"command: [true]\ngpus: 1\n", "job.yaml:2: gpus: unknown field"},
		{"command: [true]\nresources:\n  gpu: 1\n", "job.yaml:3: resources.gpu: unknown field"},
		{"command: [true]\nresources:\n  gpus: two\n", "job.yaml:3: resources.gpus: want int"},
		{"command: [true]\npriority: 9999\n", "job.yaml:2: priority: is 9999"},
		{"name: x\n", "job.yaml:1: command: is empty"},
		{"command: [true]\nresources: {memory: 4XB}\n", "job.yaml"},
		{"", "the file is empty"},
		{"- a\n- b\n", "want a mapping"},
		{"command: [\n", "job.yaml"},
	} {
		_, err := ParseJobFile("job.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseJobFile(%q) = %v; want an error containing %q", tc.yaml, err, tc.want)
		}
	}
}

func FuzzParseJobFile(f *testing.F) {
	f.Add([]byte("command: [python, x.py]\nresources: {gpus: 1}\n"))
	f.Add([]byte("command: echo hi\nenv: {A: b}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if spec, err := ParseJobFile("f.yaml", data); err == nil {
			if err := spec.Validate(); err != nil {
				t.Fatalf("accepted a spec that does not validate: %v", err)
			}
		}
	})
}
