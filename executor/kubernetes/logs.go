package kubernetes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trainyard/trainyard"
)

// Log copying. Each started pod of a followed task has a stream: a
// GET .../pods/NAME/log?follow=true&timestamps=true whose lines go, in the
// order they arrive, into the run's log, and a line "[rank N] text" also
// into rank N's log (trainyard.RankLogPath) as "text". A cursor per pod —
// the timestamp of the last line copied and how many lines carried it —
// is saved next to the run's log (".RUN.log.kubernetes"), so that a
// stream that breaks, or the next server, asks again from that second
// (sinceTime) and drops what it already has: nothing is copied twice.
// The cursor is saved at most every saveEvery while lines flow and at
// the end of each stream, so a server killed without Close may copy again
// at most that last fraction of a second.
//
// A stream ends when its pod has ended and a last read without follow
// reached the end of the log (kubelets end a followed stream when the
// container exits; kwok does not, so the pod's end, seen by the informer,
// cuts it and the last read takes the rest).

const (
	logDrain  = 20 * time.Second       // longest wait for logs after a task ends
	saveEvery = 200 * time.Millisecond // cursor saves while lines flow
	maxLine   = 1 << 20                // longer lines are split
)

// taskLogs copies the logs of one task's pods.
type taskLogs struct {
	e         *Executor
	h         handle
	path      string
	ranks     int
	statePath string
	ctx       context.Context
	cancel    context.CancelFunc

	mu      sync.Mutex
	out     *bufio.Writer
	outFile *os.File
	rankOut map[int]*os.File
	state   logState
	saved   time.Time
	dirty   bool
	streams map[types.UID]*podStream
	active  int
	closed  bool
}

// logState is what is saved: a cursor per pod, by pod UID.
type logState struct {
	Pods map[types.UID]*cursor `json:"pods"`
}

type cursor struct {
	Pod  string    `json:"pod"`
	Time time.Time `json:"time"` // of the last line copied
	N    int       `json:"n"`    // lines copied with exactly that time
	Done bool      `json:"done"` // the whole log is copied
}

type podStream struct {
	uid     types.UID
	pod     string
	index   int
	ended   chan struct{} // closed once the pod has ended or is gone
	endOnce sync.Once
	done    chan struct{} // closed when the stream has finished
	readOK  bool
}

func (s *podStream) end() { s.endOnce.Do(func() { close(s.ended) }) }

func (s *podStream) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

func newTaskLogs(e *Executor, h handle, path string, ranks int) *taskLogs {
	t := &taskLogs{e: e, h: h, path: path, ranks: ranks, rankOut: map[int]*os.File{},
		statePath: filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".kubernetes"),
		streams:   map[types.UID]*podStream{}}
	t.ctx, t.cancel = context.WithCancel(e.ctx)
	if b, err := os.ReadFile(t.statePath); err == nil {
		if err := json.Unmarshal(b, &t.state); err != nil {
			e.cfg.Logger.Warn("kubernetes: unreadable log cursors, copying the logs again", "file", t.statePath, "err", err)
		}
	}
	if t.state.Pods == nil {
		t.state.Pods = map[types.UID]*cursor{}
	}
	return t
}

// podEvent starts a stream for a pod that has started, and tells its
// stream when it has ended.
func (t *taskLogs) podEvent(p *corev1.Pod, deleted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if c := t.state.Pods[p.UID]; c != nil && c.Done {
		return
	}
	s := t.streams[p.UID]
	if s == nil {
		if deleted || !podStarted(p) {
			return
		}
		if !t.e.addStream() {
			return // the executor is closing
		}
		s = &podStream{uid: p.UID, pod: p.Name, index: podIndex(p), ended: make(chan struct{}), done: make(chan struct{})}
		t.streams[p.UID] = s
		t.active++
		go t.run(s)
	}
	if deleted || p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodRunning || podEnded(p) {
		s.end()
	}
}

