"""The benchmark problems, shared by the evaluator that serves trainyard's
Go driver and by the Optuna runner, so both sides see the same functions.

- lcbench: YAHPO Gym's LCBench surrogate (ONNX), val_accuracy (percent,
  maximised) per epoch 1..52; an epoch costs the surrogate's runtime
  difference time[e] - time[e-1] (time[1] for epoch 1).
- mfhartmann6: MFHartmann6 as in hpo/hposim/functions.go (same constants,
  same splitmix64 noise), fidelity z in 1..100, minimised; step z costs
  c(z) - c(z-1) with c(z) = 0.05 + 0.95 (z/100)^2.
"""
from __future__ import annotations

import math
import os

DATA = os.environ.get("YAHPO_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "hpo-benchmarks", "yahpo-lcbench"))

LCBENCH_SPACE = {
    # name: (kind, low, high, log)
    "batch_size": ("int", 16, 512, True),
    "learning_rate": ("float", 1e-4, 1e-1, True),
    "max_dropout": ("float", 0.0, 1.0, False),
    "max_units": ("int", 64, 1024, True),
    "momentum": ("float", 0.1, 0.99, False),
    "num_layers": ("int", 1, 5, False),
    "weight_decay": ("float", 1e-5, 0.1, False),
}
LCBENCH_EPOCHS = 52


class LCBench:
    """One OpenML task of the LCBench surrogate. curve() evaluates a range
    of epochs of one configuration in one ONNX call."""

    _sets: dict = {}

    def __init__(self, task: str):
        import numpy as np
        from yahpo_gym import BenchmarkSet, local_config

        local_config.init_config()
        local_config.set_data_path(os.path.abspath(DATA))
        self.np = np
        self.b = BenchmarkSet("lcbench", instance=task, active_session=True)
        self.b.set_session(multithread=False)
        self.task = task
        self.inputs = [x.name for x in self.b.session.get_inputs()]
        self.output = self.b.session.get_outputs()[0].name
        self.bounds = {}
        for name in LCBENCH_SPACE:
            hp = self.b.config_space.get_hyperparameter(name)
            self.bounds[name] = (hp.lower, hp.upper)
        names = list(self.b.config.y_names)
        self.i_acc, self.i_time = names.index("val_accuracy"), names.index("time")
        self._check_encoding()

    # The surrogate's continuous inputs, in its order (checked against
    # yahpo-gym's own encoding in __init__).
    COLUMNS = ["epoch", "batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units", "max_dropout"]

    def _encode(self, config: dict):
        np = self.np
        row = []
        for k in self.COLUMNS[1:]:
            v = float(config[k])
            if k in ("batch_size", "max_units", "num_layers"):
                v = float(int(round(v)))
            lo_, hi_ = self.bounds[k]  # YAHPO's bounds are off by an ulp or so
            row.append(min(max(v, lo_), hi_))
        return np.array([[1.0] + row], dtype=self.x_dtype)

    def _check_encoding(self):
        np = self.np
        cfg = {"batch_size": 91, "learning_rate": 0.0031622777, "momentum": 0.545, "weight_decay": 0.050005,
               "num_layers": 3, "max_units": 256, "max_dropout": 0.5}
        x_cont, x_cat = self.b._config_to_xs(dict(cfg, OpenML_task_id=self.task, epoch=1))
        self.x_dtype, self.x_cat = x_cont.dtype, x_cat
        if not np.array_equal(self._encode(cfg), x_cont):
            raise RuntimeError(f"LCBench encoding changed: {self._encode(cfg)} != {x_cont}")

    def curve(self, config: dict, lo: int, hi: int):
        """val_accuracy and cost of epochs lo..hi (1-based, inclusive)."""
        np = self.np
        x_cont = self._encode(config)
        first = max(1, lo - 1)
        epochs = np.arange(first, hi + 1, dtype=x_cont.dtype)
        xc = np.repeat(x_cont, len(epochs), axis=0)
        xc[:, 0] = epochs  # column 0 is the epoch
        xk = np.repeat(self.x_cat, len(epochs), axis=0)
        y = self.b.session.run([self.output], {self.inputs[0]: xk, self.inputs[1]: xc})[0]
        acc = [float(v) for v in y[:, self.i_acc]]
        t = [float(v) for v in y[:, self.i_time]]
        vals, costs = [], []
        for i, e in enumerate(range(first, hi + 1)):
            if e < lo:
                continue
            c = t[i] if e == 1 else t[i] - t[i - 1]
            vals.append(acc[i])
            costs.append(max(c, 1e-3 * max(t[i], 1.0)))
        return vals, costs


M64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


H_ALPHA = [1.0, 1.2, 3.0, 3.2]
H_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
H_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
HARTMANN6_MIN = -3.3223680114155147
BRANIN_MIN = 0.39788735772973816


def hartmann(x, alpha=H_ALPHA):
    s = 0.0
    for i in range(4):
        inner = sum(H_A[i][j] * (x[j] - 1e-4 * H_P[i][j]) ** 2 for j in range(6))
        s += alpha[i] * math.exp(-inner)
    return -s


def branin(x1, x2):
    b = 5.1 / (4 * math.pi * math.pi)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    d = x2 - b * x1 * x1 + c * x1 - 6
    return d * d + 10 * (1 - t) * math.cos(x1) + 10


def mfhartmann6(x, z: int, bias: float = 1.0, noise: float = 0.2) -> float:
    import struct

    zs = math.log(z) / math.log(100)
    alpha = [a - bias * (1 - zs) for a in H_ALPHA]
    h = 0x9E3779B97F4A7C15
    for v in x:
        h = splitmix64(h ^ struct.unpack("<Q", struct.pack("<d", float(v)))[0])
    h = splitmix64(h ^ z)
    u1 = ((h >> 11) + 0.5) / float(1 << 53)
    u2 = (splitmix64(h) >> 11) / float(1 << 53)
    n = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    return hartmann(x, alpha) + abs(n) * noise * (1 - zs)


def mfhartmann_cost(z: int) -> float:
    return 0.0 if z <= 0 else 0.05 + 0.95 * (z / 100) ** 2
