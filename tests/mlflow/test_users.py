"""The real mlflow client against a server with users: bearer tokens
(MLFLOW_TRACKING_TOKEN), basic auth (MLFLOW_TRACKING_USERNAME and
MLFLOW_TRACKING_PASSWORD, with a password or a token), roles, and a job
whose mlflow acts for its owner with the job's own token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import Server


def cli(srv: Server, token: str, *args: str, stdin: str = "") -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_") and not k.startswith("MLFLOW_")}
    env["TRAINYARD_URL"] = srv.url
    if token:
        env["TRAINYARD_TOKEN"] = token
    r = subprocess.run([srv.bin, *args], env=env, capture_output=True, text=True, timeout=60, input=stdin)
    assert r.returncode == 0, "trainyard %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


def token_of(out: str) -> str:
    m = re.search(r"tya_[A-Za-z0-9_-]{43}", out)
    assert m, out
    return m.group(0)


class Users:
    def __init__(self, srv: Server):
        self.srv = srv
        self.root = token_of(cli(srv, "", "user", "add", "root", "--admin"))
        self.tokens: Dict[str, str] = {}
        for name, role in (("alice", "member"), ("bob", "member"), ("vera", "viewer")):
            out = cli(srv, self.root, "user", "add", name, "--role", role, "--project", "vision", "--token",
                      "--password-stdin", stdin="%s's password\n" % name)
            self.tokens[name] = token_of(out)
        srv.token = self.root  # the fixture's own requests


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Users]:
    srv = Server(tmp_path_factory.mktemp("users") / "data").start()
    yield Users(srv)
    srv.stop()


@pytest.fixture
def as_user(users: Users, monkeypatch: pytest.MonkeyPatch):
    """as_user(bearer=...) or as_user(username=..., password=...) points mlflow at the server with those credentials."""
    def use(bearer: str = "", username: str = "", password: str = "") -> MlflowClient:
        for k in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(k, raising=False)
        if bearer:
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", bearer)
        if username:
            monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", username)
            monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", users.srv.url)
        mlflow.set_tracking_uri(users.srv.url)
        return MlflowClient(users.srv.url)
    return use


def log_a_run(experiment: str) -> str:
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_text("hello", "note.txt")
    return run.info.run_id


def test_bearer_token(users: Users, as_user):
    client = as_user(bearer=users.tokens["alice"])
    run_id = log_a_run("vision")
    got = client.get_run(run_id)
    assert got.data.params == {"lr": "0.1"} and got.data.metrics == {"loss": 0.5} and got.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run_id)] == ["note.txt"]
    assert users.srv.json("GET", "/api/v1/runs/" + run_id)["owner"] == "alice"


@pytest.mark.parametrize("secret", ["password", "token"])
def test_basic_auth(users: Users, as_user, secret: str):
    password = "alice's password" if secret == "password" else users.tokens["alice"]
    client = as_user(username="alice", password=password)
    run_id = log_a_run("vision")
    assert client.get_run(run_id).data.metrics == {"loss": 0.5}
    assert users.srv.json("GET", "/api/v1/runs/" + run_id)["owner"] == "alice"


def test_wrong_password_and_no_credentials_are_refused(users: Users, as_user):
    as_user(username="alice", password="not alice's password")
    with pytest.raises(MlflowException) as e:
        mlflow.search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED" and "wrong user name or password" in e.value.message
    as_user()
    with pytest.raises(MlflowException) as e:
        mlflow.search_experiments()
    assert e.value.error_code == "UNAUTHENTICATED" and "MLFLOW_TRACKING_TOKEN" in e.value.message


def test_roles(users: Users, as_user):
    as_user(bearer=users.tokens["alice"])
    run_id = log_a_run("vision")
    # A viewer reads, and may not write.
    client = as_user(bearer=users.tokens["vera"])
    assert run_id in [r.info.run_id for r in client.search_runs([client.get_experiment_by_name("vision").experiment_id])]
    with pytest.raises(MlflowException) as e:
        mlflow.set_experiment("vision")
        mlflow.start_run()
    assert e.value.error_code == "PERMISSION_DENIED"
    assert "vera may not create runs in project vision: that needs the member role" in e.value.message
    # Another member may not write to alice's run, nor delete it.
    client = as_user(bearer=users.tokens["bob"])
    for act in (lambda: client.log_metric(run_id, "loss", 0.1), lambda: client.set_tag(run_id, "k", "v"),
                lambda: client.delete_run(run_id)):
        with pytest.raises(MlflowException) as e:
            act()
        assert e.value.error_code == "PERMISSION_DENIED" and "it is alice's" in e.value.message
    # Nor rename the project, which needs its admin.
    exp_id = client.get_experiment_by_name("vision").experiment_id
    with pytest.raises(MlflowException) as e:
        client.rename_experiment(exp_id, "vision2")
    assert e.value.error_code == "PERMISSION_DENIED" and "admin role in project vision" in e.value.message
    # alice may.
    client = as_user(bearer=users.tokens["alice"])
    client.set_tag(run_id, "k", "v")
    assert client.get_run(run_id).data.tags["k"] == "v"


def test_a_jobs_mlflow_acts_for_its_owner(users: Users, as_user, tmp_path: Path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import os, mlflow
        assert os.environ["MLFLOW_TRACKING_TOKEN"].startswith("tyj_")
        with mlflow.start_run() as run:
            mlflow.log_param("lr", 0.1)
            mlflow.log_metric("loss", 0.25, step=1)
            mlflow.log_text("from the job", "note.txt")
        try:
            mlflow.MlflowClient().create_experiment("elsewhere")
            print("created another project")
        except mlflow.exceptions.MlflowException as e:
            print("refused:", e.error_code, e.message)
    """))
    spec = {"project": "vision", "command": [sys.executable, str(script)], "workdir": str(tmp_path)}
    client = as_user(bearer=users.tokens["alice"])
    req = urllib.request.Request(users.srv.url + "/api/v1/jobs", data=json.dumps(spec).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + users.tokens["alice"]})
    with urllib.request.urlopen(req, timeout=30) as resp:
        job = json.loads(resp.read())
    assert job["owner"] == "alice"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        j = users.srv.json("GET", "/api/v1/jobs/" + job["id"])
        if j["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            break
        time.sleep(0.2)
    log = users.srv.request("GET", "/api/v1/jobs/%s/logs" % job["id"])[1].decode(errors="replace")
    assert j["state"] == "SUCCEEDED", log
    assert "refused: PERMISSION_DENIED" in log and "a job's token may only write its own run" in log, log
    run = client.get_run(job["id"])
    assert run.data.params == {"lr": "0.1"} and run.data.metrics == {"loss": 0.25}
    assert [a.path for a in client.list_artifacts(job["id"])] == ["note.txt"]
