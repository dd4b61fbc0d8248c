"""init, log, summary, config and finish against the real server."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Server, subprocess_env
import trainyard


def test_round_trip_of_1000_points_over_3_keys(server: Server):
    run = trainyard.init(project="roundtrip", name="rt", config={"lr": 0.1, "model": {"layers": 3}},
                         tags={"team": "a"}, url=server.url, system_metrics_interval=0)
    specials = {100: math.nan, 200: math.inf, 300: -math.inf}
    want = {"loss": [], "acc": [], "lr": []}
    for i in range(334):
        vals = {"loss": specials.get(i, 1.0 / (i + 1)), "acc": i * 0.001, "lr": 0.1 * 0.99 ** i}
        if i == 333:
            vals = {"loss": vals["loss"]}  # 334 + 333 + 333 = 1000 points
        run.log(vals, step=i * 2)
        for k, v in vals.items():
            want[k].append((i * 2, v))
    run.finish()

    got = server.run(run.id)
    assert got["state"] == "SUCCEEDED" and got["exit_code"] == 0
    assert got["project"] == "roundtrip" and got["name"] == "rt"
    assert got["config"] == {"lr": 0.1, "model.layers": 3} and got["tags"] == {"team": "a"}
    assert got["command"][0] == sys.executable and got["workdir"]
    total = 0
    for key, pts in want.items():
        steps, values = server.series(run.id, key)
        assert steps == [s for s, _ in pts]
        for (_, w), v in zip(pts, values):
            assert (math.isnan(w) and math.isnan(v)) or v == w, key
        total += len(values)
    assert total == 1000
    loss = got["metrics"]["loss"]
    assert loss["count"] == 334 and loss["last"] == 1.0 / 334 and loss["last_step"] == 666
    assert loss["min"] == "-Infinity" and loss["max"] == "Infinity"
    assert got["metrics"]["acc"]["max"] == 0.332 and got["metrics"]["acc"]["min"] == 0


def test_steps_auto_increment_and_follow_explicit_steps(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.log({"a": 0})
    run.log({"a": 1})
    run.log({"a": 2})
    run.log({"a": 10}, step=10)
    run.log({"a": 11})
    run.log({"b": 12}, commit=False)
    run.log({"a": 12})
    run.finish()
    assert server.series(run.id, "a")[0] == [0, 1, 2, 10, 11, 12]
    assert server.series(run.id, "b")[0] == [12]


def test_nested_dicts_become_slash_keys(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.log({"train": {"loss": 1.5, "acc": {"top1": 0.5}}, "val/loss": 2})
    run.finish()
    got = server.run(run.id)
    assert set(got["metrics"]) == {"train/loss", "train/acc/top1", "val/loss"}
    assert server.series(run.id, "train/acc/top1") == ([0], [0.5])


def test_summary_config_and_tags_are_patched(server: Server):
    run = trainyard.init(url=server.url, config={"a": 1}, system_metrics_interval=0)
    run.log({"loss": 3.0})
    run.log({"loss": 2.0})
    run.summary["best_acc"] = 0.97
    run.summary["note"] = "ok"
    run.summary["bad"] = math.nan
    run.config.update({"b": {"c": 2}})
    run.config["d"] = "x"
    assert run.summary["loss"] == 2.0 and run.summary["best_acc"] == 0.97
    assert dict(run.summary) == {"best_acc": 0.97, "note": "ok", "bad": run.summary["bad"], "loss": 2.0}
    assert run.config == {"a": 1, "b": {"c": 2}, "d": "x"}
    run.finish()
    got = server.run(run.id)
    assert got["summary"] == {"best_acc": 0.97, "note": "ok", "bad": "NaN"}
    assert got["config"] == {"a": 1, "b.c": 2, "d": "x"}
    assert run.url == server.url + "/runs/" + run.id


def test_non_numeric_values_are_skipped_with_one_warning(server: Server, capsys: pytest.CaptureFixture):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    for i in range(3):
        run.log({"loss": i, "name": "resnet", "nothing": None})
    run.finish()
    err = capsys.readouterr().err
    assert err.count("'name'") == 1 and err.count("'nothing'") == 1 and "trainyard: " in err
    assert set(server.run(run.id)["metrics"]) == {"loss"}


def test_strict_mode_raises_on_non_numeric_values(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0, strict=True)
    with pytest.raises(TypeError, match="'name'"):
        run.log({"name": "resnet"})
    with pytest.raises(ValueError, match=r"it contains '\\[nt]'"):
        run.log({"a\nb": 1})
    run.finish()


def test_module_level_log_and_finish_use_the_current_run(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    trainyard.log({"x": 1})
    trainyard.log({"x": 2})
    trainyard.finish()
    assert server.series(run.id, "x") == ([0, 1], [1.0, 2.0])
    assert server.run(run.id)["state"] == "SUCCEEDED"
    trainyard.log({"x": 3})  # no current run: a warning, nothing else


def test_client_chosen_id_and_conflict(server: Server, capsys: pytest.CaptureFixture):
    run = trainyard.init(url=server.url, id="my-run_1", system_metrics_interval=0)
    run.finish()
    assert server.run("my-run_1")["state"] == "SUCCEEDED"
    with pytest.raises(trainyard.TrainyardError, match="already exists"):
        trainyard.init(url=server.url, id="my-run_1", strict=True, system_metrics_interval=0)
    dup = trainyard.init(url=server.url, id="my-run_1", system_metrics_interval=0)
    dup.log({"x": 1})  # a disabled run: nothing is sent, nothing raises
    dup.finish()
    assert "NOT tracked" in capsys.readouterr().err
    assert server.run("my-run_1")["metrics"] == {}


def test_capture_output_tees_prints_into_the_run_log(server: Server, tmp_path: Path):
    script = tmp_path / "capture.py"
    script.write_text("import trainyard\n"
                      "run = trainyard.init(url=%r, capture_output=True, system_metrics_interval=0)\n"
                      "print('hello from the script')\n"
                      "print(run.id)\n" % server.url)
    out = subprocess.run([sys.executable, str(script)], env=subprocess_env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.split()[-1]
    status, body = server.request("GET", "/api/v1/runs/%s/logs" % run_id)
    assert status == 200 and b"hello from the script" in body


def test_a_refused_update_warns_and_strict_mode_raises_it_later(server: Server, capsys: pytest.CaptureFixture):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.config.update({"ok": 1, "nested": {"bad\nkey": 1}})  # the nested key is refused by the server
    run.finish()
    assert "update refused by the server" in capsys.readouterr().err
    got = server.run(run.id)
    assert got["state"] == "SUCCEEDED" and "ok" not in got["config"]  # the whole PATCH was refused

    strict = trainyard.init(url=server.url, system_metrics_interval=0, strict=True)
    with pytest.raises(ValueError, match=r"it contains '\\[nt]'"):
        strict.summary["a\tb"] = 1  # caught before sending
    strict.config.update({"nested": {"bad\nkey": 1}})
    assert strict.flush(10)
    with pytest.raises(trainyard.TrainyardError) as e:
        strict.log({"x": 1})  # the background error surfaces at the next call
    assert e.value.status == 400 and e.value.code == "invalid"
    strict.finish()
    assert server.run(strict.id)["state"] == "SUCCEEDED"
