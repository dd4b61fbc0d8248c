// Package benchserver starts the real trainyard binary for the load
// programs under bench/ and reads its memory from /proc.
package benchserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is one running `trainyard up` on a new data directory.
type Server struct {
	URL  string
	Data string
	cmd  *exec.Cmd
	out  *os.File
}

// Start starts bin on a free port and a new data directory under dir and
// waits until it answers; extra are more flags for `trainyard up`.
func Start(bin, dir string, extra ...string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	data, err := os.MkdirTemp(dir, "data")
	if err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(data, "server.log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"up", "--addr", addr, "--data", data, "--nvidia-smi", "none", "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + addr, Data: data, cmd: cmd, out: out}
	for t0 := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get(s.URL + "/api/v1/health")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Since(t0) > 20*time.Second {
			s.Stop()
			return nil, fmt.Errorf("%s did not start: see %s", bin, out.Name())
		}
	}
}

// PID is the server's process ID.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Alive reports whether the server process still runs and answers.
func (s *Server) Alive() bool {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.URL + "/api/v1/health")
	if err != nil {
		return false
	}
	resp.Body.Close()
	st, err := status(s.PID(), "State:")
	return err == nil && !strings.HasPrefix(st, "Z")
}

// Stop interrupts the server, waits for it and removes its data.
func (s *Server) Stop() {
	s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.out.Close()
	os.RemoveAll(s.Data)
}

func status(pid int, field string) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// MemMB reads a memory field of /proc/PID/status ("VmRSS:", "VmHWM:") in MB.
func MemMB(pid int, field string) float64 {
	v, err := status(pid, field)
	if err != nil {
		return 0
	}
	kb, _ := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64)
	return kb / 1024
}

// Sampler records a process's RSS every interval until stopped.
type Sampler struct {
	mu   sync.Mutex
	max  float64
	stop chan struct{}
	done chan struct{}
}

// Sample starts sampling pid's RSS.
func Sample(pid int, every time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := MemMB(pid, "VmRSS:"); v > 0 {
				s.mu.Lock()
				s.max = max(s.max, v)
				s.mu.Unlock()
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Max stops sampling and returns the largest RSS seen, in MB.
func (s *Sampler) Max() float64 {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max
}
