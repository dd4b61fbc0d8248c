package kubernetes

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/trainyard/trainyard"
)

// Defaults of Config, applied by New to fields left zero.
const (
	DefaultNamespace     = "default"
	DefaultTrainyardPath = "trainyard"
	DefaultGPUResource   = "nvidia.com/gpu"
	// DefaultGPUTypeLabel is the node label NVIDIA's GPU feature discovery
	// (part of the GPU operator) sets to the GPU's product name, such as
	// "NVIDIA-H100-80GB-HBM3".
	DefaultGPUTypeLabel = "nvidia.com/gpu.product"
	// DefaultPoolLabel names a node's pool. Managed clusters have their own:
	// cloud.google.com/gke-nodepool (GKE), eks.amazonaws.com/nodegroup (EKS),
	// karpenter.sh/nodepool (Karpenter), agentpool (AKS).
	DefaultPoolLabel  = "trainyard.io/pool"
	DefaultMasterPort = 29500
	DefaultKillGrace  = 30 * time.Second
	DefaultInstance   = "trainyard"
	DefaultQueue      = "default"
	// DefaultSyncTimeout bounds how long New waits for the first listing of
	// jobs, pods and nodes.
	DefaultSyncTimeout = 30 * time.Second
)

// DefaultDropEnv are variables of a task's environment that describe the
// machine trainyard runs on, not the job, and would break a container
// (PATH would hide the image's programs). Config.DropEnv replaces the list.
var DefaultDropEnv = []string{
	"PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "USER", "LOGNAME", "SHELL", "TERM", "TMPDIR", "_",
	"LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "KUBECONFIG",
	"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "DISPLAY", "MAIL", "LS_COLORS", "SSH_AUTH_SOCK",
	"SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "XDG_RUNTIME_DIR", "XDG_SESSION_ID", "DBUS_SESSION_BUS_ADDRESS",
}