// run copies one pod's log until it is complete, or the executor closes.
func (t *taskLogs) run(s *podStream) {
	defer t.e.streams.Done()
	defer close(s.done)
	wait, failures := 200*time.Millisecond, 0
	for {
		ended := s.isEnded()
		ctx, cancel := context.WithCancel(t.ctx)
		if !ended {
			go func() {
				select {
				case <-s.ended:
					cancel() // kwok never ends a followed stream: the final read takes the rest
				case <-ctx.Done():
				}
			}()
		}
		err := t.read(ctx, s, !ended)
		cancel()
		if t.ctx.Err() != nil {
			t.streamDone(s, false)
			return
		}
		if ended {
			if err == nil {
				t.streamDone(s, true)
				return
			}
			failures++
			if failures >= 3 || apierrors.IsNotFound(err) {
				if !s.readOK {
					t.note(fmt.Sprintf("trainyard: the log of pod %s (node rank %d) could not be read: %v\n", s.pod, s.index, err))
				}
				t.streamDone(s, true)
				return
			}
		}
		if err == nil || errors.Is(err, context.Canceled) {
			// The stream ended while the pod runs (a kubelet ends it when
			// the container exits, and the pod's new status follows), or
			// the pod's end cut it.
			wait = 200 * time.Millisecond
		} else {
			t.e.cfg.Logger.Debug("kubernetes: pod log stream", "pod", s.pod, "err", err)
		}
		if ended {
			// The pod has ended: a few quick tries, then give up.
			select {
			case <-time.After(time.Duration(failures) * 200 * time.Millisecond):
			case <-t.ctx.Done():
			}
			continue
		}
		select {
		case <-time.After(wait):
		case <-s.ended:
		case <-t.ctx.Done():
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			wait = min(2*wait, 5*time.Second)
		}
	}
}

// read copies what the pod's log holds past the cursor, following it
// when follow is set, until the stream ends (nil) or fails.
func (t *taskLogs) read(ctx context.Context, s *podStream, follow bool) error {
	t.mu.Lock()
	var c cursor
	if p := t.state.Pods[s.uid]; p != nil {
		c = *p
	}
	t.mu.Unlock()
	c.Pod = s.pod
	opts := &corev1.PodLogOptions{Container: ContainerName, Follow: follow, Timestamps: true}
	if !c.Time.IsZero() {
		opts.SinceTime = &metav1.Time{Time: c.Time.Truncate(time.Second)}
	}
	rc, err := t.e.client.CoreV1().Pods(t.h.Namespace).GetLogs(s.pod, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.readOK = true
	br := bufio.NewReaderSize(rc, 64<<10)
	skip := c.N // lines at c.Time already copied
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		full := errors.Is(err, bufio.ErrBufferFull)
		if full && len(line) < maxLine {
			continue
		}
		last := false
		if err != nil && !full {
			if len(line) == 0 || follow || !errors.Is(err, io.EOF) {
				t.flush(false)
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			last = true // the log's last line, without a newline, at its very end
		}
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		ts, msg := splitTimestamp(line)
		switch {
		case ts.IsZero() || ts.After(c.Time):
			if !ts.IsZero() {
				c.Time, c.N, skip = ts, 0, 0
			}
			c.N++
			t.write(s.uid, msg, c)
		case ts.Before(c.Time):
		case skip > 0:
			skip--
		default:
			c.N++
			t.write(s.uid, msg, c)
		}
		line = line[:0]
		if last {
			t.flush(false)
			return nil
		}
		if br.Buffered() == 0 {
			t.flush(false)
		}
	}
}

// splitTimestamp splits "2026-01-02T03:04:05.123456789Z text\n" into its
// time and "text\n"; a line without a time is returned whole.
func splitTimestamp(line []byte) (time.Time, []byte) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 || sp > 40 {
		return time.Time{}, line
	}
	ts, err := time.Parse(time.RFC3339Nano, string(line[:sp]))
	if err != nil {
		return time.Time{}, line
	}
	return ts, line[sp+1:]
}

