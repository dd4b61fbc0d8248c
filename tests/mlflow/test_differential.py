"""Differential tests: the real MLflow server (pinned mlflow, SQLite backend,
--serve-artifacts) and trainyard, started side by side, get the same REST
requests (scenario_rest.py) and the same MlflowClient calls
(scenario_client.py); their answers must match after normalising IDs, times
and generated names, except for the differences allowlist.py lists with
their reasons (mirrored in docs/mlflow.md).

    python tests/mlflow/test_differential.py [--mlflow-url URL]   # print every difference

prints the differences without the allow-list, for work on them.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from allowlist import ALLOWED  # noqa: E402
from conftest import REPO, Server  # noqa: E402
from diff import Difference, Target, route_regex, run_rest, unexplained  # noqa: E402
from realmlflow import MlflowServer  # noqa: E402
import scenario_client  # noqa: E402
import scenario_rest  # noqa: E402

ROUTES = Path(__file__).parent / "routes.txt"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[str, str]]:
    ml = MlflowServer(tmp_path_factory.mktemp("real-mlflow"))
    # Both on local artifacts (the real server's are a directory): with
    # TRAINYARD_TEST_ARTIFACTS=s3 trainyard would offer multipart transfers.
    tydir = tmp_path_factory.mktemp("diff-trainyard")
    ty = Server(tydir / "data", args=["--artifacts-destination", str(tydir / "artifacts")])
    ty.start()
    try:
        ml.start()
        yield ml.url, ty.url
    finally:
        ml.stop()
        ty.stop()


def differences(mlflow_url: str, trainyard_url: str) -> Tuple[List[Difference], List[Tuple[str, str]]]:
    ml, ty = Target("mlflow", mlflow_url), Target("trainyard", trainyard_url)
    diffs, sent = run_rest(scenario_rest.steps(), ml, ty)
    for name, fn in scenario_client.SCENARIOS:
        diffs += scenario_client.compare_scenario(name, fn, mlflow_url, trainyard_url)
    return diffs, sent


def uncovered(sent: List[Tuple[str, str]]) -> List[str]:
    """Routes of routes.txt that fewer than two steps (good input and bad)
    exercised; a route marked "once" needs one."""
    out = []
    for line in ROUTES.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        method, pattern, *flags = line.split()
        rx = route_regex(pattern)
        n = sum(1 for m, p in sent if (m == method or method == "*") and rx.match(p.split("?")[0]))
        if n < (1 if "once" in flags else 2):
            out.append("%s (%d steps)" % (line, n))
    return out


def test_trainyard_answers_as_the_real_mlflow_server(pair):
    diffs, sent = differences(*pair)
    missing = uncovered(sent)
    assert not missing, "routes.txt routes without good and bad input in scenario_rest.py:\n" + "\n".join(missing)
    left = unexplained(diffs, ALLOWED)
    assert not left, "%d differences from the real MLflow server are not in allowlist.py:\n\n%s" % (
        len(left), "\n\n".join(str(d) for d in left))
    unused = [a.id for a in ALLOWED if not a.used]
    assert not unused, "allow-list entries that no longer match a difference (remove them): %s" % unused


def test_allowlist_is_mirrored_in_the_docs():
    doc = (REPO / "docs" / "mlflow.md").read_text()
    missing = [a.id for a in ALLOWED if not re.search(r"\|\s*`%s`\s*\|" % re.escape(a.id), doc)]
    assert not missing, "docs/mlflow.md lacks allow-list entries: %s" % missing


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--mlflow-url", help="a fresh mlflow server (default: start one)")
    ap.add_argument("--all", action="store_true", help="print allowed differences too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        ty = Server(Path(d) / "ty").start()
        ml = None
        url = args.mlflow_url
        if not url:
            ml = MlflowServer(Path(d) / "ml").start()
            url = ml.url
        try:
            diffs, sent = differences(url, ty.url)
            for r in uncovered(sent):
                print("not covered:", r)
            shown = diffs if args.all else unexplained(diffs, ALLOWED)
            for d_ in shown:
                print(d_, end="\n\n")
            print("%d differences, %d not allowed" % (len(diffs), len(unexplained(diffs, ALLOWED))))
            print("allow-list entries unused:", [a.id for a in ALLOWED if not a.used])
        finally:
            ty.stop()
            if ml:
                ml.stop()
