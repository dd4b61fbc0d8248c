"""The real MLflow tracking server, started from the pinned mlflow package
(requirements.lock) as a user would start it: SQLite backend, artifacts
served through the server's proxy (--serve-artifacts) from a local
directory. The differential tests send it the same requests as trainyard.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

from conftest import free_port


class MlflowServer:
    """`mlflow server` on a fresh SQLite file and artifact directory."""

    def __init__(self, data: Path):
        self.data = data
        data.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = data / "mlflow-server.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 300) -> "MlflowServer":
        exe = Path(sys.executable).parent / "mlflow"
        args = [str(exe), "server", "--backend-store-uri", "sqlite:///%s" % (self.data / "mlflow.db"),
                "--serve-artifacts", "--artifacts-destination", str(self.data / "artifacts"),
                "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        with open(self.log, "ab") as logf:
            # A session of its own, so that stop() ends the server and its workers together.
            self.proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mlflow server exited with %s:\n%s" % (self.proc.returncode, self.log.read_text()))
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError("mlflow server did not answer /health within %ds:\n%s" % (timeout, self.log.read_text()[-3000:]))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
