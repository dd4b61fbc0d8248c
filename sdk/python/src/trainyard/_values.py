"""Pure helpers: metric keys, values and JSON encoding.

Nothing here does I/O; everything is unit-tested on its own.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

#: The longest metric, config, summary or tag key the server accepts.
MAX_KEY_LEN = 250

JSONFloat = Union[float, str]


_LEAVES = frozenset((float, int, bool, str, type(None)))


def flatten(data: "Mapping[Any, Any]", sep: str = "/") -> Iterator[Tuple[str, Any]]:
    """Yields (key, value) for every leaf of data; nested mappings are joined
    with sep: {"train": {"loss": 1}} gives ("train/loss", 1). An empty nested
    mapping yields nothing."""
    for k, v in data.items():
        key = k if type(k) is str else str(k)
        if type(v) in _LEAVES or not isinstance(v, Mapping):
            yield key, v
        else:
            for sub, sv in flatten(v, sep):
                yield key + sep + sub, sv


def key_problem(key: str) -> Optional[str]:
    """Returns why the server would refuse key, or None when it is fine: the
    server's key grammar (MLflow's): 1 to 250 bytes of letters, digits and
    ``_ - . : /`` and space; no empty, ``.`` or ``..`` segment between the
    slashes, and not starting with ``..``."""
    if key == "":
        return "is empty"
    try:
        n = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "is not valid UTF-8"
    if n > MAX_KEY_LEN:
        return "is %d bytes, more than %d" % (n, MAX_KEY_LEN)
    for ch in key:
        if not (ch.isalnum() or ch in "_-.:/ "):
            return "contains %r: use letters, digits, '_', '-', '.', ':', ' ' and '/'" % ch
    if key.startswith(".."):
        return "starts with '..'"
    for seg in key.split("/"):
        if seg in ("", ".", ".."):
            return "has an empty, '.' or '..' segment between slashes"
    return None


def to_float(value: Any) -> Optional[float]:
    """Returns value as a float when it is a number: int, float, bool, and
    anything with __float__ that is not text (numpy scalars, one-element
    tensors). Returns None for everything else (str, None, lists, ...)."""
    t = type(value)
    if t is float:
        return float(value)
    if t is int or t is bool or isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (str, bytes, bytearray)) or value is None:
        return None
    if not hasattr(value, "__float__"):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def encode_float(v: float) -> JSONFloat:
    """Returns v as the API writes floats: a number, or "NaN", "Infinity",
    "-Infinity" for the values JSON cannot hold."""
    if math.isfinite(v):
        return v
    if v != v:
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def decode_float(v: Any) -> float:
    """Reads a float as the API answers it (a number or a special string)."""
    specials = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
    if isinstance(v, str) and v in specials:
        return specials[v]
    return float(v)


def json_safe(value: Any) -> Any:
    """Returns value in a form json.dumps(allow_nan=False) accepts, for
    config, tags and summary: non-finite floats become "NaN"/"Infinity"/
    "-Infinity", numpy scalars their Python value, tuples and sets lists,
    mapping keys strings, and anything else its str()."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [json_safe(v) for v in sorted(value, key=repr)]
    item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
    if callable(item) and getattr(value, "shape", None) in ((), None):
        try:
            return json_safe(item())
        except Exception:  # noqa: BLE001 - fall back to str below
            pass
    f = to_float(value)
    if f is not None:
        return encode_float(f)
    return str(value)


def point_json(key: str, value: float, step: int, timestamp: int) -> Dict[str, Any]:
    """One metric point as the API and the spool take it."""
    return {"key": key, "value": encode_float(value), "step": step, "timestamp": timestamp}


def points_json(points: List[Tuple[str, float, int, int]]) -> List[Dict[str, Any]]:
    """A list of (key, value, step, timestamp) tuples in API form."""
    return [point_json(k, v, s, t) for (k, v, s, t) in points]


def points_text(points: List[Tuple[str, float, int, int]]) -> str:
    """The JSON array of points_json(points), written directly: the same
    text json.dumps(points_json(points), separators=(",", ":")) gives, about
    twice as fast (the sender spools up to a hundred thousand points a
    second while the server is away)."""
    keys: Dict[str, str] = {}
    for k, _, _, _ in points:
        if k not in keys:
            keys[k] = '{"key":' + json.dumps(k) + ',"value":'
    r = float.__repr__  # the shortest text that reads back as the same double, as json.dumps writes it

    def special(v: float) -> str:
        return '"NaN"' if v != v else ('"Infinity"' if v > 0 else '"-Infinity"')

    return "[" + ",".join([
        '%s%s,"step":%d,"timestamp":%d}' % (keys[k], r(v) if v - v == 0 else special(v), s, t)
        for k, v, s, t in points]) + "]"


def series_json(points: List[Tuple[str, float, int, int]]) -> List[Dict[str, Any]]:
    """(key, value, step, timestamp) tuples in the API's columnar form, one
    entry per key in first-seen order: about half the bytes of points_json
    and the server's fastest path."""
    by_key: Dict[str, Dict[str, List[Any]]] = {}
    for k, v, s, t in points:
        cols = by_key.get(k)
        if cols is None:
            cols = by_key[k] = {"steps": [], "values": [], "timestamps": []}
        cols["steps"].append(s)
        cols["values"].append(encode_float(v))
        cols["timestamps"].append(t)
    return [{"key": k, **cols} for k, cols in by_key.items()]


class StepCounter:
    """The auto-incrementing step of Run.log: each call without a step gets
    the next one (0, 1, 2, ...); a call with an explicit step uses it and the
    counter continues after it. With commit=False the counter does not move,
    so the next call logs at the same step."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, step: Optional[int], commit: bool = True) -> int:
        s = self.next if step is None else int(step)
        self.next = s + 1 if commit else s
        return s
