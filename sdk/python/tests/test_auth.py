"""A server started with --token."""

from __future__ import annotations

import pytest

import trainyard


def test_token_from_the_argument_or_the_environment_works(private_server, monkeypatch: pytest.MonkeyPatch):
    srv = private_server(token="s3cret")
    run = trainyard.init(url=srv.url, token="s3cret", strict=True, system_metrics_interval=0)
    run.log({"x": 1})
    run.finish()
    assert srv.run(run.id)["metrics"]["x"]["count"] == 1
    monkeypatch.setenv("TRAINYARD_TOKEN", "s3cret")
    monkeypatch.setenv("TRAINYARD_URL", srv.url)
    run = trainyard.init(strict=True, system_metrics_interval=0)
    run.finish()
    assert srv.run(run.id)["state"] == "SUCCEEDED"


def test_missing_token_raises_a_clear_error_in_strict_mode(private_server):
    srv = private_server(token="s3cret")
    with pytest.raises(trainyard.TrainyardError) as e:
        trainyard.init(url=srv.url, strict=True, system_metrics_interval=0)
    assert e.value.status == 401 and e.value.code == "unauthorized"
    assert "refused the token" in str(e.value) and "TRAINYARD_TOKEN" in str(e.value)
    with pytest.raises(trainyard.TrainyardError):
        trainyard.init(url=srv.url, token="wrong", strict=True, system_metrics_interval=0)


def test_missing_token_warns_and_spools_without_strict(private_server, capsys: pytest.CaptureFixture, clean_env):
    srv = private_server(token="s3cret")
    run = trainyard.init(url=srv.url, system_metrics_interval=0)
    run.log({"x": 1})
    run.finish()
    err = capsys.readouterr().err
    assert "trainyard: " in err and "refused the token" in err
    assert run.offline
    out = srv.sync(clean_env)  # with the right token, the spooled run uploads
    assert out.returncode == 0, out.stderr
    got = srv.run(run.id)
    assert got["metrics"]["x"]["count"] == 1 and got["state"] == "SUCCEEDED"
