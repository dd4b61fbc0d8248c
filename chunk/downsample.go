package chunk

import "math"

// Downsampler reduces points to at most N buckets of equal step width over
// [Lo, Hi]. Each bucket keeps its last point by step (ties: the later
// written) and the min and max of its values, ignoring NaN, so that spikes
// survive. Feed it points in any order with Add; read buckets with Result.
type Downsampler struct {
	lo, hi int64
	width  float64
	n      int
	// per bucket
	count []int64
	step  []int64
	value []float64
	time  []int64
	mn    []float64
	mx    []float64
}

// NewDownsampler returns a Downsampler of n buckets over steps [lo, hi].
func NewDownsampler(n int, lo, hi int64) *Downsampler {
	if n < 1 {
		n = 1
	}
	span := float64(hi) - float64(lo) + 1
	if span < float64(n) {
		n = int(max(span, 1))
	}
	d := &Downsampler{lo: lo, hi: hi, n: n, width: span / float64(n),
		count: make([]int64, n), step: make([]int64, n), value: make([]float64, n),
		time: make([]int64, n), mn: make([]float64, n), mx: make([]float64, n)}
	for i := range d.mn {
		d.mn[i], d.mx[i] = math.NaN(), math.NaN()
	}
	return d
}

// Add folds points into the buckets; points outside [lo, hi] are skipped.
func (d *Downsampler) Add(steps []int64, values []float64, times []int64) {
	inv := 1 / d.width
	n := d.n
	cnt, bs, bv, bt, mn, mx := d.count[:n], d.step[:n], d.value[:n], d.time[:n], d.mn[:n], d.mx[:n]
	values = values[:len(steps)]
	times = times[:len(steps)]
	for i, s := range steps {
		if s < d.lo || s > d.hi {
			continue
		}
		b := int(float64(s-d.lo) * inv)
		if b >= n {
			b = n - 1
		}
		v := values[i]
		if s >= bs[b] || cnt[b] == 0 {
			bs[b], bv[b], bt[b] = s, v, times[i]
		}
		cnt[b]++
		if v < mn[b] || mn[b] != mn[b] { // mn is NaN until the bucket has a number
			if v == v {
				mn[b] = v
			}
		}
		if v > mx[b] || mx[b] != mx[b] {
			if v == v {
				mx[b] = v
			}
		}
	}
}

// Result returns the non-empty buckets in step order and the number of
// points they cover.
func (d *Downsampler) Result() (p Points, mn, mx []float64, total int64) {
	for b := 0; b < d.n; b++ {
		if d.count[b] == 0 {
			continue
		}
		total += d.count[b]
		p.Steps = append(p.Steps, d.step[b])
		p.Values = append(p.Values, d.value[b])
		p.Times = append(p.Times, d.time[b])
		mn = append(mn, d.mn[b])
		mx = append(mx, d.mx[b])
	}
	return p, mn, mx, total
}
