"""capture_output=True: tee sys.stdout and sys.stderr into the run's log.

Only what goes through Python's sys.stdout/sys.stderr is captured (print,
logging, tracebacks); output written straight to file descriptors 1 and 2
by C code or subprocesses is not. Jobs need none of this: trainyard already
keeps a job's whole output.
"""

from __future__ import annotations

import sys
from typing import Any, Callable, List, TextIO


class Tee:
    """A text stream that writes to the original and hands a copy to sink."""

    def __init__(self, orig: TextIO, sink: Callable[[str], None]):
        self._orig = orig
        self._sink = sink

    def write(self, s: str) -> int:
        n = self._orig.write(s)
        if s:
            try:
                self._sink(s)
            except Exception:  # noqa: BLE001 - never break printing
                pass
        return n

    def writelines(self, lines: List[str]) -> None:
        for s in lines:
            self.write(s)

    def flush(self) -> None:
        self._orig.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._orig, name)


class Capture:
    """Installs the tees; stop() puts the original streams back if nobody
    replaced them since."""

    def __init__(self, sink: Callable[[str], None]):
        self._out = Tee(sys.stdout, sink)
        self._err = Tee(sys.stderr, sink)
        sys.stdout = self._out
        sys.stderr = self._err

    def stop(self) -> None:
        if sys.stdout is self._out:
            sys.stdout = self._out._orig
        if sys.stderr is self._err:
            sys.stderr = self._err._orig
