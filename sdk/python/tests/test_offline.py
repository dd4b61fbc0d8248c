"""The offline spool, `trainyard sync`, and a server that dies mid-run."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from conftest import Server, read_spool
import trainyard


def log_offline_run(closed_url: str, tmp_path: Path) -> trainyard.Run:
    (tmp_path / "ckpt" / "sub").mkdir(parents=True)
    (tmp_path / "ckpt" / "sub" / "w.bin").write_bytes(os.urandom(3000))
    (tmp_path / "ckpt" / "meta.json").write_text('{"epoch": 3}')
    (tmp_path / "model.txt").write_text("weights v1")
    run = trainyard.init(project="offline", name="away", config={"lr": 0.01}, tags={"k": "v"}, url=closed_url,
                         system_metrics_interval=0)
    for i in range(300):
        run.log({"loss": math.nan if i == 7 else 1.0 / (i + 1), "acc": i / 300})
    run.log({"edge": math.inf})
    run.log_artifact(str(tmp_path / "model.txt"))
    (tmp_path / "model.txt").write_text("changed after log_artifact")  # the copy was taken already
    run.log_artifact(str(tmp_path / "ckpt"), name="checkpoint")
    run.summary["best_acc"] = 0.99
    run.config.update({"batch": 32})
    run.finish()
    return run


def test_unreachable_server_spools_the_documented_records(closed_url: str, tmp_path: Path, clean_env: Path,
                                                          capsys: pytest.CaptureFixture):
    run = log_offline_run(closed_url, tmp_path)
    assert run.offline and re.fullmatch(r"[0-9a-f]{12}", run.id)
    path = clean_env / (run.id + ".jsonl")
    assert run.spool_path == str(path) and path.exists()
    err = capsys.readouterr().err
    assert "trainyard: server unreachable; run spooled to %s — upload with `trainyard sync %s`" % (path, clean_env) in err

    recs = read_spool(path)
    first = recs[0]
    assert first["type"] == "run" and first["id"] == run.id and first["created"] is False
    assert first["run"]["project"] == "offline" and first["run"]["name"] == "away"
    assert first["run"]["config"] == {"lr": 0.01} and first["run"]["tags"] == {"k": "v"}
    assert first["run"]["command"] and first["run"]["workdir"] and first["run"]["started_at"].endswith("Z")
    assert "id" not in first["run"]
    points = [p for r in recs if r["type"] == "metrics" for p in r["points"]]
    assert len(points) == 601
    assert points[14] == {"key": "loss", "value": "NaN", "step": 7, "timestamp": points[14]["timestamp"]}
    assert points[-1]["key"] == "edge" and points[-1]["value"] == "Infinity" and points[-1]["step"] == 300
    arts = {r["path"]: r["file"] for r in recs if r["type"] == "artifact"}
    assert set(arts) == {"model.txt", "checkpoint/meta.json", "checkpoint/sub/w.bin"}
    for f in arts.values():
        assert os.path.isabs(f) and f.startswith(str(clean_env)) and os.path.isfile(f)
    assert Path(arts["model.txt"]).read_text() == "weights v1"
    updates = [r["update"] for r in recs if r["type"] == "update"]
    merged = {}
    for u in updates:
        merged.update(u)
    assert merged["summary"] == {"best_acc": 0.99} and merged["config"] == {"batch": 32}
    assert merged["state"] == "SUCCEEDED" and merged["exit_code"] == 0
    assert updates[-1]["state"] == "SUCCEEDED"


def test_sync_uploads_a_spooled_run_once(server: Server, closed_url: str, tmp_path: Path, clean_env: Path):
    run = log_offline_run(closed_url, tmp_path)
    out = server.sync(clean_env)
    assert out.returncode == 0, out.stderr
    assert "synced run %s" % run.id in out.stdout
    got = server.run(run.id)
    assert got["state"] == "SUCCEEDED" and got["project"] == "offline" and got["name"] == "away"
    assert got["config"] == {"lr": 0.01, "batch": 32} and got["summary"] == {"best_acc": 0.99}
    assert got["metrics"]["loss"]["count"] == 300 and got["metrics"]["acc"]["count"] == 300
    steps, values = server.series(run.id, "loss")
    assert steps == list(range(300)) and math.isnan(values[7]) and values[9] == 0.1
    assert server.series(run.id, "edge") == ([300], [math.inf])
    assert server.artifact(run.id, "model.txt") == b"weights v1"
    assert server.artifact(run.id, "checkpoint/sub/w.bin") == (tmp_path / "ckpt" / "sub" / "w.bin").read_bytes()
    path = clean_env / (run.id + ".jsonl")
    assert not path.exists() and Path(str(path) + ".synced").exists()
    assert not Path(str(path) + ".progress").exists()

    again = server.sync(clean_env)
    assert again.returncode == 0 and "nothing to sync" in again.stderr
    assert server.run(run.id)["metrics"]["loss"]["count"] == 300


def test_sync_resumes_after_the_lines_in_the_progress_file(server: Server, closed_url: str, tmp_path: Path,
                                                           clean_env: Path):
    run = log_offline_run(closed_url, tmp_path)
    path = clean_env / (run.id + ".jsonl")
    lines = path.read_text().splitlines()
    # Pretend an earlier sync applied every line but the last two (the final
    # update): replay those lines by syncing a copy, then resume the original.
    head = tmp_path / "head"
    head.mkdir()
    (head / path.name).write_text("\n".join(lines[:-2]) + "\n")
    assert server.sync(head).returncode == 0
    Path(str(path) + ".progress").write_text(str(len(lines) - 2))
    out = server.sync(clean_env)
    assert out.returncode == 0, out.stderr
    assert "(2 records)" in out.stdout
    got = server.run(run.id)
    assert got["metrics"]["loss"]["count"] == 300 and got["state"] == "SUCCEEDED"


def test_server_killed_mid_run(private_server, tmp_path: Path, clean_env: Path, fast_retries: None):
    srv = private_server()
    run = trainyard.init(url=srv.url, system_metrics_interval=0)
    for i in range(500):
        run.log({"x": i})
    assert run.flush(10)  # acknowledged: durable on the server
    srv.kill()
    for i in range(500, 1000):
        run.log({"x": i})
    run.summary["after"] = 1
    run.finish()
    assert run.offline
    recs = read_spool(Path(run.spool_path))
    assert recs[0]["type"] == "run" and recs[0]["id"] == run.id and recs[0]["created"] is True
    spooled = [p["step"] for r in recs if r["type"] == "metrics" for p in r["points"]]
    assert spooled == list(range(500, 1000))

    again = private_server(data=srv.data)  # same data directory, new port
    assert again.series(run.id, "x")[0] == list(range(500))
    assert again.run(run.id)["state"] == "RUNNING"
    out = again.sync(clean_env)
    assert out.returncode == 0, out.stderr
    steps, values = again.series(run.id, "x")
    assert steps == list(range(1000)) and values == [float(i) for i in range(1000)]
    got = again.run(run.id)
    assert got["state"] == "SUCCEEDED" and got["summary"] == {"after": 1}


def test_spool_lines_are_valid_json_even_with_special_values(closed_url: str, clean_env: Path):
    run = trainyard.init(url=closed_url, config={"eps": math.nan}, system_metrics_interval=0)
    run.summary["worst"] = -math.inf
    run.finish(exit_code=2)
    for line in Path(run.spool_path).read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail("non-standard JSON constant %s" % c))
    recs = read_spool(Path(run.spool_path))
    assert recs[0]["run"]["config"] == {"eps": "NaN"}
    assert recs[-1]["update"]["state"] == "FAILED" and recs[-1]["update"]["exit_code"] == 2


def test_a_spooled_batch_synced_twice_is_stored_once(server: Server, closed_url: str, tmp_path: Path,
                                                     clean_env: Path):
    # An interrupted sync resends the line it was applying; each metrics
    # record carries its batch's ID, so the server stores it once.
    run = log_offline_run(closed_url, tmp_path)
    path = clean_env / (run.id + ".jsonl")
    recs = read_spool(path)
    ids = [r["batch_id"] for r in recs if r["type"] == "metrics"]
    assert ids and all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", i) for i in ids) and len(set(ids)) == len(ids)
    copy = tmp_path / "again"
    copy.mkdir()
    (copy / path.name).write_text(path.read_text())
    assert server.sync(clean_env).returncode == 0
    out = server.sync(copy)  # every line again, as if no progress had been recorded
    assert out.returncode == 0, out.stderr
    got = server.run(run.id)
    assert got["metrics"]["loss"]["count"] == 300 and got["metrics"]["acc"]["count"] == 300


def test_offline_mode_never_talks_to_the_server_and_sync_uploads_the_run(server: Server, clean_env: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture):
    monkeypatch.setenv("TRAINYARD_MODE", "offline")
    run = trainyard.init(url=server.url, project="air-gapped", config={"lr": 0.1}, system_metrics_interval=0)
    for i in range(10):
        run.log({"x": i})
    run.finish()
    assert run._transport is not None and len(run._transport.calls) == 0, list(run._transport.calls)
    assert server.request("GET", "/api/v1/runs/" + run.id)[0] == 404
    err = capsys.readouterr().err
    assert "offline mode: run %s is in %s — upload it with `trainyard sync %s`" % (run.id, run.spool_path, clean_env) in err
    assert "unreachable" not in err
    out = server.sync(clean_env)
    assert out.returncode == 0, out.stderr
    got = server.run(run.id)
    assert got["project"] == "air-gapped" and got["state"] == "SUCCEEDED" and got["metrics"]["x"]["count"] == 10


def test_disabled_mode_tracks_nothing(server: Server, clean_env: Path, capsys: pytest.CaptureFixture):
    before = len(server.get("/api/v1/runs")["runs"])
    with trainyard.init(url=server.url, mode="disabled", config={"a": 1}) as run:
        run.log({"x": 1})
        run.summary["s"] = 1
        run.log_artifact(__file__)
    assert len(server.get("/api/v1/runs")["runs"]) == before
    assert not clean_env.exists() or not list(clean_env.iterdir())
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError):
        trainyard.init(mode="sideways", strict=True)
