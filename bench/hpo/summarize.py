"""Turn bench/hpo's JSON lines (trainyard's and Optuna's) into the Markdown
tables of docs/benchmarks.md. Standard library only.

    python3 bench/hpo/summarize.py bench/hpo/results/*.jsonl > bench/hpo/last-result.md
"""
from __future__ import annotations

import json
import math
import random
import statistics
import sys
from collections import defaultdict


def q(xs, p):
    xs = sorted(xs)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * p
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def fmt(x):
    if math.isnan(x) or math.isinf(x):
        return "none"
    if abs(x) >= 100:
        return f"{x:.2f}"
    if abs(x) >= 1:
        return f"{x:.3f}"
    return f"{x:.4f}"


def cell(xs):
    return f"{fmt(q(xs, 0.5))} [{fmt(q(xs, 0.25))}, {fmt(q(xs, 0.75))}]"


def incumbent(curve, b, goal):
    """Best value reported at max_steps with at most b steps used."""
    best = math.nan
    for used, _, v in curve:
        if used <= b:
            best = v
    return best


def worst(goal):
    return math.inf if goal == "min" else -math.inf


def blackbox(recs):
    by = defaultdict(list)
    for r in recs:
        by[(r["problem"], r["side"], r["algo"])].append(r)
    print("### Black-box: median simple regret [IQR] after n trials\n")
    print("| problem | searcher | seeds | n = 50 | n = 100 | n = 200 |")
    print("|---|---|---|---|---|---|")
    for (p, side, algo), rs in sorted(by.items()):
        cells = []
        for n in (50, 100, 200):
            xs = [r["regret"][n - 1] for r in rs if len(r["regret"]) >= n]
            cells.append(cell(xs) if xs else "–")
        print(f"| {p} | {side} {algo} | {len(rs)} | " + " | ".join(cells) + " |")
    print()
    # The regret of a run is often bimodal (Hartmann6: the global basin or the
    # local minimum at regret 0.119), so a median over a few dozen seeds moves
    # a lot from one seed set to the next. The difference of the medians with
    # a bootstrap interval says whether a gap is more than that.
    print("### Black-box: trainyard − Optuna, difference of median regret [95% bootstrap interval]\n")
    print("Below 0: trainyard better. An interval that contains 0: no difference the seeds can show.\n")
    print("| problem | searcher | n = 50 | n = 100 | n = 200 |")
    print("|---|---|---|---|---|")
    for p, algo in sorted({(k[0], k[2]) for k in by}):
        # trainyard's tpe-optuna (Optuna's defaults) is set against Optuna's tpe as well
        ty, op = by.get((p, "trainyard", algo)), by.get((p, "optuna", algo.removesuffix("-optuna")))
        if not ty or not op:
            continue
        cells = []
        for n in (50, 100, 200):
            a = [r["regret"][n - 1] for r in ty if len(r["regret"]) >= n]
            b = [r["regret"][n - 1] for r in op if len(r["regret"]) >= n]
            d, lo, hi = median_diff(a, b)
            cells.append(f"{fmt(d)} [{fmt(lo)}, {fmt(hi)}]")
        print(f"| {p} | {algo} | " + " | ".join(cells) + " |")
    print()
    basin(by)


# Hartmann6's local minimum next to the global one is at -3.2032, regret
# 0.1192: a run below that has found the global basin.
H6_BASIN = 3.3223680114155147 - 3.2032


