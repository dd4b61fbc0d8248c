"""The SDK in a sweep's trial: the trial's config, should_stop from the
searcher's answer, checkpoints saved and restored from disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import Server, subprocess_env, trainyard
from trainyard import _trial


def touch_step(root: Path, step: int, complete: bool = True) -> Path:
    d = root / ("step-%d" % step)
    d.mkdir(parents=True, exist_ok=True)
    (d / "model.bin").write_bytes(b"x" * step)
    if complete:
        _trial.mark_complete(str(d))
    return d


def test_restore_prefers_own_complete_checkpoints(tmp_path: Path):
    own, other = tmp_path / "trial-2", tmp_path / "trial-1"
    for s in (2, 4, 6):
        touch_step(other, s)
    # Nothing of its own: the checkpoint it was started from, at its step or before.
    assert _trial.pick_restore(str(own), str(other), 4) == str(other / "step-4")
    assert _trial.pick_restore(str(own), str(other), 5) == str(other / "step-4")
    assert _trial.pick_restore(str(own), str(other), 1) == str(other / "step-6")  # pruned away: the newest
    assert _trial.pick_restore(str(own), None, None) is None
    # Its own progress wins; an incomplete one (cut by a kill) never counts.
    touch_step(own, 3)
    touch_step(own, 5, complete=False)
    assert _trial.pick_restore(str(own), str(other), 4) == str(own / "step-3")
    assert _trial.step_of(_trial.pick_restore(str(own), str(other), 4)) == 3


def test_prune_keeps_the_newest_complete(tmp_path: Path):
    for s in (1, 2, 3, 4):
        touch_step(tmp_path, s)
    touch_step(tmp_path, 0, complete=False)
    touch_step(tmp_path, 9, complete=False)  # being written
    _trial.prune(str(tmp_path), 2, spare=str(tmp_path / "step-9"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-3", "step-4", "step-9"]


def trial_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **extra: str) -> None:
    env = {"TRAINYARD_RUN_ID": "run1", "TRAINYARD_SWEEP_ID": "sw1", "TRAINYARD_TRIAL": "2", "TRAINYARD_TRIAL_SEGMENT": "1",
           "TRAINYARD_SWEEP_METRIC": "val/loss", "TRAINYARD_TRIAL_UNTIL": "3",
           "TRAINYARD_TRIAL_CONFIG": json.dumps({"lr": 0.01, "optimizer": {"name": "sgd"}}),
           "TRAINYARD_CHECKPOINT_DIR": str(tmp_path / "ckpt" / "trial-2")}
    env.update(extra)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


def test_a_trial_sees_its_config_and_stops_at_its_until(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    trial_env(monkeypatch, tmp_path)
    run = trainyard.init(mode="disabled")
    assert run.trial is not None and run.trial.number == 2
    assert run.config["lr"] == 0.01 and run.config["optimizer"]["name"] == "sgd"
    assert run.restore() is None and run.resume_step() == 0
    for epoch in (1, 2, 3):
        run.log({"val/loss": 1.0 / epoch, "other": 1}, step=epoch)
        path = run.checkpoint_dir()
        assert path.endswith("step-%d" % epoch)
        Path(path, "model.bin").write_text(str(epoch))
        stop = run.should_stop()
        assert stop == (epoch == 3), epoch  # the segment runs to step 3: a rung
    assert run.directive == "pause"
    run.finish()
    ckpt = tmp_path / "ckpt" / "trial-2"
    assert sorted(p.name for p in ckpt.iterdir()) == ["step-2", "step-3"]  # the newest two kept
    assert (ckpt / "step-3" / _trial.MARKER).exists()


def test_a_resumed_trial_restores_from_its_own_checkpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    own = tmp_path / "ckpt" / "trial-2"
    touch_step(own, 3)
    src = tmp_path / "ckpt" / "trial-1"
    touch_step(src, 5)
    trial_env(monkeypatch, tmp_path, TRAINYARD_TRIAL_SEGMENT="2", TRAINYARD_TRIAL_UNTIL="9",
              TRAINYARD_RESTORE_DIR=str(own), TRAINYARD_RESTORE_STEP="3")
    run = trainyard.init(mode="disabled")
    assert run.restore() == str(own / "step-3") and run.resume_step() == 3
    run.finish()


def test_an_exploited_trial_restores_from_the_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    src = tmp_path / "ckpt" / "trial-1"
    touch_step(src, 4)
    touch_step(src, 6)
    trial_env(monkeypatch, tmp_path, TRAINYARD_RESTORE_DIR=str(src), TRAINYARD_RESTORE_STEP="4")
    run = trainyard.init(mode="disabled")
    assert run.restore() == str(src / "step-4") and run.resume_step() == 4
    run.finish()


TRIAL = """
import os, sys, time, trainyard
run = trainyard.init(system_metrics_interval=0)
x = run.config["x"]
stopped_at = None
for epoch in range(1, 10):
    run.log({"loss": 0.1 if x == 1 else 10.0}, step=epoch)
    time.sleep(0.3)
    if run.should_stop():
        stopped_at = epoch
        break
open("trial-%s.out" % os.environ["TRAINYARD_TRIAL"], "w").write("%s %s" % (run.directive, stopped_at))
"""


def test_should_stop_hears_the_searcher(server: Server, tmp_path: Path):
    """A losing trial of a stopping-based ASHA sweep learns from the
    answers to its metric batches that it should stop, long before its
    last epoch."""
    (tmp_path / "trial.py").write_text(TRIAL)
    spec = {"command": [sys.executable, "trial.py"], "workdir": str(tmp_path), "metric": "loss",
            "parameters": {"x": {"values": [1, 2]}}, "searcher": "grid", "early_stopping": {"name": "asha", "eta": 3},
            "max_steps": 9, "parallel": 1,
            "env": {"PYTHONPATH": subprocess_env()["PYTHONPATH"], "TRAINYARD_SPOOL_DIR": str(tmp_path / "spool")}}
    status, body = server.request("POST", "/api/v1/sweeps", json.dumps(spec).encode())
    assert status == 201, body
    sid = json.loads(body)["id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sw = server.get("/api/v1/sweeps/" + sid)
        if sw["state"] != "RUNNING":
            break
        time.sleep(0.2)
    assert sw["state"] == "COMPLETED", sw
    good = (tmp_path / "trial-1.out").read_text().split()
    bad = (tmp_path / "trial-2.out").read_text().split()
    assert good[0] in ("pause", "stop") and good[1] == "9", good  # it ran to max_steps
    assert bad[0] == "stop" and int(bad[1]) < 9, bad  # told to stop early
    t2 = sw["trials"][1]
    assert t2["state"] == "STOPPED" and "asha" in t2["reason"], t2
