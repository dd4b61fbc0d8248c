package sched

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

const GiB = trainyard.Bytes(1 << 30)

// t0 is "now" in the table tests; ago(m) is m minutes before it.
var t0 = time.Date(2025, 3, 1, 10, 6, 0, 0, time.UTC)

func ago(m float64) time.Time { return t0.Add(-time.Duration(m * float64(time.Minute))) }

func res(gpus, cpus int, mem trainyard.Bytes) trainyard.Resources {
	return trainyard.Resources{GPUs: gpus, CPUs: cpus, Memory: mem}
}

// machine is 4 GPUs, 16 CPUs, 64GiB.
var machine = res(4, 16, 64*GiB)

func pend(id string, prio int, submitted time.Time, r trainyard.Resources) Pending {
	return Pending{ID: id, Request: r, Priority: prio, Submitted: submitted}
}

// run is a job running on the one node "m" of the table tests, holding r
// (its GPUs count is not used) and the GPUs named.
func run(id string, r trainyard.Resources, gpus ...int) Running {
	return Running{ID: id, Placement: []trainyard.Placement{{Node: "m", GPUs: gpus, CPUs: r.CPUs, Memory: r.Memory}}}
}

// st is the start of a job on node "m" with request r on the GPUs named.
func st(id string, r trainyard.Resources, gpus ...int) Start {
	if len(gpus) == 0 {
		gpus = nil
	}
	return Start{ID: id, Placement: []trainyard.Placement{{Node: "m", GPUs: gpus, CPUs: r.CPUs, Memory: r.Memory}}}
}

// node is the machine "m" of the table tests: capacity c, on the GPUs
// named or else GPUs 0..c.GPUs-1.
func node(c trainyard.Resources, gpus ...int) trainyard.Node {
	if len(gpus) == 0 {
		gpus = seq(c.GPUs)
	}
	return trainyard.Node{Name: "m", GPUs: gpus, CPUs: c.CPUs, Memory: c.Memory}
}

