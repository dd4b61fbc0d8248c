"""The tracking API through the unmodified mlflow client."""

from __future__ import annotations

import math
import time

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def code_of(exc: pytest.ExceptionInfo) -> str:
    return exc.value.error_code


def test_fluent_flow_is_a_trainyard_run(server):
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="first") as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "opt": "adam"})
        mlflow.log_metric("loss", 1.0, step=0)
        mlflow.log_metrics({"loss": 0.5, "acc": 0.9}, step=1)
        mlflow.log_metric("weird", float("nan"))
        mlflow.log_metric("big", float("inf"))
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"a": "1"})
    got = MlflowClient().get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.info.run_name == "first"
    assert got.data.params == {"lr": "0.01", "layers": "3", "opt": "adam"}
    assert got.data.metrics["loss"] == 0.5 and got.data.metrics["acc"] == 0.9
    assert math.isnan(got.data.metrics["weird"]) and got.data.metrics["big"] == math.inf
    assert got.data.tags["team"] == "vision" and got.data.tags["mlflow.runName"] == "first"
    assert got.info.artifact_uri == "mlflow-artifacts:/%s/%s/artifacts" % (got.info.experiment_id, run.info.run_id)

    # One data model: the same run through the native API.
    native = server.json("GET", "/api/v1/runs/" + run.info.run_id)
    assert native["project"] == "fluent" and native["name"] == "first" and native["state"] == "SUCCEEDED"
    assert native["config"]["lr"] == "0.01" and native["tags"]["team"] == "vision"
    assert native["metrics"]["loss"]["last"] == 0.5 and native["metrics"]["loss"]["count"] == 2


def test_default_experiment_is_zero_and_the_default_project(server):
    client = MlflowClient()
    exp = client.get_experiment("0")
    assert exp.name == "Default"
    assert client.get_experiment_by_name("Default").experiment_id == "0"
    run = client.create_run("0")
    assert server.json("GET", "/api/v1/runs/" + run.info.run_id)["project"] == "default"


def test_native_runs_appear_as_experiments_and_in_search(server):
    native = server.json("POST", "/api/v1/runs", {"project": "native-only", "name": "n1", "config": {"lr": 0.5, "model": {"depth": 4}}})
    server.json("POST", "/api/v1/runs/%s/metrics" % native["id"], {"points": [{"key": "loss", "value": 0.25, "step": 3}]})
    exp = MlflowClient().get_experiment_by_name("native-only")
    assert exp is not None
    runs = MlflowClient().search_runs([exp.experiment_id], "metrics.loss < 0.3 and params.`model.depth` = '4'")
    assert [r.info.run_id for r in runs] == [native["id"]]
    assert runs[0].data.params["lr"] == "0.5" and runs[0].data.metrics["loss"] == 0.25


