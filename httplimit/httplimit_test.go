package httplimit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func TestBudgetHoldsAndWaits(t *testing.T) {
	b := NewBudget(100, 50*time.Millisecond)
	ctx := context.Background()
	rel, err := b.Acquire(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	// 60 + 60 > 100: the second waits, then is told to come back.
	if _, err := b.Acquire(ctx, 60); trainyard.ErrorCode(err) != trainyard.EUNAVAILABLE {
		t.Fatalf("over the budget: %v; want unavailable", err)
	}
	// More than the whole budget can never be had.
	if _, err := b.Acquire(ctx, 101); trainyard.ErrorCode(err) != trainyard.ETOOLARGE {
		t.Fatalf("over the whole budget: %v; want too_large", err)
	}
	// A waiter gets its share when it is released.
	got := make(chan error)
	go func() {
		r, err := NewBudgetView(b).Acquire(ctx, 60)
		if err == nil {
			r()
		}
		got <- err
	}()
	time.Sleep(10 * time.Millisecond)
	rel()
	rel() // a second release is a no-op
	if err := <-got; err != nil {
		t.Fatalf("after the release: %v", err)
	}
	// The whole budget is back.
	r, err := b.Acquire(ctx, 100)
	if err != nil {
		t.Fatalf("whole budget after the releases: %v", err)
	}
	r()
}

// NewBudgetView is b itself; it only makes the goroutine above read
// naturally.
func NewBudgetView(b *Budget) *Budget { return b }

// countingBody counts what a handler reads of a body.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}
func (c *countingBody) Close() error { return nil }

func TestReadBodyRefusesOversizeBeforeReading(t *testing.T) {
	b := NewBudget(1<<20, time.Second)
	body := &countingBody{r: strings.NewReader(strings.Repeat("x", 5000))}
	r := httptest.NewRequest("POST", "/", nil)
	r.Body, r.ContentLength = body, 5000
	_, _, err := b.ReadBody(httptest.NewRecorder(), r, 4096, 2)
	if trainyard.ErrorCode(err) != trainyard.ETOOLARGE || body.read.Load() != 0 {
		t.Fatalf("err %v after reading %d bytes; want too_large before reading", err, body.read.Load())
	}
	// Without a length it reads up to the limit and stops there.
	body = &countingBody{r: strings.NewReader(strings.Repeat("x", 50000))}
	r = httptest.NewRequest("POST", "/", nil)
	r.Body, r.ContentLength = body, -1
	_, _, err = b.ReadBody(httptest.NewRecorder(), r, 4096, 2)
	if trainyard.ErrorCode(err) != trainyard.ETOOLARGE || body.read.Load() > 4096+32<<10 {
		t.Fatalf("chunked: err %v after reading %d bytes", err, body.read.Load())
	}
	// Within the limit: the body, and the budget held until release.
	r = httptest.NewRequest("POST", "/", strings.NewReader("hello"))
	got, release, err := b.ReadBody(httptest.NewRecorder(), r, 4096, 3)
	if err != nil || string(got) != "hello" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := NewBudget(1<<20, 0).Acquire(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if b.sem.TryAcquire(1<<20 - 512*3 + 1) {
		t.Fatal("the body's share was not held")
	}
	release()
	if !b.sem.TryAcquire(1 << 20) {
		t.Fatal("the body's share was not given back")
	}
}

// Concurrent requests never hold more than the budget, however many come.
func TestBudgetBoundsConcurrentBodies(t *testing.T) {
	const total = 10 << 20
	b := NewBudget(total, 10*time.Second)
	var held, peak atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, release, err := b.ReadBody(w, r, 4<<20, 2)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		n := held.Add(int64(len(body)) * 2)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
		held.Add(-int64(len(body)) * 2)
		release()
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 3<<20)))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if peak.Load() > total {
		t.Fatalf("peak held %d > budget %d", peak.Load(), total)
	}
}

// rawServer serves h with Deadlines on a real listener, as trainyard up
// does, with the given http.Server settings.
func rawServer(t *testing.T, h http.Handler, to Timeouts, conns *Conns, idle time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Deadlines(h, to), ReadHeaderTimeout: to.Read, IdleTimeout: idle}
	if conns != nil {
		srv.ConnState = conns.ConnState
		ln = conns.Listener(ln)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// closedWithin reports whether the server closes c within d (a read
// returns EOF or an error other than our own timeout).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // an answer (408 or 400): keep reading to the close
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false
		}
		return true
	}
}

