package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/trainyard/trainyard"
)

// reader reads one version of an object: the body of the GET that opened
// it while reads follow on from it, ranged GETs of the same ETag (If-Match)
// after a Seek elsewhere or a broken connection.
type reader struct {
	a      *Artifacts
	ctx    context.Context
	key    string
	path   string
	etag   string
	size   int64
	body   io.ReadCloser // nil when closed
	bodyAt int64         // the offset of body's next byte
	pos    int64
	check  *checker // nil when there is nothing to check
	hash   *hasher  // hashes for check on a goroutine; nil: in line
	closed bool
	bad    error // a failed check: every later read fails with it
}

// retries is how many times a read reopens the object after its
// connection broke, before it fails.
const retries = 3

func (r *reader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, fmt.Errorf("read artifact %q: %w", r.path, io.ErrClosedPipe)
	}
	if r.bad != nil {
		return 0, r.bad
	}
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		if r.body == nil || r.bodyAt != r.pos {
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		if n > 0 {
			switch {
			case r.hash != nil:
				r.hash.write(r.pos, p[:n])
			case r.check != nil:
				r.check.write(r.pos, p[:n])
			}
			r.pos += int64(n)
			r.bodyAt += int64(n)
			if r.pos == r.size && r.hash != nil {
				r.hash.wait()
			}
			if r.pos == r.size && r.check != nil && r.check.complete() {
				if err := r.check.verify(); err != nil {
					// Withhold the last bytes: a caller that copies to a
					// client must not send a whole, wrong file.
					r.pos -= int64(n)
					r.bad = trainyard.Errorf(trainyard.EINTERNAL, "artifact %q does not match its checksum: %v", r.path, err)
					return 0, r.bad
				}
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		// The body ended before the object did, or the connection broke:
		// read on from here with a ranged GET of the same version.
		lastErr = err
		r.body.Close()
		r.body = nil
	}
	return 0, fmt.Errorf("read artifact %q at %d of %d bytes: %w", r.path, r.pos, r.size, lastErr)
}

// open GETs the object's version from pos on.
func (r *reader) open() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetMatchETag(r.etag); err != nil {
		return err
	}
	if r.pos > 0 {
		if err := opts.SetRange(r.pos, 0); err != nil {
			return err
		}
	}
	body, _, _, err := r.a.core.GetObject(r.ctx, r.a.cfg.Bucket, r.key, opts)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		switch {
		case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
			return trainyard.Errorf(trainyard.ECONFLICT, "artifact %q was replaced while it was read: open it again", r.path)
		case isNotFound(err):
			return trainyard.Errorf(trainyard.ENOTFOUND, "artifact %q was deleted while it was read", r.path)
		}
		return r.a.mapErr("read", r.path, err)
	}
	r.body, r.bodyAt = body, r.pos
	return nil
}

// Seek sets where the next Read reads; it costs nothing until then.
func (r *reader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.size + offset
	default:
		return 0, fmt.Errorf("seek artifact %q: bad whence %d", r.path, whence)
	}
	if abs < 0 {
		return 0, fmt.Errorf("seek artifact %q: negative position %d", r.path, abs)
	}
	r.pos = abs
	return abs, nil
}

func (r *reader) Close() error {
	r.closed = true
	if r.hash != nil {
		r.hash.wait()
	}
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}
