"""Writes optuna_tpe_runs.json: whole runs of Optuna's TPESampler (the
version pinned in bench/hpo/requirements.lock, default settings, seeded)
on Hartmann6 and Branin, as bench/hpo/optuna_bench.py runs them, for
TestTPERunsAreOptunasRuns: the value of every trial, in order. Rerun after
changing the pinned Optuna:

    .venv-hpo/bin/python hpo/testdata/optuna_tpe_runs.py > hpo/testdata/optuna_tpe_runs.json
"""
import json
import math
import sys

import optuna

from optuna_tpe import hartmann6

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(t):
    x1, x2 = t.suggest_float("x1", -5, 10), t.suggest_float("x2", 0, 15)
    d = x2 - 5.1 / (4 * math.pi**2) * x1 * x1 + 5 / math.pi * x1 - 6
    return {"x1": x1, "x2": x2}, d * d + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def run(name, objective, seed, trials):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    values = []
    for _ in range(trials):
        t = study.ask()
        _, v = objective(t)
        study.tell(t, v)
        values.append(v)
    return {"name": name, "seed": seed, "values": values}


def main():
    out = {
        "optuna": optuna.__version__,
        "runs": [run("hartmann6", hartmann6, s, 200) for s in (1, 2, 3)]
        + [run("branin", branin, s, 200) for s in (1, 2)],
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
