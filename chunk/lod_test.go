package chunk

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// Downsampling from the level of detail gives, for each bucket of whole
// blocks, exactly what folding that bucket's points one by one gives.
func TestDownsampleBlocksIsExactPerBucket(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nchunks := rapid.IntRange(1, 4).Draw(t, "chunks")
		var steps, times []int64
		var values []float64
		var blocks []Block
		step := int64(0)
		for range nchunks {
			n := rapid.IntRange(1, 700).Draw(t, "n")
			var cs, ct []int64
			var cv []float64
			for range n {
				step += rapid.Int64Range(0, 3).Draw(t, "gap")
				cs = append(cs, step)
				ct = append(ct, rapid.Int64Range(0, 1<<40).Draw(t, "time"))
				switch rapid.IntRange(0, 9).Draw(t, "kind") {
				case 0:
					cv = append(cv, math.NaN())
				case 1:
					cv = append(cv, math.Inf(1))
				default:
					cv = append(cv, rapid.Float64Range(-1e6, 1e6).Draw(t, "v"))
				}
			}
			var mono bool
			var err error
			blocks, mono, err = DecodeLOD(blocks, EncodeLOD(nil, cs, cv, ct))
			if err != nil || !mono {
				t.Fatalf("decode: %v, monotonic=%v", err, mono)
			}
			steps, values, times = append(steps, cs...), append(values, cv...), append(times, ct...)
		}
		m := rapid.IntRange(1, len(blocks)).Draw(t, "m")
		p, mn, mx, total := DownsampleBlocks(blocks, m)
		if total != int64(len(values)) || p.Len() != m {
			t.Fatalf("total %d of %d points, %d buckets of %d", total, len(values), p.Len(), m)
		}
		// The same buckets, point by point.
		pos := 0
		var startOf []int
		for _, b := range blocks {
			startOf = append(startOf, pos)
			pos += b.Count
		}
		startOf = append(startOf, pos)
		for i := range m {
			lo, hi := startOf[i*len(blocks)/m], startOf[(i+1)*len(blocks)/m]
			want := summarise(steps[lo:hi], values[lo:hi], times[lo:hi])
			got := Block{Count: want.Count, Min: mn[i], Max: mx[i], LastStep: p.Steps[i], LastValue: p.Values[i], LastTime: p.Times[i]}
			if diff := cmp.Diff(want, got, cmpopts.EquateNaNs()); diff != "" {
				t.Fatalf("bucket %d of %d (points %d..%d) (-want +got):\n%s", i, m, lo, hi, diff)
			}
		}
	})
}

func TestLODFlagsDecreasingSteps(t *testing.T) {
	_, mono, err := DecodeLOD(nil, EncodeLOD(nil, []int64{1, 3, 2}, []float64{1, 2, 3}, []int64{1, 2, 3}))
	if err != nil || mono {
		t.Fatalf("monotonic=%v err=%v for steps 1,3,2", mono, err)
	}
}

func FuzzDecodeLOD(f *testing.F) {
	f.Add(EncodeLOD(nil, []int64{1, 2, 3}, []float64{1, math.NaN(), 3}, []int64{5, 6, 7}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if blocks, _, err := DecodeLOD(nil, data); err == nil && len(blocks) > 0 {
			DownsampleBlocks(blocks, 1+len(blocks)/2)
		}
	})
}
