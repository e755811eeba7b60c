"""Project hooks on real Spark: the featurization cache is released once features are saved."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark import StorageLevel

import fruits_pipeline
from fruits_pipeline.hooks import SparkCacheHooks, local_cluster_worker_env


def test_cache_is_released_after_a_spark_output_is_saved(spark):
    hooks = SparkCacheHooks()
    hooks.after_catalog_created(
        conf_catalog={
            "image_features": {"type": "fruits_pipeline.datasets.CommittedSparkDataset",
                               "filepath": "data/x.parquet"},
            "rejected_images": {"type": "pandas.CSVDataset", "filepath": "data/r.csv"},
        }
    )  # fmt: skip
    featurized = spark.range(100).persist()
    featurized.count()
    saved = featurized.where("id > 10")  # what the node returned, built on the cached rows

    hooks.after_dataset_saved("rejected_images", saved)  # not a Spark output: kept
    assert featurized.storageLevel.useMemory
    hooks.after_dataset_saved("image_features", saved)
    assert featurized.storageLevel == StorageLevel(False, False, False, False, 1)


def test_local_cluster_workers_get_the_drivers_interpreter_and_code(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/py/bin/python")
    monkeypatch.setenv("PYTHONPATH", "/extra")
    code_root = str(Path(fruits_pipeline.__file__).resolve().parents[1])
    env = local_cluster_worker_env({"spark.master": "local-cluster[2,1,2048]"})
    assert env == {
        "spark.executorEnv.PYSPARK_PYTHON": "/opt/py/bin/python",
        "spark.executorEnv.PYTHONPATH": f"{code_root}{os.pathsep}/extra",
    }
    assert local_cluster_worker_env({"spark.master": "local[2]"}) == {}
    # A value the env sets itself is kept.
    kept = {"spark.master": "local-cluster[2,1,1024]", "spark.executorEnv.PYTHONPATH": "/mine"}
    assert "spark.executorEnv.PYTHONPATH" not in local_cluster_worker_env(kept)
