"""Writes optuna_tpe.json: Optuna's TPESampler (the version pinned in
bench/hpo/requirements.lock, default settings) at work, for
TestTPEIsOptunasTPE. Each case is the ask/tell events of one study: the
point each ask got (internal form: numbers, categorical as the choice's
index) and the value each tell gave. Rerun after changing the pinned
Optuna:

    .venv-hpo/bin/python hpo/testdata/optuna_tpe.py > hpo/testdata/optuna_tpe.json
"""
import json
import math
import sys

import numpy
import optuna
from optuna.samplers._tpe import parzen_estimator

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _StableArgsort:
    """NumPy for parzen_estimator with a stable argsort. Observations that
    tie (ints, stepped floats) get the bandwidths of their sorted positions
    in an order NumPy's default argsort leaves unspecified (it is not stable,
    and its result depends on the CPU's SIMD support); trainyard's order is
    the stable one, so the reference is made stable too. Nothing else
    changes."""

    def __getattr__(self, name):
        return getattr(numpy, name)

    @staticmethod
    def argsort(a, *args, **kwargs):
        kwargs.setdefault("kind", "stable")
        return numpy.argsort(a, *args, **kwargs)


parzen_estimator.np = _StableArgsort()

H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
CHOICES = ["adam", "sgd", "rmsprop"]


def hartmann6(t):
    x = [t.suggest_float(f"x{i}", 0, 1) for i in range(6)]
    s = 0.0
    for i in range(4):
        s += H_ALPHA[i] * math.exp(-sum(H_A[i][j] * (x[j] - 1e-4 * H_P[i][j]) ** 2 for j in range(6)))
    return {f"x{i}": x[i] for i in range(6)}, -s


def mixed(t):
    # Names sort in the order they are suggested: Optuna's joint (relative)
    # search space is sorted by name, trainyard's follows the space's order.
    a = t.suggest_float("a", -5, 10)
    b = t.suggest_float("b", 1e-5, 1e-1, log=True)
    c = t.suggest_int("c", 2, 8)
    d = t.suggest_int("d", 16, 512, log=True)
    e = t.suggest_float("e", 0, 1, step=0.05)
    f = t.suggest_categorical("f", CHOICES)
    pt = {"a": a, "b": b, "c": float(c), "d": float(d), "e": e, "f": float(CHOICES.index(f))}
    v = (a - 1) ** 2 / 10 + (math.log10(b) + 3) ** 2 + (c - 5) ** 2 / 4 + (math.log2(d) - 7) ** 2 / 4 + 10 * (e - 0.3) ** 2
    if f == "sgd":
        g = t.suggest_float("g", 0, 1)  # exists only with sgd
        pt["g"] = g
        v += 2 * (g - 0.9) ** 2
    else:
        v += {"adam": 1.0, "rmsprop": 1.5}[f]
    return pt, v


def case(name, objective, seed, trials, batch):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    events = []
    for _ in range(0, trials, batch):
        pending = []
        for _ in range(batch):
            t = study.ask()
            pt, v = objective(t)
            events.append({"ask": t.number, "point": pt})
            pending.append((t, v))
        for t, v in pending:
            study.tell(t, v)
            events.append({"tell": t.number, "value": v})
    return {"name": name, "seed": seed, "events": events}


def main():
    out = {
        "optuna": optuna.__version__,
        "cases": [
            case("hartmann6", hartmann6, 1, 80, 1),
            case("hartmann6", hartmann6, 2, 80, 1),
            case("mixed", mixed, 1, 80, 1),
            case("mixed", mixed, 2, 80, 1),
            case("mixed-parallel-4", mixed, 3, 80, 4),
            case("hartmann6-parallel-4", hartmann6, 4, 80, 4),
        ],
    }
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
