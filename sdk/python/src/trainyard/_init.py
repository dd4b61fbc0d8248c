"""trainyard.init: attach to the job's run, or create a run, or, when the
server cannot be reached, start spooling one to disk."""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from . import _env
from ._sender import Sender
from ._spool import Spool, default_dir
from ._transport import TrainyardError, Transport, Unreachable, quote_path, retryable
from ._trial import Trial
from ._values import json_safe
from .run import Run, warn

__version__ = "0.1.0"

#: Seconds between tries of init's request; then the run goes offline.
INIT_RETRY_DELAYS: Tuple[float, ...] = (0.25, 0.5)
#: Why an offline-mode run spools.
OFFLINE_MODE = "offline mode"
#: Most seconds finish() waits for the server, unless told otherwise.
DEFAULT_FINISH_TIMEOUT = 30.0
#: Most metric points waiting to be sent, unless told otherwise.
DEFAULT_MAX_QUEUE = 100_000


def _env_number(var: str, given: Any, default: Any, kind: Callable[[str], Any]) -> Any:
    """given, else the environment variable var, else default."""
    if given is not None:
        return given
    v = os.environ.get(var, "").strip()
    if v:
        try:
            n = kind(v)
            if n >= 0:
                return n
        except ValueError:
            pass
        warn("ignoring %s=%r: not a non-negative number" % (var, v))
    return default


def init(project: Optional[str] = None, name: Optional[str] = None, config: Optional[Mapping[str, Any]] = None,
         tags: Optional[Mapping[str, Any]] = None, id: Optional[str] = None, url: Optional[str] = None,
         token: Optional[str] = None, system_metrics_interval: float = 10.0, spool_dir: Optional[str] = None,
         strict: bool = False, capture_output: bool = False, finish_timeout: Optional[float] = None,
         max_queue: Optional[int] = None, mode: Optional[str] = None) -> Run:
    """Starts tracking a run and returns it.

    Inside a trainyard job (TRAINYARD_RUN_ID is set) it attaches to the job's
    run: config and tags given here are merged into it, name renames it, and
    trainyard sets its state from the exit code. The run stays in the job's
    project and keeps the job's id: a different project or id given here is
    ignored with a warning on stderr. Otherwise it creates a run (id: yours, or
    12 random hex digits) with this process's command, working directory
    and git version, in project (default TRAINYARD_PROJECT, else the
    server's "default").

    The server is url, else TRAINYARD_URL, else http://127.0.0.1:8080; token
    (else TRAINYARD_TOKEN) is sent as a bearer token. When the server cannot
    be reached, or refuses the token, the run is spooled to spool_dir (else
    TRAINYARD_SPOOL_DIR, else ~/.trainyard/spool) for `trainyard sync`.

    Errors never raise unless strict=True: then a refused request (such as a
    wrong token) raises TrainyardError, and a value log() cannot take raises
    TypeError. Other options: system_metrics_interval (seconds, 0 disables),
    capture_output (tee sys.stdout/sys.stderr into the run's log; outside
    jobs only), finish_timeout (most seconds finish() waits for the server;
    default TRAINYARD_FINISH_TIMEOUT, else 30), max_queue (most metric points
    waiting to be sent; beyond, the oldest are dropped and counted; default
    TRAINYARD_MAX_QUEUE, else 100,000).

    mode (else TRAINYARD_MODE, else "online"): "online" talks to the server;
    "offline" never does: the run goes to the spool for `trainyard sync`
    (for machines without a server, like wandb's offline mode); "disabled"
    tracks nothing (log and the rest do nothing), for tests and dry runs.
    """
    mode = (mode or os.environ.get("TRAINYARD_MODE") or "online").strip().lower()
    if mode not in ("online", "offline", "disabled"):
        if strict:
            raise ValueError("trainyard.init: mode %r: want online, offline or disabled" % mode)
        warn("mode %r is not online, offline or disabled; using online" % mode)
        mode = "online"
    opts = {"system_metrics_interval": system_metrics_interval, "capture_output": capture_output, "mode": mode,
            "finish_timeout": _env_number("TRAINYARD_FINISH_TIMEOUT", finish_timeout, DEFAULT_FINISH_TIMEOUT, float),
            "max_queue": _env_number("TRAINYARD_MAX_QUEUE", max_queue, DEFAULT_MAX_QUEUE, int),
            "directives": _Directives()}
    if mode == "disabled":
        return _run(None, None, id or _env.job_run_id() or _env.new_run_id(), project or "default", name or "",
                    dict(config or {}), bool(_env.job_run_id()), strict, opts)
    try:
        transport = Transport(_env.server_url(url), token if token is not None else os.environ.get("TRAINYARD_TOKEN"),
                              user_agent="trainyard-python/" + __version__)
        spool_dir = spool_dir or default_dir()
        job_run = _env.job_run_id()
        if job_run:
            if id and id != job_run:
                warn("inside job %s: using the job's run, not id=%r" % (job_run, id))
            return _attach(transport, job_run, project, name, config, tags, spool_dir, strict, opts)
        return _create(transport, project, name, config, tags, id, spool_dir, strict, opts)
    except Exception as e:  # noqa: BLE001 - never crash training unless strict
        if strict:
            raise
        warn("init failed: %s: %s; this run is NOT tracked" % (type(e).__name__, e))
        return _run(None, None, id or _env.new_run_id(), project or "default", name or "", dict(config or {}),
                    False, strict, opts)


