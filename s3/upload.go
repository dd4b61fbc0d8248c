package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// Metadata trainyard stores with the objects it writes, for checking
// reads (see checker).
const (
	metaMD5      = "Trainyard-Md5"       // a one-PUT object: the MD5 of its bytes, hex
	metaPartSize = "Trainyard-Part-Size" // a multipart object: the base part size (partSize)
)

// partGrowth is how many parts of one size an upload sends before their
// size doubles.
const partGrowth = 2000

// partSize is the size of part i (from 1) of an upload whose base part
// size is base: base for the first 2,000 parts, then doubling every 2,000,
// so S3's 10,000 parts hold 62 × base (496 GiB at 8 MiB) while a file of
// up to 2,000 × base uses parts of base.
func partSize(base int64, i int) int64 { return base << ((i - 1) / partGrowth) }

// bufferPool lends part buffers, bounded in bytes across every upload.
type bufferPool struct {
	sem   *semaphore.Weighted
	max   int64
	pools sync.Map // size → *sync.Pool of *[]byte
}

func (b *bufferPool) weight(size int64) int64 { return min(size, b.max) }

// get waits for size bytes of the budget and returns a buffer of size.
func (b *bufferPool) get(ctx context.Context, size int64) (*[]byte, error) {
	if err := b.sem.Acquire(ctx, b.weight(size)); err != nil {
		return nil, err
	}
	p, _ := b.pools.LoadOrStore(size, &sync.Pool{New: func() any { s := make([]byte, size); return &s }})
	return p.(*sync.Pool).Get().(*[]byte), nil
}

func (b *bufferPool) put(buf *[]byte) {
	size := int64(len(*buf))
	if p, ok := b.pools.Load(size); ok {
		p.(*sync.Pool).Put(buf)
	}
	b.sem.Release(b.weight(size))
}

// upload streams r to key and returns its size.
func (a *Artifacts) upload(ctx context.Context, key, name string, r io.Reader) (int64, error) {
	r = contextReader{ctx, r}
	ctype := mime.TypeByExtension(path.Ext(name))
	buf, err := a.bufs.get(ctx, partSize(a.cfg.PartSize, 1))
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(r, *buf)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		defer a.bufs.put(buf)
		return int64(n), a.putOne(ctx, key, ctype, (*buf)[:n])
	case err != nil:
		a.bufs.put(buf)
		return 0, err
	}
	return a.putMultipart(ctx, key, ctype, r, buf)
}

// putOne sends data in one PUT, with its MD5 (Content-MD5, and in its
// metadata for stores that keep no CRC32C) and its CRC32C.
func (a *Artifacts) putOne(ctx context.Context, key, ctype string, data []byte) error {
	md := md5.Sum(data)
	sha := sha256.Sum256(data)
	mdHex := hex.EncodeToString(md[:])
	crc := crc32cOf(data)
	info, err := a.core.PutObject(ctx, a.cfg.Bucket, key, bytes.NewReader(data), int64(len(data)),
		base64.StdEncoding.EncodeToString(md[:]), hex.EncodeToString(sha[:]), minio.PutObjectOptions{
			UserMetadata: map[string]string{metaMD5: mdHex, hdrCRC32C: crc}, ContentType: ctype, DisableContentSha256: true,
		})
	if err != nil {
		return err
	}
	if isMD5(info.ETag) && info.ETag != mdHex {
		return fmt.Errorf("the storage answered ETag %s for bytes whose MD5 is %s", info.ETag, mdHex)
	}
	if info.ChecksumCRC32C != "" && info.ChecksumCRC32C != crc {
		return fmt.Errorf("the storage answered CRC32C %s for bytes whose CRC32C is %s", info.ChecksumCRC32C, crc)
	}
	return nil
}

