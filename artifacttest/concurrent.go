package artifacttest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// content is what writer w uploads in round r: size bytes that say who
// wrote them, so that a mix of two uploads cannot pass for one.
func content(w, r, size int) []byte {
	return contentAt(int64(w)<<32|int64(r), 0, size)
}

// trickle hands out b in small pieces, yielding between them, so that
// concurrent uploads interleave their writes.
type trickle struct {
	b []byte
	n int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(t.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), t.n, len(t.b))
	copy(p, t.b[:n])
	t.b = t.b[n:]
	time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	return n, nil
}

// ConcurrentPutsAreWhole uploads small files to one path from several
// writers at once, of different sizes, while readers read it. Every read
// sees one upload whole, every upload is acknowledged with its own size,
// and the file in the end is one of the uploads, whole: the last writer
// wins.
func ConcurrentPutsAreWhole(t *testing.T, open Open) {
	s, run := open(t)
	concurrentPuts(t, s, run, 8, 6, 4<<10, 4, 0, func(w int) int { return 64<<10 + w*8<<10 })
}

// ConcurrentLargePutsAreWhole is ConcurrentPutsAreWhole with files of
// several parts of an object store's multipart upload.
func ConcurrentLargePutsAreWhole(t *testing.T, open Open) {
	s, run := open(t)
	concurrentPuts(t, s, run, 3, 2, 256<<10, 2, 50*time.Millisecond, func(w int) int { return 17<<20 + w*(1<<20) + 1 })
}

// concurrentPuts runs writers × rounds uploads of sizes(writer) bytes, each
// handed to the store piece bytes at a time, while readers read the file
// over and over, pausing between reads.
func concurrentPuts(t *testing.T, s trainyard.ArtifactStore, run string, writers, rounds, piece, nreaders int, pause time.Duration, sizes func(w int) int) {
	const path = "checkpoints/model.bin"
	valid := map[[32]byte]string{}
	for w := range writers {
		for r := range rounds {
			valid[sha256.Sum256(content(w, r, sizes(w)))] = fmt.Sprintf("writer %d round %d", w, r)
		}
	}
	// A first version, so that readers always find a file.
	if _, err := s.PutArtifact(ctx, run, path, bytes.NewReader(content(0, 0, sizes(0)))); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads, torn int
	var mu sync.Mutex
	for range nreaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f, info, err := s.OpenArtifact(ctx, run, path)
				if err != nil {
					t.Errorf("open while uploads run: %v", err)
					return
				}
				h := sha256.New()
				n, err := io.Copy(h, f)
				f.Close()
				if err != nil {
					t.Errorf("read while uploads run: %v", err)
					return
				}
				mu.Lock()
				reads++
				if _, ok := valid[[32]byte(h.Sum(nil))]; !ok || n != info.Size {
					torn++
					if torn == 1 {
						t.Errorf("a reader saw a file that is no upload whole: %d bytes (info says %d)", n, info.Size)
					}
				}
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	var writersWG sync.WaitGroup
	for w := range writers {
		writersWG.Add(1)
		go func() {
			defer writersWG.Done()
			for r := range rounds {
				b := content(w, r, sizes(w))
				info, err := s.PutArtifact(ctx, run, path, &trickle{b: b, n: piece})
				if err != nil {
					t.Errorf("writer %d round %d: %v", w, r, err)
					return
				}
				if info.Size != int64(len(b)) || info.Path != path {
					t.Errorf("writer %d round %d: acknowledged %+v for %d bytes", w, r, info, len(b))
				}
			}
		}()
	}
	writersWG.Wait()
	close(stop)
	readers.Wait()
	f, info, err := s.OpenArtifact(ctx, run, path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	who, ok := valid[sha256.Sum256(b)]
	if !ok || info.Size != int64(len(b)) {
		t.Fatalf("after the uploads the file is no upload whole (%d bytes, info %d)", len(b), info.Size)
	}
	if torn > 0 {
		t.Fatalf("%d of %d reads saw a torn file", torn, reads)
	}
	// Nothing but the file is listed: no temporaries show.
	list, err := s.ListArtifacts(ctx, run, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Path != path {
		t.Fatalf("listing after concurrent uploads: %+v; want only %s", list, path)
	}
	t.Logf("%d reads during %d uploads, all whole; the last writer was %s", reads, writers*rounds, who)
}
