package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// Connections and what they may hold: the tests behind issue 8's item 6
// (2,000 slow-body connections held 45 s+, 10,000 idle keep-alive
// connections kept forever, no new client past the open-file limit).

// dialRequest opens a connection and sends head (and no more).
func dialRequest(t *testing.T, url, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if head != "" {
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// closedBy reports whether the server has closed c by the deadline.
func closedBy(c net.Conn, deadline time.Time) bool {
	c.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // an answer before the close
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

// roundTrip sends a GET on c and reads the answer's status.
func roundTrip(c net.Conn, r *bufio.Reader, path string) (int, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func openFDs(t *testing.T, pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

func TestSlowBodiesAndIdleConnectionsAreClosed(t *testing.T) {
	s := startServer(t, "--read-timeout=1s", "--idle-timeout=1s")
	run, err := s.C.CreateRun(context.Background(), trainyard.NewRun{Project: "limits"})
	if err != nil {
		t.Fatal(err)
	}
	// Clients that send a body slowly, unauthenticated or not, and clients
	// that send half their headers.
	var slow []net.Conn
	for range 50 {
		slow = append(slow, dialRequest(t, s.URL, "POST /api/v1/runs/"+run.ID+"/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n{\"points\":["))
		slow = append(slow, dialRequest(t, s.URL, "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n"))
	}
	// Clients that keep their connection alive after a request, and
	// then say nothing.
	var idle []net.Conn
	for range 50 {
		c := dialRequest(t, s.URL, "")
		if st, err := roundTrip(c, bufio.NewReader(c), "/api/v1/health"); err != nil || st != 200 {
			t.Fatalf("health: %d %v", st, err)
		}
		idle = append(idle, c)
	}
	deadline := time.Now().Add(5 * time.Second) // 1 s timeouts, and a margin for a busy machine
	for i, c := range slow {
		if !closedBy(c, deadline) {
			t.Fatalf("slow client %d still held after 5 s with a 1 s read timeout", i)
		}
	}
	for i, c := range idle {
		if !closedBy(c, deadline) {
			t.Fatalf("idle client %d still held after 5 s with a 1 s idle timeout", i)
		}
	}
	// The slow metric bodies stored nothing.
	r, err := s.C.Run(context.Background(), run.ID)
	if err != nil || len(r.Metrics) != 0 {
		t.Fatalf("%v %v", r.Metrics, err)
	}
}

// At the connection cap, idle keep-alive connections make room for new
// clients, and when every connection is busy a new one is told 503 at
// once; the server never holds more than the cap.
func TestTheConnectionCapKeepsTheServerAnswering(t *testing.T) {
	const maxConns = 40
	s := startServer(t, fmt.Sprintf("--max-connections=%d", maxConns), "--idle-timeout=10m", "--read-timeout=1m")
	pid := s.cmd.Process.Pid
	base := openFDs(t, pid)
	// Five times the cap in kept-alive connections, each used once.
	for i := range 5 * maxConns {
		c := dialRequest(t, s.URL, "")
		if st, err := roundTrip(c, bufio.NewReader(c), "/api/v1/health"); err != nil || st != 200 {
			t.Fatalf("client %d: %d %v", i, st, err)
		}
	}
	if n := openFDs(t, pid); n > base+maxConns+5 {
		t.Fatalf("the server holds %d file descriptors (%d at rest, cap %d)", n, base, maxConns)
	}
	// The cap's worth of busy connections (bodies still coming), once the
	// server has marked the kept-alive ones idle (just after it answered)...
	time.Sleep(300 * time.Millisecond)
	for range maxConns {
		dialRequest(t, s.URL, "POST /api/v1/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{")
	}
	time.Sleep(300 * time.Millisecond)
	// ...and a new client hears at once that the server is full.
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(s.URL + "/api/v1/health")
	if err != nil {
		t.Fatalf("a client at the cap: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "retry") || time.Since(start) > 2*time.Second {
		t.Fatalf("a client at the cap: %d %s after %v; want 503 at once", resp.StatusCode, b, time.Since(start))
	}
	if n := openFDs(t, pid); n > base+maxConns+5 {
		t.Fatalf("the server holds %d file descriptors (%d at rest, cap %d)", n, base, maxConns)
	}
}

// Streams run as long as they move, longer than the timeouts: a followed
// log, an upload and a download each take several times the read and
// write timeouts.
func TestStreamsOutliveTheTimeouts(t *testing.T) {
	s := startServer(t, "--read-timeout=1s", "--write-timeout=1s")
	ctx := context.Background()
	run, err := s.C.CreateRun(ctx, trainyard.NewRun{Project: "limits"})
	if err != nil {
		t.Fatal(err)
	}
	// A followed log, written to every 300 ms for 3 s.
	follow, err := s.C.Logs(ctx, run.ID, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := range 10 {
			s.C.AppendLog(ctx, run.ID, []byte(fmt.Sprintf("line %d\n", i)))
			time.Sleep(300 * time.Millisecond)
		}
		done := trainyard.StateSucceeded
		s.C.UpdateRun(ctx, run.ID, trainyard.RunUpdate{State: &done})
	}()
	got, err := io.ReadAll(follow)
	follow.Close()
	if err != nil || !strings.Contains(string(got), "line 9\n") {
		t.Fatalf("followed log: %q %v", got, err)
	}
	// An upload that sends 64 KiB every 200 ms for 3 s.
	pr, pw := io.Pipe()
	want := bytes.Repeat([]byte("0123456789abcdef"), 15*4096)
	go func() {
		for off := 0; off < len(want); off += 64 << 10 {
			pw.Write(want[off:min(len(want), off+64<<10)])
			time.Sleep(200 * time.Millisecond)
		}
		pw.Close()
	}()
	start := time.Now()
	info, err := s.C.PutArtifact(ctx, run.ID, "slow/upload.bin", pr)
	if err != nil || info.Size != int64(len(want)) {
		t.Fatalf("slow upload: %+v %v", info, err)
	}
	if time.Since(start) < 2*time.Second {
		t.Fatalf("the upload took only %v", time.Since(start))
	}
	// A download read 64 KiB every 200 ms. The socket buffers hold some
	// of it, so the file is large enough that the reading takes seconds.
	big := bytes.Repeat([]byte("x"), 24<<20)
	if _, err := s.C.PutArtifact(ctx, run.ID, "big.bin", bytes.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	body, err := s.C.Artifact(ctx, run.ID, "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	start = time.Now()
	var n int64
	buf := make([]byte, 1<<20)
	for {
		m, err := io.ReadFull(body, buf)
		n += int64(m)
		if err != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n != int64(len(big)) || time.Since(start) < 3*time.Second {
		t.Fatalf("slow download: %d of %d bytes in %v", n, len(big), time.Since(start))
	}
}

// The server raises its soft open-file limit to the hard one (Go's runtime
// does, at start, to one less than the hard limit, so that it can tell its
// own setting from another's) and derives its connection cap from it; jobs
// get the limit the server was started with.
func TestOpenFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Max <= 1024 {
		t.Fatalf("the hard open-file limit is %d: this test needs more than 1024 to see the raise", lim.Max)
	}
	low := syscall.Rlimit{Cur: 1024, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var soft, hard string
	for _, line := range strings.Split(string(limits), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); strings.HasPrefix(line, "Max open files") && len(f) >= 2 {
			soft, hard = f[0], f[1]
		}
	}
	if soft != strconv.FormatUint(lim.Max-1, 10) || hard != strconv.FormatUint(lim.Max, 10) {
		t.Fatalf("server open-file limit soft %s hard %s; want %d and %d", soft, hard, lim.Max-1, lim.Max)
	}
	out, stderr, code := s.cli(t.TempDir(), "run", "--wait", "--", "sh", "-c", "ulimit -n")
	if code != 0 || strings.TrimSpace(out) != "1024" {
		t.Fatalf("a job's open-file limit: %q (exit %d, %s); want the 1024 the server was started with", out, code, stderr)
	}
}
