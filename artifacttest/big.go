package artifacttest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stream is size bytes of content that is cheap to make and differs at
// every offset: a 1 MiB block, each 8 bytes stamped with its offset and
// seed. It is never held whole.
type stream struct {
	seed, off, size int64
}

func (s *stream) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-s.off))
	fill(p[:n], s.off, s.seed)
	s.off += int64(n)
	return n, nil
}

// fill writes the content at [off, off+len(p)).
func fill(p []byte, off, seed int64) {
	var word [8]byte
	for i := 0; i < len(p); {
		o := off + int64(i)
		binary.LittleEndian.PutUint64(word[:], uint64(o/8)*0x9E3779B97F4A7C15^uint64(seed))
		n := copy(p[i:], word[o%8:])
		i += n
	}
}

// content returns [off, off+n) of a stream with seed.
func contentAt(seed, off int64, n int) []byte {
	b := make([]byte, n)
	fill(b, off, seed)
	return b
}

// SeekAndRangeReads reads a file of several MiB (past an object store's
// part size, with an odd tail) at offsets from the start, the current
// position and the end, as http.ServeContent and range requests do.
func SeekAndRangeReads(t *testing.T, open Open) {
	s, run := open(t)
	const size = 20<<20 + 12345
	if _, err := s.PutArtifact(ctx, run, "ckpt.bin", &stream{seed: 7, size: size}); err != nil {
		t.Fatal(err)
	}
	f, info, err := s.OpenArtifact(ctx, run, "ckpt.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if info.Size != size {
		t.Fatalf("size %d; want %d", info.Size, size)
	}
	// As http.ServeContent does: find the size, go back, read a range.
	if end, err := f.Seek(0, io.SeekEnd); err != nil || end != size {
		t.Fatalf("seek to the end: %d, %v", end, err)
	}
	if pos, err := f.Seek(0, io.SeekStart); err != nil || pos != 0 {
		t.Fatalf("seek to the start: %d, %v", pos, err)
	}
	readAt := func(what string, n int, want []byte) {
		t.Helper()
		got := make([]byte, n)
		k, err := io.ReadFull(f, got)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatalf("%s: read %d bytes: %v", what, n, err)
		}
		if !bytes.Equal(got[:k], want) {
			t.Fatalf("%s: %d bytes differ from what was written (want %d)", what, k, len(want))
		}
	}
	readAt("the first 100 bytes", 100, contentAt(7, 0, 100))
	readAt("on from 100", 1000, contentAt(7, 100, 1000))
	for _, off := range []int64{size - 1, 5<<20 - 3, 16 << 20, 8<<20 + 1, 1, size - 5000, 0} {
		if pos, err := f.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("seek to %d: %d, %v", off, pos, err)
		}
		n := int(min(300000, size-off))
		readAt(fmt.Sprintf("%d bytes at %d", n, off), n, contentAt(7, off, n))
	}
	if _, err := f.Seek(1<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if pos, err := f.Seek(-1000, io.SeekCurrent); err != nil || pos != 1<<20-1000 {
		t.Fatalf("seek back 1000: %d, %v", pos, err)
	}
	readAt("1000 bytes after seeking back", 1000, contentAt(7, 1<<20-1000, 1000))
	if pos, err := f.Seek(-10, io.SeekEnd); err != nil || pos != size-10 {
		t.Fatalf("seek to 10 before the end: %d, %v", pos, err)
	}
	readAt("the last 10 bytes", 10, contentAt(7, size-10, 10))
	if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read at the end: %d, %v; want 0, EOF", n, err)
	}
	if _, err := f.Seek(size+100, io.SeekStart); err != nil {
		t.Fatalf("seek past the end: %v", err)
	}
	if n, err := f.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read past the end: %d, %v; want 0, EOF", n, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatalf("seek to -1 succeeded")
	}
	// And the whole file again from the start, after all that.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if n, err := io.Copy(h, f); err != nil || n != size {
		t.Fatalf("read all after seeking: %d, %v", n, err)
	}
	want := sha256.New()
	io.Copy(want, &stream{seed: 7, size: size})
	if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Fatalf("the whole file read after seeks differs from what was written")
	}
}

