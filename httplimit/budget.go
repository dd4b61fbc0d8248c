// Package httplimit bounds what clients can make an HTTP server hold, so
// that no sequence of requests exhausts the machine:
//
//   - Budget: the bytes of request bodies held in memory at once, server
//     wide. A handler reads its body through Budget.ReadBody, which reserves
//     the body's size (times what parsing it costs) before reading a byte,
//     and waits, boundedly, when the budget is spent.
//   - Deadlines: the time a client may take to send a request or take an
//     answer; streams (uploads, downloads, followed logs) get deadlines that
//     follow their progress instead.
//   - Conns: the connections held at once; at the cap, the longest idle
//     keep-alive connection makes room, and when none is idle the new one
//     is answered 503 at once.
//   - Idle: the memory a burst grew is given back to the system when the
//     server falls idle.
//
// Errors are *trainyard.Error (ETOOLARGE, EUNAVAILABLE), for the caller's
// error mapping. The package serves the native and the MLflow APIs alike.
package httplimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
	"golang.org/x/sync/semaphore"
)

// Budget bounds the memory that request bodies take, server wide: a
// weighted semaphore over bytes. The zero value is not usable; see
// NewBudget.
type Budget struct {
	total int64
	wait  time.Duration
	sem   *semaphore.Weighted
}

// NewBudget returns a budget of total bytes. A request waits at most wait
// for its share before it is refused with EUNAVAILABLE (HTTP 503, to be
// retried).
func NewBudget(total int64, wait time.Duration) *Budget {
	return &Budget{total: total, wait: wait, sem: semaphore.NewWeighted(total)}
}

// Total is the size of the budget in bytes.
func (b *Budget) Total() int64 { return b.total }

// Acquire reserves n bytes until release is called (once). It waits up to
// the budget's wait, in order of arrival, and returns EUNAVAILABLE after
// that, ETOOLARGE when n is larger than the whole budget, and ctx's error
// when ctx ends first.
func (b *Budget) Acquire(ctx context.Context, n int64) (release func(), err error) {
	if n > b.total {
		return nil, trainyard.Errorf(trainyard.ETOOLARGE, "request needs %d bytes of memory, more than the server's whole budget of %d; send a smaller request", n, b.total)
	}
	if n <= 0 {
		return func() {}, nil
	}
	if !b.sem.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "the server is busy with other large requests (waited %s for memory); retry in a moment", b.wait)
		}
	}
	var once sync.Once
	return func() { once.Do(func() { b.sem.Release(n) }) }, nil
}

// pool recycles the buffers of small bodies, the common case.
var pool = sync.Pool{New: func() any { b := make([]byte, 0, smallBody); return &b }}

const smallBody = 64 << 10

// ReadBody reads r's body into memory. It refuses a body over limit bytes
// with ETOOLARGE (before reading it when Content-Length says so) and holds
// cost×len bytes of the budget from before the read until release is
// called: cost is the memory the handler will hold per byte of body while
// it parses and stores it, the body itself included (1 for text kept as
// is, 2 for a metric batch parsed into columns, more for JSON decoded
// into maps). A body of unknown length (chunked) holds cost×limit. The
// caller calls release, once, when it no longer uses the body or what it
// parsed from it; the body's buffer may be reused after.
func (b *Budget) ReadBody(w http.ResponseWriter, r *http.Request, limit int64, cost int64) (body []byte, release func(), err error) {
	n := r.ContentLength
	if n > limit {
		return nil, nil, tooLarge(limit)
	}
	hold := n
	if n < 0 {
		hold = limit
	}
	hold = max(hold, 512) * max(cost, 1)
	rel, err := b.Acquire(r.Context(), hold)
	if err != nil {
		return nil, nil, err
	}
	var bp *[]byte
	var buf []byte
	switch {
	case n >= 0 && n <= smallBody:
		bp = pool.Get().(*[]byte)
		buf = (*bp)[:0]
	case n > 0:
		buf = make([]byte, 0, n+1) // +1: reading EOF needs no second buffer
	default:
		buf = make([]byte, 0, smallBody)
	}
	release = func() {
		rel()
		if bp != nil {
			*bp = buf[:0]
			pool.Put(bp)
			bp = nil
		}
	}
	buf, err = readAll(http.MaxBytesReader(w, r.Body, limit), buf)
	if bp != nil && cap(buf) > smallBody {
		bp = nil // grew: a client sent more than it said; let it go
	}
	if err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, tooLarge(limit)
		}
		return nil, nil, err
	}
	return buf, release, nil
}

func tooLarge(limit int64) error {
	return &trainyard.Error{Code: trainyard.ETOOLARGE, Message: fmt.Sprintf("request body is larger than %s bytes; send smaller batches", strconv.FormatInt(limit, 10))}
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
