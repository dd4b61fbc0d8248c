"""JSON-lines evaluator for trainyard's Go benchmark driver (bench/hpo).

Each request line {"task": "3945", "config": {...}, "lo": 1, "hi": 9}
gets one answer line {"vals": [...], "costs": [...]}: LCBench's
val_accuracy and per-epoch cost for epochs lo..hi of that configuration,
or {"error": "..."}.
"""
import json
import sys

from problems import LCBench


def main() -> None:
    out_stream = sys.stdout
    sys.stdout = sys.stderr  # yahpo-gym prints citations; keep the protocol clean
    benches = {}
    for line in sys.stdin:
        try:
            req = json.loads(line)
            task = str(req["task"])
            if task not in benches:
                benches[task] = LCBench(task)
            vals, costs = benches[task].curve(req["config"], int(req["lo"]), int(req["hi"]))
            out = {"vals": vals, "costs": costs}
        except Exception as e:  # the driver shows it and stops
            out = {"error": f"{type(e).__name__}: {e}"}
        out_stream.write(json.dumps(out) + "\n")
        out_stream.flush()


if __name__ == "__main__":
    main()
