package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// TestAcknowledgedPointsSurviveKill9 sends metric batches from several
// clients, kills the server with SIGKILL in the middle, restarts it and
// checks that every batch the server acknowledged is there.
func TestAcknowledgedPointsSurviveKill9(t *testing.T) {
	s := startServer(t)
	run, err := s.C.CreateRun(ctx, trainyard.NewRun{Project: "durable"})
	if err != nil {
		t.Fatal(err)
	}
	const writers, batch = 8, 500
	acked := make([]int, writers) // batches acknowledged per writer
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; ; b++ {
				select {
				case <-stop:
					return
				default:
				}
				var sb strings.Builder
				sb.WriteString(`{"series":[{"key":"w` + fmt.Sprint(w) + `","steps":[`)
				for i := range batch {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprint(&sb, b*batch+i)
				}
				sb.WriteString(`],"values":[`)
				for i := range batch {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, "%d.5", b*batch+i)
				}
				sb.WriteString(`]}]}`)
				if _, err := s.C.AppendMetrics(ctx, run.ID, []byte(sb.String())); err != nil {
					return // the server is gone: this batch was not acknowledged
				}
				acked[w] = b + 1
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	s.stop(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	s.restart()

	total := 0
	for w := range writers {
		total += acked[w]
		ser, err := s.C.Metric(ctx, run.ID, fmt.Sprint("w", w), url.Values{})
		if acked[w] == 0 {
			continue
		}
		if err != nil {
			t.Fatalf("writer %d had %d batches acknowledged; reading them: %v", w, acked[w], err)
		}
		want := acked[w] * batch
		// Batches answered after the kill began may be there too, never fewer.
		if len(ser.Steps) < want || len(ser.Steps)%batch != 0 {
			t.Fatalf("writer %d: %d points after restart, %d acknowledged", w, len(ser.Steps), want)
		}
		for i := range want {
			if ser.Steps[i] != int64(i) || float64(ser.Values[i]) != float64(i)+0.5 {
				t.Fatalf("writer %d point %d = (%d, %v)", w, i, ser.Steps[i], ser.Values[i])
			}
		}
	}
	if total < writers {
		t.Fatalf("only %d batches were acknowledged before the kill; the test proves little", total)
	}
	t.Logf("%d batches of %d points acknowledged before SIGKILL; all present after restart", total, batch)
}

// TestRunningJobsSurviveServerRestart kills the server while jobs run:
// after a restart it re-attaches to the one still running and records the
// real exit code of the one that ended while it was down.
func TestRunningJobsSurviveServerRestart(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	submit := func(name, script string) string {
		out, stderr, code := s.cli(dir, "run", "--name", name, "--", "sh", "-c", script)
		if code != 0 {
			t.Fatalf("%s", stderr)
		}
		return strings.TrimSpace(out)
	}
	long := submit("long", "echo start; sleep 4; echo end; exit 7")
	short := submit("short", "sleep 1; exit 5")
	eventually(t, 10*time.Second, "both to run", func() bool {
		js, _ := s.C.Jobs(ctx, trainyard.JobFilter{State: trainyard.StateRunning})
		return len(js) == 2 && js[0].BackendID != "" && js[1].BackendID != ""
	})
	s.stop(syscall.SIGKILL)
	time.Sleep(2 * time.Second) // short ends while the server is down
	s.restart()

	j, _ := s.C.Job(ctx, short)
	if j.State != trainyard.StateFailed || j.ExitCode == nil || *j.ExitCode != 5 {
		t.Errorf("job that ended while the server was down = %s %v %q", j.State, j.ExitCode, j.Reason)
	}
	j, _ = s.C.Job(ctx, long)
	if j.State != trainyard.StateRunning {
		t.Errorf("still-running job after restart = %s %q", j.State, j.Reason)
	}
	eventually(t, 20*time.Second, "the re-attached job to end", func() bool {
		j, _ := s.C.Job(ctx, long)
		return j.State.Terminal()
	})
	j, _ = s.C.Job(ctx, long)
	if j.State != trainyard.StateFailed || j.ExitCode == nil || *j.ExitCode != 7 {
		t.Errorf("re-attached job = %s %v %q", j.State, j.ExitCode, j.Reason)
	}
	logs, _, _ := s.cli(dir, "logs", long)
	if !strings.Contains(logs, "start") || !strings.Contains(logs, "end") {
		t.Errorf("log of the re-attached job:\n%s", logs)
	}
}

func TestTokenGuardsEverything(t *testing.T) {
	s := startServer(t, "--token=s3cret")
	for _, path := range []string{"/api/v1/health", "/api/v1/runs", "/api/v1/openapi.json", "/api/2.0/mlflow/experiments/search", "/health"} {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("GET %s without token: %d, want 401", path, resp.StatusCode)
		}
	}
	// The UI's shell loads without it, so that the UI can ask for it.
	if resp, err := http.Get(s.URL + "/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET / without token: %v %v, want the UI's shell", resp, err)
	} else {
		resp.Body.Close()
	}
	dir := t.TempDir()
	out, stderr, code := s.cli(dir, "run", "--wait", "--", "sh", "-c", `test -n "$TRAINYARD_TOKEN" && echo has-token`)
	if code != 0 || !strings.Contains(out, "has-token") {
		t.Errorf("job with token: exit %d %q %q", code, out, stderr)
	}
	s.C.Token = "wrong"
	if _, err := s.C.Runs(ctx, trainyard.RunFilter{}); err == nil || !strings.Contains(err.Error(), "token") {
		t.Errorf("wrong token: %v", err)
	}
}