def test_client_calls(server):
    client = MlflowClient()
    exp_id = client.create_experiment("client-calls", tags={"owner": "me"})
    exp = client.get_experiment(exp_id)
    assert exp.name == "client-calls" and exp.tags["owner"] == "me" and exp.lifecycle_stage == "active"
    client.set_experiment_tag(exp_id, "k", "v")
    assert client.get_experiment(exp_id).tags["k"] == "v"
    client.delete_experiment_tag(exp_id, "k")
    assert "k" not in client.get_experiment(exp_id).tags
    client.rename_experiment(exp_id, "client-calls-2")
    assert client.get_experiment_by_name("client-calls-2").experiment_id == exp_id
    assert client.get_experiment_by_name("client-calls") is None

    run = client.create_run(exp_id, run_name="c1", tags={"x": "y"}, start_time=1_700_000_000_000)
    rid = run.info.run_id
    assert run.info.start_time == 1_700_000_000_000 and run.info.status == "RUNNING"
    client.log_param(rid, "p", "1")
    client.log_param(rid, "p", "1")  # the same value again is fine
    client.log_metric(rid, "m", 2.0, timestamp=1_700_000_000_500, step=7)
    client.set_tag(rid, "t", "1")
    client.set_tag(rid, "t", "2")  # tags are overwritable
    client.delete_tag(rid, "x")
    client.log_batch(rid, metrics=[Metric("m", 3.0, 1_700_000_001_000, 8), Metric("n", -1.0, 0, 0)],
                     params=[Param("q", "z")], tags=[RunTag("u", "w")])
    client.update_run(rid, status="FAILED", name="renamed")
    got = client.get_run(rid)
    assert got.info.status == "FAILED" and got.info.run_name == "renamed"
    assert got.data.params == {"p": "1", "q": "z"}
    assert got.data.metrics == {"m": 3.0, "n": -1.0}
    assert got.data.tags["t"] == "2" and got.data.tags["u"] == "w" and "x" not in got.data.tags
    hist = client.get_metric_history(rid, "m")
    assert [(m.step, m.value, m.timestamp) for m in hist] == [(7, 2.0, 1_700_000_000_500), (8, 3.0, 1_700_000_001_000)]
    assert client.get_metric_history(rid, "never-logged") == []

    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    assert client.search_runs([exp_id]) == []
    assert [r.info.run_id for r in client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)] == [rid]
    # Deleted runs are hidden from the native listing too.
    assert rid not in [r["id"] for r in server.json("GET", "/api/v1/runs?project=client-calls-2")["runs"]]
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert exp_id not in [e.experiment_id for e in client.search_experiments()]
    assert exp_id in [e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"
    assert [e.name for e in client.search_experiments(filter_string="name LIKE 'client-calls%'")] == ["client-calls-2"]


def test_log_inputs(server):
    import numpy as np

    mlflow.set_experiment("inputs")
    ds = mlflow.data.from_numpy(np.arange(10.0), name="ten")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="train")
    inputs = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.tags[0].value) for i in inputs] == [("ten", "train")]


def test_metric_history_paging_over_many_points(server):
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    n = 30_000  # more than one 25,000-point page
    for lo in range(0, n, 1000):
        client.log_batch(rid, metrics=[Metric("x", float(i), 1_700_000_000_000 + i, i) for i in range(lo, lo + 1000)])
    hist = client.get_metric_history(rid, "x")
    assert len(hist) == n and [m.step for m in hist[:3]] == [0, 1, 2] and hist[-1].value == n - 1
    page = client._tracking_client.store.get_metric_history(rid, "x", max_results=100)
    assert len(page) == 100 and page.token
    page2 = client._tracking_client.store.get_metric_history(rid, "x", max_results=100, page_token=page.token)
    assert page2[0].step == 100

    # Bulk interval: sampled steps, the first and last always kept.
    body = {"run_ids": [rid], "metric_key": "x", "max_results": 5, "start_step": 0, "end_step": 100}
    from urllib.parse import urlencode
    status, raw = server.request("GET", "/api/2.0/mlflow/metrics/get-history-bulk-interval?" + urlencode(body, doseq=True))
    import json
    assert status == 200, raw
    steps = [m["step"] for m in json.loads(raw)["metrics"]]
    assert steps[0] == 0 and steps[-1] == 100 and len(steps) == 5


