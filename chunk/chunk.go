// Package chunk encodes metric points into compact columnar blocks and
// downsamples them. It is pure: bytes in, points out.
//
// A chunk holds up to a few thousand points of one series in the order they
// were written, as three columns:
//
//	byte     version (1)
//	uvarint  n, the number of points
//	steps    zigzag varint of the first step, then runs of
//	         (zigzag varint delta, uvarint run length) covering n-1 deltas;
//	         a series logged every step costs a few bytes per chunk
//	times    zigzag varint of the first time (Unix ms), then n-1 zigzag
//	         varint deltas: one or two bytes a point
//	values   n IEEE-754 float64, little-endian: NaN and ±Inf kept bit for bit
//
// Values are stored raw because training curves are noisy (XOR schemes gain
// little on them) and raw values decode at memory speed.
package chunk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const version = 1

// TargetSize is the number of points a full chunk holds.
const TargetSize = 4096

// Meta summarises a chunk so that readers can skip it without decoding.
type Meta struct {
	Count   int
	MinStep int64
	MaxStep int64
}

// Encode appends the encoding of the points to dst and returns it with the
// chunk's meta. The slices must have equal, non-zero length.
func Encode(dst []byte, steps []int64, values []float64, times []int64) ([]byte, Meta) {
	n := len(values)
	m := Meta{Count: n, MinStep: math.MaxInt64, MaxStep: math.MinInt64}
	dst = append(dst, version)
	dst = binary.AppendUvarint(dst, uint64(n))
	if n == 0 {
		return dst, Meta{}
	}
	// steps: first, then (delta, run) pairs.
	dst = binary.AppendVarint(dst, steps[0])
	for i := 1; i < n; {
		d := steps[i] - steps[i-1]
		j := i + 1
		for j < n && steps[j]-steps[j-1] == d {
			j++
		}
		dst = binary.AppendVarint(dst, d)
		dst = binary.AppendUvarint(dst, uint64(j-i))
		i = j
	}
	for _, s := range steps {
		m.MinStep = min(m.MinStep, s)
		m.MaxStep = max(m.MaxStep, s)
	}
	// times: first, then deltas.
	prev := int64(0)
	for _, t := range times {
		dst = binary.AppendVarint(dst, t-prev)
		prev = t
	}
	// values: raw.
	off := len(dst)
	dst = append(dst, make([]byte, 8*n)...)
	for i, v := range values {
		binary.LittleEndian.PutUint64(dst[off+8*i:], math.Float64bits(v))
	}
	return dst, m
}

// ErrCorrupt is returned for bytes that are not a chunk.
var ErrCorrupt = errors.New("corrupt metric chunk")

// Points is a column view of decoded points.
type Points struct {
	Steps  []int64
	Values []float64
	Times  []int64
}

// Len is the number of points.
func (p *Points) Len() int { return len(p.Values) }

// Reset empties p, keeping its storage.
func (p *Points) Reset() {
	p.Steps, p.Values, p.Times = p.Steps[:0], p.Values[:0], p.Times[:0]
}

// Count reads the number of points in a chunk without decoding it.
func Count(data []byte) (int, error) {
	if len(data) < 2 || data[0] != version {
		return 0, ErrCorrupt
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n > math.MaxInt32 {
		return 0, ErrCorrupt
	}
	return int(n), nil
}

// Decode appends the chunk's points to p.
func Decode(p *Points, data []byte) error {
	n, err := Count(data)
	if err != nil {
		return err
	}
	_, k := binary.Uvarint(data[1:])
	b := data[1+k:]
	if n == 0 {
		return nil
	}
	if len(b) < 8*n {
		return fmt.Errorf("%w: %d points need at least %d bytes, have %d", ErrCorrupt, n, 8*n, len(b))
	}
	base := len(p.Steps)
	p.Steps = grow(p.Steps, n)
	p.Times = grow(p.Times, n)
	steps := p.Steps[base:]
	times := p.Times[base:]

	first, k := binary.Varint(b)
	if k <= 0 {
		return ErrCorrupt
	}
	b = b[k:]
	steps[0] = first
	for i := 1; i < n; {
		d, k1 := binary.Varint(b)
		if k1 <= 0 {
			return ErrCorrupt
		}
		run, k2 := binary.Uvarint(b[k1:])
		if k2 <= 0 || run == 0 || run > uint64(n-i) {
			return ErrCorrupt
		}
		b = b[k1+k2:]
		s := steps[i-1]
		for end := i + int(run); i < end; i++ {
			s += d
			steps[i] = s
		}
	}
	prev := int64(0)
	for i := 0; i < n; i++ {
		var d int64
		if len(b) > 0 && b[0] < 0x80 { // one-byte varint: the common case
			u := uint64(b[0])
			d = int64(u>>1) ^ -int64(u&1)
			b = b[1:]
		} else {
			var k int
			d, k = binary.Varint(b)
			if k <= 0 {
				return ErrCorrupt
			}
			b = b[k:]
		}
		prev += d
		times[i] = prev
	}
	if len(b) != 8*n {
		return fmt.Errorf("%w: want %d value bytes, have %d", ErrCorrupt, 8*n, len(b))
	}
	vbase := len(p.Values)
	p.Values = growF(p.Values, n)
	vals := p.Values[vbase:]
	decodeFloats(vals, b)
	return nil
}

func grow(s []int64, n int) []int64 {
	if cap(s)-len(s) < n {
		ns := make([]int64, len(s), 2*cap(s)+n)
		copy(ns, s)
		s = ns
	}
	return s[:len(s)+n]
}

func growF(s []float64, n int) []float64 {
	if cap(s)-len(s) < n {
		ns := make([]float64, len(s), 2*cap(s)+n)
		copy(ns, s)
		s = ns
	}
	return s[:len(s)+n]
}
