"""log() queues; the sender thread batches into few requests; the queue is
bounded."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from conftest import Server, read_spool
import trainyard
from trainyard._sender import Sender
from trainyard._spool import Spool
from trainyard._transport import Transport
from trainyard.run import warn


def test_5000_log_calls_make_few_requests_from_the_sender_thread(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    t = run._transport
    main = threading.current_thread().name
    before = len(t.requests_by(thread_name=main))
    for i in range(5000):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 5000})
    assert len(t.requests_by(thread_name=main)) == before, "log() made a request in the caller thread"
    run.finish()
    posts = t.requests_by(method="POST", path_suffix="/metrics")
    assert 1 <= len(posts) <= 4, posts
    assert {name for name, _, _ in posts} == {"trainyard-sender"}
    assert server.run(run.id)["metrics"]["loss"]["count"] == 5000
    st = run._stats()
    assert st["sent"] == 10_000 and st["dropped"] == 0 and st["queued"] == 0


def test_a_burst_is_sent_in_batches_of_at_most_10000(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    for i in range(2500):
        run.log({"a": i, "b": i, "c": i, "d": i, "e": i, "f": i, "g": i, "h": i, "i": i, "j": i})  # 25,000 points
    run.finish()
    st = run._stats()
    assert st["sent"] == 25_000
    assert 3 <= st["batches"] <= 8, st
    assert sum(m["count"] for m in server.run(run.id)["metrics"].values()) == 25_000


def test_flush_waits_until_points_are_on_the_server(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.log({"x": 1})
    assert run.flush(10)
    assert server.run(run.id)["metrics"]["x"]["count"] == 1
    run.finish()


def test_full_queue_drops_the_oldest_points(tmp_path: Path, closed_url: str):
    # A sender that takes nothing until close (huge interval and batch), so
    # the queue fills deterministically; offline, it then spools what is left.
    spool = Spool(str(tmp_path), "q1", False, {})
    s = Sender(Transport(closed_url), "q1", spool, warn, offline_reason="test", max_queue=1000,
               batch_size=10**9, flush_interval=3600)
    first = [s.add_points([("x", float(i), i, 0)]) for i in range(2500)]
    assert first.index(True) == 1000 and first.count(True) == 1
    st = s.stats()
    assert st["queued"] == 1000 and st["dropped"] == 1500 and st["high_water"] == 1000
    assert s.close(None, 10)
    pts = [p for r in read_spool(tmp_path / "q1.jsonl") if r["type"] == "metrics" for p in r["points"]]
    assert [p["step"] for p in pts] == list(range(1500, 2500))


def test_huge_burst_to_an_unreachable_server_stays_bounded(closed_url: str, clean_env: Path):
    run = trainyard.init(url=closed_url, max_queue=100_000, system_metrics_interval=0)
    assert run.offline
    for i in range(100_000):
        run.log({"a": i, "b": i, "c": i})  # 300,000 points
    run.finish()
    st = run._stats()
    assert st["high_water"] <= 100_000
    assert st["spooled"] + st["dropped"] == 300_000
    pts = sum(len(r["points"]) for r in read_spool(Path(run.spool_path)) if r["type"] == "metrics")
    assert pts == st["spooled"]


def test_dropped_points_are_counted_in_a_metric_and_warned_about_at_a_bounded_rate(
        server: Server, monkeypatch, capsys):
    from trainyard import _sender
    monkeypatch.setattr(_sender, "DROP_WARN_INTERVAL", 0.3)
    # A queue of 1000 that waits a second between sends overflows when
    # 20,000 points come at once: most are dropped, and the run says so.
    run = trainyard.init(url=server.url, max_queue=1000, system_metrics_interval=3600)
    for burst in range(2):
        for i in range(10_000):
            run.log({"x": i}, step=burst * 10_000 + i)
        time.sleep(0.4)
    run.finish()
    st = run._stats()
    assert st["dropped"] >= 15_000
    got = server.run(run.id)
    assert got["metrics"]["x"]["count"] + st["dropped"] == 20_000
    assert got["metrics"]["system/dropped_points"]["last"] == st["dropped"]
    err = capsys.readouterr().err
    warnings = err.count("metric queue is full (1000 points)")
    assert 2 <= warnings <= 4, err  # the first drop, then at most every 0.3s, not one per drop
    assert "max_queue" in err and "%d metric points were dropped" % st["dropped"] in err


def test_no_dropped_points_metric_without_drops(server: Server):
    run = trainyard.init(url=server.url, system_metrics_interval=3600)
    run.log({"x": 1})
    run.finish()
    assert "system/dropped_points" not in server.run(run.id)["metrics"]
