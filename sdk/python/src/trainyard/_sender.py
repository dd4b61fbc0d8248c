"""The background sender: the only thread that talks to the server after
init, so that Run.log never waits on the network.

    caller threads                      sender thread (daemon)
    ──────────────                      ──────────────────────
    log() ─► points deque (bounded) ─┐
    summary/config/tags ─► update ───┼─► every flush_interval, or when
    log_artifact ─► staged copies ───┤   batch_size points wait, or on
    captured output ─► text ─────────┘   flush()/close(): take a snapshot and
                                         send it ─ or, while the server is
                                         away, append it to the spool

Points wait in a deque of at most max_queue; when it is full the oldest are
dropped and counted (memory stays bounded); drops are warned about on
stderr (at most every DROP_WARN_INTERVAL seconds) and, with system metrics
on, logged as the metric system/dropped_points.

Two modes:

- live: each record is sent as it is taken. A send that fails with a
  connection error, 5xx or 429 puts that record in the spool and switches
  to spooling.
- spooling: every record is appended to the spool (so order is kept), and
  the spool is replayed from where it stopped, oldest line first, at
  growing intervals (RETRY_BASE doubling up to RETRY_CAP, with jitter) for
  as long as the run lives. When every line is on the server the spool file
  is removed and the sender is live again. Metric lines carry the batch ID
  the failed send used, so a batch whose answer was lost is stored once.

A 4xx is not retried: that record is dropped with a warning (and raised at
the next call in strict mode). A refused token (401/403) stops replaying
for good: the spool stays for `trainyard sync` with the right token.

close (Run.finish) sends what waits and keeps replaying until its timeout;
what is still spooled then stays for `trainyard sync`. A run that never
reached the server (init could not) makes one last try instead of waiting.
"""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time
import uuid
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._spool import Spool, metrics_body
from ._transport import TrainyardError, Transport, quote_path, retryable
from ._values import series_json

Point = Tuple[str, float, int, int]

#: First wait before replaying the spool after a failure; it doubles with
#: each failure up to RETRY_CAP (and is jittered by up to half).
RETRY_BASE = 0.5
#: Longest wait between two tries to reach the server while the run lives.
RETRY_CAP = 10.0
#: Longest wait between two tries while finish() waits for the server.
FINISH_RETRY_CAP = 2.0
#: Seconds between two warnings about a full queue.
DROP_WARN_INTERVAL = 30.0
#: Most bytes of captured output that wait for the sender.
MAX_TEXT = 8 << 20


def backoff(failures: int, cap: float, rng: random.Random) -> float:
    """The wait after the failures-th failure in a row (from 1): RETRY_BASE
    doubled each time up to cap, minus up to half of it at random, so that
    many clients of one restarted server do not come back in step."""
    d = min(cap, RETRY_BASE * (2 ** min(max(failures - 1, 0), 30)))
    return d / 2 + rng.uniform(0, d / 2)


