package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard/client"
)

// A detached server is `trainyard up` started again in its own session,
// with its output in DATA/server.log and its pid in DATA/server.pid. The
// server itself writes its pid into DATA/trainyard.lock, the file it holds
// an exclusive flock on while it runs; `trainyard down` signals that pid and
// waits until the lock is free, which is exactly when the server has exited.

const (
	pidFileName = "server.pid"
	logFileName = "server.log"
	lockName    = "trainyard.lock"
)

// detach starts `trainyard up` with the same flags (but --detach) in the
// background and returns once it answers, or fails with its log's tail.
func detach(cfg Config, stdout, stderr io.Writer) error {
	data, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if pid, running := serverOn(data); running {
		return fmt.Errorf("a trainyard already runs on %s (pid %d); stop it with `trainyard down --data %s`", data, pid, data)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var args []string
	for _, a := range os.Args[1:] {
		if a == "--detach" || strings.HasPrefix(a, "--detach=") || a == "-d" {
			continue
		}
		args = append(args, a)
	}
	logPath := filepath.Join(data, logFileName)
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	start, _ := logf.Seek(0, io.SeekEnd)
	fmt.Fprintf(logf, "\n--- trainyard up --detach at %s\n", time.Now().Format(time.RFC3339))
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // not killed with this terminal
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the server: %w", err)
	}
	pid := cmd.Process.Pid
	pidPath := filepath.Join(data, pidFileName)
	if err := os.WriteFile(pidPath, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := client.New("http://"+dialAddr(cfg.Addr), cfg.Token)
	c.HTTP.Timeout = time.Second
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-exited:
			os.Remove(pidPath)
			return fmt.Errorf("the server exited (%v); the end of %s:\n%s", err, logPath, tail(logPath, start, 20))
		case <-deadline:
			return fmt.Errorf("the server (pid %d) did not answer at %s within 30s; see %s", pid, c.URL, logPath)
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.Health(context.Background()); err == nil {
			break
		}
	}
	fmt.Fprintf(stdout, "trainyard is up at %s (pid %d)\n  log:      %s\n  pid file: %s\n  stop it:  trainyard down --data %s\n",
		c.URL, pid, logPath, pidPath, data)
	return nil
}

// dialAddr is where a client on this machine reaches a server listening on
// addr: a wildcard host becomes loopback.
func dialAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// tail returns the last n lines of the file written after offset from.
func tail(path string, from int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b[from:]), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// serverOn says whether a server holds data's lock, and its pid (from the
// lock file, else the pid file; 0 when neither says).
func serverOn(data string) (int, bool) {
	f, err := os.Open(filepath.Join(data, lockName))
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, false
	}
	b, _ := io.ReadAll(f)
	if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
		return pid, true
	}
	if b, err := os.ReadFile(filepath.Join(data, pidFileName)); err == nil {
		if pid, err := strconv.Atoi(string(bytes.TrimSpace(b))); err == nil && pid > 0 {
			return pid, true
		}
	}
	return 0, true
}

func downCmd() *cobra.Command {
	data := env("TRAINYARD_HOME", defaultConfig().Data)
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop the server running on a data directory (one `up --detach` started, or any)",
		Long: `Stop the trainyard server that runs on --data (TRAINYARD_HOME, default
~/.trainyard) — one that ` + "`trainyard up --detach`" + ` started, or any other — with
SIGTERM, and wait until it has exited. Running jobs keep running; the next
` + "`trainyard up`" + ` re-attaches to them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(data)
			if err != nil {
				return err
			}
			pidPath := filepath.Join(dir, pidFileName)
			pid, running := serverOn(dir)
			if !running {
				os.Remove(pidPath) // stale
				fmt.Fprintf(cmd.ErrOrStderr(), "no trainyard is running on %s\n", dir)
				return nil
			}
			if pid == 0 {
				return fmt.Errorf("a trainyard runs on %s but its pid is unknown (no pid in %s)", dir, filepath.Join(dir, lockName))
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("stop pid %d: %w", pid, err)
			}
			deadline := time.Now().Add(timeout)
			for {
				if _, still := serverOn(dir); !still {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("the server (pid %d) is still running %s after SIGTERM; `kill -9 %d` stops it at once (jobs keep running)", pid, timeout, pid)
				}
				time.Sleep(50 * time.Millisecond)
			}
			os.Remove(pidPath)
			fmt.Fprintf(cmd.OutOrStdout(), "stopped trainyard (pid %d) on %s; running jobs keep running and are re-attached at the next `trainyard up`\n", pid, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&data, "data", data, "data directory of the server to stop (TRAINYARD_HOME)")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the server to exit")
	return cmd
}