def _attach(transport: Transport, run_id: str, project: Optional[str], name: Optional[str],
            config: Optional[Mapping[str, Any]], tags: Optional[Mapping[str, Any]],
            spool_dir: str, strict: bool, opts: Dict[str, Any]) -> Run:
    path = "/api/v1/runs/" + quote_path(run_id)
    info: Dict[str, Any] = {"project": os.environ.get("TRAINYARD_PROJECT") or "default", "name": run_id, "config": {}}
    offline = None
    replay = True
    try:
        if opts["mode"] == "offline":
            offline, replay = OFFLINE_MODE, False
        else:
            info = _with_retries(lambda: transport.json("GET", path, timeout=10))
    except Exception as e:  # noqa: BLE001
        offline, replay = _offline_reason(e, transport, strict, "attach to job run %s" % run_id)
        if offline is None:
            return _disabled(transport, run_id, info, strict, opts)
    if project and project != info["project"]:
        # A job's run belongs to the job's project: the API cannot move it.
        warn("inside job %s: its run stays in the job's project %r; project=%r is ignored (submit the job with "
             "--project %s to put it there)" % (run_id, info["project"], project, project))
    run_name = info.get("name", run_id)
    new_run = {"project": info["project"], "name": run_name}
    spool = Spool(spool_dir, run_id, True, new_run)
    sender = _sender(transport, run_id, spool, offline, opts, in_job=True, replay=replay)
    if name and name != run_name:
        sender.add_update("name", str(name))
        run_name = str(name)
    server_config = dict(info.get("config") or {})
    if config:
        server_config.update(config)
        sender.add_update("config", json_safe(dict(config)))
    if tags:
        sender.add_update("tags", {str(k): str(v) for k, v in tags.items()})
    return _run(transport, sender, run_id, info["project"], run_name, server_config, True, strict, opts)


def _create(transport: Transport, project: Optional[str], name: Optional[str], config: Optional[Mapping[str, Any]],
            tags: Optional[Mapping[str, Any]], run_id: Optional[str], spool_dir: str, strict: bool,
            opts: Dict[str, Any]) -> Run:
    chosen = bool(run_id)
    rid = run_id or _env.new_run_id()
    project = project or os.environ.get("TRAINYARD_PROJECT") or None
    new_run: Dict[str, Any] = {"project": project, "name": name, "config": dict(config or {}),
                               "tags": {str(k): str(v) for k, v in (tags or {}).items()},
                               "command": _env.command(), "workdir": os.getcwd(), "git": _env.git_info(os.getcwd())}
    new_run = {k: v for k, v in new_run.items() if v not in (None, {}, [])}
    body = dict(new_run, id=rid)
    tries = [0]

    def post() -> Dict[str, Any]:
        tries[0] += 1
        try:
            created: Dict[str, Any] = transport.json("POST", "/api/v1/runs", body, timeout=10)
            return created
        except TrainyardError as e:
            # A conflict on a retry means an earlier try created it: ours.
            if e.code == "conflict" and tries[0] > 1:
                existing: Dict[str, Any] = transport.json("GET", "/api/v1/runs/" + quote_path(rid), timeout=10)
                return existing
            raise

    offline = None
    replay = True
    info: Dict[str, Any] = {"project": project or "default", "name": name or rid}
    try:
        if opts["mode"] == "offline":
            offline, replay = OFFLINE_MODE, False
            new_run["started_at"] = _env.now_rfc3339()
        else:
            info = _with_retries(post)
    except Exception as e:  # noqa: BLE001
        if isinstance(e, TrainyardError) and e.code == "conflict" and chosen:
            e = TrainyardError("run id %r already exists on %s; choose another id" % (rid, transport.url),
                               e.status, e.code, "id")
        offline, replay = _offline_reason(e, transport, strict, "create run %s" % rid)
        if offline is None:
            return _disabled(transport, rid, info, strict, opts)
        new_run["started_at"] = _env.now_rfc3339()
    spool = Spool(spool_dir, rid, offline is None, new_run)
    sender = _sender(transport, rid, spool, offline, opts, in_job=False, replay=replay)
    return _run(transport, sender, rid, info["project"], info.get("name") or rid, dict(config or {}), False, strict, opts)