func TestSlowBodyIsCutOff(t *testing.T) {
	addr := rawServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}), Timeouts{Read: 300 * time.Millisecond, Write: time.Second}, nil, time.Minute)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
	start := time.Now()
	if !closedWithin(c, 3*time.Second) {
		t.Fatal("a connection that sends its body too slowly is held")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cut off after %v", d)
	}
}

// A stream may take longer than the timeouts as a whole, as long as each
// piece moves within them: an upload that sends something every 100 ms,
// and a download read the same way, for longer than the timeout.
func TestStreamsRunWhileTheyMove(t *testing.T) {
	const to = 300 * time.Millisecond
	addr := rawServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Stream(r)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for i := range 12 {
			fmt.Fprintf(w, "piece %d of %d\n", i, n)
			http.NewResponseController(w).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}), Timeouts{Read: to, Write: to}, nil, time.Minute)
	pr, pw := io.Pipe()
	go func() {
		for range 12 {
			pw.Write([]byte("0123456789"))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	start := time.Now()
	resp, err := http.Post("http://"+addr, "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(b), "piece 11 of 120") {
		t.Fatalf("stream: %q %v", b, err)
	}
	if time.Since(start) < 4*to {
		t.Fatalf("the stream took %v, not longer than the timeouts", time.Since(start))
	}
}

// A request that is not a stream must be answered within the write
// timeout, and a handler that works longer than the read timeout after
// reading its body is not cut off (its context stays alive).
func TestDeadlinesOfPlainRequests(t *testing.T) {
	addr := rawServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-time.After(500 * time.Millisecond): // longer than Read
		case <-r.Context().Done():
			http.Error(w, "context canceled", 500)
			return
		}
		w.Write([]byte("done"))
	}), Timeouts{Read: 200 * time.Millisecond, Write: 2 * time.Second}, nil, time.Minute)
	resp, err := http.Post("http://"+addr, "text/plain", strings.NewReader("body"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "done" {
		t.Fatalf("handler that works past the read timeout: %q", b)
	}
}

func TestIdleConnectionsMakeRoomAtTheCap(t *testing.T) {
	conns := NewConns(4)
	addr := rawServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(time.Second)
		}
		w.Write([]byte("ok"))
	}), Timeouts{Read: 5 * time.Second, Write: 5 * time.Second}, conns, time.Minute)
	get := func(c net.Conn, path string) string {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	// Four kept-alive connections, idle after a request each.
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := get(c, "/"); got != "200 ok" {
			t.Fatal(got)
		}
		idle = append(idle, c)
	}
	// A fifth client is served: the longest idle connection made room.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := get(c, "/"); got != "200 ok" {
		t.Fatalf("at the cap with idle connections: %s", got)
	}
	// One idle connection was closed to make room: the one idle longest
	// by the server's clock (the client may have read an answer before the
	// server marked that connection idle, so which one is not asserted).
	var kept []net.Conn
	for _, ic := range idle {
		if !closedWithin(ic, 300*time.Millisecond) {
			kept = append(kept, ic)
		}
	}
	if len(kept) != 3 {
		t.Fatalf("%d idle connections were closed to make room for one; want 1", 4-len(kept))
	}
	idle = append([]net.Conn{nil}, kept...)
	if open, _, evicted := conns.Stats(); open != 4 || evicted != 1 {
		t.Fatalf("open %d, evicted %d", open, evicted)
	}
	// Four busy connections: a new one is told 503 at once, not left
	// waiting.
	var wg sync.WaitGroup
	for i := 1; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); get(idle[i], "/slow") }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); get(c, "/slow") }()
	time.Sleep(200 * time.Millisecond)
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	start := time.Now()
	got := get(c2, "/")
	if !strings.HasPrefix(got, "503 ") || !strings.Contains(got, `"code":"unavailable"`) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("at the cap with every connection busy: %q after %v", got, time.Since(start))
	}
	wg.Wait()
	// Once they are idle again, new clients are served.
	c3, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if got := get(c3, "/"); got != "200 ok" {
		t.Fatalf("after the busy ones: %s", got)
	}
}

func TestIdleReturnsMemory(t *testing.T) {
	var i Idle
	h := i.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go i.Run(ctx, 50*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	if i.Returns() != 0 {
		t.Fatal("memory returned without any request")
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	deadline := time.Now().Add(2 * time.Second)
	for i.Returns() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if i.Returns() != 1 {
		t.Fatalf("returns %d after one request and idleness; want 1", i.Returns())
	}
	time.Sleep(200 * time.Millisecond)
	if i.Returns() != 1 {
		t.Fatal("returned again without new requests")
	}
}
