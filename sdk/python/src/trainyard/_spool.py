"""The spool: what the SDK writes while it cannot reach the server, replays
by itself once the server answers again, and what `trainyard sync` uploads
when the process ended before it could (see cli/sync.go).

One file per run, DIR/<run id>.jsonl, one JSON object a line:

    {"type": "run", "id": ID, "created": false, "run": NewRun}   always first
    {"type": "metrics", "points": [{"key", "value", "step", "timestamp"}], "batch_id": ID}
    {"type": "update", "update": RunUpdate}
    {"type": "log", "text": "..."}
    {"type": "artifact", "path": "in/run", "file": "/abs/copy/in/spool"}

"created" is true when the run already exists on the server. Artifact
copies live in DIR/<run id>.artifacts/, which sync does not glob. Lines are
written whole and fsynced at batch boundaries (Spool.sync), so a crash
leaves at most a torn last line, which sync skips and the next writer cuts.

Who may touch the file: the process that writes it holds an exclusive
flock(2) on it from open to close; `trainyard sync` takes the same lock
without waiting and skips a file that a live process holds, so sync never
reads (or renames) a file under a writer. Both record how far they got in
DIR/<run id>.jsonl.progress (the number of lines applied), so neither sends
a line twice; metric records carry their batch's ID as well, which the
server stores once however often it arrives.
"""

from __future__ import annotations

import json
import os
from typing import IO, Any, Dict, List, Optional, Tuple

from ._values import json_safe, points_text

try:  # POSIX; elsewhere the spool is not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Points per metrics record, as per request online.
POINTS_PER_RECORD = 10_000
#: Characters of log text per record.
TEXT_PER_RECORD = 1 << 20


def default_dir() -> str:
    """TRAINYARD_SPOOL_DIR, else ~/.trainyard/spool."""
    d = os.environ.get("TRAINYARD_SPOOL_DIR")
    return d if d else os.path.join(os.path.expanduser("~"), ".trainyard", "spool")


#: How a metrics line that Spool.metrics wrote begins: what follows the
#: type is the API's metric batch as is ({"points": [...], "batch_id": ...}),
#: so a replay sends it without decoding 10,000 points.
METRICS_LINE = b'{"type":"metrics",'


def metrics_body(raw: bytes) -> Optional[Tuple[bytes, int]]:
    """The API body of a metrics line written by Spool.metrics, and its
    number of points; None for any other line (decode it instead)."""
    if not raw.startswith(METRICS_LINE + b'"points":'):
        return None
    # Keys are JSON strings, in which a '{"key":' would be escaped: the count is exact.
    return b"{" + raw[len(METRICS_LINE):].rstrip(b"\n"), raw.count(b'{"key":')


def encode(record: Dict[str, Any]) -> bytes:
    """One spool line, newline included."""
    return json.dumps(json_safe(record), allow_nan=False, separators=(",", ":")).encode() + b"\n"


