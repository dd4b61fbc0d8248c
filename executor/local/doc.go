// Package local runs jobs as processes on this machine.
//
// # Shims
//
// The server does not run a job itself. It runs a shim, the trainyard
// binary with the hidden subcommand __shim (ShimMain), as containerd-shim
// and conmon do for containers; the shim runs the job and records how it
// ended:
//
//	server ──fork/exec, setsid──▶ shim ──fork/exec, setpgid──▶ job ──▶ its children
//	  ▲                            │                            (process group = job pid)
//	  └── fd 3: "started PID T" ───┤
//	      or "error MESSAGE"       └── when the job ends: StateDir/JOB-RANDOM.exit
//	                                   {"code":143,"signal":"SIGTERM"}
//
// Start opens the task's log, starts the shim in a new session with stdout
// and stderr on the log, stdin on /dev/null and the task's environment, and
// waits for the shim's one-line answer on a pipe (the shim's fd 3). The shim
// enters the workdir, starts the job as the leader of a new process group,
// answers, and waits, reaping as they exit the processes the job orphans
// (the shim is their subreaper). When the job ends the shim writes the exit file
// atomically (temporary file, fsync, rename), stops anything the job left
// in its process group (SIGTERM, 3 s, SIGKILL) and exits. The shim catches
// and drops SIGTERM, SIGINT, SIGHUP and SIGPIPE; the server signals the
// job's process group, never the shim.
//
// The Handle names the shim and the job by pid and by start time (field 22
// of /proc/PID/stat), so that a pid reused by another process is never
// taken for them, and it names the exit file. Signal, Wait and Inspect need
// only the handle: an Executor in a restarted server picks up the tasks of
// the one before it.
//
// # What survives what
//
//   - The server is killed (even kill -9) or restarted: the shims and jobs
//     run on, being in sessions of their own, and init adopts the shims. The
//     new server polls the shims named in the stored handles and reads each
//     job's real exit code from its exit file.
//   - The job is killed by a signal: the shim records 128+signal and the
//     signal's name.
//   - The job exits and leaves background processes in its group: the shim
//     stops them before it exits, so a task is done only when nothing of it
//     holds a GPU. (A process that leaves the group, with setsid, escapes.)
//   - The shim is killed with SIGKILL, or the machine reboots: nothing
//     records the status, and Wait and Inspect report it Lost. A job that
//     outlives its shim still counts as running, and Signal still reaches
//     it, until it ends.
//
// Exit files stay in StateDir until Remove deletes them.
//
// The package needs Linux: /proc, process groups and a child subreaper.
package local
