"""Project hooks on real Spark: the featurization cache is released once features are saved."""

from __future__ import annotations

from pyspark import StorageLevel

from fruits_pipeline.hooks import SparkCacheHooks


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
