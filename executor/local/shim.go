package local

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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
	if err := fs.Parse(args); err != nil {
		return fail(2, "shim: "+err.Error())
	}
	argv := fs.Args()
	if *exitFile == "" || len(argv) == 0 || argv[0] == "" {
		return fail(2, "shim: usage: --exit-file FILE [--workdir DIR] -- PROGRAM [ARG...]")
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
	// exec.Command resolves the program with PATH from the shim's
	// environment, which is the task's, relative to the workdir.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		var pe *os.PathError // "fork/exec PROGRAM: permission denied"
		if errors.As(err, &pe) {
			err = fmt.Errorf("exec: %q: %w", argv[0], pe.Err)
		}
		return fail(127, err.Error())
	}
	pid := cmd.Process.Pid
	// The job is not reaped before waitJob, so its /proc entry is there
	// even if it has already exited.
	_, start, err := procStat(pid)
	if err != nil {
		syscall.Kill(-pid, syscall.SIGKILL)
		cmd.Wait()
		return fail(127, "read job start time: "+err.Error())
	}
	if status != nil {
		fmt.Fprintf(status, "started %d %d\n", pid, start)
		status.Close()
	}

	if ws, err := waitJob(pid); err != nil {
		fmt.Fprintf(os.Stderr, "trainyard: wait for the job: %v\n", err)
	} else {
		r := exitRecord{Code: ws.ExitStatus()}
		if ws.Signaled() {
			r = exitRecord{Code: 128 + int(ws.Signal()), Signal: signalName(ws.Signal())}
		}
		if err := writeExitFile(*exitFile, r); err != nil {
			fmt.Fprintf(os.Stderr, "trainyard: record exit status: %v\n", err)
		}
	}
	cleanupGroup(pid)
	return 0
}

// waitJob reaps the shim's children until it reaps the job, whose status
// it returns. The others are orphans of the job, which the shim adopts as a
// subreaper; reaping them as they exit keeps zombies from piling up under a
// long job.
func waitJob(pid int) (syscall.WaitStatus, error) {
	for {
		var ws syscall.WaitStatus
		p, err := syscall.Wait4(-1, &ws, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			return 0, err
		case p == pid:
			return ws, nil
		}
	}
}

// writeExitFile writes r to path atomically: a reader sees no file or the
// whole record, even across a crash of the machine.
func writeExitFile(path string, r exitRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
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

// shimArgs returns the arguments that ShimMain parses.
func shimArgs(exitFile, workdir string, command []string) []string {
	args := make([]string, 0, 5+len(command))
	args = append(args, "--exit-file", exitFile)
	if workdir != "" {
		args = append(args, "--workdir", workdir)
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
