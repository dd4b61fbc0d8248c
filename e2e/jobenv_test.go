package e2e

import (
	"strings"
	"testing"
)

// Jobs start from the server's environment without the server's own
// settings (a TRAINYARD_<FLAG> of `trainyard up`: a database URL carries
// its password); once the server has users, jobs do not get the S3
// artifact store's AWS credentials either (with TRAINYARD_TEST_ARTIFACTS=s3
// the server takes them from the environment, as a user's would).
func TestJobsDoNotGetTheServersSettings(t *testing.T) {
	t.Setenv("TRAINYARD_LOG_LEVEL", "info") // a setting of `trainyard up`
	t.Setenv("E2E_KEPT", "yes")             // anything else is passed on
	s := startServer(t)
	dir := t.TempDir()
	show := []string{"run", "--wait", "--", "sh", "-c",
		`echo "LOG=${TRAINYARD_LOG_LEVEL-unset} KEPT=${E2E_KEPT-unset} URL=${TRAINYARD_URL:+set} AWS=${AWS_SECRET_ACCESS_KEY:+set}"`}
	job := func(s *server) string {
		t.Helper()
		out, stderr, code := s.cli(dir, show...)
		if code != 0 {
			t.Fatalf("job: exit %d\n%s%s", code, out, stderr)
		}
		return out
	}
	awsOpen := "AWS="
	if s3Artifacts != "" {
		awsOpen = "AWS=set" // one person's server: their credentials
	}
	out := job(s)
	if !strings.Contains(out, "LOG=unset KEPT=yes URL=set "+awsOpen) {
		t.Errorf("a job on an open server sees:\n%s", out)
	}

	out, stderr, code := s.cli(dir, "user", "add", "root", "--admin")
	if code != 0 {
		t.Fatalf("user add root: exit %d\n%s%s", code, out, stderr)
	}
	root := s.as(tokenRe.FindString(out))
	out = job(root)
	if !strings.Contains(out, "LOG=unset KEPT=yes URL=set AWS=\n") && !strings.HasSuffix(strings.TrimSpace(out), "LOG=unset KEPT=yes URL=set AWS=") {
		t.Errorf("a job on a server with users sees:\n%s", out)
	}
}
