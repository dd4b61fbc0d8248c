// Package e2e drives the real trainyard binary as a user would: it builds
// it (or takes $TRAINYARD_BIN), starts `trainyard up` on a temporary data
// directory and a free port, and talks to it with the CLI, the HTTP API and
// real Python jobs that use the SDK.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard/client"
)

var (
	bin     string // the trainyard binary under test
	repo    string // the repository root
	python  string // a Python 3 with the SDK's source on PYTHONPATH
	sdkPath string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Dir(filepath.Dir(file))
	sdkPath = filepath.Join(repo, "sdk", "python", "src")
	python = os.Getenv("TRAINYARD_PYTHON")
	if python == "" {
		if p := filepath.Join(repo, ".venv", "bin", "python"); fileExists(p) {
			python = p
		} else {
			python = "python3"
		}
	}
	bin = os.Getenv("TRAINYARD_BIN")
	var tmp string
	if bin == "" {
		var err error
		tmp, err = os.MkdirTemp("", "trainyard-e2e-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		bin = filepath.Join(tmp, "trainyard")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/trainyard")
		cmd.Dir, cmd.Env = repo, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build trainyard: %v\n%s", err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	if tmp != "" {
		os.RemoveAll(tmp)
	}
	os.Exit(code)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// server is one running `trainyard up`.
type server struct {
	t      *testing.T
	URL    string
	Data   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	args   []string
	C      *client.Client
}

// startServer starts trainyard on a new data directory.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{t: t, Data: t.TempDir(), args: args}
	s.start()
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	return s
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (s *server) start() {
	t := s.t
	t.Helper()
	addr := strings.TrimPrefix(s.URL, "http://")
	if addr == "" {
		addr = freePort(t)
	}
	s.URL = "http://" + addr
	s.stderr = &bytes.Buffer{}
	s.cmd = exec.Command(bin, append([]string{"up", "--addr", addr, "--data", s.Data, "--nvidia-smi", "none"}, s.args...)...)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.C = client.New(s.URL, "")
	for _, a := range s.args {
		if v, ok := strings.CutPrefix(a, "--token="); ok {
			s.C.Token = v
		}
	}
	if err := s.C.WaitReady(context.Background(), 20*time.Second); err != nil {
		t.Fatalf("%v\nserver output:\n%s", err, s.stderr)
	}
}

func (s *server) stop(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-done
		s.t.Errorf("server did not stop on %v within 10s", sig)
	}
	s.cmd = nil
}

// restart starts the server again on the same data directory and port.
func (s *server) restart() { s.start() }

// cli runs the trainyard CLI against the server and returns stdout, stderr
// and the exit code.
func (s *server) cli(dir string, args ...string) (string, string, int) {
	s.t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TRAINYARD_URL="+s.URL, "TRAINYARD_TOKEN="+s.C.Token,
		"PYTHONPATH="+sdkPath, "PATH="+filepath.Dir(python)+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", within, what)
}
