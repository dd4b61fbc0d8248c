package sched

import (
	"fmt"
	"math/rand/v2"
	"syscall"
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
	s := Snapshot{Now: t0, Nodes: []trainyard.Node{node(res(8, 128, 1024*GiB))}}
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

// clusterSnapshot is issue 10's scheduling pass: 10,000 queued jobs over
// 1,000 nodes of 8 GPUs, 128 CPUs and 1TiB each, in two pools ("train",
// 800 nodes; "dev", 200) and two GPU types (h100 on even nodes,
// a100-sxm4-80gb on odd ones). Jobs ask for 1, 2, 4 or 8 GPUs (most for
// fewer), 1-32 CPUs per GPU-ish, and memory; one in ten runs on 2-4 nodes
// (all 8 GPUs each); one in five names a pool and one in five a GPU type.
// Four priorities, submitted over the last two hours.
//
// load is the share of each node's GPUs that running jobs hold (one job
// per node, on its lowest GPUs, with CPUs and memory to match): 0 is an
// empty cluster, where thousands of jobs start; 1 a full one, where all
// wait and the aged ones hold; in between, nodes have a few GPUs free.
// window is the backfill window: with 5m most of the queue has aged and
// holds, with 24h none has and all backfill.
func clusterSnapshot(load float64) Snapshot {
	rng := rand.New(rand.NewPCG(3, 4))
	s := Snapshot{Now: t0}
	for i := range 1000 {
		pool, gpu := "train", "h100"
		if i >= 800 {
			pool = "dev"
		}
		if i%2 == 1 {
			gpu = "a100-sxm4-80gb"
		}
		n := trainyard.Node{
			Name: fmt.Sprintf("node-%04d", i), GPUs: seq(8), CPUs: 128, Memory: 1024 * GiB,
			Labels: map[string]string{trainyard.LabelPool: pool, trainyard.LabelGPUType: gpu},
		}
		s.Nodes = append(s.Nodes, n)
		// Running jobs hold load*8 GPUs on average, spread 0-8.
		busy := int(load*8 + rng.Float64()*2 - 1 + 0.5)
		busy = min(8, max(0, busy))
		if load >= 1 {
			busy = 8
		}
		if busy > 0 {
			s.Running = append(s.Running, Running{ID: fmt.Sprintf("r%04d", i), Placement: []trainyard.Placement{
				{Node: n.Name, GPUs: seq(busy), CPUs: 12 * busy, Memory: 96 * GiB * trainyard.Bytes(busy)},
			}})
		}
	}
	gpus := []int{1, 1, 1, 1, 2, 2, 4, 8}
	for i := range 10_000 {
		p := Pending{
			ID:        fmt.Sprintf("job-%05d", i),
			Priority:  rng.IntN(4),
			Submitted: t0.Add(-time.Duration(rng.IntN(7200)) * time.Second),
		}
		g := gpus[rng.IntN(len(gpus))]
		if rng.IntN(10) == 0 {
			p.Nodes, g = 2+rng.IntN(3), 8
		}
		p.Request = trainyard.Resources{GPUs: g, CPUs: 1 + rng.IntN(16*g), Memory: GiB * trainyard.Bytes(1+rng.IntN(128*g))}
		if rng.IntN(5) == 0 {
			p.Pool = []string{"train", "dev"}[rng.IntN(2)]
		}
		if rng.IntN(5) == 0 {
			p.GPUType = []string{"h100", "a100"}[rng.IntN(2)]
		}
		s.Queue = append(s.Queue, p)
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
			cpu := cpuTime()
			for b.Loop() {
				Schedule(Config{}, s)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	for _, load := range []float64{0, 0.5, 0.9, 1} {
		for _, window := range []time.Duration{5 * time.Minute, 24 * time.Hour} {
			b.Run(fmt.Sprintf("nodes=1000/load=%v/window=%v", load, window), func(b *testing.B) {
				s := clusterSnapshot(load)
				cfg := Config{BackfillWindow: window}
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					Schedule(cfg, s)
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				d := Schedule(cfg, s)
				b.ReportMetric(float64(len(d.Starts)), "starts")
			})
		}
	}
}

// cpuTime is the CPU time (user and system) the process has used so far,
// in nanoseconds. On a shared machine it says more than wall time about
// what a pass costs: other processes stretch wall time, not this.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkScheduleTrace is one pass over the GPU tasks of the Alibaba
// trace (see TestTraceSim), all queued at once on its 1,213 empty GPU
// nodes of 1, 2, 4 and 8 GPUs and six GPU models: 6,203 jobs, 6,571
// GPUs asked for, 6,212 there. Fresh, they all backfill; aged (the pass
// is 10 minutes later), those that do not fit hold.
func BenchmarkScheduleTrace(b *testing.B) {
	nodes, tasks, _, _ := loadTrace(b)
	s := Snapshot{Now: t0, Nodes: nodes}
	for _, task := range tasks {
		p := task.Pending
		p.Submitted = t0
		s.Queue = append(s.Queue, p)
	}
	for _, aged := range []bool{false, true} {
		b.Run(fmt.Sprintf("aged=%v", aged), func(b *testing.B) {
			s := s
			if aged {
				s.Now = t0.Add(10 * time.Minute)
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				Schedule(Config{}, s)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(Schedule(Config{}, s).Starts)), "starts")
		})
	}
}