// heapMeter samples the bytes of live and not yet collected heap objects
// and keeps the largest growth over its start.
type heapMeter struct {
	base, peak atomic.Uint64
	stop       chan struct{}
	done       sync.WaitGroup
	gcPercent  int // restored when metering stops
}

func heapNow() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapMeter() *heapMeter {
	// The GC runs often while metering, so that the peak is what the store
	// holds rather than garbage a busy machine's GC has not reached yet
	// (GOGC=100 lets the heap reach twice the live data).
	m := &heapMeter{stop: make(chan struct{}), gcPercent: debug.SetGCPercent(20)}
	runtime.GC()
	m.base.Store(heapNow())
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
				if h := heapNow(); h > m.peak.Load() {
					m.peak.Store(h)
				}
			}
		}
	}()
	return m
}

// growth stops the meter and returns the peak over the start.
func (m *heapMeter) growth() int64 {
	close(m.stop)
	m.done.Wait()
	debug.SetGCPercent(m.gcPercent)
	return int64(m.peak.Load()) - int64(m.base.Load())
}

// BigFileSize is the file BigFilesStreamWithBoundedMemory moves, and
// BigFileHeap the heap growth it allows while one moves: a store that
// held the file whole would need more.
const (
	BigFileSize = 256 << 20
	BigFileHeap = 96 << 20
)

// BigFilesStreamWithBoundedMemory writes a file larger than the heap the
// test allows, reads it back, and copies it to another run through the
// interface (as `trainyard migrate` copies between stores), checking the
// bytes each time and that this process's heap never grew by the bound.
func BigFilesStreamWithBoundedMemory(t *testing.T, open Open) {
	s, run := open(t)
	want := sha256.New()
	io.Copy(want, &stream{seed: 42, size: BigFileSize})
	wantSum := want.Sum(nil)

	m := startHeapMeter()
	info, err := s.PutArtifact(ctx, run, "big/model.ckpt", &stream{seed: 42, size: BigFileSize})
	grew := m.growth()
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != BigFileSize {
		t.Fatalf("put answered size %d; want %d", info.Size, BigFileSize)
	}
	t.Logf("put %d MiB: heap grew %.1f MiB", BigFileSize>>20, float64(grew)/(1<<20))
	if grew > BigFileHeap {
		t.Errorf("putting %d MiB grew the heap by %.1f MiB; want under %d MiB", BigFileSize>>20, float64(grew)/(1<<20), BigFileHeap>>20)
	}

	m = startHeapMeter()
	f, info, err := s.OpenArtifact(ctx, run, "big/model.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	f.Close()
	grew = m.growth()
	if err != nil || n != BigFileSize || info.Size != BigFileSize {
		t.Fatalf("read %d bytes (info %d): %v", n, info.Size, err)
	}
	if !bytes.Equal(h.Sum(nil), wantSum) {
		t.Fatalf("the file reads back different from what was written")
	}
	t.Logf("read %d MiB: heap grew %.1f MiB", BigFileSize>>20, float64(grew)/(1<<20))
	if grew > BigFileHeap {
		t.Errorf("reading %d MiB grew the heap by %.1f MiB; want under %d MiB", BigFileSize>>20, float64(grew)/(1<<20), BigFileHeap>>20)
	}

	// A streaming copy to another run, as migrate does between stores.
	s2, run2 := open(t)
	m = startHeapMeter()
	f, _, err = s.OpenArtifact(ctx, run, "big/model.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.PutArtifact(ctx, run2, "model.ckpt", f)
	f.Close()
	grew = m.growth()
	if err != nil {
		t.Fatalf("copy to another run: %v", err)
	}
	t.Logf("copy %d MiB: heap grew %.1f MiB", BigFileSize>>20, float64(grew)/(1<<20))
	if grew > BigFileHeap {
		t.Errorf("copying %d MiB grew the heap by %.1f MiB; want under %d MiB", BigFileSize>>20, float64(grew)/(1<<20), BigFileHeap>>20)
	}
	f, _, err = s2.OpenArtifact(ctx, run2, "model.ckpt")
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	io.Copy(h, f)
	f.Close()
	if !bytes.Equal(h.Sum(nil), wantSum) {
		t.Fatalf("the copy differs from the original")
	}
	if err := s2.DeleteArtifact(ctx, run2, "model.ckpt"); err != nil {
		t.Errorf("delete the copy: %v", err)
	}
}
