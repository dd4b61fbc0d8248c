// Package k8stest starts, for tests, a real Kubernetes control plane on
// this machine: etcd, kube-apiserver, kube-controller-manager (the Job,
// garbage-collector, namespace and service-account controllers) and
// kube-scheduler, built from the Go module proxy by the shared harness
// ../shared/kubernetes/local-control-plane.sh, with kwok in place of
// kubelets on two nodes of 8 nvidia.com/gpu, 32 CPUs and 256 GiB each.
//
// Jobs, Indexed Jobs, Services, GPU requests, node affinity, scheduling,
// deadlines, garbage collection and pod logs through the API server are
// the real thing; nothing executes inside a pod. kwok moves each pod's
// status as the task's environment says (kwok-pod-stages.yaml: KWOK_FOREVER,
// KWOK_RUN_FOR, KWOK_EXIT_CODE, KWOK_REASON, and the pod label
// trainyard-test/finish) and serves pod logs from files a test names
// through kwok's Logs resource (WriteLog).
//
// The binaries are built once (about 10 minutes on 2 cores) into BinDir,
// under a lock, so that `make k8s-control-plane` in CI and concurrent test
// runs build once; a control plane then starts in a few seconds.
package k8stest

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// The tests' pod stages, and kwok's Logs resource (from sigs.k8s.io/kwok
// v0.8.0, Apache-2.0).
var (
	//go:embed kwok-pod-stages.yaml
	podStages []byte
	//go:embed kwok-logs-crd.yaml
	logsCRD []byte
)

// Nodes of the control plane: gpu-node-1 and gpu-node-2.
const (
	Nodes       = 2
	GPUsPerNode = 8
	// Namespace is made for the tests, with its default service account.
	Namespace = "trainyard-test"
)

// ControlPlane is a running control plane.
type ControlPlane struct {
	Bin, Dir   string
	Kubeconfig string // DIR/kubeconfig: token auth, cluster-admin
	REST       *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
}

// BinDir is where the binaries are built and kept: $TRAINYARD_K8S_BIN, or
// ~/.cache/trainyard-k8s/v1.37.2.
func BinDir() string {
	if d := os.Getenv("TRAINYARD_K8S_BIN"); d != "" {
		return d
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "trainyard-k8s", "v1.37.2")
}

var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kwok-stages.yaml"}

// Harness finds local-control-plane.sh: $TRAINYARD_K8S_HARNESS, or
// shared/kubernetes/ next to the repository holding the working directory.
func Harness() (string, error) {
	if p := os.Getenv("TRAINYARD_K8S_HARNESS"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared", "kubernetes", "local-control-plane.sh")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("the harness is missing (the repository must sit next to shared/): %w", err)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: cannot find ../shared/kubernetes")
		}
		dir = parent
	}
}

// Build builds the binaries into bin unless they are there, holding a
// lock (bin.lock) meanwhile; its output goes to bin.build.log.
func Build(harness, bin string) error {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	missing := false
	for _, b := range binaries {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	fmt.Fprintf(os.Stderr, "k8stest: building the Kubernetes control plane into %s (about 10 minutes on 2 cores, once)\n", bin)
	logPath := bin + ".build.log"
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(harness, "build", bin)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logPath)
		if len(out) > 4000 {
			out = out[len(out)-4000:]
		}
		return fmt.Errorf("%s build %s: %v\n%s", harness, bin, err, out)
	}
	return nil
}