func TestSchedule(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		cap     trainyard.Resources
		gpus    []int
		running []Running
		queue   []Pending
		want    Decision
	}{
		{
			name: "empty queue decides nothing",
			cap:  machine,
			want: Decision{},
		},
		{
			name:  "higher priority goes first even if submitted later",
			cap:   res(1, 16, 64*GiB),
			queue: []Pending{pend("low", 0, ago(3), res(1, 1, 0)), pend("high", 5, ago(1), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("high", res(1, 1, 0), 0)},
				Waits:  []Wait{{ID: "low", Position: 1, Reason: "waiting for 1 GPU: 0 of 1 free"}},
			},
		},
		{
			name:  "earlier submitted goes first at equal priority",
			cap:   res(1, 16, 64*GiB),
			queue: []Pending{pend("a", 0, ago(1), res(1, 1, 0)), pend("b", 0, ago(2), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("b", res(1, 1, 0), 0)},
				Waits:  []Wait{{ID: "a", Position: 1, Reason: "waiting for 1 GPU: 0 of 1 free"}},
			},
		},
		{
			name:  "ID breaks the remaining ties",
			cap:   res(1, 16, 64*GiB),
			queue: []Pending{pend("b", 0, ago(1), res(1, 1, 0)), pend("a", 0, ago(1), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("a", res(1, 1, 0), 0)},
				Waits:  []Wait{{ID: "b", Position: 1, Reason: "waiting for 1 GPU: 0 of 1 free"}},
			},
		},
		{
			name:    "a job gets the lowest free GPU indices",
			cap:     machine,
			running: []Running{run("r", res(1, 1, 0), 1)},
			queue:   []Pending{pend("a", 0, ago(1), res(2, 1, 0)), pend("b", 0, ago(0), res(1, 1, 0))},
			want:    Decision{Starts: []Start{st("a", res(2, 1, 0), 0, 2), st("b", res(1, 1, 0), 3)}},
		},
		{
			name:    "GPU indices may have holes",
			cap:     machine,
			gpus:    []int{7, 1, 4, 3},
			running: []Running{run("r", res(1, 1, 0), 3)},
			queue:   []Pending{pend("a", 0, ago(1), res(2, 1, 0))},
			want:    Decision{Starts: []Start{st("a", res(2, 1, 0), 1, 4)}},
		},
		{
			name:  "a job asking for no GPUs gets nil GPUs",
			cap:   machine,
			queue: []Pending{pend("cpu", 0, ago(1), res(0, 2, GiB))},
			want:  Decision{Starts: []Start{st("cpu", res(0, 2, GiB))}},
		},
		{
			name:  "a GPU a node lists twice counts once",
			cap:   res(2, 16, 64*GiB),
			gpus:  []int{1, 0, 1, 0},
			queue: []Pending{pend("a", 0, ago(1), res(3, 1, 0)), pend("b", 0, ago(1), res(2, 1, 0))},
			want: Decision{
				Starts: []Start{st("b", res(2, 1, 0), 0, 1)},
				Waits:  []Wait{{ID: "a", Position: 1, Reason: "can never run here: asks for 3 GPUs but this machine has 2 GPUs (and 16 CPUs, 64GiB memory)"}},
			},
		},
		{
			name: "running jobs that overlap or name unknown GPUs make those GPUs busy, never shared",
			cap:  machine,
			running: []Running{
				run("r1", res(2, 1, 0), 0, 1),
				run("r2", res(2, 1, 0), 1, 2),
				run("r3", res(1, 1, 0), 9),
			},
			queue: []Pending{pend("a", 0, ago(2), res(1, 1, 0)), pend("b", 0, ago(1), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("a", res(1, 1, 0), 3)},
				Waits:  []Wait{{ID: "b", Position: 1, Reason: "waiting for 1 GPU: 0 of 4 free"}},
			},
		},
		{
			name:    "overcommitted CPUs count as none free; negative requests count as zero",
			cap:     machine,
			running: []Running{run("r", res(0, 20, 0))},
			queue: []Pending{
				pend("cpu", 0, ago(2), res(0, 1, 0)),
				pend("neg", 0, ago(1), res(-1, -5, -GiB)),
			},
			want: Decision{
				Starts: []Start{st("neg", res(0, 0, 0))},
				Waits:  []Wait{{ID: "cpu", Position: 1, Reason: "waiting for 1 CPU: 0 of 16 free"}},
			},
		},
		{
			name:    "a small job backfills past a blocked large one that has not aged",
			cap:     machine,
			running: []Running{run("r", res(2, 4, 0), 0, 1)},
			queue:   []Pending{pend("big", 0, ago(4), res(4, 1, 0)), pend("small", 0, ago(1), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("small", res(1, 1, 0), 2)},
				Waits:  []Wait{{ID: "big", Position: 1, Reason: "waiting for 4 GPUs: 2 of 4 free"}},
			},
		},
		{
			name:    "no backfill onto the GPUs an aged job holds",
			cap:     machine,
			running: []Running{run("r", res(2, 4, 0), 0, 1)},
			queue:   []Pending{pend("big", 0, ago(6), res(4, 1, 0)), pend("small", 0, ago(1), res(1, 1, 0))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 2 of 4 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			name:    "no backfill onto the CPUs an aged job holds",
			cap:     machine,
			running: []Running{run("r", res(0, 10, 0))},
			queue:   []Pending{pend("big", 0, ago(7.5), res(0, 8, 0)), pend("small", 0, ago(1), res(0, 2, 0))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 6 of 8 CPUs it needs; waiting for the rest (waited 7m30s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			name:    "no backfill onto the memory an aged job holds",
			cap:     machine,
			running: []Running{run("r", res(0, 1, 54*GiB))},
			queue:   []Pending{pend("big", 0, ago(10), res(0, 1, 32*GiB)), pend("small", 0, ago(1), res(0, 1, GiB))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 10GiB of 32GiB memory it needs; waiting for the rest (waited 10m0s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			name:    "a job that needs more than is free waits for it, not for the holder",
			cap:     machine,
			running: []Running{run("r", res(0, 1, 54*GiB))},
			queue:   []Pending{pend("big", 0, ago(10), res(0, 1, 32*GiB)), pend("huge", 0, ago(1), res(0, 1, 40*GiB))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 10GiB of 32GiB memory it needs; waiting for the rest (waited 10m0s, past the 5m0s backfill window)"},
				{ID: "huge", Position: 2, Reason: "waiting for 40GiB memory: 10GiB of 64GiB free"},
			}},
		},
		{
			name:    "the worked example of the package documentation",
			cap:     res(4, 16, 0),
			running: []Running{run("R", res(2, 4, 0), 0, 1)},
			queue: []Pending{
				pend("A", 0, ago(6), res(4, 8, 0)),
				pend("B", 0, ago(1), res(1, 1, 0)),
				pend("C", 0, ago(1), res(0, 4, 0)),
				pend("D", 0, ago(1), res(0, 1, 0)),
			},
			want: Decision{
				Starts: []Start{st("C", res(0, 4, 0))},
				Waits: []Wait{
					{ID: "A", Position: 1, Reason: "holding 2 of 4 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
					{ID: "B", Position: 2, Reason: "resources are held for job A, which has waited past the backfill window"},
					{ID: "D", Position: 3, Reason: "resources are held for job A, which has waited past the backfill window"},
				},
			},
		},
		{
			name:    "a job ages exactly when it has waited the window",
			cap:     machine,
			running: []Running{run("r", res(3, 1, 0), 0, 1, 2)},
			queue:   []Pending{pend("big", 0, ago(5), res(2, 1, 0)), pend("small", 0, ago(0), res(1, 1, 0))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 1 of 2 GPUs it needs; waiting for the rest (waited 5m0s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			name:    "a longer window keeps backfill going",
			cfg:     Config{BackfillWindow: 10 * time.Minute},
			cap:     machine,
			running: []Running{run("r", res(3, 1, 0), 0, 1, 2)},
			queue:   []Pending{pend("big", 0, ago(6), res(2, 1, 0)), pend("small", 0, ago(0), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("small", res(1, 1, 0), 3)},
				Waits:  []Wait{{ID: "big", Position: 1, Reason: "waiting for 2 GPUs: 1 of 4 free"}},
			},
		},
		{
			name:    "a negative window means no backfill at all",
			cfg:     Config{BackfillWindow: -1},
			cap:     machine,
			running: []Running{run("r", res(3, 1, 0), 0, 1, 2)},
			queue:   []Pending{pend("big", 0, ago(0), res(2, 1, 0)), pend("small", 0, ago(0), res(1, 1, 0))},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 1 of 2 GPUs it needs; waiting for the rest (waited 0s, past the 0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			name:    "a second aged job holds what the first leaves",
			cap:     machine,
			running: []Running{run("r", res(1, 1, 0), 0)},
			queue: []Pending{
				pend("first", 0, ago(9), res(2, 1, 0)),
				pend("second", 0, ago(8), res(2, 1, 0)),
				pend("third", 0, ago(7), res(1, 1, 0)),
			},
			want: Decision{
				Starts: []Start{st("first", res(2, 1, 0), 1, 2)},
				Waits: []Wait{
					{ID: "second", Position: 1, Reason: "holding 1 of 2 GPUs it needs; waiting for the rest (waited 8m0s, past the 5m0s backfill window)"},
					{ID: "third", Position: 2, Reason: "resources are held for job second, which has waited past the backfill window"},
				},
			},
		},
		{
			name:    "jobs ahead of an aged job are protected too",
			cap:     machine,
			running: []Running{run("r", res(2, 1, 0), 0, 1)},
			queue: []Pending{
				pend("P", 5, ago(1), res(3, 1, 0)),
				pend("Q", 5, ago(0), res(1, 1, 0)),
				pend("A", 0, ago(6), res(4, 1, 0)),
				pend("Z", 0, ago(0), res(0, 1, 0)),
			},
			want: Decision{
				Starts: []Start{st("Z", res(0, 1, 0))},
				Waits: []Wait{
					{ID: "P", Position: 1, Reason: "holding 2 of 3 GPUs it needs; waiting for the rest (queued ahead of job A, which has waited past the backfill window)"},
					{ID: "Q", Position: 2, Reason: "resources are held for job P, queued ahead of job A, which has waited past the backfill window"},
					{ID: "A", Position: 3, Reason: "holding 0 of 4 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s backfill window)"},
				},
			},
		},
		{
			name:    "a job that can never run holds nothing, however long it waits",
			cap:     machine,
			running: []Running{run("r", res(3, 1, 0), 0, 1, 2)},
			queue:   []Pending{pend("huge", 0, ago(60), res(8, 1, 0)), pend("small", 0, ago(0), res(1, 1, 0))},
			want: Decision{
				Starts: []Start{st("small", res(1, 1, 0), 3)},
				Waits:  []Wait{{ID: "huge", Position: 1, Reason: "can never run here: asks for 8 GPUs but this machine has 4 GPUs (and 16 CPUs, 64GiB memory)"}},
			},
		},
		{
			name:    "positions count only the jobs still queued, in order",
			cap:     res(2, 16, 64*GiB),
			running: []Running{run("r", res(1, 1, 0), 0)},
			queue: []Pending{
				pend("e", 0, ago(0), res(3, 1, 0)),
				pend("a", 9, ago(0), res(1, 1, 0)),
				pend("b", 8, ago(0), res(1, 1, 0)),
				pend("c", 7, ago(0), res(0, 2, 0)),
				pend("d", 6, ago(0), res(0, 1, 64*GiB)),
			},
			want: Decision{
				Starts: []Start{st("a", res(1, 1, 0), 1), st("c", res(0, 2, 0)), st("d", res(0, 1, 64*GiB))},
				Waits: []Wait{
					{ID: "b", Position: 1, Reason: "waiting for 1 GPU: 0 of 2 free"},
					{ID: "e", Position: 2, Reason: "can never run here: asks for 3 GPUs but this machine has 2 GPUs (and 16 CPUs, 64GiB memory)"},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{Now: t0, Nodes: []trainyard.Node{node(tt.cap, tt.gpus...)}, Running: tt.running, Queue: tt.queue}
			got := Schedule(tt.cfg, s)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Schedule() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHoldingGrows follows one aged job as running jobs exit: its holding
// grows, later jobs never get what it holds, and it starts the moment its
// whole request is free.
func TestHoldingGrows(t *testing.T) {
	big := pend("big", 0, ago(10), res(3, 1, 0))
	small := pend("small", 0, ago(1), res(1, 1, 0))
	steps := []struct {
		running []Running
		want    Decision
	}{
		{
			running: []Running{run("r0", res(1, 1, 0), 0), run("r1", res(1, 1, 0), 1), run("r2", res(1, 1, 0), 2)},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 1 of 3 GPUs it needs; waiting for the rest (waited 10m0s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			running: []Running{run("r0", res(1, 1, 0), 0), run("r2", res(1, 1, 0), 2)},
			want: Decision{Waits: []Wait{
				{ID: "big", Position: 1, Reason: "holding 2 of 3 GPUs it needs; waiting for the rest (waited 10m0s, past the 5m0s backfill window)"},
				{ID: "small", Position: 2, Reason: "resources are held for job big, which has waited past the backfill window"},
			}},
		},
		{
			running: []Running{run("r2", res(1, 1, 0), 2)},
			want: Decision{
				Starts: []Start{st("big", res(3, 1, 0), 0, 1, 3)},
				Waits:  []Wait{{ID: "small", Position: 1, Reason: "waiting for 1 GPU: 0 of 4 free"}},
			},
		},
	}
	for i, step := range steps {
		s := Snapshot{Now: t0, Nodes: []trainyard.Node{node(machine)}, Running: step.running, Queue: []Pending{small, big}}
		if diff := cmp.Diff(step.want, Schedule(Config{}, s)); diff != "" {
			t.Errorf("step %d: Schedule() mismatch (-want +got):\n%s", i, diff)
		}
	}
}

func TestSatisfiable(t *testing.T) {
	big := res(1, 16, trainyard.Bytes(125.5*float64(GiB)))
	tests := []struct {
		name      string
		cap, req  trainyard.Resources
		wantField string // "" when it fits
		wantMsg   string
	}{
		{name: "fits exactly", cap: big, req: big},
		{name: "asks for nothing", cap: res(0, 0, 0), req: res(0, 0, 0)},
		{name: "negative amounts count as zero", cap: res(0, 0, 0), req: res(-1, -1, -1)},
		{
			name: "too many GPUs", cap: big, req: res(4, 1, 0),
			wantField: "resources.gpus",
			wantMsg:   "asks for 4 GPUs but this machine has 1 GPU (and 16 CPUs, 125.5GiB memory)",
		},
		{
			name: "too many CPUs", cap: big, req: res(0, 32, 0),
			wantField: "resources.cpus",
			wantMsg:   "asks for 32 CPUs but this machine has 16 CPUs (and 1 GPU, 125.5GiB memory)",
		},
		{
			name: "too much memory", cap: big, req: res(0, 1, 128*GiB),
			wantField: "resources.memory",
			wantMsg:   "asks for 128GiB memory but this machine has 125.5GiB memory (and 1 GPU, 16 CPUs)",
		},
		{
			name: "several dimensions short names them all; Field names the first", cap: res(0, 1, 0), req: res(2, 4, GiB),
			wantField: "resources.gpus",
			wantMsg:   "asks for 2 GPUs and 4 CPUs and 1GiB memory but this machine has 0 GPUs and 1 CPU and 0B memory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Satisfiable([]trainyard.Node{node(tt.cap)}, Pending{ID: "j", Request: tt.req})
			checkSatisfiable(t, err, tt.wantField, tt.wantMsg)
		})
	}
}

// checkSatisfiable checks what Satisfiable returned: nil when field is
// "", else an EUNSATISFIABLE error naming field with message msg.
func checkSatisfiable(t *testing.T, err error, field, msg string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("Satisfiable() = %v, want nil", err)
		}
		return
	}
	want := &trainyard.Error{Code: trainyard.EUNSATISFIABLE, Field: field, Message: msg}
	if diff := cmp.Diff(want, err); diff != "" {
		t.Errorf("Satisfiable() mismatch (-want +got):\n%s", diff)
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}
