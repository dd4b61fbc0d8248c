package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// mountTmpfs mounts a tmpfs of size bytes at a new directory and unmounts
// it at the end. It needs root (CAP_SYS_ADMIN), as CI runs: a real full
// filesystem is the thing to test, so without one the test fails loudly
// rather than fakes it.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("mount a %d-byte tmpfs to fill (this test runs as root, as CI does): %v: %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes to path until the filesystem is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			size /= 2
		}
	}
}

// wantDiskFull checks that err is the server's 507 naming the full disk.
func wantDiskFull(t *testing.T, what string, err error) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 507 || e.Code != trainyard.ENOSPACE || !strings.Contains(e.Message, "disk is full") {
		t.Errorf("%s on a full disk: %v; want 507 insufficient_storage saying the disk is full", what, err)
	}
}

// A full disk: writes answer 507 with a message that says the disk is
// full (not 500 "internal error"), reads keep working, the server starts
// again on the full disk (a clean stop deletes SQLite's -shm file, which
// a start must make again), and writes work again once space is freed.
func TestFullDisk(t *testing.T) {
	fs := mountTmpfs(t, 24<<20)
	s := &server{t: t, Data: filepath.Join(fs, "data")}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	ctx := context.Background()
	run, err := s.C.CreateRun(ctx, trainyard.NewRun{Project: "full", Config: map[string]any{"lr": 0.1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.AppendMetrics(ctx, run.ID, []byte(`{"series":[{"key":"loss","values":[1,2,3]}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.PutArtifact(ctx, run.ID, "model.bin", strings.NewReader("weights")); err != nil {
		t.Fatal(err)
	}
	if err := s.C.AppendLog(ctx, run.ID, []byte("epoch 1\n")); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(fs, "ballast")
	fill(t, ballast)

	big := bytes.Repeat([]byte(`{"key":"loss","value":0.5,"step":7},`), 20000)
	big = append(append([]byte(`{"points":[`), big[:len(big)-1]...), ']', '}')
	writes := func() {
		t.Helper()
		_, err := s.C.AppendMetrics(ctx, run.ID, big)
		wantDiskFull(t, "metrics", err)
		_, err = s.C.PutArtifact(ctx, run.ID, "checkpoint.bin", bytes.NewReader(make([]byte, 1<<20)))
		wantDiskFull(t, "artifact upload", err)
		err = s.C.AppendLog(ctx, run.ID, bytes.Repeat([]byte("log line\n"), 100000))
		wantDiskFull(t, "log", err)
	}
	reads := func() {
		t.Helper()
		r, err := s.C.Run(ctx, run.ID)
		if err != nil || r.Metrics["loss"].Count != 3 || r.Config["lr"] != 0.1 {
			t.Fatalf("read the run on a full disk: %+v %v", r, err)
		}
		ser, err := s.C.Metric(ctx, run.ID, "loss", nil)
		if err != nil || len(ser.Values) != 3 {
			t.Fatalf("read the metric on a full disk: %+v %v", ser, err)
		}
		a, err := s.C.Artifact(ctx, run.ID, "model.bin")
		if err != nil {
			t.Fatalf("read the artifact on a full disk: %v", err)
		}
		b, _ := io.ReadAll(a)
		a.Close()
		if string(b) != "weights" {
			t.Fatalf("artifact %q", b)
		}
		if runs, err := s.C.Runs(ctx, trainyard.RunFilter{}); err != nil || len(runs) != 1 {
			t.Fatalf("list runs on a full disk: %v %v", runs, err)
		}
	}
	writes()
	reads()

	// A clean stop (with room for it to finish: SQLite then deletes its
	// -wal and -shm files), and a start on the full disk, which must make
	// the -shm file again.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	s.stop(syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(s.Data, "trainyard.db-shm")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the clean stop left the -shm file (%v): the start below would not need to make it", err)
	}
	fill(t, ballast)
	s.start()
	reads()
	fill(t, ballast) // what the start freed, taken again
	writes()
	reads()

	// Space freed: writes work again, without a restart.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if _, err := s.C.AppendMetrics(ctx, run.ID, []byte(`{"series":[{"key":"loss","values":[4]}]}`)); err != nil {
		t.Fatalf("metrics after space was freed: %v", err)
	}
	if _, err := s.C.PutArtifact(ctx, run.ID, "checkpoint.bin", strings.NewReader("ok")); err != nil {
		t.Fatalf("artifact after space was freed: %v", err)
	}
	r, err := s.C.Run(ctx, run.ID)
	if err != nil || r.Metrics["loss"].Count != 4 {
		t.Fatalf("after space was freed: %+v %v", r.Metrics, err)
	}
}
