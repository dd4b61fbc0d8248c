package launch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
)

// Config says how to start one node's ranks.
type Config struct {
	Layout  Layout
	Command []string // resolved with the PATH of Env, relative to Dir
	Env     []string // the task's environment; Layout.Env is set over it
	Dir     string   // working directory; "" keeps the caller's
	// Output receives every rank's stdout and stderr. With a single rank
	// in the whole job it is the process's stdout and stderr itself;
	// otherwise each line goes through a pipe and is written whole,
	// prefixed "[rank N] ".
	Output *os.File
	// RankLog, when set and the job has more than one rank, names the
	// file where rank N's own output is appended (unprefixed).
	RankLog func(rank int) string
}

// Node is the started ranks of one node, all in one process group led by
// local rank 0.
type Node struct {
	Leader int   // pid of local rank 0, and the process group of all
	Pids   []int // by local rank
	layout Layout
	copies sync.WaitGroup
	closes []io.Closer
}

// Start starts every rank of this node. When a rank cannot start, the ones
// already started are killed and Start returns the error, which names the
// program.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Layout.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return nil, errors.New("empty command")
	}
	n := &Node{layout: cfg.Layout}
	var out *lineWriter
	if cfg.Layout.Ranks() > 1 {
		out = &lineWriter{w: cfg.Output}
	}
	env := cfg.Env
	if cfg.Layout.Launch == trainyard.LaunchTorchrun && cfg.Layout.ProcsPerNode > 1 && !hasVar(env, "OMP_NUM_THREADS") {
		// As torchrun does: several ranks on a node each using every core
		// for its own thread pool would fight over them.
		env = append(slices.Clip(env), "OMP_NUM_THREADS=1")
	}
	for local := 0; local < cfg.Layout.ProcsPerNode; local++ {
		rank := cfg.Layout.Rank(local)
		cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
		cmd.Env = Merge(env, cfg.Layout.Env(local))
		cmd.Dir = cfg.Dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: n.Leader}
		var w *os.File
		if out == nil {
			cmd.Stdout, cmd.Stderr = cfg.Output, cfg.Output
		} else {
			r, pw, err := os.Pipe()
			if err != nil {
				n.kill()
				return nil, fmt.Errorf("rank %d: %w", rank, err)
			}
			w = pw
			cmd.Stdout, cmd.Stderr = w, w
			var own io.WriteCloser
			if cfg.RankLog != nil {
				if f, err := os.OpenFile(cfg.RankLog(rank), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
					own = f
				} else {
					fmt.Fprintf(cfg.Output, "trainyard: rank %d's own log: %v\n", rank, err)
				}
			}
			n.copies.Add(1)
			go func() {
				defer n.copies.Done()
				out.copyLines(r, "[rank "+strconv.Itoa(rank)+"] ", own)
				r.Close()
				if own != nil {
					own.Close()
				}
			}()
			n.closes = append(n.closes, r)
		}
		err := cmd.Start()
		if w != nil {
			w.Close() // the rank holds its own copy
		}
		if err != nil {
			var pe *os.PathError // "fork/exec PROGRAM: permission denied"
			if errors.As(err, &pe) {
				err = fmt.Errorf("exec: %q: %w", cfg.Command[0], pe.Err)
			}
			n.kill()
			return nil, err
		}
		if local == 0 {
			n.Leader = cmd.Process.Pid
		}
		n.Pids = append(n.Pids, cmd.Process.Pid)
	}
	return n, nil
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}

// kill stops the ranks started so far and reaps them.
func (n *Node) kill() {
	if n.Leader > 0 {
		syscall.Kill(-n.Leader, syscall.SIGKILL)
	}
	for _, pid := range n.Pids {
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
	for _, c := range n.closes {
		c.Close()
	}
}

// Status is how a node's ranks ended: the first rank that failed, or
// success when all exited 0.
type Status struct {
	Code   int    // exit code, or 128+signal
	Signal string // the signal's name when one ended the rank
	Rank   int    // the failing rank; -1 when none failed
	Reason string // "rank 3 exited with code 1" for a multi-rank job; "" otherwise
}

// Wait reaps children until every rank has exited and returns how they
// ended. The first rank to fail fails the node: the others get SIGTERM at
// once and SIGKILL after grace. Children that are not ranks (processes the
// ranks orphaned, when the caller is their subreaper) are reaped too.
// Output still in the pipes is written before Wait returns, for at most
// a few seconds after the last rank exits.
func (n *Node) Wait(grace time.Duration) Status {
	left := make(map[int]int, len(n.Pids)) // pid → local rank
	for i, p := range n.Pids {
		left[p] = i
	}
	st := Status{Rank: -1}
	var kill *time.Timer
	for len(left) > 0 {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			break // ECHILD: nothing left to reap
		}
		local, ok := left[pid]
		if !ok {
			continue
		}
		delete(left, pid)
		code, sig := ws.ExitStatus(), ""
		if ws.Signaled() {
			code, sig = 128+int(ws.Signal()), SignalName(ws.Signal())
		}
		if code == 0 || st.Rank >= 0 {
			continue
		}
		st = Status{Code: code, Signal: sig, Rank: n.layout.Rank(local)}
		if n.layout.Ranks() > 1 {
			st.Reason = fmt.Sprintf("rank %d exited with code %d", st.Rank, code)
			if sig != "" {
				st.Reason = fmt.Sprintf("rank %d was killed by %s", st.Rank, sig)
			}
		}
		if len(left) > 0 {
			syscall.Kill(-n.Leader, syscall.SIGTERM)
			leader := n.Leader
			kill = time.AfterFunc(grace, func() { syscall.Kill(-leader, syscall.SIGKILL) })
		}
	}
	if kill != nil {
		kill.Stop()
	}
	if st.Rank < 0 {
		st.Code = 0
	}
	n.drain(3 * time.Second)
	return st
}

// drain waits for the output copiers; a process that still holds a pipe
// open after d (a stray that left the group) loses the rest.
func (n *Node) drain(d time.Duration) {
	done := make(chan struct{})
	go func() { n.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		for _, c := range n.closes {
			c.Close()
		}
	}
}

// lineWriter writes whole lines from several ranks to one file, so that
// lines never interleave mid-line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// maxLine bounds a line kept whole: a longer one (a progress bar without
// newlines) is written in pieces of this size, each prefixed.
const maxLine = 64 << 10

// copyLines copies r to the shared output, each line prefixed, and to own
// unprefixed, until r ends.
func (lw *lineWriter) copyLines(r io.Reader, prefix string, own io.Writer) {
	br := bufio.NewReaderSize(r, maxLine)
	buf := make([]byte, 0, maxLine+len(prefix)+1)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if own != nil {
				own.Write(line)
			}
			buf = append(append(buf[:0], prefix...), line...)
			if line[len(line)-1] != '\n' {
				buf = append(buf, '\n') // a piece of a long line, or the last line without one
			}
			lw.mu.Lock()
			lw.w.Write(buf)
			lw.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

// SignalName is the conventional name of sig ("SIGTERM"), or "SIG"
// followed by its number for one without a name.
func SignalName(sig syscall.Signal) string {
	if name, ok := signalNames[sig]; ok {
		return name
	}
	return "SIG" + strconv.Itoa(int(sig))
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP",
	syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN", syscall.SIGTTOU: "SIGTTOU",
	syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
	syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF", syscall.SIGWINCH: "SIGWINCH",
	syscall.SIGIO: "SIGIO", syscall.SIGSYS: "SIGSYS",
}
