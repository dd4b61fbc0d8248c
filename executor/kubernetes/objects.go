package kubernetes

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/trainyard/trainyard"
)

// Labels and annotations trainyard puts on its Jobs, Services and pods.
// The label selector of the informers is LabelManagedBy=trainyard plus
// LabelInstance; Recover finds a task by LabelJobID and LabelAttempt.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelInstance  = "trainyard.io/instance"
	LabelJobID     = "trainyard.io/job-id"  // the job id, made a valid label value
	LabelAttempt   = "trainyard.io/attempt" // 0, 1, ...
	LabelTask      = "trainyard.io/task"    // the Job's name, on pods too (the Service selects them by it)

	AnnotJobID   = "trainyard.io/job-id"   // the job id as it is
	AnnotLogPath = "trainyard.io/log-path" // the run's log on the server
	AnnotRanks   = "trainyard.io/ranks"    // processes across all nodes
	AnnotName    = "trainyard.io/name"
	AnnotProject = "trainyard.io/project"

	// LabelKueueQueue hands a Job to Kueue's LocalQueue of that name.
	LabelKueueQueue = "kueue.x-k8s.io/queue-name"

	// Set by Kubernetes' Job controller on each pod of an Indexed Job.
	annotCompletionIndex = "batch.kubernetes.io/job-completion-index"
	// ContainerName is the name of the one container of each pod.
	ContainerName = "task"
	managedBy     = "trainyard"
)

// Name is the name of the Job (and of its headless Service) for attempt
// ref.Attempt of job ref.JobID: "ty-JOBID-ATTEMPT", a DNS label short
// enough for the pods' host names (NAME-INDEX).
func Name(ref trainyard.TaskRef) string {
	return "ty-" + dnsPart(ref.JobID, 40) + "-" + strconv.Itoa(ref.Attempt)
}

// dnsPart makes s a part of a DNS label: lower case letters, digits and
// inner dashes, at most n characters (a long or altered s keeps a hash of
// the original, so that two ids never share a name).
func dnsPart(s string, n int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	if out == s && len(out) <= n && out != "" {
		return out
	}
	h := fnv.New32a()
	h.Write([]byte(s))
	sum := fmt.Sprintf("%08x", h.Sum32())
	if len(out) > n-9 {
		out = strings.TrimRight(out[:n-9], "-")
	}
	if out == "" {
		return sum
	}
	return out + "-" + sum
}

// labelValue makes s a valid label value (at most 63 characters of
// letters, digits, '-', '_', '.', starting and ending alphanumeric).
func labelValue(s string) string {
	ok := len(s) <= 63 && s != ""
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || (i > 0 && i < len(s)-1 && (c == '-' || c == '_' || c == '.'))
	}
	if ok {
		return s
	}
	return dnsPart(s, 63)
}

// selectorLabels are the labels the informers select on.
func (c *Config) selectorLabels() map[string]string {
	return map[string]string{LabelManagedBy: managedBy, LabelInstance: c.Instance}
}

// objectLabels are the labels of a task's Job, pods and Service.
func (c *Config) objectLabels(t trainyard.Task) map[string]string {
	m := map[string]string{}
	maps.Copy(m, c.Labels)
	maps.Copy(m, c.selectorLabels())
	m[LabelJobID] = labelValue(t.JobID)
	m[LabelAttempt] = strconv.Itoa(t.Attempt)
	m[LabelTask] = Name(t.TaskRef)
	return m
}

