// Package pgtest starts a real PostgreSQL server for tests and benchmarks:
// Debian's postgresql package (initdb and postgres from
// /usr/lib/postgresql/N/bin, or $TRAINYARD_PG_BIN), a new cluster in a
// temporary directory, listening on 127.0.0.1 at a free port (no Unix
// socket), trust authentication for the superuser "trainyard". PostgreSQL
// refuses to run as root, so as root (as CI runs) the cluster is made and
// run as the "postgres" user the package creates.
//
// Nothing is mocked and nothing is skipped: when the server cannot start,
// Start returns an error saying why and tests fail.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//	func TestX(t *testing.T) { url := pgtest.NewDatabase(t) ... }
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running PostgreSQL.
type Server struct {
	Dir  string // the cluster's directory (data and log)
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Options tune Start.
type Options struct {
	// Durable keeps PostgreSQL's defaults: fsync on, full page writes. Off
	// (tests), the cluster skips fsync, which makes its commits cheap;
	// benchmarks turn it on.
	Durable bool
	// Settings are more "-c name=value" settings.
	Settings []string
}

// BinDir finds PostgreSQL's programs: $TRAINYARD_PG_BIN, else the newest
// /usr/lib/postgresql/N/bin, else the directory of initdb on PATH.
func BinDir() (string, error) {
	if d := os.Getenv("TRAINYARD_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb and no initdb on PATH (apt-get install postgresql, or set TRAINYARD_PG_BIN)")
}

func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start makes a new cluster and starts it.
func Start(opt Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trainyard-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "trainyard", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var errs []string
	for range 5 {
		s, err := start(bin, dir, data, cred, opt)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err.Error())
	}
	os.RemoveAll(dir)
	return nil, fmt.Errorf("start PostgreSQL: %s", strings.Join(errs, "\n-- and again: "))
}

// credential is whom PostgreSQL runs as: the caller, or the postgres
// user when the caller is root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL does not run as root and there is no postgres user to run it as (apt-get install postgresql creates one): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func start(bin, dir, data string, cred *syscall.Credential, opt Options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", data, "-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "max_connections=400", "-c", "shared_buffers=128MB"}
	if !opt.Durable {
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	}
	for _, s := range opt.Settings {
		args = append(args, "-c", s)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, and SIGQUIT (immediate shutdown) if the test
	// binary dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Port: port, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := pgx.Connect(ctx, s.URL("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return s, nil
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited: %s", tail(b))
		default:
		}
		if time.Now().After(deadline) {
			s.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not accept connections within 60s: %v\n%s", err, tail(b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// URL is the connection string of a database on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://trainyard@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// CreateDatabase makes a new, empty database with a random name and
// returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	var b [6]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
	}
	os.RemoveAll(s.Dir)
}

// Log returns the end of the server's log, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return tail(b)
}

var (
	shared    *Server
	sharedErr error
	once      sync.Once
	mu        sync.Mutex
)

// Shared returns the server of this test binary, starting it on first
// use. Main stops it.
func Shared() (*Server, error) {
	once.Do(func() {
		s, err := Start(Options{})
		mu.Lock()
		shared, sharedErr = s, err
		mu.Unlock()
	})
	return shared, sharedErr
}

// NewDatabase returns the URL of a new, empty database on the shared
// server; the test fails (never skips) when PostgreSQL cannot start.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s, err := Shared()
	if err != nil {
		t.Fatalf("PostgreSQL for this test: %v", err)
	}
	url, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, s.Log())
	}
	return url
}

// Main runs the tests and then stops the shared server, if one started.
// Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	Stop()
	return code
}

// Stop stops the shared server, if one started.
func Stop() {
	mu.Lock()
	s := shared
	shared = nil
	mu.Unlock()
	if s != nil {
		s.Stop()
	}
}
