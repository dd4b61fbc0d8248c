// Package kubernetes runs trainyard jobs on a Kubernetes cluster, through
// client-go. trainyard does not become a cluster engine: Kubernetes (and
// Kueue, where the cluster runs it) queues, places and runs the pods;
// trainyard hands each attempt of a job over as soon as it is queued,
// shows what Kubernetes says about it, and keeps tracking and logs.
//
// # A task as Kubernetes objects
//
// One attempt of a job is one batch/v1 Job named ty-JOBID-ATTEMPT:
//
//	Job ty-1a2b3c4d5e6f-0            Indexed, completions = parallelism = nodes,
//	│                                backoffLimit 0 (trainyard restarts whole jobs),
//	│                                activeDeadlineSeconds = the time limit,
//	│                                suspend + kueue.x-k8s.io/queue-name with Kueue
//	├── pod ty-…-0-xxxxx  (node rank 0, host name ty-…-0)   ┐ trainyard __launch --node-rank-env
//	├── pod ty-…-1-xxxxx  (node rank 1, host name ty-…-1)   ┘ JOB_COMPLETION_INDEX -- COMMAND
//	└── Service ty-1a2b3c4d5e6f-0    headless, for multi-node jobs: rank 0 is
//	                                 ty-…-0.ty-…:29500 (MASTER_ADDR, MASTER_PORT)
//
// Each pod asks for the job's per-node resources: nvidia.com/gpu as a
// limit, CPUs and memory as requests and equal limits. A GPU type becomes
// a node affinity on the GPU-type node label (NVIDIA's GPU feature
// discovery sets nvidia.com/gpu.product), a pool a node selector on the
// pool label; pods that ask for GPUs tolerate the usual nvidia.com/gpu
// taint. The pod runs `trainyard __launch` (package launch) from the
// configured image, which starts the node's ranks with torchrun's
// environment, prefixes their output "[rank N] " and fails the node when
// one rank fails; one failed pod fails the Job. Labels carry the job id,
// the attempt and the trainyard instance; annotations the run's log path.
//
// # Following state
//
// Shared informers watch the namespace's Jobs and pods of this instance
// (a label selector) and the cluster's nodes; nothing polls. Inspect and
// Wait read the informers' caches: pending while a pod is unscheduled
// (with the scheduler's message, "0/4 nodes are available: 4 Insufficient
// nvidia.com/gpu"), while its container waits (ImagePullBackOff) or while
// Kueue has not admitted the Job; running once every pod has started, with
// the pods' nodes by node rank; ended when the Job is Complete or Failed,
// with the exit code of the first pod that failed (OOMKilled and
// DeadlineExceeded named in the reason). Wait sleeps on a channel closed
// by the next event about its Job.
//
// Cancel (SIGTERM) marks the Job with the signal and deletes it with
// foreground propagation: Kubernetes gives each pod its grace period
// (KillGrace) between SIGTERM and SIGKILL, and the Job goes with its last
// pod. SIGKILL also deletes the pods with grace 0. A Job that vanished
// reads as 128+signal when trainyard deleted it, and Lost otherwise.
// Recover finds a Job by its labels; Cleanup deletes a finished one.
//
// # Logs
//
// Each started pod's log is streamed (follow, with timestamps) into the
// run's log, and each "[rank N] " line also into rank N's log; a cursor
// per pod saved next to the log lets the next server resume without
// copying a line twice (see logs.go).
//
// # What the tests prove
//
// The tests start a real control plane (etcd, kube-apiserver, the Job and
// garbage-collector controllers, kube-scheduler) with kwok in place of
// kubelets: nothing runs in a pod, kwok moves pod status as each test's
// task says and serves pod logs from files the test writes. They check
// what the executor asks of Kubernetes and how it follows Kubernetes'
// answers; that the command works inside a container is the launch
// package's business, tested with real processes.
package kubernetes
