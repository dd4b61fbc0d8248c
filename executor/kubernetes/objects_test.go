package kubernetes

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/trainyard/trainyard"
)

func testConfig() Config {
	c := Config{Image: "reg.example/train:1", Instance: "prod", ServerURL: "http://trainyard.svc:8080"}
	c.setDefaults()
	return c
}

func TestName(t *testing.T) {
	for _, tc := range []struct {
		ref     trainyard.TaskRef
		want    string
		exactly bool
	}{
		{trainyard.TaskRef{JobID: "a1b2c3d4e5f6", Attempt: 0}, "ty-a1b2c3d4e5f6-0", true},
		{trainyard.TaskRef{JobID: "a1b2c3d4e5f6", Attempt: 12}, "ty-a1b2c3d4e5f6-12", true},
		{trainyard.TaskRef{JobID: "Conf_X.1"}, "ty-conf-x-1-", false}, // altered: a hash of the id follows
	} {
		got := Name(tc.ref)
		if tc.exactly && got != tc.want || !tc.exactly && (!strings.HasPrefix(got, tc.want) || len(got) != len(tc.want)+len("01234567-0")) {
			t.Errorf("Name(%+v) = %q, want %q", tc.ref, got, tc.want)
		}
		if m := validation.IsDNS1035Label(got); len(m) > 0 {
			t.Errorf("Name(%+v) = %q: not a DNS label: %v", tc.ref, got, m)
		}
	}
	long := Name(trainyard.TaskRef{JobID: strings.Repeat("x", 200), Attempt: 99})
	if len(long)+len("-4095") > 63 {
		t.Errorf("Name of a 200-character id is %d characters: the pods' host names (NAME-INDEX) would pass 63", len(long))
	}
	if a, b := Name(trainyard.TaskRef{JobID: "a_b"}), Name(trainyard.TaskRef{JobID: "a.b"}); a == b {
		t.Errorf("ids a_b and a.b share the name %q", a)
	}
}

func TestLabelValue(t *testing.T) {
	for _, v := range []string{"a1b2c3d4e5f6", "conf-1-2", "A.b_c", "-x", "x-", strings.Repeat("y", 80), "a b/c", ""} {
		got := labelValue(v)
		if m := validation.IsValidLabelValue(got); len(m) > 0 || got == "" {
			t.Errorf("labelValue(%q) = %q: %v", v, got, m)
		}
		if len(validation.IsValidLabelValue(v)) == 0 && v != "" && got != v {
			t.Errorf("labelValue(%q) = %q: a valid value must stay as it is", v, got)
		}
	}
}

