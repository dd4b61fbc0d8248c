// Package e2e drives the real trainyard binary as a user would: it builds
// it (or takes $TRAINYARD_BIN), starts `trainyard up` on a temporary data
// directory and a free port, and talks to it with the CLI, the HTTP API and
// real Python jobs that use the SDK.
//
// The store is SQLite in the data directory, or, with
// TRAINYARD_TEST_DB=postgres, a new database on a real PostgreSQL that the
// tests start (package pgtest) for each server: make test runs the suite
// both ways.
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
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard/client"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/internal/s3test"
)

var (
	testDB  string // TRAINYARD_TEST_DB: "" or sqlite (the default), or postgres
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
	switch testDB = os.Getenv("TRAINYARD_TEST_DB"); testDB {
	case "", "sqlite", "postgres":
	default:
		fmt.Fprintf(os.Stderr, "TRAINYARD_TEST_DB=%q: want sqlite or postgres\n", testDB)
		os.Exit(2)
	}
	var s3srv *s3test.Server
	if os.Getenv("TRAINYARD_TEST_ARTIFACTS") == "s3" {
		var err error
		if s3srv, s3Artifacts, err = startS3(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	pgtest.Stop()
	if s3srv != nil {
		s3srv.Stop()
	}
	stopSlurm()
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

// s3Artifacts is the s3:// URI of the bucket that servers keep artifacts
// in when TRAINYARD_TEST_ARTIFACTS=s3 (CI runs part of this package so):
// a real S3-compatible server this process starts, one prefix a server.
var (
	s3Artifacts string
	s3Servers   atomic.Int64
)

// startS3 starts the S3 test server for the package, makes its bucket and
// puts its endpoint and credentials in the environment servers inherit.
func startS3() (*s3test.Server, string, error) {
	srv, err := s3test.Start()
	if err != nil {
		return nil, "", fmt.Errorf("TRAINYARD_TEST_ARTIFACTS=s3: %w", err)
	}
	if err := srv.NewBucket(context.Background(), "e2e"); err != nil {
		srv.Stop()
		return nil, "", err
	}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	return srv, "s3://e2e", nil
}

// startServer starts trainyard on a new data directory (and, with
// TRAINYARD_TEST_ARTIFACTS=s3, artifacts in the test bucket).
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	if s3Artifacts != "" {
		args = append([]string{"--artifacts", fmt.Sprintf("%s/server%d", s3Artifacts, s3Servers.Add(1))}, args...)
	}
	if testDB == "postgres" && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--db") }) {
		args = append(args, "--db="+pgtest.NewDatabase(t))
	}
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
	token := ""
	if s.C != nil {
		token = s.C.Token // a restart keeps the token the test set
	}
	s.C = client.New(s.URL, token)
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