def test_search_runs_filters_order_and_paging(server):
    client = MlflowClient()
    exp_id = client.create_experiment("search-many")
    ids = []
    for i in range(300):
        r = client.create_run(exp_id, run_name="run-%03d" % i, start_time=1_700_000_000_000 + i * 1000,
                              tags={"parity": "even" if i % 2 == 0 else "odd"})
        client.log_batch(r.info.run_id, metrics=[Metric("loss", 1.0 / (i + 1), 0, 0), Metric("i", float(i), 0, 0)],
                         params=[Param("bucket", str(i % 10))])
        if i % 3 == 0:
            client.set_terminated(r.info.run_id)
        ids.append(r.info.run_id)

    # Default order: start_time DESC.
    runs = client.search_runs([exp_id], max_results=5)
    assert [r.info.run_name for r in runs] == ["run-299", "run-298", "run-297", "run-296", "run-295"]

    # Paging with opaque tokens covers every run once.
    seen, token = [], None
    while True:
        page = client.search_runs([exp_id], max_results=70, page_token=token)
        seen += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 300

    cases = [
        ("metrics.loss < 0.01", None, lambda i: 1.0 / (i + 1) < 0.01),
        ("metrics.i >= 290 and tags.parity = 'even'", None, lambda i: i >= 290 and i % 2 == 0),
        ("params.bucket = '3'", None, lambda i: i % 10 == 3),
        ("params.bucket IN ('1', '2')", None, lambda i: i % 10 in (1, 2)),
        ("attributes.run_name LIKE 'run-01%'", None, lambda i: 10 <= i <= 19),
        ("attributes.run_name ILIKE 'RUN-02%'", None, lambda i: 20 <= i <= 29),
        ("attributes.status = 'FINISHED' and metrics.i < 10", None, lambda i: i % 3 == 0 and i < 10),
        ("attributes.status IN ('RUNNING') and metrics.i < 5", None, lambda i: i % 3 != 0 and i < 5),
        ("tags.mlflow.runName = 'run-007'", None, lambda i: i == 7),
        ("attributes.start_time > %d" % (1_700_000_000_000 + 295_000), None, lambda i: i > 295),
    ]
    for flt, _, pred in cases:
        got = {r.info.run_name for r in client.search_runs([exp_id], flt, max_results=1000)}
        want = {"run-%03d" % i for i in range(300) if pred(i)}
        assert got == want, flt

    runs = client.search_runs([exp_id], "metrics.i < 50", order_by=["metrics.loss ASC"], max_results=3)
    assert [r.info.run_name for r in runs] == ["run-049", "run-048", "run-047"]
    runs = client.search_runs([exp_id], order_by=["params.bucket DESC", "metrics.i ASC"], max_results=2)
    assert [r.info.run_name for r in runs] == ["run-009", "run-019"]
    runs = client.search_runs([exp_id], order_by=["attributes.run_name ASC"], max_results=2)
    assert [r.info.run_name for r in runs] == ["run-000", "run-001"]

    # The fluent search pages through everything into a DataFrame.
    df = mlflow.search_runs(experiment_ids=[exp_id], filter_string="tags.parity = 'odd'")
    assert len(df) == 150