// BuildJob returns the Job that runs t: an Indexed Job of t.Nodes pods
// (completions = parallelism = nodes), each running `trainyard __launch`
// for its node rank (JOB_COMPLETION_INDEX) with t's resources per node.
// gpuTypes are the values of the GPU-type node label seen on the cluster's
// nodes; the pods may go to the nodes whose value matches t.GPUType (see
// trainyard.GPUTypeMatches). It returns EINVALID when t cannot become a
// Job (no command, no nodes, a queue without Kueue).
func (c *Config) BuildJob(t trainyard.Task, gpuTypes []string) (*batchv1.Job, error) {
	if err := c.checkTask(t); err != nil {
		return nil, err
	}
	name := Name(t.TaskRef)
	nodes := int32(max(t.Nodes, 1))
	labels := c.objectLabels(t)
	annots := maps.Clone(c.Annotations)
	if annots == nil {
		annots = map[string]string{}
	}
	annots[AnnotJobID] = t.JobID
	annots[AnnotLogPath] = t.LogPath
	annots[AnnotRanks] = strconv.Itoa(ranks(t))
	if t.Name != "" {
		annots[AnnotName] = t.Name
	}
	if t.Project != "" {
		annots[AnnotProject] = t.Project
	}
	jobLabels := maps.Clone(labels)
	queue := t.Queue
	if c.Kueue {
		if queue == "" {
			queue = c.Queue
		}
		jobLabels[LabelKueueQueue] = queue
	}
	pod := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		TerminationGracePeriodSeconds: ptr.To(int64(c.KillGrace.Seconds())),
		ServiceAccountName:            c.ServiceAccount,
		AutomountServiceAccountToken:  ptr.To(c.ServiceAccount != ""),
		EnableServiceLinks:            ptr.To(false),
		Tolerations:                   c.tolerations(t),
		Affinity:                      c.affinity(t, gpuTypes),
		Containers:                    []corev1.Container{c.container(t)},
		Volumes: []corev1.Volume{{Name: "dshm", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: shmLimit(c.ShmSize)}}}},
	}
	if nodes > 1 {
		pod.Subdomain = name // the headless Service: NAME-INDEX.NAME resolves to a pod
	}
	if t.Pool != "" {
		pod.NodeSelector = map[string]string{c.PoolLabel: t.Pool}
	}
	for _, s := range c.ImagePullSecrets {
		pod.ImagePullSecrets = append(pod.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	spec := batchv1.JobSpec{
		Parallelism:    ptr.To(nodes),
		Completions:    ptr.To(nodes),
		CompletionMode: ptr.To(batchv1.IndexedCompletion),
		// trainyard restarts whole jobs itself (max_restarts): one failed
		// pod fails the Job, and the Job controller stops the others.
		BackoffLimit: ptr.To(int32(0)),
		Suspend:      ptr.To(c.Kueue),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: maps.Clone(annots)},
			Spec:       pod,
		},
	}
	limit := t.TimeLimit
	if limit == 0 {
		limit = c.DefaultTimeLimit
	}
	if limit > 0 {
		spec.ActiveDeadlineSeconds = ptr.To(max(int64(limit.Seconds()), 1))
	}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: jobLabels, Annotations: annots},
		Spec:       spec,
	}, nil
}

// checkTask reports why t cannot become a Job.
func (c *Config) checkTask(t trainyard.Task) error {
	switch {
	case t.JobID == "":
		return trainyard.FieldError("job_id", "is empty")
	case len(t.Command) == 0 || t.Command[0] == "":
		return trainyard.FieldError("command", "is empty")
	case t.Nodes < 0 || t.Nodes > trainyard.MaxNodes:
		return trainyard.FieldError("nodes", "%d: want 1 to %d", t.Nodes, trainyard.MaxNodes)
	case t.Queue != "" && !c.Kueue:
		return trainyard.FieldError("queue", "%q: this executor does not use Kueue (start the server with --k8s-kueue)", t.Queue)
	case t.Resources.GPUs < 0 || t.Resources.CPUs < 0 || t.Resources.Memory < 0:
		return trainyard.FieldError("resources", "%s: negative", t.Resources)
	}
	if t.Queue != "" {
		if m := validationLabelValue(t.Queue); m != "" {
			return trainyard.FieldError("queue", "%q: %s", t.Queue, m)
		}
	}
	if t.Pool != "" {
		if m := validationLabelValue(t.Pool); m != "" {
			return trainyard.FieldError("pool", "%q: %s", t.Pool, m)
		}
	}
	return nil
}

// ranks is the number of processes of t across its nodes.
func ranks(t trainyard.Task) int {
	if t.Launch == trainyard.LaunchTorchrun {
		return max(t.Nodes, 1) * max(t.ProcsPerNode, 1)
	}
	return max(t.Nodes, 1)
}

