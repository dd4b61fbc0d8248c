package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
)

var _ trainyard.Executor = (*Executor)(nil)

// Config configures an Executor.
type Config struct {
	// ShimCommand is the argv prefix that runs ShimMain, such as
	// {"/usr/local/bin/trainyard", "__shim"}. Its program is resolved with
	// PATH once, by New. Required.
	ShimCommand []string
	// StateDir holds one exit file per task. It must survive restarts of
	// the server (not a per-process temporary directory) and be writable by
	// the shims. Created by New if missing. Required.
	StateDir string
}

// Executor runs tasks as processes on this machine, each under a shim that
// outlives the server. It is safe for concurrent use. Handles work across
// Executors and server restarts: one Executor may wait for a task another
// started.
type Executor struct {
	shimPath string
	shimArgs []string // ShimCommand, argv[0] included
	stateDir string

	mu       sync.Mutex
	children map[int]*child // by shim pid: shims this Executor started and has not reaped
}

// child is a shim started by this Executor; a goroutine reaps it and then
// closes done.
type child struct {
	start uint64
	done  chan struct{}
}

// New returns an Executor. It returns EINVALID when a field of cfg is
// missing or its shim program cannot be found, and an error when StateDir
// cannot be created.
func New(cfg Config) (*Executor, error) {
	var errs []error
	if len(cfg.ShimCommand) == 0 || cfg.ShimCommand[0] == "" {
		errs = append(errs, trainyard.FieldError("ShimCommand", "must name the shim program"))
	}
	if cfg.StateDir == "" {
		errs = append(errs, trainyard.FieldError("StateDir", "must name a directory"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(cfg.ShimCommand[0])
	if err == nil {
		path, err = filepath.Abs(path)
	}
	if err != nil {
		return nil, trainyard.FieldError("ShimCommand", "%v", err)
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, trainyard.FieldError("StateDir", "%v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return &Executor{
		shimPath: path,
		shimArgs: slices.Clone(cfg.ShimCommand),
		stateDir: dir,
		children: make(map[int]*child),
	}, nil
}

// Start runs t under a new shim and returns once the job's process has
// started. The job runs in t.Workdir with exactly t.Env (nil is empty),
// stdin from /dev/null, and stdout and stderr appended to t.LogPath, whose
// directory Start creates. The program is found with the PATH of t.Env.
//
// Start returns EINVALID, and writes the same message into the log, when
// the command is empty, the program cannot be found or run, or the workdir
// does not exist. It returns ctx's error if ctx ends first; a job that
// started meanwhile is then killed.
func (e *Executor) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	if err := ctx.Err(); err != nil {
		return trainyard.Handle{}, err
	}
	if t.LogPath == "" {
		return trainyard.Handle{}, trainyard.Errorf(trainyard.EINVALID, "job %s: no log path", t.JobID)
	}
	if err := os.MkdirAll(filepath.Dir(t.LogPath), 0o755); err != nil {
		return trainyard.Handle{}, fmt.Errorf("create log dir: %w", err)
	}
	logf, err := os.OpenFile(t.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return trainyard.Handle{}, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	if len(t.Command) == 0 || t.Command[0] == "" {
		fmt.Fprintf(logf, "trainyard: empty command\n")
		return trainyard.Handle{}, trainyard.Errorf(trainyard.EINVALID, "empty command")
	}

	exitFile := filepath.Join(e.stateDir, exitFileName(t.JobID))
	if err := os.Remove(exitFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return trainyard.Handle{}, fmt.Errorf("remove stale exit file: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return trainyard.Handle{}, fmt.Errorf("start shim: %w", err)
	}
	env := t.Env
	if env == nil {
		env = []string{} // nil would hand the job the server's environment
	}
	cmd := &exec.Cmd{
		Path:        e.shimPath,
		Args:        append(slices.Clip(e.shimArgs), shimArgs(exitFile, t.Workdir, t.Command)...),
		Env:         env,
		Stdout:      logf,
		Stderr:      logf,
		ExtraFiles:  []*os.File{w}, // statusFD
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return trainyard.Handle{}, fmt.Errorf("start shim: %w", err)
	}
	shimPID := cmd.Process.Pid
	// Not reaped before cmd.Wait, so /proc has it even if it has exited.
	_, shimStart, statErr := procStat(shimPID)

	answer := make(chan shimAnswer, 1)
	go func() {
		answer <- readAnswer(r)
		r.Close()
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	var a shimAnswer
	select {
	case a = <-answer:
	case <-timer.C:
		go abandon(cmd, r, answer, exitFile, 0)
		return trainyard.Handle{}, fmt.Errorf("start shim: no answer in %v", startTimeout)
	case <-ctx.Done():
		go abandon(cmd, r, answer, exitFile, startTimeout)
		return trainyard.Handle{}, ctx.Err()
	}

	switch {
	case a.err != nil || statErr != nil:
		if a.pid > 0 {
			syscall.Kill(-a.pid, syscall.SIGKILL)
		}
		cmd.Wait()
		os.Remove(exitFile)
		if a.err == nil {
			a.err = fmt.Errorf("read shim start time: %w", statErr)
		}
		return trainyard.Handle{}, fmt.Errorf("start shim: %w (shim %s)", a.err, cmd.ProcessState)
	case a.msg != "":
		cmd.Wait()
		fmt.Fprintf(logf, "trainyard: %s\n", a.msg)
		return trainyard.Handle{}, trainyard.Errorf(trainyard.EINVALID, "%s", a.msg)
	}

	c := &child{start: shimStart, done: make(chan struct{})}
	e.mu.Lock()
	e.children[shimPID] = c
	e.mu.Unlock()
	go func() {
		cmd.Wait()
		e.mu.Lock()
		delete(e.children, shimPID)
		e.mu.Unlock()
		close(c.done)
	}()
	s := state{
		V:       stateVersion,
		ShimPID: shimPID, ShimStart: shimStart,
		PID: a.pid, Start: a.start,
		ExitFile: exitFile,
	}
	// The handle also goes next to the exit file, so that a server that dies
	// before it records the handle can find the task again (Lookup).
	if err := os.WriteFile(handleFile(exitFile), []byte(s.encode()), 0o644); err != nil {
		return trainyard.Handle{}, fmt.Errorf("record handle: %w", err)
	}
	return trainyard.Handle{PID: a.pid, State: s.encode()}, nil
}

func handleFile(exitFile string) string { return strings.TrimSuffix(exitFile, ".exit") + ".handle" }

// Lookup returns the handles of a job's tasks that this executor started
// and that were not removed: after a crash of the server between Start and
// recording the handle, the job can still be found.
func (e *Executor) Lookup(jobID string) ([]trainyard.Handle, error) {
	// Sanitised IDs hold no glob metacharacters.
	prefix := strings.TrimSuffix(exitFileName(jobID), ".exit")
	prefix = prefix[:strings.LastIndexByte(prefix, '-')+1]
	files, err := filepath.Glob(filepath.Join(e.stateDir, prefix+"*.handle"))
	if err != nil {
		return nil, err
	}
	var out []trainyard.Handle
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		h := trainyard.Handle{State: string(b)}
		s, err := decodeHandle(h)
		if err != nil || s.ExitFile != strings.TrimSuffix(f, ".handle")+".exit" {
			continue
		}
		h.PID = s.PID
		out = append(out, h)
	}
	return out, nil
}

// startTimeout bounds the wait for a shim's answer. Only a broken shim
// (ShimCommand naming the wrong program) takes more than milliseconds.
var startTimeout = 30 * time.Second

// abandon cleans up after a Start that stopped waiting for its shim. It
// gives the shim grace to answer and kills it if it does not; it kills the
// job if one started, and reaps the shim.
func abandon(cmd *exec.Cmd, r *os.File, answer <-chan shimAnswer, exitFile string, grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	var a shimAnswer
	select {
	case a = <-answer:
	case <-t.C:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the shim's session
		r.SetReadDeadline(time.Now())                   // in case a child holds the pipe
		a = <-answer
	}
	if a.err == nil && a.pid > 0 {
		syscall.Kill(-a.pid, syscall.SIGKILL)
	}
	cmd.Wait()
	os.Remove(exitFile)
}

// shimAnswer is the shim's answer to Start: a started job (pid, start), a
// message saying why the job could not start (msg), or a broken shim (err).
type shimAnswer struct {
	pid   int
	start uint64
	msg   string
	err   error
}

func readAnswer(r io.Reader) shimAnswer {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		if err == io.EOF {
			err = errors.New("shim exited without answering")
		}
		return shimAnswer{err: err}
	}
	var a shimAnswer
	a.pid, a.start, a.msg, a.err = parseAnswer(strings.TrimSuffix(line, "\n"))
	return a
}

// exitFileName returns a fresh name for a task's exit file: the job ID,
// made safe for a file name, and a random suffix, as attempts of one job
// share the ID.
func exitFileName(jobID string) string {
	safe := []byte(jobID)
	for i, c := range safe {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			safe[i] = '_'
		}
	}
	if len(safe) > 100 {
		safe = safe[:100]
	}
	if len(safe) == 0 {
		safe = []byte("task")
	}
	var b [6]byte
	rand.Read(b[:])
	return string(safe) + "-" + hex.EncodeToString(b[:]) + ".exit"
}

// Signal sends sig, which must be a syscall.Signal, to the task's process
// group: the job and every process it started that stayed in its group.
// Signalling a task that has exited is not an error, and a handle whose
// process number now belongs to another process signals nothing. Returns
// EINVALID for a handle not made by this package.
func (e *Executor) Signal(h trainyard.Handle, sig os.Signal) error {
	s, err := decodeHandle(h)
	if err != nil {
		return err
	}
	sg, ok := sig.(syscall.Signal)
	if !ok {
		return trainyard.Errorf(trainyard.EINVALID, "signal %v is not a POSIX signal", sig)
	}
	// While the job's pid holds its start time (even as a zombie), or the
	// pid is free but the shim still runs (it is cleaning up what the job
	// left in its group), the group number is the job's: Linux does not
	// reuse a number that a live process group still has.
	_, start, err := procStat(s.PID)
	switch {
	case err == nil && start == s.Start:
	case err != nil && errors.Is(err, os.ErrNotExist) && running(s.ShimPID, s.ShimStart):
	default:
		return nil
	}
	if err := syscall.Kill(-s.PID, sg); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("signal job group %d: %w", s.PID, err)
	}
	return nil
}

// Wait blocks until the task has ended and returns the job's exit status:
// Lost when none was recorded because the shim died first (then Wait
// returns once the job too has ended). It returns ctx's error if ctx ends
// first, and EINVALID for a handle not made by this package.
func (e *Executor) Wait(ctx context.Context, h trainyard.Handle) (trainyard.ExitStatus, error) {
	s, err := decodeHandle(h)
	if err != nil {
		return trainyard.ExitStatus{}, err
	}
	e.mu.Lock()
	c := e.children[s.ShimPID]
	e.mu.Unlock()
	if c != nil && c.start == s.ShimStart {
		select {
		case <-c.done:
		case <-ctx.Done():
			return trainyard.ExitStatus{}, ctx.Err()
		}
	}
	// Not our child (a shim started before a restart of the server belongs
	// to init now), or its job outlived it: poll.
	var tick *time.Ticker
	for s.running() {
		if tick == nil {
			tick = time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return trainyard.ExitStatus{}, ctx.Err()
		}
	}
	return readExitFile(s.ExitFile)
}

// Inspect reports whether the task is still running: its job, or its
// shim stopping what the job left behind. For a task that is not, it
// returns the exit status, Lost when none was recorded. It returns EINVALID
// for a handle not made by this package.
func (e *Executor) Inspect(h trainyard.Handle) (alive bool, st trainyard.ExitStatus, err error) {
	s, err := decodeHandle(h)
	if err != nil {
		return false, st, err
	}
	if s.running() {
		return true, st, nil
	}
	st, err = readExitFile(s.ExitFile)
	return false, st, err
}

// Remove deletes what the executor keeps for a finished task, its exit
// file, once the caller has stored the exit status. It returns ECONFLICT
// while the task runs and EINVALID for a handle not made by this package;
// removing twice is not an error.
func (e *Executor) Remove(h trainyard.Handle) error {
	s, err := decodeHandle(h)
	if err != nil {
		return err
	}
	if s.running() {
		return trainyard.Errorf(trainyard.ECONFLICT, "task %d is still running", s.PID)
	}
	if filepath.Dir(s.ExitFile) != e.stateDir || filepath.Ext(s.ExitFile) != ".exit" {
		return trainyard.Errorf(trainyard.EINVALID, "handle's exit file %q is not in the state dir", s.ExitFile)
	}
	if err := os.Remove(s.ExitFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove exit file: %w", err)
	}
	if err := os.Remove(handleFile(s.ExitFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove handle file: %w", err)
	}
	return nil
}
