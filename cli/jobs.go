package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// forwardedEnv are the submitter's variables a job gets by default, so that
// `python` in a job is the python of the shell that ran `trainyard run`.
var forwardedEnv = []string{"PATH", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "LD_LIBRARY_PATH"}

type jobFlags struct {
	gpus, cpus, priority, maxRestarts int
	mem, name, project                string
	env, tags                         []string
	wait                              bool

	nodes, procsPerNode                        int
	launch, pool, gpuType, account, qos, queue string
	timeLimit                                  string
}

func (f *jobFlags) add(cmd *cobra.Command, all bool) {
	fl := cmd.Flags()
	fl.BoolVar(&f.wait, "wait", false, "stream the job's output and exit with its exit code")
	if !all {
		return
	}
	fl.IntVar(&f.gpus, "gpus", 0, "whole GPUs to give the job (exclusive)")
	fl.IntVar(&f.cpus, "cpus", trainyard.DefaultCPUs, "CPU cores to reserve (also sets OMP_NUM_THREADS)")
	fl.StringVar(&f.mem, "mem", "", "memory to reserve, e.g. 4GiB")
	fl.StringVar(&f.name, "name", "", "job name (default: from the command)")
	fl.StringVar(&f.project, "project", "", "project of the job's run (default \"default\")")
	fl.IntVar(&f.priority, "priority", 0, "higher runs first (-1000..1000)")
	fl.IntVar(&f.maxRestarts, "max-restarts", 0, "run a failed job again up to this many times")
	fl.StringArrayVar(&f.env, "env", nil, "set an environment variable for the job, K=V (repeatable)")
	fl.StringArrayVar(&f.tags, "tag", nil, "tag the job's run, K=V (repeatable)")
	fl.IntVar(&f.nodes, "nodes", 1, "nodes to run on, all at once; --gpus, --cpus and --mem count per node")
	fl.StringVar(&f.launch, "launch", "none", "how the command starts on each node: none (once per node) or torchrun (one process per GPU, with torch.distributed's environment)")
	fl.IntVar(&f.procsPerNode, "procs-per-node", 0, "with --launch torchrun: processes per node (default: one per GPU)")
	fl.StringVar(&f.pool, "pool", "", "Slurm partition or node pool to run in")
	fl.StringVar(&f.gpuType, "gpu-type", "", "GPU model every node must have, e.g. h100")
	fl.StringVar(&f.timeLimit, "time", "", "stop the job after this long, e.g. 2h or 1d (default: the executor's)")
	fl.StringVar(&f.account, "account", "", "Slurm account")
	fl.StringVar(&f.qos, "qos", "", "Slurm QOS")
	fl.StringVar(&f.queue, "queue", "", "Kueue queue (Kubernetes)")
}

// spec fills the distributed and engine fields of spec from the flags.
func (f *jobFlags) engineFields(spec *trainyard.JobSpec) error {
	spec.Nodes, spec.ProcsPerNode, spec.Launch = f.nodes, f.procsPerNode, trainyard.Launch(f.launch)
	spec.Pool, spec.GPUType, spec.Account, spec.QOS, spec.Queue = f.pool, f.gpuType, f.account, f.qos, f.queue
	if f.timeLimit != "" {
		d, err := trainyard.ParseDuration(f.timeLimit)
		if err != nil {
			return usagef("--time: %v", err)
		}
		spec.TimeLimit = d
	}
	return nil
}

