"""Process-wide state: the runs not yet finished, and the hooks that finish
them when the script ends without calling finish().

At exit (atexit) each unfinished run is finished: FAILED with the
exception's type and message when an uncaught exception went through
sys.excepthook, FAILED with the code when sys.exit(n) was called with n != 0,
SUCCEEDED otherwise. A process killed by a signal runs no atexit handler.
"""

from __future__ import annotations

import atexit
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, List, Optional, Type

if TYPE_CHECKING:
    from .run import Run

_lock = threading.Lock()
_runs: "List[Run]" = []
_installed = False
_uncaught: Optional[BaseException] = None
_exit_code: Optional[int] = None
_orig_excepthook = sys.excepthook
_orig_exit = sys.exit


def register(run: "Run") -> None:
    global _installed
    with _lock:
        _runs.append(run)
        if _installed:
            return
        _installed = True
    global _orig_excepthook, _orig_exit
    _orig_excepthook, _orig_exit = sys.excepthook, sys.exit
    sys.excepthook = _excepthook
    sys.exit = _exit  # type: ignore[assignment]
    atexit.register(_at_exit)


def unregister(run: "Run") -> None:
    with _lock:
        if run in _runs:
            _runs.remove(run)


def current() -> "Optional[Run]":
    """The run started last among those not finished."""
    with _lock:
        return _runs[-1] if _runs else None


def exit_code_of(code: Any) -> int:
    """The process exit code that sys.exit(code) gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _excepthook(tp: Type[BaseException], value: BaseException, tb: Optional[TracebackType]) -> None:
    global _uncaught
    _uncaught = value
    _orig_excepthook(tp, value, tb)


def _exit(code: Any = None) -> None:
    global _exit_code
    _exit_code = exit_code_of(code)
    _orig_exit(code)


def _at_exit() -> None:
    with _lock:
        runs = list(reversed(_runs))
    for run in runs:
        if _uncaught is not None:
            run._finish_at_exit(1, "%s: %s" % (type(_uncaught).__name__, _uncaught))
        elif _exit_code:
            run._finish_at_exit(_exit_code, "sys.exit(%d)" % _exit_code)
        else:
            run._finish_at_exit(0, None)
