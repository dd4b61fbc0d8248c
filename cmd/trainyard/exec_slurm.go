package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executor/slurm"
)

// slurmFlags are the settings of `up --executor slurm`, as flags (each also
// a TRAINYARD_SLURM_* variable and a config-file key). They map onto
// slurm.Config, whose fields document the defaults.
var slurmFlags struct {
	partition, account, qos, timeLimit, binary, sbatchArgs, gpuFlag, conf, binDir string
	poll                                                                          time.Duration
}

func init() {
	registerExecutor(executorKind{
		name: "slurm",
		help: "hand each job to Slurm as one sbatch job (run trainyard on a login node; logs and the binary on a shared filesystem)",
		flags: func(fl *pflag.FlagSet) {
			f := &slurmFlags
			str := func(p *string, name, usage string) {
				fl.StringVar(p, name, env(flagEnv(name), ""), usage+" ("+flagEnv(name)+")")
			}
			str(&f.partition, "slurm-partition", "Slurm partition for jobs that name no --pool; default: the cluster's default partition")
			str(&f.account, "slurm-account", "Slurm account for jobs that name none; default: the user's default account")
			str(&f.qos, "slurm-qos", "Slurm QOS for jobs that name none; default: the account's default")
			str(&f.timeLimit, "slurm-time", "time limit for jobs that set no --time, e.g. 4h or 2d; default: the partition's DefaultTime")
			str(&f.binary, "slurm-binary", "path of the trainyard binary on the compute nodes; default: this binary (it must be on a shared filesystem)")
			str(&f.sbatchArgs, "slurm-sbatch-args", "more sbatch options for every job, separated by spaces, e.g. \"--constraint=ib --exclusive\"")
			str(&f.gpuFlag, "slurm-gpu-flag", "how GPUs are asked for: gres (--gres=gpu:N, the default) or gpus-per-node")
			str(&f.conf, "slurm-conf", "SLURM_CONF for Slurm's commands; default: $SLURM_CONF or Slurm's built-in path")
			str(&f.binDir, "slurm-bin-dir", "directory of sbatch, srun, squeue, sacct, scancel, sinfo and scontrol; default: found on PATH")
			fl.DurationVar(&f.poll, "slurm-poll", envDuration(flagEnv("slurm-poll"), time.Second),
				"how often job states are read from Slurm (one squeue call for all jobs) ("+flagEnv("slurm-poll")+")")
		},
		build: func(ctx context.Context, w wiring) (trainyard.Executor, error) {
			cfg, err := slurmConfig(w)
			if err != nil {
				return nil, err
			}
			e, err := slurm.New(cfg)
			if err != nil {
				return nil, err
			}
			// Fail now, not at the first job, when Slurm cannot be reached.
			if _, err := e.Info(ctx); err != nil {
				return nil, fmt.Errorf("reach Slurm: %w", err)
			}
			return e, nil
		},
	})
}

// slurmConfig maps the flags onto slurm.Config.
func slurmConfig(w wiring) (slurm.Config, error) {
	f := slurmFlags
	cfg := slurm.Config{
		Partition: f.partition, Account: f.account, QOS: f.qos, Binary: f.binary,
		SbatchArgs: strings.Fields(f.sbatchArgs), GPUFlag: f.gpuFlag, PollInterval: f.poll,
		SlurmConf: f.conf, BinDir: f.binDir,
	}
	if cfg.Binary == "" {
		cfg.Binary = w.Self
	}
	if f.timeLimit != "" {
		d, err := trainyard.ParseDuration(f.timeLimit)
		if err != nil {
			return cfg, fmt.Errorf("--slurm-time: %w", err)
		}
		cfg.TimeLimit = time.Duration(d)
	}
	return cfg, nil
}
