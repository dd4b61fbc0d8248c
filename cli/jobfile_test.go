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

func TestParseJobFileReportsEveryUnknownFieldAtOnce(t *testing.T) {
	_, err := ParseJobFile("job.yaml", []byte(`name: x
command: [true]
gpus: 1
resources:
  gpu: 1
  memory: 4GiB
  cpu: 2
prioirty: 3
env: {A: "1", A: "2"}
name: y
`))
	if err == nil {
		t.Fatal("accepted a file with unknown fields")
	}
	want := []string{
		`job.yaml:3: gpus: unknown field (see ` + "`trainyard submit --help`" + `)`,
		`job.yaml:5: resources.gpu: unknown field; did you mean "gpus"?`,
		`job.yaml:7: resources.cpu: unknown field; did you mean "cpus"?`,
		`job.yaml:8: prioirty: unknown field; did you mean "priority"?`,
		`job.yaml:9: env.A: given twice (first at line 9)`,
		`job.yaml:10: name: given twice (first at line 1)`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d = %q, want it to start %q", i, lines[i], w)
		}
	}
}

func TestParseJobFileSyntaxErrorsNameTheRightLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		// An unclosed flow sequence: where it was noticed, and where it began.
		{"name: x\ncommand: [a, b\nresources: {gpus: 1}\n", "job.yaml:3:10: YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at line 2, column 10)"},
		{"name: x\n  bad: indent\ncommand: [a]\n", "job.yaml:2:6: YAML syntax: mapping values are not allowed"},
		{"name: x\ncommand: [a]\nresources:\n  gpus: 1\n   cpus: 2\n", "job.yaml:5:"},
		{"name: 'x\ncommand: [a]\n", "(while scanning a quoted scalar at line 1, column 7)"},
		{"name: x\ncommand: [a]\n\tpriority: 1\n", "job.yaml:3:1: YAML syntax: found character that cannot start any token (a tab: YAML indents with spaces)"},
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