class Sender:
    """Batches one run's records to the server or the spool. Every public
    method is safe to call from any thread and returns without I/O, except
    flush and close, which wait (boundedly) for the sender thread.

    offline_reason, when set, starts in spooling mode (init could not reach
    the server). wait_for_server (default: not offline_reason) makes close
    keep trying an unreachable server until its timeout; without it close
    tries once. replay=False never replays (the server refused the token).
    drop_metric, when set, is the key under which the number of dropped
    points is logged."""

    def __init__(self, transport: Transport, run_id: str, spool: Spool, warn: Callable[[str], None], *,
                 offline_reason: Optional[str] = None, max_queue: int = 100_000, batch_size: int = 10_000,
                 flush_interval: float = 1.0, wait_for_server: Optional[bool] = None, replay: bool = True,
                 drop_metric: Optional[str] = None, rng: Optional[random.Random] = None,
                 on_directive: Optional[Callable[[str], None]] = None):
        self._t = transport
        self._base = "/api/v1/runs/" + quote_path(run_id)
        self.spool = spool
        self._warn = warn
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._cv = threading.Condition()
        self._points: Deque[Point] = collections.deque(maxlen=max(1, max_queue))
        self._update: Dict[str, Any] = {}
        self._text: List[str] = []
        self._text_len = 0
        self._artifacts: List[Tuple[str, str, bool]] = []
        self._final: Optional[Dict[str, Any]] = None
        self._closing = False
        self._deadline: Optional[float] = None
        self._flush_seq = 0
        self._flushed_seq = 0
        self._last_send = time.monotonic()
        self._rng = rng or random.Random()
        # Spooling state, touched by the sender thread only (offline is read by others).
        self.offline = offline_reason is not None
        self._wait_for_server = (offline_reason is None) if wait_for_server is None else wait_for_server
        self._replay_blocked: Optional[str] = None if replay else (offline_reason or "replay off")
        self._failures = 0
        self._next_try = time.monotonic()
        self._outage_warned = offline_reason is not None  # init warned already
        self._drop_metric = drop_metric
        self._drop_step = 0
        self._drops_reported = 0
        self._drop_warned_at: Optional[float] = None
        self.error: Optional[BaseException] = None  # first background error, for strict mode
        # A sweep's trial hears its searcher's wish (stop, pause) in the
        # answers to its metric batches.
        self._on_directive = on_directive
        self._warned: Set[str] = set()
        self._stats = {"sent": 0, "spooled": 0, "replayed": 0, "dropped": 0, "dropped_text": 0, "high_water": 0,
                       "batches": 0}
        self._thread = threading.Thread(target=self._loop, name="trainyard-sender", daemon=True)
        self._thread.start()

    # ---- caller side -----------------------------------------------------

    def add_points(self, points: List[Point]) -> bool:
        """Queues points; returns True when this call dropped points and a
        warning is due (the first drop, then at most every
        DROP_WARN_INTERVAL seconds)."""
        with self._cv:
            q = self._points
            over = len(q) + len(points) - (q.maxlen or 0)
            warn = False
            if over > 0:
                self._stats["dropped"] += over
                now = time.monotonic()
                if self._drop_warned_at is None or now - self._drop_warned_at >= DROP_WARN_INTERVAL:
                    self._drop_warned_at = now
                    warn = True
            q.extend(points)
            if len(q) > self._stats["high_water"]:
                self._stats["high_water"] = len(q)
            if len(q) >= self.batch_size:
                self._cv.notify_all()
        return warn

    def add_update(self, field: str, values: Any) -> None:
        """Merges values into the next PATCH's field: summary, config and
        tags take dicts (merged); name takes a string."""
        with self._cv:
            if isinstance(values, dict):
                self._update.setdefault(field, {}).update(values)
            else:
                self._update[field] = values

    def add_text(self, text: str) -> None:
        with self._cv:
            if self._text_len + len(text) > MAX_TEXT:
                self._stats["dropped_text"] += len(text)
                return
            self._text.append(text)
            self._text_len += len(text)

    def add_artifact(self, path: str, file: str, staged: bool) -> None:
        """Uploads file as path; a staged file is a copy the sender deletes
        once uploaded."""
        with self._cv:
            self._artifacts.append((path, file, staged))
            self._cv.notify_all()

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Waits until everything queued before the call is sent or spooled;
        returns False on timeout."""
        with self._cv:
            self._flush_seq += 1
            target = self._flush_seq
            self._cv.notify_all()
            return self._cv.wait_for(lambda: self._flushed_seq >= target or not self._thread.is_alive(), timeout)

    def close(self, final: Optional[Dict[str, Any]], timeout: float) -> bool:
        """Sends everything, then final (the closing PATCH), within timeout
        seconds, replaying the spool until then if the server was away; what
        cannot reach the server by then stays in the spool. Returns False
        when the sender thread did not finish in time."""
        with self._cv:
            if not self._closing:
                self._final = final
                self._closing = True
                self._deadline = time.monotonic() + max(timeout, 0.0)
                self._cv.notify_all()
        self._thread.join(max(timeout, 0.0) + 5.0)
        return not self._thread.is_alive()

    def stats(self) -> Dict[str, int]:
        """Counters: points sent (live or replayed), replayed, spooled,
        dropped (queue full or refused), the queue's high-water mark and
        its current length."""
        with self._cv:
            s = dict(self._stats)
            s["queued"] = len(self._points)
        s["spooled"] = self.spool.points
        return s

    @property
    def replay_blocked(self) -> Optional[str]:
        """Why the spool is not replayed (the server refused the token), or None."""
        return self._replay_blocked

    # ---- sender thread ---------------------------------------------------

    def _replay_due(self) -> bool:
        return self.offline and self._replay_blocked is None and time.monotonic() >= self._next_try

    def _due(self) -> bool:
        if self._closing or self._flush_seq > self._flushed_seq or self._artifacts:
            return True
        if len(self._points) >= self.batch_size or self._replay_due():
            return True
        pending = self._points or self._update or self._text
        return bool(pending) and time.monotonic() - self._last_send >= self.flush_interval

    def _loop(self) -> None:
        try:
            self._start()
            while True:
                with self._cv:
                    while not self._due():
                        pending = self._points or self._update or self._text
                        now = time.monotonic()
                        wait = self.flush_interval - (now - self._last_send) if pending else self.flush_interval
                        if self.offline and self._replay_blocked is None:
                            wait = min(wait, self._next_try - now)
                        self._cv.wait(max(0.01, wait))
                    want, closing = self._flush_seq, self._closing
                    n = len(self._points)
                    timer = time.monotonic() - self._last_send >= self.flush_interval
                    if not (closing or want > self._flushed_seq or timer):
                        n -= n % self.batch_size  # woken by a full batch: leave the rest for the timer
                self._last_send = time.monotonic()
                self._drain(n)
                if self._replay_due():
                    self._replay()
                if closing:
                    self._drain(-1)
                    self._finish()
                    return
                with self._cv:
                    self._flushed_seq = max(self._flushed_seq, want)
                    self._cv.notify_all()
        except BaseException as e:  # never let the thread die silently
            self._fail("sender stopped: %s: %s" % (type(e).__name__, e), e)
        finally:
            with self._cv:
                self._flushed_seq = self._flush_seq
                self._cv.notify_all()
            self._spool_call(self.spool.close)

    def _start(self) -> None:
        """Opens the spool when init could not reach the server, or when a
        spool of this run is left (by an earlier process of a restarted
        job): what it holds is replayed before anything new is sent."""
        if self.offline or self.spool.exists():
            if not self._spool_call(self.spool.open):
                return
            if self.spool.pending():
                self.offline = True
                self._next_try = time.monotonic()
            elif not self.offline:
                self._spool_call(self.spool.retire)  # everything in it was applied already

    def _drain(self, n: int) -> None:
        """Delivers n queued points (all with -1) and whatever else waits."""
        while True:
            with self._cv:
                k = len(self._points) if n < 0 else min(n, len(self._points))
                k = min(k, self.batch_size)
                batch = [self._points.popleft() for _ in range(k)]
                update, self._update = self._update, {}
                text, self._text, self._text_len = "".join(self._text), [], 0
                arts, self._artifacts = self._artifacts, []
                drop = self._drop_point()
            if n > 0:
                n -= len(batch)
            if drop is not None:
                batch.append(drop)
            if batch:
                self._deliver_points(batch)
            if update:
                self._deliver_update(update)
            if text:
                self._deliver(lambda t: self._t.request("POST", self._base + "/logs", text.encode("utf-8"),
                                                        "text/plain; charset=utf-8", timeout=t),
                              lambda: self.spool.log(text), "log")
            for path, file, staged in arts:
                self._deliver_artifact(path, file, staged)
            self._spool_call(self.spool.sync)
            if not batch or n == 0:
                return

    def _drop_point(self) -> Optional[Point]:
        """The system/dropped_points point to send, when drops grew since the
        last one (called with the lock held)."""
        total = self._stats["dropped"]
        if self._drop_metric is None or total == self._drops_reported:
            return None
        self._drops_reported = total
        self._drop_step += 1
        return (self._drop_metric, float(total), self._drop_step - 1, int(time.time() * 1000))

    def _finish(self) -> None:
        final = self._final
        if final:
            self._deliver_update(final)
        self._spool_call(self.spool.sync)
        # Keep trying an away server until the deadline (a run that never
        # reached it tries once), then leave the rest to `trainyard sync`.
        tried = False
        while self.offline and self._replay_blocked is None:
            left = self._left()
            if left is not None and left <= 0:
                break
            if tried and not self._wait_for_server:
                break
            now = time.monotonic()
            if tried and self._next_try > now:
                time.sleep(min(self._next_try - now, left if left is not None else self._next_try - now))
                continue
            tried = True
            self._replay(cap=FINISH_RETRY_CAP)

    def _deliver_points(self, batch: List[Point]) -> None:
        # One ID per batch, kept into the spool and across replays: the
        # server stores a batch once however often it arrives (a replay after
        # a lost answer, a sync of what was spooled after it).
        batch_id = uuid.uuid4().hex

        def send(timeout: Optional[float]) -> None:
            body = json.dumps({"series": series_json(batch), "batch_id": batch_id},
                              allow_nan=False, separators=(",", ":")).encode()
            _, answer = self._t.request("POST", self._base + "/metrics", body, "application/json", timeout=timeout)
            if self._on_directive is not None and b'"directive"' in answer:
                try:
                    d = json.loads(answer).get("directive")
                except ValueError:
                    d = None
                if d:
                    self._on_directive(str(d))
            with self._cv:
                self._stats["sent"] += len(batch)
                self._stats["batches"] += 1

        if not self._deliver(send, lambda: self.spool.metrics(batch, batch_id), "metrics"):
            with self._cv:
                self._stats["dropped"] += len(batch)

    def _deliver_update(self, update: Dict[str, Any]) -> None:
        self._deliver(lambda t: self._t.json("PATCH", self._base, update, timeout=t),
                      lambda: self.spool.update(update), "update")

    def _deliver_artifact(self, path: str, file: str, staged: bool) -> None:
        if not os.path.isfile(file):
            self._fail("artifact %s: %s is gone; it was not uploaded" % (path, file), None)
            return
        if self._deliver(lambda t: self._put_artifact(path, file, t), lambda: self.spool.artifact(path, file),
                         "artifact") and not self.offline and staged:
            try:
                os.remove(file)
            except OSError:
                pass

    def _put_artifact(self, path: str, file: str, timeout: Optional[float]) -> None:
        with open(file, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._t.request("PUT", self._base + "/artifacts/" + quote_path(path), f,
                            "application/octet-stream", timeout=timeout, length=size)

    def _deliver(self, send: Callable[[Optional[float]], Any], spool: Callable[[], None], what: str) -> bool:
        """Sends live, or spools while the server is away (and from the
        first failed send on). Returns False when the record was dropped (a
        4xx, or the spool failed)."""
        if not self.offline:
            try:
                send(self._timeout())
                return True
            except Exception as e:  # noqa: BLE001 - sorted below
                if _auth_refused(e):
                    self._go_offline(e)
                    self._replay_blocked = str(e)
                elif not retryable(e):
                    self._fail("%s refused by the server, dropped: %s" % (what, e), e, key=what)
                    return False
                else:
                    self._go_offline(e)
        return self._spool_call(spool)

    # ---- replaying the spool ----------------------------------------------

    def _replay(self, cap: float = RETRY_CAP) -> None:
        """Applies the spool's lines in order from where it stopped. A
        failure schedules the next try (backoff); when every line is applied
        the spool file goes and the sender is live again."""
        sp = self.spool
        replayed = 0
        while True:
            nxt = None
            try:
                nxt = sp.next_pending()
            except Exception as e:  # noqa: BLE001
                self._fail("cannot read spool %s: %s" % (sp.path, e), e, key="spool-read")
                self._replay_blocked = "cannot read the spool"
                return
            if nxt is None:
                break
            line, raw = nxt
            left = self._left()
            if left is not None and left <= 0:
                return
            rec: Dict[str, Any] = {}
            try:
                rec = self._apply(raw)
            except Exception as e:  # noqa: BLE001 - sorted below
                if _auth_refused(e):
                    self._replay_blocked = str(e)
                    self._warn("the server refused the token (%s); run %s stays in %s for `trainyard sync` with "
                               "the right TRAINYARD_TOKEN" % (e, sp.run_id, sp.path))
                    return
                if retryable(e):
                    self._failures += 1
                    self._next_try = time.monotonic() + backoff(self._failures, cap, self._rng)
                    return
                kind = "metrics" if metrics_body(raw) else str(rec.get("type") or "unreadable")
                self._fail("%s record (line %d of %s) refused by the server, skipped: %s"
                           % (kind, line, sp.path, e), e, key="replay-" + kind)
            if not self._spool_call(sp.applied):
                self._replay_blocked = "cannot write the spool's progress"
                return
            replayed += 1
            self._wait_for_server = True  # it answered: finish waits for it from now on
            if len(self._points) >= self.batch_size:
                self._drain(self.batch_size)  # keep the queue moving: spooled after what is replayed
        self.offline = False
        self._failures = 0
        self._outage_warned = False
        self._spool_call(sp.retire)
        if replayed:
            self._warn("the server at %s answers again: replayed %d spooled records of run %s; logging live"
                       % (self._t.url, replayed, sp.run_id))

    def _apply(self, raw: bytes) -> Dict[str, Any]:
        """Sends one spool line, as `trainyard sync` does; returns its record
        (empty for a metrics line, which is sent without decoding)."""
        t = self._timeout()
        fast = metrics_body(raw)
        if fast is not None:
            body, n = fast
            self._t.request("POST", self._base + "/metrics", body, "application/json", timeout=t)
            with self._cv:
                self._stats["sent"] += n
                self._stats["replayed"] += n
                self._stats["batches"] += 1
            return {}
        try:
            rec = json.loads(raw)
        except ValueError:
            raise TrainyardError("unreadable spool line %r" % raw[:80], status=400)
        if not isinstance(rec, dict):
            raise TrainyardError("unreadable spool line %r" % raw[:80], status=400)
        self._apply_record(rec, t)
        return rec

    def _apply_record(self, rec: Dict[str, Any], t: Optional[float]) -> None:
        kind = rec.get("type")
        if kind == "run":
            if not rec.get("created") and rec.get("run") is not None:
                body = dict(rec["run"], id=rec.get("id") or self.spool.run_id)
                try:
                    self._t.json("POST", "/api/v1/runs", body, timeout=t)
                except TrainyardError as e:
                    if e.code != "conflict":  # conflict: created by an earlier try whose answer was lost
                        raise
            self.spool.created = True
        elif kind == "metrics":
            m: Dict[str, Any] = {"points": rec.get("points") or []}
            if rec.get("batch_id"):
                m["batch_id"] = rec["batch_id"]
            body = json.dumps(m, allow_nan=False, separators=(",", ":")).encode()
            self._t.request("POST", self._base + "/metrics", body, "application/json", timeout=t)
            with self._cv:
                self._stats["sent"] += len(m["points"])
                self._stats["replayed"] += len(m["points"])
                self._stats["batches"] += 1
        elif kind == "update":
            if rec.get("update"):
                self._t.json("PATCH", self._base, rec["update"], timeout=t)
        elif kind == "log":
            self._t.request("POST", self._base + "/logs", str(rec.get("text", "")).encode("utf-8"),
                            "text/plain; charset=utf-8", timeout=t)
        elif kind == "artifact":
            file = str(rec.get("file", ""))
            if not os.path.isfile(file):
                self._fail("artifact %s: %s is gone; it was not uploaded" % (rec.get("path"), file), None)
                return
            self._put_artifact(str(rec.get("path", "")), file, t)
            if os.path.dirname(file).startswith(self.spool.staging_dir + os.sep):
                try:
                    os.remove(file)
                except OSError:
                    pass
        else:
            raise TrainyardError("unknown spool record %r" % (kind,), status=400)

    def _left(self) -> Optional[float]:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _timeout(self) -> Optional[float]:
        left = self._left()
        return None if left is None else min(self._t.timeout, max(left, 0.05))

    def _go_offline(self, err: BaseException) -> None:
        """Switches to spooling after a failed send; replays begin after the
        first backoff."""
        self.offline = True
        self._failures = 1
        self._next_try = time.monotonic() + backoff(1, RETRY_CAP, self._rng)
        if not self._outage_warned:
            self._outage_warned = True
            left = self._left()
            why = "finish timed out" if left is not None and left <= 0 else str(err)
            self._warn("server unreachable (%s); spooling run %s to %s and retrying until it answers"
                       % (why, self.spool.run_id, self.spool.path))

    def _spool_call(self, fn: Callable[[], None]) -> bool:
        try:
            fn()
            return True
        except Exception as e:  # noqa: BLE001
            self._fail("cannot write spool %s: %s" % (self.spool.path, e), e, key="spool")
            return False

    def _fail(self, msg: str, err: Optional[BaseException], key: Optional[str] = None) -> None:
        with self._cv:
            if self.error is None:
                self.error = err if isinstance(err, TrainyardError) else TrainyardError(msg)
            if key is not None and key in self._warned:
                return
            if key is not None:
                self._warned.add(key)
        self._warn(msg)


def _auth_refused(err: BaseException) -> bool:
    return isinstance(err, TrainyardError) and err.status in (401, 403)
