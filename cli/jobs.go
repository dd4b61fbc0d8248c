package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
		Example: "  trainyard run --gpus 1 --mem 16GiB -- python train.py --lr 3e-4\n  trainyard run --wait -- python examples/train_digits.py",
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
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := e.streamLog(ctx, id, 0, true); err != nil {
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

// streamLog copies a run's log to stdout; with follow it reconnects from
// where it stopped until the run has ended.
func (e *env) streamLog(ctx context.Context, id string, offset int64, follow bool) error {
	failures := 0
	for {
		body, err := e.client.Logs(ctx, id, offset, follow)
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

Unknown fields are an error that names the line.`,
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
		Args:  cobra.NoArgs,
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
			tw := table(e.out)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tGPUS\tCPUS\tMEM\tAGE\tREASON")
			now := e.now()
			for _, j := range js {
				gpus := strconv.Itoa(j.Resources.GPUs)
				if len(j.GPUs) > 0 && j.State == trainyard.StateRunning {
					gpus = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(j.GPUs)), ","), "[]")
				}
				mem := "-"
				if j.Resources.Memory > 0 {
					mem = j.Resources.Memory.String()
				}
				since := j.SubmittedAt
				if !j.StartedAt.IsZero() {
					since = j.StartedAt
				}
				state := string(j.State)
				if j.State == trainyard.StateQueued && j.QueuePosition > 0 {
					state = fmt.Sprintf("QUEUED #%d", j.QueuePosition)
				}
				reason := j.Reason
				if j.ExitCode != nil && j.State.Terminal() && reason == "" {
					reason = fmt.Sprintf("exit code %d", *j.ExitCode)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", j.ID, truncate(j.Name, 24), state, gpus, j.Resources.CPUs, mem, ago(now.Sub(since)), reason)
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
	cmd := &cobra.Command{
		Use:   "logs [-f] JOB",
		Short: "Print a job's (or run's) output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow {
				return e.follow(ctxOf(cmd), args[0], false)
			}
			return e.streamLog(ctxOf(cmd), args[0], 0, false)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the job ends")
	return cmd
}

func cancelCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB...",
		Short: "Cancel jobs: queued ones at once, running ones with SIGTERM then SIGKILL",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, id := range args {
				j, err := e.client.Cancel(ctxOf(cmd), id)
				if err != nil {
					errs = append(errs, fmt.Errorf("cancel %s: %w", id, err))
					continue
				}
				fmt.Fprintf(e.out, "%s\t%s\t%s\n", j.ID, j.State, j.Reason)
			}
			return errors.Join(errs...)
		},
	}
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
					for _, g := range j.GPUs {
						holder[g] = j.ID + " " + j.Name
					}
				}
			}
			fmt.Fprintf(e.out, "%s: %d CPUs, %s memory; GPUs from %s\n", m.Hostname, m.CPUs, trainyard.Bytes(m.Memory), m.Source)
			for _, w := range m.Warnings {
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
					mem = fmt.Sprintf("%s / %s", trainyard.Bytes(max(g.MemoryUsed, 0)), trainyard.Bytes(g.MemoryTotal))
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
