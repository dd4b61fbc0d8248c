package gpu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

// The tests below run shell scripts in place of nvidia-smi: the real one
// needs an NVIDIA driver, which CI machines do not have.

// writeScript writes an executable sh script named nvidia-smi into a new
// directory and returns its path.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	path := filepath.Join(t.TempDir(), "nvidia-smi")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func fake(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	path, err := FakeNvidiaSMI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// fakeGPU is GPU i as the fake script prints it.
func fakeGPU(i int) GPU {
	g := h200
	g.Index = i
	g.UUID = fmt.Sprintf("GPU-67fbe9c8-5eba-d7ab-c33d-fa4e%08x", i)
	g.BusID = fmt.Sprintf("00000000:%02X:00.0", 16+i)
	return g
}

func TestFakeNvidiaSMI(t *testing.T) {
	path := fake(t)
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o755 {
		t.Fatalf("stat %s: %v, %v; want mode 0755", path, info, err)
	}
	for _, n := range []int{4, 0, 1, 8} {
		t.Run(fmt.Sprint(n, " GPUs"), func(t *testing.T) {
			if n != 4 {
				t.Setenv("TRAINYARD_FAKE_GPUS", fmt.Sprint(n))
			}
			got, err := Query(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			want := []GPU{}
			for i := range n {
				want = append(want, fakeGPU(i))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
	t.Run("other arguments exit 9", func(t *testing.T) {
		out, err := exec.Command(path, xmlArgs...).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 9 || !strings.Contains(string(out), "unsupported arguments: -q -x") {
			t.Errorf("err = %v, output %q; want exit 9 and a message", err, out)
		}
	})
	t.Run("bad count", func(t *testing.T) {
		t.Setenv("TRAINYARD_FAKE_GPUS", "four")
		if _, err := Query(context.Background(), path); err == nil || !strings.Contains(err.Error(), "want a whole number") {
			t.Errorf("err = %v, want the script's complaint", err)
		}
	})
}

func TestProbe(t *testing.T) {
	xml := filepath.Join(must(os.Getwd()), "testdata/h200/nvidia-smi-q.xml")
	tests := []struct {
		name     string
		script   string // "" runs the fake
		gpus     int    // TRAINYARD_FAKE_GPUS
		want     []GPU
		source   string
		warnings []string // substrings, one per warning
		wantErr  string   // of Query
	}{
		{name: "fake, 4 GPUs", gpus: 4, want: []GPU{fakeGPU(0), fakeGPU(1), fakeGPU(2), fakeGPU(3)}, source: "nvidia-smi"},
		{name: "fake, 0 GPUs", gpus: 0, want: []GPU{}, source: "nvidia-smi"},
		{
			name:   "driver not loaded",
			script: "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\"\nexit 9\n",
			want:   []GPU{}, source: "failed: CPU-only mode",
			warnings: []string{
				`--format=csv,noheader,nounits: exit status 9: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.`,
				`-q -x: exit status 9: "NVIDIA-SMI has failed`,
			},
			wantErr: "exit status 9",
		},
		{
			name:   "unparsable output",
			script: "echo 'hello, world'\n",
			want:   []GPU{}, source: "failed: CPU-only mode",
			warnings: []string{`--format=csv,noheader,nounits: line 1: got 2 fields, want 11`, "-q -x: not nvidia-smi -q -x output"},
			wantErr:  "line 1: got 2 fields",
		},
		{
			name:     "old driver: CSV query fails, XML works",
			script:   "if [ \"$1\" = -q ]; then cat '" + xml + "'; exit; fi\necho 'Field \"utilization.memory\" is not a valid field to query.' >&2\nexit 2\n",
			want:     []GPU{h200},
			source:   "nvidia-smi -q -x",
			warnings: []string{`exit status 2: "Field \"utilization.memory\" is not a valid field to query."; used nvidia-smi -q -x instead`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := fake(t)
			if tt.script != "" {
				path = writeScript(t, tt.script)
			}
			t.Setenv("TRAINYARD_FAKE_GPUS", fmt.Sprint(tt.gpus))

			m := Probe(context.Background(), path)
			if diff := cmp.Diff(tt.want, m.GPUs); diff != "" {
				t.Errorf("GPUs (-want +got)\n%s", diff)
			}
			if !strings.Contains(m.Source, tt.source) {
				t.Errorf("Source = %q, want it to contain %q", m.Source, tt.source)
			}
			checkWarnings(t, m.Warnings, tt.warnings)

			gpus, err := Query(context.Background(), path)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Query: err = %v, want %q", err, tt.wantErr)
			}
			if len(gpus) != len(m.GPUs) {
				t.Errorf("Query found %d GPUs, Probe %d", len(gpus), len(m.GPUs))
			}
		})
	}
}

func checkWarnings(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Warnings = %q, want %d", got, len(want))
		return
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("Warnings[%d] = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestProbeNotFound(t *testing.T) {
	t.Run("default name, not in PATH", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		m := Probe(context.Background(), "")
		if m.Source != "nvidia-smi not found: CPU-only mode" || len(m.GPUs) != 0 || m.GPUs == nil || m.Warnings != nil {
			t.Errorf("got %+v, want CPU-only mode without warnings", m)
		}
		if _, err := Query(context.Background(), ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Query: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("path that does not exist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "nvidia-smi")
		m := Probe(context.Background(), path)
		if m.Source != path+" not found: CPU-only mode" || len(m.GPUs) != 0 || m.Warnings != nil {
			t.Errorf("got %+v, want CPU-only mode without warnings", m)
		}
	})
	t.Run("found in PATH", func(t *testing.T) {
		t.Setenv("PATH", filepath.Dir(fake(t)))
		if m := Probe(context.Background(), ""); m.Source != "nvidia-smi" || len(m.GPUs) != 4 {
			t.Errorf("got %+v, want the fake's 4 GPUs", m)
		}
	})
}

func TestProbeNotExecutable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits")
	}
	path := filepath.Join(t.TempDir(), "nvidia-smi")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := Probe(context.Background(), path)
	if !strings.HasSuffix(m.Source, "failed: CPU-only mode") || len(m.Warnings) != 1 || !strings.Contains(m.Warnings[0], "permission denied") {
		t.Errorf("got %+v, want a failure quoting permission denied", m)
	}
}

// TestProbeHangs checks that a hung nvidia-smi, and a child it started that
// holds its output open, do not hang Probe, and that the XML query is not
// tried after a timeout.
func TestProbeHangs(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	path := writeScript(t, "echo \"$@\" >> "+marker+"\nsleep 8\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	m := Probe(ctx, path)
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Probe took %v", d)
	}
	checkWarnings(t, m.Warnings, []string{"context deadline exceeded"})
	if runs := strings.Count(string(readFile(t, marker)), "\n"); runs != 1 {
		t.Errorf("nvidia-smi ran %d times, want 1", runs)
	}
}

func TestProbeDisabled(t *testing.T) {
	m := Probe(context.Background(), Disabled)
	if m.Source != "none" || m.GPUs == nil || len(m.GPUs) != 0 {
		t.Errorf("got %+v, want Source none and no GPUs", m)
	}
}

func TestProbeMachine(t *testing.T) {
	path := fake(t)
	m := probe(context.Background(), path, "testdata/meminfo")
	host, _ := os.Hostname()
	if m.Hostname != host || m.CPUs != runtime.NumCPU() || m.Memory != 24683656*1024 || m.Warnings != nil {
		t.Errorf("got %+v, want host %s, %d CPUs, 24683656 KiB", m, host, runtime.NumCPU())
	}
	want := trainyard.Resources{GPUs: 4, CPUs: runtime.NumCPU(), Memory: 24683656 * 1024}
	if got := m.Capacity(); got != want {
		t.Errorf("Capacity() = %v, want %v", got, want)
	}

	m = probe(context.Background(), path, filepath.Join(t.TempDir(), "meminfo"))
	if m.Memory != 0 || len(m.GPUs) != 4 {
		t.Errorf("got %+v, want memory 0 and the GPUs", m)
	}
	checkWarnings(t, m.Warnings, []string{"memory: open "})
}

func TestMachineJSON(t *testing.T) {
	b, err := json.Marshal(Probe(context.Background(), Disabled))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"gpus":[]`) || strings.Contains(s, "warnings") {
		t.Errorf("JSON %s: want gpus [] and no warnings", s)
	}
}

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		err      string
	}{
		{"kB", "MemTotal:       16318884 kB\nMemFree:  1 kB\n", 16318884 * 1024, ""},
		{"not first", "Foo: 1\nMemTotal: 2 kB\n", 2048, ""},
		{"no unit", "MemTotal: 2\n", 2, ""},
		{"missing", "MemFree: 1 kB\n", 0, "no MemTotal line"},
		{"empty", "", 0, "no MemTotal line"},
		{"garbage", "MemTotal: lots kB\n", 0, `line 1: MemTotal: "lots kB" is not a size`},
		{"other unit", "Foo: 1\nMemTotal: 2 MB\n", 0, `line 2: MemTotal: "2 MB": want a number of kB`},
		{"too large", "MemTotal: 9223372036854775807 kB\n", 0, "is not a size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemTotal(strings.NewReader(tt.in))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}