def _with_retries(fn: Callable[[], Any]) -> Any:
    for delay in INIT_RETRY_DELAYS + (None,):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            if not retryable(e) or delay is None:
                raise
            time.sleep(delay)


def _offline_reason(err: BaseException, transport: Transport, strict: bool,
                    what: str) -> Tuple[Optional[str], bool]:
    """Decides what a failed init request means: why to spool, and whether
    replaying the spool later can help (the server is away: yes; it refused
    the token: no, sync later with the right one); or None for a refusal
    that spooling would not fix (the run is then disabled). In strict mode
    every refusal raises."""
    if isinstance(err, TrainyardError) and not retryable(err):
        if err.status == 401:
            msg = ("%s: the server at %s refused the token (401 unauthorized): %s — set TRAINYARD_TOKEN or pass "
                   "token= to init" % (what, transport.url, err.message))
            if strict:
                raise TrainyardError(msg, err.status, err.code, err.field) from err
            return msg, False
        if strict:
            raise err
        warn("%s failed: %s; this run is NOT tracked" % (what, err))
        return None, False
    if not isinstance(err, (Unreachable, TrainyardError)):
        if strict:
            raise err
        warn("%s failed: %s: %s; this run is NOT tracked" % (what, type(err).__name__, err))
        return None, False
    return "cannot reach the server at %s (%s)" % (transport.url, err), True


def _sender(transport: Transport, run_id: str, spool: Spool, offline: Optional[str], opts: Dict[str, Any],
            in_job: bool, replay: bool) -> Sender:
    if offline == OFFLINE_MODE:
        pass  # asked for: nothing to warn about; finish() says where the run is
    elif offline is not None:
        later = ("it is sent by itself when the server answers" if replay
                 else "upload it with `trainyard sync` and the right token")
        warn("%s; spooling run %s to %s (%s)" % (offline, run_id, spool.path, later))
    drop_metric = "system/dropped_points" if opts["system_metrics_interval"] > 0 else None
    # A job's server exists (it started the job): finish waits for it. A
    # standalone run that never reached its server does not make you wait.
    return Sender(transport, run_id, spool, warn, offline_reason=offline, max_queue=opts["max_queue"],
                  wait_for_server=offline is None or in_job, replay=replay, drop_metric=drop_metric,
                  on_directive=opts["directives"].append)


class _Directives:
    """Where the sender thread leaves the searcher's wishes for the run
    (a sweep trial's stop or pause); the Run reads the latest."""

    def __init__(self) -> None:
        self.latest: Optional[str] = None

    def append(self, d: str) -> None:
        self.latest = d


def _run(transport: Optional[Transport], sender: Optional[Sender], run_id: str, project: str, name: str,
         config: Dict[str, Any], in_job: bool, strict: bool, opts: Dict[str, Any]) -> Run:
    url = transport.url if transport is not None else _env.server_url()
    trial = Trial.from_env() if in_job else None
    if trial is not None:
        # The trial's values, nested as the sweep gave them (the run's
        # config on the server has them flattened: "optimizer.lr").
        config = dict(config)
        config.update(trial.config)
    return Run(run_id=run_id, project=project, name=name or run_id, url=url, config=config, transport=transport,
               sender=sender, in_job=in_job, strict=strict, finish_timeout=opts["finish_timeout"],
               system_metrics_interval=opts["system_metrics_interval"], capture_output=opts["capture_output"],
               trial=trial, directives=opts.get("directives"))


def _disabled(transport: Transport, run_id: str, info: Dict[str, Any], strict: bool, opts: Dict[str, Any]) -> Run:
    return _run(transport, None, run_id, info.get("project", "default"), info.get("name", run_id), {}, False, strict, opts)