func runCmd(e *env) *cobra.Command {
	var f jobFlags
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Queue a job that runs COMMAND in this directory",
		Long: `Queue a job that runs COMMAND in the current directory, with this shell's
PATH, PYTHONPATH, VIRTUAL_ENV, CONDA_PREFIX and LD_LIBRARY_PATH. The job gets
exactly its GPUs through CUDA_VISIBLE_DEVICES, and TRAINYARD_URL and
TRAINYARD_RUN_ID so that the Python SDK attaches to the job's run.`,
		Example: `  trainyard run --gpus 1 --mem 16GiB -- python train.py --lr 3e-4
  trainyard run --wait -- python examples/train_digits.py
  trainyard run --gpus 8 --launch torchrun -- python train.py          # 8 ranks of a DDP job
  trainyard run --nodes 2 --gpus 4 --launch torchrun -- python train.py  # 2 nodes x 4 GPUs (Slurm, Kubernetes)`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give the command to run after --, e.g. trainyard run -- python train.py")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := trainyard.JobSpec{
				Name: f.name, Project: f.project, Command: args, Priority: f.priority, MaxRestarts: f.maxRestarts,
				Resources: trainyard.Resources{GPUs: f.gpus, CPUs: f.cpus},
			}
			if f.mem != "" {
				m, err := trainyard.ParseBytes(f.mem)
				if err != nil {
					return usagef("--mem: %v", err)
				}
				spec.Resources.Memory = m
			}
			if err := f.engineFields(&spec); err != nil {
				return err
			}
			var err error
			if spec.Env, err = keyValues("--env", f.env); err != nil {
				return err
			}
			if spec.Tags, err = keyValues("--tag", f.tags); err != nil {
				return err
			}
			return e.submit(cmd, spec, f.wait)
		},
	}
	f.add(cmd, true)
	return cmd
}

func keyValues(flag string, kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("%s %q: want KEY=VALUE", flag, kv)
		}
		m[k] = v
	}
	return m, nil
}

// submit fills what the submitting shell knows (directory, environment,
// git version), queues the job, and with wait follows it to its end.
func (e *env) submit(cmd *cobra.Command, spec trainyard.JobSpec, wait bool) error {
	ctx := ctxOf(cmd)
	if spec.Workdir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		spec.Workdir = wd
	}
	env := map[string]string{}
	for _, k := range forwardedEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	spec.Env = env
	if spec.Git == nil {
		spec.Git = GitInfo(spec.Workdir)
	}
	j, err := e.client.Submit(ctx, spec)
	if err != nil {
		return err
	}
	if !wait {
		fmt.Fprintf(e.out, "%s\n", j.ID)
		fmt.Fprintf(e.errOut, "queued job %s (%s); follow it with `trainyard logs -f %s`\n", j.ID, j.Name, j.ID)
		return nil
	}
	fmt.Fprintf(e.errOut, "queued job %s (%s); streaming its output (Ctrl-C detaches, the job keeps running)\n", j.ID, j.Name)
	return e.follow(ctx, j.ID, true)
}

// follow streams a job's log until it ends; with exit it returns the job's
// exit code as an ExitError.
func (e *env) follow(ctx context.Context, id string, exit bool) error {
	return e.followFrom(ctx, id, 0, exit)
}

// followFrom is follow from a byte offset of the log.
func (e *env) followFrom(ctx context.Context, id string, offset int64, exit bool) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.streamLog(ctx, id, -1, offset, true); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(e.errOut, "\ndetached; job %s keeps running (`trainyard cancel %s` stops it)\n", id, id)
			return &ExitError{Code: 130}
		}
		return err
	}
	if !exit {
		return nil
	}
	j, err := e.client.Job(context.Background(), id)
	if err != nil {
		return err
	}
	line := fmt.Sprintf("job %s %s", j.ID, j.State)
	if j.Reason != "" {
		line += ": " + j.Reason
	}
	fmt.Fprintln(e.errOut, line)
	switch {
	case j.State == trainyard.StateSucceeded:
		return nil
	case j.ExitCode != nil && *j.ExitCode != 0:
		return &ExitError{Code: *j.ExitCode}
	}
	return &ExitError{Code: 1}
}

