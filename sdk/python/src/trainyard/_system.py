"""System metrics: CPU, memory, this process's RSS and GPUs, sampled by a
daemon thread every interval seconds and logged as system/... metrics with
their own step counter (0, 1, 2, ...), so the user's steps are untouched.

Linux /proc gives CPU and memory; nvidia-smi, when on PATH, gives GPUs,
restricted to CUDA_VISIBLE_DEVICES when that lists indices. Whatever is
unavailable (another OS, no GPU) is skipped silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

Point = Tuple[str, float, int, int]

GPU_QUERY = ["--query-gpu=index,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"]


def read_cpu_times(text: str) -> Optional[Tuple[int, int]]:
    """(busy, total) jiffies from /proc/stat's first line."""
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "cpu":
            vals = [int(x) for x in f[1:9]]  # user..steal; guest is inside user
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
            total = sum(vals)
            return total - idle, total
    return None


def cpu_percent(prev: Tuple[int, int], cur: Tuple[int, int]) -> Optional[float]:
    dt = cur[1] - prev[1]
    if dt <= 0:
        return None
    return max(0.0, min(100.0, 100.0 * (cur[0] - prev[0]) / dt))


def parse_kib_fields(text: str) -> Dict[str, int]:
    """Fields of /proc/meminfo or /proc/self/status that are "N kB", in bytes."""
    out: Dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        f = rest.split()
        if len(f) == 2 and f[1] == "kB" and f[0].isdigit():
            out[name.strip()] = int(f[0]) * 1024
    return out


def visible_gpus(env: Optional[str]) -> Optional[Set[int]]:
    """The GPU indices CUDA_VISIBLE_DEVICES allows: None when unset or not
    numbers (UUIDs: report every GPU), an empty set when it is empty (a job
    without GPUs). As CUDA does, the list ends at the first negative index."""
    if env is None:
        return None
    env = env.strip()
    if env == "":
        return set()
    out: Set[int] = set()
    for tok in env.split(","):
        tok = tok.strip()
        if tok.startswith("-") and tok[1:].isdigit():
            break
        if not tok.isdigit():
            return None
        out.add(int(tok))
    return out


def parse_nvidia_smi(text: str, visible: Optional[Set[int]]) -> List[Tuple[str, float]]:
    """Metrics from `nvidia-smi --query-gpu=index,utilization.gpu,memory.used,
    memory.total --format=csv,noheader,nounits`; fields that read [N/A] are
    skipped."""
    out: List[Tuple[str, float]] = []
    for line in text.splitlines():
        f = [x.strip() for x in line.split(",")]
        if len(f) != 4 or not f[0].isdigit():
            continue
        i = int(f[0])
        if visible is not None and i not in visible:
            continue
        util, used, total = (_num(x) for x in f[1:])
        p = "system/gpu.%d." % i
        if util is not None:
            out.append((p + "utilization", util))
        if used is not None:
            out.append((p + "memory_used_bytes", used * 1024 * 1024))
            if total:
                out.append((p + "memory_percent", 100.0 * used / total))
    return out


def _num(s: str) -> Optional[float]:
    try:
        return float(s)
    except ValueError:
        return None


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


class SystemMonitor:
    """Samples every interval seconds and hands the points to emit."""

    def __init__(self, interval: float, emit: Callable[[List[Point]], Any], nvidia_smi: Optional[str] = None):
        self.interval = interval
        self._emit = emit
        self._smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
        self._smi_failures = 0
        self._visible = visible_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"))
        self._stop = threading.Event()
        self._step = 0
        self._cpu = self._cpu_times()
        self._thread = threading.Thread(target=self._loop, name="trainyard-system", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stops sampling, after one last reading: a run shorter than the
        interval still gets its system metrics."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10.0)
        try:
            pts = self.sample()
        except Exception:  # noqa: BLE001 - system metrics are best effort
            return
        if pts:
            self._emit(pts)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                pts = self.sample()
            except Exception:  # noqa: BLE001 - system metrics are best effort
                continue
            if pts:
                self._emit(pts)

    @staticmethod
    def _cpu_times() -> Optional[Tuple[int, int]]:
        text = _read("/proc/stat")
        return read_cpu_times(text) if text else None

    def sample(self) -> List[Point]:
        """One round of readings, as points at the next system step."""
        vals: List[Tuple[str, float]] = []
        cur = self._cpu_times()
        if cur and self._cpu:
            pct = cpu_percent(self._cpu, cur)
            if pct is not None:
                vals.append(("system/cpu_percent", pct))
        self._cpu = cur or self._cpu
        mem = parse_kib_fields(_read("/proc/meminfo") or "")
        if mem.get("MemTotal") and "MemAvailable" in mem:
            used = mem["MemTotal"] - mem["MemAvailable"]
            vals.append(("system/memory_percent", 100.0 * used / mem["MemTotal"]))
            vals.append(("system/memory_used_bytes", float(used)))
        rss = parse_kib_fields(_read("/proc/self/status") or "").get("VmRSS")
        if rss is not None:
            vals.append(("system/process_rss_bytes", float(rss)))
        vals.extend(self._gpus())
        ts = int(time.time() * 1000)
        step = self._step
        self._step += 1
        return [(k, v, step, ts) for k, v in vals]

    def _gpus(self) -> Sequence[Tuple[str, float]]:
        if not self._smi or self._smi_failures >= 3 or self._visible == set():
            return []
        try:
            r = subprocess.run([self._smi] + GPU_QUERY, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            self._smi_failures += 1
            return []
        if r.returncode != 0:
            self._smi_failures += 1
            return []
        self._smi_failures = 0
        return parse_nvidia_smi(r.stdout, self._visible)
