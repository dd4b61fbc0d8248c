"""A server that goes away and comes back: the SDK spools meanwhile and
replays the spool by itself, in order, each point once; `trainyard sync`
and a live writer of a spool file stay out of each other's way."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest

from conftest import Server, read_spool, subprocess_env
import trainyard


def wait_for(what: str, cond, within: float = 60.0, every: float = 0.2):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(every)
    pytest.fail("timed out after %.0fs waiting for %s" % (within, what))


RESTART_JOB = """
import sys, time, trainyard
run = trainyard.init(system_metrics_interval=0)
for i in range(80):
    run.log({"x": i, "sq": i * i}, step=i)
    time.sleep(0.25)
run.summary["done"] = 1
"""


def test_a_job_logs_through_a_12s_server_restart_and_every_point_arrives_once(private_server, tmp_path: Path):
    # The case: a job that logs 80 points, one every 0.25s, while the
    # server is stopped for 12 seconds, must end with its 80 points stored once.
    srv = private_server()
    (tmp_path / "train.py").write_text(RESTART_JOB)
    p = subprocess.run([srv.bin, "run", "--env", "TRAINYARD_SPOOL_DIR=%s" % (tmp_path / "spool"), "--",
                        sys.executable, "train.py"], cwd=tmp_path, env=subprocess_env(TRAINYARD_URL=srv.url),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    job = p.stdout.strip()
    wait_for("the job's first points", lambda: srv.run(job)["metrics"].get("x", {}).get("count", 0) >= 8)
    srv.stop()  # SIGTERM: the job keeps running
    time.sleep(12)
    again = private_server(data=srv.data, port=srv.port)
    wait_for("the job to end", lambda: again.get("/api/v1/jobs/" + job)["state"] not in ("QUEUED", "RUNNING"))
    got = again.run(job)
    assert got["state"] == "SUCCEEDED", got
    log = again.request("GET", "/api/v1/runs/%s/logs" % job)[1].decode()
    assert got["metrics"]["x"]["count"] == 80, log
    assert got["metrics"]["sq"]["count"] == 80
    steps, values = again.series(job, "x")
    assert steps == list(range(80)) and values == [float(i) for i in range(80)]
    assert got["summary"] == {"done": 1}
    assert "answers again: replayed" in log, log
    assert not list((tmp_path / "spool").glob("*.jsonl")), "the replayed spool should be gone"


class LosingProxy:
    """A TCP proxy in front of a real server that, while lose is set,
    forwards each request to the server and then closes the client's
    connection without the answer: the server applied it, the client
    cannot know. It counts the metric batch IDs it forwarded."""

    def __init__(self, target_port: int):
        self.target = target_port
        self.lose = False
        self.batch_ids: List[str] = []
        self.lost = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        with c:
            req = self._read_request(c)
            if req is None:
                return
            head, body = req
            if b" /metrics " in head.split(b"\r\n", 1)[0] or b"/metrics HTTP" in head.split(b"\r\n", 1)[0]:
                m = re.search(rb'"batch_id":"([^"]+)"', body)
                if m:
                    self.batch_ids.append(m.group(1).decode())
            lines = head.split(b"\r\n")
            lines = [ln for ln in lines if not ln.lower().startswith(b"connection:")]
            fwd = b"\r\n".join(lines[:1] + [b"Connection: close"] + lines[1:]) + b"\r\n\r\n" + body
            with socket.create_connection(("127.0.0.1", self.target)) as s:
                s.sendall(fwd)
                answer = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            if self.lose:
                self.lost += 1
                return  # the server applied it; the client hears nothing
            c.sendall(answer)

    @staticmethod
    def _read_request(c: socket.socket):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(body) < n:
            chunk = c.recv(65536)
            if not chunk:
                break
            body += chunk
        return head, body

    def close(self) -> None:
        self.sock.close()


def test_batches_whose_answers_were_lost_are_replayed_and_stored_once(server: Server, fast_retries: None,
                                                                      capsys: pytest.CaptureFixture):
    proxy = LosingProxy(server.port)
    try:
        run = trainyard.init(url=proxy.url, project="lossy", system_metrics_interval=0)
        for i in range(100):
            run.log({"x": i})
        assert run.flush(10)
        proxy.lose = True  # the server stores what comes, the client hears nothing
        for i in range(100, 200):
            run.log({"x": i})
        run.summary["phase"] = "lossy"
        assert run.flush(10)
        wait_for("the SDK to spool", lambda: run.offline, within=10)
        time.sleep(0.5)  # a few replays whose answers are lost too
        proxy.lose = False
        for i in range(200, 300):
            run.log({"x": i})
        run.finish()
    finally:
        proxy.close()
    assert not run.offline
    assert proxy.lost >= 2
    got = server.run(run.id)
    assert got["state"] == "SUCCEEDED" and got["summary"] == {"phase": "lossy"}
    assert got["metrics"]["x"]["count"] == 300
    steps, values = server.series(run.id, "x")
    assert steps == list(range(300)) and values == [float(i) for i in range(300)]
    # The batch whose answer was lost went to the server again under its ID.
    assert len(proxy.batch_ids) > len(set(proxy.batch_ids))
    assert not os.path.exists(run.spool_path)
    assert "answers again: replayed" in capsys.readouterr().err


def test_a_run_started_while_the_server_is_down_is_created_and_replayed_when_it_comes_up(
        private_server, tmp_path: Path, clean_env: Path, fast_retries: None, monkeypatch: pytest.MonkeyPatch):
    from conftest import free_port
    port = free_port()
    (tmp_path / "model.txt").write_text("weights")
    run = trainyard.init(url="http://127.0.0.1:%d" % port, project="late", name="early-bird", config={"lr": 0.1},
                         system_metrics_interval=0)
    assert run.offline
    for i in range(50):
        run.log({"loss": 1.0 / (i + 1)})
    run.log({"edge": math.nan})
    run.log_artifact(str(tmp_path / "model.txt"))
    run.summary["best"] = 0.5
    assert run.flush(10)
    recs = read_spool(Path(run.spool_path))
    assert recs[0]["type"] == "run" and recs[0]["created"] is False
    srv = private_server(port=port)
    wait_for("the spool to be replayed", lambda: not run.offline, within=20)
    for i in range(50, 60):
        run.log({"loss": 1.0 / (i + 1)})
    run.finish()
    got = srv.run(run.id)
    assert got["project"] == "late" and got["name"] == "early-bird" and got["config"] == {"lr": 0.1}
    assert got["state"] == "SUCCEEDED" and got["summary"] == {"best": 0.5}
    steps, _ = srv.series(run.id, "loss")
    assert steps == list(range(50)) + list(range(51, 61))
    assert math.isnan(srv.series(run.id, "edge")[1][0])
    assert srv.artifact(run.id, "model.txt") == b"weights"
    assert not Path(run.spool_path).exists() and not Path(run.spool_path + ".progress").exists()
    assert not list((clean_env / (run.id + ".artifacts")).rglob("model.txt")), "the staged copy stays after upload"


def test_finish_leaves_what_the_server_did_not_get_for_sync_and_says_where(
        private_server, clean_env: Path, fast_retries: None, capsys: pytest.CaptureFixture):
    srv = private_server()
    run = trainyard.init(url=srv.url, system_metrics_interval=0)
    run.log({"x": 0})
    assert run.flush(10)
    srv.kill()
    run.log({"x": 1})
    t0 = time.monotonic()
    run.finish()  # waits for the server (2s in these tests), then gives up
    took = time.monotonic() - t0
    assert 1.5 <= took <= 8, took
    err = capsys.readouterr().err
    assert "upload with `trainyard sync %s`" % clean_env in err and str(run.spool_path) in err
    again = private_server(data=srv.data, port=srv.port)
    out = again.sync(clean_env)
    assert out.returncode == 0, out.stderr
    assert again.series(run.id, "x")[0] == [0, 1]


def test_a_restarted_job_replays_what_its_predecessor_left_before_anything_new(server: Server, clean_env: Path):
    # The first attempt of a job applied two lines, then died; the second
    # attempt (same run id) sends the rest first, then its own points.
    run_id = "a" + os.urandom(5).hex()
    server.request("POST", "/api/v1/runs", json.dumps({"id": run_id}).encode())
    clean_env.mkdir(parents=True, exist_ok=True)
    lines = [{"type": "run", "id": run_id, "created": True, "run": {}}]
    for b in range(3):
        lines.append({"type": "metrics", "batch_id": "old%d" % b,
                      "points": [{"key": "x", "value": b * 10 + i, "step": b * 10 + i, "timestamp": 1}
                                 for i in range(10)]})
    path = clean_env / (run_id + ".jsonl")
    path.write_text("".join(json.dumps(l) + "\n" for l in lines) + '{"type": "metr')  # a torn last line
    # Lines 1-2 were applied (the run line, the first batch): send it so.
    server.request("POST", "/api/v1/runs/%s/metrics" % run_id,
                   json.dumps({"points": lines[1]["points"], "batch_id": "old0"}).encode())
    Path(str(path) + ".progress").write_text("2")
    monkey_env = dict(os.environ, TRAINYARD_RUN_ID=run_id, TRAINYARD_URL=server.url)
    script = ("import trainyard\nrun = trainyard.init(system_metrics_interval=0)\n"
              "run.log({'x': 30}, step=30)\nrun.finish()\n")
    p = subprocess.run([sys.executable, "-c", script], env=subprocess_env(**monkey_env), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    steps, values = server.series(run_id, "x")
    assert steps == list(range(31)) and values == [float(i) for i in range(31)]
    assert not path.exists()


WRITER = """
import sys, time, trainyard
run = trainyard.init(url=sys.argv[1], system_metrics_interval=0)
print(run.id, flush=True)
for i in range(int(sys.argv[2])):
    run.log({"x": i})
    time.sleep(0.001)