def test_error_codes(server):
    client = MlflowClient()
    rid = client.create_run("0").info.run_id
    client.log_param(rid, "p", "a")
    with pytest.raises(MlflowException) as e:
        client.log_param(rid, "p", "b")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.log_batch(rid, params=[Param("p", "c")])
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.log_param(rid, "long", "x" * 6001)
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.log_metric(rid, "k" * 251, 1.0)
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.get_run("000000000000")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_experiment("987654")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    client.create_experiment("dup")
    with pytest.raises(MlflowException) as e:
        client.create_experiment("dup")
    assert code_of(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.delete_tag(rid, "no-such-tag")
    assert code_of(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.search_runs(["0"], "metrics.loss <<< 1")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.search_runs(["0"], max_results=50_001)
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.search_runs(["0"], page_token="not-a-token")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.delete_experiment("0")
    assert code_of(e) == "INVALID_PARAMETER_VALUE"
    client.delete_run(rid)
    with pytest.raises(MlflowException) as e:
        client.log_metric(rid, "m", 1.0)
    assert code_of(e) == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("body,field", [
    ({"metrics": [{"key": "m", "value": 1, "timestamp": 0, "step": i} for i in range(1001)]}, "metrics"),
    ({"params": [{"key": "p%d" % i, "value": "v"} for i in range(101)]}, "params"),
    ({"tags": [{"key": "t%d" % i, "value": "v"} for i in range(101)]}, "tags"),
    ({"metrics": [{"key": "m", "value": 1, "timestamp": 0, "step": i} for i in range(950)],
      "params": [{"key": "p%d" % i, "value": "v"} for i in range(60)]}, "metrics, params, and tags"),  # MLflow's words
    ({"params": [{"key": "k" * 251, "value": "v"}]}, "key"),
    ({"params": [{"key": "p", "value": "v" * 6001}]}, "6000"),
    ({"metrics": [{"key": "m", "value": "bogus", "timestamp": 0, "step": 0}]}, "value"),
])
def test_log_batch_limits_are_invalid_parameter_value(server, body, field):
    rid = MlflowClient().create_run("0").info.run_id
    status, raw = server.request("POST", "/api/2.0/mlflow/runs/log-batch", dict(body, run_id=rid))
    import json
    err = json.loads(raw)
    assert status == 400 and err["error_code"] == "INVALID_PARAMETER_VALUE", raw[:300]
    assert field in err["message"] or field in ("metrics", "params", "tags")
    # Nothing of a refused batch is stored.
    assert MlflowClient().get_run(rid).data.params == {}


def test_log_batch_accepts_special_values_and_string_ints(server):
    rid = MlflowClient().create_run("0").info.run_id
    body = {"run_id": rid, "metrics": [
        {"key": "s", "value": "NaN", "timestamp": "1700000000000", "step": "1"},
        {"key": "s", "value": "Infinity", "timestamp": 1700000000001, "step": 2},
        {"key": "s", "value": "-Infinity", "timestamp": 1700000000002, "step": 3}], "unknown_field": True}
    assert server.json("POST", "/api/2.0/mlflow/runs/log-batch", body) == {}
    vals = [m.value for m in MlflowClient().get_metric_history(rid, "s")]
    assert math.isnan(vals[0]) and vals[1:] == [math.inf, -math.inf]


def test_protocol_edges(server):
    import json
    status, raw = server.request("POST", "/api/2.0/mlflow/no/such/endpoint", {})
    assert status == 404 and json.loads(raw)["error_code"] == "ENDPOINT_NOT_FOUND"
    status, raw = server.request("GET", "/ajax-api/2.0/mlflow/experiments/get?experiment_id=0")
    assert status == 200 and json.loads(raw)["experiment"]["name"] == "Default"
    status, raw = server.request("POST", "/api/2.0/mlflow/traces", {})
    assert status == 501 and json.loads(raw)["error_code"] == "NOT_IMPLEMENTED"
    info = server.json("GET", "/api/3.0/mlflow/server-info")
    direct = server.s3 is not None  # an object store offers multipart and presigned transfers
    assert info["multipart_uploads_enabled"] is direct and info["multipart_downloads_enabled"] is direct
    assert server.request("GET", "/health") == (200, b"OK")
    assert server.request("GET", "/version")[0] == 200


def test_update_run_does_not_500_on_garbage(server):
    import json
    for path, body in [("/api/2.0/mlflow/runs/update", {"run_id": "x", "status": "BOGUS"}),
                       ("/api/2.0/mlflow/runs/create", b"{not json"),
                       ("/api/2.0/mlflow/runs/search", {"experiment_ids": ["0"], "max_results": "many"}),
                       ("/api/2.0/mlflow/experiments/get", None)]:
        status, raw = server.request("POST" if body is not None else "GET", path, body)
        assert 400 <= status < 500, (path, status, raw)
        assert "error_code" in json.loads(raw)


def test_token_protected_server(tmp_path, monkeypatch):
    from conftest import Server

    s = Server(tmp_path / "data", token="s3cret").start()
    try:
        client = MlflowClient(s.url)
        with pytest.raises(MlflowException):
            client.create_run("0")
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret")
        run = client.create_run("0")
        client.log_metric(run.info.run_id, "m", 1.0)
        assert client.get_run(run.info.run_id).data.metrics == {"m": 1.0}
    finally:
        s.stop()
