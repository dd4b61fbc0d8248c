package artifacttest

import (
	"bytes"
	"io"
	"testing"
)

// The heap meter sees a store that holds a file whole: a copy of the big
// file into memory grows the heap past the bound.
func TestHeapMeterSeesBuffering(t *testing.T) {
	m := startHeapMeter()
	var buf bytes.Buffer
	io.Copy(&buf, &stream{seed: 1, size: BigFileSize})
	grew := m.growth()
	if grew <= BigFileHeap {
		t.Fatalf("holding %d MiB grew the heap by %d MiB by the meter; want over %d MiB", BigFileSize>>20, grew>>20, BigFileHeap>>20)
	}
	if buf.Len() != BigFileSize {
		t.Fatal(buf.Len())
	}
}

// The stream's content differs at every 8-byte word and between seeds,
// and reads the same in any pieces.
func TestStreamContent(t *testing.T) {
	a := contentAt(1, 0, 1<<16)
	if bytes.Equal(a[:8], a[8:16]) || bytes.Equal(a, contentAt(2, 0, 1<<16)) {
		t.Fatal("content repeats")
	}
	if !bytes.Equal(a[1000:3001], contentAt(1, 1000, 2001)) {
		t.Fatal("content at an offset differs from the same bytes read from the start")
	}
	var got bytes.Buffer
	s := &stream{seed: 1, size: 1 << 16}
	for {
		b := make([]byte, 333)
		n, err := s.Read(b)
		got.Write(b[:n])
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(got.Bytes(), a) {
		t.Fatal("a stream read in pieces differs")
	}
}
