package hpo

import "math"

// The truncated normal distribution, in log space where it matters, after
// Optuna's optuna/samplers/_tpe/_truncnorm.py.

var logSqrt2Pi = 0.5 * math.Log(2*math.Pi)

// ndtr is the standard normal CDF.
func ndtr(a float64) float64 {
	x := a / math.Sqrt2
	switch {
	case x < -1/math.Sqrt2:
		return 0.5 * math.Erfc(-x)
	case x < 1/math.Sqrt2:
		return 0.5 + 0.5*math.Erf(x)
	}
	return 1 - 0.5*math.Erfc(x)
}

// logNdtr is log(ndtr(a)), accurate far into the tails.
func logNdtr(a float64) float64 {
	if a > 6 {
		return -ndtr(-a)
	}
	if a > -20 {
		return math.Log(ndtr(a))
	}
	logLHS := -0.5*a*a - math.Log(-a) - logSqrt2Pi
	last, rhs, numer, denomFactor, sign := 0.0, 1.0, 1.0, 1.0, 1.0
	denomCons := 1 / (a * a)
	for i := 1; math.Abs(last-rhs) > 2.220446049250313e-16 && i < 200; i++ {
		last = rhs
		sign = -sign
		denomFactor *= denomCons
		numer *= float64(2*i - 1)
		rhs += sign * numer * denomFactor
	}
	return logLHS + math.Log(rhs)
}

// logGaussMass is log(ndtr(b) - ndtr(a)) for a < b.
func logGaussMass(a, b float64) float64 {
	switch {
	case b <= 0:
		return logDiff(logNdtr(b), logNdtr(a))
	case a > 0:
		return logDiff(logNdtr(-a), logNdtr(-b))
	}
	return math.Log1p(-ndtr(a) - ndtr(-b))
}

func logDiff(lp, lq float64) float64 { return lp + math.Log1p(-math.Exp(lq-lp)) }

func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// ndtriExp returns x with logNdtr(x) = y (y ≤ 0), by Newton's method.
func ndtriExp(y float64) float64 {
	flipped := y > -1e-2
	z := y
	if flipped {
		z = math.Log(-math.Expm1(y))
	}
	var x float64
	if z < -5 {
		x = -math.Sqrt(-2 * (z + logSqrt2Pi))
	} else {
		x = -math.Sqrt(3) / math.Pi * math.Log(math.Expm1(-z))
	}
	for range 100 {
		l := logNdtr(x)
		dx := (l - z) * math.Exp(l-(-0.5*x*x-logSqrt2Pi))
		x -= dx
		if math.Abs(dx) < 1e-8*math.Abs(x) {
			break
		}
	}
	if flipped {
		x = -x
	}
	return x
}

// truncnormPPF is the q-quantile of the standard normal truncated to [a, b].
func truncnormPPF(q, a, b float64) float64 {
	var x float64
	logMass := logGaussMass(a, b)
	if a < 0 {
		x = ndtriExp(logAddExp(logNdtr(a), math.Log(q)+logMass))
	} else {
		x = -ndtriExp(logAddExp(logNdtr(-b), math.Log1p(-q)+logMass))
	}
	if math.IsNaN(x) {
		return (a + b) / 2
	}
	return math.Max(a, math.Min(b, x))
}

// truncnormLogPDF is the log density at x of N(mu, sigma) truncated to [lo, hi].
func truncnormLogPDF(x, mu, sigma, lo, hi float64) float64 {
	if x < lo || x > hi {
		return math.Inf(-1)
	}
	z := (x - mu) / sigma
	return -0.5*z*z - logSqrt2Pi - logGaussMass((lo-mu)/sigma, (hi-mu)/sigma) - math.Log(sigma)
}
