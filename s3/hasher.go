package s3

// hasher runs an MD5 checker on a goroutine of its own, so that a
// download hashes while it copies instead of taking turns with it: MD5
// runs at about the speed of a loopback copy (~600 MB/s a core on the
// project's machine). CRC32C checkers, many times faster, need none. Reads hand it copies of their bytes in chunks
// of hashChunk bytes, at most hashChunks in flight (1 MiB a reader); wait
// returns once every byte handed over is hashed, after which the checker
// may be asked for its verdict. The zero hasher is ready; it starts its
// goroutine on the first write and ends it in wait, which Close calls.
type hasher struct {
	c       *checker
	cur     []byte // the chunk being filled; nil: none
	off     int64  // the offset of cur's first byte
	work    chan hashWork
	free    chan []byte
	done    chan struct{}
	running bool
}

type hashWork struct {
	off int64
	b   []byte
}

const (
	hashChunk  = 256 << 10
	hashChunks = 4
	// hashAsync is the object size from which reads hash on a goroutine;
	// below it they hash in line, without the buffers.
	hashAsync = 4 << 20
)

// write hands b, read at offset off, to the hashing goroutine.
func (h *hasher) write(off int64, b []byte) {
	if !h.running {
		h.start()
	}
	if len(h.cur) > 0 && off != h.off+int64(len(h.cur)) {
		h.flush()
	}
	for len(b) > 0 {
		if h.cur == nil {
			h.cur = <-h.free
		}
		if len(h.cur) == 0 {
			h.off = off
		}
		n := copy(h.cur[len(h.cur):cap(h.cur)], b)
		h.cur = h.cur[:len(h.cur)+n]
		b, off = b[n:], off+int64(n)
		if len(h.cur) == cap(h.cur) {
			h.flush()
		}
	}
}

func (h *hasher) start() {
	h.work = make(chan hashWork, hashChunks)
	h.free = make(chan []byte, hashChunks)
	for range hashChunks {
		h.free <- make([]byte, 0, hashChunk)
	}
	h.done = make(chan struct{})
	h.running = true
	go func(c *checker, work <-chan hashWork, free chan<- []byte, done chan<- struct{}) {
		defer close(done)
		for w := range work {
			c.write(w.off, w.b)
			free <- w.b[:0]
		}
	}(h.c, h.work, h.free, h.done)
}

// flush sends the chunk being filled.
func (h *hasher) flush() {
	if len(h.cur) > 0 {
		h.work <- hashWork{h.off, h.cur}
		h.cur = nil
	}
}

// wait returns once every byte written is hashed.
func (h *hasher) wait() {
	if !h.running {
		return
	}
	h.flush()
	close(h.work)
	<-h.done
	h.running, h.cur = false, nil
}
