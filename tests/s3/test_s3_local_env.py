"""The s3_local env is the emr env pointed at a local endpoint - nothing else differs, but
the committer open-source Spark needs where EMR has its own (tests/s3/test_s3_committer.py)."""

from __future__ import annotations

import pytest
from kedro.config import OmegaConfigLoader

from fruits_pipeline.settings import CONFIG_LOADER_ARGS
from tests.conftest import REPO

pytestmark = pytest.mark.s3

# What may differ: where the S3 server is and how to reach it, and the local master.
ENDPOINT_GLOBALS = {"s3_endpoint"}
ENDPOINT_SPARK = {
    "spark.master",
    "spark.hadoop.fs.s3a.endpoint",
    "spark.hadoop.fs.s3a.path.style.access",
    "spark.hadoop.fs.s3a.connection.ssl.enabled",
}
# EMR's Spark commits S3A writes with its MagicCommitProtocol by default; open-source Spark
# needs Hadoop's magic committer bound explicitly.
COMMITTER_SPARK = {
    "spark.hadoop.fs.s3a.committer.name",
    "spark.hadoop.fs.s3a.committer.magic.enabled",
    "spark.hadoop.mapreduce.outputcommitter.factory.scheme.s3a",
    "spark.sql.sources.commitProtocolClass",
    "spark.sql.parquet.output.committer.class",
}


def load(env: str, key: str) -> dict:
    args = {k: v for k, v in CONFIG_LOADER_ARGS.items() if k != "default_run_env"}
    return OmegaConfigLoader(str(REPO / "conf"), env=env, **args)[key]


def test_s3_local_differs_from_emr_only_in_the_endpoint():
    emr, s3_local = load("emr", "globals"), load("s3_local", "globals")
    assert s3_local["fs_args"]["client_kwargs"].pop("endpoint_url") == s3_local["s3_endpoint"]
    assert {k: v for k, v in s3_local.items() if k not in ENDPOINT_GLOBALS} == emr
    assert emr["aws_region"] == "eu-west-3"
    assert (
        emr["raw_images_path"] == "s3://fruits-pipeline-data/fruits_pipeline/data/01_raw/fruits-360"
    )

    emr_spark, local_spark = load("emr", "spark"), load("s3_local", "spark")
    allowed = ENDPOINT_SPARK | COMMITTER_SPARK
    assert {k: v for k, v in local_spark.items() if k not in allowed} == emr_spark
    assert local_spark.keys() >= COMMITTER_SPARK
    assert "spark.master" not in emr_spark  # YARN's, from spark-submit
    assert not COMMITTER_SPARK & emr_spark.keys()  # EMR's own protocol stays in charge
    assert (
        emr_spark["spark.sql.execution.datasources.SQLEmrOptimizedCommitProtocol"
                  ".leverageMagicCommitProtocol"] is True
    )  # fmt: skip


def test_mlflow_tracking_is_the_same_as_emr_with_artifacts_on_s3():
    emr, s3_local = load("emr", "mlflow"), load("s3_local", "mlflow")
    assert s3_local == emr  # the endpoint comes from globals s3_endpoint (tracking.py)
    experiment = emr["tracking"]["experiment"]
    assert experiment["name"] != load("local", "mlflow")["tracking"]["experiment"]["name"]
    assert experiment["create_experiment_kwargs"]["artifact_location"] == (
        "s3://fruits-pipeline-data/fruits_pipeline/mlflow"
    )


def test_catalog_is_the_same_on_s3_except_the_roots():
    """Every dataset of base is on S3 in emr, under the one bucket/prefix."""
    local, emr = load("local", "catalog"), load("emr", "catalog")
    assert local.keys() == emr.keys()
    for name, entry in emr.items():
        if "sources" in entry:  # more photo folders, each under the same root
            assert entry["root"] == "s3://fruits-pipeline-data/fruits_pipeline/data", name
            assert entry["sources"] == local[name]["sources"], name  # relative to the root
            continue
        # FilesFolderDataset: a folder path; report datasets: the bundle they preview from.
        key = next((k for k in ("path", "bundle") if k in entry), "filepath")
        if key not in entry:
            assert entry["type"] == "MemoryDataset", name  # handed on in memory, no storage
            continue
        filepath = entry[key]
        if name in ("raw_images", "photos_to_predict", "nofruit_photos"):
            continue  # runtime_params with an S3 default
        if name == "featurizer_weights":  # an input: Keras' download, or --params s3://...
            assert filepath == "imagenet"
            continue
        assert filepath.startswith("s3://fruits-pipeline-data/fruits_pipeline/data/"), name
        assert (
            filepath.removeprefix("s3://fruits-pipeline-data/fruits_pipeline/")
            == (local[name][key])
        ), name
        inner = entry.get("dataset", entry)  # AtomicDataset wraps a file dataset
        if inner["type"].split(".")[0] in ("pandas", "matplotlib", "json", "text"):
            assert inner["fs_args"] == {"client_kwargs": {"region_name": "eu-west-3"}}, name
