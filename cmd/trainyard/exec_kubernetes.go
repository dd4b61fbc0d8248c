package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executor/kubernetes"
)

// k8sSettings are the flags of `trainyard up --executor kubernetes`; each
// is also TRAINYARD_<FLAG> (TRAINYARD_K8S_IMAGE) and a config-file key
// (k8s-image: ...). Defaults are kubernetes.Config's.
type k8sSettings struct {
	kubeconfig, context, namespace, image, pullPolicy, serviceAccount, trainyardPath   string
	workdir, serverURL, gpuResource, gpuTypeLabel, poolLabel, queue, instance, shmSize string
	pullSecrets, tolerations                                                           []string
	labels, annotations                                                                map[string]string
	timeLimit                                                                          time.Duration
	kueue, noDefaultTolerations                                                        bool
	masterPort                                                                         int
	fs                                                                                 *pflag.FlagSet
}

func init() {
	var s k8sSettings
	registerExecutor(executorKind{
		name:      "kubernetes",
		help:      "hand each job to Kubernetes as an Indexed Job (--kubeconfig, --k8s-image, --k8s-namespace, ...)",
		flags:     s.register,
		build:     s.build,
		elsewhere: true, // pods run in their image: the server's environment (its credentials too) stays here
	})
}

func (s *k8sSettings) register(fs *pflag.FlagSet) {
	s.fs = fs
	str := func(p *string, name, def, usage string) {
		fs.StringVar(p, name, env(flagEnv(name), def), usage+" ("+flagEnv(name)+")")
	}
	list := func(p *[]string, name, usage string) {
		fs.StringSliceVar(p, name, splitList(env(flagEnv(name), "")), usage+"; repeat or comma-separate ("+flagEnv(name)+")")
	}
	kv := func(p *map[string]string, name, usage string) {
		def := map[string]string{}
		for _, item := range splitList(env(flagEnv(name), "")) {
			if k, v, ok := cutKV(item); ok {
				def[k] = v
			}
		}
		fs.StringToStringVar(p, name, def, usage+" ("+flagEnv(name)+")")
	}
	boolean := func(p *bool, name, usage string) {
		def, _ := strconv.ParseBool(env(flagEnv(name), "false"))
		fs.BoolVar(p, name, def, usage+" ("+flagEnv(name)+")")
	}
	str(&s.kubeconfig, "kubeconfig", "", "kubernetes: kubeconfig file; default $KUBECONFIG, ~/.kube/config, then the in-cluster account")
	str(&s.context, "k8s-context", "", "kubernetes: kubeconfig context; default its current one")
	str(&s.namespace, "k8s-namespace", kubernetes.DefaultNamespace, "kubernetes: namespace of the Jobs")
	str(&s.image, "k8s-image", "", "kubernetes: image of every job's pods, with trainyard (at --k8s-trainyard-path) and the job's runtime; required")
	str(&s.pullPolicy, "k8s-image-pull-policy", "", "kubernetes: Always, IfNotPresent or Never; default Kubernetes' for the tag")
	list(&s.pullSecrets, "k8s-image-pull-secret", "kubernetes: Secret for a private registry")
	str(&s.serviceAccount, "k8s-service-account", "", "kubernetes: service account of the pods; default the namespace's, without its token")
	str(&s.trainyardPath, "k8s-trainyard-path", kubernetes.DefaultTrainyardPath, "kubernetes: the trainyard binary in the image")
	str(&s.workdir, "k8s-workdir", "", "kubernetes: working directory in the container; default the image's WORKDIR")
	str(&s.serverURL, "k8s-server-url", "", "kubernetes: how pods reach this server (their TRAINYARD_URL), e.g. http://trainyard.ml.svc:8080")
	str(&s.gpuResource, "k8s-gpu-resource", kubernetes.DefaultGPUResource, "kubernetes: extended resource of a GPU")
	str(&s.gpuTypeLabel, "k8s-gpu-type-label", kubernetes.DefaultGPUTypeLabel, "kubernetes: node label naming the GPU model (--gpu-type h100 matches NVIDIA-H100-80GB-HBM3)")
	str(&s.poolLabel, "k8s-pool-label", kubernetes.DefaultPoolLabel, "kubernetes: node label naming the pool (--pool); e.g. cloud.google.com/gke-nodepool, karpenter.sh/nodepool")
	list(&s.tolerations, "k8s-toleration", "kubernetes: toleration of every pod, as key[=value][:Effect]")
	boolean(&s.noDefaultTolerations, "k8s-no-gpu-toleration", "kubernetes: do not add the toleration of the nvidia.com/gpu taint to GPU pods")
	fs.DurationVar(&s.timeLimit, "k8s-time-limit", envDuration(flagEnv("k8s-time-limit"), 0), "kubernetes: time limit of jobs that give none (the Job's activeDeadlineSeconds); 0 = none ("+flagEnv("k8s-time-limit")+")")
	boolean(&s.kueue, "k8s-kueue", "kubernetes: hand Jobs to Kueue: created suspended with kueue.x-k8s.io/queue-name")
	str(&s.queue, "k8s-queue", kubernetes.DefaultQueue, "kubernetes: Kueue LocalQueue of jobs that name none (--queue)")
	fs.IntVar(&s.masterPort, "k8s-master-port", envInt(flagEnv("k8s-master-port"), kubernetes.DefaultMasterPort), "kubernetes: rank 0's port for multi-node rendezvous ("+flagEnv("k8s-master-port")+")")
	str(&s.shmSize, "k8s-shm-size", "", "kubernetes: size of /dev/shm in each pod, e.g. 16GiB; default up to the pod's memory")
	kv(&s.labels, "k8s-label", "kubernetes: labels on every Job and pod, key=value,...")
	kv(&s.annotations, "k8s-annotation", "kubernetes: annotations on every Job and pod, key=value,...")
	str(&s.instance, "k8s-instance", kubernetes.DefaultInstance, "kubernetes: tells apart trainyard servers sharing a namespace")
}

