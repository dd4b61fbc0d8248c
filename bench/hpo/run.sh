#!/usr/bin/env bash
# Runs every bench/hpo figure of docs/benchmarks.md: trainyard's searchers
# (Go) and Optuna's (Python) on the same problems with the same budgets,
# then the tables. Usage: bench/hpo/run.sh PYTHON [SEEDS] [BBSEEDS]
# [SEEDS] for the multi-fidelity runs (default 20), [BBSEEDS] for the black-box ones
# (400: whether a Hartmann6 TPE run finds the global basin is a coin with p ≈ 2/3,
# and 100 seeds leave ±9 points on the share).
# PYTHON must have bench/hpo/requirements.lock installed (make bench-hpo does it).
set -euo pipefail
PY=${1:?python with bench/hpo/requirements.lock}
SEEDS=${2:-20}
BBSEEDS=${3:-400}
cd "$(dirname "$0")/../.."
OUT=bench/hpo/results
mkdir -p $OUT
rm -f $OUT/*.jsonl
TASKS=lcbench:3945,lcbench:7593,lcbench:34539,lcbench:126025,lcbench:146212
export YAHPO_DATA=${YAHPO_DATA:-$PWD/../shared/hpo-benchmarks/yahpo-lcbench}

go run ./bench/hpo -mode blackbox -problems branin,hartmann6 -algos random,tpe,tpe-optuna -seeds $BBSEEDS -trials 200 -out $OUT/go-blackbox.jsonl
(cd bench/hpo && $PY optuna_bench.py blackbox --problems branin,hartmann6 --algos random,tpe --seeds $BBSEEDS --trials 200 --out results/optuna-blackbox.jsonl)
go run ./bench/hpo -mode mf -problems mfhartmann6,$TASKS -algos random,asha,asha-promote,hyperband,pbt -seeds $SEEDS -budget 30 -workers 8 -python $PY -out $OUT/go-mf.jsonl
(cd bench/hpo && $PY optuna_bench.py mf --problems mfhartmann6,$TASKS --algos sh,hyperband --seeds $SEEDS --budget 30 --workers 8 --out results/optuna-mf.jsonl)
# ASHA's first rung and η (the table "ASHA by first rung r and reduction factor η")
for r in 2 3 4 6 9; do
  go run ./bench/hpo -mode mf -problems mfhartmann6,$TASKS -algos asha -seeds $SEEDS -budget 30 -workers 8 -min-steps $r -python $PY -out $OUT/go-mf-r.jsonl
done
for e in 2 4; do for r in 1 2 4; do
  go run ./bench/hpo -mode mf -problems lcbench:7593,lcbench:146212 -algos asha -seeds $SEEDS -budget 30 -workers 8 -min-steps $r -eta $e -python $PY -out $OUT/go-mf-r.jsonl
done; done
(cd bench/hpo && $PY optuna_bench.py mf --problems mfhartmann6,$TASKS --algos sh --seeds $SEEDS --budget 30 --workers 8 --min-resource 3 --out results/optuna-mf-r3.jsonl)
python3 bench/hpo/summarize.py $OUT/*.jsonl | tee bench/hpo/last-result.md
echo "### LCBench: how early epochs rank configurations (bench/hpo/fidelity.py)" | tee -a bench/hpo/last-result.md
echo | tee -a bench/hpo/last-result.md
(cd bench/hpo && $PY fidelity.py 400) | tee -a bench/hpo/last-result.md
