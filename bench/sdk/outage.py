"""The Python SDK through a server outage: log at a fixed rate while the
real server is killed (SIGKILL) and started again on the same data and
port, then count what the server stored, what the SDK dropped (and said it
dropped), and check each point is stored once.

    python3 bench/sdk/outage.py --bin bin/trainyard --rate 50000 --points 600000 --outage 3 --rounds 3

Prints one line a round and the medians; see docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python", "src"))
import trainyard  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up(binary: str, addr: str, data: str) -> subprocess.Popen:
    p = subprocess.Popen([binary, "up", "--addr", addr, "--data", data, "--nvidia-smi", "none"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(400):
        try:
            urllib.request.urlopen("http://%s/api/v1/health" % addr, timeout=1)
            return p
        except OSError:
            time.sleep(0.05)
    raise SystemExit("trainyard up did not answer at " + addr)


def one_round(binary: str, rate: int, total: int, outage: float) -> dict:
    data = tempfile.mkdtemp(prefix="trainyard-outage-")
    addr = "127.0.0.1:%d" % free_port()
    url = "http://" + addr
    srv = up(binary, addr, data)
    try:
        run = trainyard.init(url=url, system_metrics_interval=10, spool_dir=os.path.join(data, "spool"))
        keys = ["k%d" % j for j in range(10)]
        t0 = time.perf_counter()
        logged = step = 0
        killed = back = None
        while logged < total:
            for _ in range(100):
                run.log({k: step for k in keys}, step=step)
                step += 1
            logged += 1000
            el = time.perf_counter() - t0
            if killed is None and outage > 0 and el > 3:
                srv.kill()
                srv.wait()
                killed = el
            if killed is not None and back is None and el > killed + outage:
                srv = up(binary, addr, data)
                back = time.perf_counter() - t0
            d = t0 + logged / rate - time.perf_counter()
            if d > 0:
                time.sleep(d)
        t1 = time.perf_counter()
        run.finish()
        fin = time.perf_counter() - t1
        st = run._stats()
        got = json.load(urllib.request.urlopen(url + "/api/v1/runs/" + run.id))
        stored = sum(got["metrics"][k]["count"] for k in keys)
        steps = urllib.request.urlopen(url + "/api/v1/runs/%s/metrics/k0?limit=1000000" % run.id).read()
        k0 = json.loads(steps)["steps"]
        return {"stored": stored, "dropped": st["dropped"], "reported": got["metrics"].get("system/dropped_points", {}).get("last", 0),
                "replayed": st["replayed"], "finish_s": fin, "once": len(k0) == len(set(k0)),
                "outage_s": (back - killed) if killed is not None and back is not None else 0.0}
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="bin/trainyard")
    ap.add_argument("--rate", type=int, default=50_000, help="points per second (10 keys a log call)")
    ap.add_argument("--points", type=int, default=600_000)
    ap.add_argument("--outage", type=float, default=3.0, help="seconds the server is down (0: no outage)")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rounds = []
    for i in range(a.rounds):
        r = one_round(a.bin, a.rate, a.points, a.outage)
        rounds.append(r)
        print("round %d: stored %d of %d, dropped %d (system/dropped_points says %d), replayed %d, each once: %s, "
              "outage %.1fs, finish %.1fs" % (i + 1, r["stored"], a.points, r["dropped"], r["reported"], r["replayed"],
                                             r["once"], r["outage_s"], r["finish_s"]), flush=True)
    print("median: stored %d, dropped %d (%.1f%%), finish %.1fs" % (
        statistics.median(r["stored"] for r in rounds), statistics.median(r["dropped"] for r in rounds),
        100 * statistics.median(r["dropped"] for r in rounds) / a.points, statistics.median(r["finish_s"] for r in rounds)))


if __name__ == "__main__":
    main()
