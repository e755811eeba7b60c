"""The whole pipeline S3 -> S3 against a real S3 server, compared with a local run."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pandas as pd
import pytest

from scripts.local_s3 import BUCKET
from tests.conftest import SMALL_CLASSES, copy_subset, newest_file, newest_version
from tests.e2e.conftest import WITHOUT_APP_EXPORT, kedro
from tests.s3.conftest import (
    PREFIX,
    newest_s3_version,
    point_s3_local_at,
    s3_filesystem,
    upload_images,
)

pytestmark = [pytest.mark.s3, pytest.mark.e2e]

_buffer = io.BytesIO()
pd.DataFrame({"path": ["old"]}).to_parquet(_buffer)
STALE_PARQUET = _buffer.getvalue()  # a readable version of an earlier run


def relative(path: str) -> str:
    """split/class/file: the part of a path that a local and an S3 run share."""
    return "/".join(path.split("/")[-3:])


def test_s3_to_s3_run_matches_the_local_run(project_copy, s3_env, tmp_path, weights_path):
    images = copy_subset(tmp_path / "fruits", SMALL_CLASSES, {"Training": 4, "Test": 2})
    (images / "notes.txt").write_text("not an image: ignored and counted in the log")
    assert upload_images(s3_env, images) == 19
    point_s3_local_at(project_copy, s3_env)
    fs = s3_filesystem(s3_env)
    # The weights are data too: served by the same S3 server, with the env's endpoint.
    weights_key = f"{BUCKET}/{PREFIX}/06_models/mobilenet_v2.weights.h5"
    fs.put_file(weights_path, weights_key)
    # Old versions from earlier runs: keep_versions=1 prunes them after this run.
    stale = [
        f"{BUCKET}/{PREFIX}/{folder}/2026-01-01T00.00.00.000Z/{name}/_SUCCESS"
        for folder, name in (
            ("04_feature/image_features.parquet", "image_features.parquet"),
            ("06_models/model_bundle", "model_bundle"),
        )
    ]
    for key in stale:
        fs.pipe(key, b"")
        fs.pipe(key.replace("_SUCCESS", "part-0.parquet"), STALE_PARQUET)
    params = f"featurization.weights=s3://{weights_key},reduction.k=4"

    started = time.monotonic()
    kedro(
        project_copy, "run", "--env", "local", *WITHOUT_APP_EXPORT,
        "--params", f"input_path={images},reduction.k=4,featurization.weights={weights_path}",
    )  # fmt: skip
    local_seconds = time.monotonic() - started
    started = time.monotonic()
    result = kedro(
        project_copy, "run", "--env", "s3_local", "--params", f"{params},keep_versions=1"
    )
    s3_seconds = time.monotonic() - started
    print(f"wall time: local {local_seconds:.1f} s, S3 -> S3 {s3_seconds:.1f} s")
    assert ": 18 images, 1 .txt ignored" in result.stdout

    options = {"key": s3_env.access_key, "secret": s3_env.secret_key,
               "client_kwargs": fs.client_kwargs}  # fmt: skip
    root = f"s3://{BUCKET}/{PREFIX}"
    data = project_copy / "data"

    # Features: same rows, labels, splits and values as the local run of the same images.
    remote = pd.read_parquet(
        newest_s3_version(s3_env, f"{BUCKET}/{PREFIX}/04_feature/image_features.parquet"),
        storage_options=options,
    )
    local = pd.read_parquet(newest_version(data / "04_feature" / "image_features.parquet"))
    assert len(remote) == len(local) == 18
    assert remote["path"].str.startswith(f"s3a://{BUCKET}/{PREFIX}/01_raw/fruits-360/").all()
    remote.index, local.index = remote["path"].map(relative), local["path"].map(relative)
    remote, local = remote.sort_index(), local.sort_index()
    assert list(remote.index) == list(local.index)
    assert (remote[["label", "split"]] == local[["label", "split"]]).all().all()
    np.testing.assert_allclose(np.stack(remote["features"]), np.stack(local["features"]), atol=1e-5)

    # The CSV table in the bucket (a version per run): read with pandas through s3fs.
    (table_key,) = fs.glob(f"{BUCKET}/{PREFIX}/05_model_input/pca_features.csv/*/pca_features.csv")
    table = pd.read_csv(f"s3://{table_key}", storage_options=options)
    local_table = pd.read_csv(newest_file(data / "05_model_input" / "pca_features.csv"))
    assert (
        list(table.columns)
        == list(local_table.columns)
        == (["path", "label", "split", "source", "family", "pca_1", "pca_2", "pca_3", "pca_4"])
    )
    assert sorted(table["path"].map(relative)) == sorted(local_table["path"].map(relative))
    assert table.groupby("label").size().to_dict() == {label: 6 for label in SMALL_CLASSES}
    # Same images, same features -> same projection (up to each component's sign).
    table.index, local_table.index = table["path"].map(relative), local_table["path"].map(relative)
    pcs = [f"pca_{i}" for i in range(1, 5)]
    np.testing.assert_allclose(
        table.sort_index()[pcs].abs(), local_table.sort_index()[pcs].abs(), atol=1e-3
    )

    # One complete model bundle in the bucket, with the run's reports; the stale versions
    # are gone (keep_versions=1).
    (marker,) = fs.glob(f"{BUCKET}/{PREFIX}/06_models/model_bundle/*/model_bundle/_SUCCESS")
    bundle = marker.rsplit("/", 1)[0]
    for name in ("manifest.json", "featurizer.tflite", "reports/summary.md",
                 "reports/classification_metrics.json"):  # fmt: skip
        assert fs.exists(f"{bundle}/{name}"), name
    for model in ("reduction", "classifier"):  # Spark ML folders (names chosen by committers)
        assert fs.glob(f"{bundle}/{model}/metadata/part-*"), model
    assert not any(fs.exists(key) for key in stale)
    assert "retention: removed 1 old version(s) of model_bundle" in " ".join(result.stdout.split())
    pca_version = newest_s3_version(
        s3_env, f"{BUCKET}/{PREFIX}/05_model_input/pca_features.parquet"
    )
    # Spark's writes were committed by the S3A magic committer (conf/s3_local/spark.yml).
    for version in (pca_version, newest_s3_version(
        s3_env, f"{BUCKET}/{PREFIX}/04_feature/image_features.parquet"
    )):  # fmt: skip
        marker = json.loads(fs.cat(version.removeprefix("s3://") + "/_SUCCESS"))
        assert marker["committer"] == "magic", version
    assert pd.read_csv(f"{root}/08_reporting/rejected_images.csv", storage_options=options).empty
