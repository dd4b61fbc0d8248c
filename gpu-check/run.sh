#!/usr/bin/env bash
# The GPU check: what only a machine with an NVIDIA GPU can show. Run it
# there (the device tool runs it with the static binary carried over):
#
#   make build-go && gpu-check/run.sh        # needs nvidia-smi, python3 with torch
#
# It checks GPU discovery against nvidia-smi, runs a real PyTorch job
# through `trainyard run --gpus 1`, and checks that the job saw exactly its
# GPU and that the SDK recorded GPU metrics; then a torch.distributed
# all-reduce over NCCL with one rank per GPU through `--launch torchrun`
# (tests/distributed/allreduce.py, the job the CPU tests run with gloo). It
# prints what it saw and exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${TRAINYARD_BIN:-$PWD/bin/trainyard}
OUT=${OUT:-$(mktemp -d)}
DATA=$(mktemp -d)
PORT=${PORT:-18123}
export TRAINYARD_URL=http://127.0.0.1:$PORT
export PYTHONPATH=$PWD/sdk/python/src${PYTHONPATH:+:$PYTHONPATH}

say() { echo "gpu-check: $*" | tee -a "$OUT/gpu-check.txt"; }

nvidia-smi -L | tee "$OUT/nvidia-smi-L.txt"
"$BIN" up --addr 127.0.0.1:$PORT --data "$DATA" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fsS "$TRAINYARD_URL/api/v1/health" >/dev/null 2>&1 && break; sleep 0.1; done

"$BIN" gpus | tee "$OUT/trainyard-gpus.txt"
"$BIN" gpus --json >"$OUT/trainyard-gpus.json"
want=$(nvidia-smi -L | wc -l)
got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["gpus"]))' "$OUT/trainyard-gpus.json")
[ "$got" = "$want" ] || { say "FAIL: trainyard found $got GPUs, nvidia-smi lists $want"; exit 1; }
say "discovery: $got GPU(s), as nvidia-smi lists"

"$BIN" run --gpus 1 --wait --name torch-check --project gpu-check -- python3 gpu-check/torch_job.py | tee "$OUT/job.txt"
RUN=$("$BIN" runs ls --project gpu-check --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
"$BIN" runs show "$RUN" | tee "$OUT/run.txt"
"$BIN" metrics "$RUN" --json >"$OUT/metrics.json"
python3 - "$OUT/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["loss"]["count"] >= 10, sorted(m)
assert m["loss"]["last"] < m["loss"]["max"], m["loss"]
gpu = [k for k in m if k.startswith("system/gpu.")]
assert gpu, "no system/gpu.* metrics: %s" % sorted(m)
print("gpu-check: metrics ok:", ", ".join(sorted(gpu)))
PY

# NCCL: one rank per GPU of this machine, as DDP runs; every rank checks
# the sum of the all-reduce.
"$BIN" run --gpus "$want" --launch torchrun --wait --name nccl-allreduce --project gpu-check -- \
  python3 tests/distributed/allreduce.py nccl | tee "$OUT/nccl.txt"
ok=$(grep -c "backend=nccl .* ok$" "$OUT/nccl.txt" || true)
[ "$ok" = "$want" ] || { say "FAIL: $ok of $want ranks reported a correct NCCL all-reduce"; exit 1; }
say "nccl: all-reduce correct on $ok rank(s): $(grep -o 'device=[^=]* sum' "$OUT/nccl.txt" | head -1)"
say "PASS"
