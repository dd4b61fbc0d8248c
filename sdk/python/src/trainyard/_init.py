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
from ._values import json_safe
from .run import Run, warn

__version__ = "0.1.0"

#: Seconds between tries of init's request; then the run goes offline.
INIT_RETRY_DELAYS: Tuple[float, ...] = (0.25, 0.5)


def init(project: Optional[str] = None, name: Optional[str] = None, config: Optional[Mapping[str, Any]] = None,
         tags: Optional[Mapping[str, Any]] = None, id: Optional[str] = None, url: Optional[str] = None,
         token: Optional[str] = None, system_metrics_interval: float = 10.0, spool_dir: Optional[str] = None,
         strict: bool = False, capture_output: bool = False, finish_timeout: float = 30.0,
         max_queue: int = 100_000) -> Run:
    """Starts tracking a run and returns it.

    Inside a trainyard job (TRAINYARD_RUN_ID is set) it attaches to the job's
    run; config and tags given here are merged into it, and trainyard sets
    its state from the exit code. Otherwise it creates a run (id: yours, or
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
    jobs only), finish_timeout (most seconds finish() waits), max_queue (most
    metric points waiting to be sent; beyond, the oldest are dropped).
    """
    opts = {"system_metrics_interval": system_metrics_interval, "capture_output": capture_output,
            "finish_timeout": finish_timeout, "max_queue": max_queue}
    try:
        transport = Transport(_env.server_url(url), token if token is not None else os.environ.get("TRAINYARD_TOKEN"),
                              user_agent="trainyard-python/" + __version__)
        spool_dir = spool_dir or default_dir()
        job_run = _env.job_run_id()
        if job_run:
            if id and id != job_run:
                warn("inside job %s: using the job's run, not id=%r" % (job_run, id))
            return _attach(transport, job_run, config, tags, spool_dir, strict, opts)
        return _create(transport, project, name, config, tags, id, spool_dir, strict, opts)
    except Exception as e:  # noqa: BLE001 - never crash training unless strict
        if strict:
            raise
        warn("init failed: %s: %s; this run is NOT tracked" % (type(e).__name__, e))
        return _run(None, None, id or _env.new_run_id(), project or "default", name or "", dict(config or {}),
                    False, strict, opts)


def _attach(transport: Transport, run_id: str, config: Optional[Mapping[str, Any]], tags: Optional[Mapping[str, Any]],
            spool_dir: str, strict: bool, opts: Dict[str, Any]) -> Run:
    path = "/api/v1/runs/" + quote_path(run_id)
    info: Dict[str, Any] = {"project": os.environ.get("TRAINYARD_PROJECT") or "default", "name": run_id, "config": {}}
    offline = None
    try:
        info = _with_retries(lambda: transport.json("GET", path, timeout=10))
    except Exception as e:  # noqa: BLE001
        offline = _offline_reason(e, transport, strict, "attach to job run %s" % run_id)
        if offline is None:
            return _disabled(transport, run_id, info, strict, opts)
    new_run = {"project": info["project"], "name": info.get("name", run_id)}
    spool = Spool(spool_dir, run_id, True, new_run)
    sender = _sender(transport, run_id, spool, offline, opts)
    server_config = dict(info.get("config") or {})
    if config:
        server_config.update(config)
        sender.add_update("config", json_safe(dict(config)))
    if tags:
        sender.add_update("tags", {str(k): str(v) for k, v in tags.items()})
    return _run(transport, sender, run_id, info["project"], info.get("name", run_id), server_config, True, strict, opts)


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
    info: Dict[str, Any] = {"project": project or "default", "name": name or rid}
    try:
        info = _with_retries(post)
    except Exception as e:  # noqa: BLE001
        if isinstance(e, TrainyardError) and e.code == "conflict" and chosen:
            e = TrainyardError("run id %r already exists on %s; choose another id" % (rid, transport.url),
                               e.status, e.code, "id")
        offline = _offline_reason(e, transport, strict, "create run %s" % rid)
        if offline is None:
            return _disabled(transport, rid, info, strict, opts)
        new_run["started_at"] = _env.now_rfc3339()
    spool = Spool(spool_dir, rid, offline is None, new_run)
    sender = _sender(transport, rid, spool, offline, opts)
    return _run(transport, sender, rid, info["project"], info.get("name") or rid, dict(config or {}), False, strict, opts)


def _with_retries(fn: Callable[[], Any]) -> Any:
    for delay in INIT_RETRY_DELAYS + (None,):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            if not retryable(e) or delay is None:
                raise
            time.sleep(delay)


def _offline_reason(err: BaseException, transport: Transport, strict: bool, what: str) -> Optional[str]:
    """Decides what a failed init request means: why to spool (server
    away, or token refused: sync later with the right one), or None for a
    refusal that spooling would not fix (the run is then disabled). In
    strict mode every refusal raises."""
    if isinstance(err, TrainyardError) and not retryable(err):
        if err.status == 401:
            msg = ("%s: the server at %s refused the token (401 unauthorized): %s — set TRAINYARD_TOKEN or pass "
                   "token= to init" % (what, transport.url, err.message))
            if strict:
                raise TrainyardError(msg, err.status, err.code, err.field) from err
            return msg
        if strict:
            raise err
        warn("%s failed: %s; this run is NOT tracked" % (what, err))
        return None
    if not isinstance(err, (Unreachable, TrainyardError)):
        if strict:
            raise err
        warn("%s failed: %s: %s; this run is NOT tracked" % (what, type(err).__name__, err))
        return None
    return "cannot reach the server at %s (%s)" % (transport.url, err)


def _sender(transport: Transport, run_id: str, spool: Spool, offline: Optional[str], opts: Dict[str, Any]) -> Sender:
    if offline is not None:
        warn("%s; spooling run %s to %s" % (offline, run_id, spool.path))
    return Sender(transport, run_id, spool, warn, offline_reason=offline, max_queue=opts["max_queue"])


def _run(transport: Optional[Transport], sender: Optional[Sender], run_id: str, project: str, name: str,
         config: Dict[str, Any], in_job: bool, strict: bool, opts: Dict[str, Any]) -> Run:
    url = transport.url if transport is not None else _env.server_url()
    return Run(run_id=run_id, project=project, name=name or run_id, url=url, config=config, transport=transport,
               sender=sender, in_job=in_job, strict=strict, finish_timeout=opts["finish_timeout"],
               system_metrics_interval=opts["system_metrics_interval"], capture_output=opts["capture_output"])


def _disabled(transport: Transport, run_id: str, info: Dict[str, Any], strict: bool, opts: Dict[str, Any]) -> Run:
    return _run(transport, None, run_id, info.get("project", "default"), info.get("name", run_id), {}, False, strict, opts)