// TestBuildJob checks the Job asked of Kubernetes for a 2-node torchrun
// task field by field.
func TestBuildJob(t *testing.T) {
	c := testConfig()
	c.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ml", Effect: corev1.TaintEffectNoSchedule}}
	c.ImagePullSecrets = []string{"regcred"}
	c.ShmSize = 8 << 30
	task := trainyard.Task{
		TaskRef: trainyard.TaskRef{JobID: "a1b2c3d4e5f6", Attempt: 1}, Name: "train", Project: "vision",
		Command: []string{"python", "train.py", "--lr", "0.1"}, Workdir: "/home/me/proj",
		Env:    []string{"PATH=/home/me/venv/bin:/usr/bin", "HOME=/home/me", "SEED=7", "TRAINYARD_URL=http://127.0.0.1:8080", "TRAINYARD_RUN_ID=a1b2c3d4e5f6", "KUBERNETES_SERVICE_HOST=x"},
		Launch: trainyard.LaunchTorchrun, ProcsPerNode: 4, Nodes: 2,
		Resources: trainyard.Resources{GPUs: 4, CPUs: 16, Memory: 64 << 30},
		Pool:      "a-pool", GPUType: "h100", TimeLimit: 90 * time.Minute, LogPath: "/data/logs/r.log",
	}
	job, err := c.BuildJob(task, []string{"NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-NVL"})
	if err != nil {
		t.Fatal(err)
	}
	name := "ty-a1b2c3d4e5f6-1"
	if job.Name != name || job.Namespace != "default" {
		t.Errorf("name %s/%s, want default/%s", job.Namespace, job.Name, name)
	}
	s := job.Spec
	if *s.Completions != 2 || *s.Parallelism != 2 || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completions %d parallelism %d mode %s, want an Indexed Job of 2", *s.Completions, *s.Parallelism, *s.CompletionMode)
	}
	if *s.BackoffLimit != 0 || *s.ActiveDeadlineSeconds != 5400 || *s.Suspend {
		t.Errorf("backoffLimit %d activeDeadlineSeconds %d suspend %v, want 0, 5400, false", *s.BackoffLimit, *s.ActiveDeadlineSeconds, *s.Suspend)
	}
	wantLabels := map[string]string{LabelManagedBy: "trainyard", LabelInstance: "prod", LabelJobID: "a1b2c3d4e5f6", LabelAttempt: "1", LabelTask: name}
	if d := cmp.Diff(wantLabels, job.Labels); d != "" {
		t.Errorf("Job labels (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantLabels, s.Template.Labels); d != "" {
		t.Errorf("pod labels (-want +got):\n%s", d)
	}
	for k, v := range map[string]string{AnnotJobID: "a1b2c3d4e5f6", AnnotLogPath: "/data/logs/r.log", AnnotRanks: "8", AnnotName: "train", AnnotProject: "vision"} {
		if job.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, job.Annotations[k], v)
		}
	}
	pod := s.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.Subdomain != name || *pod.TerminationGracePeriodSeconds != 30 ||
		*pod.AutomountServiceAccountToken || *pod.EnableServiceLinks {
		t.Errorf("pod spec: restart %s subdomain %q grace %d automount %v serviceLinks %v", pod.RestartPolicy, pod.Subdomain,
			*pod.TerminationGracePeriodSeconds, *pod.AutomountServiceAccountToken, *pod.EnableServiceLinks)
	}
	if d := cmp.Diff(map[string]string{"trainyard.io/pool": "a-pool"}, pod.NodeSelector); d != "" {
		t.Errorf("node selector (-want +got):\n%s", d)
	}
	terms := pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	wantAff := []corev1.NodeSelectorRequirement{{Key: "nvidia.com/gpu.product", Operator: corev1.NodeSelectorOpIn,
		Values: []string{"NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-NVL"}}}
	if len(terms) != 1 || cmp.Diff(wantAff, terms[0].MatchExpressions) != "" {
		t.Errorf("node affinity = %+v, want %+v", terms, wantAff)
	}
	wantTol := []corev1.Toleration{c.Tolerations[0], {Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	if d := cmp.Diff(wantTol, pod.Tolerations); d != "" {
		t.Errorf("tolerations (-want +got):\n%s", d)
	}
	if len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("image pull secrets %v", pod.ImagePullSecrets)
	}
	if v := pod.Volumes[0]; v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory || v.EmptyDir.SizeLimit.String() != "8Gi" {
		t.Errorf("/dev/shm volume %+v, want a memory emptyDir of 8Gi", v)
	}
	ct := pod.Containers[0]
	wantCmd := []string{"trainyard", "__launch", "--launch", "torchrun", "--nnodes", "2", "--nproc", "4",
		"--node-rank-env", "JOB_COMPLETION_INDEX", "--run-id", "a1b2c3d4e5f6",
		"--master-addr", name + "-0." + name, "--master-port", "29500", "--", "python", "train.py", "--lr", "0.1"}
	if d := cmp.Diff(wantCmd, ct.Command); d != "" {
		t.Errorf("command (-want +got):\n%s", d)
	}
	if ct.Image != "reg.example/train:1" || ct.WorkingDir != "" || ct.Name != ContainerName || ct.VolumeMounts[0].MountPath != "/dev/shm" {
		t.Errorf("container %s image %s workdir %q mounts %v", ct.Name, ct.Image, ct.WorkingDir, ct.VolumeMounts)
	}
	wantRes := corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("4"), corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")}
	for _, l := range []corev1.ResourceList{ct.Resources.Limits, ct.Resources.Requests} {
		if len(l) != len(wantRes) {
			t.Errorf("resources %v, want %v", l, wantRes)
		}
		for k, q := range wantRes {
			if got := l[k]; got.Cmp(q) != 0 {
				t.Errorf("resource %s = %s, want %s", k, got.String(), q.String())
			}
		}
	}
	wantEnv := []corev1.EnvVar{{Name: "SEED", Value: "7"}, {Name: "TRAINYARD_URL", Value: "http://trainyard.svc:8080"}, {Name: "TRAINYARD_RUN_ID", Value: "a1b2c3d4e5f6"}}
	if d := cmp.Diff(wantEnv, ct.Env); d != "" {
		t.Errorf("env: the server's PATH and HOME dropped, TRAINYARD_URL as pods reach the server (-want +got):\n%s", d)
	}

	svc := c.BuildService(task, job)
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses || svc.Name != name ||
		svc.Spec.Selector[LabelTask] != name || svc.Spec.Ports[0].Port != 29500 {
		t.Errorf("Service %+v: want headless, publishing unready pods, selecting the task's pods, port 29500", svc.Spec)
	}
	if o := svc.OwnerReferences; len(o) != 1 || o[0].Kind != "Job" || o[0].Name != name {
		t.Errorf("Service owners %+v, want the Job", o)
	}
}

