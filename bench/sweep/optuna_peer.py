"""The peer of bench/sweep: an Optuna study (TPE, the same seed and space)
that runs each trial as a subprocess of trial.py, n_jobs at once: the usual
do-it-yourself sweep driver, without a queue or durability.

    python optuna_peer.py TRIALS PARALLEL TRIAL_PY
"""
import subprocess
import sys

import optuna

n, parallel, trial_py = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(t):
    x = t.suggest_float("x", 0.0, 1.0)
    out = subprocess.run([sys.executable, trial_py, repr(x)], capture_output=True, text=True, check=True)
    return float(out.stdout)


study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=1))
study.optimize(objective, n_trials=n, n_jobs=parallel)
print(study.best_value)
