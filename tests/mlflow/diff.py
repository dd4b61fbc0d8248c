"""The differential harness: the same requests to the real MLflow server and
to trainyard, their answers compared after normalising what legitimately
differs (ids, times, generated names).

A scenario is a list of Steps. Each target (server) keeps its own variables:
a step may capture values from its answer (the ID of the run it created) and
later steps name them as {var} in their paths, queries and bodies, so that
each server is asked about its own run. Captured values are also how answers
are normalised: every occurrence of a captured ID becomes <var>.

Differences are reported per aspect: "status", "error_code", "message",
"body" (the rest of a JSON answer), "bytes" (a non-JSON answer), or
"header:<name>" for the headers a step asks to compare. The allow-list
(allowlist.py) names each difference that remains, with its reason.
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

TIME_KEYS = {
    "creation_time", "last_update_time", "start_time", "end_time", "timestamp", "creation_timestamp",
    "last_updated_timestamp", "creation_timestamp_ms", "last_updated_timestamp_ms", "last_modified",
}
# Lists whose order neither server promises.
UNORDERED = {"dataset_summaries", "dataset_inputs"}
GENERATED_NAME = re.compile(r"^[a-z]+-[a-z]+-\d{1,3}$")
VAR = re.compile(r"\{(\w+)\}")


@dataclass
class Answer:
    status: int
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class Target:
    """One server under test, with the variables its answers gave."""

    def __init__(self, name: str, url: str):
        self.name, self.url = name, url
        self.vars: Dict[str, str] = {}

    def request(self, method: str, path: str, query: Any = None, body: Any = None, raw: Optional[bytes] = None,
                headers: Optional[Dict[str, str]] = None) -> Answer:
        url = self.url + path
        if query is not None:
            url += "?" + urllib.parse.urlencode(query, doseq=True)
        data = raw
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def fill(self, v: Any) -> Any:
        """v with every {var} replaced by this target's value."""
        if isinstance(v, str):
            return VAR.sub(lambda m: self.vars.get(m.group(1), m.group(0)), v)
        if isinstance(v, list):
            return [self.fill(x) for x in v]
        if isinstance(v, tuple):
            return tuple(self.fill(x) for x in v)
        if isinstance(v, dict):
            return {self.fill(k): self.fill(x) for k, x in v.items()}
        return v


@dataclass
class Step:
    name: str
    method: str
    path: str
    body: Any = None
    query: Any = None
    raw: Optional[bytes] = None
    headers: Optional[Dict[str, str]] = None
    capture: Dict[str, str] = field(default_factory=dict)  # var → dotted path into the JSON answer
    compare_headers: Tuple[str, ...] = ()


