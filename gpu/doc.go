// Package gpu discovers what this machine offers to jobs: its NVIDIA GPUs,
// logical CPUs and memory.
//
// The binary is built with CGO_ENABLED=0, so NVML is out of reach; GPUs are
// found by running nvidia-smi and parsing what it prints:
//
//	Probe / Query
//	   │
//	   ├─ nvidia-smi not in PATH ──────────────► no GPUs, "CPU-only mode" (not an error)
//	   │
//	   ├─ nvidia-smi --query-gpu=<QueryFields> --format=csv,noheader,nounits
//	   │     └─ ParseQueryCSV ── ok ───────────► Source "nvidia-smi"
//	   │              failed (not a timeout)
//	   ├─ nvidia-smi -q -x   (older drivers)
//	   │     └─ ParseXML ────── ok ────────────► Source "nvidia-smi -q -x", a warning
//	   │
//	   └─ both failed ─────────────────────────► no GPUs, warnings quoting nvidia-smi
//
// Each run is bounded by Timeout. Probe never returns an error: a GPU server
// whose driver is broken still starts, runs CPU jobs, and shows why in
// Machine.Warnings.
//
// The parsers are pure and fuzzed. ParseCSV also reads the header-ful form of
// --format=csv (with units), so output from a differently configured
// nvidia-smi can be parsed too. testdata/h200 holds real captures;
// testdata/fake-nvidia-smi is a stand-in for machines without GPUs, which
// other packages' tests write out with FakeNvidiaSMI.
package gpu
