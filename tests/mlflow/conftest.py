"""Fixtures: a real trainyard server, started from its binary, that the
real mlflow client talks to through MLFLOW_TRACKING_URI.

The binary is $TRAINYARD_BIN, default bin/trainyard at the repository root;
when it is missing it is built with `go build`, and a failed build fails the
tests (they never skip for want of a server).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import mlflow
import pytest

REPO = Path(__file__).resolve().parents[2]


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

    def __init__(self, data: Path, token: Optional[str] = None):
        self.token = token
        self.bin = trainyard_bin()
        self.data = data
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc: Optional[subprocess.Popen] = None
        self.log = data.parent / (data.name + ".server.log")

    def start(self) -> "Server":
        args = [self.bin, "up", "--data", str(self.data), "--addr", "127.0.0.1:%d" % self.port, "--nvidia-smi", "none"]
        if self.token:
            args += ["--token", self.token]
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_") and not k.startswith("MLFLOW_")}
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("trainyard up exited with %s:\n%s" % (self.proc.returncode, self.log.read_text()))
            try:
                if self.request("GET", "/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("trainyard up did not answer /health within 20s:\n" + self.log.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def request(self, method: str, path: str, body: Any = None) -> Tuple[int, bytes]:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, method: str, path: str, body: Any = None) -> Any:
        status, out = self.request(method, path, body)
        assert status in (200, 201), "%s %s: %d %s" % (method, path, status, out[:300])
        return json.loads(out)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("mlflow") / "data").start()
    yield s
    s.stop()


@pytest.fixture(autouse=True)
def tracking(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test talks to the server as training code would: by URI."""
    for k in list(os.environ):
        if k.startswith("MLFLOW_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    # Fail fast instead of retrying a 5xx for minutes: a 5xx is a bug here.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    mlflow.set_tracking_uri(server.url)
    yield
    while mlflow.active_run():
        mlflow.end_run()
