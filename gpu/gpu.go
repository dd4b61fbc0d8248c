package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// GPU and Machine are the domain's types; this package fills them in.
type (
	GPU     = trainyard.GPU
	Machine = trainyard.Machine
)

// Timeout bounds each nvidia-smi run. A healthy nvidia-smi answers in well
// under a second; a wedged driver can make it hang for minutes.
const Timeout = 10 * time.Second

// maxOutput bounds what is read from nvidia-smi (the XML of 8 GPUs is ~250 KB).
const maxOutput = 16 << 20

// Disabled, passed as nvidiaSMI, turns GPU discovery off.
const Disabled = "none"

// Probe discovers this machine: hostname, CPUs, memory and GPUs.
//
// nvidiaSMI is the program to run; "" means "nvidia-smi" looked up in PATH,
// and Disabled ("none") skips GPU discovery. Probe never fails: when the
// program is missing, GPUs is empty and Source says CPU-only mode; when it
// exists but fails or prints something unparsable, Probe falls back to
// `nvidia-smi -q -x`, and if that fails too, GPUs is empty and Warnings quote
// each problem. Each run is cut off after Timeout (a run that hangs is not
// retried with -q -x); ctx bounds the whole probe.
func Probe(ctx context.Context, nvidiaSMI string) Machine {
	return probe(ctx, nvidiaSMI, "/proc/meminfo")
}

func probe(ctx context.Context, nvidiaSMI, meminfo string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GPUs: []GPU{}}
	var err error
	if m.Hostname, err = os.Hostname(); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("hostname: %v", err))
	}
	if m.Memory, err = readMemTotal(meminfo); err != nil {
		m.Warnings = append(m.Warnings, fmt.Sprintf("memory: %v; memory is 0", err))
	}

	if nvidiaSMI == Disabled {
		m.Source = Disabled
		return m
	}
	gpus, source, warnings, err := discover(ctx, nvidiaSMI)
	m.Warnings = append(m.Warnings, warnings...)
	switch {
	case errors.Is(err, ErrNotFound):
		m.Source = err.Error() + ": CPU-only mode"
	case err != nil:
		m.Source = program(nvidiaSMI) + " failed: CPU-only mode"
	default:
		m.Source, m.GPUs = source, gpus
	}
	return m
}

// Query runs the same query as Probe, for periodic refresh of utilisation,
// memory, temperature and power: the CSV query, then the XML fallback. It
// returns an error wrapping ErrNotFound when the program is missing, and one
// that quotes nvidia-smi when both queries fail (or the first timed out).
func Query(ctx context.Context, nvidiaSMI string) ([]GPU, error) {
	gpus, _, _, err := discover(ctx, nvidiaSMI)
	return gpus, err
}

// ErrNotFound is wrapped by Query's error when nvidia-smi is missing: the
// machine has no NVIDIA driver, which is not a fault.
var ErrNotFound = errors.New("not found")

// discover runs the CSV query and, when it fails, the XML query; a CSV query
// that timed out is not retried, since a hung driver hangs both. warnings
// holds the CSV failure when the fallback succeeded; err wraps ErrNotFound
// when the program is missing and joins both failures when neither worked.
func discover(ctx context.Context, nvidiaSMI string) (gpus []GPU, source string, warnings []string, err error) {
	prog := program(nvidiaSMI)
	path, err := exec.LookPath(prog)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, "", nil, fmt.Errorf("%s %w", prog, ErrNotFound)
	}
	if err != nil {
		return nil, "", []string{err.Error()}, err
	}
	gpus, csvErr := runParse(ctx, path, queryArgs(), ParseQueryCSV)
	if csvErr == nil {
		return gpus, "nvidia-smi", nil, nil
	}
	csvErr = fmt.Errorf("%s %s: %w", prog, strings.Join(queryArgs(), " "), csvErr)
	if ctx.Err() != nil || errors.Is(csvErr, context.DeadlineExceeded) {
		return nil, "", []string{csvErr.Error()}, csvErr
	}
	gpus, xmlErr := runParse(ctx, path, xmlArgs, ParseXML)
	if xmlErr == nil {
		return gpus, "nvidia-smi -q -x", []string{csvErr.Error() + "; used nvidia-smi -q -x instead"}, nil
	}
	xmlErr = fmt.Errorf("%s %s: %w", prog, strings.Join(xmlArgs, " "), xmlErr)
	return nil, "", []string{csvErr.Error(), xmlErr.Error()}, errors.Join(csvErr, xmlErr)
}

func program(nvidiaSMI string) string {
	if nvidiaSMI == "" {
		return "nvidia-smi"
	}
	return nvidiaSMI
}

// runParse runs path with args under Timeout and parses its standard output.
// A failed run's error quotes what the program said.
func runParse(ctx context.Context, path string, args []string, parse func([]byte) ([]GPU, error)) ([]GPU, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var stdout, stderr capped
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A killed shell script may leave children holding the pipes open;
	// stop waiting for them shortly after the kill.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if said := quote(stderr.Bytes(), stdout.Bytes()); said != "" {
			return nil, fmt.Errorf("%w: %s", err, said)
		}
		return nil, err
	}
	if stdout.over {
		return nil, fmt.Errorf("output is over %d bytes", maxOutput)
	}
	return parse(stdout.Bytes())
}

// quote returns the first of outputs that is not blank, on one line and cut
// to a readable length, quoted.
func quote(outputs ...[]byte) string {
	for _, b := range outputs {
		s := strings.Join(strings.Fields(string(b)), " ")
		if s == "" {
			continue
		}
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		return fmt.Sprintf("%q", s)
	}
	return ""
}

// capped is a buffer that keeps the first maxOutput bytes written to it.
type capped struct {
	bytes.Buffer
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.Len(); len(p) > room {
		c.over = true
		c.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return c.Buffer.Write(p)
}