def dig(v: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(v, list):
            v = v[int(part)]
        elif isinstance(v, dict):
            v = v.get(part)
        else:
            return None
    return v


def run_step(step: Step, t: Target) -> Answer:
    a = t.request(step.method, t.fill(step.path), query=t.fill(step.query), body=t.fill(step.body),
                  raw=step.raw, headers=step.headers)
    doc = a.json()
    for var, path in step.capture.items():
        got = dig(doc, path) if doc is not None else None
        if got is not None:
            t.vars[var] = str(got)
    return a


def normalize(v: Any, t: Target, now_ms: float, key: str = "") -> Any:
    """An answer with t's IDs replaced by <var>, times near now by <now>,
    generated run names by <generated-name>, and key/value lists sorted."""
    if isinstance(v, dict):
        out = {k: normalize(x, t, now_ms, k) for k, x in v.items()}
        if out.get("key") == "mlflow.runName" and isinstance(out.get("value"), str) and GENERATED_NAME.match(out["value"]):
            out["value"] = "<generated-name>"
        return out
    if isinstance(v, list):
        items = [normalize(x, t, now_ms, key) for x in v]
        if items and (key in UNORDERED or all(isinstance(x, dict) and "key" in x for x in items)):
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return items
    if key in TIME_KEYS:
        try:
            n = float(v)
            if abs(n - now_ms) < 2 * 86400 * 1000:
                return "<now>"
        except (TypeError, ValueError):
            pass
    if isinstance(v, str):
        if key == "next_page_token" and v:
            return "<page-token>"  # opaque: that there is one is what counts
        if key in ("run_name", "name") and GENERATED_NAME.match(v):
            return "<generated-name>"
        for var, val in sorted(t.vars.items(), key=lambda kv: -len(kv[1])):
            if len(val) >= 6 and val in v:
                v = v.replace(val, "<%s>" % var)
        if key == "message":
            v = PY_SET.sub(lambda m: "{%s}" % ", ".join(sorted(m.group(1).split(", "))), v)
        return v
    return v


# A Python set of strings in a message ({'a', 'b'}), which MLflow prints in
# hash order, a different order in each server process.
PY_SET = re.compile(r"\{('[^']*'(?:, '[^']*')+)\}")


@dataclass
class Difference:
    step: str
    aspect: str
    mlflow: Any
    trainyard: Any

    def __str__(self) -> str:
        where = paths(self.mlflow, self.trainyard)
        if where and isinstance(self.mlflow, (dict, list)) and isinstance(self.trainyard, (dict, list)):
            lines = ["%s [%s]" % (self.step, self.aspect)]
            for p, a, b in where[:8]:
                lines.append("    at %s\n      mlflow:    %s\n      trainyard: %s" % (p or "(top)", _short(a), _short(b)))
            if len(where) > 8:
                lines.append("    ... %d more" % (len(where) - 8))
            return "\n".join(lines)
        return "%s [%s]\n    mlflow:    %s\n    trainyard: %s" % (self.step, self.aspect, _short(self.mlflow), _short(self.trainyard))


def paths(a: Any, b: Any, at: str = "") -> List[Tuple[str, Any, Any]]:
    """Where two JSON values differ: (path, a's value, b's value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += paths(a.get(k, "<absent>"), b.get(k, "<absent>"), at + "." + str(k))
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += paths(x, y, "%s[%d]" % (at, i))
        return out
    if a != b and not (isinstance(a, float) and isinstance(b, float) and a != a and b != b):
        return [(at, a, b)]
    return []


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s if len(s) < 600 else s[:600] + "..."


def compare(step: Step, ml: Answer, ty: Answer, tml: Target, tty: Target, now_ms: float) -> List[Difference]:
    diffs: List[Difference] = []
    if ml.status != ty.status:
        diffs.append(Difference(step.name, "status", ml.status, ty.status))
    for h in step.compare_headers:
        if ml.headers.get(h) != ty.headers.get(h):
            diffs.append(Difference(step.name, "header:" + h, ml.headers.get(h), ty.headers.get(h)))
    jm, jt = ml.json(), ty.json()
    if jm is None or jt is None or not isinstance(jm, (dict, list)):
        if ml.body != ty.body:
            diffs.append(Difference(step.name, "bytes", ml.body[:300].decode(errors="replace"), ty.body[:300].decode(errors="replace")))
        return diffs
    jm, jt = normalize(jm, tml, now_ms), normalize(jt, tty, now_ms)
    if isinstance(jm, dict) and isinstance(jt, dict) and ("error_code" in jm or "error_code" in jt):
        for k in ("error_code", "message"):
            if jm.get(k) != jt.get(k):
                diffs.append(Difference(step.name, k, jm.get(k), jt.get(k)))
        jm = {k: v for k, v in jm.items() if k not in ("error_code", "message")}
        jt = {k: v for k, v in jt.items() if k not in ("error_code", "message")}
    if jm != jt:
        diffs.append(Difference(step.name, "body", jm, jt))
    return diffs


def run_rest(steps: List[Step], mlflow: Target, trainyard: Target) -> Tuple[List[Difference], List[Tuple[str, str]]]:
    """Sends every step to both servers in turn; returns the differences
    and the (method, path) each step sent trainyard."""
    diffs: List[Difference] = []
    sent = []
    for step in steps:
        ml, ty = run_step(step, mlflow), run_step(step, trainyard)
        diffs += compare(step, ml, ty, mlflow, trainyard, time.time() * 1000)
        sent.append((step.method, trainyard.fill(step.path)))
    return diffs, sent


def route_regex(pattern: str) -> "re.Pattern[str]":
    """The regular expression of an http.ServeMux path pattern."""
    out = ""
    for part in re.split(r"(\{[^}]+\})", pattern):
        if part.startswith("{") and part.endswith("...}"):
            out += ".*"
        elif part.startswith("{"):
            out += "[^/]+"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


@dataclass
class Allowed:
    """A difference that remains, and why."""
    id: str
    steps: str  # fnmatch pattern over step names
    aspects: Tuple[str, ...]
    reason: str
    used: bool = False

    def allows(self, d: Difference) -> bool:
        return fnmatch.fnmatchcase(d.step, self.steps) and any(fnmatch.fnmatchcase(d.aspect, a) for a in self.aspects)


def unexplained(diffs: List[Difference], allowed: List[Allowed]) -> List[Difference]:
    out = []
    for d in diffs:
        hit = [a for a in allowed if a.allows(d)]
        for a in hit:
            a.used = True
        if not hit:
            out.append(d)
    return out


def observe(fn: Callable[[], Any]) -> Any:
    """What a client call gave: its result, or the error it raised (the
    exception's class, error code and message)."""
    try:
        return {"ok": fn()}
    except Exception as e:  # noqa: BLE001 - any difference is what we look for
        return {"error": type(e).__name__, "error_code": getattr(e, "error_code", None), "message": str(getattr(e, "message", e))}