// Config configures the Kubernetes executor. Zero fields take the defaults
// named next to them; `trainyard up --executor kubernetes` maps its
// --k8s-* flags, TRAINYARD_K8S_* variables and the config file's
// kubernetes section onto it.
type Config struct {
	// Kubeconfig is a kubeconfig file. Empty: $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster service account (trainyard
	// running in a pod).
	Kubeconfig string
	// Context is the kubeconfig context; empty: its current context.
	Context string
	// Namespace holds the Jobs, pods and Services; default "default".
	Namespace string
	// Image runs every task. It must hold the trainyard binary (at
	// TrainyardPath; each pod runs `trainyard __launch`) and the job's
	// runtime: python, torch, the training code. Required.
	Image string
	// ImagePullPolicy is Always, IfNotPresent or Never; empty: Kubernetes'
	// default for the image's tag.
	ImagePullPolicy string
	// ImagePullSecrets name Secrets for a private registry.
	ImagePullSecrets []string
	// ServiceAccount runs the pods; empty: the namespace's default, without
	// its token mounted (training needs no API access).
	ServiceAccount string
	// TrainyardPath is the trainyard binary in the image; default
	// "trainyard" (found on the image's PATH).
	TrainyardPath string
	// Workdir is the container's working directory; empty: the image's
	// WORKDIR. Pods do not see the server's disk, so a job's own working
	// directory (its submit directory) is not used.
	Workdir string
	// ServerURL is how pods reach the trainyard server (their
	// TRAINYARD_URL, for the SDK); empty: the server's own address, which
	// pods can reach only when it listens on an address they can route to.
	ServerURL string
	// GPUResource is the extended resource of a GPU; default
	// "nvidia.com/gpu".
	GPUResource string
	// GPUTypeLabel is the node label that names a node's GPU model; default
	// "nvidia.com/gpu.product" (NVIDIA GPU feature discovery). A job's
	// --gpu-type h100 matches every value whose short form (see
	// trainyard.GPUTypeLabel) starts with h100, such as NVIDIA-H100-80GB-HBM3.
	GPUTypeLabel string
	// PoolLabel is the node label that names a node's pool (a job's
	// --pool); default "trainyard.io/pool". See DefaultPoolLabel for the
	// labels of managed clusters.
	PoolLabel string
	// Tolerations are added to every pod. Default: when the task asks for
	// GPUs, one that tolerates the usual GPU taint (nvidia.com/gpu, any
	// value, NoSchedule). ParseToleration reads kubectl's taint syntax.
	Tolerations []corev1.Toleration
	// NoDefaultTolerations drops the GPU toleration added by default.
	NoDefaultTolerations bool
	// DefaultTimeLimit applies to tasks that give none (the Job's
	// activeDeadlineSeconds); 0: no limit.
	DefaultTimeLimit time.Duration
	// Kueue hands every Job to Kueue: the Job is created suspended with
	// the label kueue.x-k8s.io/queue-name (the task's queue, or Queue), and
	// Kueue admits it when its quota allows. Off: a task that names a queue
	// is refused.
	Kueue bool
	// Queue is the Kueue LocalQueue of tasks that name none; default
	// "default".
	Queue string
	// MasterPort is rank 0's port for torch.distributed rendezvous in a
	// multi-node job (reached through the job's headless Service); default
	// 29500.
	MasterPort int
	// KillGrace is the pods' termination grace period: a cancel (SIGTERM)
	// gives the job this long to checkpoint before Kubernetes kills it;
	// default 30s.
	KillGrace time.Duration
	// ShmSize sizes /dev/shm (a memory-backed volume; PyTorch's data
	// loader workers share tensors through it; a container's default is
	// 64 MiB); 0: no limit other than the container's memory.
	ShmSize trainyard.Bytes
	// DropEnv are variables removed from a task's environment before it
	// goes into a pod; nil: DefaultDropEnv.
	DropEnv []string
	// Labels and Annotations are added to every Job and pod (for example
	// sidecar.istio.io/inject: "false").
	Labels, Annotations map[string]string
	// Instance tells apart trainyard servers that share a namespace: each
	// sees only the Jobs of its own instance; default "trainyard".
	Instance string
	// SyncTimeout bounds New's wait for the first listing; default 30s.
	SyncTimeout time.Duration
	// Logger receives what the executor cannot report through its methods
	// (a failed log stream); default slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Namespace, DefaultNamespace)
	def(&c.TrainyardPath, DefaultTrainyardPath)
	def(&c.GPUResource, DefaultGPUResource)
	def(&c.GPUTypeLabel, DefaultGPUTypeLabel)
	def(&c.PoolLabel, DefaultPoolLabel)
	def(&c.Instance, DefaultInstance)
	def(&c.Queue, DefaultQueue)
	if c.MasterPort == 0 {
		c.MasterPort = DefaultMasterPort
	}
	if c.KillGrace == 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.SyncTimeout == 0 {
		c.SyncTimeout = DefaultSyncTimeout
	}
	if c.DropEnv == nil {
		c.DropEnv = DefaultDropEnv
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports every problem with c at once, each naming its field
// (as the flag names it, without --k8s-).
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, trainyard.FieldError(field, format, args...))
	}
	if c.Image == "" {
		bad("image", "is required: an image with trainyard and the job's runtime (python, torch, the code)")
	}
	if c.Namespace != "" {
		for _, m := range validation.IsDNS1123Label(c.Namespace) {
			bad("namespace", "%q: %s", c.Namespace, m)
		}
	}
	switch corev1.PullPolicy(c.ImagePullPolicy) {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		bad("image-pull-policy", "%q: want Always, IfNotPresent or Never", c.ImagePullPolicy)
	}
	for _, s := range c.ImagePullSecrets {
		for _, m := range validation.IsDNS1123Subdomain(s) {
			bad("image-pull-secret", "%q: %s", s, m)
		}
	}
	if c.ServiceAccount != "" {
		for _, m := range validation.IsDNS1123Subdomain(c.ServiceAccount) {
			bad("service-account", "%q: %s", c.ServiceAccount, m)
		}
	}
	for field, v := range map[string]string{"gpu-resource": c.GPUResource, "gpu-type-label": c.GPUTypeLabel, "pool-label": c.PoolLabel} {
		if v == "" {
			continue
		}
		for _, m := range validation.IsQualifiedName(v) {
			bad(field, "%q: %s", v, m)
		}
	}
	if c.Instance != "" {
		for _, m := range validation.IsValidLabelValue(c.Instance) {
			bad("instance", "%q: %s", c.Instance, m)
		}
	}
	if c.Queue != "" {
		for _, m := range validation.IsValidLabelValue(c.Queue) {
			bad("queue", "%q: %s", c.Queue, m)
		}
	}
	if c.MasterPort < 0 || c.MasterPort > 65535 {
		bad("master-port", "%d: want 1 to 65535", c.MasterPort)
	}
	if c.KillGrace < 0 {
		bad("kill-grace", "%s is negative", c.KillGrace)
	}
	if c.DefaultTimeLimit < 0 {
		bad("time-limit", "%s is negative", c.DefaultTimeLimit)
	}
	if c.ShmSize < 0 {
		bad("shm-size", "%d is negative", c.ShmSize)
	}
	for k, v := range c.Labels {
		for _, m := range validation.IsQualifiedName(k) {
			bad("label", "%q: %s", k, m)
		}
		for _, m := range validation.IsValidLabelValue(v) {
			bad("label", "%s=%q: %s", k, v, m)
		}
	}
	for k := range c.Annotations {
		for _, m := range validation.IsQualifiedName(k) {
			bad("annotation", "%q: %s", k, m)
		}
	}
	for i, t := range c.Tolerations {
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			bad("toleration", "#%d: a toleration without a key must use operator Exists", i+1)
		}
	}
	return errors.Join(errs...)
}

// ParseToleration reads a toleration in kubectl's taint syntax:
// "key=value:Effect" (operator Equal), "key:Effect" or "key" (operator
// Exists; no effect tolerates every effect). Effect is NoSchedule,
// PreferNoSchedule or NoExecute.
func ParseToleration(s string) (corev1.Toleration, error) {
	t := corev1.Toleration{Operator: corev1.TolerationOpExists}
	kv, effect, hasEffect := strings.Cut(strings.TrimSpace(s), ":")
	if hasEffect {
		switch e := corev1.TaintEffect(effect); e {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			t.Effect = e
		default:
			return t, fmt.Errorf("toleration %q: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", s, effect)
		}
	}
	k, v, hasValue := strings.Cut(kv, "=")
	if k == "" {
		return t, fmt.Errorf("toleration %q: want key[=value][:effect]", s)
	}
	if m := validation.IsQualifiedName(k); len(m) > 0 {
		return t, fmt.Errorf("toleration %q: key %q: %s", s, k, strings.Join(m, "; "))
	}
	t.Key = k
	if hasValue {
		t.Operator, t.Value = corev1.TolerationOpEqual, v
	}
	return t, nil
}