run.finish()
"""


def test_sync_while_a_live_process_writes_the_spool_loses_nothing(server: Server, closed_url: str,
                                                                  clean_env: Path):
    # The writer cannot reach its server (closed_url) and spools; sync, which
    # can reach one, runs again and again meanwhile. It must leave the file
    # alone while the writer lives, then upload all of it.
    n = 4000
    w = subprocess.Popen([sys.executable, "-c", WRITER, closed_url, str(n)], env=subprocess_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert w.stdout is not None
    run_id = w.stdout.readline().strip()
    path = clean_env / (run_id + ".jsonl")
    wait_for("the spool file", path.exists, within=20, every=0.05)
    skipped = synced = 0
    while w.poll() is None:
        out = server.sync(clean_env)
        assert out.returncode == 0, out.stderr
        skipped += ("skipped %s" % path) in out.stderr
        synced += ("synced run %s" % run_id) in out.stdout  # the writer may have just closed it
        time.sleep(0.2)
    assert w.returncode == 0, w.stderr.read() if w.stderr else ""
    assert skipped >= 1
    out = server.sync(clean_env)
    assert out.returncode == 0, out.stderr
    synced += ("synced run %s" % run_id) in out.stdout
    assert synced == 1
    steps, _ = server.series(run_id, "x")
    assert steps == list(range(n))
