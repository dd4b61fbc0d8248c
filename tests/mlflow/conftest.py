"""Fixtures: a real trainyard server, started from its binary, that the
real mlflow client talks to through MLFLOW_TRACKING_URI.

The binary is $TRAINYARD_BIN, default bin/trainyard at the repository root;
when it is missing it is built with `go build`, and a failed build fails the
tests (they never skip for want of a server).

With TRAINYARD_TEST_ARTIFACTS=s3 every server keeps its artifacts in a real
S3-compatible server that the session starts (`go run ./internal/s3test/serve`:
SeaweedFS, built once into ~/.cache/trainyard-s3), under a prefix of its own,
and MLflow clients upload and download large files straight to the bucket with
presigned URLs, as with MLflow's own server over S3.
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
import urllib.request
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple

import mlflow
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import pgserver  # noqa: E402


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


class S3:
    """The S3 test server of the session, with one bucket."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["go", "run", "./internal/s3test/serve", "-bucket", "mlflow"], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # waits for a first build of the server (minutes), then seconds
        if not line:
            raise RuntimeError("TRAINYARD_TEST_ARTIFACTS=s3: the S3 test server did not start:\n" + self.proc.stderr.read())
        self.info = json.loads(line)
        self.bucket = self.info["bucket"]
        self.env = {"AWS_ENDPOINT_URL": self.info["endpoint"], "AWS_ACCESS_KEY_ID": self.info["access_key"],
                    "AWS_SECRET_ACCESS_KEY": self.info["secret_key"], "AWS_REGION": self.info["region"]}
        self.servers = 0

    def artifacts(self) -> str:
        """A prefix of the bucket for one more trainyard server."""
        self.servers += 1
        return "s3://%s/server%d" % (self.bucket, self.servers)

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_s3: Optional[S3] = None


def s3() -> Optional[S3]:
    """The session's S3 test server when TRAINYARD_TEST_ARTIFACTS=s3, started on first use."""
    global _s3
    if os.environ.get("TRAINYARD_TEST_ARTIFACTS") == "s3" and _s3 is None:
        _s3 = S3()
    return _s3


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    if _s3 is not None:
        _s3.stop()


class Server:
    """A real `trainyard up` on a data directory and a free port (and, with
    TRAINYARD_TEST_ARTIFACTS=s3, artifacts in the session's bucket)."""

    def __init__(self, data: Path, token: Optional[str] = None, args: Optional[list] = None):
        self.token = token
        self.args = list(args or [])
        self.s3 = s3()
        self.bin = trainyard_bin()
        self.data = data
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc: Optional[subprocess.Popen] = None
        self.log = data.parent / (data.name + ".server.log")
        self.db = pgserver.db_args(str(data))  # one database per data directory, as with SQLite

    def start(self) -> "Server":
        args = [self.bin, "up", "--data", str(self.data), "--addr", "127.0.0.1:%d" % self.port, "--nvidia-smi", "none"] + self.db
        if self.token:
            args += ["--token", self.token]
        args += self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_") and not k.startswith("MLFLOW_")}
        if self.s3 is not None and "--artifacts-destination" not in self.args:  # a test that chose its own place keeps it
            args += ["--artifacts", self.s3.artifacts()]
            env.update(self.s3.env)
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
