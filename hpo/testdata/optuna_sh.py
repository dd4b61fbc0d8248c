"""Writes optuna_sh.json: Optuna's SuccessiveHalvingPruner (the version
pinned in bench/hpo/requirements.lock; min_resource 1, reduction_factor 3)
deciding on asynchronous trials, for TestASHAIsOptunasSuccessiveHalving.
8 simulated workers run trials of RandomSampler configurations of
MFHartmann6 step by step, as bench/hpo/optuna_bench.py does; each case is
the events in order: a trial starts, or reports a step and Optuna prunes
it or not. Rerun after changing the pinned Optuna:

    .venv-hpo/bin/python hpo/testdata/optuna_sh.py > hpo/testdata/optuna_sh.json
"""
import heapq
import json
import os
import sys

import optuna

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "hpo"))
import problems as P  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
R = 100


def case(seed, workers, budget):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
    events, heap, now, used, seq = [], [], 0.0, 0, 0

    def start():
        nonlocal seq
        t = study.ask()
        cfg = [t.suggest_float(f"x{i}", 0, 1) for i in range(6)]
        events.append({"start": t.number})
        seq += 1
        heapq.heappush(heap, (now + P.mfhartmann_cost(1), seq, t, cfg, 0))

    for _ in range(workers):
        start()
    while heap and used < budget:
        now, _, t, cfg, z = heapq.heappop(heap)
        z += 1
        v = P.mfhartmann6(cfg, z)
        used += 1
        t.report(v, z)
        ev = {"trial": t.number, "step": z, "value": v}
        events.append(ev)
        if z == R:
            study.tell(t, v)
        elif t.should_prune():
            ev["pruned"] = True
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            seq += 1
            heapq.heappush(heap, (now + P.mfhartmann_cost(z + 1) - P.mfhartmann_cost(z), seq, t, cfg, z))
            continue
        if used < budget:
            start()
    return {"seed": seed, "workers": workers, "max_steps": R, "budget": budget, "events": events}


def main():
    out = {"optuna": optuna.__version__, "cases": [case(1, 8, 6 * R), case(2, 8, 6 * R), case(3, 1, 4 * R)]}
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
