package hpo

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
)

// Rand is the searcher's seeded source of randomness. Its whole state is a
// PCG generator's, and it marshals to JSON, so a restored searcher draws
// the same numbers the original would have.
type Rand struct {
	pcg *rand.PCG
	r   *rand.Rand
	alt source // tests only: another generator in place of the PCG (not serialisable)
}

// source is what the searchers draw from.
type source interface {
	Float64() float64
	IntN(n int) int
}

// NewRand returns a source seeded with seed.
func NewRand(seed uint64) *Rand {
	p := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	return &Rand{pcg: p, r: rand.New(p)}
}

// Float64 returns a number in [0, 1).
func (r *Rand) Float64() float64 {
	if r.alt != nil {
		return r.alt.Float64()
	}
	return r.r.Float64()
}

// IntN returns a number in [0, n).
func (r *Rand) IntN(n int) int {
	if r.alt != nil {
		return r.alt.IntN(n)
	}
	return r.r.IntN(n)
}

// MarshalJSON writes the generator's state.
func (r *Rand) MarshalJSON() ([]byte, error) {
	if r.alt != nil {
		return nil, errors.New("a test's random source is not serialisable")
	}
	b, err := r.pcg.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(b)
}

// UnmarshalJSON restores a state written by MarshalJSON.
func (r *Rand) UnmarshalJSON(data []byte) error {
	var b []byte
	if err := json.Unmarshal(data, &b); err != nil {
		return err
	}
	p := &rand.PCG{}
	if err := p.UnmarshalBinary(b); err != nil {
		return err
	}
	r.pcg, r.r = p, rand.New(p)
	return nil
}
