"""Run: what trainyard.init returns. Its methods queue work for the sender
thread and return at once; only finish and flush wait, boundedly."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from types import TracebackType
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, MutableMapping, Optional, Set, Tuple, Type

from . import _env, _hooks, _trial
from ._capture import Capture
from ._sender import Sender
from ._system import SystemMonitor
from ._transport import TrainyardError, Transport
from ._trial import Trial
from ._values import StepCounter, flatten, json_safe, key_problem, to_float


def warn(msg: str) -> None:
    """The SDK's voice: one line on stderr."""
    try:
        sys.stderr.write("trainyard: %s\n" % msg)
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - a closed stderr must not break training
        pass


class Summary(MutableMapping[str, Any]):
    """The run's summary. Reading gives the values set here and, for other
    keys, the latest value logged of each metric. Setting a key sends it to
    the server's summary (batched). The API cannot delete summary keys:
    deleting one sets it to null there."""

    def __init__(self, run: "Run"):
        self._run = run
        self._user: Dict[str, Any] = {}
        self._latest: Dict[str, float] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._user:
            return self._user[key]
        return self._latest[key]

    def __setitem__(self, key: str, value: Any) -> None:
        key = str(key)
        if not self._run._key_ok("summary", key):
            return
        self._user[key] = value
        self._run._update("summary", {key: json_safe(value)})

    def __delitem__(self, key: str) -> None:
        if key not in self._user:
            raise KeyError(key)
        del self._user[key]
        self._run._update("summary", {key: None})

    def __iter__(self) -> Iterator[str]:
        with self._run._lock:
            keys = list(self._user) + [k for k in self._latest if k not in self._user]
        return iter(keys)

    def __len__(self) -> int:
        with self._run._lock:
            return len(set(self._user) | set(self._latest))

    def __repr__(self) -> str:
        return "Summary(%r)" % dict(self.items())


class Config(Dict[str, Any]):
    """The run's config, a dict; setting keys or update() sends them to the
    server (merged; nested dicts become dotted keys there). Deleting a key
    is local only: the API cannot delete config keys."""

    def __init__(self, run: "Run", initial: Mapping[str, Any]):
        super().__init__(initial)
        self._run = run

    def __setitem__(self, key: str, value: Any) -> None:
        if not self._run._key_ok("config", str(key)):
            return
        super().__setitem__(key, value)
        self._run._update("config", {str(key): json_safe(value)})

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = {k: v for k, v in dict(*args, **kwargs).items() if self._run._key_ok("config", str(k))}
        super().update(new)
        if new:
            self._run._update("config", json_safe(new))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]