class Spool:
    """Writes one run's records and reads back those not yet applied. Not
    thread-safe: the sender thread owns it (the caller thread only asks for
    staging_dir and path)."""

    def __init__(self, directory: str, run_id: str, created: bool, new_run: Dict[str, Any]):
        self.dir = os.path.abspath(directory)
        self.run_id = run_id
        self.created = created
        self.new_run = new_run
        self.path = os.path.join(self.dir, run_id + ".jsonl")
        self.progress_path = self.path + ".progress"
        self._f: Optional[IO[bytes]] = None
        self._r: Optional[IO[bytes]] = None
        self.points = 0  # points written, for stats and tests
        self.lines = 0  # complete lines in the file
        self.done = 0  # lines applied (by this process, an earlier one, or sync)
        self._done_at = 0  # byte offset of the first line not applied

    @property
    def staging_dir(self) -> str:
        """Where artifact copies wait for upload (and stay when spooled)."""
        return os.path.join(self.dir, self.run_id + ".artifacts")

    @property
    def opened(self) -> bool:
        return self._f is not None

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def pending(self) -> bool:
        """Whether the file holds lines not applied yet."""
        return self.done < self.lines

    def open(self) -> None:
        """Opens the file for appending and locks it (waiting while
        `trainyard sync` holds it). A new file gets the run line; an existing
        one (a job restarted with the same run, or one the server never got)
        is adopted: its torn last line, if any, is cut, and what it holds
        beyond its progress is pending."""
        if self._f is not None:
            return
        os.makedirs(self.dir, exist_ok=True)
        while True:
            f = open(self.path, "ab+")
            try:
                if fcntl is not None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    same = os.path.samestat(os.fstat(f.fileno()), os.stat(self.path))
                except FileNotFoundError:
                    same = False
                if not same:  # sync renamed it while we waited: open the path anew
                    f.close()
                    continue
                self._adopt(f)
            except BaseException:
                f.close()
                raise
            break
        self._f = f
        if self.lines == 0:
            self._write({"type": "run", "id": self.run_id, "created": self.created, "run": self.new_run})
            self.sync()

    def _adopt(self, f: IO[bytes]) -> None:
        """Reads an existing file's line count and progress."""
        size = os.fstat(f.fileno()).st_size
        self.lines = self.done = self._done_at = 0
        if size == 0:
            return
        done = 0
        try:
            with open(self.progress_path, "rb") as p:
                done = int(p.read().strip() or b"0")
        except (OSError, ValueError):
            done = 0
        f.seek(0)
        offset = 0
        good = 0  # end of the last complete line
        for line in f:
            if not line.endswith(b"\n"):
                break
            offset += len(line)
            good = offset
            self.lines += 1
            if self.lines == done:
                self._done_at = offset
        if good < size:  # a writer died mid-line: cut the torn tail
            f.truncate(good)
        self.done = min(done, self.lines)
        if self.done < done:
            self._done_at = good
        f.seek(0, os.SEEK_END)

    def _write(self, record: Dict[str, Any]) -> None:
        self._write_line(encode(record))

    def _write_line(self, line: bytes) -> None:
        self.open()
        assert self._f is not None
        self._f.write(line)
        self.lines += 1

    def metrics(self, points: List[Tuple[str, float, int, int]], batch_id: Optional[str] = None) -> None:
        for i in range(0, len(points), POINTS_PER_RECORD):
            chunk = points[i:i + POINTS_PER_RECORD]
            # {"type":"metrics","points":[...],"batch_id":"..."}: replay relies on this shape (metrics_body).
            line = '{"type":"metrics","points":' + points_text(chunk)
            if batch_id:
                line += ',"batch_id":' + json.dumps(batch_id if len(points) <= POINTS_PER_RECORD
                                                     else "%s-%d" % (batch_id, i))
            self._write_line(line.encode() + b"}\n")
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

    # ---- reading back ------------------------------------------------------

    def next_pending(self) -> Optional[Tuple[int, bytes]]:
        """The first line not applied yet, as (line number from 1, the line's
        bytes), or None when every line is applied. Call applied() once it
        is."""
        if self._f is None or not self.pending():
            return None
        self._f.flush()
        if self._r is None:
            self._r = open(self.path, "rb")
        self._r.seek(self._done_at)
        raw = self._r.readline()
        if not raw.endswith(b"\n"):
            return None
        self._next_at = self._done_at + len(raw)
        return self.done + 1, raw

    def applied(self) -> None:
        """Records that the line next_pending returned is applied: in memory
        and in the progress file that `trainyard sync` reads too."""
        self.done += 1
        self._done_at = self._next_at
        tmp = self.progress_path + ".tmp"
        with open(tmp, "w") as p:
            p.write(str(self.done))
        os.replace(tmp, self.progress_path)

    def retire(self) -> None:
        """Removes a file whose every line is applied, and unlocks it. The
        next record opens a new file (whose run line says created)."""
        if self._f is None:
            return
        try:
            os.remove(self.path)  # under the lock: a sync that opened it sees it gone
        except FileNotFoundError:
            pass
        try:
            os.remove(self.progress_path)
        except FileNotFoundError:
            pass
        self._close_files()
        self.lines = self.done = self._done_at = 0

    def close(self) -> None:
        if self._f is not None:
            try:
                self.sync()
            finally:
                self._close_files()

    def _close_files(self) -> None:
        if self._r is not None:
            self._r.close()
            self._r = None
        if self._f is not None:
            self._f.close()  # releases the lock
            self._f = None