func cutKV(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return s[:i], s[i+1:], i > 0
		}
	}
	return "", "", false
}

// config turns the flags into the executor's configuration, reporting
// every bad value at once.
func (s *k8sSettings) config(w wiring) (kubernetes.Config, error) {
	cfg := kubernetes.Config{
		Kubeconfig: s.kubeconfig, Context: s.context, Namespace: s.namespace, Image: s.image,
		ImagePullPolicy: s.pullPolicy, ImagePullSecrets: s.pullSecrets, ServiceAccount: s.serviceAccount,
		TrainyardPath: s.trainyardPath, Workdir: s.workdir, ServerURL: s.serverURL, GPUResource: s.gpuResource,
		GPUTypeLabel: s.gpuTypeLabel, PoolLabel: s.poolLabel, NoDefaultTolerations: s.noDefaultTolerations,
		DefaultTimeLimit: s.timeLimit, Kueue: s.kueue, Queue: s.queue, MasterPort: s.masterPort,
		Labels: s.labels, Annotations: s.annotations, Instance: s.instance, Logger: w.Logger,
	}
	var errs []error
	for _, t := range s.tolerations {
		tol, err := kubernetes.ParseToleration(t)
		if err != nil {
			errs = append(errs, fmt.Errorf("--k8s-toleration: %w", err))
			continue
		}
		cfg.Tolerations = append(cfg.Tolerations, tol)
	}
	if s.shmSize != "" {
		b, err := trainyard.ParseBytes(s.shmSize)
		if err != nil {
			errs = append(errs, fmt.Errorf("--k8s-shm-size: %w", err))
		}
		cfg.ShmSize = b
	}
	// The pods' grace period is the server's --kill-grace.
	if f := s.fs.Lookup("kill-grace"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil {
			cfg.KillGrace = d
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("settings (flags --k8s-NAME, --kubeconfig): %w", err)
	}
	return cfg, nil
}

func (s *k8sSettings) build(ctx context.Context, w wiring) (trainyard.Executor, error) {
	cfg, err := s.config(w)
	if err != nil {
		return nil, err
	}
	return kubernetes.New(cfg)
}
