package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/minio/minio-go/v7"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/internal/s3test"
)

// `trainyard migrate` moves what a server on SQLite and local disk holds
// into a real PostgreSQL and a real S3-compatible server, and `trainyard
// up --db postgres://... --artifacts s3://...` then serves the same run:
// its metrics exactly, its artifact through both APIs, its MLflow
// artifact URI. The source server always runs on the embedded defaults
// (it is started here, not by startServer), so the test is the same in
// every mode of the suite; make test runs it once, in test-go.
func TestMigrateToPostgresAndS3(t *testing.T) {
	ctx := context.Background()
	s3srv, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	if err := s3srv.NewBucket(ctx, "moved"); err != nil {
		t.Fatal(err)
	}
	for _, kv := range s3srv.Env() { // for migrate and the new server
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}

	src := &server{t: t, Data: t.TempDir()}
	src.start()
	t.Cleanup(func() { src.stop(syscall.SIGTERM) })
	run, err := src.C.CreateRun(ctx, trainyard.NewRun{Project: "moving", Name: "before the move", Config: map[string]any{"lr": 0.1, "opt": "adam"},
		Tags: map[string]string{"team": "cv"}})
	if err != nil {
		t.Fatal(err)
	}
	var steps, values []string
	for i := range 5000 {
		steps = append(steps, fmt.Sprint(i))
		values = append(values, fmt.Sprintf("%.17g", rand.NormFloat64()))
	}
	values[7], values[8], values[9] = `"NaN"`, `"Infinity"`, "5e-324"
	body := `{"series":[{"key":"train/loss","steps":[` + strings.Join(steps, ",") + `],"values":[` + strings.Join(values, ",") + `]}]}`
	if _, err := src.C.AppendMetrics(ctx, run.ID, []byte(body)); err != nil {
		t.Fatal(err)
	}
	weights := make([]byte, 6<<20+7)
	for i := range weights {
		weights[i] = byte(rand.IntN(256))
	}
	if _, err := src.C.PutArtifact(ctx, run.ID, "model/weights.bin", bytes.NewReader(weights)); err != nil {
		t.Fatal(err)
	}
	wantRun, err := src.C.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantSeries, err := src.C.Metric(ctx, run.ID, "train/loss", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(wantSeries.Values) != 5000 {
		t.Fatalf("the source serves %d points; want 5000", len(wantSeries.Values))
	}
	wantURI := mlflowArtifactURI(t, src.URL, run.ID)

	migrate := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"migrate"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	db := pgtest.NewDatabase(t)
	const artifacts = "s3://moved/team"

	// Refused while the server runs on the source.
	out, errs, code := migrate("--from", src.Data, "--to", db, "--artifacts", artifacts)
	if code == 0 || !strings.Contains(errs, "running") || !strings.Contains(errs, "trainyard down") {
		t.Fatalf("migrate while the server runs: exit %d\n%s%s\nwant it refused, saying to stop the server", code, out, errs)
	}
	src.stop(syscall.SIGTERM)

	// Bad input names itself.
	for _, tc := range []struct{ args, want []string }{
		{[]string{"--from", src.Data, "--to", "mysql://u@h/db"}, []string{"mysql://u@h/db", "PostgreSQL"}},
		{[]string{"--from", src.Data, "--to", db, "--artifacts", "gs://b/p"}, []string{"gs://b/p", "s3://"}},
		{[]string{"--from", src.Data + "-absent", "--to", db}, []string{src.Data + "-absent"}},
	} {
		out, errs, code := migrate(tc.args...)
		if code == 0 {
			t.Errorf("migrate %v: exit 0\n%s%s", tc.args, out, errs)
		}
		for _, w := range tc.want {
			if !strings.Contains(errs, w) {
				t.Errorf("migrate %v: %s\nwant it to name %q", tc.args, errs, w)
			}
		}
	}

	out, errs, code = migrate("--from", src.Data, "--to", db, "--artifacts", artifacts)
	t.Logf("migrate:\n%s%s", out, errs)
	if code != 0 {
		t.Fatalf("migrate: exit %d", code)
	}
	for _, w := range []string{"CHECK", "runs", "metric points", "artifact files", "artifact bytes", "trainyard up --data"} {
		if !strings.Contains(out, w) {
			t.Errorf("migrate's output does not say %q", w)
		}
	}
	if strings.Contains(out, "MISMATCH") {
		t.Errorf("the check found a mismatch")
	}
	for _, w := range []string{"chunks", "artifacts", "100%"} {
		if !strings.Contains(errs, w) {
			t.Errorf("migrate's progress does not show %q", w)
		}
	}
	out, errs, code = migrate("--from", src.Data, "--to", db, "--artifacts", artifacts)
	if code == 0 || !strings.Contains(errs, "already holds data") {
		t.Errorf("migrate into the same database again: exit %d\n%s%s\nwant it refused", code, out, errs)
	}

	// The artifact is an object in the bucket now.
	c, err := s3srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.StatObject(ctx, "moved", "team/"+run.ID+"/model/weights.bin", minio.StatObjectOptions{}); err != nil || st.Size != int64(len(weights)) {
		t.Fatalf("the artifact in S3: %+v, %v", st, err)
	}

	// A server on PostgreSQL and S3, on a new data directory: nothing of
	// the old one can answer.
	dst := &server{t: t, Data: t.TempDir(), args: []string{"--db", db, "--artifacts", artifacts}}
	dst.start()
	t.Cleanup(func() { dst.stop(syscall.SIGTERM) })
	gotRun, err := dst.C.Run(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	floats := cmp.Comparer(func(a, b trainyard.Float) bool { return a == b || (a != a && b != b) })
	if d := cmp.Diff(wantRun, gotRun, floats); d != "" {
		t.Errorf("the run after the move (-before +after):\n%s", d)
	}
	gotSeries, err := dst.C.Metric(ctx, run.ID, "train/loss", nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantSeries, gotSeries, floats); d != "" {
		t.Errorf("the metric after the move (-before +after):\n%s", d)
	}
	r, err := dst.C.Artifact(ctx, run.ID, "model/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, weights) {
		t.Fatalf("the artifact after the move: %d bytes, %v; want the %d uploaded", len(got), err, len(weights))
	}
	if uri := mlflowArtifactURI(t, dst.URL, run.ID); uri != wantURI {
		t.Errorf("MLflow's artifact_uri after the move is %q; before it was %q", uri, wantURI)
	}
	// Through MLflow's artifact proxy, at the run's artifact URI.
	proxy := dst.URL + "/api/2.0/mlflow-artifacts/artifacts/" + strings.TrimPrefix(strings.TrimPrefix(wantURI, "mlflow-artifacts:"), "/") + "/model/weights.bin"
	resp, err := http.Get(proxy)
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, weights) {
		t.Errorf("GET %s: %s, %d bytes, %v; want the %d uploaded", proxy, resp.Status, len(got), err, len(weights))
	}
	// And the moved run takes new points.
	if _, err := dst.C.AppendMetrics(ctx, run.ID, []byte(`{"series":[{"key":"train/loss","steps":[5000],"values":[0.5]}]}`)); err != nil {
		t.Fatal(err)
	}
	if s, err := dst.C.Metric(ctx, run.ID, "train/loss", nil); err != nil || s.Total != 5001 {
		t.Errorf("after one more point: %v, %v; want 5001 points", s.Total, err)
	}
}

// mlflowArtifactURI is the run's artifact_uri as MLflow's API answers it.
func mlflowArtifactURI(t *testing.T, base, runID string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/2.0/mlflow/runs/get?run_id=" + runID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("runs/get: %s\n%s", resp.Status, b)
	}
	var got struct {
		Run struct {
			Info struct {
				ArtifactURI string `json:"artifact_uri"`
			} `json:"info"`
		} `json:"run"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.Run.Info.ArtifactURI == "" {
		t.Fatalf("runs/get answers no artifact_uri (%v): %s", err, b)
	}
	uri := got.Run.Info.ArtifactURI
	return uri
}
