package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

// benchSnapshot is 10,000 queued jobs on an 8-GPU machine: 1-8 GPUs each,
// four priorities, submitted over the last two hours (so many have aged).
// On the busy machine every GPU is taken and most of the queue waits; on
// the idle one the first jobs start and the rest wait behind them.
func benchSnapshot(busy bool) Snapshot {
	rng := rand.New(rand.NewPCG(1, 2))
	s := Snapshot{Now: t0, Capacity: res(8, 128, 1024*GiB)}
	if busy {
		for g := range 8 {
			s.Running = append(s.Running, run(fmt.Sprintf("r%d", g), res(1, 8, 64*GiB), g))
		}
	}
	for i := range 10_000 {
		s.Queue = append(s.Queue, Pending{
			ID:        fmt.Sprintf("job-%05d", i),
			Priority:  rng.IntN(4),
			Submitted: t0.Add(-time.Duration(rng.IntN(7200)) * time.Second),
			Request:   trainyard.Resources{GPUs: 1 + rng.IntN(8), CPUs: 1 + rng.IntN(32), Memory: GiB * trainyard.Bytes(1+rng.IntN(256))},
		})
	}
	return s
}

func BenchmarkSchedule(b *testing.B) {
	for _, busy := range []bool{true, false} {
		name := "idle"
		if busy {
			name = "busy"
		}
		b.Run(name, func(b *testing.B) {
			s := benchSnapshot(busy)
			b.ReportAllocs()
			for b.Loop() {
				Schedule(Config{}, s)
			}
		})
	}
}