func TestBuildJobVariants(t *testing.T) {
	base := trainyard.Task{TaskRef: trainyard.TaskRef{JobID: "j1"}, Command: []string{"python", "x.py"}, Nodes: 1, Launch: trainyard.LaunchNone,
		Resources: trainyard.Resources{CPUs: 2}}
	t.Run("one CPU node, no GPU", func(t *testing.T) {
		c := testConfig()
		job, err := c.BuildJob(base, nil)
		if err != nil {
			t.Fatal(err)
		}
		ct := job.Spec.Template.Spec.Containers[0]
		if _, ok := ct.Resources.Limits["nvidia.com/gpu"]; ok {
			t.Error("a task without GPUs asks for nvidia.com/gpu")
		}
		if len(job.Spec.Template.Spec.Tolerations) != 0 || job.Spec.Template.Spec.Affinity != nil || job.Spec.Template.Spec.Subdomain != "" {
			t.Errorf("tolerations %v affinity %v subdomain %q, want none", job.Spec.Template.Spec.Tolerations, job.Spec.Template.Spec.Affinity, job.Spec.Template.Spec.Subdomain)
		}
		if job.Spec.ActiveDeadlineSeconds != nil {
			t.Error("a task without a time limit got one")
		}
		if !slicesContainsEnv(ct.Env, "NVIDIA_VISIBLE_DEVICES", "void") {
			t.Errorf("env %v: a pod without GPUs must not see the node's (NVIDIA_VISIBLE_DEVICES=void)", ct.Env)
		}
		if got := strings.Join(ct.Command, " "); got != "trainyard __launch --launch none --nnodes 1 --nproc 1 --node-rank-env JOB_COMPLETION_INDEX --run-id j1 -- python x.py" {
			t.Errorf("command %q", got)
		}
	})
	t.Run("one node torchrun picks its own port", func(t *testing.T) {
		c := testConfig()
		task := base
		task.Launch, task.ProcsPerNode = trainyard.LaunchTorchrun, 8
		job, _ := c.BuildJob(task, nil)
		if got := strings.Join(job.Spec.Template.Spec.Containers[0].Command, " "); !strings.Contains(got, "--nproc 8 --node-rank-env JOB_COMPLETION_INDEX --run-id j1 --master-addr 127.0.0.1 --") {
			t.Errorf("command %q", got)
		}
		if job.Annotations[AnnotRanks] != "8" {
			t.Errorf("ranks %s, want 8", job.Annotations[AnnotRanks])
		}
	})
	t.Run("Kueue", func(t *testing.T) {
		c := testConfig()
		c.Kueue, c.Queue = true, "team-a"
		job, _ := c.BuildJob(base, nil)
		if !*job.Spec.Suspend || job.Labels[LabelKueueQueue] != "team-a" {
			t.Errorf("suspend %v queue label %q: Kueue wants the Job suspended with its queue", *job.Spec.Suspend, job.Labels[LabelKueueQueue])
		}
		if _, ok := job.Spec.Template.Labels[LabelKueueQueue]; ok {
			t.Error("the queue label belongs on the Job, not its pods")
		}
		task := base
		task.Queue = "team-b"
		job, _ = c.BuildJob(task, nil)
		if job.Labels[LabelKueueQueue] != "team-b" {
			t.Errorf("queue label %q, want the task's team-b", job.Labels[LabelKueueQueue])
		}
	})
	t.Run("GPU type no node has", func(t *testing.T) {
		c := testConfig()
		task := base
		task.GPUType = "b200"
		job, _ := c.BuildJob(task, []string{"NVIDIA-H100-80GB-HBM3"})
		vals := job.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Values
		if d := cmp.Diff([]string{"b200"}, vals); d != "" {
			t.Errorf("affinity values (-want +got):\n%s", d)
		}
	})
	t.Run("default time limit", func(t *testing.T) {
		c := testConfig()
		c.DefaultTimeLimit = 2 * time.Hour
		job, _ := c.BuildJob(base, nil)
		if *job.Spec.ActiveDeadlineSeconds != 7200 {
			t.Errorf("activeDeadlineSeconds %d, want 7200", *job.Spec.ActiveDeadlineSeconds)
		}
	})
	for _, tc := range []struct {
		name  string
		edit  func(*trainyard.Task)
		field string
	}{
		{"no command", func(t *trainyard.Task) { t.Command = nil }, "command"},
		{"queue without Kueue", func(t *trainyard.Task) { t.Queue = "q" }, "queue"},
		{"bad pool", func(t *trainyard.Task) { t.Pool = "a pool!" }, "pool"},
		{"negative resources", func(t *trainyard.Task) { t.Resources.GPUs = -1 }, "resources"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			task := base
			tc.edit(&task)
			_, err := c.BuildJob(task, nil)
			if !trainyard.IsCode(err, trainyard.EINVALID) || !strings.HasPrefix(err.Error(), tc.field+":") {
				t.Errorf("BuildJob = %v, want EINVALID naming %s", err, tc.field)
			}
		})
	}
}