class Run:
    """One tracked run. Make it with trainyard.init()."""

    def __init__(self, *, run_id: str, project: str, name: str, url: str, config: Mapping[str, Any],
                 transport: Optional[Transport], sender: Optional[Sender], in_job: bool, strict: bool,
                 finish_timeout: float, system_metrics_interval: float, capture_output: bool,
                 trial: Optional[Trial] = None, directives: Any = None):
        self.id = run_id
        self.project = project
        self.name = name
        self.url = url.rstrip("/") + "/runs/" + run_id
        self.in_job = in_job
        self._transport = transport
        self._sender = sender
        self._strict = strict
        self._finish_timeout = finish_timeout
        self._lock = threading.Lock()
        self._steps = StepCounter()
        self._ok_keys: Set[str] = set()
        self._warned: Set[str] = set()
        self._finished = False
        self._pid = os.getpid()
        # Sweeps: the trial this run is (None outside sweeps), the step of
        # the sweep's metric logged last, the checkpoint being written,
        # whether SIGTERM came.
        self.trial = trial
        self._directives = directives
        self._metric_step = -1
        self._open_ckpt: Optional[str] = None
        self._sigterm = False
        self._sigterm_installed = False
        self._staged = 0
        self.summary = Summary(self)
        self.config = Config(self, {})
        dict.update(self.config, config)
        self._system: Optional[SystemMonitor] = None
        if sender is not None and system_metrics_interval > 0:
            self._system = SystemMonitor(system_metrics_interval, sender.add_points)
            self._system.start()
        self._capture: Optional[Capture] = None
        if sender is not None and capture_output and not in_job:
            self._capture = Capture(sender.add_text)
        _hooks.register(self)

    def __repr__(self) -> str:
        return "<trainyard.Run %s %s/%s>" % (self.id, self.project, self.name)

    # ---- logging ---------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: Optional[int] = None, commit: bool = True) -> None:
        """Logs metric values at step. Without step, each call takes the next
        one (0, 1, 2, ...); an explicit step sets the counter, so the next
        call without one logs at step + 1. With commit=False the counter
        stays, so the next call logs at the same step. Nested dicts become
        keys joined with "/". Values are numbers (bool, int, float, numpy
        scalars); NaN and infinities are kept; anything else is skipped with
        a warning (TypeError in strict mode). Returns at once: points are
        queued for the sender thread."""
        try:
            self._log(data, step, commit)
        except Exception as e:  # noqa: BLE001
            if self._strict:
                raise
            self._warn_once("log-%s" % type(e).__name__, "log failed: %s: %s" % (type(e).__name__, e))

    def _log(self, data: Mapping[str, Any], step: Optional[int], commit: bool) -> None:
        self._check_background_error()
        if self._finished or self._sender is None or os.getpid() != self._pid:
            if self._finished:
                self._warn_once("finished", "run %s is finished; log() is ignored" % self.id)
            elif self._sender is not None:
                self._warn_once("fork", "log() in a forked process is ignored: log from the process that "
                                "called init()")
            elif isinstance(data, Mapping):
                # Nothing is sent (disabled), but steps count: checkpoint_dir
                # and a trial's should_stop go by them.
                with self._lock:
                    s = self._steps.take(step, commit)
                    if self.trial is not None and self.trial.metric in data:
                        self._metric_step = max(self._metric_step, s)
            return
        if not isinstance(data, Mapping):
            raise TypeError("log() takes a dict of metric values, not %s" % type(data).__name__)
        if step is not None and not isinstance(step, int):
            step = int(step)  # numpy integers; a float with a fraction is a mistake, but int() is kind
        ts = int(time.time() * 1000)
        vals: List[Tuple[str, float]] = []
        for key, value in flatten(data):
            f = to_float(value)
            if f is None:
                self._refuse(key, "%r: %s %s is not a number" % (key[:60], type(value).__name__, _short(value)), TypeError)
                continue
            if key not in self._ok_keys:
                problem = key_problem(key)
                if problem:
                    self._refuse(key, "key %r: it %s" % (key[:60], problem), ValueError)
                    continue
                self._ok_keys.add(key)
            vals.append((key, f))
        with self._lock:
            s = self._steps.take(step, commit)
            for k, f in vals:
                self.summary._latest[k] = f
            if self.trial is not None and any(k == self.trial.metric for k, _ in vals):
                self._metric_step = max(self._metric_step, s)
        if self._open_ckpt is not None:
            self._close_checkpoint()
        if vals and self._sender.add_points([(k, f, s, ts) for k, f in vals]):
            warn("metric queue is full (%d points): dropping the oldest, %d dropped so far; the server is slow "
                 "or away, or log() is called faster than points can be sent — raise init(max_queue=...) or "
                 "TRAINYARD_MAX_QUEUE, or log less often" % (self._sender._points.maxlen or 0,
                                                              self._sender.stats()["dropped"]))

    def _key_ok(self, field: str, key: str) -> bool:
        problem = key_problem(key)
        if problem:
            self._refuse(key, "%s key %r: it %s" % (field, key[:60], problem), ValueError)
        return not problem

    def _refuse(self, key: str, why: str, exc: Type[Exception]) -> None:
        if self._strict:
            raise exc("trainyard: %s" % why)
        self._warn_once("key:" + key, "log() skips %s (warned once per key)" % why)

    def log_artifact(self, path: str, name: Optional[str] = None) -> None:
        """Uploads a file, or a directory's files (recursively, at their paths
        relative to it), as the run's artifact name (default: the base name;
        for a directory, "" puts its files at the root). The files are copied
        at once into the spool directory and uploaded from the copy by the
        sender thread, so later changes to them do not matter and nothing is
        lost if the server is away (the copy stays in the spool)."""
        try:
            self._log_artifact(path, name)
        except Exception as e:  # noqa: BLE001
            if self._strict:
                raise
            warn("log_artifact(%r) failed: %s: %s" % (path, type(e).__name__, e))

    def _log_artifact(self, path: str, name: Optional[str]) -> None:
        self._check_background_error()
        if self._finished or self._sender is None:
            return
        src = os.path.abspath(os.fspath(path))
        if name is None:
            name = os.path.basename(src.rstrip(os.sep))
        name = name.replace(os.sep, "/").strip("/")
        if ".." in name.split("/"):
            raise ValueError("artifact name %r may not contain '..'" % name)
        files: List[Tuple[str, str]] = []
        if os.path.isdir(src):
            for root, dirs, fs in os.walk(src):
                dirs.sort()
                for f in sorted(fs):
                    full = os.path.join(root, f)
                    rel = os.path.relpath(full, src).replace(os.sep, "/")
                    files.append(("%s/%s" % (name, rel) if name else rel, full))
        elif os.path.isfile(src):
            if not name:
                raise ValueError("artifact name is empty")
            files.append((name, src))
        else:
            raise FileNotFoundError("no file or directory %s" % src)
        with self._lock:
            self._staged += 1
            stage = os.path.join(self._sender.spool.staging_dir, str(self._staged))
        for art, full in files:
            dest = os.path.join(stage, *art.split("/"))
            try:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copyfile(full, dest)
                self._sender.add_artifact(art, dest, True)
            except OSError as e:
                self._warn_once("stage", "cannot copy artifacts into %s (%s); uploading from the original files, "
                                "which must stay until finish()" % (stage, e))
                self._sender.add_artifact(art, full, False)

    def _update(self, field: str, values: Dict[str, Any]) -> None:
        if self._sender is not None and not self._finished:
            self._sender.add_update(field, values)

    # ---- sweeps: stopping, checkpoints ------------------------------------

    @property
    def directive(self) -> Optional[str]:
        """What a sweep's searcher asks of this trial: "pause" (save a
        checkpoint and exit; the trial may be resumed from it), "stop" (exit
        for good), or None. Outside sweeps, "stop" after SIGTERM."""
        d = self._directives.latest if self._directives is not None else None
        if d:
            return d
        if self.trial is not None and self.trial.until > 0 and self._metric_step >= self.trial.until:
            return "pause"  # the step this segment runs to: a rung, or the end
        if self._sigterm:
            return "stop"
        return None

    def should_stop(self) -> bool:
        """True when the training loop should save a checkpoint (in
        checkpoint_dir()) and exit: the sweep's searcher stopped or paused
        this trial (run.directive says which), the trial reached the step
        its segment runs to, or the process got SIGTERM. Cheap and never
        blocking: the searcher's answer comes back with the metric batches
        the sender thread sends anyway. Call it once per epoch, after
        logging the metric."""
        if self._open_ckpt is not None:
            self._close_checkpoint()
        self._catch_sigterm()
        return self.directive is not None

    def _catch_sigterm(self) -> None:
        """From the first should_stop() on, SIGTERM (a canceled trial, a
        stopped sweep) makes should_stop() true instead of killing the
        process at once; trainyard sends SIGKILL after its grace period.
        Only when no one else handles SIGTERM, and only from the main
        thread."""
        if self._sigterm_installed:
            return
        self._sigterm_installed = True
        try:
            if threading.current_thread() is not threading.main_thread():
                return
            if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
                return

            def on_term(signum: int, frame: Any) -> None:
                self._sigterm = True

            signal.signal(signal.SIGTERM, on_term)
        except (ValueError, OSError, AttributeError):
            pass

    def checkpoint_dir(self, step: Optional[int] = None) -> str:
        """The directory to save this step's checkpoint into (created):
        ROOT/step-STEP, where ROOT is the trial's checkpoint directory in a
        sweep (TRAINYARD_CHECKPOINT_DIR; a shared file system on a cluster)
        and ~/.trainyard/checkpoints/RUN otherwise; step defaults to the step
        of the last log(). Files are written straight to disk: the server
        never holds them. The checkpoint counts as complete once the code
        moves on (the next log, checkpoint_dir, should_stop or finish); then
        older complete ones beyond the newest TRAINYARD_KEEP_CHECKPOINTS
        (default 2) are removed."""
        if self._open_ckpt is not None:
            self._close_checkpoint()
        if step is None:
            step = max(self._steps.next - 1, 0)
        path = os.path.join(self._checkpoint_root(), "step-%d" % int(step))
        os.makedirs(path, exist_ok=True)
        marker = os.path.join(path, _trial.MARKER)
        if os.path.exists(marker):
            os.remove(marker)  # written again: incomplete until the code moves on
        self._open_ckpt = path
        return path

    def restore(self) -> Optional[str]:
        """The checkpoint directory to resume from, or None to start afresh:
        this trial's own newest complete checkpoint (after a pause, a
        restart or a retry), else the one the sweep started it from (PBT
        copies a better trial's). Its name is step-STEP; resume_step()
        gives STEP."""
        own = self._checkpoint_root()
        if self.trial is None:
            return _trial.pick_restore(own, None, None)
        return _trial.pick_restore(own, self.trial.restore_root, self.trial.restore_step)

    def resume_step(self) -> int:
        """The step of the checkpoint restore() returns (0 when none)."""
        return _trial.step_of(self.restore())

    def _checkpoint_root(self) -> str:
        if self.trial is not None and self.trial.checkpoint_root:
            return self.trial.checkpoint_root
        root = os.environ.get("TRAINYARD_CHECKPOINT_DIR")
        if root:
            return root
        return os.path.join(os.path.expanduser("~"), ".trainyard", "checkpoints", self.id)

    def _close_checkpoint(self) -> None:
        path, self._open_ckpt = self._open_ckpt, None
        if path is None:
            return
        try:
            _trial.mark_complete(path)
            keep = int(os.environ.get("TRAINYARD_KEEP_CHECKPOINTS", "2") or 2)
            _trial.prune(os.path.dirname(path), keep)
        except (OSError, ValueError) as e:
            self._warn_once("checkpoint", "checkpoint %s: %s" % (path, e))

    # ---- ending ------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until everything logged so far is sent (or spooled); returns
        False if timeout seconds passed first."""
        if self._sender is None or self._finished:
            return True
        return self._sender.flush(self._finish_timeout if timeout is None else timeout)

    def finish(self, exit_code: int = 0, *, reason: Optional[str] = None, timeout: Optional[float] = None) -> None:
        """Sends everything (waiting at most timeout seconds, default 30 or
        init's finish_timeout, also for a server that is away; what cannot be
        sent by then stays in the spool for `trainyard sync`), stops
        system metrics and output capture, and for a run outside a job sets
        its state: SUCCEEDED when exit_code is 0, else FAILED. Inside a job
        trainyard sets the state from the process's exit code. Calling it
        again does nothing."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        if self._open_ckpt is not None:
            self._close_checkpoint()
        _hooks.unregister(self)
        if self._system is not None:
            self._system.stop()
        if self._capture is not None:
            self._capture.stop()
        sender = self._sender
        if sender is None:
            return
        final: Optional[Dict[str, Any]] = None
        if not self.in_job:
            final = {"state": "SUCCEEDED" if exit_code == 0 else "FAILED", "exit_code": int(exit_code),
                     "ended_at": _env.now_rfc3339()}
            if reason:
                final["reason"] = reason
        t = self._finish_timeout if timeout is None else timeout
        if not sender.close(final, t):
            warn("finish: the sender did not stop within %.0fs; what was still queued is lost" % (t + 5))
        st = sender.stats()
        if st["dropped"]:
            warn("%d metric points were dropped (queue full, or refused by the server)" % st["dropped"])
        if st["dropped_text"]:
            warn("%d characters of output were not kept (more than the log buffer holds)" % st["dropped_text"])
        if sender.offline and sender.replay_blocked == "offline mode":
            warn("offline mode: run %s is in %s — upload it with `trainyard sync %s`"
                 % (self.id, sender.spool.path, sender.spool.dir))
        elif sender.offline:
            why = ("the server refused the token: sync with the right TRAINYARD_TOKEN" if sender.replay_blocked
                   else "what the server did not get within the %.0fs finish timeout is there" % t)
            warn("server unreachable; run spooled to %s — upload with `trainyard sync %s` (%s)"
                 % (sender.spool.path, sender.spool.dir, why))
        else:
            shutil.rmtree(sender.spool.staging_dir, ignore_errors=True)
        if self._strict and sender.error is not None:
            raise sender.error

    def _finish_at_exit(self, exit_code: int, reason: Optional[str]) -> None:
        try:
            self.finish(exit_code, reason=reason)
        except Exception as e:  # noqa: BLE001 - at exit there is no one to raise to
            warn("finish at exit failed: %s" % e)

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, tp: Optional[Type[BaseException]], value: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if tp is None:
            self.finish(0)
        elif issubclass(tp, SystemExit):
            code = _hooks.exit_code_of(getattr(value, "code", None))
            self.finish(code, reason="sys.exit(%d)" % code if code else None)
        else:
            self.finish(1, reason="%s: %s" % (tp.__name__, value))

    # ---- internals -------------------------------------------------------

    @property
    def offline(self) -> bool:
        """True when the run is being spooled to disk instead of sent."""
        return self._sender is not None and self._sender.offline

    @property
    def spool_path(self) -> Optional[str]:
        """The run's spool file (written only when the server is away)."""
        return self._sender.spool.path if self._sender is not None else None

    def _stats(self) -> Dict[str, int]:
        """Sender counters (sent, spooled, dropped, high_water, queued,
        batches) and requests made (for tests)."""
        st = self._sender.stats() if self._sender is not None else {}
        st["requests"] = len(self._transport.calls) if self._transport is not None else 0
        return st

    def _check_background_error(self) -> None:
        if self._strict and self._sender is not None and self._sender.error is not None:
            err, self._sender.error = self._sender.error, None
            raise err

    def _warn_once(self, key: str, msg: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warn(msg)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


__all__ = ["Run", "Summary", "Config", "TrainyardError", "warn"]