// rankLine splits "[rank 3] text\n" into 3 and "text\n".
func rankLine(msg []byte) (int, []byte, bool) {
	rest, ok := bytes.CutPrefix(msg, []byte("[rank "))
	if !ok {
		return 0, nil, false
	}
	end := bytes.IndexByte(rest, ']')
	if end < 1 || end > 7 || len(rest) < end+2 || rest[end+1] != ' ' {
		return 0, nil, false
	}
	r, err := strconv.Atoi(string(rest[:end]))
	if err != nil || r < 0 {
		return 0, nil, false
	}
	return r, rest[end+2:], true
}

// write appends one line to the run's log (and to its rank's) and moves
// the pod's cursor.
func (t *taskLogs) write(uid types.UID, msg []byte, c cursor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || !t.open() {
		return
	}
	t.out.Write(msg)
	if t.ranks > 1 {
		if r, text, ok := rankLine(msg); ok && r < t.ranks {
			if f := t.rankFile(r); f != nil {
				f.Write(text)
			}
		}
	}
	t.state.Pods[uid] = &c
	t.dirty = true
}

// note appends a line of trainyard's own to the run's log.
func (t *taskLogs) note(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.closed && t.open() {
		t.out.WriteString(line)
		t.out.Flush()
	}
}

// open opens the run's log for appending; t.mu is held.
func (t *taskLogs) open() bool {
	if t.out != nil {
		return true
	}
	if err := os.MkdirAll(filepath.Dir(t.path), 0o755); err != nil {
		t.e.cfg.Logger.Error("kubernetes: run log", "err", err)
		return false
	}
	f, err := os.OpenFile(t.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.e.cfg.Logger.Error("kubernetes: run log", "err", err)
		return false
	}
	t.outFile, t.out = f, bufio.NewWriterSize(f, 32<<10)
	return true
}

func (t *taskLogs) rankFile(r int) *os.File {
	if f, ok := t.rankOut[r]; ok {
		return f
	}
	f, err := os.OpenFile(trainyard.RankLogPath(t.path, r), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.e.cfg.Logger.Error("kubernetes: rank log", "err", err)
	}
	t.rankOut[r] = f // nil after an error: not tried again
	return f
}

// flush writes out the run's log and, at most every saveEvery unless
// force, the cursors.
func (t *taskLogs) flush(force bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.flushLocked(force)
}

func (t *taskLogs) flushLocked(force bool) {
	if t.out != nil {
		t.out.Flush()
	}
	if !t.dirty || !force && time.Since(t.saved) < saveEvery {
		return
	}
	b, _ := json.Marshal(t.state)
	tmp := t.statePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		err = os.Rename(tmp, t.statePath)
		if err != nil {
			t.e.cfg.Logger.Error("kubernetes: save log cursors", "err", err)
		}
	}
	t.saved, t.dirty = time.Now(), false
}

// streamDone records that a stream finished (complete: the whole log is
// copied) and closes the files when no stream is left.
func (t *taskLogs) streamDone(s *podStream, complete bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if complete {
		c := t.state.Pods[s.uid]
		if c == nil {
			c = &cursor{Pod: s.pod}
			t.state.Pods[s.uid] = c
		}
		c.Done = true
		t.dirty = true
	}
	delete(t.streams, s.uid)
	t.active--
	t.flushLocked(true)
	if t.active == 0 {
		t.closeFiles()
	}
}

func (t *taskLogs) closeFiles() {
	if t.out != nil {
		t.out.Flush()
		t.outFile.Close()
		t.out, t.outFile = nil, nil
	}
	for r, f := range t.rankOut {
		if f != nil {
			f.Close()
		}
		delete(t.rankOut, r)
	}
}

// wait returns when no stream is left, or ctx ends.
func (t *taskLogs) wait(ctx context.Context) {
	for {
		t.mu.Lock()
		var ch chan struct{}
		for _, s := range t.streams {
			ch = s.done
			break
		}
		t.mu.Unlock()
		if ch == nil {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// finish stops the streams for good and removes the cursors (the task's
// objects are being deleted).
func (t *taskLogs) finish() {
	t.cancel()
	for _, s := range t.snapshot() {
		<-s.done
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.closeFiles()
	os.Remove(t.statePath)
}

func (t *taskLogs) snapshot() []*podStream {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*podStream
	for _, s := range t.streams {
		out = append(out, s)
	}
	return out
}
