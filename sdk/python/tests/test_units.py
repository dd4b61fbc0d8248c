"""Pure parts: keys, values, steps, system readings, the spool format."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from conftest import read_spool
from trainyard import _spool, _system
from trainyard._env import scrub_url
from trainyard._spool import Spool
from trainyard._values import (StepCounter, decode_float, encode_float, flatten, json_safe, key_problem,
                               points_json, to_float)


@pytest.mark.parametrize("data, want", [
    ({"loss": 1}, [("loss", 1)]),
    ({"train": {"loss": 1, "acc": 2}}, [("train/loss", 1), ("train/acc", 2)]),
    ({"a": {"b": {"c": 3}}, "d": 4}, [("a/b/c", 3), ("d", 4)]),
    ({"a": {}}, []),
    ({1: 2}, [("1", 2)]),
    ({"x/y": 1}, [("x/y", 1)]),
])
def test_flatten_joins_nested_keys_with_slash(data, want):
    assert list(flatten(data)) == want


@pytest.mark.parametrize("key, ok", [
    ("loss", True), ("train/loss", True), ("a" * 250, True), ("é" * 125, True),
    ("", False), ("a" * 251, False), ("é" * 126, False), ("a\nb", False), ("a\x7fb", False),
    ("val loss", True), ("lr:0.1", True), ("a-b_c.d", True),
    ("a//b", False), ("/x", False), ("x/", False), (".", False), ("..", False), ("a/./b", False),
    ("a/../b", False), ("../x", False), ("a+b", False), ("a@b", False),
])
def test_key_problem_matches_the_server_rules(key, ok):
    assert (key_problem(key) is None) == ok


class FakeScalar:
    """Stands for a numpy scalar or a one-element tensor: it has __float__."""

    def __init__(self, v):
        self.v = v

    def __float__(self):
        return float(self.v)


@pytest.mark.parametrize("value, want", [
    (1, 1.0), (2.5, 2.5), (True, 1.0), (False, 0.0), (FakeScalar(3), 3.0), (10**20, 1e20),
    ("1.0", None), (None, None), ([1], None), ({"a": 1}.keys(), None), (1 + 2j, None), (b"1", None),
])
def test_to_float_takes_numbers_only(value, want):
    assert to_float(value) == want


def test_to_float_keeps_nan_and_infinities():
    assert math.isnan(to_float(math.nan))
    assert to_float(-math.inf) == -math.inf


@pytest.mark.parametrize("v, want", [
    (1.5, 1.5), (math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity"), (0.0, 0.0)])
def test_encode_float_uses_the_api_strings(v, want):
    assert encode_float(v) == want


@pytest.mark.parametrize("s", ["NaN", "Infinity", "-Infinity", 1.5, 3])
def test_decode_float_inverts_encode(s):
    v = decode_float(s)
    got = encode_float(v)
    assert got == s or (isinstance(s, int) and got == float(s))


def test_points_json_is_strict_json():
    pts = points_json([("a", math.nan, 0, 1), ("b", math.inf, 1, 2), ("c", 0.1, 2, 3)])
    text = json.dumps({"points": pts}, allow_nan=False)
    assert json.loads(text)["points"] == [
        {"key": "a", "value": "NaN", "step": 0, "timestamp": 1},
        {"key": "b", "value": "Infinity", "step": 1, "timestamp": 2},
        {"key": "c", "value": 0.1, "step": 2, "timestamp": 3}]


def test_json_safe_makes_anything_encodable():
    got = json_safe({"a": math.nan, "b": (1, 2), 3: {"c": -math.inf}, "d": FakeScalar(2), "e": object, "f": None})
    json.dumps(got, allow_nan=False)
    assert got["a"] == "NaN" and got["b"] == [1, 2] and got["3"] == {"c": "-Infinity"}
    assert got["d"] == 2.0 and got["e"] == str(object) and got["f"] is None


def test_step_counter_auto_increments_and_follows_explicit_steps():
    c = StepCounter()
    assert [c.take(None) for _ in range(3)] == [0, 1, 2]
    assert c.take(10) == 10
    assert c.take(None) == 11
    assert c.take(None, commit=False) == 12
    assert c.take(None) == 12
    assert c.take(None) == 13
    assert c.take(5) == 5 and c.take(None) == 6


def test_scrub_url_drops_credentials_only():
    assert scrub_url("https://user:tok@github.com/a/b.git") == "https://user@github.com/a/b.git"
    assert scrub_url("https://:tok@github.com:8443/a") == "https://github.com:8443/a"
    assert scrub_url("git@github.com:a/b.git") == "git@github.com:a/b.git"
    assert scrub_url("https://github.com/a/b") == "https://github.com/a/b"


# ---- system readings ------------------------------------------------------

PROC_STAT = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n"
PROC_STAT2 = "cpu  200 0 200 800 100 0 0 0 0 0\n"


def test_cpu_percent_from_proc_stat_deltas():
    a, b = _system.read_cpu_times(PROC_STAT), _system.read_cpu_times(PROC_STAT2)
    assert a == (200, 1000) and b == (400, 1300)
    assert _system.cpu_percent(a, b) == pytest.approx(200 / 300 * 100)
    assert _system.cpu_percent(a, a) is None


def test_parse_kib_fields():
    got = _system.parse_kib_fields("MemTotal:       1000 kB\nMemAvailable:    250 kB\nHugePages_Total: 0\n")
    assert got == {"MemTotal": 1024000, "MemAvailable": 256000}


@pytest.mark.parametrize("env, want", [
    (None, None), ("", set()), ("0", {0}), ("1,3", {1, 3}), (" 2 , 0 ", {0, 2}),
    ("GPU-8c3f-uuid", None), ("0,-1,2", {0}), ("MIG-abc", None)])
def test_visible_gpus_reads_cuda_visible_devices(env, want):
    assert _system.visible_gpus(env) == want


SMI = "0, 35, 1024, 81920\n1, 100, 40960, 81920\n2, [N/A], 0, 81920\n"


def test_parse_nvidia_smi_restricts_to_visible_gpus():
    got = dict(_system.parse_nvidia_smi(SMI, {1, 2}))
    assert got == {
        "system/gpu.1.utilization": 100.0,
        "system/gpu.1.memory_used_bytes": 40960 * 1024 * 1024,
        "system/gpu.1.memory_percent": 50.0,
        "system/gpu.2.memory_used_bytes": 0.0,
        "system/gpu.2.memory_percent": 0.0,
    }
    assert len(_system.parse_nvidia_smi(SMI, None)) == 8


def test_system_sample_reads_this_machine():
    mon = _system.SystemMonitor(1.0, lambda pts: None, nvidia_smi="")
    time.sleep(0.2)  # CPU percent needs some jiffies between two readings
    pts = mon.sample()
    keys = {k for k, _, _, _ in pts}
    if os.path.exists("/proc/meminfo"):
        assert {"system/cpu_percent", "system/memory_percent", "system/memory_used_bytes",
                "system/process_rss_bytes"} <= keys
    assert all(step == 0 for _, _, step, _ in pts)
    assert all(s == 1 for _, _, s, _ in mon.sample())


# ---- the spool writer -----------------------------------------------------

def test_spool_writes_the_documented_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fsyncs = []
    real_fsync = os.fsync
    monkeypatch.setattr(_spool.os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    sp = Spool(str(tmp_path), "abc123", False, {"project": "p", "config": {"lr": math.nan}})
    pts = [("loss", float(i), i, 1000 + i) for i in range(25_000)] + [("x", math.inf, 0, 5)]
    sp.metrics(pts)
    sp.update({"summary": {"best": math.nan}, "state": "SUCCEEDED"})
    sp.log("hello\n")
    sp.artifact("model/w.bin", str(tmp_path / "copy"))
    n = len(fsyncs)
    sp.sync()
    assert len(fsyncs) == n + 1
    sp.close()
    recs = read_spool(tmp_path / "abc123.jsonl")
    assert recs[0] == {"type": "run", "id": "abc123", "created": False, "run": {"project": "p", "config": {"lr": "NaN"}}}
    metrics = [r for r in recs if r["type"] == "metrics"]
    assert [len(r["points"]) for r in metrics] == [10_000, 10_000, 5_001]
    assert metrics[0]["points"][3] == {"key": "loss", "value": 3.0, "step": 3, "timestamp": 1003}
    assert metrics[-1]["points"][-1] == {"key": "x", "value": "Infinity", "step": 0, "timestamp": 5}
    assert recs[-3] == {"type": "update", "update": {"summary": {"best": "NaN"}, "state": "SUCCEEDED"}}
    assert recs[-2] == {"type": "log", "text": "hello\n"}
    assert recs[-1] == {"type": "artifact", "path": "model/w.bin", "file": str(tmp_path / "copy")}
    assert sp.points == 25_001


def test_spool_reopened_appends_without_a_second_run_line(tmp_path: Path):
    for _ in range(2):
        sp = Spool(str(tmp_path), "r1", True, {})
        sp.metrics([("a", 1.0, 0, 0)])
        sp.close()
    recs = read_spool(tmp_path / "r1.jsonl")
    assert [r["type"] for r in recs] == ["run", "metrics", "metrics"]
    assert recs[0]["created"] is True


def test_spool_default_dir(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TRAINYARD_SPOOL_DIR", "/x/y")
    assert _spool.default_dir() == "/x/y"
    monkeypatch.delenv("TRAINYARD_SPOOL_DIR")
    assert _spool.default_dir() == os.path.join(os.path.expanduser("~"), ".trainyard", "spool")


def test_series_json_groups_points_by_key_in_order():
    from trainyard._values import series_json
    got = series_json([("a", 1.0, 0, 10), ("b", float("nan"), 0, 11), ("a", float("inf"), 1, 12)])
    assert got == [
        {"key": "a", "steps": [0, 1], "values": [1.0, "Infinity"], "timestamps": [10, 12]},
        {"key": "b", "steps": [0], "values": ["NaN"], "timestamps": [11]},
    ]


def test_a_spooled_metrics_line_is_replayed_as_the_api_body_without_decoding(tmp_path: Path):
    sp = Spool(str(tmp_path), "r2", True, {})
    pts = [("a", 1.5, 0, 10), ("b/c", math.nan, 0, 11), ('we{"key":ird', 2.0, 1, 12)]
    sp.metrics(pts, "bid1")
    sp.update({"summary": {"x": 1}})
    sp.close()
    lines = (tmp_path / "r2.jsonl").read_bytes().splitlines(keepends=True)
    body, n = _spool.metrics_body(lines[1])
    assert n == 3
    assert json.loads(body) == {"points": [
        {"key": "a", "value": 1.5, "step": 0, "timestamp": 10},
        {"key": "b/c", "value": "NaN", "step": 0, "timestamp": 11},
        {"key": 'we{"key":ird', "value": 2.0, "step": 1, "timestamp": 12}], "batch_id": "bid1"}
    assert _spool.metrics_body(lines[0]) is None and _spool.metrics_body(lines[2]) is None


def test_points_text_is_what_json_dumps_writes():
    from trainyard._values import points_text
    pts = [("a", 1.5, 0, 10), ("b/c", math.nan, 1, 11), ("é\"\\\n", math.inf, 2, 12), ("d", -math.inf, 3, 13),
           ("e", -0.0, 4, 14), ("f", 1e300, 5, 15), ("g", 5e-324, 6, 16), ("h", 2.0000000015e+09, 7, 17),
           ("i", float(2 ** 53 + 1), -8, -1), ("a", 0.1 + 0.2, 9, 18)]
    assert points_text(pts) == json.dumps(points_json(pts), separators=(",", ":"), allow_nan=False)
    assert points_text([]) == "[]"
