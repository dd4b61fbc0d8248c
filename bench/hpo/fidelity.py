"""How well LCBench's early epochs rank configurations, per task: the
question successive halving bets on. For random configurations (the
sampler every multi-fidelity searcher of bench/hpo uses) it prints
Spearman's rank correlation between the validation accuracy at epoch e
and at the last epoch (52), and the share of the final top 5% that a
top-1/3 cut at epoch e (η = 3) would keep.

    YAHPO_DATA=../shared/hpo-benchmarks/yahpo-lcbench .venv-hpo/bin/python bench/hpo/fidelity.py [N]
"""
from __future__ import annotations

import contextlib
import io
import sys

import numpy as np

import problems as P

TASKS = ["3945", "7593", "34539", "126025", "146212"]
EPOCHS = (1, 3, 9, 27)  # the rungs of r = 1, η = 3


def sample(rng):
    c = {}
    for name, (kind, lo, hi, log) in P.LCBENCH_SPACE.items():
        if kind == "int":
            x = np.exp(rng.uniform(np.log(lo - 0.5), np.log(hi + 0.5))) if log else rng.uniform(lo - 0.5, hi + 0.5)
            c[name] = int(min(max(round(x), lo), hi))
        else:
            c[name] = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if log else float(rng.uniform(lo, hi))
    return c


def ranks(x):
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    return r


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rng = np.random.RandomState(0)
    cfgs = [sample(rng) for _ in range(n)]
    print(f"{n} random configurations per task.\n")
    print("| task | ρ(epoch 1, 52) | ρ(3, 52) | ρ(9, 52) | ρ(27, 52) | final top 5% kept by a top-⅓ cut at epoch 1 | at 3 | at 9 | at 27 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in TASKS:
        with contextlib.redirect_stdout(io.StringIO()):  # yahpo-gym prints citations
            b = P.LCBench(task)
        acc = np.array([b.curve(c, 1, P.LCBENCH_EPOCHS)[0] for c in cfgs])
        final = acc[:, -1]
        rho = [np.corrcoef(ranks(acc[:, e - 1]), ranks(final))[0, 1] for e in EPOCHS]
        top = final >= np.quantile(final, 0.95)
        kept = [np.mean(acc[top, e - 1] >= np.quantile(acc[:, e - 1], 2 / 3)) for e in EPOCHS]
        print(f"| {task} | " + " | ".join(f"{r:.2f}" for r in rho) + " | " + " | ".join(f"{k:.0%}" for k in kept) + " |")


if __name__ == "__main__":
    main()
