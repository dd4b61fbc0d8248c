package hpo

// mt19937 is NumPy's legacy RandomState (MT19937 seeded with
// init_genrand(seed), doubles from genrand_res53) — the generator behind
// Optuna's samplers — so tests can feed trainyard's searchers the very
// random numbers Optuna used.
type mt19937 struct {
	mt  [624]uint32
	idx int
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{idx: 624}
	m.mt[0] = seed
	for i := 1; i < 624; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	return m
}

func (m *mt19937) uint32() uint32 {
	if m.idx >= 624 {
		for i := range 624 {
			y := (m.mt[i] & 0x80000000) | (m.mt[(i+1)%624] & 0x7fffffff)
			v := m.mt[(i+397)%624] ^ (y >> 1)
			if y&1 != 0 {
				v ^= 0x9908b0df
			}
			m.mt[i] = v
		}
		m.idx = 0
	}
	y := m.mt[m.idx]
	m.idx++
	y ^= y >> 11
	y ^= (y << 7) & 0x9d2c5680
	y ^= (y << 15) & 0xefc60000
	y ^= y >> 18
	return y
}

// Float64 is NumPy's random_sample.
func (m *mt19937) Float64() float64 {
	a, b := m.uint32()>>5, m.uint32()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// IntN is not NumPy's (its bounded integers use masked rejection); the
// tests here draw no integers.
func (m *mt19937) IntN(n int) int { return int(m.uint32() % uint32(n)) }
