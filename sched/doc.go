// Package sched decides which queued jobs start on one machine, and why the
// others wait.
//
// It is pure and deterministic: no I/O, no goroutines, no clock. The caller
// (the dispatcher) passes a Snapshot — the current time, the machine's
// capacity, the running jobs and the queue — to Schedule on every submit and
// every job exit, and gets a Decision back: the jobs to start, with the GPU
// indices each gets, and for every other queued job its place in the queue
// and a reason a person can read. Satisfiable is the check made at submit
// time: a job that could not run even on the empty machine is refused.
//
// # Rules
//
//  1. Order. The queue is sorted by priority (highest first), then by
//     Submitted (earliest first, as instants), then by ID. The order is
//     total, so the input order of Queue and Running never matters.
//
//  2. Free resources. The walk starts from free = capacity − running jobs:
//     GPUs as the set of the machine's indices (Snapshot.GPUs, see there)
//     that no running job names,
//     CPUs and memory as numbers (0 when running jobs overcommit them). All
//     three dimensions behave alike; a request of 0 asks for none.
//
//  3. Start. Walking the queue in order, a job whose request fits in what is
//     available starts: it gets the lowest available GPU indices, for itself
//     alone, and its request is taken out of what is available.
//
//  4. Wait, backfill and reservations. A job that does not fit waits, and
//     later jobs that fit may start ahead of it (backfill). But once a
//     waiting job has waited at least Config.BackfillWindow since Submitted
//     (default 5m) it is aged, and from then on it is protected: it holds,
//     in each dimension, min(request, available) — for GPUs, the lowest
//     available indices — and the jobs after it can use only what is left.
//     Each decision recomputes the holdings, so a protected job's holding
//     grows as running jobs exit, until its whole request is held and it
//     starts. Protection extends forward in the order: every waiting job
//     ordered before the last aged job (higher priority, or older) holds in
//     the same way, whether or not that aged job starts in this decision,
//     so that a fresh high-priority job is never less protected than an
//     aged low-priority one, and so that jobs behind an aged job cannot
//     delay it indirectly by taking what the jobs ahead of it need. A job
//     that can never fit the machine (Satisfiable fails) holds nothing,
//     never counts as aged and never protects anyone.
//
//  5. Reasons. Every job that does not start gets a Wait with its 1-based
//     Position among the jobs still queued after the decision, in order, and
//     a Reason that names numbers (see Reasons below).
//
//  6. Determinism. The same Config and Snapshot give the same Decision.
//     Starts and Waits are both in scheduling order.
//
//  7. Defence. Running jobs that name the same GPU, or GPUs the machine does
//     not have, never make Schedule hand a GPU to two jobs: every GPU a
//     running job names is busy. Negative requests and capacities count as 0
//     (validation belongs to trainyard.JobSpec.Validate).
//
// The walk over the queue, in a picture (A is the last aged job):
//
//	scheduling order ───────────────────────────────────────────────────────────▶
//	P (prio 5, fresh)   Q (prio 5)   A (prio 0, aged)   B   C   D   E   F   G ...
//	└── waiting jobs hold min(request, available) ──┘
//	                                                    └ start from what is left ┘
//
// # Reasons
//
// A reason names the first dimension that is short, GPUs first:
//
//	waiting for 2 GPUs: 1 of 4 free
//	waiting for 8 CPUs: 3 of 16 free
//	waiting for 32GiB memory: 10GiB of 64GiB free
//	holding 1 of 2 GPUs it needs; waiting for the rest (waited 6m0s, past the 5m0s backfill window)
//	holding 0 of 8 CPUs it needs; waiting for the rest (queued ahead of job B, which has waited past the backfill window)
//	resources are held for job B, which has waited past the backfill window
//	resources are held for job A, queued ahead of job B, which has waited past the backfill window
//	can never run here: asks for 4 GPUs but this machine has 1 GPU (and 16 CPUs, 125.5GiB memory)
//
// "Free" counts what no running or starting job uses: held resources are
// idle, so they count as free. "Waiting for" goes to an unprotected job
// that does not fit what is free, "holding" to a protected one. "Resources
// are held" goes to any job that would fit what is free but not what is
// left once the protected jobs ahead of it hold theirs; it names the first
// job that holds some of what it lacks.
//
// # Worked example
//
// A machine with GPUs 0-3 and 16 CPUs, the default 5m window, at 10:06. Job
// R runs on GPUs 0 and 1 with 4 CPUs.
//
//	order  job  prio  submitted  asks            outcome
//	1      A    0     10:00      4 GPUs, 8 CPUs  aged (6m): holds GPUs 2,3 and 8 CPUs; waits
//	2      B    0     10:05      1 GPU,  1 CPU   fits what is free, but A holds the GPUs; waits
//	3      C    0     10:05      0 GPUs, 4 CPUs  starts: 16-4-8 = 4 CPUs are left after A's holding
//	4      D    0     10:05      0 GPUs, 1 CPU   waits: A holds the CPUs it would need
//
//	GPU     0   1   2   3        CPUs  R:4  A:8 (held)  C:4
//	        R   R   A   A
//
// At 10:04 A was not aged yet: B would have started on GPU 2 ahead of it.
// When R exits, A holds all four GPUs and starts at that same decision;
// nothing behind A can take them first.
//
// # Guarantee
//
// Let J be a job that can run on the machine, and t = J.Submitted +
// BackfillWindow. At every decision at or after t, the jobs ordered after J
// start only from what is left once J and every waiting job ahead of it hold
// min(request, available). Hence:
//
//   - Once aged, J starts at the first decision at which its request fits
//     in what the running jobs leave after the jobs ordered before it have
//     started or taken their holdings; no job behind it gets there first.
//
//   - Jobs of the same or lower priority submitted after J aged never delay
//     it. Precisely: if no job ordered before J is submitted after t, J
//     starts at exactly the same time as it would if none of the jobs
//     ordered after it and submitted at or after t existed (a simulation
//     property test checks this on random workloads). Jobs that started
//     before t, by backfill, are running jobs like any other: J waits for
//     them to exit.
//
//   - Priorities are strict. A stream of higher-priority jobs can delay a
//     lower-priority job forever. A higher-priority job that arrives after J
//     aged may also take what J holds; J may then wait for jobs that were
//     backfilled, while it was aged, into resources it did not need then.
//
// # Cost
//
// Schedule sorts the queue once (in the usual case a radix sort of packed
// integer keys) and walks it once: O(n log n) at worst in the queue
// length, plus the GPUs that running jobs name. It allocates the Decision,
// a working copy of the queue, and the reasons in shared strings of about
// 32KiB each. BenchmarkSchedule measures 10,000 queued jobs on 8 GPUs.
package sched
