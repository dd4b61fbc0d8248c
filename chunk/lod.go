package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
)

// A chunk's level of detail summarises it in blocks of BlockSize points, in
// write order, so that a chart of a long series can be drawn from the
// summaries alone: a million points are 15,625 blocks, a twentieth of the
// bytes, and no point is decoded.
//
//	byte     version (1)
//	byte     flags: 1 when the chunk's steps never decrease
//	uvarint  number of blocks
//	per block:
//	  uvarint  count
//	  8 bytes  min value, 8 bytes max value (NaN when every value was NaN)
//	  varint   last step, as a delta from the previous block's
//	  8 bytes  last value
//	  varint   last time, as a delta from the previous block's
//
// "Last" is the block's point with the highest step, the later written
// among equal steps: the point a bucket of downsampled data shows.

// BlockSize is the number of points a level-of-detail block summarises.
const BlockSize = 64

// Block summarises consecutive points.
type Block struct {
	Count     int
	Min, Max  float64 // NaN when every value was NaN
	LastStep  int64
	LastValue float64
	LastTime  int64
}

const lodVersion = 1

// EncodeLOD appends the level of detail of the points to dst.
func EncodeLOD(dst []byte, steps []int64, values []float64, times []int64) []byte {
	n := len(values)
	monotonic := byte(1)
	for i := 1; i < n; i++ {
		if steps[i] < steps[i-1] {
			monotonic = 0
			break
		}
	}
	dst = append(dst, lodVersion, monotonic)
	nb := (n + BlockSize - 1) / BlockSize
	dst = binary.AppendUvarint(dst, uint64(nb))
	var prevStep, prevTime int64
	for lo := 0; lo < n; lo += BlockSize {
		hi := min(lo+BlockSize, n)
		b := summarise(steps[lo:hi], values[lo:hi], times[lo:hi])
		dst = binary.AppendUvarint(dst, uint64(b.Count))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(b.Min))
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(b.Max))
		dst = binary.AppendVarint(dst, b.LastStep-prevStep)
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(b.LastValue))
		dst = binary.AppendVarint(dst, b.LastTime-prevTime)
		prevStep, prevTime = b.LastStep, b.LastTime
	}
	return dst
}

func summarise(steps []int64, values []float64, times []int64) Block {
	b := Block{Count: len(values), Min: math.NaN(), Max: math.NaN()}
	for i, v := range values {
		if i == 0 || steps[i] >= b.LastStep {
			b.LastStep, b.LastValue, b.LastTime = steps[i], v, times[i]
		}
		if v != v {
			continue
		}
		if b.Min != b.Min || v < b.Min {
			b.Min = v
		}
		if b.Max != b.Max || v > b.Max {
			b.Max = v
		}
	}
	return b
}

// DecodeLOD appends a chunk's blocks to blocks and reports whether its steps
// never decrease.
func DecodeLOD(blocks []Block, data []byte) ([]Block, bool, error) {
	if len(data) < 3 || data[0] != lodVersion {
		return blocks, false, fmt.Errorf("%w: bad level-of-detail header", ErrCorrupt)
	}
	monotonic := data[1]&1 == 1
	nb, k := binary.Uvarint(data[2:])
	if k <= 0 || nb > math.MaxInt32 {
		return blocks, false, ErrCorrupt
	}
	b := data[2+k:]
	var prevStep, prevTime int64
	for range nb {
		c, k := binary.Uvarint(b)
		if k <= 0 || c == 0 || c > BlockSize || len(b) < k+16 {
			return blocks, false, ErrCorrupt
		}
		b = b[k:]
		blk := Block{Count: int(c)}
		blk.Min = math.Float64frombits(binary.LittleEndian.Uint64(b))
		blk.Max = math.Float64frombits(binary.LittleEndian.Uint64(b[8:]))
		b = b[16:]
		ds, k1 := binary.Varint(b)
		if k1 <= 0 || len(b) < k1+8 {
			return blocks, false, ErrCorrupt
		}
		blk.LastStep = prevStep + ds
		blk.LastValue = math.Float64frombits(binary.LittleEndian.Uint64(b[k1:]))
		b = b[k1+8:]
		dt, k2 := binary.Varint(b)
		if k2 <= 0 {
			return blocks, false, ErrCorrupt
		}
		blk.LastTime = prevTime + dt
		b = b[k2:]
		prevStep, prevTime = blk.LastStep, blk.LastTime
		blocks = append(blocks, blk)
	}
	if len(b) != 0 {
		return blocks, false, fmt.Errorf("%w: %d bytes after the last block", ErrCorrupt, len(b))
	}
	return blocks, monotonic, nil
}

// DownsampleBlocks reduces blocks, in step order, to m buckets of
// consecutive blocks (when there are at least m blocks): bucket i holds
// blocks [i·n/m, (i+1)·n/m). Each bucket keeps its last point and the min
// and max of its values, exactly, as Downsampler does for step ranges; the
// buckets hold equal numbers of points rather than equal ranges of steps.
func DownsampleBlocks(blocks []Block, m int) (p Points, mn, mx []float64, total int64) {
	n := len(blocks)
	if m < 1 {
		m = 1
	}
	m = min(m, n)
	for i := range m {
		lo, hi := i*n/m, (i+1)*n/m
		var last Block
		bmn, bmx := math.NaN(), math.NaN()
		for j := lo; j < hi; j++ {
			b := &blocks[j]
			total += int64(b.Count)
			if j == lo || b.LastStep >= last.LastStep {
				last = *b
			}
			if b.Min == b.Min && (bmn != bmn || b.Min < bmn) {
				bmn = b.Min
			}
			if b.Max == b.Max && (bmx != bmx || b.Max > bmx) {
				bmx = b.Max
			}
		}
		p.Steps = append(p.Steps, last.LastStep)
		p.Values = append(p.Values, last.LastValue)
		p.Times = append(p.Times, last.LastTime)
		mn, mx = append(mn, bmn), append(mx, bmx)
	}
	return p, mn, mx, total
}
