package kubernetes

// The tests of this package run against a real Kubernetes control plane
// that TestMain starts once (package k8stest): etcd, kube-apiserver,
// kube-controller-manager (the Job and garbage-collector controllers) and
// kube-scheduler, with kwok in place of kubelets. Jobs, Indexed Jobs,
// Services, GPU requests, node affinity, scheduling, deadlines, deletion
// and pod logs through the API server are the real thing; nothing
// executes inside a pod. kwok moves each pod's status as the task's
// environment tells it and serves pod logs from files the tests write.
// So the tests check what the executor asks of Kubernetes and how it
// follows what Kubernetes reports, not that a program runs in a pod.
//
// When the control plane cannot be built or started, every test of the
// package fails: they never skip.

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trainyard/trainyard/executor/kubernetes/k8stest"
)

// testCluster is the control plane the tests share.
var testCluster *k8stest.ControlPlane

const testNamespace = k8stest.Namespace

func TestMain(m *testing.M) {
	os.Exit(func() int {
		cp, err := k8stest.Start()
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the Kubernetes control plane these tests need did not start:\n%v\n", err)
			return 1
		}
		testCluster = cp
		defer cp.Stop()
		return m.Run()
	}())
}

// newExecutor returns an executor on the test cluster's namespace, closed
// at the end of the test.
func newExecutor(t *testing.T, cfg Config) *Executor {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "registry.example/trainyard-test:1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = testNamespace
	}
	if cfg.Instance == "" {
		cfg.Instance = "test"
	}
	e, err := NewWithREST(cfg, testCluster.REST)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// labelPods adds a label to every pod of Job name (kwok's pod-finish
// stage ends a KWOK_FOREVER pod labelled trainyard-test/finish).
func labelPods(t *testing.T, name, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods, err := testCluster.Client.CoreV1().Pods(testNamespace).List(ctx, metav1.ListOptions{LabelSelector: LabelTask + "=" + name})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) == 0 {
		t.Fatalf("no pods of %s to label", name)
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, key, value)
	for _, p := range pods.Items {
		if _, err := testCluster.Client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
