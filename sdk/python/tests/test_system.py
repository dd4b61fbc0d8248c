"""System metrics logged by the SDK's own thread."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import Server
import trainyard


def test_system_metrics_are_logged_on_their_own_steps(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0.2)
    run.log({"loss": 1.0})
    time.sleep(1.1)
    run.log({"loss": 0.5})
    run.finish()
    got = server.run(run.id)["metrics"]
    for key in ("system/cpu_percent", "system/memory_percent", "system/memory_used_bytes",
                "system/process_rss_bytes"):
        assert key in got, sorted(got)
    steps, values = server.series(run.id, "system/memory_percent")
    assert len(steps) >= 3 and steps == list(range(len(steps)))
    assert all(0 < v <= 100 for v in values)
    assert all(0 <= v <= 100 for v in server.series(run.id, "system/cpu_percent")[1])
    assert server.series(run.id, "loss")[0] == [0, 1]  # the user's steps are untouched


# nvidia-smi is faked because the test machine may have no GPU; the fake
# answers the SDK's exact query the way nvidia-smi does.
FAKE_SMI = """#!/bin/sh
[ "$1" = "--query-gpu=index,utilization.gpu,memory.used,memory.total" ] || exit 9
[ "$2" = "--format=csv,noheader,nounits" ] || exit 9
printf '0, 10, 1000, 80000\\n1, 55, 20000, 80000\\n2, 70, 30000, 80000\\n3, [N/A], 40000, 80000\\n'
"""


def test_gpu_metrics_for_the_visible_gpus(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    smi = bindir / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", "%s%s%s" % (bindir, os.pathsep, os.environ["PATH"]))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,3")
    run = trainyard.init(url=server.url, system_metrics_interval=0.2)
    time.sleep(0.7)
    run.finish()
    gpu = {k for k in server.run(run.id)["metrics"] if k.startswith("system/gpu.")}
    assert gpu == {"system/gpu.1.utilization", "system/gpu.1.memory_used_bytes", "system/gpu.1.memory_percent",
                   "system/gpu.3.memory_used_bytes", "system/gpu.3.memory_percent"}
    assert server.series(run.id, "system/gpu.1.utilization")[1][0] == 55.0
    assert server.series(run.id, "system/gpu.1.memory_used_bytes")[1][0] == 20000 * 1024 * 1024
    assert server.series(run.id, "system/gpu.3.memory_percent")[1][0] == 50.0


def test_a_run_shorter_than_the_interval_still_gets_one_reading(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=60)
    run.log({"x": 1.0})
    run.finish()
    got = server.run(run.id)["metrics"]
    assert got["system/memory_percent"]["count"] == 1 and got["system/process_rss_bytes"]["count"] == 1, sorted(got)