// putMultipart uploads first and the rest of r as a multipart upload, and
// aborts it if anything fails.
func (a *Artifacts) putMultipart(ctx context.Context, key, ctype string, r io.Reader, first *[]byte) (size int64, err error) {
	// The store keeps the parts' CRC32Cs and their COMPOSITE (S3's
	// default for CRC32C), which reads check cheaply (see checker).
	id, err := a.core.NewMultipartUpload(ctx, a.cfg.Bucket, key, minio.PutObjectOptions{
		UserMetadata: map[string]string{metaPartSize: strconv.FormatInt(a.cfg.PartSize, 10), hdrChecksumAlgo: "CRC32C"}, ContentType: ctype,
	})
	if err != nil {
		a.bufs.put(first)
		return 0, err
	}
	defer func() {
		if err != nil {
			a.abort(ctx, key, id)
		}
	}()
	var (
		mu    sync.Mutex
		parts []minio.CompletePart
		sums  = map[int][md5.Size]byte{}
		crcs  = map[int][]byte{}
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.cfg.Concurrency)
	buf, n := first, len(*first)
	for i := 1; ; i++ {
		data, num := (*buf)[:n], i
		size += int64(n)
		held := buf
		g.Go(func() error {
			defer a.bufs.put(held)
			md := md5.Sum(data)
			sha := sha256.Sum256(data)
			crc := binary.BigEndian.AppendUint32(nil, crc32.Checksum(data, castagnoli))
			crc64 := base64.StdEncoding.EncodeToString(crc)
			p, err := a.core.PutObjectPart(gctx, a.cfg.Bucket, key, id, num, bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{
				Md5Base64: base64.StdEncoding.EncodeToString(md[:]), Sha256Hex: hex.EncodeToString(sha[:]), DisableContentSha256: true,
				CustomHeader: http.Header{hdrCRC32C: {crc64}},
			})
			if err != nil {
				return fmt.Errorf("part %d: %w", num, err)
			}
			if want := hex.EncodeToString(md[:]); isMD5(p.ETag) && p.ETag != want {
				return fmt.Errorf("part %d: the storage answered ETag %s for bytes whose MD5 is %s", num, p.ETag, want)
			}
			mu.Lock()
			parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag, ChecksumCRC32C: crc64})
			sums[num] = md
			crcs[num] = crc
			mu.Unlock()
			return nil
		})
		if n < len(*buf) {
			break // the last part
		}
		if i == maxParts {
			g.Wait()
			return 0, fmt.Errorf("more than %d parts (%d bytes): larger than an S3 object may be", maxParts, size)
		}
		if buf, err = a.bufs.get(gctx, partSize(a.cfg.PartSize, i+1)); err != nil {
			break
		}
		n, err = io.ReadFull(r, *buf)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil
			if n == 0 {
				a.bufs.put(buf)
				break
			}
			continue
		}
		if err != nil {
			a.bufs.put(buf)
			break
		}
	}
	if werr := g.Wait(); werr != nil {
		return 0, werr
	}
	if err != nil {
		return 0, err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
	info, err := a.core.CompleteMultipartUpload(ctx, a.cfg.Bucket, key, id, parts, minio.PutObjectOptions{})
	if err != nil {
		return 0, err
	}
	list, crcList := make([][]byte, len(parts)), make([][]byte, len(parts))
	for i := range list {
		s := sums[i+1]
		list[i], crcList[i] = s[:], crcs[i+1]
	}
	var bad error
	if want := compositeETag(list); isComposite(info.ETag) && info.ETag != want {
		bad = fmt.Errorf("the storage answered ETag %s for parts whose MD5s make %s", info.ETag, want)
	}
	if want := compositeCRC32C(crcList); bad == nil && isCompositeCRC32C(info.ChecksumCRC32C) && info.ChecksumCRC32C != want {
		bad = fmt.Errorf("the storage answered CRC32C %s for parts whose CRC32Cs make %s", info.ChecksumCRC32C, want)
	}
	if bad != nil {
		// What is stored is not what was sent: remove it rather than
		// leave it to be read.
		a.client.RemoveObject(context.WithoutCancel(ctx), a.cfg.Bucket, key, minio.RemoveObjectOptions{})
		return 0, bad
	}
	return size, nil
}

// abort aborts an upload, even when ctx has ended.
func (a *Artifacts) abort(ctx context.Context, key, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	a.core.AbortMultipartUpload(actx, a.cfg.Bucket, key, id)
}

// compositeETag is S3's ETag of a multipart object: the MD5 of its parts'
// MD5s, a dash, and the number of parts.
func compositeETag(sums [][]byte) string {
	h := md5.New()
	for _, s := range sums {
		h.Write(s)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(sums))
}

// isMD5 reports whether an ETag has the form of an MD5 (32 hex digits).
func isMD5(etag string) bool {
	if len(etag) != 32 {
		return false
	}
	_, err := hex.DecodeString(etag)
	return err == nil
}

// isComposite reports whether an ETag has the form of a multipart
// object's (an MD5, a dash, a count).
func isComposite(etag string) bool {
	sum, n, ok := cut(etag)
	return ok && isMD5(sum) && n > 0
}

func cut(etag string) (string, int, bool) {
	for i := len(etag) - 1; i >= 0; i-- {
		if etag[i] == '-' {
			n, err := strconv.Atoi(etag[i+1:])
			return etag[:i], n, err == nil
		}
	}
	return "", 0, false
}
