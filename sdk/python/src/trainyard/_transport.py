"""HTTP to the trainyard server, standard library only.

One short-lived connection per request: requests are few (the sender
batches), and a fresh connection never meets a keep-alive socket the server
already closed, which would leave it unknown whether a POST was applied.
"""

from __future__ import annotations

import collections
import http.client
import json
import threading
import urllib.parse
from typing import IO, Any, Deque, Dict, List, Optional, Tuple, Union

from ._values import json_safe

Body = Union[bytes, IO[bytes], None]


class TrainyardError(Exception):
    """An error answered by the server (status 4xx/5xx with its code,
    message and field), or one raised by the SDK in strict mode."""

    def __init__(self, message: str, status: Optional[int] = None, code: str = "", field: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field


class Unreachable(Exception):
    """The server could not be reached, or the connection broke before an
    answer came (then the request may or may not have been applied)."""


def retryable(err: BaseException) -> bool:
    """Only connection errors, 5xx and 429 are worth another try; a 4xx
    would be answered the same way again."""
    if isinstance(err, Unreachable):
        return True
    if isinstance(err, TrainyardError) and err.status is not None:
        return err.status >= 500 or err.status == 429
    return False


def quote_path(path: str) -> str:
    """Escapes a slash-separated path for a URL, keeping the slashes."""
    return urllib.parse.quote(path, safe="/")


class Transport:
    """Sends requests to one server. Thread-safe: each request has its own
    connection. It records each request (thread name, method, path) in a
    bounded list, which tests read to count requests and see which thread
    made them."""

    def __init__(self, url: str, token: Optional[str] = None, timeout: float = 30.0, user_agent: str = "trainyard-python"):
        u = urllib.parse.urlsplit(url if "://" in url else "http://" + url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("trainyard URL %r: want http://host:port" % url)
        self.url = urllib.parse.urlunsplit((u.scheme, u.netloc, u.path.rstrip("/"), "", ""))
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")
        self._token = token or None
        self.timeout = timeout
        self._ua = user_agent
        self._lock = threading.Lock()
        self.calls: Deque[Tuple[str, str, str]] = collections.deque(maxlen=100_000)

    def request(self, method: str, path: str, body: Body = None, content_type: Optional[str] = None,
                timeout: Optional[float] = None, length: Optional[int] = None) -> Tuple[int, bytes]:
        """Sends one request; returns (status, body) for 2xx. Raises
        TrainyardError for an error answer and Unreachable when no answer
        came."""
        with self._lock:
            self.calls.append((threading.current_thread().name, method, path))
        headers: Dict[str, str] = {"User-Agent": self._ua, "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        if length is not None:
            headers["Content-Length"] = str(length)
        t = self.timeout if timeout is None else max(timeout, 0.05)
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=t)
        try:
            conn.request(method, self._prefix + path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            raise Unreachable(str(e) or type(e).__name__) from e
        finally:
            conn.close()
        if status >= 400:
            raise _error(method, path, status, data)
        return status, data

    def json(self, method: str, path: str, obj: Any = None, timeout: Optional[float] = None) -> Any:
        """Sends obj as JSON (NaN and infinities as strings) and decodes the
        JSON answer."""
        body = None
        if obj is not None:
            body = json.dumps(json_safe(obj), allow_nan=False, separators=(",", ":")).encode()
        _, data = self.request(method, path, body, "application/json" if body is not None else None, timeout)
        return json.loads(data) if data.strip() else None

    def requests_by(self, thread_name: Optional[str] = None, method: Optional[str] = None,
                    path_suffix: Optional[str] = None) -> List[Tuple[str, str, str]]:
        """The recorded requests that match every given filter (for tests)."""
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls
                if (thread_name is None or c[0] == thread_name)
                and (method is None or c[1] == method)
                and (path_suffix is None or c[2].endswith(path_suffix))]


def _error(method: str, path: str, status: int, data: bytes) -> TrainyardError:
    try:
        e = json.loads(data)["error"]
        return TrainyardError("%s %s: %s (%d %s)" % (method, path, e["message"], status, e.get("code", "")),
                              status=status, code=e.get("code", ""), field=e.get("field"))
    except (ValueError, KeyError, TypeError):
        text = data[:200].decode("utf-8", "replace").strip()
        return TrainyardError("%s %s: HTTP %d %s" % (method, path, status, text), status=status, code="http")

