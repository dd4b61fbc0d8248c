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

// bucket is the bucket of step s, which must lie in [lo, hi].
func (d *Downsampler) bucket(s int64) int {
	b := int(float64(s-d.lo) / d.width)
	if b >= d.n {
		b = d.n - 1
	}
	return b
}

// span returns the steps [first, next) that fall in bucket b, consistent
// with bucket(): the formula's guess is corrected against it, so a step
// is never put in a different bucket by the fast path of Add.
func (d *Downsampler) span(b int) (first, next int64) {
	edge := func(k int) int64 { // smallest step whose bucket is >= k
		if k <= 0 {
			return d.lo
		}
		if k >= d.n {
			return d.hi + 1
		}
		g := d.lo + int64(math.Ceil(float64(k)*d.width))
		for g > d.lo && d.bucket(g-1) >= k {
			g--
		}
		for g <= d.hi && d.bucket(g) < k {
			g++
		}
		return g
	}
	return edge(b), edge(b + 1)
}

// Add folds points into the buckets; points outside [lo, hi] are skipped.
// Steps usually come in order, so the bucket is found by comparing with
// the current bucket's span, and computed only when a step leaves it.
func (d *Downsampler) Add(steps []int64, values []float64, times []int64) {
	n := d.n
	cnt, bs, bv, bt, mn, mx := d.count[:n], d.step[:n], d.value[:n], d.time[:n], d.mn[:n], d.mx[:n]
	values = values[:len(steps)]
	times = times[:len(steps)]
	b, first, next := -1, int64(0), int64(0)
	for i, s := range steps {
		if s < first || s >= next {
			if s < d.lo || s > d.hi {
				continue
			}
			b = d.bucket(s)
			first, next = d.span(b)
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
