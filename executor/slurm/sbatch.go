package slurm

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// submission is one sbatch call: its options, the batch script it reads
// on stdin, and the environment it runs with, which sbatch hands to the job
// (--export=ALL): the task's, without the variables that would steer
// sbatch and srun (SLURM_*, SBATCH_*, SRUN_*, ...: the server's own
// allocation, if it runs in one), and with SLURM_CONF.
type submission struct {
	Name   string
	Args   []string
	Script string
	Env    []string
	// Exits is where each node's launcher records how its ranks ended, in
	// a directory named for the Slurm job id (see launch.ExitRecord).
	Exits string
}

// exitsDir is where the launchers of a task's Slurm jobs write their exit
// records: next to the run's log, which the nodes share.
func exitsDir(logPath string) string { return strings.TrimSuffix(logPath, ".log") + ".slurm" }

// jobName is the Slurm job name of an attempt: what Recover looks for.
func jobName(ref trainyard.TaskRef) string {
	safe := []byte(ref.JobID)
	for i, c := range safe {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			safe[i] = '_'
		}
	}
	if len(safe) > 100 {
		safe = safe[:100]
	}
	return "trainyard-" + string(safe) + "-a" + strconv.Itoa(ref.Attempt)
}

// buildSubmission turns a task into an sbatch call. gpuType is the GRES
// type to ask for ("" for any), already matched against the cluster's.
//
// The job is one sbatch job of t.Nodes nodes, one Slurm task per node. On
// one node, the batch script execs the trainyard launcher, which starts the
// ranks (package launch). On several, it execs srun, which starts the
// launcher once on every node, with the node rank from SLURM_NODEID and
// rank 0's address from SLURM_LAUNCH_NODE_IPADDR (the first node's address
// as slurmd knows it, so node names need not resolve); every node derives
// the same MASTER_PORT from the Slurm job id. srun --kill-on-bad-exit stops
// every node when one node's launcher fails. Each launcher records how its
// ranks ended in the exit directory (see Executor.exitStatus).
func buildSubmission(cfg resolved, t trainyard.Task, gpuType string) (submission, error) {
	var errs []error
	nodes := max(t.Nodes, 1)
	procs := max(t.ProcsPerNode, 1)
	l := t.Launch
	if l == "" {
		l = trainyard.LaunchNone
	}
	if len(t.Command) == 0 || t.Command[0] == "" {
		errs = append(errs, trainyard.FieldError("command", "is empty"))
	}
	if t.LogPath == "" || !strings.HasPrefix(t.LogPath, "/") {
		errs = append(errs, trainyard.FieldError("log_path", "%q must be an absolute path", t.LogPath))
	}
	if strings.Contains(t.LogPath, "%") || strings.Contains(t.LogPath, `\`) {
		// sbatch would read them as its filename patterns (%j) and escapes.
		errs = append(errs, trainyard.FieldError("log_path", "%q: Slurm cannot write a log whose path has %% or \\", t.LogPath))
	}
	if !l.Valid() {
		errs = append(errs, trainyard.FieldError("launch", "%q is not one of none, torchrun", l))
	}
	if l != trainyard.LaunchTorchrun && procs != 1 {
		errs = append(errs, trainyard.FieldError("procs_per_node", "is %d; launch %s runs one process per node", procs, l))
	}
	pick := func(field, job, def string) string {
		v := job
		if v == "" {
			v = def
		}
		if v != "" && !slurmNameOK(v) {
			errs = append(errs, trainyard.FieldError(field, "%q must be letters, digits, '.', '_' or '-'", v))
		}
		return v
	}
	partition := pick("pool", t.Pool, cfg.Partition)
	account := pick("account", t.Account, cfg.Account)
	qos := pick("qos", t.QOS, cfg.QOS)
	if gpuType != "" && !slurmNameOK(gpuType) {
		errs = append(errs, trainyard.FieldError("gpu_type", "%q must be letters, digits, '.', '_' or '-'", gpuType))
	}
	if err := errors.Join(errs...); err != nil {
		return submission{}, err
	}

	name := jobName(t.TaskRef)
	comment := fmt.Sprintf("trainyard job %s attempt %d", t.JobID, t.Attempt)
	if t.Name != "" {
		comment += ": " + strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, t.Name)
	}
	args := append([]string{}, cfg.SbatchArgs...)
	args = append(args,
		"--parsable",
		"--job-name="+name,
		"--comment="+comment,
		"--output="+t.LogPath,
		"--open-mode=append",
		"--no-requeue", // trainyard restarts jobs itself (max_restarts)
		"--export=ALL",
		"--nodes="+strconv.Itoa(nodes),
		"--ntasks-per-node=1",
		"--cpus-per-task="+strconv.Itoa(max(t.Resources.CPUs, 1)),
	)
	if t.Workdir != "" {
		args = append(args, "--chdir="+t.Workdir)
	}
	if t.Resources.Memory > 0 {
		args = append(args, "--mem="+strconv.FormatInt(int64((t.Resources.Memory+(1<<20)-1)>>20), 10)+"M")
	}
	if g := t.Resources.GPUs; g > 0 {
		n := strconv.Itoa(g)
		if gpuType != "" {
			n = gpuType + ":" + n
		}
		if cfg.GPUFlag == "gpus-per-node" {
			args = append(args, "--gpus-per-node="+n)
		} else {
			args = append(args, "--gres=gpu:"+n)
		}
	}
	limit := t.TimeLimit
	if limit == 0 {
		limit = cfg.TimeLimit
	}
	if limit > 0 {
		args = append(args, "--time="+slurmTime(limit))
	}
	for _, o := range []struct{ flag, v string }{{"--partition=", partition}, {"--account=", account}, {"--qos=", qos}} {
		if o.v != "" {
			args = append(args, o.flag+o.v)
		}
	}

	launcher := []string{cfg.Binary, "__launch",
		"--launch", string(l), "--nnodes", strconv.Itoa(nodes), "--nproc", strconv.Itoa(procs),
		"--rank-log", t.LogPath, "--run-id", t.JobID, "--grace", cfg.KillGrace.String()}
	if t.Workdir != "" {
		launcher = append(launcher, "--workdir", t.Workdir)
	}
	exits := exitsDir(t.LogPath)
	var sb strings.Builder
	fmt.Fprintf(&sb, "#!/bin/sh\n# %s\n", comment)
	if nodes == 1 {
		// One node: the batch script is the launcher, which starts the
		// ranks (and picks a free MASTER_PORT for torchrun).
		sb.WriteString("# The trainyard launcher starts the job's ranks on this node.\n")
		launcher = append(launcher, "--node-rank", "0", "--master-addr", "127.0.0.1")
		sb.WriteString("exec")
	} else {
		sb.WriteString("# srun starts the trainyard launcher on every node; it starts the node's ranks.\n")
		sb.WriteString("# Every node derives the same MASTER_PORT from the job id.\n")
		sb.WriteString("port=$((20000 + SLURM_JOB_ID % 10000))\n")
		sb.WriteString("[ \"$port\" = 29500 ] && port=29501\n")
		launcher = append(launcher, "--node-rank-env", "SLURM_NODEID", "--master-addr-env", "SLURM_LAUNCH_NODE_IPADDR")
		srun := []string{cfg.paths["srun"], "--nodes=" + strconv.Itoa(nodes), "--ntasks=" + strconv.Itoa(nodes),
			"--ntasks-per-node=1", "--cpus-per-task=" + strconv.Itoa(max(t.Resources.CPUs, 1)),
			"--kill-on-bad-exit=1", "--export=ALL"}
		sb.WriteString("exec")
		for _, a := range srun {
			sb.WriteString(" " + shellQuote(a))
		}
	}
	for _, a := range launcher {
		sb.WriteString(" " + shellQuote(a))
	}
	if nodes > 1 {
		sb.WriteString(` --master-port "$port"`)
	}
	sb.WriteString(` --exit-dir ` + shellQuote(exits) + `/"$SLURM_JOB_ID" --`)
	for _, a := range t.Command {
		sb.WriteString(" " + shellQuote(a))
	}
	sb.WriteString("\n")

	return submission{Name: name, Args: args, Script: sb.String(), Env: commandEnv(t.Env, cfg.SlurmConf), Exits: exits}, nil
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// handle is what a Handle encodes: the Slurm job id, the job's name (so
// that a job id Slurm reused for another job after its state was wiped is
// never taken for ours), when sbatch accepted it, and where and how many
// exit records the nodes' launchers write.
type handle struct {
	V     int    `json:"v"`
	JobID string `json:"slurm_job"`
	Name  string `json:"name"`
	At    int64  `json:"at"` // unix milliseconds
	Exits string `json:"exits,omitempty"`
	Nodes int    `json:"nodes,omitempty"`
}

const handleVersion = 1

func (h handle) encode() trainyard.Handle {
	b, _ := json.Marshal(h)
	return trainyard.Handle(b)
}

func decodeHandle(h trainyard.Handle) (handle, error) {
	var d handle
	if err := json.Unmarshal([]byte(h), &d); err != nil {
		return d, trainyard.Errorf(trainyard.EINVALID, "not a Slurm task handle: %q", truncate(string(h), 80))
	}
	if d.V != handleVersion || d.Name == "" {
		return d, trainyard.Errorf(trainyard.EINVALID, "not a Slurm task handle: %q", truncate(string(h), 80))
	}
	if _, err := strconv.ParseUint(d.JobID, 10, 64); err != nil {
		return d, trainyard.Errorf(trainyard.EINVALID, "Slurm task handle: job id %q is not a number", d.JobID)
	}
	return d, nil
}

func (h handle) submitted() time.Time { return time.UnixMilli(h.At) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
