"""mlflow inside a trainyard job attaches to the job's run."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

from mlflow import MlflowClient


def wait_job(server, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = server.json("GET", "/api/v1/jobs/" + job_id)
        if j["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return j
        time.sleep(0.2)
    raise AssertionError("job %s did not finish: %s" % (job_id, j))


def test_mlflow_start_run_inside_a_job_attaches_to_its_run(server, tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time, mlflow
        with mlflow.start_run() as run:
            assert run.info.run_id == os.environ["TRAINYARD_RUN_ID"], (run.info.run_id, os.environ["TRAINYARD_RUN_ID"])
            mlflow.log_param("lr", 0.1)
            for step in range(5):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_text("inside a job", "note.txt")
        # end_run() asked MLflow to mark the run FINISHED; the process still runs,
        # so the job keeps the run RUNNING until it exits.
        c = mlflow.MlflowClient()
        assert c.get_run(run.info.run_id).info.status == "RUNNING", c.get_run(run.info.run_id).info.status
        open(os.environ["MARK"], "w").write(run.info.run_id)
        sys.exit(int(os.environ["EXIT"]))
    """))
    ids = []
    for code in (0, 3):
        spec = {"name": "mlflow-job-%d" % code, "project": "jobs-mlflow", "command": [sys.executable, str(script)],
                "workdir": str(tmp_path), "env": {"MARK": str(tmp_path / ("mark%d" % code)), "EXIT": str(code)}}
        ids.append(server.json("POST", "/api/v1/jobs", spec)["id"])
    states = [wait_job(server, i)["state"] for i in ids]
    logs = [server.request("GET", "/api/v1/jobs/%s/logs" % i)[1].decode(errors="replace")[-2000:] for i in ids]
    assert states == ["SUCCEEDED", "FAILED"], logs
    client = MlflowClient()
    exp = client.get_experiment_by_name("jobs-mlflow")
    for job_id, status in zip(ids, ["FINISHED", "FAILED"]):
        assert (tmp_path / ("mark%s" % ("0" if status == "FINISHED" else "3"))).read_text() == job_id
        run = client.get_run(job_id)
        assert run.info.status == status and run.info.experiment_id == exp.experiment_id
        assert run.data.params == {"lr": "0.1"} and run.data.metrics["loss"] == 0.2
        assert [a.path for a in client.list_artifacts(job_id)] == ["note.txt"]
    found = client.search_runs([exp.experiment_id], "attributes.status = 'FAILED'")
    assert [r.info.run_id for r in found] == [ids[1]]


def test_an_unmodified_mlflow_script_that_sets_its_experiment_runs_as_a_job(server, tmp_path: Path):
    """mlflow.set_experiment("x") then mlflow.start_run() inside a job: the
    job's run moves into experiment x and is the run the script logs to; a
    second start_run in the same job is a run of its own, tagged with the job."""
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent("""
        import os, mlflow
        mlflow.set_experiment("chosen-by-code")
        with mlflow.start_run(run_name="main") as run:
            assert run.info.run_id == os.environ["TRAINYARD_RUN_ID"], run.info.run_id
            mlflow.log_param("lr", 0.1)
            mlflow.log_metric("loss", 0.5, step=1)
        with mlflow.start_run(run_name="second") as second:
            mlflow.log_metric("loss", 0.25)
        open(os.environ["MARK"], "w").write(second.info.run_id)
    """))
    spec = {"name": "set-experiment", "project": "jobs-elsewhere", "command": [sys.executable, str(script)],
            "workdir": str(tmp_path), "env": {"MARK": str(tmp_path / "mark")}}
    job_id = server.json("POST", "/api/v1/jobs", spec)["id"]
    job = wait_job(server, job_id)
    log = server.request("GET", "/api/v1/jobs/%s/logs" % job_id)[1].decode(errors="replace")[-3000:]
    assert job["state"] == "SUCCEEDED", log
    client = MlflowClient()
    exp = client.get_experiment_by_name("chosen-by-code")
    run = client.get_run(job_id)
    assert run.info.experiment_id == exp.experiment_id and run.info.run_name == "main"
    assert run.info.status == "FINISHED" and run.data.params == {"lr": "0.1"} and run.data.metrics == {"loss": 0.5}
    assert run.data.tags["trainyard.job_id"] == job_id
    second = client.get_run((tmp_path / "mark").read_text())
    assert second.info.run_id != job_id and second.info.experiment_id == exp.experiment_id
    assert second.data.tags["trainyard.job_id"] == job_id and second.info.status == "FINISHED"
    assert server.json("GET", "/api/v1/runs/" + job_id)["project"] == "chosen-by-code"
    assert server.json("GET", "/api/v1/jobs/" + job_id)["project"] == "jobs-elsewhere"  # the job stays where it was queued
