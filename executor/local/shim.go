package local

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/launch"
)

// statusFD is the shim's file descriptor for its answer to Start: the write
// end of a pipe, passed as cmd.ExtraFiles[0]. The shim writes one line,
//
//	started PID STARTTIME
//	error MESSAGE
//
// and closes it.
const statusFD = 3

// strayGrace is how long the shim waits, after SIGTERM, for processes the job
// left in its process group before it sends them SIGKILL.
const strayGrace = 3 * time.Second

// ShimMain is the main function of the shim, the small process that runs
// one job and records how it ended; cmd/trainyard runs it for
// `trainyard __shim ARGS...`. Its arguments are
//
//	--exit-file FILE [--workdir DIR] -- PROGRAM [ARG...]
//
// The job gets the shim's environment, stdin, stdout and stderr. See the
// package documentation for what the shim does. It returns the shim's exit
// code: 0 once the job has run (its status is in FILE, not in the shim's
// code), 2 for bad arguments, 127 when the job could not be started.
func ShimMain(args []string) int {
	status := os.NewFile(statusFD, "status")
	syscall.CloseOnExec(statusFD) // the job must not hold Start's pipe open
	fail := func(code int, msg string) int {
		if status != nil {
			fmt.Fprintf(status, "error %s\n", strings.ReplaceAll(msg, "\n", " "))
			status.Close()
		}
		return code
	}

	fs := flag.NewFlagSet("__shim", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	exitFile := fs.String("exit-file", "", "write the job's exit status to `file`")
	workdir := fs.String("workdir", "", "run the job in `dir`")
	cgroupList := fs.String("cgroup", "", "join these control groups (comma-separated) before starting the job")
	memLimit := fs.Int64("memory-limit", 0, "the job's memory limit in bytes, for the out-of-memory message")
	claim := fs.String("claim", "", "take this start marker before starting the job; start nothing if it is gone")
	var lf launch.Flags
	lf.Register(fs)
	if err := fs.Parse(args); err != nil {
		return fail(2, "shim: "+err.Error())
	}
	argv := fs.Args()
	if *exitFile == "" || len(argv) == 0 || argv[0] == "" {
		return fail(2, "shim: usage: --exit-file FILE [--workdir DIR] [launch flags] -- PROGRAM [ARG...]")
	}
	layout, err := lf.Layout(os.Getenv)
	if err != nil {
		return fail(2, "shim: "+err.Error())
	}

	// The server signals the job's process group, never the shim; a stray
	// SIGTERM, SIGINT or SIGHUP for the shim must not lose the exit status.
	// Notify, unlike Ignore, leaves the job with default dispositions: exec
	// resets caught signals but keeps ignored ones ignored.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	// Processes the job orphans become the shim's children, so that it can
	// reap them and tell when the job's process group is empty.
	setSubreaper()

	if *workdir != "" {
		if err := os.Chdir(*workdir); err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fail(127, fmt.Sprintf("workdir %q: %v", *workdir, err))
		}
	}
	var cgs []string
	if *cgroupList != "" {
		cgs = strings.Split(*cgroupList, ",")
		if err := joinCgroups(cgs); err != nil {
			return fail(127, "enforce the job's CPU and memory: "+err.Error())
		}
	}
	var rankLog func(int) string
	if lf.RankLog != "" {
		rankLog = func(r int) string { return trainyard.RankLogPath(lf.RankLog, r) }
	}
	// The server that asked for this start may have died, and a server
	// recovering its jobs may have given the start up (Recover removes the
	// marker) and queued the job again: then this shim must start nothing.
	// Taking the marker is one rename, so exactly one of the two wins.
	if *claim != "" {
		if err := os.Rename(*claim, claimedFile(*exitFile)); err != nil {
			return fail(127, "start given up: the server that asked for it stopped, and the job was queued again ("+err.Error()+")")
		}
	}
	// exec resolves the program with PATH from the shim's environment,
	// which is the task's, relative to the workdir. Every rank joins the
	// process group that rank 0 leads.
	node, err := launch.Start(launch.Config{Layout: layout, Command: argv, Env: os.Environ(), Output: os.Stdout, RankLog: rankLog})
	if err != nil {
		return fail(127, err.Error())
	}
	pid := node.Leader
	// The ranks are not reaped before node.Wait, so the leader's /proc
	// entry is there even if it has already exited.
	_, start, err := procStat(pid)
	if err != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		node.Wait(0)
		return fail(127, "read job start time: "+err.Error())
	}
	// The handle goes next to the exit file before the answer, so that a
	// server that dies at any point from here on (before it reads the
	// answer, or before it records the handle) finds the task (Recover)
	// instead of starting the job again.
	_, shimStart, err := procStat(os.Getpid())
	if err == nil {
		h := state{V: stateVersion, ShimPID: os.Getpid(), ShimStart: shimStart, PID: pid, Start: start, ExitFile: *exitFile, Cgroups: cgs}
		err = writeFileAtomic(handleFile(*exitFile), []byte(h.encode()))
	}
	if err != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		node.Wait(0)
		return fail(127, "record the task's handle: "+err.Error())
	}
	os.Remove(claimedFile(*exitFile)) // the handle says it all now
	if status != nil {
		fmt.Fprintf(status, "started %d %d\n", pid, start)
		status.Close()
	}

	st := node.Wait(lf.Grace)
	if n := oomKills(cgs); n > 0 && st.Code != 0 {
		oom := fmt.Sprintf("out of memory: the kernel's OOM killer stopped %d process(es) of the job at its memory limit (%s)", n, trainyard.Bytes(*memLimit))
		if st.Reason != "" {
			oom += "; " + st.Reason
		}
		st.Reason = oom
	}
	if st.Reason != "" {
		fmt.Fprintf(os.Stderr, "trainyard: %s\n", st.Reason)
	}
	if err := writeExitFile(*exitFile, exitRecord{Code: st.Code, Signal: st.Signal, Reason: st.Reason}); err != nil {
		fmt.Fprintf(os.Stderr, "trainyard: record exit status: %v\n", err)
	}
	cleanupGroup(pid)
	if killCgroups(cgs) {
		fmt.Fprintf(os.Stderr, "trainyard: stopped processes the job left outside its process group\n")
	}
	return 0
}

