"""Fixtures: the real trainyard server, started from its binary.

The binary is $TRAINYARD_BIN, default bin/trainyard at the repository root;
when it is missing it is built with `go build`, and a failed build fails
the tests (they never skip for want of a server).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[3]
SDK_SRC = REPO / "sdk" / "python" / "src"
sys.path.insert(0, str(SDK_SRC))
sys.path.insert(0, str(REPO / "tests"))

import pgserver  # noqa: E402

import trainyard  # noqa: E402
from trainyard import _sender  # noqa: E402
from trainyard._values import decode_float  # noqa: E402


def trainyard_bin() -> str:
    b = os.environ.get("TRAINYARD_BIN") or str(REPO / "bin" / "trainyard")
    if not os.path.isfile(b):
        env = dict(os.environ, CGO_ENABLED="0")
        r = subprocess.run(["go", "build", "-o", b, "./cmd/trainyard"], cwd=REPO, env=env,
                           capture_output=True, text=True)
        if r.returncode != 0 or not os.path.isfile(b):
            raise RuntimeError("cannot build the trainyard server (go build ./cmd/trainyard):\n" + r.stdout + r.stderr)
    return b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `trainyard up` on a data directory and a free port."""

    def __init__(self, data: Path, token: Optional[str] = None, port: Optional[int] = None):
        self.bin = trainyard_bin()
        self.data = data
        self.token = token
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc: Optional[subprocess.Popen] = None
        self.log = data.parent / (data.name + ".server.log")
        self.db = pgserver.db_args(str(data))  # one database per data directory, as with SQLite

    def start(self) -> "Server":
        args = [self.bin, "up", "--data", str(self.data), "--addr", "127.0.0.1:%d" % self.port, "--nvidia-smi", "none"] + self.db
        if self.token:
            args += ["--token", self.token]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_")}
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("trainyard up exited with %s:\n%s" % (self.proc.returncode, self.log.read_text()))
            try:
                self.get("/api/v1/health")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        raise RuntimeError("trainyard up did not answer /api/v1/health within 20s:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: the server dies without a word."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def request(self, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path: str) -> Any:
        status, body = self.request("GET", path)
        assert status == 200, "GET %s: %d %s" % (path, status, body[:300])
        return json.loads(body)

    def run(self, run_id: str) -> Dict[str, Any]:
        return self.get("/api/v1/runs/" + run_id)

    def series(self, run_id: str, key: str) -> Tuple[List[int], List[float]]:
        """A metric's raw points: (steps, values) with NaN/Inf decoded."""
        s = self.get("/api/v1/runs/%s/metrics/%s" % (run_id, urllib.parse.quote(key, safe="/")))
        return s["steps"], [decode_float(v) for v in s["values"]]

    def artifact(self, run_id: str, path: str) -> bytes:
        status, body = self.request("GET", "/api/v1/runs/%s/artifacts/%s" % (run_id, urllib.parse.quote(path)))
        assert status == 200, "GET artifact %s: %d %s" % (path, status, body[:300])
        return body

    def sync(self, spool_dir: Path) -> subprocess.CompletedProcess:
        env = dict(os.environ, TRAINYARD_URL=self.url)
        env.pop("TRAINYARD_TOKEN", None)
        if self.token:
            env["TRAINYARD_TOKEN"] = self.token
        return subprocess.run([self.bin, "sync", str(spool_dir)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the tests that do not stop it."""
    s = Server(tmp_path_factory.mktemp("server") / "data").start()
    yield s
    s.stop()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[Any]:
    """A factory of servers that a test may kill, restart or give a token."""
    started: List[Server] = []

    def make(token: Optional[str] = None, data: Optional[Path] = None, port: Optional[int] = None) -> Server:
        s = Server(data or tmp_path / ("data%d" % len(started)), token=token, port=port).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test spools into its own directory, outside any job."""
    for k in ("TRAINYARD_URL", "TRAINYARD_TOKEN", "TRAINYARD_RUN_ID", "TRAINYARD_JOB_ID", "TRAINYARD_PROJECT"):
        monkeypatch.delenv(k, raising=False)
    spool = tmp_path / "spool"
    monkeypatch.setenv("TRAINYARD_SPOOL_DIR", str(spool))
    return spool


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries a dead server every 0.05-0.2s instead of up to every 10s, and
    lets finish() wait for it 2s instead of 30s."""
    monkeypatch.setattr(_sender, "RETRY_BASE", 0.05)
    monkeypatch.setattr(_sender, "RETRY_CAP", 0.2)
    monkeypatch.setattr(_sender, "FINISH_RETRY_CAP", 0.2)
    monkeypatch.setenv("TRAINYARD_FINISH_TIMEOUT", "2")


@pytest.fixture
def closed_url() -> str:
    """A URL where nothing listens: connections are refused."""
    return "http://127.0.0.1:%d" % free_port()


def read_spool(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def subprocess_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SDK_SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


__all__ = ["Server", "trainyard", "read_spool", "subprocess_env", "REPO", "SDK_SRC"]
