// Package s3test starts a real S3-compatible server on this machine for
// tests and benchmarks: ../shared/s3/local-s3.sh (next to the repository)
// runs SeaweedFS (master, volume, filer and S3 gateway on loopback) with
// SigV4 authentication and fresh random credentials.
//
// The server's binary is built from the Go module proxy the first time
// (minutes with a cold Go cache) into $TRAINYARD_S3_BIN, or
// ~/.cache/trainyard-s3/<hash of the script>, under a lock so that test
// packages running at once build it once; later starts take seconds.
// Start never skips: a server that cannot be built or started is an error.
//
// Each server runs in its own temporary directory, which holds the pid of
// the process that started it: Start first stops the servers of test
// processes that died without stopping theirs.
package s3test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is a running S3-compatible server.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Region    string
	Dir       string // its data, configuration and log (weed.log)
	script    string
}

// dirPrefix names the servers' directories in os.TempDir.
const dirPrefix = "trainyard-s3-"

// Env is the AWS_* environment that points a client at the server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.Endpoint, "AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=" + s.Region,
	}
}

// Client is a minio-go client for the server, path-style.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Region: s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// NewBucket creates a bucket.
func (s *Server) NewBucket(ctx context.Context, name string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// LogTail is the end of the server's log, for error messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "weed.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() {
	exec.Command("bash", s.script, "stop", s.Dir).Run()
	os.RemoveAll(s.Dir)
}

// Start builds the server if needed and starts one in a new temporary
// directory; it returns once the server answers signed requests.
func Start() (*Server, error) {
	script, err := Script()
	if err != nil {
		return nil, err
	}
	bin, err := Build(script)
	if err != nil {
		return nil, err
	}
	cleanLeftovers(script)
	var errs []string
	for range 3 {
		s, err := start(script, bin)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("%s", strings.Join(errs, "\n-- and again:\n"))
}

var (
	shared     *Server
	sharedErr  error
	sharedOnce sync.Once
)

// Shared starts one server for this process, on the first call; Main
// stops it.
func Shared() (*Server, error) {
	sharedOnce.Do(func() { shared, sharedErr = Start() })
	return shared, sharedErr
}

// StopShared stops the server Shared started, if any. Call it from
// TestMain after m.Run.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// Script finds ../shared/s3/local-s3.sh next to the repository (the
// directory of go.mod above the working directory).
func Script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(d), "shared", "s3", "local-s3.sh")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("the S3 test server's script: %w (the repository must sit next to shared/)", err)
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("no go.mod above %s", dir)
}

// BinDir is where the server's binary is kept: $TRAINYARD_S3_BIN, or a
// directory under ~/.cache/trainyard-s3 named for the script's content, so
// that a new version of the script builds anew.
func BinDir(script string) (string, error) {
	if d := os.Getenv("TRAINYARD_S3_BIN"); d != "" {
		return d, nil
	}
	b, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	cache, err := os.UserCacheDir()
	if err != nil {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "trainyard-s3", hex.EncodeToString(sum[:6])), nil
}

// Build builds the server's binary unless it is there, under a lock, and
// returns its directory.
func Build(script string) (string, error) {
	dir, err := BinDir(script)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "weed")); err == nil {
		return dir, nil
	}
	// A cold build takes tens of minutes on a busy 2-core machine. On
	// timeout the whole process group goes (go build and its compilers),
	// not the script alone.
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "build", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(filepath.Join(dir, "weed"))
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: not built in %v", err, buildTimeout)
		}
		return "", fmt.Errorf("build the S3 test server (%s build %s): %v\n%s", script, dir, err, out)
	}
	return dir, nil
}

// buildTimeout bounds a build of the server.
const buildTimeout = time.Hour

// cleanLeftovers stops the servers whose test process died.
func cleanLeftovers(script string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			(&Server{Dir: d, script: script}).Stop()
		}
	}
}

func start(script, bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, script: script}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script, "start", bin, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("start the S3 test server with %s: %v\n%s%s", script, err, out, stderr.Bytes())
	}
	env := parseExports(out)
	s.Endpoint, s.AccessKey, s.SecretKey, s.Region = env["AWS_ENDPOINT_URL"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"]
	if s.Endpoint == "" || s.AccessKey == "" || s.SecretKey == "" {
		log := s.LogTail()
		s.Stop()
		return nil, fmt.Errorf("the S3 test server's script printed no endpoint and credentials:\n%s\n%s", out, log)
	}
	// The gateway answers before the filer behind it is ready: wait until
	// a signed request works.
	c, err := s.Client()
	if err != nil {
		s.Stop()
		return nil, err
	}
	deadline := time.Now().Add(time.Minute)
	for {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.ListBuckets(rctx)
		rcancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			log := s.LogTail()
			s.Stop()
			return nil, fmt.Errorf("the S3 test server at %s does not answer signed requests after a minute: %v\n%s", s.Endpoint, err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// parseExports reads the script's `export K=V K=V` line.
func parseExports(out []byte) map[string]string {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	return env
}
