"""The offline spool: what the SDK writes when it cannot reach the server,
and what `trainyard sync DIR` uploads later (see cli/sync.go).

One file per run, DIR/<run id>.jsonl, one JSON object a line:

    {"type": "run", "id": ID, "created": false, "run": NewRun}   always first
    {"type": "metrics", "points": [{"key", "value", "step", "timestamp"}], "batch_id": ID}
    {"type": "update", "update": RunUpdate}
    {"type": "log", "text": "..."}
    {"type": "artifact", "path": "in/run", "file": "/abs/copy/in/spool"}

"created" is true when the run already exists on the server. Artifact
copies live in DIR/<run id>.artifacts/, which sync does not glob. Lines are
written whole and fsynced at batch boundaries (Spool.sync), so a crash
leaves at most a torn last line, which sync skips.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, Dict, List, Optional, Tuple

from ._values import json_safe, points_json

#: Points per metrics record, as per request online.
POINTS_PER_RECORD = 10_000
#: Characters of log text per record.
TEXT_PER_RECORD = 1 << 20


def default_dir() -> str:
    """TRAINYARD_SPOOL_DIR, else ~/.trainyard/spool."""
    d = os.environ.get("TRAINYARD_SPOOL_DIR")
    return d if d else os.path.join(os.path.expanduser("~"), ".trainyard", "spool")


def encode(record: Dict[str, Any]) -> bytes:
    """One spool line, newline included."""
    return json.dumps(json_safe(record), allow_nan=False, separators=(",", ":")).encode() + b"\n"


class Spool:
    """Writes one run's records. Not thread-safe: the sender thread owns it
    (the caller thread only asks for staging_dir)."""

    def __init__(self, directory: str, run_id: str, created: bool, new_run: Dict[str, Any]):
        self.dir = os.path.abspath(directory)
        self.run_id = run_id
        self.created = created
        self.new_run = new_run
        self.path = os.path.join(self.dir, run_id + ".jsonl")
        self._f: Optional[IO[bytes]] = None
        self.points = 0  # points written, for stats and tests

    @property
    def staging_dir(self) -> str:
        """Where artifact copies wait for upload (and stay when spooled)."""
        return os.path.join(self.dir, self.run_id + ".artifacts")

    @property
    def opened(self) -> bool:
        return self._f is not None

    def open(self) -> None:
        """Creates the file with its run line; appends when it exists (a job
        restarted with the same run), without a second run line."""
        if self._f is not None:
            return
        os.makedirs(self.dir, exist_ok=True)
        f = open(self.path, "ab")
        try:
            if f.tell() == 0:
                f.write(encode({"type": "run", "id": self.run_id, "created": self.created, "run": self.new_run}))
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            f.close()
            raise
        self._f = f

    def _write(self, record: Dict[str, Any]) -> None:
        self.open()
        assert self._f is not None
        self._f.write(encode(record))

    def metrics(self, points: List[Tuple[str, float, int, int]], batch_id: Optional[str] = None) -> None:
        for i in range(0, len(points), POINTS_PER_RECORD):
            chunk = points[i:i + POINTS_PER_RECORD]
            # Points are encoded already (points_json); json_safe would only slow this down.
            record: Dict[str, Any] = {"type": "metrics", "points": points_json(chunk)}
            if batch_id:
                record["batch_id"] = batch_id if len(points) <= POINTS_PER_RECORD else "%s-%d" % (batch_id, i)
            line = json.dumps(record, allow_nan=False, separators=(",", ":"))
            self.open()
            assert self._f is not None
            self._f.write(line.encode() + b"\n")
            self.points += len(chunk)

    def update(self, update: Dict[str, Any]) -> None:
        if update:
            self._write({"type": "update", "update": update})

    def log(self, text: str) -> None:
        for i in range(0, len(text), TEXT_PER_RECORD):
            self._write({"type": "log", "text": text[i:i + TEXT_PER_RECORD]})

    def artifact(self, path: str, file: str) -> None:
        self._write({"type": "artifact", "path": path, "file": os.path.abspath(file)})

    def sync(self) -> None:
        """Makes what was written durable: the batch boundary."""
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            try:
                self.sync()
            finally:
                self._f.close()
                self._f = None
