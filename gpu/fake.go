package gpu

import (
	_ "embed"
	"os"
	"path/filepath"
)

//go:embed testdata/fake-nvidia-smi
var fakeScript []byte

// FakeNvidiaSMI writes the fake script into dir and returns its path (tests only).
//
// The script is a POSIX sh stand-in for nvidia-smi, built from a real H200
// capture, so that tests of GPU pinning run on machines without NVIDIA GPUs.
// It answers only the query Probe and Query run, printing
// $TRAINYARD_FAKE_GPUS GPUs (default 4) that differ in index, UUID and bus
// id, and exits 9 for any other arguments. The file is named nvidia-smi, so
// dir can also be put first in PATH.
//
// Write it before starting subprocesses in parallel: Linux refuses to run a
// file that another process still holds open for writing ("text file busy"),
// and a fork elsewhere in the test binary can briefly hold it so.
func FakeNvidiaSMI(dir string) (string, error) {
	path := filepath.Join(dir, "nvidia-smi")
	if err := os.WriteFile(path, fakeScript, 0o755); err != nil {
		return "", err
	}
	// WriteFile's mode is filtered by the umask and ignored for an existing file.
	if err := os.Chmod(path, 0o755); err != nil {
		return "", err
	}
	return path, nil
}
