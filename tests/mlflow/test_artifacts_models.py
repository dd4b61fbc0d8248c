"""Artifacts through the proxy, logged models, the registry, autologging."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def test_artifacts_up_down_list_nested(server, tmp_path: Path):
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    (src / "top.txt").write_text("top")
    (src / "a" / "mid.bin").write_bytes(bytes(range(256)) * 100)
    (src / "a" / "b" / "leaf.json").write_text('{"x": 1}')
    mlflow.set_experiment("artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src / "top.txt"))
        mlflow.log_artifacts(str(src), artifact_path="tree")
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"k": [1, 2]}, "cfg.json")
    rid = run.info.run_id
    client = MlflowClient()
    assert {f.path for f in client.list_artifacts(rid)} == {"top.txt", "tree", "notes", "cfg.json"}
    assert {(f.path, f.is_dir) for f in client.list_artifacts(rid, "tree/a")} == {("tree/a/b", True), ("tree/a/mid.bin", False)}
    assert [f.file_size for f in client.list_artifacts(rid, "tree/a") if not f.is_dir] == [25600]
    out = Path(client.download_artifacts(rid, "tree", str(tmp_path / "dl")))
    assert (out / "a" / "b" / "leaf.json").read_text() == '{"x": 1}'
    assert (out / "a" / "mid.bin").read_bytes() == (src / "a" / "mid.bin").read_bytes()
    assert mlflow.artifacts.load_text(run.info.artifact_uri + "/notes/hello.txt") == "hello"
    assert mlflow.artifacts.load_dict(run.info.artifact_uri + "/cfg.json") == {"k": [1, 2]}

    # The same files through the native API (what `trainyard runs show` lists).
    native = server.json("GET", "/api/v1/runs/%s/artifacts?recursive=true" % rid)
    assert {a["path"] for a in native["artifacts"]} >= {"top.txt", "tree/a/b/leaf.json", "notes/hello.txt"}

    # DELETE through the proxy.
    base = "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts" % (run.info.experiment_id, rid)
    assert server.request("DELETE", base + "/top.txt")[0] == 200
    assert "top.txt" not in {f.path for f in client.list_artifacts(rid)}


def test_artifact_paths_cannot_escape(server):
    client = MlflowClient()
    victim = client.create_run("0").info.run_id
    attacker = client.create_run("0").info.run_id
    base = "/api/2.0/mlflow-artifacts/artifacts/0/%s/artifacts" % attacker
    for path in ["/../../%s/artifacts/x.txt" % victim, "/..%%2F..%%2F%s/artifacts/x.txt" % victim, "/a/../../../x", "/%2e%2e/x"]:
        status, raw = server.request("PUT", base + path, b"evil")
        assert status == 400 and json.loads(raw)["error_code"] == "INVALID_PARAMETER_VALUE", (path, status, raw)
    status, raw = server.request("GET", "/api/2.0/mlflow-artifacts/artifacts?path=0/%s/artifacts/../../%s/artifacts" % (attacker, victim))
    assert status == 400, raw
    assert client.list_artifacts(victim) == []


def test_sklearn_autolog_of_a_real_fit(server):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment("autolog")
    mlflow.sklearn.autolog()
    try:
        X, y = load_iris(return_X_y=True)
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=300).fit(X, y)
    finally:
        mlflow.sklearn.autolog(disable=True)
    got = MlflowClient().get_run(run.info.run_id)
    assert got.data.params["max_iter"] == "300"
    assert got.data.metrics["training_accuracy_score"] > 0.9
    assert got.data.tags["estimator_name"] == "LogisticRegression"
    assert got.inputs.dataset_inputs, "autolog records the training set"
    assert got.outputs.model_outputs, "autolog logs the model"
    model = mlflow.sklearn.load_model("models:/%s" % got.outputs.model_outputs[0].model_id)
    assert (model.predict(X) == y).mean() > 0.9


def test_log_model_load_model_and_registry(server):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.set_experiment("registry")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(clf, name="model", input_example=X[:2])
    assert info.model_uri.startswith("models:/m-")
    loaded = mlflow.sklearn.load_model(info.model_uri)
    assert (loaded.predict(X) == clf.predict(X)).all()
    lm = MlflowClient().get_logged_model(info.model_id)
    assert lm.status.to_proto() == 2 and lm.source_run_id == run.info.run_id  # READY

    client = MlflowClient()
    v1 = mlflow.register_model(info.model_uri, "iris-tree")
    v2 = mlflow.register_model("runs:/%s/model" % run.info.run_id, "iris-tree")
    assert (v1.version, v2.version) == ("1", "2") and v1.status == "READY"
    assert v1.run_id == run.info.run_id
    client.set_registered_model_alias("iris-tree", "champion", "2")
    assert client.get_model_version_by_alias("iris-tree", "champion").version == "2"
    assert (mlflow.sklearn.load_model("models:/iris-tree@champion").predict(X) == clf.predict(X)).all()
    assert (mlflow.pyfunc.load_model("models:/iris-tree/1").predict(X[:5]) == clf.predict(X[:5])).all()

    client.update_registered_model("iris-tree", description="trees")
    client.set_registered_model_tag("iris-tree", "team", "cv")
    client.set_model_version_tag("iris-tree", "1", "validated", "yes")
    client.update_model_version("iris-tree", "1", description="first")
    client.transition_model_version_stage("iris-tree", "1", "Production")
    client.transition_model_version_stage("iris-tree", "2", "Production", archive_existing_versions=True)
    assert client.get_model_version("iris-tree", "1").current_stage == "Archived"
    latest = client.get_latest_versions("iris-tree", stages=["Production"])
    assert [v.version for v in latest] == ["2"]
    rm = client.get_registered_model("iris-tree")
    assert rm.description == "trees" and rm.tags == {"team": "cv"} and rm.aliases == {"champion": "2"}
    mv1 = client.get_model_version("iris-tree", "1")
    assert mv1.tags == {"validated": "yes"} and mv1.description == "first"
    assert client.get_model_version_download_uri("iris-tree", "1") == lm.artifact_location
    assert [m.name for m in client.search_registered_models("name LIKE 'iris%'")] == ["iris-tree"]
    assert sorted(v.version for v in client.search_model_versions("name = 'iris-tree'")) == ["1", "2"]

    client.delete_registered_model_alias("iris-tree", "champion")
    client.delete_registered_model_tag("iris-tree", "team")
    client.delete_model_version_tag("iris-tree", "1", "validated")
    client.rename_registered_model("iris-tree", "iris-forest")
    assert client.get_model_version("iris-forest", "2").version == "2"
    client.delete_model_version("iris-forest", "1")
    with pytest.raises(MlflowException) as e:
        client.get_model_version("iris-forest", "1")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.create_registered_model("iris-forest")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"
    client.delete_registered_model("iris-forest")
    with pytest.raises(MlflowException) as e:
        client.get_registered_model("iris-forest")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_logged_model_api(server):
    client = MlflowClient()
    exp = client.create_experiment("logged-models")
    m = client.create_logged_model(exp, name="m1", params={"a": "1"}, tags={"t": "x"}, model_type="agent")
    assert m.status.to_proto() == 1  # PENDING
    client.set_logged_model_tags(m.model_id, {"u": "y"})
    client.log_model_params(m.model_id, {"b": "2"})
    client.finalize_logged_model(m.model_id, mlflow.entities.LoggedModelStatus.READY)
    got = client.get_logged_model(m.model_id)
    assert got.params == {"a": "1", "b": "2"} and got.tags["u"] == "y" and got.tags["t"] == "x"
    client.delete_logged_model_tag(m.model_id, "t")
    assert "t" not in client.get_logged_model(m.model_id).tags
    found = client.search_logged_models([exp], filter_string="name = 'm1'")
    assert [x.model_id for x in found] == [m.model_id]
    client.delete_logged_model(m.model_id)
    assert client.search_logged_models([exp]) == []


def test_artifact_root_is_configurable_as_in_mlflow(tmp_path: Path, monkeypatch):
    """--artifacts-destination puts the artifact store's files in a directory of
    one's choosing; --default-artifact-root makes new experiments keep their
    artifacts there (a local directory: the client writes to it itself)."""
    from conftest import Server

    dest, root = tmp_path / "dest", tmp_path / "root"
    s = Server(tmp_path / "data", args=["--artifacts-destination", str(dest)]).start()
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", s.url)
        mlflow.set_tracking_uri(s.url)
        mlflow.set_experiment("dest")
        with mlflow.start_run() as run:
            mlflow.log_text("proxied", "a/b.txt")
        assert (dest / run.info.run_id / "a" / "b.txt").read_text() == "proxied"
    finally:
        s.stop()
    s = Server(tmp_path / "data2", args=["--default-artifact-root", str(root)]).start()
    try:
        mlflow.set_tracking_uri(s.url)
        client = MlflowClient(s.url)
        exp_id = client.create_experiment("rooted")
        assert client.get_experiment(exp_id).artifact_location == str(root / exp_id)
        with mlflow.start_run(experiment_id=exp_id) as run:
            mlflow.log_text("direct", "c.txt")
        assert run.info.artifact_uri == str(root / exp_id / run.info.run_id / "artifacts")
        assert (root / exp_id / run.info.run_id / "artifacts" / "c.txt").read_text() == "direct"
        assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["c.txt"]  # the client lists the directory itself
        assert s.json("GET", "/api/v1/runs/%s/artifacts" % run.info.run_id)["artifacts"] == []  # not in the server's store
    finally:
        s.stop()
