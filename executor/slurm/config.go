package slurm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// Config configures an Executor. The zero value of every field is a usable
// default, written next to it; `trainyard up --executor slurm` maps its
// --slurm-* flags, TRAINYARD_SLURM_* variables and the config file's slurm
// section onto it.
type Config struct {
	// Partition, Account and QOS are sbatch's --partition, --account and
	// --qos for jobs that name none (JobSpec.Pool, Account, QOS). Default:
	// none given, so Slurm's own defaults apply.
	Partition string `json:"partition,omitempty"`
	Account   string `json:"account,omitempty"`
	QOS       string `json:"qos,omitempty"`
	// TimeLimit is --time for jobs that set no time limit. Default 0: none
	// given, so the partition's DefaultTime applies. Slurm counts whole
	// minutes and rounds up.
	TimeLimit time.Duration `json:"time_limit,omitempty"`
	// Binary is the trainyard binary as the compute nodes see it: each node
	// of a job runs `Binary __launch ...`. Default: this binary
	// (os.Executable), which works when it sits on a filesystem the nodes
	// share, as the run logs must (see the package doc).
	Binary string `json:"binary,omitempty"`
	// SbatchArgs are more sbatch options for every job, such as
	// "--constraint=ib" or "--exclusive". They come before the options
	// trainyard derives from the job, so those win where both are given.
	SbatchArgs []string `json:"sbatch_args,omitempty"`
	// GPUFlag chooses how GPUs are requested: "gres" (default,
	// --gres=gpu[:TYPE]:N, which every Slurm version reads) or
	// "gpus-per-node" (--gpus-per-node=[TYPE:]N, for clusters that configure
	// GPUs as TRES).
	GPUFlag string `json:"gpu_flag,omitempty"`
	// PollInterval is how often job states are read from Slurm: one squeue
	// call for all jobs, whose answer Inspect and Wait share. Default 1s.
	PollInterval time.Duration `json:"poll_interval,omitempty"`
	// InfoTTL is how long the node list (sinfo) is cached. Default 30s.
	InfoTTL time.Duration `json:"info_ttl,omitempty"`
	// KillGrace is how long a node's other ranks get, after one rank
	// failed, between SIGTERM and SIGKILL (the launcher's --grace).
	// Default 5s.
	KillGrace time.Duration `json:"kill_grace,omitempty"`
	// SlurmConf is SLURM_CONF for the commands. Default: the server's own
	// SLURM_CONF, or Slurm's built-in path.
	SlurmConf string `json:"slurm_conf,omitempty"`
	// BinDir is where sbatch, srun, squeue, sacct, scancel, sinfo and
	// scontrol are (srun by the same path on the nodes). Default:
	// found on PATH.
	BinDir string `json:"bin_dir,omitempty"`
}

// Names of the Slurm commands the executor runs.
var commands = []string{"sbatch", "srun", "squeue", "sacct", "scancel", "sinfo", "scontrol"}

// resolved is a Config with defaults applied and commands found.
type resolved struct {
	Config
	paths map[string]string // command → absolute path
}

// resolve checks cfg, fills its defaults and finds the commands. It
// reports every problem at once, naming the field.
func resolve(cfg Config) (resolved, error) {
	r := resolved{Config: cfg, paths: map[string]string{}}
	var errs []error
	for _, f := range []struct{ name, v string }{{"partition", cfg.Partition}, {"account", cfg.Account}, {"qos", cfg.QOS}} {
		if f.v != "" && !slurmNameOK(f.v) {
			errs = append(errs, trainyard.FieldError("slurm."+f.name, "%q must be letters, digits, '.', '_' or '-'", f.v))
		}
	}
	if cfg.TimeLimit < 0 {
		errs = append(errs, trainyard.FieldError("slurm.time_limit", "is %s; must be 0 (the partition's default) or more", cfg.TimeLimit))
	}
	switch cfg.GPUFlag {
	case "":
		r.GPUFlag = "gres"
	case "gres", "gpus-per-node":
	default:
		errs = append(errs, trainyard.FieldError("slurm.gpu_flag", "%q: want gres or gpus-per-node", cfg.GPUFlag))
	}
	for name, d := range map[string]time.Duration{"poll_interval": cfg.PollInterval, "info_ttl": cfg.InfoTTL, "kill_grace": cfg.KillGrace} {
		if d < 0 {
			errs = append(errs, trainyard.FieldError("slurm."+name, "is %s; must be 0 (the default) or more", d))
		}
	}
	for _, a := range cfg.SbatchArgs {
		if !strings.HasPrefix(a, "-") {
			errs = append(errs, trainyard.FieldError("slurm.sbatch_args", "%q is not an option: give each as --name=value", a))
		}
	}
	if r.PollInterval == 0 {
		r.PollInterval = time.Second
	}
	if r.InfoTTL == 0 {
		r.InfoTTL = 30 * time.Second
	}
	if r.KillGrace == 0 {
		r.KillGrace = 5 * time.Second
	}
	if r.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			errs = append(errs, trainyard.FieldError("slurm.binary", "this binary's path: %v; give the trainyard binary's path on the nodes", err))
		}
		r.Binary = exe
	} else if !filepath.IsAbs(r.Binary) {
		errs = append(errs, trainyard.FieldError("slurm.binary", "%q must be an absolute path (as the nodes see it)", r.Binary))
	}
	if r.SlurmConf == "" {
		r.SlurmConf = os.Getenv("SLURM_CONF")
	}
	for _, c := range commands {
		p := c
		if cfg.BinDir != "" {
			p = filepath.Join(cfg.BinDir, c)
		}
		abs, err := exec.LookPath(p)
		if err == nil {
			abs, err = filepath.Abs(abs)
		}
		if err != nil {
			where := "on PATH"
			if cfg.BinDir != "" {
				where = "in " + cfg.BinDir
			}
			errs = append(errs, trainyard.FieldError("slurm.bin_dir", "%s not found %s: install Slurm's client commands (Debian: slurm-client) or give their directory", c, where))
			continue
		}
		r.paths[c] = abs
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	return r, nil
}

// slurmNameOK reports whether s is safe as a partition, account, QOS or
// GRES type name.
func slurmNameOK(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// slurmTime writes d as sbatch's --time, in whole minutes rounded up
// ("90" for 89m30s; Slurm's own resolution is a minute).
func slurmTime(d time.Duration) string {
	m := (d + time.Minute - 1) / time.Minute
	return fmt.Sprint(int64(max(m, 1)))
}
