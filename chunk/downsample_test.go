package chunk

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"pgregory.net/rapid"
)

func TestDownsampleKeepsSpikesAndLastPoints(t *testing.T) {
	// 10 points, steps 0..9, into 2 buckets [0,4] and [5,9]; a spike at 7.
	var steps, times []int64
	var values []float64
	for i := range 10 {
		steps = append(steps, int64(i))
		times = append(times, int64(100+i))
		values = append(values, float64(i))
	}
	values[7] = 1000
	values[2] = math.NaN()
	d := NewDownsampler(2, 0, 9)
	d.Add(steps, values, times)
	p, mn, mx, total := d.Result()
	want := Points{Steps: []int64{4, 9}, Values: []float64{4, 9}, Times: []int64{104, 109}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("points (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0, 5}, mn); diff != "" {
		t.Errorf("min (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{4, 1000}, mx); diff != "" {
		t.Errorf("max (-want +got):\n%s", diff)
	}
	if total != 10 {
		t.Errorf("total %d, want 10", total)
	}
}

func TestDownsampleAllNaNBucketHasNaNBand(t *testing.T) {
	d := NewDownsampler(1, 0, 1)
	d.Add([]int64{0, 1}, []float64{math.NaN(), math.NaN()}, []int64{1, 2})
	p, mn, mx, _ := d.Result()
	if !math.IsNaN(p.Values[0]) || !math.IsNaN(mn[0]) || !math.IsNaN(mx[0]) {
		t.Fatalf("got value %v min %v max %v, want NaN for all", p.Values[0], mn[0], mx[0])
	}
}

func TestDownsampleProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 2000).Draw(t, "n")
		buckets := rapid.IntRange(1, 300).Draw(t, "buckets")
		steps := rapid.SliceOfN(rapid.Int64Range(-1000, 100000), n, n).Draw(t, "steps")
		values := rapid.SliceOfN(rapid.Float64(), n, n).Draw(t, "values")
		times := make([]int64, n)
		lo, hi := steps[0], steps[0]
		gmin, gmax := math.Inf(1), math.Inf(-1)
		for i, s := range steps {
			lo, hi = min(lo, s), max(hi, s)
			if !math.IsNaN(values[i]) {
				gmin, gmax = math.Min(gmin, values[i]), math.Max(gmax, values[i])
			}
		}
		d := NewDownsampler(buckets, lo, hi)
		d.Add(steps, values, times)
		p, mn, mx, total := d.Result()
		if total != int64(n) {
			t.Fatalf("buckets cover %d points, want %d", total, n)
		}
		if p.Len() > buckets {
			t.Fatalf("%d buckets, want at most %d", p.Len(), buckets)
		}
		// The global extremes survive downsampling.
		bmin, bmax := math.Inf(1), math.Inf(-1)
		for i := range mn {
			if !math.IsNaN(mn[i]) {
				bmin, bmax = math.Min(bmin, mn[i]), math.Max(bmax, mx[i])
			}
			if i > 0 && p.Steps[i] <= p.Steps[i-1] {
				t.Fatalf("bucket steps not increasing: %v", p.Steps)
			}
		}
		if bmin != gmin || bmax != gmax {
			t.Fatalf("extremes %v..%v, want %v..%v", bmin, bmax, gmin, gmax)
		}
		// The last point overall is the last bucket's point.
		if p.Steps[p.Len()-1] != hi {
			t.Fatalf("last bucket step %d, want %d", p.Steps[p.Len()-1], hi)
		}
	})
}

func BenchmarkDownsampleMillion(b *testing.B) {
	n := 1_000_000
	steps, values, times := make([]int64, n), make([]float64, n), make([]int64, n)
	for i := range n {
		steps[i], values[i] = int64(i), math.Sin(float64(i))
	}
	for b.Loop() {
		d := NewDownsampler(1000, 0, int64(n-1))
		d.Add(steps, values, times)
		d.Result()
	}
}
