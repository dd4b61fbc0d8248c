"""The client scenario of the differential test: the same MlflowClient and
fluent-API calls against both servers, what each returns (or raises)
compared after normalising IDs and times."""

from __future__ import annotations

import time
from pathlib import Path
import tempfile
from typing import Any, Callable, Dict, List, Tuple

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from diff import Difference, Target, normalize, observe, paths


class Ctx:
    """What a scenario gets: a client of one server, a scratch directory,
    and a place to name the IDs its answers hold."""

    def __init__(self, url: str, target: Target, tmp: Path):
        self.url, self.target, self.tmp = url, target, tmp
        self.client = MlflowClient(tracking_uri=url, registry_uri=url)
        self.obs: List[Tuple[str, Any]] = []

    def var(self, name: str, value: Any) -> Any:
        self.target.vars[name] = str(value)
        return value

    def see(self, label: str, fn: Callable[[], Any]) -> Any:
        got = observe(fn)
        self.obs.append((label, got))
        return got.get("ok")


def entity(v: Any) -> Any:
    """An MLflow entity as plain data."""
    if hasattr(v, "to_dictionary"):
        return v.to_dictionary()
    if hasattr(v, "to_proto"):
        from google.protobuf.json_format import MessageToDict
        return MessageToDict(v.to_proto(), preserving_proto_field_name=True)
    if isinstance(v, (list, tuple)):
        return [entity(x) for x in v]
    if isinstance(v, dict):
        return {k: entity(x) for k, x in v.items()}
    return v


def fluent_run(c: Ctx) -> None:
    mlflow.set_tracking_uri(c.url)
    exp = c.see("set_experiment", lambda: entity(mlflow.set_experiment("fluent")))
    c.var("exp", exp["experiment_id"])
    with mlflow.start_run(run_name="first") as run:
        c.var("run", run.info.run_id)
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=1_700_000_000_000 + step)
        mlflow.log_metrics({"acc": 0.9, "nan": float("nan")}, step=3, timestamp=1_700_000_000_100)
        mlflow.set_tags({"team": "a"})
        c.see("log_param changed", lambda: mlflow.log_param("lr", 0.02))
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"k": [1, 2]}, "cfg.json")
    rid = run.info.run_id
    c.see("get_run", lambda: entity(c.client.get_run(rid)))
    c.see("get_metric_history", lambda: entity(c.client.get_metric_history(rid, "loss")))
    c.see("list_artifacts", lambda: entity(c.client.list_artifacts(rid)))
    c.see("list_artifacts notes", lambda: entity(c.client.list_artifacts(rid, "notes")))
    c.see("load_text", lambda: mlflow.artifacts.load_text(run.info.artifact_uri + "/notes/hello.txt"))
    c.see("load_dict", lambda: mlflow.artifacts.load_dict(run.info.artifact_uri + "/cfg.json"))
    c.see("download_artifacts", lambda: sorted(p.name for p in Path(c.client.download_artifacts(rid, "", str(c.tmp / "dl"))).rglob("*")))
    c.see("search_runs", lambda: entity(c.client.search_runs([exp["experiment_id"]], "metrics.acc > 0.5")))
    c.see("search_runs df", lambda: sorted(mlflow.search_runs([exp["experiment_id"]]).columns.tolist()))


def client_calls(c: Ctx) -> None:
    cl = c.client
    eid = c.var("exp", cl.create_experiment("calls", tags={"owner": "me"}))
    c.see("get_experiment", lambda: entity(cl.get_experiment(eid)))
    run = cl.create_run(eid, run_name="c1", tags={"x": "y"}, start_time=1_700_000_000_000)
    rid = c.var("run", run.info.run_id)
    c.see("create_run", lambda: entity(run))
    cl.log_batch(rid, metrics=[Metric("m", 3.0, 1_700_000_001_000, 8), Metric("m", 3.0, 1_700_000_001_000, 8)],
                 params=[Param("q", "z")], tags=[RunTag("u", "w")])
    c.see("history after a duplicate point", lambda: entity(cl.get_metric_history(rid, "m")))
    c.see("log_batch changed param", lambda: cl.log_batch(rid, params=[Param("q", "other")]))
    c.see("delete missing tag", lambda: cl.delete_tag(rid, "nope"))
    c.see("set_terminated", lambda: cl.set_terminated(rid, "KILLED", end_time=1_700_000_002_000))
    c.see("get_run after", lambda: entity(cl.get_run(rid)))
    c.see("get unknown run", lambda: cl.get_run("0123456789abcdef0123456789abcdef"))
    c.see("search_experiments", lambda: [e.name for e in cl.search_experiments(filter_string="name = 'calls'")])


def registry_flow(c: Ctx) -> None:
    cl = c.client
    eid = c.var("exp", cl.create_experiment("reg-flow"))
    rid = c.var("run", cl.create_run(eid, start_time=1_700_000_000_000).info.run_id)
    c.see("create_registered_model", lambda: entity(cl.create_registered_model("rm", tags={"a": "b"}, description="d")))
    mv1 = c.see("create_model_version", lambda: entity(cl.create_model_version("rm", "runs:/%s/model" % rid, run_id=rid)))
    c.see("create_model_version external run", lambda: entity(cl.create_model_version("rm", "mlflow-artifacts:/x/model", run_id="external")))
    c.see("set alias", lambda: cl.set_registered_model_alias("rm", "champion", "1"))
    c.see("get by alias", lambda: entity(cl.get_model_version_by_alias("rm", "champion")))
    c.see("search_model_versions", lambda: entity(cl.search_model_versions("name = 'rm'", order_by=["version_number DESC"])))
    c.see("get_registered_model", lambda: entity(cl.get_registered_model("rm")))
    c.see("copy_model_version", lambda: entity(cl.copy_model_version("models:/rm/1", "rm-copy")))
    c.see("download uri", lambda: cl.get_model_version_download_uri("rm", "1"))
    c.see("delete_registered_model", lambda: cl.delete_registered_model("rm-copy"))
    _ = mv1


SCENARIOS: List[Tuple[str, Callable[[Ctx], None]]] = [
    ("client fluent run", fluent_run),
    ("client calls", client_calls),
    ("client registry", registry_flow),
]


def compare_scenario(name: str, fn: Callable[[Ctx], None], mlflow_url: str, trainyard_url: str) -> List[Difference]:
    ctxs = []
    for url, target in ((mlflow_url, Target("mlflow", mlflow_url)), (trainyard_url, Target("trainyard", trainyard_url))):
        with tempfile.TemporaryDirectory() as d:
            c = Ctx(url, target, Path(d))
            got = observe(lambda: fn(c))
            if "error" in got:
                c.obs.append(("scenario raised", got))
            ctxs.append(c)
    ml, ty = ctxs
    now = time.time() * 1000
    diffs = []
    for i in range(max(len(ml.obs), len(ty.obs))):
        a = ml.obs[i] if i < len(ml.obs) else ("(none)", None)
        b = ty.obs[i] if i < len(ty.obs) else ("(none)", None)
        na, nb = normalize(a[1], ml.target, now), normalize(b[1], ty.target, now)
        if a[0] != b[0] or paths(na, nb):
            diffs.append(Difference("%s: %s" % (name, a[0]), "result", na, nb))
    return diffs
