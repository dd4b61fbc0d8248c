"""The background sender: the only thread that talks to the server after
init, so that Run.log never waits on the network.

    caller threads                      sender thread (daemon)
    ──────────────                      ──────────────────────
    log() ─► points deque (bounded) ─┐
    summary/config/tags ─► update ───┼─► every flush_interval, or when
    log_artifact ─► staged copies ───┤   batch_size points wait, or on
    captured output ─► text ─────────┘   flush()/close(): take a snapshot,
                                         POST/PATCH/PUT it with retries,
                                         or append it to the spool

Points wait in a deque of at most max_queue; when it is full the oldest are
dropped and counted (memory stays bounded; the first drop warns). Requests
that fail with a connection error, 5xx or 429 are retried with backoff
(RETRY_DELAYS); when they are used up, the sender goes offline for good:
that batch and everything after it go to the spool, and finish tells the
user to run `trainyard sync`. A 4xx is not retried: the batch is dropped
with a warning (and raised at the next call in strict mode).
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
import uuid
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

from ._spool import Spool
from ._transport import TrainyardError, Transport, quote_path, retryable
from ._values import series_json

Point = Tuple[str, float, int, int]

#: Seconds between tries of a failing request; after the last, go offline.
RETRY_DELAYS: Tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
#: Most bytes of captured output that wait for the sender.
MAX_TEXT = 8 << 20


class Sender:
    """Batches one run's records to the server or the spool. Every public
    method is safe to call from any thread and returns without I/O, except
    flush and close, which wait (boundedly) for the sender thread."""

    def __init__(self, transport: Transport, run_id: str, spool: Spool, warn: Callable[[str], None], *,
                 offline_reason: Optional[str] = None, max_queue: int = 100_000, batch_size: int = 10_000,
                 flush_interval: float = 1.0):
        self._t = transport
        self._base = "/api/v1/runs/" + quote_path(run_id)
        self.spool = spool
        self._warn = warn
        self.batch_size = max(1, batch_size)
        self.flush_interval = flush_interval
        self._cv = threading.Condition()
        self._points: Deque[Point] = collections.deque(maxlen=max(1, max_queue))
        self._update: Dict[str, Dict[str, Any]] = {}
        self._text: List[str] = []
        self._text_len = 0
        self._artifacts: List[Tuple[str, str, bool]] = []
        self._final: Optional[Dict[str, Any]] = None
        self._closing = False
        self._deadline: Optional[float] = None
        self._flush_seq = 0
        self._flushed_seq = 0
        self._last_send = time.monotonic()
        self.offline = offline_reason is not None
        self.error: Optional[BaseException] = None  # first background error, for strict mode
        self._warned: Set[str] = set()
        self._stats = {"sent": 0, "spooled": 0, "dropped": 0, "dropped_text": 0, "high_water": 0, "batches": 0}
        if self.offline:
            self._spool_call(self.spool.open)
        self._thread = threading.Thread(target=self._loop, name="trainyard-sender", daemon=True)
        self._thread.start()

    # ---- caller side -----------------------------------------------------

    def add_points(self, points: List[Point]) -> bool:
        """Queues points; returns True when this call made the first drop."""
        with self._cv:
            q = self._points
            over = len(q) + len(points) - (q.maxlen or 0)
            first = False
            if over > 0:
                first = self._stats["dropped"] == 0
                self._stats["dropped"] += over
            q.extend(points)
            if len(q) > self._stats["high_water"]:
                self._stats["high_water"] = len(q)
            if len(q) >= self.batch_size:
                self._cv.notify_all()
        return first

    def add_update(self, field: str, values: Dict[str, Any]) -> None:
        """Merges values into the next PATCH's field (summary, config, tags)."""
        with self._cv:
            self._update.setdefault(field, {}).update(values)

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
        seconds; what cannot reach the server by then is spooled. Returns
        False when the sender thread did not finish in time."""
        with self._cv:
            if not self._closing:
                self._final = final
                self._closing = True
                self._deadline = time.monotonic() + max(timeout, 0.0)
                self._cv.notify_all()
        self._thread.join(max(timeout, 0.0) + 5.0)
        return not self._thread.is_alive()

    def stats(self) -> Dict[str, int]:
        """Counters: points sent, spooled, dropped (queue full or refused),
        the queue's high-water mark and its current length."""
        with self._cv:
            s = dict(self._stats)
            s["queued"] = len(self._points)
        s["spooled"] = self.spool.points
        return s

    # ---- sender thread ---------------------------------------------------

    def _due(self) -> bool:
        if self._closing or self._flush_seq > self._flushed_seq or self._artifacts:
            return True
        if len(self._points) >= self.batch_size:
            return True
        pending = self._points or self._update or self._text
        return bool(pending) and time.monotonic() - self._last_send >= self.flush_interval

    def _loop(self) -> None:
        try:
            while True:
                with self._cv:
                    while not self._due():
                        pending = self._points or self._update or self._text
                        wait = self.flush_interval - (time.monotonic() - self._last_send) if pending else self.flush_interval
                        self._cv.wait(max(0.01, wait))
                    want, closing = self._flush_seq, self._closing
                    n = len(self._points)
                    timer = time.monotonic() - self._last_send >= self.flush_interval
                    if not (closing or want > self._flushed_seq or timer):
                        n -= n % self.batch_size  # woken by a full batch: leave the rest for the timer
                self._last_send = time.monotonic()
                self._drain(n)
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
            if n > 0:
                n -= len(batch)
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

    def _finish(self) -> None:
        final = self._final
        if final:
            self._deliver_update(final)
        self._spool_call(self.spool.sync)

    def _deliver_points(self, batch: List[Point]) -> None:
        # One ID per batch, kept across retries and into the spool: the server
        # stores a batch once however often it arrives (a retry after a lost
        # answer, a sync of what was spooled after it).
        batch_id = uuid.uuid4().hex

        def send(timeout: Optional[float]) -> None:
            body = json.dumps({"series": series_json(batch), "batch_id": batch_id},
                              allow_nan=False, separators=(",", ":")).encode()
            self._t.request("POST", self._base + "/metrics", body, "application/json", timeout=timeout)
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
        def send(timeout: Optional[float]) -> None:
            with open(file, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                self._t.request("PUT", self._base + "/artifacts/" + quote_path(path), f,
                                "application/octet-stream", timeout=timeout, length=size)

        if not os.path.isfile(file):
            self._fail("artifact %s: %s is gone; it was not uploaded" % (path, file), None)
            return
        if self._deliver(send, lambda: self.spool.artifact(path, file), "artifact") and not self.offline and staged:
            try:
                os.remove(file)
            except OSError:
                pass

    def _deliver(self, send: Callable[[Optional[float]], Any], spool: Callable[[], None], what: str) -> bool:
        """Sends with retries, or spools when offline or out of tries.
        Returns False when the record was dropped (a 4xx, or the spool
        failed)."""
        attempt = 0
        while not self.offline:
            try:
                send(self._timeout())
                return True
            except Exception as e:  # noqa: BLE001 - sorted below
                if not retryable(e):
                    self._fail("%s refused by the server, dropped: %s" % (what, e), e, key=what)
                    return False
                left = self._left()
                if attempt >= len(RETRY_DELAYS) or (left is not None and left <= 0):
                    self._go_offline(e)
                    break
                delay = RETRY_DELAYS[attempt]
                time.sleep(delay if left is None else max(0.0, min(delay, left)))
                attempt += 1
        return self._spool_call(spool)

    def _left(self) -> Optional[float]:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _timeout(self) -> Optional[float]:
        left = self._left()
        return None if left is None else min(self._t.timeout, max(left, 0.05))

    def _go_offline(self, err: BaseException) -> None:
        self.offline = True
        left = self._left()
        why = "finish timed out" if left is not None and left <= 0 else str(err)
        self._warn("server unreachable (%s); spooling the rest of run %s to %s" % (why, self.spool.run_id, self.spool.path))

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
