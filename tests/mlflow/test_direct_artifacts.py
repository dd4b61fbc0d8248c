"""Large artifacts with MLflow's multipart uploads and presigned downloads.

Over S3 artifacts (TRAINYARD_TEST_ARTIFACTS=s3) the server advertises them
in server-info, as MLflow's server does over S3, and the real client uploads
a large file in parts straight to the bucket (mlflow-artifacts/mpu/create,
presigned part URLs, mpu/complete) and downloads it in ranges from a
presigned URL. Over the local disk it advertises neither, and a client told
to try multipart anyway (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD) is answered
MLflow's "not supported" and falls back to the proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import mlflow
import requests
from mlflow import MlflowClient

SIZE = 48 * 1024 * 1024 + 12345  # 7 parts of 7 MiB, the last short
PART = 7 * 1024 * 1024


def big_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(SIZE // (1 << 20) + 1):
            block = hashlib.sha256(b"%d" % i).digest() * (1 << 15)  # 1 MiB that differs per MiB
            block = block[: min(1 << 20, SIZE - i * (1 << 20))]
            f.write(block)
            h.update(block)
    return h.hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def test_large_artifact_up_and_down(server, tmp_path: Path, monkeypatch):
    info = server.json("GET", "/api/3.0/mlflow/server-info")
    direct = server.s3 is not None
    assert info["multipart_uploads_enabled"] is direct
    assert info["multipart_downloads_enabled"] is direct

    # Small thresholds so that a 48 MiB file goes in 7 parts and comes back in 4 ranges.
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(10 << 20))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(PART))
    monkeypatch.setenv("MLFLOW_MULTIPART_DOWNLOAD_CHUNK_SIZE", str(16 << 20))
    if not direct:
        monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    src = tmp_path / "model.ckpt"
    want = big_file(src)
    mlflow.set_experiment("direct-artifacts")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(src), artifact_path="checkpoints")
    rid = run.info.run_id

    native = server.json("GET", "/api/v1/runs/%s/artifacts?recursive=true" % rid)["artifacts"]
    assert [(a["path"], a["size"]) for a in native] == [("checkpoints/model.ckpt", SIZE)]

    path = "%s/%s/artifacts/checkpoints/model.ckpt" % (run.info.experiment_id, rid)
    status, raw = server.request("GET", "/api/2.0/mlflow-artifacts/presigned/" + path)
    if direct:
        assert status == 200, raw
        pre = json.loads(raw)
        assert pre["file_size"] == SIZE
        # The object in the bucket is the client's 7 parts: S3's multipart ETag says so.
        r = requests.get(pre["url"], headers=dict(pre["headers"], Range="bytes=0-0"), timeout=30)
        assert r.status_code == 206, r.text
        assert r.headers["ETag"].strip('"').endswith("-7"), r.headers["ETag"]
    else:
        assert status == 501, raw

    out = Path(MlflowClient().download_artifacts(rid, "checkpoints/model.ckpt", str(tmp_path / "dl")))
    assert out.stat().st_size == SIZE
    assert sha256(out) == want


def test_multipart_requests_refused_clearly(server):
    """mpu/* without a file name, with a wrong part count or an unknown upload
    are client errors with MLflow's codes (never a 5xx the client retries)."""
    exp = MlflowClient().create_experiment("mpu-errors")
    rid = MlflowClient().create_run(exp).info.run_id
    base = "/api/2.0/mlflow-artifacts/mpu"
    cases = [
        ("create", "%s/%s/artifacts" % (exp, rid), {"path": "", "num_parts": 2}),
        ("create", "%s/%s/artifacts" % (exp, rid), {"path": "/tmp/x.bin", "num_parts": 10001}),
        ("create", "%s/%s/artifacts" % (exp, rid), {"path": "/tmp/x.bin", "num_parts": 0}),
        ("complete", "%s/%s/artifacts" % (exp, rid), {"path": "/tmp/x.bin", "upload_id": "nope", "parts": [{"part_number": 1, "etag": "x"}]}),
        ("abort", "%s/%s/artifacts" % (exp, rid), {"path": "/tmp/x.bin", "upload_id": "nope"}),
    ]
    for op, path, body in cases:
        status, raw = server.request("POST", "%s/%s/%s" % (base, op, path), body)
        if server.s3 is None:
            assert status == 501 and json.loads(raw)["message"].startswith("Multipart upload is not supported"), (op, raw)
        else:
            assert 400 <= status < 500, (op, body, status, raw)
            assert json.loads(raw)["error_code"], raw
