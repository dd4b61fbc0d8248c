"""log_artifact: files and directories, uploaded by the sender thread."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import Server
import trainyard


def test_file_and_nested_directory_upload(server: Server, tmp_path: Path, clean_env: Path):
    model = tmp_path / "model.bin"
    model.write_bytes(os.urandom(200_000))
    ckpt = tmp_path / "ckpt"
    (ckpt / "a" / "b").mkdir(parents=True)
    files = {"top.txt": b"top", "a/mid.json": b'{"x": 1}', "a/b/deep.bin": os.urandom(5000), "a/b/empty": b""}
    for rel, data in files.items():
        (ckpt / rel).write_bytes(data)

    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.log_artifact(str(model))
    run.log_artifact(ckpt, name="checkpoints/epoch1")
    run.log_artifact(str(model), name="renamed/model.bin")
    original = model.read_bytes()
    model.write_bytes(b"overwritten right after log_artifact")  # the upload is of the copy taken at the call
    run.finish()

    listed = server.get("/api/v1/runs/%s/artifacts?recursive=true" % run.id)["artifacts"]
    paths = {a["path"] for a in listed if not a.get("dir")}
    want = {"model.bin", "renamed/model.bin"} | {"checkpoints/epoch1/" + rel for rel in files}
    assert paths == want
    sizes = {a["path"]: a["size"] for a in listed}
    assert sizes["model.bin"] == 200_000
    assert server.artifact(run.id, "model.bin") == original
    assert server.artifact(run.id, "renamed/model.bin") == original
    for rel, data in files.items():
        assert server.artifact(run.id, "checkpoints/epoch1/" + rel) == data
    assert not (clean_env / (run.id + ".artifacts")).exists()  # staged copies are removed once uploaded


def test_missing_artifact_warns_or_raises_in_strict_mode(server: Server, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture):
    run = trainyard.init(url=server.url, system_metrics_interval=0)
    run.log_artifact(str(tmp_path / "nope"))
    assert "trainyard: log_artifact" in capsys.readouterr().err
    run.finish()
    strict = trainyard.init(url=server.url, system_metrics_interval=0, strict=True)
    with pytest.raises(FileNotFoundError):
        strict.log_artifact(str(tmp_path / "nope"))
    with pytest.raises(ValueError):
        strict.log_artifact(str(tmp_path), name="../escape")
    strict.finish()
