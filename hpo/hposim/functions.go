package hposim

import "math"

// Test functions for searchers. Each takes its inputs in the order and
// ranges documented and is minimised.

// BraninMin is the global minimum of Branin.
const BraninMin = 0.39788735772973816

// Branin is the 2-D Branin–Hoo function on x1 ∈ [-5, 10], x2 ∈ [0, 15].
func Branin(x1, x2 float64) float64 {
	b := 5.1 / (4 * math.Pi * math.Pi)
	c := 5 / math.Pi
	t := 1 / (8 * math.Pi)
	d := x2 - b*x1*x1 + c*x1 - 6
	return d*d + 10*(1-t)*math.Cos(x1) + 10
}

// Hartmann6Min is the global minimum of Hartmann6.
const Hartmann6Min = -3.3223680114155147

var (
	hAlpha = [4]float64{1.0, 1.2, 3.0, 3.2}
	hA     = [4][6]float64{
		{10, 3, 17, 3.5, 1.7, 8},
		{0.05, 10, 17, 0.1, 8, 14},
		{3, 3.5, 1.7, 10, 17, 8},
		{17, 8, 0.05, 10, 0.1, 14},
	}
	hP = [4][6]float64{
		{1312, 1696, 5569, 124, 8283, 5886},
		{2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650},
		{4047, 8828, 8732, 5743, 1091, 381},
	}
)

// Hartmann6 is the 6-D Hartmann function on [0, 1]^6.
func Hartmann6(x [6]float64) float64 { return hartmann(x, hAlpha) }

func hartmann(x [6]float64, alpha [4]float64) float64 {
	s := 0.0
	for i := range 4 {
		in := 0.0
		for j := range 6 {
			d := x[j] - 1e-4*hP[i][j]
			in += hA[i][j] * d * d
		}
		s += alpha[i] * math.Exp(-in)
	}
	return -s
}

// MFHartmann6 is the multi-fidelity Hartmann6 of Kandasamy et al. (2017)
// as automl/mf-prior-bench defines it: at fidelity z ∈ [1, 100] the
// weights are α − bias·(1−ẑ) and |N(0,1)|·noise·(1−ẑ) is added, where ẑ =
// log z / log 100; at z = 100 it is Hartmann6. The noise is a fixed
// function of (x, z) through splitmix64 (bench/hpo/problems.py computes
// the same numbers), so a repeated evaluation returns the same value.
// mf-prior-bench's "moderate" is bias 1, noise 0.2.
func MFHartmann6(x [6]float64, z int, bias, noise float64) float64 {
	zs := math.Log(float64(z)) / math.Log(100)
	var a [4]float64
	for i := range a {
		a[i] = hAlpha[i] - bias*(1-zs)
	}
	h := uint64(0x9E3779B97F4A7C15)
	for _, v := range x {
		h = splitmix64(h ^ math.Float64bits(v))
	}
	h = splitmix64(h ^ uint64(z))
	u1 := (float64(h>>11) + 0.5) / (1 << 53)
	u2 := float64(splitmix64(h)>>11) / (1 << 53)
	n := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return hartmann(x, a) + math.Abs(n)*noise*(1-zs)
}

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	z := x
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// MFHartmannCost is the cost of evaluating MFHartmann6 at fidelity z:
// 0.05 + 0.95·(z/100)². A trial's step z costs MFHartmannCost(z) −
// MFHartmannCost(z−1) (z > 1), so reaching z costs MFHartmannCost(z).
func MFHartmannCost(z int) float64 {
	if z <= 0 {
		return 0
	}
	return 0.05 + 0.95*math.Pow(float64(z)/100, 2)
}
