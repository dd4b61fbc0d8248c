package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	batchv1client "k8s.io/client-go/kubernetes/typed/batch/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/trainyard/trainyard"
)

var _ trainyard.Executor = (*Executor)(nil)

// Executor runs tasks as Kubernetes Jobs. It follows them through shared
// informers (one watch each on the namespace's Jobs and pods of this
// instance, one on nodes), never by polling, and streams pod logs into
// the runs' logs. It is safe for concurrent use; handles work across
// Executors and server restarts. Close stops it.
type Executor struct {
	cfg    Config
	client clients
	jobs   batchlisters.JobLister
	pods   cache.Indexer // by podsByTask
	nodes  corelisters.NodeLister
	warns  []string
	ctx    context.Context // ends at Close
	cancel context.CancelFunc

	mu      sync.Mutex
	changed map[string]chan struct{} // by Job name: closed at the next event about it
	gone    map[string]*batchv1.Job  // by Job name: deleted Jobs as last seen
	logs    map[string]*taskLogs     // by Job name: tasks whose logs are being copied
	streams sync.WaitGroup
	// streamsMu guards streamsClosed, set by Close before it waits for
	// streams: an informer event after that starts no new stream (a
	// WaitGroup must not grow from zero while it is waited on).
	streamsMu     sync.Mutex
	streamsClosed bool
}

const podsByTask = "task"

// clients are the two API groups the executor uses. (The whole clientset,
// and the informer factory, would add every API group: 20 MB of binary.)
type clients struct {
	batch batchv1client.BatchV1Interface
	core  corev1client.CoreV1Interface
}

func (c clients) BatchV1() batchv1client.BatchV1Interface { return c.batch }
func (c clients) CoreV1() corev1client.CoreV1Interface    { return c.core }

// New connects to the cluster, checks that the namespace's Jobs can be
// listed, and starts the informers; it returns once they hold a first
// listing (at most cfg.SyncTimeout). It returns EINVALID for a bad field
// of cfg and an error naming the cluster when it cannot be reached.
func New(cfg Config) (*Executor, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithREST(cfg, rc)
}

// restConfig reads the kubeconfig named by cfg (or the default places,
// or the in-cluster account).
func restConfig(cfg Config) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	over := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, trainyard.FieldError("kubeconfig", "%v", err)
	}
	return rc, nil
}

