package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard/internal/s3test"
)

// `trainyard up --artifacts s3://...` checks the bucket before it serves:
// a missing bucket, refused credentials and an endpoint that does not
// answer each stop it with an error that names what is wrong, against a
// real S3-compatible server (this package's, with
// TRAINYARD_TEST_ARTIFACTS=s3; one of its own otherwise).
func TestUpRefusesBadS3Artifacts(t *testing.T) {
	srv, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.NewBucket(context.Background(), "present"); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) []string {
		var out []string
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "AWS_") {
				out = append(out, e)
			}
		}
		return append(append(out, srv.Env()...), kv...)
	}
	for _, tc := range []struct {
		name, uri string
		env       []string
		want      []string
	}{
		{"missing bucket", "s3://absent/x", env(), []string{"absent", "does not exist"}},
		{"wrong secret", "s3://present/x", env("AWS_SECRET_ACCESS_KEY=wrong"), []string{"present", "credentials"}},
		{"unknown key", "s3://present/x", env("AWS_ACCESS_KEY_ID=nobody"), []string{"present", "credentials"}},
		{"no server", "s3://present/x", env("AWS_ENDPOINT_URL=http://" + freePort(t)), []string{"present", "AWS_ENDPOINT_URL"}},
		{"bad bucket name", "s3://Bad_Bucket/x", env(), []string{"Bad_Bucket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "up", "--data", t.TempDir(), "--addr", freePort(t), "--nvidia-smi", "none", "--artifacts", tc.uri)
			cmd.Env = tc.env
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("up --artifacts %s started:\n%s", tc.uri, out)
			}
			if ctx.Err() != nil {
				t.Fatalf("up --artifacts %s did not stop in 2 minutes:\n%s", tc.uri, out)
			}
			t.Logf("%s", out)
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("up --artifacts %s: %v\n%s\nwant it to say %q", tc.uri, err, out, w)
				}
			}
		})
	}
}
