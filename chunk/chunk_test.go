package chunk

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

func TestRoundTripKeepsEveryValueBitForBit(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 5000).Draw(t, "n")
		steps := make([]int64, n)
		times := make([]int64, n)
		values := make([]float64, n)
		sequential := rapid.Bool().Draw(t, "sequential")
		for i := range n {
			if sequential {
				steps[i] = int64(i) * 10
			} else {
				steps[i] = rapid.Int64().Draw(t, "step")
			}
			times[i] = rapid.Int64Range(0, 1<<50).Draw(t, "time")
			switch rapid.IntRange(0, 5).Draw(t, "kind") {
			case 0:
				values[i] = math.NaN()
			case 1:
				values[i] = math.Inf(rapid.SampledFrom([]int{-1, 1}).Draw(t, "sign"))
			default:
				values[i] = math.Float64frombits(rapid.Uint64().Draw(t, "bits"))
			}
		}
		data, meta := Encode(nil, steps, values, times)
		if meta.Count != n {
			t.Fatalf("meta count %d, want %d", meta.Count, n)
		}
		var p Points
		p.Steps = []int64{-1} // Decode appends
		p.Values = []float64{-1}
		p.Times = []int64{-1}
		if err := Decode(&p, data); err != nil {
			t.Fatal(err)
		}
		if p.Len() != n+1 {
			t.Fatalf("decoded %d points, want %d", p.Len()-1, n)
		}
		for i := range n {
			if p.Steps[i+1] != steps[i] || p.Times[i+1] != times[i] ||
				math.Float64bits(p.Values[i+1]) != math.Float64bits(values[i]) {
				t.Fatalf("point %d: got (%d,%v,%d), want (%d,%v,%d)", i, p.Steps[i+1], p.Values[i+1], p.Times[i+1], steps[i], values[i], times[i])
			}
			if steps[i] < meta.MinStep || steps[i] > meta.MaxStep {
				t.Fatalf("step %d outside meta [%d,%d]", steps[i], meta.MinStep, meta.MaxStep)
			}
		}
	})
}

func TestSequentialStepsCostAlmostNothing(t *testing.T) {
	n := TargetSize
	steps, values, times := make([]int64, n), make([]float64, n), make([]int64, n)
	for i := range n {
		steps[i] = int64(i)
		values[i] = 1 / float64(i+1)
		times[i] = 1_700_000_000_000 + int64(i)*3
	}
	data, _ := Encode(nil, steps, values, times)
	// 8 bytes of value + 1 byte of time delta per point, plus a few bytes.
	if max := n*9 + 32; len(data) > max {
		t.Fatalf("chunk of %d sequential points is %d bytes, want at most %d", n, len(data), max)
	}
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	good, _ := Encode(nil, []int64{1, 2, 3}, []float64{1, 2, 3}, []int64{5, 6, 7})
	cases := map[string][]byte{
		"empty":        nil,
		"bad version":  append([]byte{9}, good[1:]...),
		"truncated":    good[:len(good)-1],
		"extra byte":   append(append([]byte{}, good...), 0),
		"huge count":   {version, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"run past end": {version, 2, 0, 2, 5},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var p Points
			if err := Decode(&p, data); err == nil {
				t.Fatalf("Decode(%x) = nil error, want one", data)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(nil, []int64{1, 2, 3, 10}, []float64{1, math.NaN(), 3, 4}, []int64{5, 6, 7, 100})
	f.Add(good)
	f.Add([]byte{version, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Points
		if err := Decode(&p, data); err != nil {
			return
		}
		data2, _ := Encode(nil, p.Steps, p.Values, p.Times)
		var q Points
		if err := Decode(&q, data2); err != nil {
			t.Fatalf("re-encoded chunk does not decode: %v", err)
		}
		if q.Len() != p.Len() {
			t.Fatalf("re-encode changed length %d -> %d", p.Len(), q.Len())
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	n := TargetSize
	steps, values, times := make([]int64, n), make([]float64, n), make([]int64, n)
	for i := range n {
		steps[i], values[i], times[i] = int64(i), float64(i), 1_700_000_000_000+int64(i)*7
	}
	data, _ := Encode(nil, steps, values, times)
	var p Points
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p.Reset()
		if err := Decode(&p, data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/point")
}
