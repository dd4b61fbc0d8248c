"""A server with users: the SDK acts as the user whose token it sends."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

import trainyard


def cli(srv, token, *args: str) -> str:
    env = dict(os.environ, TRAINYARD_URL=srv.url)
    env.pop("TRAINYARD_TOKEN", None)
    if token:
        env["TRAINYARD_TOKEN"] = token
    r = subprocess.run([srv.bin, *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, "trainyard %s: %s" % (" ".join(args), r.stderr)
    return r.stdout


def token_of(out: str) -> str:
    m = re.search(r"tya_[A-Za-z0-9_-]{43}", out)
    assert m, out
    return m.group(0)


@pytest.fixture
def users(private_server):
    srv = private_server()
    root = token_of(cli(srv, None, "user", "add", "root", "--admin"))
    alice = token_of(cli(srv, root, "user", "add", "alice", "--role", "member", "--project", "p", "--token"))
    vera = token_of(cli(srv, root, "user", "add", "vera", "--role", "viewer", "--project", "p", "--token"))
    srv.token = root  # what the test's own reads send
    return srv, alice, vera


def test_a_users_token_tracks_runs_as_the_user(users, monkeypatch: pytest.MonkeyPatch):
    srv, alice, _ = users
    monkeypatch.setenv("TRAINYARD_URL", srv.url)
    monkeypatch.setenv("TRAINYARD_TOKEN", alice)
    with trainyard.init(project="p", strict=True, system_metrics_interval=0) as run:
        run.log({"loss": 0.5}, step=1)
    got = srv.run(run.id)
    assert got["owner"] == "alice"
    assert got["metrics"]["loss"]["count"] == 1 and got["state"] == "SUCCEEDED"


def test_a_viewer_is_refused_with_what_is_missing(users):
    srv, _, vera = users
    with pytest.raises(trainyard.TrainyardError) as e:
        trainyard.init(url=srv.url, token=vera, project="p", strict=True, system_metrics_interval=0)
    assert e.value.status == 403 and e.value.code == "forbidden"
    assert "vera may not create runs in project p" in str(e.value) and "member role" in str(e.value)


def test_no_token_is_refused_with_how_to_get_one(users):
    srv, _, _ = users
    with pytest.raises(trainyard.TrainyardError) as e:
        trainyard.init(url=srv.url, project="p", strict=True, system_metrics_interval=0)
    assert e.value.status == 401 and "TRAINYARD_TOKEN" in str(e.value)
