// Package sched decides which queued jobs start, on which nodes and GPUs,
// and why the others wait.
//
// It is pure and deterministic: no I/O, no goroutines, no clock. The caller
// (the dispatcher) passes a Snapshot — the current time, the nodes, the
// running jobs with what they hold on each node, and the queue — to
// Schedule on every submit and every job exit, and gets a Decision back:
// the jobs to start, with the node and GPU indices each of their nodes
// gets, and for every other queued job its place in the queue and a reason
// a person can read. Satisfiable is the check made at submit time: a job
// that could not run even on the empty nodes is refused.
//
// A job asks for Request on each of Nodes nodes (one by default), and may
// name a pool and a GPU type. A job of several nodes is a gang: it starts
// on all its nodes at once or not at all.
//
// # Rules
//
//  1. Order. The queue is sorted by priority (highest first), then by
//     Submitted (earliest first, as instants), then by ID. The order is
//     total, so the input order of Queue, Running and Nodes never matters.
//
//  2. Free resources, per node. Nodes are taken in node order (by name).
//     On each, the walk starts from free = capacity − running jobs: GPUs
//     as the set of the node's indices that no running job names there,
//     CPUs and memory as numbers (0 when running jobs overcommit them). All
//     three dimensions behave alike; a request of 0 asks for none.
//
//  3. Matching nodes. A node matches a job when its label
//     trainyard.LabelPool names the job's Pool (if the job names one; a
//     node may be in several pools, a comma-separated list),
//     its label trainyard.LabelGPUType matches the job's GPUType
//     (trainyard.GPUTypeMatches, if the job names one), and the node, empty,
//     has the job's request. A job runs only on matching nodes, each of
//     its nodes a different one.
//
//  4. Start. Walking the queue in order, a job whose request fits what is
//     available on as many matching nodes as it asks for starts, on those
//     where it leaves the fewest GPUs free, then the fewest CPUs, then the
//     least memory, then the first in node order (best fit: small jobs
//     fill the nodes that are already in use, and whole nodes stay whole
//     for the jobs that need them). On each node it gets the lowest
//     available GPU indices, for itself alone, and its request is taken
//     out of what is available there. Its placements are listed in node
//     order; the first is node rank 0.
//
//  5. Wait, backfill and holdings. A job that does not fit waits, and
//     later jobs that fit may start ahead of it (backfill). But once a
//     waiting job has waited at least Config.BackfillWindow since Submitted
//     (default 5m) it is aged, and from then on it is protected: it holds,
//     on each of the matching nodes on which it lacks the least (the
//     fewest GPUs short of its request, then CPUs, then memory, then the
//     first in node order), as many as it asks for, in each dimension
//     min(request, available) — for GPUs, the lowest available indices —
//     and the jobs after it can use only what is left. Each decision
//     recomputes the holdings, so a protected job's holding grows as
//     running jobs exit, until its whole request is held on all its nodes
//     and it starts. Protection extends forward in the order: every
//     waiting job ordered before the last aged job (higher priority, or
//     older) holds in the same way, whether or not that aged job starts in
//     this decision, so that a fresh high-priority job is never less
//     protected than an aged low-priority one, and so that jobs behind an
//     aged job cannot delay it indirectly by taking what the jobs ahead of
//     it need. A job that can never run (Satisfiable fails) holds nothing,
//     never counts as aged and never protects anyone.
//
//  6. Reasons. Every job that does not start gets a Wait with its 1-based
//     Position among the jobs still queued after the decision, in order, and
//     a Reason that names numbers (see Reasons below).
//
//  7. Determinism. The same Config and Snapshot give the same Decision.
//     Starts and Waits are both in scheduling order.
//
//  8. Defence. Running jobs that name the same GPU, GPUs a node does not
//     have, or nodes the snapshot does not have never make Schedule hand a
//     GPU to two jobs: every GPU a running job names on a node is busy, and
//     the rest is ignored. No job is placed where CPUs or memory would
//     exceed what is free. Negative requests, capacities and node counts
//     count as 0 (1 node); of nodes with the same name only the first
//     counts (validation belongs to trainyard.JobSpec.Validate and to the
//     executor that lists the nodes).
//
// The walk over the queue, in a picture (A is the last aged job):
//
//	scheduling order ───────────────────────────────────────────────────────────▶
//	P (prio 5, fresh)   Q (prio 5)   A (prio 0, aged)   B   C   D   E   F   G ...
//	└── waiting jobs hold min(request, available) ──┘
//	    on the nodes where they lack the least
//	                                                    └ start from what is left ┘
//	                                                      on the nodes they fit best
//
// # Reasons
//
// On one node (the snapshot has one), a reason names the first dimension
// that is short, GPUs first, as it always has:
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
// On several nodes it counts the matching nodes that have enough free, in
// the first dimension in which too few have (or in all at once, when each
// alone would do), totals what a job holds over its nodes and names them,
// and names the node on which what a job lacks is held:
//
//	waiting for a node with 4 free GPUs: 0 of 12 matching nodes have them
//	waiting for 2 nodes with 8 free GPUs each: 1 of 3 matching nodes has them
//	waiting for a node with 2 GPUs and 8 CPUs free: 0 of 3 matching nodes have them
//	holding 10 of 16 GPUs it needs on nodes a, b; waiting for the rest (waited 6m0s, past the 5m0s backfill window)
//	resources on node a are held for job G, which has waited past the backfill window
//	can never run here: no node of pool batch has gpu_type h100 (its nodes have a100-sxm4-80gb, t4)
//	can never run here: asks for 2 nodes with 8 GPUs and 8 CPUs each (gpu_type h100) but only 1 node has that
//
// "Free" counts what no running or starting job uses: held resources are
// idle, so they count as free. "Waiting for" goes to an unprotected job
// that does not fit what is free on enough nodes, "holding" to a protected
// one. "Resources are held" goes to any job that would fit what is free on
// enough nodes but not what is left once the protected jobs ahead of it
// hold theirs; it names the first job that holds some of what it lacks,
// on the first node (in node order) where that is so. "Can never run
// here" is Satisfiable's message.
//
// # Worked example: one machine
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
// # Worked example: several nodes
//
// Nodes a, b and c, each with GPUs 0-7 and 32 CPUs, the default window, at
// 10:06. R1 runs on a (GPUs 0-5), R2 on b (GPUs 0-3), R3 on c (GPUs 0-6).
//
//	order  job  submitted  asks                         outcome
//	1      G    10:00      2 nodes × (8 GPUs, 8 CPUs)   aged: lacks 4 GPUs on b, 6 on a, 7 on c;
//	                                                    holds b's GPUs 4-7 and a's 6-7 (and 8 CPUs
//	                                                    on each); waits
//	2      S    10:05      1 GPU, 1 CPU                 starts on c, GPU 7: the only GPU not held
//	3      T    10:05      2 GPUs, 2 CPUs               would fit a's 2 idle GPUs, but G holds them
//	4      U    10:05      4 nodes × (1 GPU, 1 CPU)     can never run: only 3 nodes
//
//	        GPU 0  1  2  3  4  5  6  7
//	node a      R1 R1 R1 R1 R1 R1 G  G      G holds 2 of 8
//	node b      R2 R2 R2 R2 G  G  G  G      G holds 4 of 8
//	node c      R3 R3 R3 R3 R3 R3 R3 S
//
// G's reason is "holding 6 of 16 GPUs it needs on nodes a, b; waiting for
// the rest (waited 6m0s, past the 5m0s backfill window)", T's "resources
// on node a are held for job G, which has waited past the backfill
// window". At 10:04, before G aged, T would have started on a (the node
// it fits best) and S on c. When R2 exits, G holds all of b and a's two
// free GPUs; when R1 exits, G starts on a and b at that same decision.
//
// # Guarantee
//
// On one node. Let J be a job that can run on the node, and t = J.Submitted
// + BackfillWindow. At every decision at or after t, the jobs ordered after
// J start only from what is left once J and every waiting job ahead of it
// hold min(request, available). Hence:
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
// On several nodes, what is promised is weaker, and this is why. Let J
// be an aged job that can run.
//
//   - At every decision, the jobs ordered after J start only from what is
//     left, on each node, once J and every waiting job ahead of it hold
//     min(request, available) on their nodes (a property test checks it).
//
//   - J's progress never goes back because of jobs behind it. Call J's
//     shortfall on a node what it lacks there of its request (GPUs, CPUs,
//     memory, compared in that order), and J's shortfall the n-th smallest
//     of those over the matching nodes, n being the nodes it asks for.
//     While no job ordered before J waits, J's shortfall never grows from
//     one decision to the next: exits shrink shortfalls; jobs behind J
//     start only on what J does not hold, so they leave its shortfall on
//     the nodes it holds unchanged, and grow it only on nodes where it was
//     already no smaller. J starts at the first decision at which its
//     shortfall is zero. (A simulation property test checks this.)
//
//   - But jobs behind J can delay it. J holds on the nodes where it lacks
//     the least now; the scheduler knows no run times, so it cannot tell
//     which node will be free first. What J does not hold is open to
//     backfill. Say J needs 8 GPUs on one node; it lacks 2 on a (whose job
//     runs until 100) and 8 on b (whose two jobs end at 10 and 20). J holds
//     a's 6 free GPUs. At 10, b has 4 free; J still lacks less on a, and K,
//     a later job, takes b's 4. Without K, J would have started on b at 20;
//     with it, J starts on a at 100 (a simulation test pins this down). So J
//     waits until its shortfall reaches zero, and when that is depends on
//     run times the scheduler does not know. Holding on every node J could
//     use would prevent the delay and idle the cluster. Planning start
//     times from run-time estimates (as Slurm's backfill does) would bound
//     it; that needs time limits in the snapshot and is left for later.
//
//   - Priorities are strict, as on one node.
//
// # Cost
//
// Schedule sorts the queue once (in the usual case a radix sort of packed
// integer keys) and walks it once. For each job it asks the job's class of
// matching nodes, which indexes them by free GPUs (a bit set of nodes per
// count, in node order, with the most CPUs and memory any has free): to
// start, it looks only at nodes with enough GPUs free, fewest first; to
// hold, at the GPU count closest to enough, stopping once no node can
// lack less. Satisfiable counts a class's distinct node shapes. It
// allocates the Decision, a working copy of the queue, per-node state, and
// the reasons in shared strings of about 32KiB each. BenchmarkSchedule
// measures 10,000 queued jobs on one 8-GPU machine and on 1,000 nodes of 8
// GPUs (docs/benchmarks.md).
package sched
