"""The database the Python suites give `trainyard up`: SQLite in the data
directory (TRAINYARD_TEST_DB unset or "sqlite"), or, with
TRAINYARD_TEST_DB=postgres, a new database per server on a real PostgreSQL
that this module starts once per test session (internal/pgtest/pgserver:
Debian's postgresql, initdb in a temporary directory, its own port) and
stops at exit. A server that cannot start fails the tests; nothing skips.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]

_proc: Optional[subprocess.Popen] = None
_base: Optional[str] = None
_by_data: Dict[str, List[str]] = {}


def db_args(data: Optional[str] = None) -> List[str]:
    """The `trainyard up` arguments for a server's database: a new one, or
    with data (a data directory), the one every server on that directory
    gets, as SQLite keeps its database in the data directory."""
    mode = os.environ.get("TRAINYARD_TEST_DB", "")
    if mode in ("", "sqlite"):
        return []
    if mode != "postgres":
        raise RuntimeError("TRAINYARD_TEST_DB=%r: want sqlite or postgres" % mode)
    if data is not None and data in _by_data:
        return _by_data[data]
    args = ["--db", "%s/t_%s?sslmode=disable" % (_server(), uuid.uuid4().hex[:12])]
    if data is not None:
        _by_data[data] = args
    return args


def _server() -> str:
    global _proc, _base
    if _base is not None:
        return _base
    exe = os.environ.get("TRAINYARD_PGSERVER")
    cmd = [exe] if exe else ["go", "run", "./internal/pgtest/pgserver"]
    errf = tempfile.TemporaryFile()
    _proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errf, text=True)
    line = _proc.stdout.readline().strip()
    if not line.startswith("postgres://"):
        _proc.wait(30)
        errf.seek(0)
        raise RuntimeError("cannot start PostgreSQL for the tests (%s):\n%s" % (" ".join(cmd), errf.read().decode(errors="replace")))
    _base = line
    atexit.register(_stop)
    return _base


def _stop() -> None:
    if _proc is not None and _proc.poll() is None:
        _proc.stdin.close()
        try:
            _proc.wait(60)
        except subprocess.TimeoutExpired:
            _proc.kill()
