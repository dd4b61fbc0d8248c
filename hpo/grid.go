package hpo

import (
	"fmt"
	"math"
)

// maxGrid bounds the points of a grid search.
const maxGrid = 100_000

// gridValues returns the internal values a parameter takes in a grid:
// every choice, every integer, every multiple of Q.
func gridValues(p *Param) ([]float64, error) {
	switch p.Kind {
	case Const:
		return []float64{0}, nil
	case Categorical:
		out := make([]float64, len(p.Values))
		for i := range out {
			out[i] = float64(i)
		}
		return out, nil
	}
	st := p.step()
	if st == 0 {
		if p.Low == p.High {
			return []float64{p.Low}, nil
		}
		return nil, fmt.Errorf("parameter %q is a continuous range; give values, an int range or q", p.Name)
	}
	n := math.Floor((p.High-p.Low)/st+1e-9) + 1
	if n > maxGrid {
		return nil, fmt.Errorf("parameter %q has %g grid values, more than %d", p.Name, n, maxGrid)
	}
	out := make([]float64, int(n))
	for i := range out {
		out[i] = p.snap(p.Low + float64(i)*st)
	}
	return out, nil
}

// gridSize counts the grid's points, conditional parameters included only
// under the parent values that enable them.
func gridSize(s *Space) (int, error) {
	n := 0
	var err error
	walkGrid(s, 0, Point{}, func(Point) bool { n++; return n <= maxGrid }, &err)
	return n, err
}

// gridPoints lists the grid in order: the first parameter varies slowest.
func gridPoints(s *Space) []Point {
	var out []Point
	var err error
	walkGrid(s, 0, Point{}, func(p Point) bool { out = append(out, clonePoint(p)); return len(out) <= maxGrid }, &err)
	return out
}

func walkGrid(s *Space, i int, pt Point, visit func(Point) bool, err *error) bool {
	if i == len(s.Params) {
		return visit(pt)
	}
	p := &s.Params[i]
	if !s.active(pt, p) {
		return walkGrid(s, i+1, pt, visit, err)
	}
	vals, e := gridValues(p)
	if e != nil {
		*err = e
		return false
	}
	for _, v := range vals {
		pt[p.Name] = v
		if !walkGrid(s, i+1, pt, visit, err) {
			delete(pt, p.Name)
			return false
		}
	}
	delete(pt, p.Name)
	return true
}