// NewWithREST is New with a client configuration already made.
func NewWithREST(cfg Config, rc *rest.Config) (*Executor, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	if rc.UserAgent == "" {
		rc.UserAgent = "trainyard"
	}
	// Informers hold the state; the client is for the few writes and for
	// log streams, which are long requests and must not queue behind the
	// default rate limit.
	rc.QPS, rc.Burst = 50, 100
	batch, err := batchv1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	core, err := corev1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	client := clients{batch: batch, core: core}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.SyncTimeout)
	defer cancel()
	if _, err := client.BatchV1().Jobs(cfg.Namespace).List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		return nil, fmt.Errorf("kubernetes at %s: list Jobs in namespace %s: %w", rc.Host, cfg.Namespace, err)
	}
	e := &Executor{cfg: cfg, client: client,
		changed: map[string]chan struct{}{}, gone: map[string]*batchv1.Job{}, logs: map[string]*taskLogs{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())

	sel := labels.SelectorFromSet(cfg.selectorLabels()).String()
	ours := func(o *metav1.ListOptions) { o.LabelSelector = sel }
	ji := cache.NewSharedIndexInformer(cache.NewFilteredListWatchFromClient(batch.RESTClient(), "jobs", cfg.Namespace, ours),
		&batchv1.Job{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	pi := cache.NewSharedIndexInformer(cache.NewFilteredListWatchFromClient(core.RESTClient(), "pods", cfg.Namespace, ours),
		&corev1.Pod{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc, podsByTask: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok && p.Labels[LabelTask] != "" {
				return []string{p.Labels[LabelTask]}, nil
			}
			return nil, nil
		}})
	ji.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.jobEvent(obj, false) },
		UpdateFunc: func(_, obj any) { e.jobEvent(obj, false) },
		DeleteFunc: func(obj any) { e.jobEvent(obj, true) },
	})
	pi.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.podEvent(obj, false) },
		UpdateFunc: func(_, obj any) { e.podEvent(obj, false) },
		DeleteFunc: func(obj any) { e.podEvent(obj, true) },
	})
	e.jobs, e.pods = batchlisters.NewJobLister(ji.GetIndexer()), pi.GetIndexer()
	informers := []cache.SharedIndexInformer{ji, pi}

	// Nodes are cluster-wide: a namespaced account may not list them.
	// Then Info has no nodes and says why.
	if _, err := core.Nodes().List(ctx, metav1.ListOptions{Limit: 1}); err != nil {
		e.warns = append(e.warns, fmt.Sprintf("cannot list the cluster's nodes (%v): trainyard cannot check that jobs fit; grant list and watch on nodes", err))
	} else {
		ni := cache.NewSharedIndexInformer(cache.NewListWatchFromClient(core.RESTClient(), "nodes", "", fields.Everything()),
			&corev1.Node{}, 0, cache.Indexers{})
		e.nodes = corelisters.NewNodeLister(ni.GetIndexer())
		informers = append(informers, ni)
	}
	if !cfg.Kueue {
		e.warns = append(e.warns, "multi-node jobs are not gang-scheduled without Kueue (--k8s-kueue): some of a job's pods may wait for room while the others run")
	}
	var synced []cache.InformerSynced
	for _, inf := range informers {
		go inf.RunWithContext(e.ctx)
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		e.Close()
		return nil, fmt.Errorf("kubernetes at %s: no listing of Jobs, pods and nodes within %s", rc.Host, cfg.SyncTimeout)
	}
	return e, nil
}

// Close stops the informers and the log streams (each saves how far it
// got, so that the next Executor resumes there).
func (e *Executor) Close() error {
	e.streamsMu.Lock()
	e.streamsClosed = true
	e.streamsMu.Unlock()
	e.cancel()
	e.streams.Wait()
	return nil
}

// addStream counts a new log stream for Close to wait for; false once
// Close has begun (then the stream must not start).
func (e *Executor) addStream() bool {
	e.streamsMu.Lock()
	defer e.streamsMu.Unlock()
	if e.streamsClosed {
		return false
	}
	e.streams.Add(1)
	return true
}

// Config returns the configuration in use, defaults filled in.
func (e *Executor) Config() Config { return e.cfg }

// Info lists the cluster's nodes that tasks can use: not cordoned, and
// with no NoSchedule or NoExecute taint the pods would not tolerate.
func (e *Executor) Info(ctx context.Context) (trainyard.ExecutorInfo, error) {
	info := trainyard.ExecutorInfo{Kind: "kubernetes", Places: true, Warnings: slices.Clone(e.warns)}
	if e.nodes == nil {
		return info, nil
	}
	ns, err := e.nodes.List(labels.Everything())
	if err != nil {
		return info, err
	}
	tols := e.cfg.tolerations(trainyard.Task{Resources: trainyard.Resources{GPUs: 1}})
	for _, n := range ns {
		if n.Spec.Unschedulable || !tolerates(tols, n.Spec.Taints) {
			continue
		}
		info.Nodes = append(info.Nodes, e.node(n))
	}
	sort.Slice(info.Nodes, func(i, j int) bool { return info.Nodes[i].Name < info.Nodes[j].Name })
	return info, nil
}

func tolerates(tols []corev1.Toleration, taints []corev1.Taint) bool {
	for i := range taints {
		t := &taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(tols, func(tol corev1.Toleration) bool { return tol.ToleratesTaint(klog.Background(), t, false) }) {
			return false
		}
	}
	return true
}

