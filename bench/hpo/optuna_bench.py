"""Optuna, the peer, on the problems of trainyard's bench/hpo with the same
budgets. Writes the same JSON lines as `go run ./bench/hpo`.

    python bench/hpo/optuna_bench.py blackbox --problems branin,hartmann6 --algos random,tpe --seeds 20 --trials 200
    python bench/hpo/optuna_bench.py blackbox --problems hartmann6 --algos tpe --seeds 200 --seed0 101 --trials 200
    python bench/hpo/optuna_bench.py mf --problems lcbench:3945,mfhartmann6 --algos sh,hyperband --seeds 20 --budget 50 --workers 8

Multi-fidelity runs use Optuna's ask/tell interface under a simulated
clock with the given number of workers, as trainyard's hposim does: a
worker runs a trial epoch by epoch (each epoch takes the surrogate's cost),
reports it, and asks trial.should_prune(); the run ends when the total
epochs reach the budget. Samplers are RandomSampler (as trainyard's ASHA
runs with random sampling); pruners SuccessiveHalvingPruner and
HyperbandPruner with min_resource 1 (--min-resource), reduction_factor 3.
"""
from __future__ import annotations

import argparse
import heapq
import json
import math
import sys

import optuna

import problems as P

optuna.logging.set_verbosity(optuna.logging.WARNING)


def suggest_blackbox(trial, problem):
    if problem == "branin":
        return P.branin(trial.suggest_float("x1", -5, 10), trial.suggest_float("x2", 0, 15)), P.BRANIN_MIN
    x = [trial.suggest_float(f"x{i}", 0, 1) for i in range(6)]
    return P.hartmann(x), P.HARTMANN6_MIN


def blackbox(problem: str, algo: str, seed: int, n: int) -> dict:
    sampler = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler}[algo](seed=seed)
    study = optuna.create_study(sampler=sampler, direction="minimize")
    regret, best = [], math.inf
    for _ in range(n):
        t = study.ask()
        v, fmin = suggest_blackbox(t, problem)
        study.tell(t, v)
        best = min(best, v)
        regret.append(best - fmin)
    return {"side": "optuna", "mode": "blackbox", "problem": problem, "algo": algo, "seed": seed, "regret": regret}


def mf(problem: str, algo: str, seed: int, budget_trials: int, workers: int, benches: dict, min_resource: int = 1) -> dict:
    if problem == "mfhartmann6":
        R, goal = 100, "min"

        def config(t):
            return [t.suggest_float(f"x{i}", 0, 1) for i in range(6)]

        def step_value(cfg, z, cache):
            return P.mfhartmann6(cfg, z), P.mfhartmann_cost(z) - P.mfhartmann_cost(z - 1)
    else:
        task = problem.split(":", 1)[1]
        if task not in benches:
            benches[task] = P.LCBench(task)
        bench = benches[task]
        R, goal = P.LCBENCH_EPOCHS, "max"

        def config(t):
            c = {}
            for name, (kind, lo, hi, log) in P.LCBENCH_SPACE.items():
                c[name] = t.suggest_int(name, lo, hi, log=log) if kind == "int" else t.suggest_float(name, lo, hi, log=log)
            return c

        def step_value(cfg, z, cache):
            # The same growing chunks as the Go driver's evaluator.
            vals, costs = cache.setdefault("vals", []), cache.setdefault("costs", [])
            if z > len(vals):
                lo, hi = len(vals) + 1, min(R, max(z, 2 * len(vals)))
                v, k = bench.curve(cfg, lo, hi)
                vals += v
                costs += k
            return vals[z - 1], costs[z - 1]

    budget = budget_trials * R
    if algo == "sh":
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=3)
    elif algo == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=R, reduction_factor=3)
    elif algo == "random":
        pruner = optuna.pruners.NopPruner()
    else:
        raise SystemExit(f"mf algo {algo!r} is not sh, hyperband or random")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), pruner=pruner,
                                direction="minimize" if goal == "min" else "maximize")
    sign = 1 if goal == "min" else -1
    now, used, seq, ntrials = 0.0, 0, 0, 0
    heap: list = []  # (time the next step is done, seq, worker state)
    curve, best = [], math.inf

    def start():
        nonlocal seq, ntrials
        t = study.ask()
        st = {"trial": t, "cfg": config(t), "z": 0, "cache": {}}
        ntrials += 1
        _, cost = step_value(st["cfg"], 1, st["cache"])
        seq += 1
        heapq.heappush(heap, (now + cost, seq, st))

    for _ in range(workers):
        start()
    while heap and used < budget:
        now, _, st = heapq.heappop(heap)
        st["z"] += 1
        z = st["z"]
        v, _ = step_value(st["cfg"], z, st["cache"])
        used += 1
        t = st["trial"]
        t.report(v, z)
        if z == R:
            study.tell(t, v)
            if sign * v < best:
                best = sign * v
                curve.append([used, now, v])
        elif t.should_prune():
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            _, cost = step_value(st["cfg"], z + 1, st["cache"])
            seq += 1
            heapq.heappush(heap, (now + cost, seq, st))
            continue
        if used < budget:
            start()
    return {"side": "optuna", "mode": "mf", "problem": problem, "algo": algo, "seed": seed, "max_steps": R,
            "budget": budget, "goal": goal, "curve": curve, "steps": used, "seconds": now, "trials": ntrials}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["blackbox", "mf"])
    ap.add_argument("--problems", default="branin,hartmann6")
    ap.add_argument("--algos", default="random,tpe")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--seed0", type=int, default=1, help="first seed (as the Go driver's -seed0)")
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--budget", type=int, default=50)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--min-resource", type=int, default=1, help="the pruners' min_resource (as the Go driver's -min-steps)")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    out = open(a.out, "a") if a.out else sys.stdout
    benches: dict = {}
    for p in a.problems.split(","):
        for algo in a.algos.split(","):
            for seed in range(a.seed0, a.seed0 + a.seeds):
                if a.mode == "blackbox":
                    rec = blackbox(p, algo, seed, a.trials)
                else:
                    rec = mf(p, algo, seed, a.budget, a.workers, benches, a.min_resource)
                    if a.min_resource != 1:
                        rec["min_steps"] = a.min_resource
                out.write(json.dumps(rec) + "\n")
                out.flush()
            print(f"{p} {algo}: {a.seeds} seeds done", file=sys.stderr)


if __name__ == "__main__":
    main()
