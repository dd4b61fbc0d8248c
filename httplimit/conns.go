package httplimit

import (
	"container/list"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Conns caps the connections an http.Server holds at once, so that it
// keeps file descriptors and memory for its own work (the database,
// artifacts, logs) and keeps answering. At the cap, a new connection takes
// the place of the connection that has been idle (kept alive between
// requests) the longest; when none is idle, the new connection is told
// 503 Service Unavailable at once and closed, rather than left waiting.
//
// Wire it with both hooks:
//
//	c := httplimit.NewConns(4096)
//	srv := &http.Server{Handler: h, ConnState: c.ConnState}
//	srv.Serve(c.Listener(ln))
type Conns struct {
	max int

	mu    sync.Mutex
	open  int
	idle  *list.List // of *conn, longest idle first
	inIdl map[*conn]*list.Element

	rejecting atomic.Int32 // connections being told 503
	rejected  atomic.Int64
	evicted   atomic.Int64
}

// NewConns caps connections at n (at least 1).
func NewConns(n int) *Conns {
	return &Conns{max: max(n, 1), idle: list.New(), inIdl: map[*conn]*list.Element{}}
}

// Stats reports connections open now, and how many were refused (503)
// and how many idle ones were closed to make room, since the start.
func (c *Conns) Stats() (open int, rejected, evicted int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.rejected.Load(), c.evicted.Load()
}

// Listener wraps ln so that its connections are counted against the cap.
func (c *Conns) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, c: c} }

// ConnState is the http.Server hook that tells Conns which connections are
// idle.
func (c *Conns) ConnState(nc net.Conn, st http.ConnState) {
	cn, ok := nc.(*conn)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st == http.StateIdle {
		if _, ok := c.inIdl[cn]; !ok && !cn.closed {
			c.inIdl[cn] = c.idle.PushBack(cn)
		}
		return
	}
	if e, ok := c.inIdl[cn]; ok {
		c.idle.Remove(e)
		delete(c.inIdl, cn)
	}
}

// admit counts a new connection in, making room by closing the longest
// idle one when at the cap. It reports false when there is no room.
func (c *Conns) admit() bool {
	for {
		c.mu.Lock()
		if c.open < c.max {
			c.open++
			c.mu.Unlock()
			return true
		}
		front := c.idle.Front()
		if front == nil {
			c.mu.Unlock()
			return false
		}
		victim := front.Value.(*conn)
		c.idle.Remove(front)
		delete(c.inIdl, victim)
		c.mu.Unlock()
		c.evicted.Add(1)
		victim.Close() // counts it out
	}
}

func (c *Conns) release(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn.closed = true
	c.open--
	if e, ok := c.inIdl[cn]; ok {
		c.idle.Remove(e)
		delete(c.inIdl, cn)
	}
}

// maxRejecting bounds the connections being answered 503 at once; past
// it, more are closed without an answer.
const maxRejecting = 64

var busyAnswer = func() string {
	body := `{"error":{"code":"unavailable","message":"the server holds as many connections as it may; retry in a moment"}}` + "\n"
	return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}()

// reject tells nc the server is full, briefly, and closes it.
func (c *Conns) reject(nc net.Conn) {
	c.rejected.Add(1)
	if c.rejecting.Add(1) > maxRejecting {
		c.rejecting.Add(-1)
		nc.Close()
		return
	}
	go func() {
		defer c.rejecting.Add(-1)
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(time.Second))
		// Read what the client sent first, so that closing does not
		// reset the connection before it reads the answer.
		buf := make([]byte, 4096)
		nc.Read(buf)
		nc.Write([]byte(busyAnswer))
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		nc.Read(buf)
	}()
}

type listener struct {
	net.Listener
	c *Conns
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.c.admit() {
			return &conn{Conn: nc, c: l.c}, nil
		}
		l.c.reject(nc)
	}
}

type conn struct {
	net.Conn
	c      *Conns
	once   sync.Once
	closed bool // under c.mu
}

func (cn *conn) Close() error {
	err := cn.Conn.Close()
	cn.once.Do(func() { cn.c.release(cn) })
	return err
}
