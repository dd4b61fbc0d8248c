"""A one-second sweep trial for bench/sweep: as a trainyard job (the SDK
reads its config and reports the metric) or, with a value argument, as the
peer's subprocess (prints the metric). Either way it appends its first and
last instants (after the interpreter started, before it exits) to $TIMES."""
import json
import os
import sys
import time

t0 = time.time()
plain = len(sys.argv) > 1
if plain:
    x = float(sys.argv[1])
else:
    import trainyard

    run = trainyard.init(system_metrics_interval=0)
    x = float(run.config["x"])
time.sleep(max(0.0, float(os.environ.get("TRIAL_SECONDS", "1")) - (time.time() - t0)))
loss = (x - 0.3) ** 2
if plain:
    print(loss)
else:
    run.log({"loss": loss}, step=1)
    run.finish()
t1 = time.time()
with open(os.environ["TIMES"], "a") as f:
    f.write(json.dumps({"t0": t0, "t1": t1, "run": os.environ.get("TRAINYARD_RUN_ID", "")}) + "\n")
