package s3

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
)

// checker checks a read of a whole object, from its first byte to its
// last in order, against what was stored with it. In order of preference:
//
//   - the object's CRC32C as the store keeps it (S3's "additional
//     checksum", x-amz-checksum-crc32c, answered to a GET with
//     x-amz-checksum-mode: ENABLED): of every byte (a one-PUT object, or a
//     FULL_OBJECT multipart one), or for a COMPOSITE multipart object that
//     trainyard sent, the CRC32C of its parts' CRC32Cs, with the parts'
//     sizes from the base part size kept in its metadata
//     (Trainyard-Part-Size). trainyard sends CRC32Cs with every upload; the
//     store checks each PUT against its own and keeps them. CRC32C runs at
//     several GB/s a core, so reads check it in line;
//   - an object trainyard sent in one PUT to a store that keeps no
//     CRC32C: the MD5 of its bytes, kept in its metadata (Trainyard-Md5);
//   - an object trainyard sent in parts to such a store: S3's multipart
//     ETag, the MD5 of the parts' MD5s, with its part size as above.
//
// Objects written by others (MLflow clients' direct uploads, other tools)
// are checked if the store keeps a full-object CRC32C for them, and
// otherwise not. A read that skips bytes stops checking, and starts again
// from a read at offset 0.
type checker struct {
	kind     sumKind
	want     string // the stored sum, in S3's form for kind
	base     int64  // multipart: the base part size; 0: one sum of everything
	h        hash.Hash
	sums     [][]byte // multipart: the sums of finished parts
	part     int64    // multipart: bytes of the current part hashed
	at       int64    // bytes hashed from the start
	disabled bool
}

// sumKind is the hash a checker computes.
type sumKind int

const (
	sumMD5    sumKind = iota // hex; composite: the MD5 of the parts' MD5s, hex, -N
	sumCRC32C                // base64 of the big-endian CRC32C; composite: of the parts' CRC32Cs, -N
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Headers of S3's additional checksums.
const (
	hdrCRC32C       = "X-Amz-Checksum-Crc32c"
	hdrChecksumType = "X-Amz-Checksum-Type"
	hdrChecksumMode = "X-Amz-Checksum-Mode"
	hdrChecksumAlgo = "X-Amz-Checksum-Algorithm"
)

// newChecker returns the checker for an object with this ETag and the
// headers of a GET of all of it, or nil when nothing stored can check it.
func newChecker(etag string, h http.Header) *checker {
	base, err := strconv.ParseInt(h.Get("X-Amz-Meta-"+metaPartSize), 10, 64)
	if err != nil || base <= 0 {
		base = 0
	}
	if v := h.Get(hdrCRC32C); v != "" {
		sum, _, composite := cut(v)
		if !composite {
			sum = v
		}
		composite = composite || strings.EqualFold(h.Get(hdrChecksumType), "COMPOSITE")
		switch {
		case !isCRC32C(sum):
		case !composite:
			return &checker{kind: sumCRC32C, want: v, h: crc32.New(castagnoli)}
		case base > 0:
			return &checker{kind: sumCRC32C, want: v, base: base, h: crc32.New(castagnoli)}
		}
	}
	if sum := h.Get("X-Amz-Meta-" + metaMD5); isMD5(sum) {
		return &checker{kind: sumMD5, want: sum, h: md5.New()}
	}
	if base > 0 && isComposite(etag) {
		return &checker{kind: sumMD5, want: etag, base: base, h: md5.New()}
	}
	return nil
}

// cheap reports whether the checker's hash keeps up with a copy, so that
// reads hash in line rather than on a goroutine (see hasher).
func (c *checker) cheap() bool { return c.kind == sumCRC32C }

// write hashes b, read at offset off.
func (c *checker) write(off int64, b []byte) {
	if off == 0 {
		c.reset()
	}
	if c.disabled || off != c.at {
		c.disabled = true
		return
	}
	c.at += int64(len(b))
	if c.base == 0 {
		c.h.Write(b)
		return
	}
	for len(b) > 0 {
		size := partSize(c.base, len(c.sums)+1)
		n := min(int64(len(b)), size-c.part)
		c.h.Write(b[:n])
		c.part += n
		b = b[n:]
		if c.part == size {
			c.finishPart()
		}
	}
}

func (c *checker) finishPart() {
	c.sums = append(c.sums, c.h.Sum(nil))
	c.h.Reset()
	c.part = 0
}

func (c *checker) reset() {
	c.h.Reset()
	c.sums, c.part, c.at, c.disabled = nil, 0, 0, false
}

// complete reports whether every byte so far was hashed in order.
func (c *checker) complete() bool { return !c.disabled }

// verify compares what was hashed with what was stored.
func (c *checker) verify() error {
	if c.base == 0 {
		if got := c.encode(c.h.Sum(nil)); got != c.want {
			return fmt.Errorf("%s %s, stored %s", c.name(), got, c.want)
		}
		return nil
	}
	if c.part > 0 {
		c.finishPart()
	}
	var got string
	switch c.kind {
	case sumMD5:
		got = compositeETag(c.sums)
	default:
		got = compositeCRC32C(c.sums)
		if !strings.Contains(c.want, "-") {
			got, _, _ = cut(got) // a store that answers the sum without the count
		}
	}
	if got != c.want {
		return fmt.Errorf("multipart %s %s, stored %s", c.name(), got, c.want)
	}
	return nil
}

func (c *checker) encode(sum []byte) string {
	if c.kind == sumMD5 {
		return hex.EncodeToString(sum)
	}
	return base64.StdEncoding.EncodeToString(sum)
}

func (c *checker) name() string {
	if c.kind == sumMD5 {
		return "MD5"
	}
	return "CRC32C"
}

// crc32cOf is the CRC32C of b in S3's form: base64 of its 4 big-endian bytes.
func crc32cOf(b []byte) string {
	return crc32cString(crc32.Checksum(b, castagnoli))
}

func crc32cString(crc uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc))
}

// compositeCRC32C is S3's COMPOSITE CRC32C of a multipart object: the
// CRC32C of its parts' CRC32Cs (big-endian bytes), a dash, and the number
// of parts.
func compositeCRC32C(sums [][]byte) string {
	h := crc32.New(castagnoli)
	for _, s := range sums {
		h.Write(s)
	}
	return crc32cString(h.Sum32()) + "-" + strconv.Itoa(len(sums))
}

// isCRC32C reports whether s has the form of a CRC32C in S3's form.
func isCRC32C(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	return err == nil && len(b) == crc32.Size
}

// isCompositeCRC32C reports whether s has the form of a COMPOSITE CRC32C
// with its count of parts.
func isCompositeCRC32C(s string) bool {
	sum, n, ok := cut(s)
	return ok && isCRC32C(sum) && n > 0
}