// streamLog copies a run's log (or one rank's, when rank >= 0) to stdout;
// with follow it reconnects from where it stopped until the run has ended.
func (e *env) streamLog(ctx context.Context, id string, rank int, offset int64, follow bool) error {
	failures := 0
	for {
		body, err := e.client.RankLogs(ctx, id, rank, offset, follow)
		if err == nil {
			var n int64
			n, err = io.Copy(e.out, body)
			body.Close()
			offset += n
			if err == nil {
				return nil // the server ends a followed stream when the run ends
			}
		}
		var ce *client.Error
		if errors.As(err, &ce) || ctx.Err() != nil || !follow {
			return err
		}
		failures++
		if failures > 150 { // about five minutes of retries
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func submitCmd(e *env) *cobra.Command {
	var f jobFlags
	cmd := &cobra.Command{
		Use:   "submit JOB.yaml",
		Short: "Queue a job described by a YAML file (the fields of `run`)",
		Long: `Queue a job from a YAML file with the fields of the API's JobSpec:

  name: digits
  project: examples
  command: [python, train.py, --epochs, "10"]   # or a string, run by sh -c
  workdir: .                                    # relative to the file; default: here
  resources: {gpus: 1, cpus: 2, memory: 4GiB}
  priority: 10
  max_restarts: 2
  env: {SEED: "1"}
  config: {lr: 0.001}
  tags: {team: vision}

Every unknown or repeated field is reported at once, each with its line (and
the field it is probably a typo of); a YAML syntax error names its line and
column, and where the construct it breaks began.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			spec, err := ParseJobFile(args[0], data)
			if err != nil {
				return err
			}
			if spec.Workdir != "" && !filepath.IsAbs(spec.Workdir) {
				abs, err := filepath.Abs(filepath.Join(filepath.Dir(args[0]), spec.Workdir))
				if err != nil {
					return err
				}
				spec.Workdir = abs
			}
			return e.submit(cmd, *spec, f.wait)
		},
	}
	f.add(cmd, false)
	return cmd
}

func psCmd(e *env) *cobra.Command {
	var all, asJSON bool
	var project string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List running and queued jobs, with why each queued job waits",
		Long: `List running and queued jobs (with --all, also the latest 100 finished ones):
running first, then the queue in the order it will start, each queued job
with why it waits.

Columns: OWNER (on a server with users) is who submitted the job; GPUS is how many GPUs the job asked for; GPU IDS the indices of the
GPUs a running job holds (as nvidia-smi numbers them); AGE the time since the
job was submitted; TIME how long it has run (for a finished job, how long it
ran); MEM its memory reservation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := trainyard.JobFilter{Active: !all, Project: project}
			if all {
				f.Limit = 100
			}
			js, err := e.client.Jobs(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if asJSON {
				if js == nil {
					js = []*trainyard.Job{}
				}
				return printJSON(e.out, js)
			}
			if len(js) == 0 {
				fmt.Fprintln(e.errOut, "no jobs running or queued; queue one with `trainyard run -- COMMAND`")
				return nil
			}
			// OWNER only where jobs have owners (a server with users).
			owners := slices.ContainsFunc(js, func(j *trainyard.Job) bool { return j.Owner != "" })
			tw := table(e.out)
			if owners {
				fmt.Fprintln(tw, "ID\tNAME\tOWNER\tSTATE\tGPUS\tGPU IDS\tCPUS\tMEM\tNODES\tRANKS\tBACKEND ID\tAGE\tTIME\tREASON")
			} else {
				fmt.Fprintln(tw, "ID\tNAME\tSTATE\tGPUS\tGPU IDS\tCPUS\tMEM\tNODES\tRANKS\tBACKEND ID\tAGE\tTIME\tREASON")
			}
			now := e.now()
			for _, j := range js {
				ids, nodes := "-", strconv.Itoa(j.NodeCount())
				if j.State == trainyard.StateRunning && len(j.Placement) > 0 {
					var gpus, names []string
					for _, p := range j.Placement {
						names = append(names, p.Node)
						for _, g := range p.GPUs {
							gpus = append(gpus, strconv.Itoa(g))
						}
					}
					nodes = strings.Join(names, ",")
					if len(gpus) > 0 && len(j.Placement) == 1 {
						ids = strings.Join(gpus, ",")
					}
				}
				backend := j.BackendID
				if backend == "" {
					backend = "-"
				}
				mem := "-"
				if j.Resources.Memory > 0 {
					mem = size(float64(j.Resources.Memory))
				}
				ran := "-"
				switch {
				case j.StartedAt.IsZero():
				case j.State == trainyard.StateRunning:
					ran = ago(now.Sub(j.StartedAt))
				case !j.EndedAt.IsZero():
					ran = ago(j.EndedAt.Sub(j.StartedAt))
				}
				state := string(j.State)
				if j.State == trainyard.StateQueued && j.QueuePosition > 0 {
					state = fmt.Sprintf("QUEUED #%d", j.QueuePosition)
				}
				reason := j.Reason
				if j.ExitCode != nil && j.State.Terminal() && reason == "" {
					reason = fmt.Sprintf("exit code %d", *j.ExitCode)
				}
				name := truncate(oneLine(j.Name), 24)
				if owners {
					owner := j.Owner
					if owner == "" {
						owner = "-" // submitted before users existed
					}
					name += "\t" + owner
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", j.ID, name, state,
					j.Resources.GPUs, ids, j.Resources.CPUs, mem, truncate(nodes, 32), j.NodeCount()*j.Procs(), backend,
					ago(now.Sub(j.SubmittedAt)), ran, cell(reason, 100, false))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "include finished jobs (the latest 100)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&project, "project", "", "only this project")
	return cmd
}

func logsCmd(e *env) *cobra.Command {
	var follow bool
	var tail, rank int
	cmd := &cobra.Command{
		Use:   "logs [-f] [--tail N] [--rank N] JOB",
		Short: "Print a job's (or run's) output",
		Long: `Print a job's (or run's) output. JOB is an ID or a unique prefix of one.
For a job with several ranks (--launch torchrun, or several nodes) every line
starts with "[rank N] "; --rank N prints only that rank's own output, as it
wrote it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if rank < -1 {
				return usagef("--rank %d: want a rank from 0", rank)
			}
			r, err := e.resolveRun(ctx, args[0])
			if err != nil {
				return err
			}
			if tail < 0 {
				if follow && rank < 0 {
					return e.follow(ctx, r.ID, false)
				}
				return e.streamLog(ctx, r.ID, rank, 0, follow)
			}
			body, err := e.client.RankLogs(ctx, r.ID, rank, 0, false)
			if err != nil {
				return err
			}
			n, err := writeTail(e.out, body, tail)
			body.Close()
			if err != nil || !follow {
				return err
			}
			if rank >= 0 {
				return e.streamLog(ctx, r.ID, rank, n, true)
			}
			return e.followFrom(ctx, r.ID, n, false)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the job ends")
	cmd.Flags().IntVarP(&tail, "tail", "n", -1, "print only the last N lines (then follow, with -f)")
	cmd.Flags().IntVar(&rank, "rank", -1, "only this rank's own output")
	return cmd
}

// writeTail copies the last n lines of r to w, keeping at most n lines in
// memory, and returns how many bytes it read.
func writeTail(w io.Writer, r io.Reader, n int) (int64, error) {
	ring := make([]string, 0, n)
	var read int64
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadString('\n')
		read += int64(len(line))
		if line != "" && n > 0 {
			if len(ring) == n {
				ring = append(ring[1:], line)
			} else {
				ring = append(ring, line)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return read, err
		}
	}
	for _, l := range ring {
		if _, err := io.WriteString(w, l); err != nil {
			return read, err
		}
	}
	return read, nil
}

func cancelCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cancel JOB...",
		Short: "Cancel jobs: queued ones at once, running ones with SIGTERM then SIGKILL",
		Long: `Cancel jobs, each an ID or a unique prefix of one. All of them are canceled in
one request: the queued ones leave the queue together, before the scheduler
can start any of them; the running ones get SIGTERM, and SIGKILL after the
server's grace period (--kill-grace). When an ID is unknown or ambiguous,
nothing is canceled.

Exit code: 0 when every job is canceled or stopping, 1 when one had already
finished (the others are still canceled).`,
		Example: "  trainyard cancel 3f2a9c01b7de\n  trainyard cancel 3f2a 9b1c 77d0",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			ids := make([]string, len(args))
			before := map[string]trainyard.State{}
			var errs []error
			for i, a := range args {
				j, err := e.resolveJob(ctx, a)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				ids[i], before[j.ID] = j.ID, j.State
			}
			if len(errs) > 0 {
				return fmt.Errorf("nothing canceled: %w", errors.Join(errs...))
			}
			js, err := e.client.CancelMany(ctx, ids)
			if err != nil {
				return fmt.Errorf("nothing canceled: %w", err)
			}
			if asJSON {
				return printJSON(e.out, js)
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tOUTCOME")
			var finished []string
			for _, j := range js {
				outcome := "canceled"
				switch {
				case before[j.ID].Terminal() || (j.State.Terminal() && j.State != trainyard.StateCanceled):
					outcome = fmt.Sprintf("already finished (%s); nothing to cancel", j.State)
					finished = append(finished, j.ID)
				case j.State == trainyard.StateRunning:
					outcome = "stopping: sent SIGTERM (SIGKILL after the grace period)"
				case j.Reason != "":
					outcome = j.Reason
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", j.ID, truncate(oneLine(j.Name), 24), j.State, outcome)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(finished) > 0 {
				return fmt.Errorf("%s already finished", plural(len(finished), "job", "jobs")+" "+strings.Join(finished, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the jobs as JSON")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func gpusCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "gpus",
		Short: "Show the GPUs, CPUs and memory the server found, and which job holds each GPU",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := e.client.Machine(ctxOf(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, m)
			}
			holder := map[int]string{}
			if js, err := e.client.Jobs(ctxOf(cmd), trainyard.JobFilter{State: trainyard.StateRunning}); err == nil {
				for _, j := range js {
					for _, p := range j.Placement {
						if p.Node != m.Hostname {
							continue
						}
						for _, g := range p.GPUs {
							holder[g] = j.ID + " " + j.Name
						}
					}
				}
			}
			fmt.Fprintf(e.out, "%s: %d CPUs, %s memory; GPUs from %s\n", m.Hostname, m.CPUs, size(float64(m.Memory)), m.Source)
			warnings := m.Warnings
			if info, err := e.client.Executor(ctxOf(cmd)); err == nil {
				fmt.Fprintf(e.out, "jobs run on: %s executor, %d node(s); CPU and memory limits: %s\n", info.Kind, len(info.Nodes), info.Limits)
				for _, w := range info.Warnings {
					if !slices.Contains(warnings, w) {
						warnings = append(warnings, w)
					}
				}
			}
			for _, w := range warnings {
				fmt.Fprintf(e.out, "warning: %s\n", w)
			}
			if len(m.GPUs) == 0 {
				fmt.Fprintln(e.out, "no GPUs: jobs run in CPU-only mode")
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "INDEX\tNAME\tMEMORY\tUTIL\tUUID\tJOB")
			gpus := append([]trainyard.GPU(nil), m.GPUs...)
			sort.Slice(gpus, func(a, b int) bool { return gpus[a].Index < gpus[b].Index })
			for _, g := range gpus {
				util := "-"
				if g.Utilization >= 0 {
					util = fmt.Sprintf("%d%%", g.Utilization)
				}
				mem := "-"
				if g.MemoryTotal >= 0 {
					mem = fmt.Sprintf("%s / %s", size(float64(max(g.MemoryUsed, 0))), size(float64(g.MemoryTotal)))
				}
				job := holder[g.Index]
				if job == "" {
					job = "free"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", g.Index, g.Name, mem, util, g.UUID, job)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// GitInfo returns the git version of dir, or nil when it is not in a git
// work tree (or git is not installed).
func GitInfo(dir string) *trainyard.GitInfo {
	git := func(args ...string) (string, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		return strings.TrimSpace(string(out)), err == nil
	}
	commit, ok := git("rev-parse", "HEAD")
	if !ok || commit == "" {
		return nil
	}
	status, _ := git("status", "--porcelain", "--untracked-files=no")
	branch, _ := git("rev-parse", "--abbrev-ref", "HEAD")
	remote, _ := git("config", "--get", "remote.origin.url")
	return &trainyard.GitInfo{Commit: commit, Dirty: status != "", Branch: branch, Remote: stripPassword(remote)}
}

// stripPassword removes a password or token from a remote URL such as
// https://user:token@host/repo.git: it must not end up in the database.
func stripPassword(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return remote
	}
	if _, has := u.User.Password(); has {
		u.User = url.User(u.User.Username())
	}
	return u.String()
}
