// Package slurm hands trainyard's jobs to a Slurm cluster: trainyard runs
// on a login node (where sbatch works) and keeps its queue, tracking and UI;
// Slurm queues, places and runs the jobs.
//
// # One task, one sbatch job
//
// Start turns a task (one attempt of a job) into one sbatch job named
// "trainyard-JOBID-aATTEMPT", with a comment naming the job, the attempt and
// the job's own name:
//
//	sbatch --nodes=N --ntasks-per-node=1 --cpus-per-task=C --mem=M --gres=gpu[:TYPE]:G
//	       --time --partition --account --qos --no-requeue --export=ALL
//	       --output=RUN.log --open-mode=append  < batch script
//	  batch script, one node:  exec trainyard __launch ... -- COMMAND
//	  batch script, N nodes:   exec srun --kill-on-bad-exit=1 ... trainyard __launch ... -- COMMAND
//	    one launcher per node ──▶ package launch starts the node's ranks
//	      (--launch none: one process; torchrun: ProcsPerNode, with RANK,
//	      LOCAL_RANK, WORLD_SIZE, ... and CUDA_VISIBLE_DEVICES as Slurm set it)
//
// Resources count per node, as in the job spec. Partition, account, QOS
// and time limit come from the job, else from Config, else Slurm's
// defaults. A job that asks for no memory gets the cluster's default
// (DefMemPerCPU/DefMemPerNode; with neither, Slurm gives it the nodes'
// whole memory). On several nodes the node rank comes from SLURM_NODEID, MASTER_ADDR from
// SLURM_LAUNCH_NODE_IPADDR (node 0's address as slurmd knows it, so node
// names need not resolve), MASTER_PORT from the job id (20000 + id mod
// 10000), the same on every node. srun --kill-on-bad-exit stops every node
// when one fails; trainyard restarts jobs itself (max_restarts), so Slurm
// never requeues them.
//
// # Shared filesystem
//
// The run's log, and the trainyard binary the nodes run (Config.Binary,
// default this one), must be on a filesystem the login node and the compute
// nodes share, as home and project directories are on most clusters:
// Slurm appends the job's output to the run's log (each line "[rank N] "
// prefixed when the job has several ranks), each node's launcher writes its
// ranks' own logs next to it (RUN.rank-N.log), and its exit record
// (RUN.slurm/SLURMJOBID/node-N.json: srun reports only the highest exit
// code of its tasks, so the first failing rank's own code comes from
// there). The test cluster runs on one machine, where this holds trivially.
//
// # Following jobs
//
// Inspect and Wait share one `squeue --json --states=all` call per
// Config.PollInterval, whatever the number of jobs (Slurm 22.05's squeue
// lists every job with --json, ignoring its filters; later versions honour
// --me). Its job_state maps to pending (with Slurm's state_reason:
// Priority, Resources, PartitionNodeLimit, ...), running (with the node
// list) or ended; its exit code (code, or signal) to ExitStatus, with
// Slurm's verdicts as the Reason: TIMEOUT, OUT_OF_MEMORY, CANCELLED,
// NODE_FAIL, PREEMPTED. squeue forgets a job MinJobAge (default 5 min)
// after it ended; a job it no longer lists, such as one that ended while
// trainyard was stopped, is looked up with sacct: in the accounting
// database when the cluster has one (AccountingStorageType=slurmdbd), else
// in the job completion log (JobCompType=jobcomp/filetxt, read by sacct
// --completion; the test cluster has this), else nowhere: the job is then
// reported Lost, and Info warns about it. Handles name the Slurm job id and
// job name, so a restarted trainyard follows its jobs by id; Recover finds
// the job of an attempt by its name, in squeue and then in sacct.
//
// # Signals
//
// SIGTERM goes to the launchers only (`scancel --batch --signal=TERM` on
// one node, `scancel --signal=TERM` to the srun step on several), which
// pass it to their ranks, so a job that checkpoints and exits keeps its
// exit code; a job whose launcher has not started yet is cancelled whole
// (Slurm sends SIGTERM, then SIGKILL after KillWait). SIGKILL, after the grace the
// dispatcher gave, kills everything at once (`scancel --full
// --signal=KILL`, then `scancel`). A pending job is cancelled.
//
// # Tests
//
// The tests run against a real Slurm: TestMain starts one with
// ../shared/slurm/local-cluster.sh (internal/slurmtest: a slurmctld and
// three slurmd "nodes" on 127.0.0.1, each with 2 fake GPUs and 2 CPUs, and
// a job completion log) in a temporary directory, and stops it when they
// end. It needs root and Debian's slurm-wlm and munge; when it cannot
// start, every test fails — none is skipped. The nodes run the test binary
// itself as the launcher ("TESTBINARY __launch ..."). The executor
// conformance suite (executortest) runs there, with Slurm-specific tests:
// pending reasons, TIMEOUT, the environment of every rank on every node,
// per-rank logs, restart and recovery, refusals, one squeue per poll, and a
// real torch.distributed all-reduce over 2 nodes × 2 ranks (PyTorch from
// `make deps-torch`).
package slurm
