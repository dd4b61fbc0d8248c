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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/launch"
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
	// Node describes this machine for the scheduler (Info). Its Name is
	// what Task.Placement must name; default: the host name, and no GPUs.
	Node trainyard.Node
	// KillGrace is how long the other ranks of a multi-rank job get, after
	// one rank failed, between SIGTERM and SIGKILL; default 5s.
	KillGrace time.Duration
	// Warnings are shown with Info (what discovery found lacking).
	Warnings []string
	// Cgroups says whether CPU and memory reservations are enforced with
	// control groups: "auto" (the default: when this process may create
	// them, else a warning) or "off".
	Cgroups string
	// CgroupRoot and CgroupSelf are where control groups are mounted and
	// this process's own (default /sys/fs/cgroup and /proc/self/cgroup);
	// tests point them elsewhere.
	CgroupRoot, CgroupSelf string
}

// Executor runs tasks as processes on this machine, each under a shim that
// outlives the server. It is safe for concurrent use. Handles work across
// Executors and server restarts: one Executor may wait for a task another
// started.
type Executor struct {
	shimPath string
	shimArgs []string // ShimCommand, argv[0] included
	stateDir string
	node     trainyard.Node
	grace    time.Duration
	warnings []string
	cg       *cgroups

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
	node := cfg.Node
	if node.Name == "" {
		node.Name, _ = os.Hostname()
	}
	if node.GPUs == nil {
		node.GPUs = []int{}
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = 5 * time.Second
	}
	cg := &cgroups{why: "turned off (--cgroups off)"}
	switch cfg.Cgroups {
	case "", "auto":
		root, self := cfg.CgroupRoot, cfg.CgroupSelf
		if root == "" {
			root = "/sys/fs/cgroup"
		}
		if self == "" {
			self = "/proc/self/cgroup"
		}
		b, err := os.ReadFile(self)
		if err != nil {
			cg.why = fmt.Sprintf("cannot read %s: %v", self, err)
		} else {
			cg = detectCgroups(root, b)
		}
	case "off":
	default:
		return nil, trainyard.FieldError("Cgroups", "%q: want auto or off", cfg.Cgroups)
	}
	warnings := slices.Clone(cfg.Warnings)
	if cg.version == 0 {
		warnings = append(warnings, "CPU and memory reservations are not enforced: a job can use more than it asked for ("+cg.why+")")
	}
	return &Executor{
		shimPath: path,
		shimArgs: slices.Clone(cfg.ShimCommand),
		stateDir: dir,
		node:     node,
		grace:    cfg.KillGrace,
		warnings: warnings,
		cg:       cg,
		children: make(map[int]*child),
	}, nil
}

// Info describes this machine as one node that trainyard's scheduler
// places tasks on.
func (e *Executor) Info(ctx context.Context) (trainyard.ExecutorInfo, error) {
	return trainyard.ExecutorInfo{Kind: "local", Nodes: []trainyard.Node{e.node}, Limits: e.cg.describe(), Warnings: e.warnings}, nil
}