// Start builds the binaries if needed and starts a control plane in a new
// temporary directory. The error says why it could not, with the end of
// each component's log.
func Start() (cp *ControlPlane, err error) {
	harness, err := Harness()
	if err != nil {
		return nil, err
	}
	bin := BinDir()
	if err := Build(harness, bin); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "trainyard-k8s-")
	if err != nil {
		return nil, err
	}
	cp = &ControlPlane{Bin: bin, Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	defer func() {
		if err != nil {
			logs := cp.componentLogs()
			cp.Stop()
			err = fmt.Errorf("%w\n%s", err, logs)
		}
	}()
	out, err := exec.Command(harness, "start", bin, dir, strconv.Itoa(Nodes), strconv.Itoa(GPUsPerNode)).CombinedOutput()
	if err != nil {
		return cp, fmt.Errorf("%s start: %v\n%s", harness, err, out)
	}
	if cp.REST, err = clientcmd.BuildConfigFromFlags("", cp.Kubeconfig); err != nil {
		return cp, err
	}
	cp.REST.QPS, cp.REST.Burst = 100, 200
	if cp.Client, err = kubernetes.NewForConfig(cp.REST); err != nil {
		return cp, err
	}
	if cp.Dynamic, err = dynamic.NewForConfig(cp.REST); err != nil {
		return cp, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cp.kwokWithTestStages(ctx); err != nil {
		return cp, fmt.Errorf("kwok with the tests' stages: %w", err)
	}
	if err := cp.createNamespace(ctx); err != nil {
		return cp, err
	}
	return cp, nil
}

var logsResource = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// kwokWithTestStages replaces the harness's kwok (whose pods all succeed
// at once) with one that runs the tests' pod stages and serves pod logs:
// its kubelet port on 127.0.0.1, the nodes' addresses pointing there, and
// kwok's Logs resource installed.
func (cp *ControlPlane) kwokWithTestStages(ctx context.Context) error {
	if err := cp.stopPid("kwok"); err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(logsCRD, &obj); err != nil {
		return err
	}
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := cp.Dynamic.Resource(crdRes).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("install kwok's Logs resource: %w", err)
	}
	if err := poll(ctx, func() (bool, error) {
		u, err := cp.Dynamic.Resource(crdRes).Get(ctx, "logs.kwok.x-k8s.io", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("kwok's Logs resource established: %w", err)
	}

	// The harness's node stages, the tests' pod stages.
	all, err := os.ReadFile(filepath.Join(cp.Bin, "kwok-stages.yaml"))
	if err != nil {
		return err
	}
	var stages []string
	for _, doc := range strings.Split(string(all), "\n---") {
		if strings.Contains(doc, "kind: Node") {
			stages = append(stages, strings.TrimSpace(doc))
		}
	}
	stages = append(stages, string(podStages))
	conf := filepath.Join(cp.Dir, "kwok-test-stages.yaml")
	if err := os.WriteFile(conf, []byte(strings.Join(stages, "\n---\n")), 0o644); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(cp.Dir, "log", "kwok-test.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(filepath.Join(cp.Bin, "kwok"), "--kubeconfig="+cp.Kubeconfig, "--config="+conf,
		"--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--cidr=10.0.0.1/24", "--node-ip=127.0.0.1", "--node-port="+strconv.Itoa(port),
		"--server-address=127.0.0.1:"+strconv.Itoa(port), "--enable-crds=Logs")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	// local-control-plane.sh stop ends it with the rest.
	if err := os.WriteFile(filepath.Join(cp.Dir, "kwok.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	go cmd.Wait()
	if err := poll(ctx, func() (bool, error) {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
		}
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("kwok's kubelet port %d: %w", port, err)
	}

	// Point the API server's log requests at kwok: the nodes were set up
	// by the harness's kwok with a made-up address and no kubelet port.
	nodes, err := cp.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"status":{"addresses":[{"type":"InternalIP","address":"127.0.0.1"},{"type":"Hostname","address":"127.0.0.1"}],"daemonEndpoints":{"kubeletEndpoint":{"Port":%d}}}}`, port)
	for _, n := range nodes.Items {
		if _, err := cp.Client.CoreV1().Nodes().PatchStatus(ctx, n.Name, []byte(patch)); err != nil {
			return fmt.Errorf("patch node %s: %w", n.Name, err)
		}
	}
	return nil
}

func (cp *ControlPlane) createNamespace(ctx context.Context) error {
	_, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	// Pods are refused until the service-account controller has made the
	// namespace's default account.
	return poll(ctx, func() (bool, error) {
		_, err := cp.Client.CoreV1().ServiceAccounts(Namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// WriteLog makes file the container log of pod in Namespace, as kwok
// serves it through the API server's pods/log. The file is in the CRI
// format a kubelet keeps (AppendLog writes it).
func (cp *ControlPlane) WriteLog(ctx context.Context, pod, container, file string) error {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
		"metadata": map[string]any{"name": pod, "namespace": Namespace},
		"spec": map[string]any{"logs": []any{map[string]any{
			"containers": []any{container}, "logsFile": file, "follow": true}}},
	}}
	_, err := cp.Dynamic.Resource(logsResource).Namespace(Namespace).Create(ctx, obj, metav1.CreateOptions{})
	return err
}

// AppendLog appends lines to a container log in the CRI format, all
// stamped at.
func AppendLog(file string, at time.Time, lines ...string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, l := range lines {
		fmt.Fprintf(&b, "%s stdout F %s\n", at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00"), l)
	}
	_, err = f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// stopPid ends a component the harness started (its pid is in DIR/NAME.pid).
func (cp *ControlPlane) stopPid(name string) error {
	b, err := os.ReadFile(filepath.Join(cp.Dir, name+".pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s.pid: %w", name, err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	return nil
}

// Stop ends every component and removes the directory (kept when
// $TRAINYARD_K8S_KEEP is set, for its logs).
func (cp *ControlPlane) Stop() {
	if h, err := Harness(); err == nil {
		exec.Command(h, "stop", cp.Dir).Run()
	}
	if os.Getenv("TRAINYARD_K8S_KEEP") == "" {
		os.RemoveAll(cp.Dir)
	}
}

// componentLogs is the end of each component's log, for a failure.
func (cp *ControlPlane) componentLogs() string {
	var b bytes.Buffer
	files, _ := filepath.Glob(filepath.Join(cp.Dir, "log", "*.log"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if len(data) > 1500 {
			data = data[len(data)-1500:]
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(f), data)
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// poll calls cond every 50 ms until it holds, fails or ctx ends.
func poll(ctx context.Context, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