func slicesContainsEnv(env []corev1.EnvVar, k, v string) bool {
	for _, e := range env {
		if e.Name == k && e.Value == v {
			return true
		}
	}
	return false
}

func TestGPUTypeOf(t *testing.T) {
	for in, want := range map[string]string{
		"NVIDIA-H100-80GB-HBM3": "h100-80gb-hbm3", "NVIDIA-A100-SXM4-80GB": "a100-sxm4-80gb",
		"NVIDIA-GeForce-RTX-4090": "rtx-4090", "Tesla-V100-SXM2-16GB": "v100-sxm2-16gb", "NVIDIA_L4": "l4",
	} {
		if got := gpuTypeOf(in); got != want {
			t.Errorf("gpuTypeOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Namespace: "Bad_NS", ImagePullPolicy: "Sometimes", MasterPort: 70000, Labels: map[string]string{"ok": "a b"},
		Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}}
	err := c.Validate()
	for _, field := range []string{"image:", "namespace:", "image-pull-policy:", "master-port:", "label:", "toleration:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate = %v, want a problem with %s", err, field)
		}
	}
	good := testConfig()
	if err := good.Validate(); err != nil {
		t.Errorf("Validate of a good config = %v", err)
	}
}

func TestParseToleration(t *testing.T) {
	for in, want := range map[string]corev1.Toleration{
		"dedicated=ml:NoSchedule":   {Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "ml", Effect: corev1.TaintEffectNoSchedule},
		"nvidia.com/gpu:NoSchedule": {Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		"spot":                      {Key: "spot", Operator: corev1.TolerationOpExists},
	} {
		got, err := ParseToleration(in)
		if err != nil || got != want {
			t.Errorf("ParseToleration(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", ":NoSchedule", "k:Never", "bad key=v"} {
		if _, err := ParseToleration(bad); err == nil {
			t.Errorf("ParseToleration(%q) succeeded", bad)
		}
	}
}
