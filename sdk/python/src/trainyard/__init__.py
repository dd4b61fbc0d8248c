"""trainyard: track training runs on a trainyard server.

    import trainyard

    run = trainyard.init(project="mnist", config={"lr": 3e-4})
    for step in range(1000):
        run.log({"loss": loss, "acc": acc})
    run.summary["best_acc"] = 0.97
    run.log_artifact("model.pt")
    run.finish()

Logging never blocks training: a background thread batches points,
retries, and spools to disk when the server is away (`trainyard sync`
uploads the spool). Errors in the SDK never raise unless strict=True.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from . import _hooks
from ._init import __version__, init
from ._transport import TrainyardError
from .run import Run, warn

__all__ = ["init", "Run", "log", "finish", "TrainyardError", "__version__"]

_warned_no_run = False


def log(data: Mapping[str, Any], step: Optional[int] = None, commit: bool = True) -> None:
    """Logs to the current run (the last one init() started and not yet
    finished); see Run.log. Without a run it warns once and does nothing."""
    global _warned_no_run
    run = _hooks.current()
    if run is None:
        if not _warned_no_run:
            _warned_no_run = True
            warn("log() without a run: call trainyard.init() first; ignored")
        return
    run.log(data, step=step, commit=commit)


def finish(exit_code: int = 0) -> None:
    """Finishes the current run, if any; see Run.finish."""
    run = _hooks.current()
    if run is not None:
        run.finish(exit_code)