// Start runs t under a new shim and returns once every rank's process has
// started. The ranks run in t.Workdir with exactly t.Env (nil is empty) and
// the launcher's variables (package launch), stdin from /dev/null, and
// stdout and stderr appended to t.LogPath, whose directory Start creates
// (prefixed per rank, with each rank's own log beside it, when there are
// several). The program is found with the PATH of t.Env. The task must be
// placed on this executor's one node.
//
// Start returns EINVALID, and writes the same message into the log, when
// the command is empty, the program cannot be found or run, or the workdir
// does not exist. It returns ctx's error if ctx ends first; a job that
// started meanwhile is then killed. On any error nothing of the task runs.
func (e *Executor) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(t.Placement) != 1 || t.Nodes > 1 {
		return "", trainyard.Errorf(trainyard.EINVALID, "job %s: the local executor runs tasks on one node, not %d", t.JobID, max(len(t.Placement), t.Nodes))
	}
	if p := t.Placement[0]; p.Node != e.node.Name {
		return "", trainyard.Errorf(trainyard.EINVALID, "job %s: placed on node %q, but this is %q", t.JobID, p.Node, e.node.Name)
	}
	layout := launch.Layout{
		Launch: t.Launch, Nodes: 1, ProcsPerNode: max(t.ProcsPerNode, 1), MasterAddr: "127.0.0.1",
		GPUs: append([]int{}, t.Placement[0].GPUs...), RunID: t.JobID,
	}
	if layout.Launch == "" {
		layout.Launch = trainyard.LaunchNone
	}
	if t.LogPath == "" {
		return "", trainyard.Errorf(trainyard.EINVALID, "job %s: no log path", t.JobID)
	}
	if err := os.MkdirAll(filepath.Dir(t.LogPath), 0o755); err != nil {
		return "", fmt.Errorf("create log dir: %w", err)
	}
	logf, err := os.OpenFile(t.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return "", fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	if len(t.Command) == 0 || t.Command[0] == "" {
		fmt.Fprintf(logf, "trainyard: empty command\n")
		return "", trainyard.Errorf(trainyard.EINVALID, "empty command")
	}

	exitFile := filepath.Join(e.stateDir, exitFileName(t.TaskRef))
	if err := os.Remove(exitFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("remove stale exit file: %w", err)
	}
	cgs, err := e.cg.create(strings.TrimSuffix(filepath.Base(exitFile), ".exit"), t.Resources.CPUs, int64(t.Resources.Memory))
	if err != nil {
		return "", fmt.Errorf("enforce the job's CPU and memory: %w", err)
	}
	started := false
	defer func() {
		if !started {
			removeCgroups(cgs)
		}
	}()
	// The marker the shim takes before it starts the job: a server that
	// dies from here on leaves it, and Recover tells a start that never
	// began (the marker, which Recover removes) from one under way.
	claim := startingFile(exitFile)
	if err := os.WriteFile(claim, nil, 0o644); err != nil {
		return "", fmt.Errorf("mark the start: %w", err)
	}
	defer func() {
		if !started {
			os.Remove(claim)
			os.Remove(claimedFile(exitFile))
		}
	}()
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("start shim: %w", err)
	}
	env := t.Env
	if env == nil {
		env = []string{} // nil would hand the job the server's environment
	}
	cmd := &exec.Cmd{
		Path: e.shimPath,
		Args: append(slices.Clip(e.shimArgs), shimOptions{
			ExitFile: exitFile, Workdir: t.Workdir, Layout: layout, RankLog: t.LogPath, Grace: e.grace,
			Cgroups: cgs, MemoryLimit: int64(t.Resources.Memory), Claim: claim,
		}.args(t.Command)...),
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
		return "", fmt.Errorf("start shim: %w", err)
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
		return "", fmt.Errorf("start shim: no answer in %v", startTimeout)
	case <-ctx.Done():
		go abandon(cmd, r, answer, exitFile, startTimeout)
		return "", ctx.Err()
	}

	switch {
	case a.err != nil || statErr != nil:
		if a.pid > 0 {
			syscall.Kill(-a.pid, syscall.SIGKILL)
		}
		cmd.Wait()
		os.Remove(exitFile)
		os.Remove(handleFile(exitFile))
		if a.err == nil {
			a.err = fmt.Errorf("read shim start time: %w", statErr)
		}
		return "", fmt.Errorf("start shim: %w (shim %s)", a.err, cmd.ProcessState)
	case a.msg != "":
		cmd.Wait()
		fmt.Fprintf(logf, "trainyard: %s\n", a.msg)
		return "", trainyard.Errorf(trainyard.EINVALID, "%s", a.msg)
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
		Cgroups:  cgs,
	}
	// The handle also goes next to the exit file, so that a server that dies
	// before it records the handle can find the task again (Recover). If it
	// cannot be written the task must not run on: a caller that sees the
	// error frees the task's GPUs.
	if err := writeFileAtomic(handleFile(exitFile), []byte(s.encode())); err != nil {
		syscall.Kill(-a.pid, syscall.SIGKILL)
		<-c.done
		os.Remove(exitFile)
		return "", fmt.Errorf("record handle: %w (the job was stopped)", err)
	}
	started = true
	return trainyard.Handle(s.encode()), nil
}

func handleFile(exitFile string) string { return strings.TrimSuffix(exitFile, ".exit") + ".handle" }

// startingFile marks a start asked of a shim that has not yet taken it;
// claimedFile, one it took (its job is starting) and has not yet recorded
// the handle of. See Recover.
func startingFile(exitFile string) string { return strings.TrimSuffix(exitFile, ".exit") + ".starting" }
func claimedFile(exitFile string) string  { return strings.TrimSuffix(exitFile, ".exit") + ".claimed" }

