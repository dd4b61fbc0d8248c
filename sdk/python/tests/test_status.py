"""How a standalone run ends: finish, the with block, and atexit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Server, subprocess_env
import trainyard


def test_with_block_that_raises_marks_the_run_failed(server: Server):
    with pytest.raises(ValueError, match="bad batch"):
        with trainyard.init(url=server.url, system_metrics_interval=0) as run:
            run.log({"loss": 1.0})
            raise ValueError("bad batch")
    got = server.run(run.id)
    assert got["state"] == "FAILED"
    assert "ValueError" in got["reason"] and "bad batch" in got["reason"]
    assert got["exit_code"] == 1 and got["metrics"]["loss"]["count"] == 1


def test_with_block_that_ends_normally_marks_the_run_succeeded(server: Server):
    with trainyard.init(url=server.url, system_metrics_interval=0) as run:
        run.log({"loss": 1.0})
    got = server.run(run.id)
    assert got["state"] == "SUCCEEDED" and got["exit_code"] == 0 and "ended_at" in got


def test_finish_with_an_exit_code_fails_and_is_idempotent(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.finish(exit_code=3, reason="diverged")
    run.finish()
    run.log({"late": 1})  # ignored with a warning
    got = server.run(run.id)
    assert got["state"] == "FAILED" and got["exit_code"] == 3 and got["reason"] == "diverged"
    assert "late" not in got["metrics"]


def run_script(tmp_path: Path, server: Server, body: str) -> "tuple[str, subprocess.CompletedProcess]":
    script = tmp_path / "script.py"
    script.write_text("import sys, trainyard\n"
                      "run = trainyard.init(url=%r, system_metrics_interval=0)\n"
                      "print(run.id, flush=True)\n"
                      "for i in range(50):\n"
                      "    run.log({'loss': 1.0 / (i + 1)})\n" % server.url + body)
    p = subprocess.run([sys.executable, str(script)], env=subprocess_env(), capture_output=True, text=True, timeout=60)
    return p.stdout.split()[0], p


def test_script_that_forgets_finish_succeeds_via_atexit(server: Server, tmp_path: Path):
    run_id, p = run_script(tmp_path, server, "")
    assert p.returncode == 0, p.stderr
    got = server.run(run_id)
    assert got["state"] == "SUCCEEDED" and got["metrics"]["loss"]["count"] == 50


def test_script_that_raises_fails_via_excepthook(server: Server, tmp_path: Path):
    run_id, p = run_script(tmp_path, server, "raise RuntimeError('out of memory')\n")
    assert p.returncode == 1 and "RuntimeError: out of memory" in p.stderr  # the traceback is still printed
    got = server.run(run_id)
    assert got["state"] == "FAILED" and got["reason"] == "RuntimeError: out of memory"
    assert got["metrics"]["loss"]["count"] == 50


def test_script_that_calls_sys_exit_with_a_code_fails(server: Server, tmp_path: Path):
    run_id, p = run_script(tmp_path, server, "sys.exit(4)\n")
    assert p.returncode == 4
    got = server.run(run_id)
    assert got["state"] == "FAILED" and got["exit_code"] == 4


def test_script_that_calls_sys_exit_0_succeeds(server: Server, tmp_path: Path):
    run_id, p = run_script(tmp_path, server, "sys.exit(0)\n")
    assert p.returncode == 0
    assert server.run(run_id)["state"] == "SUCCEEDED"