// node turns a Kubernetes node into what the scheduler sees: allocatable
// GPUs, CPUs (whole cores) and memory, its GPU type and pool.
func (e *Executor) node(n *corev1.Node) trainyard.Node {
	a := n.Status.Allocatable
	out := trainyard.Node{Name: n.Name, Labels: map[string]string{}}
	if q, ok := a[corev1.ResourceName(e.cfg.GPUResource)]; ok {
		for i := range int(q.Value()) {
			out.GPUs = append(out.GPUs, i)
		}
	}
	if q, ok := a[corev1.ResourceCPU]; ok {
		out.CPUs = int(q.MilliValue() / 1000)
	}
	if q, ok := a[corev1.ResourceMemory]; ok {
		out.Memory = trainyard.Bytes(q.Value())
	}
	for _, ad := range n.Status.Addresses {
		if ad.Type == corev1.NodeInternalIP {
			out.Addr = ad.Address
			break
		}
	}
	if v := n.Labels[e.cfg.GPUTypeLabel]; v != "" {
		out.Labels[trainyard.LabelGPUType] = gpuTypeOf(v)
	}
	if v := n.Labels[e.cfg.PoolLabel]; v != "" {
		out.Labels[trainyard.LabelPool] = v
	}
	return out
}

// gpuTypes are the values of the GPU-type label on the cluster's nodes.
func (e *Executor) gpuTypes() []string {
	if e.nodes == nil {
		return nil
	}
	ns, _ := e.nodes.List(labels.Everything())
	var out []string
	for _, n := range ns {
		if v := n.Labels[e.cfg.GPUTypeLabel]; v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// handle is what a Handle encodes: the Job by namespace, name and UID (a
// later Job of the same name is another task).
type handle struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"job"`
	UID       types.UID `json:"uid"`
}

func (h handle) encode() trainyard.Handle {
	b, _ := json.Marshal(h)
	return trainyard.Handle(b)
}

func decodeHandle(h trainyard.Handle) (handle, error) {
	var d handle
	if err := json.Unmarshal([]byte(h), &d); err != nil || d.Namespace == "" || d.Name == "" || d.UID == "" {
		return d, trainyard.Errorf(trainyard.EINVALID, "handle %q is not a Kubernetes executor's", h)
	}
	return d, nil
}

// Start creates the task's Job (and, for a multi-node task, its headless
// Service) and returns once the API server has stored them; the pods are
// scheduled and run later (Inspect tells). Starting an attempt whose Job
// exists already returns that Job's handle. It returns EINVALID (and
// writes why into the task's log) when the task cannot become a Job or
// the API server refuses it as invalid.
func (e *Executor) Start(ctx context.Context, t trainyard.Task) (trainyard.Handle, error) {
	job, err := e.cfg.BuildJob(t, e.gpuTypes())
	if err != nil {
		return "", e.refuse(t, err)
	}
	jobs := e.client.BatchV1().Jobs(e.cfg.Namespace)
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		created, err = jobs.Get(ctx, job.Name, metav1.GetOptions{})
		if err == nil && (created.Annotations[AnnotJobID] != t.JobID || created.Labels[LabelAttempt] != strconv.Itoa(t.Attempt) ||
			created.Labels[LabelInstance] != e.cfg.Instance) {
			return "", trainyard.Errorf(trainyard.ECONFLICT, "a Job named %s that is not this task's exists in namespace %s", job.Name, e.cfg.Namespace)
		}
		if err != nil {
			return "", fmt.Errorf("get Job %s: %w", job.Name, err)
		}
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err):
		return "", e.refuse(t, trainyard.Errorf(trainyard.EINVALID, "Kubernetes refused the Job: %s", apiMessage(err)))
	case err != nil:
		// The request may have reached the server: leave nothing behind.
		e.deleteQuietly(job.Name)
		return "", fmt.Errorf("create Job %s: %w", job.Name, err)
	}
	if max(t.Nodes, 1) > 1 {
		svc := e.cfg.BuildService(t, created)
		if _, err := e.client.CoreV1().Services(e.cfg.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			e.deleteQuietly(job.Name)
			return "", fmt.Errorf("create Service %s: %w", svc.Name, err)
		}
	}
	h := handle{Namespace: e.cfg.Namespace, Name: created.Name, UID: created.UID}
	e.follow(h, created)
	return h.encode(), nil
}

// refuse writes why t cannot start into its log and returns err.
func (e *Executor) refuse(t trainyard.Task, err error) error {
	if t.LogPath != "" {
		if os.MkdirAll(filepath.Dir(t.LogPath), 0o755) == nil {
			if f, ferr := os.OpenFile(t.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); ferr == nil {
				fmt.Fprintf(f, "trainyard: cannot start on Kubernetes: %v\n", err)
				f.Close()
			}
		}
	}
	return err
}

func apiMessage(err error) string {
	var s apierrors.APIStatus
	if errors.As(err, &s) {
		return s.Status().Message
	}
	return err.Error()
}

// deleteQuietly removes a Job Start could not finish setting up.
func (e *Executor) deleteQuietly(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := e.client.BatchV1().Jobs(e.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if err != nil && !apierrors.IsNotFound(err) {
		e.cfg.Logger.Error("kubernetes: could not delete a half-started Job", "job", name, "err", err)
	}
}

// Signal stops the task. SIGTERM deletes its Job with foreground
// propagation: Kubernetes sends SIGTERM to every pod and SIGKILL after
// the pods' grace period (KillGrace), and the Job goes once its pods have.
// SIGKILL also deletes the pods at once (grace 0). The signal is first
// recorded on the Job (AnnotSignal), so that the task's end reads as
// 128+signal. A task that has ended is left alone.
func (e *Executor) Signal(ctx context.Context, h trainyard.Handle, sig trainyard.Signal) error {
	d, err := decodeHandle(h)
	if err != nil {
		return err
	}
	if sig != trainyard.SIGTERM && sig != trainyard.SIGKILL {
		return trainyard.Errorf(trainyard.EINVALID, "signal %q: want SIGTERM or SIGKILL", sig)
	}
	ts, err := e.status(ctx, d)
	if err != nil || ts.Phase == trainyard.PhaseEnded {
		return err
	}
	jobs := e.client.BatchV1().Jobs(d.Namespace)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{AnnotSignal: string(sig)}, "uid": d.UID}})
	if _, err := jobs.Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) || apierrors.IsInvalid(err) {
			return nil // gone, or replaced by another Job of that name
		}
		return fmt.Errorf("mark Job %s for %s: %w", d.Name, sig, err)
	}
	del := metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationForeground),
		Preconditions: &metav1.Preconditions{UID: &d.UID}}
	if sig == trainyard.SIGKILL {
		del.GracePeriodSeconds = ptr.To(int64(0))
		// A Job's grace period is not its pods': delete them now.
		sel := labels.SelectorFromSet(map[string]string{LabelTask: d.Name}).String()
		err := e.client.CoreV1().Pods(d.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))},
			metav1.ListOptions{LabelSelector: sel})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete the pods of Job %s: %w", d.Name, err)
		}
	}
	if err := jobs.Delete(ctx, d.Name, del); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete Job %s: %w", d.Name, err)
	}
	return nil
}

// Wait blocks until the task has ended, and its pods' logs are copied
// (or a drain timeout passed), and returns how it ended. Transient API
// errors are retried until ctx ends.
func (e *Executor) Wait(ctx context.Context, h trainyard.Handle) (trainyard.ExitStatus, error) {
	d, err := decodeHandle(h)
	if err != nil {
		return trainyard.ExitStatus{}, err
	}
	backoff := time.Second
	for {
		ch := e.changes(d.Name)
		ts, err := e.status(ctx, d)
		switch {
		case err == nil && ts.Phase == trainyard.PhaseEnded:
			e.drainLogs(ctx, d.Name)
			return ts.Exit, nil
		case err != nil && ctx.Err() != nil:
			return trainyard.ExitStatus{}, ctx.Err()
		case err != nil:
			e.cfg.Logger.Warn("kubernetes: reading a Job's state", "job", d.Name, "err", err)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return trainyard.ExitStatus{}, ctx.Err()
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		select {
		case <-ch:
		case <-time.After(time.Minute): // a safety net; events wake us
		case <-ctx.Done():
			return trainyard.ExitStatus{}, ctx.Err()
		}
	}
}

// Inspect reports the task's phase from the informers' view: pending with
// the scheduler's message (or why a container waits, or Kueue), running
// with the pods' nodes by node rank, or ended with the exit of the first
// pod that failed.
func (e *Executor) Inspect(ctx context.Context, h trainyard.Handle) (trainyard.TaskStatus, error) {
	d, err := decodeHandle(h)
	if err != nil {
		return trainyard.TaskStatus{}, err
	}
	return e.status(ctx, d)
}

// status computes the task's status and makes sure its logs are being
// copied.
func (e *Executor) status(ctx context.Context, d handle) (trainyard.TaskStatus, error) {
	job, err := e.job(ctx, d)
	if err != nil {
		return trainyard.TaskStatus{}, err
	}
	if job == nil {
		e.mu.Lock()
		last := e.gone[d.Name]
		e.mu.Unlock()
		if last != nil && last.UID != d.UID {
			last = nil
		}
		return goneStatus(d.Name, last), nil
	}
	e.follow(d, job)
	// A Job being deleted (canceled) reads as it stands until it is gone:
	// its pods may take their grace period to stop.
	return jobStatus(job, e.taskPods(d)), nil
}

// job returns the task's Job as the informer holds it, or from the API
// server when the informer has not seen it yet (just created); nil when
// it no longer exists.
func (e *Executor) job(ctx context.Context, d handle) (*batchv1.Job, error) {
	if d.Namespace != e.cfg.Namespace {
		return nil, trainyard.Errorf(trainyard.EINVALID, "handle of namespace %s, but this executor works in %s", d.Namespace, e.cfg.Namespace)
	}
	j, err := e.jobs.Jobs(d.Namespace).Get(d.Name)
	if err == nil {
		if j.UID != d.UID {
			return nil, nil
		}
		return j, nil
	}
	e.mu.Lock()
	last := e.gone[d.Name]
	e.mu.Unlock()
	if last != nil && last.UID == d.UID {
		return nil, nil
	}
	j, err = e.client.BatchV1().Jobs(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get Job %s: %w", d.Name, err)
	case j.UID != d.UID:
		return nil, nil
	}
	return j, nil
}

// taskPods are the pods of the task's Job.
func (e *Executor) taskPods(d handle) []*corev1.Pod {
	objs, _ := e.pods.ByIndex(podsByTask, d.Name)
	var out []*corev1.Pod
	for _, o := range objs {
		p := o.(*corev1.Pod)
		if owned(p, d.UID) {
			out = append(out, p)
		}
	}
	return out
}

func owned(p *corev1.Pod, uid types.UID) bool {
	for _, r := range p.OwnerReferences {
		if r.UID == uid {
			return true
		}
	}
	return false
}

// Recover finds the Job of attempt ref.Attempt of job ref.JobID by its
// labels. It returns ENOTFOUND when there is none.
func (e *Executor) Recover(ctx context.Context, ref trainyard.TaskRef) (trainyard.Handle, error) {
	set := e.cfg.selectorLabels()
	set[LabelJobID] = labelValue(ref.JobID)
	set[LabelAttempt] = strconv.Itoa(ref.Attempt)
	sel := labels.SelectorFromSet(set)
	match := func(js []*batchv1.Job) (trainyard.Handle, bool) {
		for _, j := range js {
			if j.Annotations[AnnotJobID] == ref.JobID {
				h := handle{Namespace: j.Namespace, Name: j.Name, UID: j.UID}
				e.follow(h, j)
				return h.encode(), true
			}
		}
		return "", false
	}
	js, err := e.jobs.Jobs(e.cfg.Namespace).List(sel)
	if err != nil {
		return "", err
	}
	if h, ok := match(js); ok {
		return h, nil
	}
	// The informer may not have seen a Job created an instant ago.
	list, err := e.client.BatchV1().Jobs(e.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "", fmt.Errorf("list Jobs of job %s: %w", ref.JobID, err)
	}
	js = js[:0]
	for i := range list.Items {
		js = append(js, &list.Items[i])
	}
	if h, ok := match(js); ok {
		return h, nil
	}
	return "", trainyard.Errorf(trainyard.ENOTFOUND, "no Kubernetes Job for attempt %d of job %s", ref.Attempt, ref.JobID)
}

// Cleanup deletes an ended task's Job, its pods and its Service, once its
// logs are copied. It returns ECONFLICT while the task runs.
func (e *Executor) Cleanup(ctx context.Context, h trainyard.Handle) error {
	d, err := decodeHandle(h)
	if err != nil {
		return err
	}
	ts, err := e.status(ctx, d)
	if err != nil {
		return err
	}
	if ts.Phase != trainyard.PhaseEnded {
		return trainyard.Errorf(trainyard.ECONFLICT, "the Job %s is %s: stop it first", d.Name, ts.Phase)
	}
	e.drainLogs(ctx, d.Name)
	err = e.client.BatchV1().Jobs(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{
		PropagationPolicy: ptr.To(metav1.DeletePropagationBackground), Preconditions: &metav1.Preconditions{UID: &d.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete Job %s: %w", d.Name, err)
	}
	err = e.client.CoreV1().Services(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Service %s: %w", d.Name, err)
	}
	e.mu.Lock()
	l := e.logs[d.Name]
	delete(e.logs, d.Name)
	delete(e.gone, d.Name)
	e.mu.Unlock()
	if l != nil {
		l.finish()
	}
	return nil
}

// changes returns a channel closed at the next event about Job name.
func (e *Executor) changes(name string) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.changed[name]
	if !ok {
		ch = make(chan struct{})
		e.changed[name] = ch
	}
	return ch
}

func (e *Executor) notify(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ch, ok := e.changed[name]; ok {
		close(ch)
		delete(e.changed, name)
	}
}

// maxGone bounds the deleted Jobs remembered for Wait and Inspect.
const maxGone = 10000

func (e *Executor) jobEvent(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return
	}
	if deleted {
		e.mu.Lock()
		if len(e.gone) >= maxGone {
			for k := range e.gone {
				delete(e.gone, k)
				break
			}
		}
		e.gone[j.Name] = j
		e.mu.Unlock()
	}
	e.notify(j.Name)
}

func (e *Executor) podEvent(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	name := p.Labels[LabelTask]
	e.mu.Lock()
	l := e.logs[name]
	e.mu.Unlock()
	if l != nil {
		l.podEvent(p, deleted)
	}
	e.notify(name)
}

// follow starts copying the logs of the task of job, once per Executor.
func (e *Executor) follow(d handle, job *batchv1.Job) {
	path := job.Annotations[AnnotLogPath]
	if path == "" || e.ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	l, ok := e.logs[d.Name]
	if !ok {
		ranks, _ := strconv.Atoi(job.Annotations[AnnotRanks])
		l = newTaskLogs(e, d, path, ranks)
		e.logs[d.Name] = l
	}
	e.mu.Unlock()
	if !ok {
		for _, p := range e.taskPods(d) {
			l.podEvent(p, false)
		}
	}
}

// drainLogs waits until every started pod's log of the task is copied,
// at most logDrain.
func (e *Executor) drainLogs(ctx context.Context, name string) {
	e.mu.Lock()
	l := e.logs[name]
	e.mu.Unlock()
	if l == nil {
		return
	}
	for _, p := range e.taskPods(l.h) {
		l.podEvent(p, false)
	}
	ctx, cancel := context.WithTimeout(ctx, logDrain)
	defer cancel()
	l.wait(ctx)
}
