"""The SDK inside a real trainyard job: it attaches to the job's run and
leaves the run's state to the server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import Server, subprocess_env

SCRIPT = """
import sys, trainyard
run = trainyard.init(config={"from_init": 1, "nested": {"k": 2}}, tags={"stage": "job"}, strict=True,
                     system_metrics_interval=0)
assert run.in_job and run.id == __import__("os").environ["TRAINYARD_RUN_ID"], run.id
for i in range(100):
    run.log({"x": i, "train": {"loss": 1.0 / (i + 1)}})
open("out.txt", "w").write("made in the job")
run.log_artifact("out.txt")
run.summary["best"] = 0.5
if len(sys.argv) > 1:
    raise SystemExit(int(sys.argv[1]))
"""


def submit(server: Server, tmp_path: Path, *args: str) -> "tuple[str, subprocess.CompletedProcess]":
    (tmp_path / "train.py").write_text(SCRIPT)
    spool = "TRAINYARD_SPOOL_DIR=%s" % (tmp_path / "spool")  # jobs get only the variables they are given
    p = subprocess.run([server.bin, "run", "--wait", "--env", spool, "--", sys.executable, "train.py"] + list(args),
                       cwd=tmp_path,
                       env=subprocess_env(TRAINYARD_URL=server.url), capture_output=True, text=True, timeout=120)
    m = re.search(r"queued job (\S+)", p.stderr)
    assert m, p.stderr
    return m.group(1), p


def test_job_run_gets_metrics_artifact_and_state_from_the_server(server: Server, tmp_path: Path):
    job_id, p = submit(server, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "trainyard: " not in p.stdout, p.stdout  # no SDK warning in the job's output
    got = server.run(job_id)
    assert got["id"] == job_id and got["job_id"] == job_id
    assert got["state"] == "SUCCEEDED" and got["exit_code"] == 0
    assert got["metrics"]["x"]["count"] == 100 and got["metrics"]["train/loss"]["last_step"] == 99
    assert got["config"]["from_init"] == 1 and got["config"]["nested.k"] == 2
    assert got["tags"]["stage"] == "job" and got["summary"] == {"best": 0.5}
    assert server.artifact(job_id, "out.txt") == b"made in the job"
    assert not (tmp_path / "spool" / (job_id + ".artifacts")).exists()  # the staged copy is gone once uploaded


def test_failing_job_keeps_its_metrics_and_is_failed_by_the_server(server: Server, tmp_path: Path):
    job_id, p = submit(server, tmp_path, "3")
    assert p.returncode == 3
    got = server.run(job_id)
    assert got["state"] == "FAILED" and got["exit_code"] == 3
    assert got["metrics"]["x"]["count"] == 100


NAMED = """
import trainyard
run = trainyard.init(project="elsewhere", name="renamed-in-code", system_metrics_interval=0)
assert run.name == "renamed-in-code" and run.project == "jobproj", (run.name, run.project)
run.log({"x": 1})
"""


def test_init_in_a_job_renames_its_run_and_says_the_project_cannot_change(server: Server, tmp_path: Path):
    (tmp_path / "named.py").write_text(NAMED)
    p = subprocess.run([server.bin, "run", "--wait", "--project", "jobproj", "--name", "jobname", "--",
                        sys.executable, "named.py"], cwd=tmp_path,
                       env=subprocess_env(TRAINYARD_URL=server.url), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    job_id = re.search(r"queued job (\S+)", p.stderr).group(1)
    got = server.run(job_id)
    assert got["name"] == "renamed-in-code" and got["project"] == "jobproj"
    assert got["metrics"]["x"]["count"] == 1
    # The job's output (streamed by --wait) says what was not applied, and why.
    assert "its run stays in the job's project 'jobproj'; project='elsewhere' is ignored" in p.stdout, p.stdout
    assert "--project elsewhere" in p.stdout