// Recover finds the task of attempt ref when its handle was never
// recorded (the server died between Start and recording it), by the handle
// file Start leaves next to the exit file. It returns ENOTFOUND when no
// task was started for that attempt. Of several (only a crash in the middle
// of a Start that was then retried leaves two), a live one wins.
func (e *Executor) Recover(ctx context.Context, ref trainyard.TaskRef) (trainyard.Handle, error) {
	// Sanitised IDs hold no glob metacharacters.
	prefix := strings.TrimSuffix(exitFileName(ref), ".exit")
	prefix = prefix[:strings.LastIndexByte(prefix, '-')+1]
	files, err := filepath.Glob(filepath.Join(e.stateDir, prefix+"*.handle"))
	if err != nil {
		return "", err
	}
	var found trainyard.Handle
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		h := trainyard.Handle(b)
		s, err := decodeHandle(h)
		if err != nil || s.ExitFile != strings.TrimSuffix(f, ".handle")+".exit" {
			continue
		}
		if found == "" || s.running() {
			found = h
		}
	}
	if found != "" {
		return found, nil
	}
	// No handle: a start that a shim took and has not recorded yet is
	// under way (ask again); one no shim took is given up here, and the
	// shim, if one comes, then starts nothing.
	claimed, _ := filepath.Glob(filepath.Join(e.stateDir, prefix+"*.claimed"))
	for _, f := range claimed {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) < startTimeout {
			return "", trainyard.Errorf(trainyard.EUNAVAILABLE, "job %s attempt %d is starting: ask again", ref.JobID, ref.Attempt)
		}
		os.Remove(f) // a shim that died before it recorded anything
	}
	starting, _ := filepath.Glob(filepath.Join(e.stateDir, prefix+"*.starting"))
	for _, f := range starting {
		if err := os.Remove(f); err != nil && errors.Is(err, os.ErrNotExist) {
			// Taken by its shim just now.
			return "", trainyard.Errorf(trainyard.EUNAVAILABLE, "job %s attempt %d is starting: ask again", ref.JobID, ref.Attempt)
		}
	}
	return "", trainyard.Errorf(trainyard.ENOTFOUND, "no task of job %s attempt %d was started here", ref.JobID, ref.Attempt)
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
	os.Remove(handleFile(exitFile)) // the shim's: its job is gone
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
// made safe for a file name, the attempt, and a random suffix.
func exitFileName(ref trainyard.TaskRef) string {
	safe := []byte(ref.JobID)
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
	return string(safe) + ".a" + strconv.Itoa(ref.Attempt) + "-" + hex.EncodeToString(b[:]) + ".exit"
}

// Signal sends sig to the task's process group: every rank and every
// process they started that stayed in the group. Signalling a task that
// has exited is not an error, and a handle whose process number now
// belongs to another process signals nothing. Returns EINVALID for a
// handle not made by this package or an unknown signal.
func (e *Executor) Signal(ctx context.Context, h trainyard.Handle, sig trainyard.Signal) error {
	s, err := decodeHandle(h)
	if err != nil {
		return err
	}
	var sg syscall.Signal
	switch sig {
	case trainyard.SIGTERM:
		sg = syscall.SIGTERM
	case trainyard.SIGKILL:
		sg = syscall.SIGKILL
	default:
		return trainyard.Errorf(trainyard.EINVALID, "signal %q: want SIGTERM or SIGKILL", sig)
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

// Inspect reports whether the task is still running (its job, or its shim
// stopping what the job left behind) and, for one that is not, its exit
// status: Lost when none was recorded. It returns EINVALID for a handle not
// made by this package.
func (e *Executor) Inspect(ctx context.Context, h trainyard.Handle) (trainyard.TaskStatus, error) {
	s, err := decodeHandle(h)
	if err != nil {
		return trainyard.TaskStatus{}, err
	}
	ts := trainyard.TaskStatus{Phase: trainyard.PhaseRunning, BackendID: strconv.Itoa(s.PID), Nodes: []string{e.node.Name}}
	if s.running() {
		return ts, nil
	}
	ts.Phase = trainyard.PhaseEnded
	ts.Exit, err = readExitFile(s.ExitFile)
	return ts, err
}

// Cleanup deletes what the executor keeps for a finished task, its exit
// and handle files, once the caller has stored the exit status. It returns
// ECONFLICT while the task runs and EINVALID for a handle not made by this
// package; cleaning up twice is not an error.
func (e *Executor) Cleanup(ctx context.Context, h trainyard.Handle) error {
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
	os.Remove(startingFile(s.ExitFile))
	os.Remove(claimedFile(s.ExitFile))
	if err := os.Remove(handleFile(s.ExitFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove handle file: %w", err)
	}
	return removeCgroups(s.Cgroups)
}