def basin(by):
    """Hartmann6 TPE: the share of runs in the global basin, per block of
    100 seeds and in all, with a 95% Wilson interval. It shows how far one
    block of seeds is from the next."""
    rows = [(side, algo, rs) for (p, side, algo), rs in sorted(by.items()) if p == "hartmann6" and algo in ("tpe", "tpe-optuna")]
    if not rows:
        return
    print(f"### Hartmann6 TPE: runs in the global basin (regret < {H6_BASIN:.4f}) [95% Wilson interval]\n")
    print("| searcher | seeds | n = 100 | n = 200 |")
    print("|---|---|---|---|")
    for side, algo, rs in rows:
        blocks = defaultdict(list)
        for r in rs:
            blocks[(r["seed"] - 1) // 100].append(r)
        groups = [(f"{100 * b + 1}–{100 * b + 100}", blocks[b]) for b in sorted(blocks)]
        if len(groups) > 1:
            groups.append((f"all {len(rs)}", rs))
        for label, g in groups:
            cells = []
            for n in (100, 200):
                k = sum(r["regret"][n - 1] < H6_BASIN for r in g)
                lo, hi = wilson(k, len(g))
                cells.append(f"{k}/{len(g)} = {k / len(g):.0%} [{lo:.0%}, {hi:.0%}]")
            print(f"| {side} {algo} | {label} | " + " | ".join(cells) + " |")
    print()


def wilson(k, n, z=1.96):
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def median_diff(a, b, rounds=2000):
    """median(a) − median(b) and its 95% percentile-bootstrap interval."""
    rng = random.Random(0)
    ds = sorted(statistics.median(rng.choices(a, k=len(a))) - statistics.median(rng.choices(b, k=len(b)))
                for _ in range(rounds))
    return statistics.median(a) - statistics.median(b), q(ds, 0.025), q(ds, 0.975)


def mf(recs):
    by = defaultdict(list)
    for r in recs:
        # runs with a first rung or η other than the default are rows of their own
        algo = r["algo"] + (f" r={r['min_steps']}" if r.get("min_steps") else "") + (f" η={r['eta']:g}" if r.get("eta") else "")
        by[(r["problem"], r["side"], algo)].append(r)
    problems = sorted({k[0] for k in by})
    print("### Multi-fidelity: incumbent (best value at max_steps) at a third of the budget and at the budget\n")
    print("Median [IQR] over seeds; lcbench is val_accuracy in % (higher is better), mfhartmann6 is f (lower is better, "
          "minimum −3.3224). *Budget to reach* is the smallest fraction of the budget at which the algorithm's median "
          "incumbent is as good as trainyard random search's median final incumbent (– : never within the budget).\n")
    print("| problem | searcher | seeds | at B/3 | at B | budget to reach random's final | trials (median) | simulated time to B (median, s) |")
    print("|---|---|---|---|---|---|---|---|")
    fractions = defaultdict(list)
    for p in problems:
        goal = next(r["goal"] for k, rs in by.items() if k[0] == p for r in rs)
        sign = 1 if goal == "min" else -1
        rnd = by.get((p, "trainyard", "random"), [])
        target = statistics.median([incumbent(r["curve"], r["budget"], goal) for r in rnd]) if rnd else math.nan
        for (pp, side, algo), rs in sorted(by.items()):
            if pp != p:
                continue
            B = rs[0]["budget"]
            at3 = [incumbent(r["curve"], B / 3, goal) for r in rs]
            atB = [incumbent(r["curve"], B, goal) for r in rs]
            frac = math.nan
            for i in range(1, 101):
                b = B * i / 100
                vals = [incumbent(r["curve"], b, goal) for r in rs]
                vals = [worst(goal) if math.isnan(v) else v for v in vals]
                if sign * statistics.median(vals) <= sign * target:
                    frac = i / 100
                    break
            fractions[(side, algo)].append(frac)
            # NaN (nothing reached max_steps yet) counts as the worst value in medians
            at3 = [worst(goal) if math.isnan(v) else v for v in at3]
            atB = [worst(goal) if math.isnan(v) else v for v in atB]
            fr = "–" if math.isnan(frac) else f"{frac:.2f}"
            trials = statistics.median([r["trials"] for r in rs])
            secs = statistics.median([r["seconds"] for r in rs])
            print(f"| {p} | {side} {algo} | {len(rs)} | {cell(at3)} | {cell(atB)} | {fr} | {trials:.0f} | {secs:.0f} |")
    print()


def rungs(recs):
    """ASHA by first rung r and reduction factor η: for each setting and
    problem, the budget at which the median incumbent reaches random
    search's median final one, and the median incumbent at B. Only runs
    that name r or η (-min-steps, -eta, --min-resource) and the default
    ASHA/SH runs take part."""
    by = defaultdict(list)
    for r in recs:
        if r["algo"] not in ("asha", "sh", "random"):
            continue
        by[(r["problem"], (r["side"], r["algo"], r.get("min_steps") or 1, r.get("eta") or 3))].append(r)
    if not any(k[2] != 1 or k[3] != 3 for _, k in by):
        return
    problems = sorted({p for p, _ in by})
    keys = sorted({k for _, k in by if k[1] != "random"}, key=lambda k: (k[0] != "trainyard", k[3], k[2]))
    print("### ASHA by first rung r and reduction factor η: budget to reach random's final (incumbent at B)\n")
    print("| searcher | r | η | " + " | ".join(p.replace("lcbench:", "") for p in problems) + " |")
    print("|---|---|---|" + "---|" * len(problems))
    for k in keys:
        cells = []
        for p in problems:
            rs, rnd = by.get((p, k)), by.get((p, ("trainyard", "random", 1, 3)))
            if not rs or not rnd:
                cells.append("")
                continue
            goal = rs[0]["goal"]
            sign = 1 if goal == "min" else -1
            target = statistics.median([incumbent(r["curve"], r["budget"], goal) for r in rnd])
            B = rs[0]["budget"]
            frac = "–"
            for i in range(1, 101):
                vals = [incumbent(r["curve"], B * i / 100, goal) for r in rs]
                vals = [worst(goal) if math.isnan(v) else v for v in vals]
                if sign * statistics.median(vals) <= sign * target:
                    frac = f"{i / 100:.2f}"
                    break
            atB = [incumbent(r["curve"], B, goal) for r in rs]
            atB = [worst(goal) if math.isnan(v) else v for v in atB]
            cells.append(f"{frac} ({fmt(statistics.median(atB))})")
        print(f"| {k[0]} {k[1]} | {k[2]} | {k[3]:g} | " + " | ".join(cells) + " |")
    print()


def main():
    recs = []
    for path in sys.argv[1:]:
        with open(path) as f:
            recs += [json.loads(line) for line in f if line.strip()]
    bb = [r for r in recs if r["mode"] == "blackbox"]
    m = [r for r in recs if r["mode"] == "mf"]
    if bb:
        blackbox(bb)
    if m:
        mf(m)
        rungs(m)


if __name__ == "__main__":
    main()