// writeExitFile writes r to path atomically: a reader sees no file or the
// whole record, even across a crash of the machine.
func writeExitFile(path string, r exitRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes b to path so that a reader sees no file or all of
// b, even across a crash of the machine: a temporary file, fsync, rename,
// and fsync of the directory.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// cleanupGroup stops what the job left behind in its process group (a
// background worker still holding a GPU): SIGTERM, then SIGKILL after
// strayGrace.
func cleanupGroup(pgid int) {
	reapOrphans()
	if !groupExists(pgid) {
		return
	}
	fmt.Fprintf(os.Stderr, "trainyard: the job exited and left processes in its group %d; sending them SIGTERM\n", pgid)
	syscall.Kill(-pgid, syscall.SIGTERM)
	if waitGroupGone(pgid, strayGrace) {
		return
	}
	fmt.Fprintf(os.Stderr, "trainyard: processes in group %d still running after %v; sending them SIGKILL\n", pgid, strayGrace)
	syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroupGone(pgid, time.Second)
}

// groupExists reports whether any process, zombies included, is in the
// process group pgid.
func groupExists(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}

// waitGroupGone reaps orphans until the group pgid is empty or d has passed,
// and reports whether it emptied.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		reapOrphans()
		if !groupExists(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// reapOrphans reaps every child of the shim that has exited: once the job
// is reaped, the only children left are processes it orphaned.
func reapOrphans() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
	}
}

// shimOptions are what Start tells the shim besides the command.
type shimOptions struct {
	ExitFile, Workdir string
	Layout            launch.Layout
	RankLog           string
	Grace             time.Duration
	Cgroups           []string // to join before starting the job
	MemoryLimit       int64    // for the message when the OOM killer strikes
	// Claim is the start's marker (startingFile): the shim takes it
	// (renames it to claimedFile) before it starts the job, and starts
	// nothing when it is gone (Recover gave the start up).
	Claim string
}

// args returns the arguments that ShimMain parses.
func (o shimOptions) args(command []string) []string {
	args := []string{"--exit-file", o.ExitFile}
	if o.Claim != "" {
		args = append(args, "--claim", o.Claim)
	}
	if o.Workdir != "" {
		args = append(args, "--workdir", o.Workdir)
	}
	args = append(args, launch.Args(o.Layout, o.RankLog)...)
	args = append(args, "--grace", o.Grace.String())
	if len(o.Cgroups) > 0 {
		args = append(args, "--cgroup", strings.Join(o.Cgroups, ","), "--memory-limit", strconv.FormatInt(o.MemoryLimit, 10))
	}
	args = append(args, "--")
	return append(args, command...)
}

// parseAnswer parses the shim's line on statusFD.
func parseAnswer(line string) (pid int, start uint64, errMsg string, err error) {
	if msg, ok := strings.CutPrefix(line, "error "); ok && msg != "" {
		return 0, 0, msg, nil
	}
	if rest, ok := strings.CutPrefix(line, "started "); ok {
		if p, s, ok := strings.Cut(rest, " "); ok {
			pid, err1 := strconv.Atoi(p)
			start, err2 := strconv.ParseUint(s, 10, 64)
			if err1 == nil && err2 == nil && pid > 0 {
				return pid, start, "", nil
			}
		}
	}
	return 0, 0, "", fmt.Errorf("shim answered %q", line)
}