func (c *Config) container(t trainyard.Task) corev1.Container {
	name := Name(t.TaskRef)
	nodes := max(t.Nodes, 1)
	launch := t.Launch
	if launch == "" {
		launch = trainyard.LaunchNone
	}
	procs := 1
	if launch == trainyard.LaunchTorchrun {
		procs = max(t.ProcsPerNode, 1)
	}
	cmd := []string{c.TrainyardPath, "__launch", "--launch", string(launch),
		"--nnodes", strconv.Itoa(nodes), "--nproc", strconv.Itoa(procs),
		"--node-rank-env", "JOB_COMPLETION_INDEX", "--run-id", t.JobID}
	switch {
	case nodes > 1:
		// Rank 0's pod through the headless Service, on a fixed port.
		cmd = append(cmd, "--master-addr", name+"-0."+name, "--master-port", strconv.Itoa(c.MasterPort))
	case launch == trainyard.LaunchTorchrun:
		cmd = append(cmd, "--master-addr", "127.0.0.1") // the launcher picks a free port
	}
	cmd = append(cmd, "--")
	cmd = append(cmd, t.Command...)

	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	if t.Resources.CPUs > 0 {
		q := *resource.NewQuantity(int64(t.Resources.CPUs), resource.DecimalSI)
		res.Requests[corev1.ResourceCPU], res.Limits[corev1.ResourceCPU] = q, q
	}
	if t.Resources.Memory > 0 {
		q := *resource.NewQuantity(int64(t.Resources.Memory), resource.BinarySI)
		res.Requests[corev1.ResourceMemory], res.Limits[corev1.ResourceMemory] = q, q
	}
	if t.Resources.GPUs > 0 {
		q := *resource.NewQuantity(int64(t.Resources.GPUs), resource.DecimalSI)
		res.Requests[corev1.ResourceName(c.GPUResource)], res.Limits[corev1.ResourceName(c.GPUResource)] = q, q
	}
	return corev1.Container{
		Name:                     ContainerName,
		Image:                    c.Image,
		ImagePullPolicy:          corev1.PullPolicy(c.ImagePullPolicy),
		Command:                  cmd,
		WorkingDir:               c.Workdir,
		Env:                      c.env(t),
		Resources:                res,
		VolumeMounts:             []corev1.VolumeMount{{Name: "dshm", MountPath: "/dev/shm"}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// env is the task's environment without the server's own variables, with
// TRAINYARD_URL as pods reach the server, in the task's order.
func (c *Config) env(t trainyard.Task) []corev1.EnvVar {
	var out []corev1.EnvVar
	seen := map[string]int{}
	set := func(k, v string) {
		if i, ok := seen[k]; ok {
			out[i].Value = v
			return
		}
		seen[k] = len(out)
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	for _, kv := range t.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || slices.Contains(c.DropEnv, k) || strings.HasPrefix(k, "KUBERNETES_") {
			continue
		}
		set(k, v)
	}
	if c.ServerURL != "" {
		set("TRAINYARD_URL", c.ServerURL)
	}
	if t.Resources.GPUs == 0 {
		// CUDA images set NVIDIA_VISIBLE_DEVICES=all: without a GPU limit
		// the NVIDIA runtime would show the node's GPUs to the pod.
		set("NVIDIA_VISIBLE_DEVICES", "void")
	}
	return out
}

func (c *Config) tolerations(t trainyard.Task) []corev1.Toleration {
	out := slices.Clone(c.Tolerations)
	if t.Resources.GPUs > 0 && !c.NoDefaultTolerations {
		out = append(out, corev1.Toleration{Key: c.GPUResource, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return out
}

// affinity limits the pods to the nodes whose GPU-type label matches
// t.GPUType; when no node seen so far matches, to the value as given (the
// pods then wait, unschedulable, for such a node).
func (c *Config) affinity(t trainyard.Task, gpuTypes []string) *corev1.Affinity {
	if t.GPUType == "" {
		return nil
	}
	var values []string
	for _, v := range gpuTypes {
		if trainyard.GPUTypeMatches(gpuTypeOf(v), t.GPUType) && !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	if len(values) == 0 {
		values = []string{t.GPUType}
	}
	slices.Sort(values)
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: c.GPUTypeLabel, Operator: corev1.NodeSelectorOpIn, Values: values}},
		}}},
	}}
}

// gpuTypeOf turns a GPU-type node label's value into trainyard's short
// form: "NVIDIA-H100-80GB-HBM3" → "h100-80gb-hbm3".
func gpuTypeOf(v string) string {
	return trainyard.GPUTypeLabel(strings.NewReplacer("-", " ", "_", " ").Replace(v))
}

// BuildService returns the headless Service that gives the pods of a
// multi-node task stable names (NAME-INDEX.NAME) for rendezvous, owned by
// job so that deleting the Job deletes it.
func (c *Config) BuildService(t trainyard.Task, job *batchv1.Job) *corev1.Service {
	name := Name(t.TaskRef)
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.Namespace, Labels: c.objectLabels(t),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
				BlockOwnerDeletion: ptr.To(true)}}},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 map[string]string{LabelTask: name},
			PublishNotReadyAddresses: true, // rendezvous starts before any pod is ready
			Ports: []corev1.ServicePort{{Name: "rendezvous", Port: int32(c.MasterPort),
				TargetPort: intstr.FromInt32(int32(c.MasterPort))}},
		},
	}
}

func shmLimit(b trainyard.Bytes) *resource.Quantity {
	if b <= 0 {
		return nil
	}
	return resource.NewQuantity(int64(b), resource.BinarySI)
}

func validationLabelValue(v string) string {
	return strings.Join(validation.IsValidLabelValue(v), "; ")
}
